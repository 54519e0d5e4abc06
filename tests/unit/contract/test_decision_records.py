"""What each decision records, to the field: the phase, message, reason and times of the
status, and the history entry it adds (who, what, which key, when, with which message or
input). The audit trail is part of the contract (docs/design.md, `flowrun get` and the
UI show it); these rows catch a decision that records the wrong person, time or words.
Mutation testing (docs/testing.md) found these fields unasserted."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from flowrun.contract.lifecycle.attempts import job_refused
from flowrun.contract.lifecycle.operator import operator_step
from flowrun.contract.lifecycle.pausing import PauseMemo, PauseRequest, runner_pause
from flowrun.contract.lifecycle.runner import runner_finished, runner_note, runner_started
from flowrun.contract.lifecycle.steps import Wait, Write
from flowrun.contract.lifecycle.world import JobView, PodView, Policy, World
from flowrun.contract.phases import PauseKind

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)
T = "2026-11-25T12:00:00Z"
EARLIER = [{"time": "2026-11-25T11:00:00Z", "action": "created", "by": "alice", "key": "", "seq": 4}]
SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


def run(phase: str = "Running", state: str = "Running", *, generation: int = 1, spec: dict[str, Any] | None = None,
        **status: Any) -> dict[str, Any]:
    meta = {"name": "r", "namespace": "ns", "uid": "u1", "generation": generation, "resourceVersion": "7",
            "annotations": {"flowrun.io/changed-by": "alice", "flowrun.io/changed-by-generation": str(generation)}}
    return {"metadata": meta, "spec": {"flow": "m:f", "state": state, **(spec or {})},
            "status": {"phase": phase, "attempt": 1, "jobName": "r-1", "history": list(EARLIER), **status}}


def entry(action: str, by: str, key: str = "", **extra: Any) -> dict[str, Any]:
    return {"time": T, "action": action, "by": by, "key": key, "seq": 5, **extra}


def stamped_now(status: dict[str, Any]) -> None:
    """Every condition that changed carries the decision's time."""
    for condition in status.get("conditions") or []:
        assert condition.get("lastTransitionTime") == T, condition


def test_runner_started():
    step = runner_started(run("Pending"), 1, "started in pod p", NOW)
    assert isinstance(step, Write) and step.spec is None
    assert step.status["phase"] == "Running" and step.status["message"] == "started in pod p"
    assert step.status["startTime"] == T and step.status["history"] == [*EARLIER, entry(
        "started", "runner", message="started in pod p")]
    stamped_now(step.status)
    kept = runner_started(run("Pending", startTime="2026-11-25T10:00:00Z"), 1, "again", NOW)
    assert kept.status["startTime"] == "2026-11-25T10:00:00Z", "a later attempt keeps the first start"
    assert runner_started(run("Paused"), 1, "x", NOW) is None and runner_started(run("Running"), 1, "x", NOW) is None


@pytest.mark.parametrize("has_result,result", [(True, {"total": 3}), (True, None), (False, None)])
def test_runner_finished_completed(has_result, result):
    step = runner_finished(run(), 1, failed=False, message="Flow completed", now=NOW, result=result,
                           has_result=has_result)
    assert isinstance(step, Write) and step.spec is None
    want = {"phase": "Completed", "message": "Flow completed", "completionTime": T, "reason": ""}
    assert {k: step.status.get(k) for k in want} == want
    assert ("result" in step.status) is has_result and step.status.get("result") == result
    assert step.status["history"] == [*EARLIER, entry("completed", "runner", message="Flow completed")]
    stamped_now(step.status)


def test_runner_finished_failed():
    step = runner_finished(run(), 1, failed=True, message="ValueError: x", now=NOW)
    assert isinstance(step, Write) and step.spec is None
    want = {"phase": "Failed", "message": "ValueError: x", "completionTime": T, "reason": "FlowFailed"}
    assert {k: step.status.get(k) for k in want} == want and "result" not in step.status
    assert step.status["history"] == [*EARLIER, entry("failed", "runner", message="ValueError: x")]
    stamped_now(step.status)


def test_runner_note():
    long = "m" * 2000
    step = runner_note(run(), 1, "retrying", long, NOW)
    assert isinstance(step, Write) and step.spec is None and set(step.status) == {"message", "history"}
    assert step.status["message"] == "m" * 1021 + "..."
    assert step.status["history"] == [*EARLIER, entry("retrying", "runner", message="m" * 197 + "...")]


def test_a_refused_job_fails_the_run_on_record():
    step = job_refused(run("Pending"), 422, "spec.template: invalid", NOW)
    assert isinstance(step, Write)
    assert step.status["reason"] == "InfrastructureRefused" and step.status["completionTime"] == T
    assert step.status["message"] == "The runner Job is invalid: spec.template: invalid"
    assert step.status["history"] == [*EARLIER, entry("failed", "operator",
                                                      message="The runner Job is invalid: spec.template: invalid")]
    stamped_now(step.status)


@pytest.mark.parametrize("phase", ["Completed", "Failed", "Cancelled"])
def test_a_refused_job_of_a_finished_run_changes_nothing(phase):
    assert job_refused(run(phase), 422, "invalid", NOW) == Wait("finished")


def test_a_refused_job_of_a_new_run_changes_nothing():
    obj = run()
    obj["status"].pop("phase")
    assert job_refused(obj, 422, "invalid", NOW) == Wait("finished")


@pytest.mark.parametrize("message,reason", [("exceeded quota: q", "QuotaExceeded"), ("forbidden: no rights", "JobRefused")])
@pytest.mark.parametrize("phase", ["Pending", "Running"])
def test_a_forbidden_job_says_why_once(message, reason, phase):
    step = job_refused(run(phase), 403, message, NOW)
    text = f"The runner Job cannot be created: {message}"
    assert isinstance(step, Wait) and step.reason == text and step.until is None
    assert step.status["phase"] == phase and step.status["message"] == text
    assert step.status["history"] == [*EARLIER, entry("blocked", "operator", message=text)]
    blocked = next(c for c in step.status["conditions"] if c["type"] == "Progressing")
    assert blocked["status"] == "False" and blocked["reason"] == reason
    stamped_now(step.status)
    again = job_refused(run(phase, message=text), 403, message, NOW)
    assert again == Wait(text), "said already: nothing new to write"


def test_a_long_block_message_is_said_once_too():
    message = "quota " + "q" * 2000
    first = job_refused(run("Pending"), 403, message, NOW)
    assert isinstance(first, Wait) and first.status is not None
    said = run("Pending", message=first.status["message"])
    assert len(first.status["message"].encode()) == 1024
    assert job_refused(said, 403, message, NOW).status is None


def test_an_image_problem_is_said_with_its_deadline():
    pod = PodView("p", 1, problem="Image 'x' cannot be pulled", problem_reason="ErrImagePull",
                  problem_since=NOW - timedelta(seconds=5))
    step = operator_step(run("Pending", jobUID="j1"), World(jobs=(JobView("r-1", 1, "j1"),), pods=(pod,)),
                         Policy(image_pull_grace_seconds=30), NOW)
    assert isinstance(step, Wait) and step.until == NOW + timedelta(seconds=25)
    assert step.reason == "Image 'x' cannot be pulled"
    assert step.status["history"][-1] == entry("blocked", "operator", message="Image 'x' cannot be pulled")
    said = run("Pending", jobUID="j1", message="Image 'x' cannot be pulled")
    again = operator_step(said, World(jobs=(JobView("r-1", 1, "j1"),), pods=(pod,)), Policy(image_pull_grace_seconds=30), NOW)
    assert again == Wait("Image 'x' cannot be pulled", until=NOW + timedelta(seconds=25))


def test_a_lost_pod_is_recorded():
    step = operator_step(run(jobUID="j1", podLosses=1), World(), Policy(max_pod_losses=3), NOW)
    assert isinstance(step, Write)
    detail = "its Job r-1 was deleted while the run was Running"
    assert step.status["message"] == f"The runner pod was lost ({detail}); starting attempt 2 from the result cache"
    assert step.status["history"] == [*EARLIER, entry("pod-lost", "operator", message=detail)]
    stamped_now(step.status)


# ---- pauses -------------------------------------------------------------------------------------

def pause(generation: int = 2, **extra: Any) -> dict[str, Any]:
    return {"key": "pause-1", "kind": "Pause", "generation": generation, "since": "2026-11-25T11:55:00Z",
            "deadline": "2026-11-25T12:04:10Z", "timeoutSeconds": 600, "inputSchema": SCHEMA,
            "requestedBy": "flow", **extra}


def pause_step(obj: dict[str, Any], memo: PauseMemo | None = None, check: Any = None, stored: Any = None) -> Any:
    req = PauseRequest("pause-1", PauseKind.PAUSE, 600, input_schema=SCHEMA)
    return runner_pause(obj, 1, req, memo or PauseMemo(), NOW, check=check or (lambda d: None),
                        stored=stored or (lambda k: (False, None)))


def test_a_resume_is_recorded_with_who_and_what():
    obj = run("Paused", generation=3, pause=pause(), spec={"input": {"name": "Marvin"}}, resumed=["approve"])
    step = pause_step(obj, PauseMemo(stashed={"pause-1": 3}))
    assert isinstance(step, Write) and step.spec is None
    assert step.status["phase"] == "Running" and step.status["message"] == "Resumed from pause-1"
    assert step.status["pause"] is None and step.status["resumed"] == ["approve", "pause-1"]
    assert step.status["history"] == [*EARLIER, entry("resumed", "alice", "pause-1", input='{"name": "Marvin"}')]
    stamped_now(step.status)


def test_a_refused_resume_is_recorded_with_why():
    obj = run("Paused", generation=3, pause=pause(), spec={"input": {"nom": 1}})
    step = pause_step(obj)
    assert isinstance(step, Write) and step.spec == {"spec": {"state": "Paused"}}
    error = "'name' is a required property"
    assert error in step.status["message"] and step.status["message"].startswith("Resume of pause-1 rejected")
    assert step.status["pause"] == {"rejectedGeneration": 3}
    last = step.status["history"][-1]
    assert {k: last[k] for k in ("time", "action", "by", "key", "seq")} == {
        "time": T, "action": "resume-rejected", "by": "alice", "key": "pause-1", "seq": 5}
    assert error in last["message"]


def test_input_the_model_refuses_later_is_recorded_and_the_pause_kept():
    obj = run("Running", generation=4, resumed=["approve", "pause-1"], inputs={"pause-1": {"name": "x"}},
              pause=pause())
    step = pause_step(obj, check=lambda d: "name: too short")
    assert isinstance(step, Write) and step.spec is None
    assert step.status["resumed"] == ["approve"] and step.status["inputs"] == {"pause-1": None}
    assert step.status["message"] == "Resume of pause-1 rejected, input is invalid: name: too short"
    kept = step.status["pause"]
    assert kept["since"] == "2026-11-25T11:55:00Z" and kept["deadline"] == "2026-11-25T12:04:10Z"
    assert kept["rejectedGeneration"] == 4 and kept["generation"] == 4 and kept["key"] == "pause-1"
    assert step.status["history"] == [*EARLIER, entry("resume-rejected", "alice", "pause-1",
                                                      message="name: too short")]


def test_input_on_the_volume_the_model_refuses_is_taken_back_too():
    obj = run("Running", generation=4, resumed=["pause-1"], pause=pause())
    step = pause_step(obj, check=lambda d: "name: too short", stored=lambda k: (True, {"name": "x"}))
    assert isinstance(step, Write) and step.status["resumed"] == []
    assert step.status["pause"]["rejectedGeneration"] == 4


def test_a_pause_is_recorded_with_its_message():
    obj = run("Running", "Paused", generation=2)
    step = pause_step(obj, PauseMemo(armed=2))
    assert isinstance(step, Write)
    assert step.status["phase"] == "Paused" and step.status["message"] == "Paused at pause-1; waiting for input (name)"
    assert step.status["pause"]["since"] == T and step.status["pause"]["generation"] == 2
    assert step.status["history"] == [*EARLIER, entry("paused", "flow", "pause-1")]
    stamped_now(step.status)


# ---- linked children: finished ones are left alone ----------------------------------------------

@pytest.mark.parametrize("parent,child_state,patched", [
    (("Cancelled", "Cancelled"), "Running", False),   # a cancelled parent: finished children stay
    (("Suspended", "Suspended"), "Running", False),   # a suspended parent: finished children stay
])
@pytest.mark.parametrize("child_phase", ["Completed", "Failed", "Cancelled"])
def test_finished_children_are_left_alone(parent, child_state, patched, child_phase):
    from flowrun.contract.lifecycle.world import ChildView
    phase, state = parent
    obj = run(phase, state, pause={"key": "s", "kind": "Suspend", "generation": 1, "requestedBy": "user"}
              if phase == "Suspended" else None)
    child = ChildView("c", linked=True, phase=child_phase, state=child_state)
    assert operator_step(obj, World(children=(child,)), Policy(), NOW) is None


def test_children_suspended_with_a_parent_come_back_unless_finished():
    from flowrun.contract.lifecycle.world import ChildView
    obj = run("Running", jobUID="j1")
    world = World(jobs=(JobView("r-1", 1, "j1"),), children=(
        ChildView("done", linked=True, phase="Completed", state="Suspended", suspended_with_parent=True),))
    assert operator_step(obj, world, Policy(), NOW) is None


def test_input_refused_after_the_pause_left_the_status_starts_a_new_record():
    """The pause record is gone (the run went on): the taken-back pause starts now."""
    obj = run("Running", generation=4, resumed=["pause-1"], inputs={"pause-1": {"name": "x"}})
    step = pause_step(obj, check=lambda d: "name: too short")
    assert isinstance(step, Write)
    assert step.status["pause"]["since"] == T and step.status["pause"]["deadline"] == "2026-11-25T12:10:00Z"


def test_the_runner_holds_while_the_operator_counts_approvals():
    rule = {"approvers": ["bob"], "required": 1, "approvals": []}
    obj = run("Paused", generation=3, pause=pause(approval=rule), spec={"input": {"name": "M"}})
    from flowrun.contract.lifecycle.steps import Hold
    assert pause_step(obj) == Hold("the operator counts the pause's approvals")


def test_every_schema_error_is_said_joined():
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"]}
    obj = run("Paused", generation=3, pause=pause(inputSchema=schema), spec={"input": {}})
    step = pause_step(obj)
    assert isinstance(step, Write)
    assert step.status["message"] == ("Resume of pause-1 rejected, input is invalid: (input): 'name' is a "
                                      "required property; (input): 'age' is a required property")


@pytest.mark.parametrize("kind,back", [(PauseKind.PAUSE, "Paused"), (PauseKind.SUSPEND, "Suspended")])
def test_the_flows_model_judges_a_resume_and_a_refusal_puts_it_back(kind, back):
    """Input the schema accepts but the flow's model refuses: the resume is rejected,
    spec.state goes back to what the pause was (a pause, or the flow's suspension)."""
    obj = run("Paused" if kind is PauseKind.PAUSE else "Running", generation=3,
              pause=pause(kind=kind.value), spec={"input": {"name": "x" * 10}})
    long = "name: " + "n" * 2000
    req = PauseRequest("pause-1", kind, 600, input_schema=SCHEMA)
    step = runner_pause(obj, 1, req, PauseMemo(), NOW, check=lambda d: long if d else "no input",
                        stored=lambda k: (False, None))
    assert isinstance(step, Write) and step.spec == {"spec": {"state": back}}
    assert len(step.status["message"].encode()) == 1024 and step.status["message"].endswith("...")


def test_without_a_schema_the_flows_model_is_not_asked():
    obj = run("Paused", generation=3, pause=pause(inputSchema=None))
    req = PauseRequest("pause-1", PauseKind.PAUSE, 600)
    step = runner_pause(obj, 1, req, PauseMemo(), NOW, check=lambda d: "never asked",
                        stored=lambda k: (False, None))
    assert isinstance(step, Write) and step.status["phase"] == "Running"


def test_a_conflicting_object_fails_the_run_on_record():
    """An object of the run's name it does not own: the run fails with reason Conflict and
    the message naming the object, recorded by the operator at the decision's time; a
    run that is new or finished is left alone."""
    from flowrun.contract.lifecycle.attempts import job_conflict
    step = job_conflict(run("Running"), "ServiceAccount r-runner already exists", NOW)
    assert isinstance(step, Write) and step.spec is None
    want = {"phase": "Failed", "reason": "Conflict", "message": "ServiceAccount r-runner already exists",
            "completionTime": T}
    assert {k: step.status.get(k) for k in want} == want
    assert step.status["history"] == [*EARLIER, entry("failed", "operator",
                                                      message="ServiceAccount r-runner already exists")]
    stamped_now(step.status)
    assert job_conflict(run("Completed"), "x", NOW) == Wait("finished")
    fresh = run()
    fresh["status"].pop("phase")
    assert job_conflict(fresh, "x", NOW) == Wait("finished")


def test_a_completed_run_records_no_result_unless_one_was_given():
    step = runner_finished(run(), 1, failed=False, message="done", now=NOW)
    assert isinstance(step, Write) and "result" not in step.status
