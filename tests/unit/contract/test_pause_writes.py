"""The runner's pause steps whole (contract/lifecycle/pausing.py): what `runner_pause`
writes or returns at each stage of a pause, word for word and field by field, the pause
record a request makes, and the refusals of a request it could not hold. The table of
test_transitions.py says which step comes; these rows say exactly what it carries.
Mutation testing (docs/testing.md) found these values unasserted."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from flowrun.contract.constants import MAX_INPUT_BYTES
from flowrun.contract.lifecycle.pausing import PauseMemo, PauseRequest, check_pause_request, runner_pause
from flowrun.contract.lifecycle.steps import Exit, Hold, Stash, Write
from flowrun.contract.lifecycle.view import PAUSE_OPTIONAL
from flowrun.contract.lifecycle.vocabulary import OnTimeout
from flowrun.contract.phases import PauseKind, conditions_for

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)
T = "2026-11-25T12:00:00Z"
BEFORE = datetime(2026, 11, 25, 11, 0, 0, tzinfo=timezone.utc)
EARLIER = [{"time": "2026-11-25T11:00:00Z", "action": "created", "by": "alice", "key": "", "seq": 4}]
SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name"]}


def run(phase: str, state: str, *, generation: int = 3, pause: dict[str, Any] | None = None,
        spec_input: Any = None, **status: Any) -> dict[str, Any]:
    meta = {"name": "r", "namespace": "ns", "uid": "u1", "generation": generation,
            "annotations": {"flowrun.io/changed-by": "alice", "flowrun.io/changed-by-generation": str(generation)}}
    spec: dict[str, Any] = {"flow": "m:f", "state": state}
    if spec_input is not None:
        spec["input"] = spec_input
    st = {"phase": phase, "attempt": 2, "jobName": "r-2", "history": list(EARLIER),
          "conditions": conditions_for(phase, now=BEFORE), **status}
    if pause:
        st["pause"] = pause
    return {"metadata": meta, "spec": spec, "status": st}


def recorded(**extra: Any) -> dict[str, Any]:
    return {"key": "pause-1", "kind": "Pause", "generation": 2, "since": "2026-11-25T11:50:00Z",
            "deadline": "2026-11-25T12:50:00Z", "timeoutSeconds": 3600, "inputSchema": None, "requestedBy": "flow",
            **extra}


def step(obj: dict[str, Any], request: PauseRequest | None = None, memo: PauseMemo | None = None,
         check: Any = None, stored: Any = None) -> Any:
    return runner_pause(obj, 2, request or PauseRequest("pause-1", PauseKind.PAUSE, 3600), memo or PauseMemo(), NOW,
                        check=check or (lambda data: None), stored=stored or (lambda key: (False, None)))


def entry(action: str, by: str, key: str = "pause-1", **extra: Any) -> dict[str, Any]:
    return {"time": T, "action": action, "by": by, "key": key, "seq": 5, **extra}


def conditions(phase: str, message: str, *, was: str, awaiting: bool = False) -> list[dict[str, Any]]:
    return conditions_for(phase, message=message, awaiting_input=awaiting,
                          previous=conditions_for(was, now=BEFORE), now=NOW)


def test_a_new_pause_is_recorded_whole():
    """The pause's record, the message (the fields it waits for, in order) and the entry."""
    message = "Paused at pause-1; waiting for input (name, age)"
    request = PauseRequest("pause-1", PauseKind.PAUSE, 3600, input_schema=SCHEMA)
    pause = {**dict.fromkeys(PAUSE_OPTIONAL), "key": "pause-1", "kind": "Pause", "since": T, "timeoutSeconds": 3600,
             "deadline": "2026-11-25T13:00:00Z", "inputSchema": SCHEMA, "requestedBy": "flow", "generation": 3}
    assert step(run("Running", "Paused"), request) == Write(status={
        "phase": "Paused", "message": message,
        "conditions": conditions("Paused", message, was="Running", awaiting=True), "pause": pause,
        "history": [*EARLIER, entry("paused", "flow")]})
    plain = step(run("Running", "Paused"))
    assert isinstance(plain, Write) and plain.status["message"] == "Paused at pause-1; resume with spec.state=Running"


def test_a_pause_re_established_by_a_new_pod_keeps_its_record_and_its_refused_generation():
    message = "Paused at pause-1; resume with spec.state=Running (re-established by a new pod)"
    earlier = recorded(rejectedGeneration=3)
    want = {"key": "pause-1", "kind": "Pause", "since": "2026-11-25T11:50:00Z", "timeoutSeconds": 3600,
            "deadline": "2026-11-25T12:50:00Z", "inputSchema": None, "requestedBy": "flow", "generation": 2,
            "rejectedGeneration": 3}
    assert step(run("Pending", "Paused", pause=earlier)) == Write(status={
        "phase": "Paused", "message": message, "conditions": conditions("Paused", message, was="Pending"),
        "pause": want})


def test_what_the_runner_holds_for_and_returns():
    assert step(run("Paused", "Paused", pause=recorded())) == Hold("paused at pause-1")
    assert step(run("Paused", "Suspended", pause=recorded())) == Hold("a suspension was requested")
    suspend = PauseRequest("pause-1", PauseKind.SUSPEND, 3600)
    assert step(run("Running", "Suspended", pause=recorded(kind="Suspend")), suspend) == Exit("pause-1")


def test_a_flows_own_suspension_is_recorded_first_whole():
    suspend = PauseRequest("pause-1", PauseKind.SUSPEND, 3600)
    pause = {**dict.fromkeys(PAUSE_OPTIONAL), "key": "pause-1", "kind": "Suspend", "since": T, "timeoutSeconds": 3600,
             "deadline": "2026-11-25T13:00:00Z", "inputSchema": None, "requestedBy": "flow", "generation": 3}
    assert step(run("Running", "Running"), suspend) == Write(status={
        "pause": pause, "history": [*EARLIER, entry("suspended", "flow")]})


def test_a_flows_own_suspension_resumed_with_input_is_judged_like_a_pause():
    suspend = PauseRequest("pause-1", PauseKind.SUSPEND, 3600, input_schema=SCHEMA)
    obj = run("Running", "Running", generation=4, pause=recorded(kind="Suspend", inputSchema=SCHEMA),
              spec_input={"name": "M"})
    assert step(obj, suspend) == Stash("pause-1", {"name": "M"}, 4)
    done = step(obj, suspend, PauseMemo(stashed={"pause-1": 4}))
    message = "Resumed from pause-1"
    assert done == Write(status={
        "phase": "Running", "message": message, "conditions": conditions("Running", message, was="Running"),
        "pause": None, "resumed": ["pause-1"],
        "history": [*EARLIER, entry("resumed", "alice", input='{"name": "M"}')]})


def test_the_systems_resume_says_why_the_system_resumes():
    obj = run("Paused", "Running", generation=4, pause=recorded(onTimeout="resume", timedOut={
        "outcome": "resume", "time": T, "generation": 3}))
    message = "Resumed from pause-1 by the system: nobody answered in time"
    assert step(obj) == Write(status={
        "phase": "Running", "message": message, "conditions": conditions("Running", message, was="Paused"),
        "pause": None, "resumed": ["pause-1"], "history": [*EARLIER, entry("resumed", "operator")]})


def test_input_of_an_earlier_attempt_is_judged_by_the_model_then_stashed_or_taken_back():
    """The flow's model judges the very input recorded; refused, the resume is taken back
    (the pause as recorded, the refused generation, the person's entry)."""
    obj = run("Running", "Running", generation=5, pause=recorded(), resumed=["pause-1"],
              inputs={"pause-1": {"name": "x"}})
    picky = (lambda data: "name: too short" if data == {"name": "x"} else None)
    assert step(obj, check=lambda data: None) == Stash("pause-1", {"name": "x"}, 5)
    message = "Resume of pause-1 rejected, input is invalid: name: too short"
    assert step(obj, check=picky) == Write(status={
        "resumed": [], "inputs": {"pause-1": None},
        "pause": {"key": "pause-1", "kind": "Pause", "since": "2026-11-25T11:50:00Z", "timeoutSeconds": 3600,
                  "deadline": "2026-11-25T12:50:00Z", "inputSchema": None, "requestedBy": "flow", "generation": 5,
                  "rejectedGeneration": 5},
        "message": message, "history": [*EARLIER, entry("resume-rejected", "alice", message="name: too short")]})
    long = step(obj, check=lambda data: "e" * 2000)
    assert isinstance(long, Write) and long.status["message"] == (
        "Resume of pause-1 rejected, input is invalid: " + "e" * 2000)[:1021] + "..."


def test_a_request_records_every_optional_field_it_has():
    request = PauseRequest("k", PauseKind.PAUSE, 60, description="what", requested_by="user",
                           suspend_after_seconds=30, approval={"approvers": ["bob"], "required": 1},
                           notify_message="hi")
    assert request.record(NOW, 3, None) == {
        "key": "k", "kind": "Pause", "since": T, "timeoutSeconds": 60, "deadline": "2026-11-25T12:01:00Z",
        "inputSchema": None, "requestedBy": "user", "generation": 3, "description": "what",
        "suspendAfterSeconds": 30, "notifyMessage": "hi", "approval": {"approvers": ["bob"], "required": 1}}
    cancel = PauseRequest("k", PauseKind.PAUSE, 60, on_timeout=OnTimeout.CANCEL, timeout_input={"x": 1})
    assert cancel.record(NOW, 3, None)["onTimeout"] == "cancel" and "timeoutInput" not in cancel.record(NOW, 3, None)


def test_a_time_already_past_records_a_timeout_of_zero():
    past = PauseRequest("k", PauseKind.PAUSE, None, until=NOW - timedelta(seconds=5))
    info = past.record(NOW, 3, None)
    assert (info["timeoutSeconds"], info["deadline"], info["until"]) == (0, "2026-11-25T11:59:55Z",
                                                                        "2026-11-25T11:59:55Z")


def _refusal(request: PauseRequest) -> str:
    with pytest.raises(ValueError) as caught:
        check_pause_request(request)
    return str(caught.value)


def test_the_refusals_of_a_request_word_for_word():
    assert _refusal(PauseRequest("k", PauseKind.PAUSE, None, input_schema=SCHEMA, until=NOW)) == (
        "until= continues the run by itself at that time, without input: it takes no wait_for_input and no "
        "on_timeout (for a pause for input, use timeout= and on_timeout='resume')")
    assert _refusal(PauseRequest("k", PauseKind.PAUSE, None, on_timeout=OnTimeout.CANCEL)) == (
        "on_timeout='cancel' needs a timeout: without one, nobody answering never ends the pause")
    assert _refusal(PauseRequest("k", PauseKind.PAUSE, 60, on_timeout=OnTimeout.RESUME, timeout_input={"x": 1})) == (
        "on_timeout='resume' of a pause without input resumes without input")
    two = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
           "required": ["a", "b"]}
    assert _refusal(PauseRequest("k", PauseKind.PAUSE, 60, input_schema=two, on_timeout=OnTimeout.RESUME,
                                 timeout_input={})) == (
        "on_timeout='resume' resumes with the input's defaults, and these are not complete: "
        "(input): 'a' is a required property; (input): 'b' is a required property (give every field a default, "
        "or use with_initial_data)")


def test_the_defaults_may_be_as_large_as_an_input_and_no_larger():
    """Checked with the schema's other rules when there is one (input_errors), and by
    size alone for an empty schema, which checks nothing else."""
    room = MAX_INPUT_BYTES - len('{"name":""}')
    for schema in ({"type": "object", "properties": {"name": {"type": "string"}}}, {}):
        at_most = PauseRequest("k", PauseKind.PAUSE, 60, input_schema=schema, on_timeout=OnTimeout.RESUME,
                               timeout_input={"name": "x" * room})
        check_pause_request(at_most)
    over = PauseRequest("k", PauseKind.PAUSE, 60, input_schema={}, on_timeout=OnTimeout.RESUME,
                        timeout_input={"name": "x" * (room + 1)})
    assert _refusal(over) == "the input's defaults are 65537 bytes, more than the 65536 allowed"
    assert MAX_INPUT_BYTES == 65536


def test_input_on_the_volume_the_model_refuses_is_taken_back_too():
    obj = run("Running", "Running", generation=5, pause=recorded(), resumed=["pause-1"])
    picky = (lambda data: "name: too short" if data == {"name": "x"} else None)
    message = "Resume of pause-1 rejected, input is invalid: name: too short"
    assert step(obj, check=picky, stored=lambda key: (True, {"name": "x"})) == Write(status={
        "resumed": [], "inputs": {"pause-1": None},
        "pause": {"key": "pause-1", "kind": "Pause", "since": "2026-11-25T11:50:00Z", "timeoutSeconds": 3600,
                  "deadline": "2026-11-25T12:50:00Z", "inputSchema": None, "requestedBy": "flow", "generation": 5,
                  "rejectedGeneration": 5},
        "message": message, "history": [*EARLIER, entry("resume-rejected", "alice", message="name: too short")]})
