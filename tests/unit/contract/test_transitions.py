"""Every transition of contract/lifecycle/, for every actor, as tables: the operator's
next step, the runner's fenced steps, and what people may change (refusals included)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from flowrun.contract.lifecycle.attempts import job_refused
from flowrun.contract.lifecycle.operator import next_due, operator_step
from flowrun.contract.lifecycle.people import InputRefused, review_update, user_change
from flowrun.contract.lifecycle.pausing import PauseMemo, PauseRequest, runner_pause
from flowrun.contract.lifecycle.runner import (
    runner_checkpoint,
    runner_fence,
    runner_finished,
    runner_note,
    runner_started,
)
from flowrun.contract.lifecycle.steps import (
    CreateJob,
    DeleteJobs,
    Exit,
    Hold,
    PatchChildren,
    PauseHere,
    Proceed,
    Stash,
    Stop,
    Wait,
    Write,
)
from flowrun.contract.lifecycle.subflows import subflow_mirror, subflow_received
from flowrun.contract.lifecycle.vocabulary import (
    DEADLINE_EXCEEDED,
    FLOW_FAILED,
    INFRASTRUCTURE_REFUSED,
    POD_LOSSES_EXHAUSTED,
    SUBFLOW_SUSPEND_MESSAGE,
)
from flowrun.contract.lifecycle.world import ChildView, JobView, PodView, Policy, World
from flowrun.contract.phases import InvalidTransition, PauseKind, State
from flowrun.contract.status import keys_add, keys_contain, keys_remove

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)
POLICY = Policy(default_timeout_seconds=600, max_pod_losses=2, image_pull_grace_seconds=30)
SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


def ts(delta: float = 0) -> str:
    return (NOW + timedelta(seconds=delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(phase=None, state="Running", *, attempt=1, generation=1, pause=None, resumed=None,
        inputs=None, job_uid="", spec_input=None, spec_reason="", labels=None, owners=None, **status):
    spec = {"flow": "m:f", "state": state}
    if spec_input is not None:
        spec["input"] = spec_input
    if spec_reason:
        spec["reason"] = spec_reason
    st = {"attempt": attempt, "jobName": f"r-{attempt}", "jobUID": job_uid, **status}
    if phase:
        st["phase"] = phase
    if pause:
        st["pause"] = pause
    if resumed:
        st["resumed"] = resumed
    if inputs:
        st["inputs"] = inputs
    meta = {"name": "r", "namespace": "ns", "uid": "u1", "generation": generation, "resourceVersion": "7",
            "labels": labels or {}, "ownerReferences": owners or [],
            "annotations": {"flowrun.io/changed-by": "alice", "flowrun.io/changed-by-generation": str(generation)}}
    return {"metadata": meta, "spec": spec, "status": st}


def pause(key="pause-1", kind="Pause", generation=2, schema=None, deadline=600, since=-10, **extra):
    return {"key": key, "kind": kind, "generation": generation, "inputSchema": schema,
            "since": ts(since), "deadline": ts(deadline) if deadline is not None else None,
            "timeoutSeconds": 600, "requestedBy": "flow", **extra}

TIMED_OUT = {"outcome": "resume", "time": ts(), "generation": 2}
ESCALATING = {"approvers": ["alice", "bob"], "required": 2, "allowCreator": False,
              "approvals": [{"by": "bob", "time": ts(-5)}], "escalateAfterSeconds": 600,
              "escalateTo": ["carol", "group:managers"]}

JOB1 = JobView(name="r-1", attempt=1, uid="j1")
POD1 = PodView(name="r-1-x", attempt=1)


# ---- the operator ------------------------------------------------------------------------

OPERATOR_TABLE = [
    # (case, run, world, expected step type, check)
    ("new run starts attempt 1", run(None), World(), Write,
     lambda s: s.status["phase"] == "Pending" and s.status["attempt"] == 1),
    ("new run created suspended starts nothing", run(None, "Suspended"), World(), Write,
     lambda s: s.status["phase"] == "Suspended" and s.status["attempt"] == 0),
    ("new run created cancelled ends", run(None, "Cancelled"), World(), Write,
     lambda s: s.status["phase"] == "Cancelled" and s.status["reason"] == "Cancelled"),
    ("pending without its Job creates it", run("Pending"), World(), CreateJob,
     lambda s: s.attempt == 1),
    ("a Job not recorded yet is recorded", run("Pending"), World(jobs=(JOB1,)), Write,
     lambda s: s.status == {"jobUID": "j1"}),
    ("a running run with its Job is converged", run("Running", job_uid="j1"), World(jobs=(JOB1,), pods=(POD1,)),
     type(None), None),
    ("the recorded Job deleted: pod lost, next attempt", run("Running", job_uid="j1"), World(), Write,
     lambda s: s.status["phase"] == "Pending" and s.status["attempt"] == 2 and s.status["podLosses"] == 1),
    ("the Job failed without a report: next attempt",
     run("Running", job_uid="j1"), World(jobs=(JobView("r-1", 1, "j1", finished="Failed"),)), Write,
     lambda s: s.status["attempt"] == 2 and s.status["history"][-1]["action"] == "pod-lost"),
    ("a paused run's pod lost keeps its pause",
     run("Paused", "Paused", job_uid="j1", pause=pause()), World(), Write,
     lambda s: s.status["attempt"] == 2 and "pause" not in s.status),
    ("losses beyond maxPodLosses fail the run",
     run("Running", job_uid="j1", podLosses=2), World(), Write,
     lambda s: s.status["phase"] == "Failed" and s.status["reason"] == POD_LOSSES_EXHAUSTED),
    ("spec.maxPodLosses 0 fails at the first loss",
     {**run("Running", job_uid="j1"), "spec": {"flow": "m:f", "state": "Running", "maxPodLosses": 0}},
     World(), Write, lambda s: s.status["reason"] == POD_LOSSES_EXHAUSTED),
    ("old attempt's Job goes before the new one", run("Pending", attempt=2),
     World(jobs=(JobView("r-1", 1, "j1", finished="Failed"),)), DeleteJobs, lambda s: s.names == ("r-1",)),
    ("new Job waits for the old pod to stop", run("Pending", attempt=2),
     World(pods=(PodView("r-1-x", 1, alive=True),)), Wait, None),
    ("suspension asked while running is recorded", run("Running", "Suspended", job_uid="j1", generation=3),
     World(jobs=(JOB1,)), Write,
     lambda s: s.status["phase"] == "Suspended" and s.status["pause"]["key"] == "external-suspend-1"
     and s.status["jobName"] == ""),
    ("suspending a paused run keeps its pause",
     run("Paused", "Suspended", job_uid="j1", pause=pause(schema=SCHEMA, approval={"approvers": ["bob"]})),
     World(jobs=(JOB1,)), Write,
     lambda s: s.status["pause"]["key"] == "pause-1" and s.status["pause"]["kind"] == "Suspend"
     and s.status["pause"]["inputSchema"] == SCHEMA and s.status["pause"]["deadline"] == ts(600)
     and s.status["pause"]["approval"] == {"approvers": ["bob"]}),
    ("a flow's own suspension is recorded as the flow's",
     run("Running", "Suspended", pause=pause(kind="Suspend")), World(), Write,
     lambda s: "by the flow" in s.status["message"] and "history" not in s.status),
    ("suspended: its Job is deleted", run("Suspended", "Suspended", pause=pause(kind="Suspend")),
     World(jobs=(JOB1,)), DeleteJobs, lambda s: s.names == ("r-1",)),
    ("suspended: linked children suspended with it", run("Suspended", "Suspended", pause=pause(kind="Suspend")),
     World(children=(ChildView("c", linked=True, phase="Running"),)), PatchChildren,
     lambda s: s.patches[0][1]["spec"]["state"] == "Suspended"),
    ("suspended: independent children are left alone", run("Suspended", "Suspended", pause=pause(kind="Suspend")),
     World(children=(ChildView("c", linked=False, phase="Running"),)), type(None), None),
    ("resumed suspension starts the next attempt with the input",
     run("Suspended", "Running", generation=5, pause=pause(kind="Suspend", schema=SCHEMA),
         spec_input={"name": "Marvin"}), World(), Write,
     lambda s: s.status["attempt"] == 2 and s.status["phase"] == "Pending"
     and keys_contain(s.status["resumed"], "pause-1") and s.status["inputs"] == {"pause-1": {"name": "Marvin"}}),
    ("resumed suspension with invalid input goes back", run("Suspended", "Running", generation=5,
                                                            pause=pause(kind="Suspend", schema=SCHEMA)),
     World(), Write,
     lambda s: s.spec == {"spec": {"state": "Suspended"}} and s.status["pause"]["rejectedGeneration"] == 5),
    ("a rejection already recorded only puts spec.state back",
     run("Suspended", "Running", generation=5, pause=pause(kind="Suspend", schema=SCHEMA, rejectedGeneration=5)),
     World(), Write, lambda s: s.status is None and s.spec == {"spec": {"state": "Suspended"}}),
    ("resumed suspension waits for the old pod", run("Suspended", "Running", pause=pause(kind="Suspend")),
     World(pods=(PodView("r-1-x", 1, alive=True),)), Wait, None),
    ("created suspended and set running: attempt 1", run("Suspended", "Running", attempt=0), World(), Write,
     lambda s: s.status["attempt"] == 1 and s.status["history"][-1]["action"] == "started"),
    ("a paused run past its deadline fails", run("Paused", "Paused", pause=pause(deadline=-1)), World(),
     Write, lambda s: s.status["phase"] == "Failed" and s.status["reason"] == DEADLINE_EXCEEDED
     and "paused and never resumed" in s.status["message"]),
    ("a suspended run past its deadline fails", run("Suspended", "Suspended", pause=pause(kind="Suspend", deadline=-1)),
     World(), Write, lambda s: "suspended and never resumed" in s.status["message"]),
    ("no deadline while a new attempt re-executes", run("Pending", "Paused", pause=pause(deadline=-1)),
     World(), CreateJob, None),
    # on_timeout: what a deadline nobody answered does (issue 25)
    ("on_timeout cancel: a paused run past its deadline ends Cancelled, by the system",
     run("Paused", "Paused", pause=pause(deadline=-1, onTimeout="cancel")), World(), Write,
     lambda s: s.status["phase"] == "Cancelled" and s.status["reason"] == "Cancelled" and s.spec is None
     and "nobody answered pause-1" in s.status["message"]
     and s.status["history"][-1] == {**s.status["history"][-1], "action": "timed-out", "by": "operator"}),
    ("on_timeout cancel: a suspended run too",
     run("Suspended", "Suspended", pause=pause(kind="Suspend", deadline=-1, onTimeout="cancel")), World(), Write,
     lambda s: s.status["phase"] == "Cancelled"),
    ("on_timeout resume: the outcome is written first, in the status alone (the commit point)",
     run("Paused", "Paused", generation=2, pause=pause(deadline=-1, schema=SCHEMA, onTimeout="resume",
                                                      timeoutInput={"name": "Nobody"})), World(), Write,
     lambda s: s.spec is None and s.status["pause"]["timedOut"] == {"outcome": "resume", "time": ts(), "generation": 2}
     and s.status["history"][-1] == {**s.status["history"][-1], "action": "timed-out", "by": "operator"}
     and s.status["pause"]["key"] == "pause-1" and "phase" not in s.status),
    ("on_timeout resume: then spec.state Running, the input left to the recorded defaults",
     run("Paused", "Paused", generation=2, pause=pause(deadline=-1, schema=SCHEMA, onTimeout="resume",
                                                      timeoutInput={"name": "Nobody"},
                                                      timedOut={"outcome": "resume", "generation": 2})),
     World(jobs=(JOB1,)), Write, lambda s: s.status is None and s.spec == {"spec": {"state": "Running", "input": None}}),
    ("on_timeout resume: a person's change of state made without the webhook is overruled",
     run("Paused", "Suspended", generation=3, pause=pause(deadline=-1, onTimeout="resume",
                                                         timedOut={"outcome": "resume", "generation": 2})),
     World(jobs=(JOB1,)), Write, lambda s: s.spec == {"spec": {"state": "Running", "input": None}}),
    ("on_timeout resume, paused: once spec.state is Running, the runner resumes (the operator follows the attempt)",
     run("Paused", "Running", generation=3, job_uid="j1",
         pause=pause(deadline=-1, onTimeout="resume", timedOut={"outcome": "resume", "generation": 2})),
     World(jobs=(JOB1,), pods=(POD1,)), type(None), None),
    ("on_timeout resume, suspended: the next attempt starts with the defaults, credited to the system",
     run("Suspended", "Running", generation=3, spec_input={"name": "Mallory"},
         pause=pause(kind="Suspend", deadline=-1, schema=SCHEMA, onTimeout="resume", timeoutInput={"name": "Nobody"},
                     timedOut={"outcome": "resume", "generation": 2},
                     approval={"approvers": ["bob"], "required": 1})), World(), Write,
     lambda s: s.status["attempt"] == 2 and s.status["inputs"] == {"pause-1": {"name": "Nobody"}}
     and s.status["history"][-1] == {**s.status["history"][-1], "action": "resumed", "by": "operator"}),
    ("on_timeout resume: defaults the flow refused fail the run rather than wait for nobody",
     run("Paused", "Paused", generation=4, pause=pause(deadline=-1, onTimeout="resume", rejectedGeneration=3,
                                                      timedOut={"outcome": "resume", "generation": 2})),
     World(jobs=(JOB1,)), Write, lambda s: s.status["phase"] == "Failed" and s.status["reason"] == DEADLINE_EXCEEDED),
    ("an answer the API server took before the deadline's write is judged first (no outcome yet)",
     run("Paused", "Running", generation=3, job_uid="j1", spec_input={"name": "Marvin"},
         pause=pause(deadline=-1, schema=SCHEMA, onTimeout="cancel")), World(jobs=(JOB1,), pods=(POD1,)),
     type(None), None),
    ("an answer already refused does not hold the deadline back",
     run("Paused", "Running", generation=3, job_uid="j1",
         pause=pause(deadline=-1, onTimeout="cancel", rejectedGeneration=3)), World(jobs=(JOB1,), pods=(POD1,)),
     Write, lambda s: s.status["phase"] == "Cancelled"),
    # until: a pause or suspension that continues by itself at a time (issue 25)
    ("until: at its time the system continues a paused run (one CAS of the status)",
     run("Paused", "Paused", generation=2, pause=pause(deadline=0, onTimeout="resume", until=ts(0))), World(), Write,
     lambda s: s.spec is None and s.status["pause"]["timedOut"]["outcome"] == "resume"
     and s.status["history"][-1] == {**s.status["history"][-1], "action": "continued", "by": "operator"}),
    ("until: a suspended run continues as the next attempt, no longer waiting for that time",
     run("Suspended", "Running", generation=3,
         pause=pause(kind="Suspend", deadline=0, onTimeout="resume", until=ts(0), timedOut=TIMED_OUT)), World(), Write,
     lambda s: s.status["attempt"] == 2 and s.status["pause"] == {"until": None} and "inputs" not in s.status
     and "its time came" in s.status["message"]),
    ("until: resumed earlier by a person, as any pause",
     run("Suspended", "Running", generation=3, pause=pause(kind="Suspend", deadline=600, onTimeout="resume",
                                                          until=ts(600))), World(), Write,
     lambda s: s.status["attempt"] == 2 and s.status["history"][-1]["by"] == "alice"),
    ("until: a suspended run waits with no Job, its time not come",
     run("Suspended", "Suspended", pause=pause(kind="Suspend", deadline=600, onTimeout="resume", until=ts(600))),
     World(), type(None), None),
    # escalation: a pause short of its approvals for escalate_after (issue 25)
    ("escalation: after escalate_after without a quorum, escalate_to may answer too (one CAS of the status)",
     run("Paused", "Paused", job_uid="j1", pause=pause(since=-600, approval=ESCALATING)),
     World(jobs=(JOB1,), pods=(POD1,)), Write,
     lambda s: s.status["pause"]["approval"]["escalated"] == ts() and s.spec is None
     and s.status["pause"]["approval"]["approvals"] == [{"by": "bob", "time": ts(-5)}]
     and s.status["history"][-1] == {**s.status["history"][-1], "action": "escalated", "by": "operator"}
     and "carol, group:managers may answer it too" in s.status["message"]),
    ("escalation: not before its time", run("Paused", "Paused", job_uid="j1", pause=pause(since=-599, approval=ESCALATING)),
     World(jobs=(JOB1,), pods=(POD1,)), type(None), None),
    ("escalation: never twice", run("Paused", "Paused", job_uid="j1",
                                    pause=pause(since=-900, approval={**ESCALATING, "escalated": ts(-300)})),
     World(jobs=(JOB1,), pods=(POD1,)), type(None), None),
    ("escalation: not once the quorum is there",
     run("Paused", "Paused", job_uid="j1", pause=pause(since=-900, approval={**ESCALATING, "required": 1})),
     World(jobs=(JOB1,), pods=(POD1,)), type(None), None),
    ("escalation: a suspended pause escalates too",
     run("Suspended", "Suspended", pause=pause(kind="Suspend", since=-700, approval=ESCALATING)), World(), Write,
     lambda s: s.status["pause"]["approval"]["escalated"] == ts()),
    ("on_timeout resume before its deadline: nothing yet",
     run("Paused", "Paused", job_uid="j1", pause=pause(deadline=1, onTimeout="resume")),
     World(jobs=(JOB1,), pods=(POD1,)), type(None), None),
    ("cancel ends the run", run("Paused", "Cancelled", spec_reason="wrong numbers", pause=pause()), World(),
     Write, lambda s: s.status["phase"] == "Cancelled" and "wrong numbers" in s.status["message"]
     and s.status["history"][-1]["by"] == "alice"),
    ("cancelled: its Job goes", run("Cancelled", "Cancelled"), World(jobs=(JOB1,)), DeleteJobs, None),
    ("cancelled: linked children are cancelled", run("Cancelled", "Cancelled"),
     World(children=(ChildView("c", linked=True, phase="Paused", state="Paused"),)), PatchChildren,
     lambda s: s.patches[0][1]["spec"]["state"] == "Cancelled"),
    ("failed by the flow keeps its Job for the logs", run("Failed", reason=FLOW_FAILED), World(jobs=(JOB1,)),
     type(None), None),
    ("failed by a deadline loses its Job", run("Failed", reason=DEADLINE_EXCEEDED), World(jobs=(JOB1,)),
     DeleteJobs, None),
    ("an image that cannot be pulled: wait for the grace period", run("Pending", job_uid="j1"),
     World(jobs=(JOB1,), pods=(PodView("p", 1, problem="Image 'x' cannot be pulled", problem_reason="ErrImagePull",
                                            problem_since=NOW - timedelta(seconds=5)),)), Wait,
     lambda s: s.status["conditions"][-1] == {**s.status["conditions"][-1], "type": "Progressing", "status": "False",
                                             "reason": "ErrImagePull"} and s.until == NOW + timedelta(seconds=25)),
    ("an image that cannot be pulled after the grace: Failed", run("Pending", job_uid="j1"),
     World(jobs=(JOB1,), pods=(PodView("p", 1, problem="Image 'x' cannot be pulled", problem_reason="ErrImagePull",
                                            problem_since=NOW - timedelta(seconds=31)),)), Write,
     lambda s: s.status["reason"] == INFRASTRUCTURE_REFUSED),
    ("an unschedulable pod says why", run("Pending", job_uid="j1"),
     World(jobs=(JOB1,), pods=(PodView("p", 1, unschedulable="0/1 nodes are available",
                                            unschedulable_since=NOW - timedelta(seconds=11)),)), Wait,
     lambda s: "cannot be scheduled: 0/1 nodes" in s.status["message"]),
    ("a pod unschedulable for a moment (its claim being bound) is not reported yet", run("Pending", job_uid="j1"),
     World(jobs=(JOB1,), pods=(PodView("p", 1, unschedulable="unbound immediate PersistentVolumeClaims",
                                            unschedulable_since=NOW - timedelta(seconds=2)),)), Wait,
     lambda s: s.status is None and s.until == NOW + timedelta(seconds=8)),
    ("an unschedulable pod already said: nothing new to write",
     run("Pending", job_uid="j1", message="The runner pod cannot be scheduled: 0/1 nodes are available"),
     World(jobs=(JOB1,), pods=(PodView("p", 1, unschedulable="0/1 nodes are available"),)), Wait,
     lambda s: s.status is None),
    ("an idle pause becomes a suspension of the same pause",
     {**run("Paused", "Paused", job_uid="j1", pause=pause(since=-120)),
      "spec": {"flow": "m:f", "state": "Paused", "suspendAfterSeconds": 60}},
     World(jobs=(JOB1,)), Write,
     lambda s: s.status["phase"] == "Suspended" and s.status["pause"]["key"] == "pause-1"
     and s.status["pause"]["deadline"] == ts(600)),
    ("a linked child's own idle timer does not apply",
     {**run("Paused", "Paused", job_uid="j1", pause=pause(since=-120, suspendAfterSeconds=60),
            labels={"flowrun.io/parent": "p"}, owners=[{"controller": True, "uid": "pu"}])},
     World(jobs=(JOB1,)), type(None), None),
    ("children suspended with the parent come back with it", run("Pending", attempt=2, job_uid="j2"),
     World(jobs=(JobView("r-2", 2, "j2"),),
             children=(ChildView("c", linked=True, phase="Suspended", state="Suspended",
                                   suspended_with_parent=True),)), PatchChildren,
     lambda s: s.patches[0][1]["spec"]["state"] == "Running"),
]


@pytest.mark.parametrize("case,obj,world,kind,check", OPERATOR_TABLE, ids=[c[0] for c in OPERATOR_TABLE])
def test_operator_step(case, obj, world, kind, check):
    step = operator_step(obj, world, POLICY, NOW)
    assert isinstance(step, kind), step
    if check is not None:
        assert check(step), step


def test_a_deleted_run_is_left_to_the_garbage_collector():
    obj = run("Running")
    obj["metadata"]["deletionTimestamp"] = ts()
    assert operator_step(obj, World(), POLICY, NOW) is None


@pytest.mark.parametrize("code,kind,reason", [(422, Write, INFRASTRUCTURE_REFUSED), (400, Write, INFRASTRUCTURE_REFUSED),
                                              (403, Wait, "QuotaExceeded")])
def test_a_refused_job(code, kind, reason):
    message = "exceeded quota: q, requested: pods=1" if code == 403 else "spec.template: invalid"
    step = job_refused(run("Pending"), code, message, NOW)
    assert isinstance(step, kind)
    if kind is Write:
        assert step.status["reason"] == reason and step.status["phase"] == "Failed"
    else:
        progressing = next(c for c in step.status["conditions"] if c["type"] == "Progressing")
        assert progressing["status"] == "False" and progressing["reason"] == reason
        assert step.status["history"][-1]["action"] == "blocked"


def test_next_due_includes_an_escalation_until_it_happened():
    obj = run("Paused", "Paused", pause=pause(since=-10, deadline=3600, approval=ESCALATING))
    assert next_due(obj, POLICY) == NOW + timedelta(seconds=590)
    done = run("Paused", "Paused", pause=pause(since=-10, deadline=3600, approval={**ESCALATING, "escalated": ts()}))
    assert next_due(done, POLICY) == NOW + timedelta(seconds=3600)


def test_next_due_of_a_run_suspended_until_a_time_is_that_time():
    obj = run("Suspended", "Suspended", pause=pause(kind="Suspend", deadline=900, onTimeout="resume", until=ts(900)))
    assert next_due(obj, POLICY) == NOW + timedelta(seconds=900)


def test_next_due_is_the_earlier_of_deadline_and_idle_suspension():
    obj = run("Paused", "Paused", pause=pause(since=-10, deadline=600, suspendAfterSeconds=60))
    assert next_due(obj, POLICY) == NOW + timedelta(seconds=50)
    assert next_due(run("Running"), POLICY) is None


# ---- the runner --------------------------------------------------------------------------

FENCE_TABLE = [
    ("current attempt, running", run("Running"), 1, None),
    ("a later attempt took over", run("Pending", attempt=2), 1, "attempt 2 has taken over"),
    ("suspended", run("Suspended", "Suspended"), 1, "suspended"),
    ("cancel requested", run("Running", "Cancelled"), 1, "cancelled"),
    ("cancelled", run("Cancelled", "Cancelled"), 1, "cancelled"),
    ("finished", run("Completed", message="Flow completed"), 1, "Flow completed"),
    ("deleted", None, 1, "deleted"),
]


@pytest.mark.parametrize("case,obj,attempt,stop", FENCE_TABLE, ids=[c[0] for c in FENCE_TABLE])
def test_runner_fence(case, obj, attempt, stop):
    step = runner_fence(obj, attempt)
    if stop is None:
        assert step is None
    else:
        assert isinstance(step, Stop) and stop in step.reason
        assert step.cancelled == (stop == "cancelled")


def test_every_runner_step_is_fenced():
    stale = run("Pending", attempt=2)
    req = PauseRequest("pause-1", PauseKind.PAUSE, 600)
    for step in (runner_started(stale, 1, "go", NOW),
                 runner_finished(stale, 1, failed=False, message="done", now=NOW),
                 runner_finished(stale, 1, failed=True, message="boom", now=NOW),
                 runner_note(stale, 1, "retrying", "again", NOW),
                 runner_checkpoint(stale, 1),
                 subflow_received(stale, 1, "c"),
                 runner_pause(stale, 1, req, PauseMemo(), NOW, check=lambda d: None,
                                stored=lambda k: (False, None))):
        assert isinstance(step, Stop), step


def pause_step(obj, memo=None, kind=PauseKind.PAUSE, schema=None, check=None, stored=None, key="pause-1"):
    req = PauseRequest(key, kind, 600, input_schema=schema)
    return runner_pause(obj, 1, req, memo or PauseMemo(), NOW, check=check or (lambda d: None),
                          stored=stored or (lambda k: (False, None)))


PAUSE_TABLE = [
    ("arm: spec.state first", run("Running"), PauseMemo(), PauseKind.PAUSE, None, Write,
     lambda s: s.spec_first and s.spec == {"spec": {"state": "Paused", "input": None}} and s.status is None),
    ("armed: record the pause at this generation", run("Running", "Paused", generation=2), PauseMemo(armed=2),
     PauseKind.PAUSE, None, Write,
     lambda s: s.status["phase"] == "Paused" and s.status["pause"]["generation"] == 2),
    ("a withdrawal between the two writes is judged as the resume",
     run("Running", "Running", generation=3), PauseMemo(armed=2), PauseKind.PAUSE, None, Write,
     lambda s: s.status["pause"]["generation"] == 2),
    ("established: hold", run("Paused", "Paused", generation=2, pause=pause(generation=2)), PauseMemo(),
     PauseKind.PAUSE, None, Hold, None),
    ("resumed without input", run("Paused", "Running", generation=3, pause=pause(generation=2)), PauseMemo(),
     PauseKind.PAUSE, None, Write,
     lambda s: s.status["phase"] == "Running" and keys_contain(s.status["resumed"], "pause-1")
     and s.status["pause"] is None and s.status["history"][-1]["by"] == "alice"),
    ("resumed with input: on the volume first",
     run("Paused", "Running", generation=3, pause=pause(generation=2, schema=SCHEMA), spec_input={"name": "M"}),
     PauseMemo(), PauseKind.PAUSE, SCHEMA, Stash, lambda s: s.value == {"name": "M"} and s.generation == 3),
    ("resumed with input on the volume: record",
     run("Paused", "Running", generation=3, pause=pause(generation=2, schema=SCHEMA), spec_input={"name": "M"}),
     PauseMemo(stashed={"pause-1": 3}), PauseKind.PAUSE, SCHEMA, Write,
     lambda s: "inputs" not in s.status and keys_contain(s.status["resumed"], "pause-1")),
    ("input the schema refuses: back to Paused with the reason",
     run("Paused", "Running", generation=3, pause=pause(generation=2, schema=SCHEMA), spec_input={"x": 1}),
     PauseMemo(), PauseKind.PAUSE, SCHEMA, Write,
     lambda s: s.spec == {"spec": {"state": "Paused"}} and "required" in s.status["message"]
     and s.status["pause"] == {"rejectedGeneration": 3}),
    ("a refused generation is not judged again",
     run("Paused", "Running", generation=3, pause=pause(generation=2, schema=SCHEMA, rejectedGeneration=3),
         spec_input={"x": 1}), PauseMemo(), PauseKind.PAUSE, SCHEMA, Write,
     lambda s: s.spec_first and s.spec == {"spec": {"state": "Paused", "input": None}}),
    ("a suspension requested: hold", run("Paused", "Suspended", generation=3, pause=pause(generation=2)),
     PauseMemo(), PauseKind.PAUSE, None, Hold, None),
    ("re-established by a new attempt: same deadline",
     run("Pending", "Paused", generation=2, pause=pause(generation=2, deadline=100)), PauseMemo(),
     PauseKind.PAUSE, None, Write,
     lambda s: s.status["phase"] == "Paused" and s.status["pause"]["deadline"] == ts(100)
     and "re-established" in s.status["message"]),
    ("input given while the pod was lost is the resume",
     run("Pending", "Running", generation=4, pause=pause(generation=2, schema=SCHEMA), spec_input={"name": "M"}),
     PauseMemo(), PauseKind.PAUSE, SCHEMA, Stash, None),
    ("resumed in an earlier attempt: its input from the status, to the volume",
     run("Running", resumed=["pause-1"], inputs={"pause-1": {"name": "M"}}), PauseMemo(), PauseKind.PAUSE,
     SCHEMA, Stash, lambda s: s.value == {"name": "M"}),
    ("stashed: the input leaves the status",
     run("Running", resumed=["pause-1"], inputs={"pause-1": {"name": "M"}}), PauseMemo(stashed={"pause-1": 1}),
     PauseKind.PAUSE, SCHEMA, Write, lambda s: s.status == {"inputs": {"pause-1": None}}),
    ("resumed earlier, input on the volume: proceed", run("Running", resumed=["pause-1..3"]), PauseMemo(),
     PauseKind.PAUSE, SCHEMA, Proceed, lambda s: s.value == {"name": "from-volume"}),
    ("the system's resume (on_timeout resume): the recorded defaults, on the volume first",
     run("Paused", "Running", generation=3, spec_input={"name": "Mallory"},
         pause=pause(generation=2, schema=SCHEMA, onTimeout="resume", timeoutInput={"name": "Nobody"},
                     timedOut=TIMED_OUT, approval={"approvers": ["bob"], "required": 2})),
     PauseMemo(), PauseKind.PAUSE, SCHEMA, Stash, lambda s: s.value == {"name": "Nobody"}),
    ("the system's resume: recorded as the system's, no approval needed",
     run("Paused", "Running", generation=3,
         pause=pause(generation=2, schema=SCHEMA, onTimeout="resume", timeoutInput={"name": "Nobody"},
                     timedOut=TIMED_OUT, approval={"approvers": ["bob"], "required": 2})),
     PauseMemo(stashed={"pause-1": 3}), PauseKind.PAUSE, SCHEMA, Write,
     lambda s: s.status["phase"] == "Running" and s.status["pause"] is None
     and s.status["history"][-1] == {**s.status["history"][-1], "action": "resumed", "by": "operator",
                                     "input": '{"name": "Nobody"}'}),
    ("outcome written, spec.state not yet Running: the runner holds",
     run("Paused", "Paused", generation=2, pause=pause(generation=2, onTimeout="resume", timedOut=TIMED_OUT)),
     PauseMemo(), PauseKind.PAUSE, None, Hold, None),
    ("a new pause clears what an earlier one left (its outcome, approvals)",
     run("Running", "Paused", generation=6, resumed=["pause-0"],
         pause=pause(key="pause-0", onTimeout="resume", timedOut=TIMED_OUT, approval={"approvers": ["bob"]})),
     PauseMemo(armed=6), PauseKind.PAUSE, None, Write,
     lambda s: s.status["pause"]["key"] == "pause-1" and s.status["pause"]["timedOut"] is None
     and s.status["pause"]["approval"] is None and s.status["pause"]["onTimeout"] is None),
    ("a flow suspends: record first", run("Running"), PauseMemo(), PauseKind.SUSPEND, None, Write,
     lambda s: s.spec is None and s.status["pause"]["kind"] == "Suspend" and "phase" not in s.status),
    ("a flow suspends: then spec.state", run("Running", generation=1, pause=pause(kind="Suspend", generation=1)),
     PauseMemo(), PauseKind.SUSPEND, None, Write,
     lambda s: s.spec == {"spec": {"state": "Suspended", "input": None}}),
    ("a flow suspends: then exits", run("Running", "Suspended", generation=2, pause=pause(kind="Suspend", generation=1)),
     PauseMemo(), PauseKind.SUSPEND, None, Exit, None),
]


@pytest.mark.parametrize("case,obj,memo,kind,schema,expected,check", PAUSE_TABLE, ids=[c[0] for c in PAUSE_TABLE])
def test_runner_pause(case, obj, memo, kind, schema, expected, check):
    step = pause_step(obj, memo, kind, schema, stored=lambda k: (True, {"name": "from-volume"}))
    assert isinstance(step, expected), step
    if check is not None:
        assert check(step), step


def test_input_the_model_refuses_on_reexecution_takes_the_resume_back():
    obj = run("Running", resumed=["pause-1"], inputs={"pause-1": {"name": "x"}},
              pause=pause(kind="Suspend", schema=SCHEMA, deadline=300))
    step = pause_step(obj, schema=SCHEMA, check=lambda d: "name: must be longer")
    assert isinstance(step, Write)
    assert not keys_contain(step.status["resumed"], "pause-1")
    assert step.status["inputs"] == {"pause-1": None}
    assert step.status["pause"]["deadline"] == ts(300) and "must be longer" in step.status["message"]


def test_checkpoint():
    assert isinstance(runner_checkpoint(run("Running", "Paused"), 1), PauseHere)
    assert isinstance(runner_checkpoint(run("Running", "Suspended"), 1), Hold)
    assert runner_checkpoint(run("Running"), 1) is None
    # A pause of an earlier attempt waits to be re-established where the flow reaches it.
    assert runner_checkpoint(run("Running", "Paused", pause=pause()), 1) is None


def test_runner_finished_failed_is_a_flow_failure():
    step = runner_finished(run("Running"), 1, failed=True, message="ValueError: x", now=NOW)
    assert step.status["phase"] == "Failed" and step.status["reason"] == FLOW_FAILED


# ---- subflows --------------------------------------------------------------------------

def child(name="r-sub-1", phase="Completed", result=None):
    obj = {"metadata": {"name": name}, "status": {"phase": phase, "message": "ok"}}
    if result is not None:
        obj["status"]["result"] = result
    return obj


def test_subflow_results_are_mirrored_until_received():
    parent = run("Running")
    step = subflow_mirror(parent, child(result=1))
    assert step.status == {"subflows": {"r-sub-1": {"phase": "Completed", "message": "ok", "result": 1}}}
    parent["status"]["subflowsReceived"] = ["r-sub-1"]
    assert subflow_mirror(parent, child(result=1)) is None
    received = subflow_received(run("Running"), 1, "r-sub-1")
    assert received.status == {"subflows": {"r-sub-1": None}, "subflowsReceived": ["r-sub-1"]}


def test_a_result_reaches_the_parent_only_from_a_child_its_pod_created():
    parent = run("Running")
    made = child(result=1)
    made["metadata"].update(namespace="ns", labels={"flowrun.io/parent": "r"},
                            annotations={"flowrun.io/created-by": "system:serviceaccount:ns:r-runner"})
    assert subflow_mirror(parent, made).status["subflows"]["r-sub-1"]["result"] == 1
    for who in ("eve", "system:serviceaccount:ns:other-runner", None):
        posing = child(result=666)
        posing["metadata"].update(namespace="ns", labels={"flowrun.io/parent": "r"},
                                  annotations={"flowrun.io/created-by": who} if who else {})
        entry = subflow_mirror(parent, posing).status["subflows"]["r-sub-1"]
        assert entry["phase"] == "Failed" and "result" not in entry and "not created by the pod of run r" in entry["message"]


def test_pending_subflow_results_are_bounded():
    big = "x" * 60_000
    parent = run("Running", subflows={"a": {"phase": "Completed", "result": big},
                                      "b": {"phase": "Completed", "result": big}})
    step = subflow_mirror(parent, child("c", result=big))
    assert step.status["subflows"]["c"] == {"phase": "Completed", "message": "ok", "resultPending": True}


# ---- people ---------------------------------------------------------------------------

USER_TABLE = [
    ("resume a pause", run("Paused", "Paused", pause=pause()), State.RUNNING, None, {"spec": {"state": "Running"}}),
    ("resume with input", run("Paused", "Paused", pause=pause(schema=SCHEMA)), State.RUNNING, {"name": "M"},
     {"spec": {"state": "Running", "input": {"name": "M"}}}),
    ("resume without required input", run("Paused", "Paused", pause=pause(schema=SCHEMA)), State.RUNNING, None,
     InputRefused),
    ("resume of a suspended pause needs the same input",
     run("Suspended", "Suspended", pause=pause(kind="Suspend", schema=SCHEMA)), State.RUNNING, None, InputRefused),
    ("input for a pause without a schema", run("Paused", "Paused", pause=pause()), State.RUNNING, {"a": 1},
     InputRefused),
    ("suspend a running run", run("Running"), State.SUSPENDED, None, {"spec": {"state": "Suspended"}}),
    ("pause a suspended run", run("Suspended", "Suspended"), State.PAUSED, None, InvalidTransition),
    ("cancel a suspended run", run("Suspended", "Suspended"), State.CANCELLED, None, {"spec": {"state": "Cancelled"}}),
    ("answer a pause the system settled at its deadline",
     run("Paused", "Paused", pause=pause(deadline=-1, onTimeout="resume", timedOut=TIMED_OUT)), State.RUNNING,
     None, InvalidTransition),
    ("suspend a pause the system settled", run("Paused", "Paused", pause=pause(onTimeout="resume", timedOut=TIMED_OUT)),
     State.SUSPENDED, None, InvalidTransition),
    ("cancel a pause the system settled: still possible",
     run("Paused", "Paused", pause=pause(onTimeout="resume", timedOut=TIMED_OUT)), State.CANCELLED, None,
     {"spec": {"state": "Cancelled"}}),
    ("resume a cancelled run", run("Running", "Cancelled"), State.RUNNING, None, InvalidTransition),
    ("resume a finished run", run("Completed"), State.RUNNING, None, InvalidTransition),
    ("cancel a finished run", run("Failed"), State.CANCELLED, None, InvalidTransition),
]


@pytest.mark.parametrize("case,obj,target,data,expected", USER_TABLE, ids=[c[0] for c in USER_TABLE])
def test_user_change(case, obj, target, data, expected):
    if isinstance(expected, type) and issubclass(expected, Exception):
        with pytest.raises(expected):
            user_change(obj, target, data=data)
    else:
        assert user_change(obj, target, data=data) == expected


def with_spec(obj, **spec):
    return {**obj, "spec": {**obj["spec"], **spec}}


REVIEW_TABLE = [
    ("resume with valid input", run("Paused", "Paused", pause=pause(schema=SCHEMA)),
     {"state": "Running", "input": {"name": "M"}}, False, []),
    ("resume without input", run("Paused", "Paused", pause=pause(schema=SCHEMA)), {"state": "Running"}, False,
     ["'name' is a required property"]),
    ("a suspended pause needs the same input before the operator recorded it",
     run("Paused", "Suspended", pause=pause(schema=SCHEMA)), {"state": "Running"}, False, ["required"]),
    ("and after", run("Suspended", "Suspended", pause=pause(kind="Suspend", schema=SCHEMA)), {"state": "Running"},
     False, ["required"]),
    ("the runner's own pause write", run("Running"), {"state": "Paused", "input": None}, True, []),
    ("a linked child suspended alone",
     run("Running", labels={"flowrun.io/parent": "p"}, owners=[{"controller": True, "uid": "x"}]),
     {"state": "Suspended"}, False, [SUBFLOW_SUSPEND_MESSAGE]),
    ("a linked child suspending itself (its runner)",
     run("Running", labels={"flowrun.io/parent": "p"}, owners=[{"controller": True, "uid": "x"}]),
     {"state": "Suspended"}, True, []),
    ("a cancelled run cannot be resumed", run("Paused", "Cancelled"), {"state": "Running"}, False,
     ["being cancelled"]),
    ("a finished run cannot be cancelled", run("Completed", "Running"), {"state": "Cancelled"}, False,
     ["Completed"]),
    ("input for a pause the system settled is refused",
     run("Paused", "Paused", pause=pause(schema=SCHEMA, onTimeout="resume", timedOut=TIMED_OUT)),
     {"state": "Running", "input": {"name": "M"}}, False, ["nobody answered pause-1 in time"]),
    ("a suspension of a pause the system settled is refused",
     run("Paused", "Paused", pause=pause(onTimeout="resume", timedOut=TIMED_OUT)), {"state": "Suspended"}, False,
     ["can no longer be answered"]),
    ("the system's resume itself: spec.state Running without input (the defaults are the input)",
     run("Paused", "Paused", pause=pause(schema=SCHEMA, onTimeout="resume", timedOut=TIMED_OUT)),
     {"state": "Running", "input": None}, False, []),
    ("input to a run that is not paused", run("Running"), {"input": {"a": 1}}, False, ["nothing to resume"]),
    ("input too large", run("Paused", "Paused", pause=pause()), {"state": "Running", "input": {"a": "x" * 70_000}},
     False, ["more than the 65536 allowed"]),
]


@pytest.mark.parametrize("case,old,spec,runner,errors", REVIEW_TABLE, ids=[c[0] for c in REVIEW_TABLE])
def test_review_update(case, old, spec, runner, errors):
    got = review_update(old, with_spec(old, **spec), runner_of_run=runner)
    assert len(got) == len(errors), got
    for want, have in zip(errors, got):
        assert want in have


# ---- compact key lists -----------------------------------------------------------------

def test_compact_keys_hold_many_pauses_in_little_room():
    keys: list[str] = []
    for i in range(1, 201):
        keys = keys_add(keys, f"pause-{i}")
    keys = keys_add(keys, "approve")
    assert keys == ["pause-1..200", "approve"]
    assert all(keys_contain(keys, f"pause-{i}") for i in range(1, 201))
    assert not keys_contain(keys, "pause-201") and not keys_contain(keys, "pause-01")
    assert keys_remove(keys, "pause-100") == ["pause-1..99", "pause-101..200", "approve"]


def test_a_child_created_without_the_webhook_is_not_started():
    child = run(None, labels={"flowrun.io/parent": "p"})
    child["metadata"]["annotations"] = {}  # no stamp: the webhook did not see its creation
    step = operator_step(child, World(), POLICY, NOW)
    assert isinstance(step, Write) and "phase" not in step.status
    assert "not created by the pod of run p as far as the API server recorded" in step.status["message"]
    child["status"]["message"] = step.status["message"]
    assert isinstance(operator_step(child, World(), POLICY, NOW), Wait)
    stamped = run(None, labels={"flowrun.io/parent": "p"})
    stamped["metadata"]["annotations"]["flowrun.io/created-by"] = "system:serviceaccount:ns:p-runner"
    assert operator_step(stamped, World(), POLICY, NOW).status["phase"] == "Pending"


def test_a_child_a_person_created_is_not_started():
    """eve (who may create FlowRuns) made `<parent>-<uid8>-<key>` herself: its creator,
    recorded by the API server, is not the parent's pod."""
    for labels in ({"flowrun.io/parent": "p"}, {"flowrun.io/started-by": "p", "flowrun.io/started-by-uid": "u"}):
        posing = run(None, labels=labels)
        posing["metadata"]["annotations"]["flowrun.io/created-by"] = "eve"
        step = operator_step(posing, World(), POLICY, NOW)
        assert isinstance(step, Write) and "phase" not in step.status
        assert "not created by the pod of run p but by eve" in step.status["message"]


@pytest.mark.parametrize("key, left", [
    ("pause-3", ["pause-4..6", "x"]),  # the range's first key
    ("pause-6", ["pause-3..5", "x"]),  # its last key
    ("pause-4", ["pause-3", "pause-5..6", "x"]),  # one key left below stays a single key
    ("pause-5", ["pause-3..4", "pause-6", "x"]),  # and above
    ("pause-7", ["pause-3..6", "x"]),  # outside the range: nothing removed
    ("pause-2", ["pause-3..6", "x"]),
])
def test_removing_a_key_at_either_end_of_a_range(key, left):
    """A resumed key is taken out of a compact range wherever it sits, including at the
    range's two ends, and what remains is written as single keys or ranges."""
    assert keys_remove(["pause-3..6", "x"], key) == left
    assert not keys_contain(keys_remove(["pause-3..6", "x"], key), key)


def _pod(name: str, attempt: int, job: str) -> dict:
    return {"metadata": {"name": name, "labels": {"flowrun.io/attempt": str(attempt), "job-name": job}}}


def test_the_pod_whose_log_is_shown():
    """`flowrun logs` and the UI show the newest pod of the asked attempt, else of the
    run's current Job, else the newest pod; none when there is none."""
    from flowrun.contract.status import current_pod
    pods = [_pod("a", 1, "r-1"), _pod("b", 2, "r-2"), _pod("c", 2, "r-2"), _pod("d", 3, "r-3")]
    run_ = {"status": {"jobName": "r-2"}}
    assert current_pod(run_, pods)["metadata"]["name"] == "c"
    assert current_pod(run_, pods, attempt=1)["metadata"]["name"] == "a"
    assert current_pod(run_, pods, attempt=3)["metadata"]["name"] == "d"
    assert current_pod(run_, pods, attempt=9) is None
    assert current_pod({"status": {}}, pods)["metadata"]["name"] == "d"
    assert current_pod({}, pods)["metadata"]["name"] == "d"
    assert current_pod({"status": {"jobName": "r-9"}}, pods)["metadata"]["name"] == "d"
    assert current_pod(run_, [{"metadata": {"name": "x"}}])["metadata"]["name"] == "x"
    assert current_pod(run_, []) is None


@pytest.mark.parametrize("entries, key, after", [
    (["approve"], "approve", ["approve"]),  # held already: unchanged
    (["pause-1..3"], "pause-2", ["pause-1..3"]),
    (["pause-1..2"], "pause-3", ["pause-1..3"]),  # joins the range below
    (["pause-4..5"], "pause-3", ["pause-3..5"]),  # and above
    (["pause-1..2", "x", "pause-4..5"], "pause-3", ["x", "pause-1..5"]),  # bridges two ranges
    (["pause-1"], "pause-3", ["pause-1", "pause-3"]),  # a gap stays a gap
    (["other-2"], "pause-3", ["other-2", "pause-3"]),  # another stem is not a neighbour
    (["pause-6..7", "pause-4..5"], "pause-3", ["pause-3..7"]),  # a hand-written list: merged to the end
])
def test_adding_a_key_merges_exactly_its_neighbours(entries, key, after):
    """A compact key list stays complete and small: a key held already changes nothing,
    a numbered key joins the ranges just below and above it (of its stem only), through
    every range that becomes adjacent by the merge."""
    assert keys_add(entries, key) == after


def test_a_mirrored_entry_already_in_the_parent_is_not_written_again():
    """The operator writes a child's entry into its parent once: the same phase, message
    and result again is no write (a watch event repeats it)."""
    parent = run("Running")
    parent["status"]["subflows"] = {"r-sub-1": {"phase": "Completed", "message": "ok", "result": 1}}
    assert subflow_mirror(parent, child(result=1)) is None
    assert subflow_mirror(parent, child(result=2)) is not None


def test_a_received_result_joins_the_compact_list_once():
    """The runner records each child it has a result of once, in the compact key list
    with the others; a second report of the same child writes nothing."""
    obj = run("Running")
    obj["status"]["subflowsReceived"] = ["r-sub-1"]
    step = subflow_received(obj, 1, "r-sub-2")
    assert step.status == {"subflows": {"r-sub-2": None}, "subflowsReceived": ["r-sub-1..2"]}
    assert subflow_received(obj, 1, "r-sub-1") is None


def test_a_pod_without_labels_is_no_pod_of_an_attempt():
    from flowrun.contract.status import current_pod
    assert current_pod({"status": {}}, [{"metadata": {"name": "x"}}], attempt=1) is None
