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


WHEN = "if nobody answers by 2026-11-25 14:00:00 UTC: "


@pytest.mark.parametrize("pause,says", [
    ({"onTimeout": "resume", "timeoutInput": {"amount": 0}}, WHEN + "resumes with amount=0"),
    ({"onTimeout": "resume", "timeoutInput": {"to": {"b": 1, "a": "x"}, "amount": 0}},
     WHEN + 'resumes with to={"a": "x", "b": 1}, amount=0'),
    ({"onTimeout": "resume"}, WHEN + "resumes without input"),
    ({"onTimeout": "resume", "timeoutInput": {}}, WHEN + "resumes without input"),
    ({"onTimeout": "resume", "timeoutInput": [1]}, WHEN + "resumes without input"),
    ({"onTimeout": "cancel"}, WHEN + "is cancelled"),
    ({}, WHEN + "fails"),
    ({"deadline": None}, ""),
])
def test_the_words_for_what_the_deadline_does(pause, says):
    view = PauseView.of({"key": "k", "kind": "Pause", "deadline": "2026-11-25T14:00:00Z", **pause})
    assert view is not None
    assert view.if_unanswered() == says


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


@pytest.mark.parametrize("phase", ["Paused", "Suspended"])
def test_a_run_that_ends_while_waiting_until_a_time_no_longer_shows_that_time(phase):
    """`kubectl get fr`'s Continues column reads status.pause.until: a run cancelled or
    failed while it waited for its time must not go on showing it."""
    from flowrun.contract.lifecycle.steps import end_status
    from flowrun.contract.phases import Phase
    until = PauseRequest("k", PauseKind.PAUSE, None, until=NOW + timedelta(hours=1)).record(NOW, 1, None)
    status = {"phase": phase, "pause": until}
    for ended in (Phase.CANCELLED, Phase.FAILED):
        patch = end_status(status, ended, "R", "ended", action="cancelled", by="ann", now=NOW)
        assert patch["pause"] == {"until": None}
    waiting_for_no_time = {"phase": phase, "pause": PauseRequest("k", PauseKind.PAUSE, 60).record(NOW, 1, None)}
    assert "pause" not in end_status(waiting_for_no_time, Phase.CANCELLED, "R", "ended", action="cancelled",
                                     by="ann", now=NOW)


# ---- escalation -------------------------------------------------------------------------

from flowrun.contract import approvals  # noqa: E402
from flowrun.contract import notifications  # noqa: E402
from flowrun.contract.lifecycle.view import Approval  # noqa: E402

RULE = approvals.request(["group:finance"], 2, escalate_after=600, escalate_to=["carol", "group:managers"])


@pytest.mark.parametrize("args,refusal", [
    ((["alice"],), None),
    ((["alice"], 1, False, 600, None), "go together"),
    ((["alice"], 1, False, None, ["carol"]), "go together"),
    (([], 2, False, 600, ["carol"]), "needs approvers"),
    ((["alice"], 1, False, 0, ["carol"]), "at least 1 second"),
])
def test_what_an_escalation_needs(args, refusal):
    if refusal is None:
        approvals.request(*args)
    else:
        with pytest.raises(ValueError, match=refusal):
            approvals.request(*args)


def test_escalate_to_may_answer_only_once_escalated_and_approvals_given_still_count():
    assert RULE == {"approvers": ["group:finance"], "required": 2, "allowCreator": False, "approvals": [],
                    "escalateAfterSeconds": 600, "escalateTo": ["carol", "group:managers"]}
    given = {**RULE, "approvals": [{"by": "alice", "groups": ["finance"]}]}
    before = Approval.of(given)
    assert before is not None and not approvals.may_approve(before, "carol", [])
    assert not approvals.may_approve(before, "dan", ["managers"])
    after = Approval.of({**given, "escalated": "2026-11-25T12:10:00Z"})
    assert after is not None and approvals.may_approve(after, "carol", []) and approvals.may_approve(after, "dan", ["managers"])
    assert approvals.may_approve(after, "alice", ["finance"]) and not approvals.may_approve(after, "eve", ["sales"])
    assert after.given_by == {"alice"} and approvals.count(after) == 1
    assert approvals.who_may(after) == "group:finance, carol, group:managers"


def test_an_escalation_is_one_notification_per_pause():
    obj = {"metadata": {"name": "r", "namespace": "ns", "uid": "u"}, "spec": {"state": "Paused"},
           "status": {"phase": "Paused", "pause": {"key": "k", "kind": "Pause", "since": "2026-11-25T12:00:00Z",
                                                   "approval": {**RULE, "escalated": "2026-11-25T12:10:00Z"}}}}
    notifier = {"metadata": {"name": "n", "namespace": "ns", "creationTimestamp": "2026-11-25T11:00:00Z"},
                "spec": {"events": ["Escalated"]}}
    (delivery,) = notifications.due(obj, notifier, NOW)
    assert delivery.event == "Escalated" and delivery.key == "k"
    obj["status"]["notifications"] = [{"notifier": "n", "id": delivery.id}]
    assert notifications.due(obj, notifier, NOW) == []
    del obj["status"]["pause"]["approval"]["escalated"]
    obj["status"]["notifications"] = []
    assert notifications.due(obj, notifier, NOW) == []


@pytest.mark.parametrize("value,expected", [
    ({"outcome": "resume", "time": "2026-11-25T14:00:00Z", "generation": 2},
     (OnTimeout.RESUME, datetime(2026, 11, 25, 14, tzinfo=timezone.utc), 2)),
    ({"outcome": "fail"}, (OnTimeout.FAIL, None, 0)),
    ({"outcome": "later"}, None), (None, None),
], ids=["full", "outcome-only", "unknown-outcome", "none"])
def test_a_settled_pauses_record_whole(value, expected):
    from flowrun.contract.lifecycle.view import TimedOut
    got = TimedOut.of(value)
    assert (got if got is None else (got.outcome, got.time, got.generation)) == expected


def test_a_runs_history_as_read():
    obj = {"metadata": {"name": "r"}, "spec": {}, "status": {"history": [{"action": "paused", "seq": 1}, None]}}
    assert RunView.of(obj).history == ({"action": "paused", "seq": 1}, {})
    assert RunView.of({"metadata": {"name": "r"}}).history == ()


def test_a_run_without_names_or_status_reads_as_empty_texts():
    run = RunView.of({"metadata": {"name": None}, "status": {"reason": None}})
    assert (run.name, run.namespace, run.uid, run.end_reason, run.job_name) == ("", "", "", "", "")
    full = RunView.of({"metadata": {"name": "r", "namespace": "ns", "uid": "u"},
                       "status": {"reason": "FlowFailed", "jobName": "r-1"}})
    assert (full.name, full.namespace, full.uid, full.end_reason, full.job_name) == ("r", "ns", "u", "FlowFailed",
                                                                                    "r-1")
