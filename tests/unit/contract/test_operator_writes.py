"""What each of the operator's rules writes, whole: the status patch (phase, message,
every condition with its transition time, the fields beside them) and the history entry
it adds after the earlier ones, or the children's patches, word for word. The tables of
test_transitions.py say which step a run gets; these rows say exactly what it records.
Mutation testing (docs/testing.md) found these values unasserted."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from flowrun.contract.lifecycle.operator import next_due, operator_step
from flowrun.contract.lifecycle.steps import PatchChildren, Wait, Write
from flowrun.contract.lifecycle.view import PAUSE_OPTIONAL
from flowrun.contract.lifecycle.vocabulary import UNATTRIBUTED_CHILD
from flowrun.contract.lifecycle.world import ChildView, Policy, World
from flowrun.contract.phases import conditions_for

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)
T = "2026-11-25T12:00:00Z"
BEFORE = datetime(2026, 11, 25, 11, 0, 0, tzinfo=timezone.utc)
DEADLINE = "2026-11-25T11:59:00Z"  # passed at NOW
POLICY = Policy(default_timeout_seconds=600, max_pod_losses=2, image_pull_grace_seconds=30)
EARLIER = [{"time": "2026-11-25T11:00:00Z", "action": "created", "by": "alice", "key": "", "seq": 4}]
SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
RUNNER = "system:serviceaccount:ns:p-runner"  # the pod of run p


def run(phase: str | None, state: str, *, generation: int = 3, pause: dict[str, Any] | None = None,
        labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None,
        spec: dict[str, Any] | None = None, was: str | None = None, **status: Any) -> dict[str, Any]:
    """A run whose status carries earlier history and the conditions of its phase (or of
    phase `was`), set an hour ago (so a condition that does not change keeps that time)."""
    if annotations is None:
        annotations = {"flowrun.io/changed-by": "alice", "flowrun.io/changed-by-generation": str(generation)}
    meta = {"name": "r", "namespace": "ns", "uid": "u1", "generation": generation, "labels": labels or {},
            "annotations": annotations}
    st: dict[str, Any] = {"attempt": 1, "jobName": "r-1", "history": list(EARLIER),
                          "conditions": conditions_for(was or phase or "Pending", now=BEFORE), **status}
    if phase:
        st["phase"] = phase
    if pause:
        st["pause"] = pause
    return {"metadata": meta, "spec": {"flow": "m:f", "state": state, **(spec or {})}, "status": st}


def conditions(phase: str, message: str, *, was: str, awaiting: bool = False) -> list[dict[str, Any]]:
    """The conditions a write moving a run from phase `was` (set an hour ago) to `phase`
    must carry: the unchanged ones keep their time, the changed ones say NOW."""
    return conditions_for(phase, message=message, awaiting_input=awaiting,
                          previous=conditions_for(was, now=BEFORE), now=NOW)


def entry(action: str, by: str, key: str = "", **extra: Any) -> dict[str, Any]:
    return {"time": T, "action": action, "by": by, "key": key, "seq": 5, **extra}


def pause(**extra: Any) -> dict[str, Any]:
    return {"key": "pause-1", "kind": "Pause", "generation": 2, "since": "2026-11-25T11:49:00Z",
            "deadline": DEADLINE, "timeoutSeconds": 600, "inputSchema": None, "requestedBy": "flow", **extra}


def ended(phase: str, reason: str, message: str, *, was: str, action: str, by: str, key: str = "") -> Write:
    return Write(status={"phase": phase, "message": message, "conditions": conditions(phase, message, was=was),
                         "completionTime": T, "reason": reason,
                         "history": [*EARLIER, entry(action, by, key, message=message)]})


def child(**labels: str) -> dict[str, Any]:
    """A subflow made by its parent's pod, but without the webhook's stamp of the change."""
    return run(None, "Running", labels=labels, annotations={"flowrun.io/created-by": RUNNER})


NEW = "Starting attempt 1"
CREATED_SUSPENDED = "Created suspended: set spec.state to Running to start it"
NOT_STARTED = "Cancelled before it started"
ESCALATED = ("Nobody of alice, bob gave the 2 approval(s) of pause-1 within 600 s: "
             "carol, group:managers may answer it too")
ESCALATING = {"approvers": ["alice", "bob", "carol"], "required": 2, "approvals": [], "escalateAfterSeconds": 600,
              "escalateTo": ["carol", "group:managers"]}
SYSTEM_RESUMES = f"Nobody answered pause-1 by {DEADLINE}: the system resumes it (on_timeout='resume')"
CONTINUES = f"pause-1 reached its time ({DEADLINE}): the system continues the run"
REFUSED_DEFAULTS = "Nobody answered pause-1 in time, and the flow refused the input's defaults: name: too short"
EXTERNAL = {**dict.fromkeys(PAUSE_OPTIONAL), "key": "external-suspend-1", "kind": "Suspend", "since": T,
            "timeoutSeconds": 600, "deadline": "2026-11-25T12:10:00Z", "inputSchema": None, "requestedBy": "user",
            "generation": 3}
RESUMED = "Resumed from pause-1; starting attempt 2"

WRITES = [
    # (case, run, world, the whole step)
    ("a new run starts attempt 1", run(None, "Running"), World(),
     Write(status={"phase": "Pending", "message": NEW, "conditions": conditions("Pending", NEW, was="Pending"),
                   "attempt": 1, "jobName": "r-1", "history": [*EARLIER, entry("created", "alice")]})),
    ("...its conditions stamped when they change", run(None, "Running", was="Suspended"), World(),
     Write(status={"phase": "Pending", "message": NEW, "conditions": conditions("Pending", NEW, was="Suspended"),
                   "attempt": 1, "jobName": "r-1", "history": [*EARLIER, entry("created", "alice")]})),
    ("a run created suspended starts nothing", run(None, "Suspended"), World(),
     Write(status={"phase": "Suspended", "message": CREATED_SUSPENDED,
                   "conditions": conditions("Suspended", CREATED_SUSPENDED, was="Pending"), "attempt": 0,
                   "jobName": "", "history": [*EARLIER, entry("created-suspended", "alice")]})),
    ("a run created cancelled ends", run(None, "Cancelled"), World(),
     ended("Cancelled", "Cancelled", NOT_STARTED, was="Pending", action="cancelled", by="alice")),
    ("a subflow of a parent its changes are not attributed for is not started",
     child(**{"flowrun.io/parent": "p"}), World(), Write(status={"message": UNATTRIBUTED_CHILD})),
    ("an independent subflow likewise",
     child(**{"flowrun.io/started-by": "p", "flowrun.io/started-by-uid": "pu"}), World(),
     Write(status={"message": UNATTRIBUTED_CHILD})),
    ("said once: then it waits", {**child(**{"flowrun.io/parent": "p"}),
                                  "status": {"message": UNATTRIBUTED_CHILD}}, World(), Wait(UNATTRIBUTED_CHILD)),
    ("cancel ends the run with its reason, at the pause's key",
     run("Paused", "Cancelled", pause=pause(deadline=None), spec={"reason": "  wrong numbers "}), World(),
     ended("Cancelled", "Cancelled", "Cancelled: wrong numbers", was="Paused", action="cancelled", by="alice",
           key="pause-1")),
    ("cancel without a reason or a pause", run("Running", "Cancelled"), World(),
     ended("Cancelled", "Cancelled", "Cancelled", was="Running", action="cancelled", by="alice")),
    ("a cancelled run cancels its linked children, saying why", run("Cancelled", "Cancelled"),
     World(children=(ChildView("c", linked=True, phase="Running"),)),
     PatchChildren((("c", {"metadata": {"annotations": {"flowrun.io/cancelled-with-parent": "r"}},
                           "spec": {"state": "Cancelled", "reason": "its parent r was cancelled"}}),))),
    ("on_timeout cancel", run("Paused", "Paused", pause=pause(onTimeout="cancel")), World(),
     ended("Cancelled", "Cancelled", f"Cancelled: nobody answered pause-1 by {DEADLINE} (on_timeout='cancel')",
           was="Paused", action="timed-out", by="operator", key="pause-1")),
    ("on_timeout fail (the default)", run("Paused", "Paused", pause=pause()), World(),
     ended("Failed", "DeadlineExceeded",
           "Flow run was paused and never resumed: no resume within 600s of paused at pause-1",
           was="Paused", action="timed-out", by="operator", key="pause-1")),
    ("on_timeout resume: the outcome, the message and the defaults on record",
     run("Paused", "Paused", pause=pause(onTimeout="resume", inputSchema=SCHEMA, timeoutInput={"name": "Nobody"})),
     World(),
     Write(status={"pause": pause(onTimeout="resume", inputSchema=SCHEMA, timeoutInput={"name": "Nobody"},
                                  timedOut={"outcome": "resume", "time": T, "generation": 3}),
                   "message": SYSTEM_RESUMES,
                   "history": [*EARLIER, entry("timed-out", "operator", "pause-1", message=SYSTEM_RESUMES,
                                               input='{"name": "Nobody"}')]})),
    ("until: the system continues the run at its time",
     run("Paused", "Paused", pause=pause(onTimeout="resume", until=DEADLINE)), World(),
     Write(status={"pause": pause(onTimeout="resume", until=DEADLINE,
                                  timedOut={"outcome": "resume", "time": T, "generation": 3}),
                   "message": CONTINUES,
                   "history": [*EARLIER, entry("continued", "operator", "pause-1", message=CONTINUES)]})),
    ("defaults the flow refused fail the run, by the system",
     run("Paused", "Paused", generation=4, message="name: too short",
         pause=pause(onTimeout="resume", rejectedGeneration=3, timedOut={"outcome": "resume", "generation": 2})),
     World(), ended("Failed", "DeadlineExceeded", REFUSED_DEFAULTS, was="Paused", action="failed", by="operator",
                    key="pause-1")),
    ("...also when the refused resume is the current generation",
     run("Paused", "Running", generation=3, message="name: too short",
         pause=pause(onTimeout="resume", rejectedGeneration=3, timedOut={"outcome": "resume", "generation": 2})),
     World(), ended("Failed", "DeadlineExceeded", REFUSED_DEFAULTS, was="Paused", action="failed", by="operator",
                    key="pause-1")),
    ("a person's resume refused before the deadline's outcome does not fail the system's",
     run("Paused", "Paused", generation=3,
         pause=pause(onTimeout="resume", rejectedGeneration=2, timedOut={"outcome": "resume", "generation": 2})),
     World(), Write(spec={"spec": {"state": "Running", "input": None}})),
    ("escalation: the message names who did not answer and who may now",
     run("Paused", "Paused", pause=pause(deadline=None, since="2026-11-25T11:50:00Z", approval=ESCALATING)),
     World(),
     Write(status={"pause": pause(deadline=None, since="2026-11-25T11:50:00Z", approval={**ESCALATING, "escalated": T}),
                   "message": ESCALATED,
                   "history": [*EARLIER, entry("escalated", "operator", "pause-1", message=ESCALATED)]})),
    ("a suspension from outside", run("Running", "Suspended"), World(),
     Write(status={"phase": "Suspended", "message": "Suspended from outside; resume with spec.state=Running",
                   "conditions": conditions("Suspended", "Suspended from outside; resume with spec.state=Running",
                                            was="Running"),
                   "pause": EXTERNAL, "jobName": "", "jobUID": "",
                   "history": [*EARLIER, entry("suspended", "alice", "external-suspend-1")]})),
    ("a resumed suspension starts the next attempt",
     run("Suspended", "Running", generation=3, pause=pause(kind="Suspend", deadline=None), startTime=BEFORE.isoformat()),
     World(),
     Write(status={"phase": "Pending", "message": RESUMED, "conditions": conditions("Pending", RESUMED, was="Suspended"),
                   "attempt": 2, "jobName": "r-2", "jobUID": "", "startTime": BEFORE.isoformat(),
                   "resumed": ["pause-1"], "history": [*EARLIER, entry("resumed", "alice", "pause-1")]})),
]


@pytest.mark.parametrize("case,obj,world,expected", WRITES, ids=[w[0] for w in WRITES])
def test_what_each_rule_writes(case, obj, world, expected):
    assert operator_step(obj, world, POLICY, NOW) == expected


def test_a_new_subflow_made_by_another_than_its_parents_pod_waits_once_said():
    obj = run(None, "Running", labels={"flowrun.io/parent": "p"}, annotations={"flowrun.io/created-by": "eve"})
    said = operator_step(obj, World(), POLICY, NOW)
    assert isinstance(said, Write) and set(said.status) == {"message"}
    obj["status"]["message"] = said.status["message"]
    assert operator_step(obj, World(), POLICY, NOW) == Wait(said.status["message"])


def test_messages_written_directly_are_clipped_to_1024_bytes():
    """The escalation's message (long approver names) and a refused resume's (long
    input errors); their history entries are clipped to 200."""
    long = {**ESCALATING, "approvers": ["a" * 600, "b" * 600]}
    step = operator_step(run("Paused", "Paused", pause=pause(deadline=None, since="2026-11-25T11:50:00Z",
                                                             approval=long)), World(), POLICY, NOW)
    assert isinstance(step, Write)
    assert step.status["message"] == ("Nobody of " + "a" * 600 + ", " + "b" * 600)[:1021] + "..."
    assert step.status["history"][-1]["message"] == ("Nobody of " + "a" * 600)[:197] + "..."
    schema = {"type": "object", "required": ["x" * 600, "y" * 600]}
    step = operator_step(run("Suspended", "Running", pause=pause(kind="Suspend", deadline=None, inputSchema=schema)),
                         World(), POLICY, NOW)
    assert isinstance(step, Write) and step.spec == {"spec": {"state": "Suspended"}}
    assert len(step.status["message"].encode()) == 1024 and step.status["message"].endswith("...")
    assert step.status["message"].startswith("Resume rejected, input is invalid: ")


def test_no_escalation_is_due_while_the_run_is_not_stopped_or_its_deadline_was_settled():
    waiting = pause(deadline=None, since="2026-11-25T11:50:00Z", approval=ESCALATING)
    assert next_due(run("Paused", "Paused", pause=waiting), POLICY) == datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
    assert next_due(run("Pending", "Paused", pause=waiting), POLICY) is None, "re-executing after a lost pod"
    settled = {**waiting, "timedOut": {"outcome": "cancel", "generation": 2}}
    assert next_due(run("Paused", "Paused", pause=settled), POLICY) is None
