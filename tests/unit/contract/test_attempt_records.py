"""Following a live attempt (contract/lifecycle/attempts.py, through operator_step): what
the operator does with its children, Jobs and pods, and what it records, to the field."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from flowrun.contract.lifecycle.operator import operator_step
from flowrun.contract.lifecycle.steps import CreateJob, PatchChildren, Wait, Write
from flowrun.contract.lifecycle.world import ChildView, JobView, PodView, Policy, World

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)
T = "2026-11-25T12:00:00Z"
POLICY = Policy(default_timeout_seconds=900, max_pod_losses=2, image_pull_grace_seconds=30)
BEFORE = {"time": "2026-11-25T11:00:00Z", "action": "started", "by": "runner", "key": "", "seq": 2}


def run(phase: str = "Running", *, attempt: int = 2, job_uid: str = "j2", **status: Any) -> dict[str, Any]:
    meta = {"name": "r", "namespace": "ns", "uid": "u1", "generation": 1, "resourceVersion": "7",
            "annotations": {"flowrun.io/changed-by": "alice", "flowrun.io/changed-by-generation": "1"}}
    return {"metadata": meta, "spec": {"flow": "m:f", "state": "Running"},
            "status": {"phase": phase, "attempt": attempt, "jobName": f"r-{attempt}", "jobUID": job_uid,
                       "history": [BEFORE], **status}}


def step(obj: dict[str, Any], world: World) -> Any:
    return operator_step(obj, world, POLICY, NOW)


JOB2 = JobView("r-2", 2, "j2")


def test_children_suspended_with_the_run_come_back_with_it():
    """A linked child suspended along with its parent is resumed with it (the mark taken
    off); one that waits at a pause of its own only loses the mark and keeps waiting."""
    children = (ChildView("a", linked=True, phase="Suspended", state="Suspended", suspended_with_parent=True),
                ChildView("b", linked=True, phase="Suspended", state="Suspended", suspended_with_parent=True,
                          waiting=True))
    got = step(run(), World(jobs=(JOB2,), children=children))
    mark = {"metadata": {"annotations": {"flowrun.io/suspended-with-parent": None}}}
    assert got == PatchChildren((("a", {**mark, "spec": {"state": "Running"}}), ("b", mark)))


def test_a_new_job_waits_for_the_pods_of_an_earlier_attempt():
    """No Job yet: created once the pods of earlier attempts have stopped; a Job being
    deleted is no Job."""
    old_pod = PodView("p1", 1, alive=True)
    assert step(run(job_uid=""), World(pods=(old_pod,))) == Wait("the pods of an earlier attempt are still stopping")
    assert step(run(job_uid=""), World(jobs=(JobView("r-2", 2, "j2", deleting=True),))) == CreateJob(2)
    assert step(run(job_uid=""), World(pods=(PodView("p1", 1, alive=False),))) == CreateJob(2)


def _lost_entry(got: Any) -> dict[str, Any]:
    assert isinstance(got, Write) and got.status["phase"] == "Pending" and got.status["attempt"] == 3
    assert got.status["history"][0] == BEFORE
    return got.status["history"][-1]


def test_a_replaced_job_is_a_lost_pod_on_record():
    entry = _lost_entry(step(run(), World(jobs=(JobView("r-2", 2, "other-uid"),))))
    assert entry == {"time": T, "action": "pod-lost", "by": "operator", "key": "", "seq": 3,
                     "message": "its Job r-2 was replaced"}


def test_a_finished_job_without_an_end_names_how_its_pods_ended():
    """The pods of this attempt say how they ended (joined by "; "); another attempt's
    pods are not this attempt's story; without any, the Job's own end."""
    pods = (PodView("p1", 1, alive=False, detail="old: evicted"), PodView("p2", 2, alive=False, detail="OOMKilled"),
            PodView("p3", 2, alive=False, detail="node drained"), PodView("p4", 2, alive=False))
    entry = _lost_entry(step(run(), World(jobs=(JobView("r-2", 2, "j2", finished="Failed"),), pods=pods)))
    assert entry["message"] == "OOMKilled; node drained"
    bare = _lost_entry(step(run(), World(jobs=(JobView("r-2", 2, "j2", finished="Failed"),))))
    assert bare["message"] == "Job r-2 Failed"


def test_a_pod_that_cannot_start_fails_the_run_on_record_after_its_grace():
    """An image that cannot be pulled fails the run once the grace is over (a pod of an
    earlier attempt is not this attempt's): reason InfrastructureRefused, recorded by
    the operator with the problem, history kept."""
    since = NOW - timedelta(seconds=30)
    pods = (PodView("p1", 1, problem="other attempt", problem_since=NOW - timedelta(hours=1)),
            PodView("p2", 2, problem="image x not found", problem_reason="ImagePullBackOff", problem_since=since))
    got = step(run(), World(jobs=(JOB2,), pods=pods))
    assert isinstance(got, Write)
    assert (got.status["phase"], got.status["reason"], got.status["message"]) == (
        "Failed", "InfrastructureRefused", "image x not found")
    assert got.status["history"] == [BEFORE, {"time": T, "action": "failed", "by": "operator", "key": "", "seq": 3,
                                              "message": "image x not found"}]


def test_an_unschedulable_pod_is_quiet_during_its_grace_then_shown_as_blocked():
    """Within the grace (a claim being bound) the operator only waits, saying why; after
    it, the run shows Progressing=False, reason Unschedulable, with the scheduler's words,
    and a `blocked` history entry by the operator."""
    pod = PodView("p2", 2, unschedulable="0/1 nodes are available", unschedulable_since=NOW - timedelta(seconds=5))
    quiet = step(run(), World(jobs=(JOB2,), pods=(pod,)))
    assert quiet == Wait("the scheduler may place the pod once its claim is bound", until=NOW + timedelta(seconds=5))
    late = PodView("p2", 2, unschedulable="0/1 nodes are available", unschedulable_since=NOW - timedelta(seconds=10))
    got = step(run(), World(jobs=(JOB2,), pods=(late,)))
    message = "The runner pod cannot be scheduled: 0/1 nodes are available"
    assert isinstance(got, Wait) and got.reason == message and got.status is not None
    progressing = {c["type"]: c for c in got.status["conditions"]}["Progressing"]
    assert (progressing["status"], progressing["reason"], progressing["lastTransitionTime"]) == (
        "False", "Unschedulable", T)
    assert got.status["history"][-1] == {"time": T, "action": "blocked", "by": "operator", "key": "", "seq": 3,
                                         "message": message}


SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "n": {"type": "integer"}},
          "required": ["name"]}


def suspended(state: str = "Suspended", **spec: Any) -> dict[str, Any]:
    obj = run("Suspended", job_uid="")
    obj["metadata"]["generation"] = 3
    obj["metadata"]["annotations"]["flowrun.io/changed-by-generation"] = "3"
    obj["spec"].update(state=state, **spec)
    obj["status"]["pause"] = {"key": "pause-1", "kind": "Suspend", "generation": 2, "inputSchema": SCHEMA,
                              "requestedBy": "flow"}
    return obj


def test_linked_children_are_suspended_with_their_parent():
    """A suspended run's linked children that still run are suspended and marked as
    suspended with it (finished, cancelled or independent children are left alone)."""
    children = (ChildView("a", linked=True, phase="Running"), ChildView("b", linked=False, phase="Running"),
                ChildView("c", linked=True, phase="Completed"), ChildView("d", linked=True, state="Cancelled"))
    got = step(suspended(), World(children=children))
    assert got == PatchChildren((("a", {"metadata": {"annotations": {"flowrun.io/suspended-with-parent": "r"}},
                                        "spec": {"state": "Suspended"}}),))


def test_a_resume_of_a_suspension_with_invalid_input_is_put_back_on_record():
    """The operator judges a suspended run's resume itself: invalid input puts spec.state
    back, says why (every problem, joined by "; "), remembers the generation judged and
    records `resume-rejected` as the person's, at the pause's key."""
    got = step(suspended("Running", input={"n": "x"}), World())
    problems = "(input): 'name' is a required property; n: 'x' is not of type 'integer'"
    assert isinstance(got, Write) and got.spec == {"spec": {"state": "Suspended"}}
    assert got.status["message"] == f"Resume rejected, input is invalid: {problems}"
    assert got.status["pause"]["rejectedGeneration"] == 3 and got.status["pause"]["key"] == "pause-1"
    assert got.status["history"] == [BEFORE, {"time": T, "action": "resume-rejected", "by": "alice",
                                              "key": "pause-1", "seq": 3, "message": problems}]


def test_a_resumed_suspension_waits_for_its_pods_then_starts_the_next_attempt_on_record():
    """A valid resume of a suspension starts the next attempt once no pod of the run is
    left, recording the resume (by the person, at the key, with the input) and the input
    for the new attempt."""
    obj = suspended("Running", input={"name": "x"})
    assert step(obj, World(pods=(PodView("p2", 2, alive=True),))) == Wait(
        "the pods of the suspended attempt are still stopping")
    got = step(obj, World(pods=(PodView("p2", 2, alive=False),)))
    assert isinstance(got, Write)
    want = {"phase": "Pending", "attempt": 3, "jobName": "r-3", "jobUID": "", "resumed": ["pause-1"],
            "inputs": {"pause-1": {"name": "x"}}, "message": "Resumed from pause-1; starting attempt 3"}
    assert {k: got.status.get(k) for k in want} == want
    assert got.status["history"] == [BEFORE, {"time": T, "action": "resumed", "by": "alice", "key": "pause-1",
                                              "seq": 3, "input": '{"name": "x"}'}]


def test_the_next_attempt_keeps_the_runs_start_time_and_earlier_resumes():
    obj = suspended("Running", input={"name": "x"})
    obj["status"].update(startTime="2026-11-25T10:00:00Z", resumed=["pause-0"])
    got = step(obj, World())
    assert isinstance(got, Write)
    assert got.status["startTime"] == "2026-11-25T10:00:00Z" and got.status["resumed"] == ["pause-0..1"]
    fresh = step(suspended("Running", input={"name": "x"}), World())
    assert isinstance(fresh, Write) and "startTime" not in fresh.status


def test_a_suspension_without_a_pause_resumes_into_the_next_attempt_on_record():
    obj = suspended("Running")
    del obj["status"]["pause"]
    got = step(obj, World())
    assert isinstance(got, Write) and got.status["message"] == "Starting attempt 3"
    assert got.status["history"][-1] == {"time": T, "action": "resumed", "by": "alice", "key": "", "seq": 3}
    assert "resumed" not in got.status and "inputs" not in got.status
