"""How a FlowRun is read (contract/lifecycle/view.py), whole: every field of `RunView`
and `PauseView` for a run that has everything and for one that has nothing, and the
facts derived from them (stopped, pending, the deadline enforced, a linked child, a
resume). Every decision reads a run through these, so a field read wrong is a wrong
decision somewhere. Mutation testing (docs/testing.md) found these unasserted."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from flowrun.contract.lifecycle.view import (
    Approval,
    PauseView,
    RunView,
    TimedOut,
    is_linked_child,
    pending_pause,
    waits_for_a_person,
)
from flowrun.contract.lifecycle.vocabulary import OnTimeout
from flowrun.contract.phases import PauseKind, Phase, State


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 25, hour, minute, tzinfo=timezone.utc)


PAUSE = {"key": "k", "kind": "Suspend", "requestedBy": "user", "since": "2026-11-25T11:00:00Z",
         "deadline": "2026-11-25T13:00:00Z", "timeoutSeconds": "7200", "inputSchema": {"type": "object"},
         "generation": "3", "rejectedGeneration": "4", "suspendAfterSeconds": "60",
         "approval": {"approvers": ["bob"], "required": 2}, "description": "d", "notifyMessage": "n",
         "onTimeout": "cancel", "timeoutInput": {"a": 1},
         "timedOut": {"outcome": "cancel", "time": "2026-11-25T13:00:00Z", "generation": 5},
         "until": "2026-11-25T13:00:00Z"}

FULL = {"metadata": {"name": "r", "namespace": "ns", "uid": "u", "generation": 4, "labels": {"flowrun.io/parent": "p"},
                     "annotations": {"flowrun.io/changed-by": "alice", "flowrun.io/changed-by-generation": "4"},
                     "deletionTimestamp": "2026-11-25T12:00:00Z",
                     "ownerReferences": [{"uid": "x"}, {"controller": True, "uid": "pu"}]},
        "spec": {"flow": "m:f", "state": "Paused", "parameters": {"a": 1}, "reason": "why", "input": {"x": 1},
                 "maxPodLosses": 0, "suspendAfterSeconds": 30},
        "status": {"phase": "Paused", "message": "m", "reason": "FlowFailed", "attempt": 2, "jobName": "r-2",
                   "jobUID": "j2", "podLosses": 1, "startTime": "2026-11-25T11:00:00Z",
                   "completionTime": "2026-11-25T12:00:00Z", "history": [{"seq": 1}], "notifications": [{"id": "n"}],
                   "pause": PAUSE, "resumed": ["a-1"], "inputs": {"k": {"x": 1}}, "subflows": {"c": {}},
                   "subflowsReceived": ["c"], "result": None}}


def test_a_pause_with_everything_read_whole():
    assert PauseView.of(PAUSE) == PauseView(
        key="k", kind=PauseKind.SUSPEND, requested_by="user", since=at(11), deadline=at(13), timeout_seconds=7200,
        input_schema={"type": "object"}, generation=3, rejected_generation=4, suspend_after_seconds=60,
        approval=Approval(("bob",), 2, False, (), {"approvers": ["bob"], "required": 2}),
        description="d", notify_message="n", on_timeout=OnTimeout.CANCEL, timeout_input={"a": 1},
        timed_out=TimedOut(OnTimeout.CANCEL, at(13), 5), until=at(13), deadline_text="2026-11-25T13:00:00Z",
        doc=PAUSE)


def test_a_pause_with_nothing_but_unknown_values_read_whole():
    doc = {"key": None, "kind": "Other", "onTimeout": "later", "suspendAfterSeconds": 0, "inputSchema": {}}
    assert PauseView.of(doc) == PauseView(
        key="", kind=None, requested_by=None, since=None, deadline=None, timeout_seconds=None, input_schema=None,
        generation=0, rejected_generation=None, suspend_after_seconds=None, approval=None, description="",
        notify_message="", on_timeout=OnTimeout.FAIL, timeout_input=None, timed_out=None, until=None,
        deadline_text=None, doc=doc)
    assert PauseView.of(None) is None and PauseView.of({}) is None


def test_a_run_with_everything_read_whole():
    assert RunView.of(FULL) == RunView(
        name="r", namespace="ns", uid="u", generation=4, labels={"flowrun.io/parent": "p"},
        annotations=FULL["metadata"]["annotations"], deleting=True, controlled=True, changed_by="alice",
        phase=Phase.PAUSED, message="m", end_reason="FlowFailed", attempt=2, job_name="r-2", job_uid="j2",
        pod_losses=1, start_time="2026-11-25T11:00:00Z", completion_time=at(12), history=({"seq": 1},),
        notifications=({"id": "n"},), pause=PauseView.of(PAUSE), resumed=["a-1"], inputs={"k": {"x": 1}},
        subflows={"c": {}}, subflows_received=["c"], has_result=True, result=None, flow="m:f", state=State.PAUSED,
        parameters={"a": 1}, reason="why", input={"x": 1}, input_given=True, max_pod_losses=0,
        suspend_after_seconds=30, status=FULL["status"])


def test_a_run_with_nothing_read_whole():
    assert RunView.of({}) == RunView(
        name="", namespace="", uid="", generation=0, labels={}, annotations={}, deleting=False, controlled=False,
        changed_by="unknown", phase=None, message="", end_reason="", attempt=0, job_name="", job_uid="",
        pod_losses=0, start_time=None, completion_time=None, history=(), notifications=(), pause=None,
        resumed=None, inputs={}, subflows={}, subflows_received=None, has_result=False, result=None, flow="",
        state=State.RUNNING, parameters=None, reason="", input=None, input_given=False, max_pod_losses=None,
        suspend_after_seconds=None, status={})
    owned = RunView.of({"metadata": {"ownerReferences": [{"controller": False}, None]}, "spec": {"input": None}})
    assert (owned.controlled, owned.input_given) == (False, False)


def run(phase: str | None, state: str = "Running", *, generation: int = 3, pause: dict[str, Any] | None = None,
        resumed: Any = None, labels: dict[str, str] | None = None, controlled: bool = False,
        history: list[dict[str, Any]] | None = None, **status: Any) -> dict[str, Any]:
    st: dict[str, Any] = {**status}
    if phase:
        st["phase"] = phase
    if pause is not None:
        st["pause"] = pause
    if resumed is not None:
        st["resumed"] = resumed
    if history is not None:
        st["history"] = history
    meta = {"name": "r", "generation": generation, "labels": labels or {},
            "ownerReferences": [{"controller": True}] if controlled else []}
    return {"metadata": meta, "spec": {"state": state}, "status": st}


WAITING = {"key": "pause-1", "kind": "Pause", "generation": 2, "deadline": "2026-11-25T13:00:00Z"}


@pytest.mark.parametrize("phase,terminal,stopped", [
    (None, False, False), ("Pending", False, False), ("Running", False, False), ("Paused", False, True),
    ("Suspended", False, True), ("Completed", True, False), ("Failed", True, False), ("Cancelled", True, False),
])
def test_terminal_and_stopped(phase, terminal, stopped):
    view = RunView.of(run(phase))
    assert (view.terminal, view.stopped) == (terminal, stopped)


def test_when_a_run_ended():
    assert RunView.of(run("Completed", completionTime="2026-11-25T12:00:00Z",
                          history=[{"time": "2026-11-25T11:00:00Z"}])).ended_at == at(12)
    assert RunView.of(run("Completed", history=[{"time": "2026-11-25T10:00:00Z"},
                                                {"time": "2026-11-25T11:00:00Z"}])).ended_at == at(11)
    assert RunView.of(run("Completed")).ended_at is None


def test_the_pause_pending_and_the_pause_recorded():
    waiting = RunView.of(run("Paused", pause=WAITING))
    assert waiting.pending == PauseView.of(WAITING) and waiting.recorded("pause-1") == PauseView.of(WAITING)
    assert waiting.recorded("pause-2") is None and RunView.of(run("Paused")).recorded("pause-1") is None
    resumed = RunView.of(run("Running", pause=WAITING, resumed=["pause-1"]))
    assert resumed.pending is None and resumed.recorded("pause-1") == PauseView.of(WAITING)
    assert resumed.resumed_at("pause-1") and not resumed.resumed_at("pause-2")
    assert RunView.of(run("Paused", pause={**WAITING, "key": ""})).pending is None, "a pause without a key"
    assert pending_pause(run("Paused", pause=WAITING)) == WAITING
    assert pending_pause(run("Running", pause=WAITING, resumed=["pause-1"])) is None


@pytest.mark.parametrize("requested_by,waits", [(None, True), ("flow", True), ("user", False)])
def test_who_a_pause_waits_for(requested_by, waits):
    pause = {**WAITING, "requestedBy": requested_by} if requested_by else WAITING
    assert waits_for_a_person(run("Paused", pause=pause)) is waits
    assert RunView.of(run("Paused", pause=pause)).waits_for_a_person is waits
    assert waits_for_a_person(run("Running", pause=pause, resumed=["pause-1"])) is False


def test_the_deadline_enforced():
    assert RunView.of(run("Paused", pause=WAITING)).pause_deadline == at(13)
    assert RunView.of(run("Suspended", pause=WAITING)).pause_deadline == at(13)
    assert RunView.of(run("Pending", pause=WAITING)).pause_deadline is None, "re-executing: not stopped"
    assert RunView.of(run("Paused")).pause_deadline is None
    settled = {**WAITING, "timedOut": {"outcome": "cancel", "generation": 2}}
    assert RunView.of(run("Paused", pause=settled)).pause_deadline is None


@pytest.mark.parametrize("labels,controlled,linked", [
    ({"flowrun.io/parent": "p"}, True, True), ({"flowrun.io/parent": "p"}, False, False),
    ({}, True, False), ({"flowrun.io/parent": ""}, True, False),
])
def test_a_linked_child(labels, controlled, linked):
    assert RunView.of(run("Running", labels=labels, controlled=controlled)).linked_child is linked
    assert is_linked_child(run("Running", labels=labels, controlled=controlled)) is linked


@pytest.mark.parametrize("state,generation,rejected,resumes", [
    ("Running", 3, None, True), ("Running", 2, None, False), ("Running", 1, None, False),
    ("Running", 3, 3, False), ("Running", 3, 2, True), ("Paused", 3, None, False), ("Suspended", 3, None, False),
])
def test_what_resumes_a_pause(state, generation, rejected, resumes):
    pause = PauseView.of({**WAITING, "rejectedGeneration": rejected} if rejected is not None else WAITING)
    assert pause is not None
    assert RunView.of(run("Paused", state, generation=generation)).resumes(pause) is resumes


def test_what_an_approval_rule_reads():
    assert Approval.of({"required": 2}) == Approval((), 2, False, (), {"required": 2})
    assert Approval.of({"approvers": []}) is None and Approval.of({}) is None and Approval.of(None) is None
    escalated = {"approvers": ["a"], "escalateTo": ["a", "b"], "escalated": "t", "escalateAfterSeconds": 0,
                 "allowCreator": True, "approvals": [{"by": "a"}, None]}
    assert Approval.of(escalated) == Approval(("a", "b"), 1, True, ({"by": "a"}, {}), escalated, None, ("a", "b"), "t")
    rule = Approval.of({"approvers": ["a", "b"], "required": 2, "escalateAfterSeconds": 60, "escalateTo": ["c"],
                        "approvals": [{"by": "a"}, {"by": "a"}]})
    assert rule is not None and (rule.approvers, rule.escalate_after, rule.escalate_to) == (("a", "b"), 60, ("c",))
    assert rule.given_by == frozenset({"a"})
    assert rule.with_given([{"by": "b"}])["approvals"] == [{"by": "a"}, {"by": "a"}, {"by": "b"}]
