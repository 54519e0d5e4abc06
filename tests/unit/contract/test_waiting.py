"""Issue 25's rules that are not a transition: what a pause may declare (on_timeout,
until), and the words every reader shows for it."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from flowrun.contract.lifecycle.pausing import PauseRequest, check_pause_request
from flowrun.contract.lifecycle.view import PauseView, RunView
from flowrun.contract.lifecycle.vocabulary import OnTimeout
from flowrun.contract.phases import PauseKind

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)
SCHEMA = {"type": "object", "properties": {"amount": {"type": "integer", "default": 0}}}
REQUIRED = {"type": "object", "properties": {"amount": {"type": "integer"}}, "required": ["amount"]}


@pytest.mark.parametrize("request_,refusal", [
    (PauseRequest("k", PauseKind.PAUSE, 60, input_schema=REQUIRED, on_timeout=OnTimeout.RESUME), "not complete"),
    (PauseRequest("k", PauseKind.PAUSE, 60, input_schema=REQUIRED, on_timeout=OnTimeout.RESUME,
                  timeout_input={"amount": "x"}), "not complete"),
    (PauseRequest("k", PauseKind.SUSPEND, None, on_timeout=OnTimeout.CANCEL), "needs a timeout"),
    (PauseRequest("k", PauseKind.PAUSE, 60, on_timeout=OnTimeout.RESUME, timeout_input={"a": 1}), "without input"),
    (PauseRequest("k", PauseKind.PAUSE, 60, input_schema=REQUIRED, on_timeout=OnTimeout.RESUME,
                  timeout_input={"amount": 1}), None),
    (PauseRequest("k", PauseKind.PAUSE, 60, input_schema=SCHEMA, on_timeout=OnTimeout.RESUME, timeout_input={}), None),
    (PauseRequest("k", PauseKind.PAUSE, 60, on_timeout=OnTimeout.CANCEL), None),
    (PauseRequest("k", PauseKind.PAUSE, None, input_schema=SCHEMA, until=NOW), "without input"),
    (PauseRequest("k", PauseKind.SUSPEND, None, on_timeout=OnTimeout.CANCEL, until=NOW), "without input"),
    (PauseRequest("k", PauseKind.SUSPEND, None, until=NOW), None),
])
def test_what_a_pause_may_declare(request_, refusal):
    if refusal is None:
        check_pause_request(request_)
    else:
        with pytest.raises(ValueError, match=refusal):
            check_pause_request(request_)


def test_the_record_says_the_outcome_only_when_it_is_not_the_default():
    plain = PauseRequest("k", PauseKind.PAUSE, 60).record(NOW, 1, None)
    assert "onTimeout" not in plain and "timeoutInput" not in plain
    resume = PauseRequest("k", PauseKind.PAUSE, 60, input_schema=SCHEMA, on_timeout=OnTimeout.RESUME,
                          timeout_input={"amount": 0}).record(NOW, 1, None)
    assert resume["onTimeout"] == "resume" and resume["timeoutInput"] == {"amount": 0}


@pytest.mark.parametrize("pause,says", [
    ({"onTimeout": "resume", "timeoutInput": {"amount": 0}}, "if nobody answers by 2026-11-25 14:00:00 UTC: "
                                                            "resumes with amount=0"),
    ({"onTimeout": "resume"}, "resumes without input"),
    ({"onTimeout": "cancel"}, "is cancelled"),
    ({}, "if nobody answers by 2026-11-25 14:00:00 UTC: fails"),
    ({"deadline": None}, ""),
])
def test_the_words_for_what_the_deadline_does(pause, says):
    view = PauseView.of({"key": "k", "kind": "Pause", "deadline": "2026-11-25T14:00:00Z", **pause})
    assert view is not None
    assert says in view.if_unanswered() and (says or view.if_unanswered() == "")


def test_a_settled_pause_has_no_deadline_left_to_fire():
    obj = {"metadata": {"name": "r"}, "spec": {"state": "Paused"},
           "status": {"phase": "Paused", "pause": {"key": "k", "kind": "Pause", "deadline": "2026-11-25T14:00:00Z",
                                                   "onTimeout": "resume",
                                                   "timedOut": {"outcome": "resume", "generation": 2}}}}
    run = RunView.of(obj)
    assert run.pause_deadline is None and run.pending is not None and run.pending.resumed_by_system


def test_until_is_the_deadline_and_the_system_continues_then():
    until = NOW + timedelta(hours=2)
    record = PauseRequest("k", PauseKind.SUSPEND, 3600, until=until).record(NOW, 1, None)
    assert record["deadline"] == record["until"] == "2026-11-25T14:00:00Z"
    assert record["timeoutSeconds"] == 7200 and record["onTimeout"] == "resume"
    view = PauseView.of(record)
    assert view is not None and view.if_unanswered() == ("continues by itself at 2026-11-25 14:00:00 UTC "
                                                         "(unless resumed earlier)")


def test_until_is_kept_by_a_pause_recorded_again():
    """A lost pod or a re-executed call does not move the time (until=seconds is
    computed again by the call; the earlier record wins)."""
    first = PauseView.of(PauseRequest("k", PauseKind.PAUSE, None, until=NOW).record(NOW, 1, None))
    again = PauseRequest("k", PauseKind.PAUSE, None, until=NOW + timedelta(minutes=5)).record(
        NOW + timedelta(minutes=5), 3, first)
    assert again["until"] == again["deadline"] == "2026-11-25T12:00:00Z"
