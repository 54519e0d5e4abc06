"""The SDK's side of issue 25: what pause_flow_run / suspend_flow_run accept for
on_timeout (and until), refused at the call with a clear error."""
from __future__ import annotations

import pytest

from flowrun.contract.lifecycle.vocabulary import OnTimeout
from flowrun.input import RunInput
from flowrun.sdk import pausing


class Amount(RunInput):
    amount: int = 0
    note: str = "nobody answered"


class NoDefault(RunInput):
    amount: int
    note: str = "x"


def test_resume_takes_the_inputs_defaults():
    assert pausing._on_timeout("pause_flow_run", "resume", Amount) == (
        OnTimeout.RESUME, {"amount": 0, "note": "nobody answered"})


def test_with_initial_data_completes_the_defaults():
    assert pausing._on_timeout("pause_flow_run", "resume", NoDefault.with_initial_data(amount=5))[1] == \
        {"amount": 5, "note": "x"}


def test_resume_without_complete_defaults_is_refused_naming_the_field():
    with pytest.raises(ValueError, match=r"on_timeout='resume'.*NoDefault has no default for: amount"):
        pausing._on_timeout("pause_flow_run", "resume", NoDefault)


def test_an_unknown_outcome_is_refused():
    with pytest.raises(ValueError, match="must be one of 'fail', 'resume', 'cancel'"):
        pausing._on_timeout("suspend_flow_run", "retry", None)


@pytest.mark.parametrize("outcome", ["fail", "cancel"])
def test_fail_and_cancel_need_no_defaults(outcome):
    assert pausing._on_timeout("pause_flow_run", outcome, NoDefault) == (OnTimeout(outcome), None)


def test_a_suspension_without_timeout_cannot_declare_an_outcome():
    with pytest.raises(ValueError, match="needs a timeout"):
        pausing.suspend_flow_run(timeout=None, on_timeout="cancel")


def test_the_call_is_refused_before_anything_is_recorded(monkeypatch):
    """Refused in the flow, before the pause is armed: no context is even needed."""
    with pytest.raises(ValueError, match="has no default for: amount"):
        pausing.pause_flow_run(wait_for_input=NoDefault, timeout=60, on_timeout="resume")


def test_until_in_seconds_or_a_datetime(monkeypatch):
    from datetime import datetime, timezone
    monkeypatch.setattr(pausing, "now", lambda: datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc))
    assert pausing._until("pause_flow_run", 90.2, None, "fail") == datetime(2026, 1, 1, 12, 1, 31, tzinfo=timezone.utc)
    when = datetime(2026, 1, 2, 8, 30, 0, 500, tzinfo=timezone.utc)
    assert pausing._until("suspend_flow_run", when, None, "fail") == when.replace(microsecond=0)
    assert pausing._until("pause_flow_run", None, Amount, "resume") is None


@pytest.mark.parametrize("until,wait_for_input,on_timeout,error", [
    (60, Amount, "fail", ValueError), (60, None, "cancel", ValueError), ("soon", None, "fail", TypeError),
    (True, None, "fail", TypeError), (-5, None, "fail", TypeError)])
def test_until_refusals(until, wait_for_input, on_timeout, error):
    with pytest.raises(error, match="until"):
        pausing._until("pause_flow_run", until, wait_for_input, on_timeout)
