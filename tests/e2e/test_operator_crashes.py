"""The operator SIGKILLed at the awkward moments of pause and suspend (contract rule 9:
killing the operator at any moment never leaves a run stuck or a Job orphaned).

(a) while a run is Paused, (b) while it is Suspended, (c) between recording a
suspension and deleting its Job (a failpoint: controller/failpoints.py), and
(d) while a paused run's deadline passes, (e) while a finished run's time to live runs
out. After each restart the run is resumed and
must complete with the right result, with exactly one Job ever per attempt and nothing
of the run left but the current attempt's finished Job and its pod.
"""
from __future__ import annotations

import json
import time

import pytest

from cluster import kubectl, wait_for

from cluster.flowruns import JobRecorder, apply, flowrun_manifest, get_fr, names, patch_fr, wait_phase
from cluster.harness import OperatorProcess

pytestmark = pytest.mark.e2e


def children(namespace: str, run: str) -> dict[str, dict[str, str]]:
    """{kind: {name: attempt label}} of the run's Jobs and pods."""
    out = {}
    for kind in ("jobs", "pods"):
        items = json.loads(kubectl("get", kind, "-l", f"flowrun.io/run={run}", "-o", "json",
                                   namespace=namespace).stdout)["items"]
        out[kind] = {i["metadata"]["name"]: i["metadata"]["labels"].get("flowrun.io/attempt", "")
                     for i in items}
    return out


def nothing_left(namespace: str, run: str) -> bool:
    return not any(children(namespace, run).values())


def assert_only_current_attempt_left(namespace: str, run: str, attempt: int) -> None:
    """The run's only Job is `<run>-<attempt>`, and every pod left belongs to it (pods of
    earlier attempts may still be terminating for a moment: wait for them)."""
    def only_current():
        left = children(namespace, run)
        ok = list(left["jobs"]) == [f"{run}-{attempt}"] and set(left["pods"].values()) <= {str(attempt)}
        return left if ok else None
    try:
        wait_for(only_current, timeout=60, interval=0.5,
                 what=f"only the Job and pod of attempt {attempt} of {run} to be left")
    except AssertionError:
        raise AssertionError(f"{run}: left over: {children(namespace, run)}") from None


def assert_one_job_per_attempt(seen: dict[str, set[str]], run: str, attempts: int) -> None:
    expected = {f"{run}-{i}" for i in range(1, attempts + 1)}
    assert set(seen) == expected, f"Jobs ever seen: {seen}, expected {sorted(expected)}"
    assert all(len(uids) == 1 for uids in seen.values()), f"a Job was created twice: {seen}"


def suspend_from_outside_when_running(namespace: str, run: str, steps_done: int = 1) -> None:
    wait_phase(namespace, run, "Running")
    # Let a step or two finish, so the cache has something to reuse.
    wait_for(lambda: f"task step-{steps_done}: result stored" in kubectl(
        "logs", "-l", f"flowrun.io/run={run}", "--tail=-1", namespace=namespace, check=False).stdout,
        timeout=60, what=f"step {steps_done} of {run} to finish")
    patch_fr(namespace, run, {"spec": {"state": "Suspended"}})


def assert_many_steps_result(fr: dict, steps: int, attempt: int) -> None:
    assert fr["status"]["phase"] == "Completed", fr["status"]
    result = fr["status"]["result"]
    assert result["steps"] == steps and result["attempt"] == attempt, result
    runs = result["body_runs"]
    # Steps finished before the suspension did not run again; at most the one the
    # suspension interrupted ran twice.
    assert set(runs) <= {1, 2} and runs.count(2) <= 1 and runs[0] == 1, runs


# ---- (a) killed while Paused -------------------------------------------------------

PAUSED_RUNS = {
    "greet-with-input": ("examples.greeting:greet_user", {}, {"name": "Marvin"}, "Hello, Marvin!"),
    "joke": ("examples.jokes:tell_joke", {"topic": "ducks"}, None,
             {"setup": "Why did the ducks cross the road?", "punchline": "To get to the other side!"}),
}


@pytest.mark.parametrize("resume_while_down", [False, True], ids=["resume-after-restart", "resume-while-down"])
@pytest.mark.parametrize("flow,parameters,run_input,result", PAUSED_RUNS.values(), ids=PAUSED_RUNS.keys())
def test_killed_while_paused(operator, namespace, flow, parameters, run_input, result, resume_while_down):
    """A pause is the runner's business: the pod keeps waiting through an operator
    crash, and a resume reaches it (even one made while the operator is down)."""
    run = "paused"
    jobs = JobRecorder(namespace)
    try:
        apply(namespace, flowrun_manifest(run, flow, parameters=parameters))
        fr = wait_phase(namespace, run, "Paused")
        assert fr["status"]["pause"]["key"] == "pause-1"
        operator.kill()
        resume = {"spec": {"state": "Running", **({"input": run_input} if run_input else {})}}
        if resume_while_down:
            patch_fr(namespace, run, resume)
            # The pause is the runner's business: it resumes with no operator at all.
            wait_phase(namespace, run, "Running", "Completed", timeout=60)
            operator.start()
        else:
            operator.start()
            time.sleep(2)  # a negative check: the restarted operator leaves the pause alone
            assert get_fr(namespace, run)["status"]["phase"] == "Paused"
            patch_fr(namespace, run, resume)
        fr = wait_phase(namespace, run, "Completed", "Failed", timeout=120)
        assert fr["status"]["phase"] == "Completed", fr["status"]
        assert fr["status"]["result"] == result
        assert fr["status"]["attempt"] == 1, "a pause must survive the operator crash in its pod"
        assert fr["status"]["resumed"] == ["pause-1"]
        assert_only_current_attempt_left(namespace, run, 1)
    finally:
        seen = jobs.close()
        if not operator.running:
            operator.start()
    assert_one_job_per_attempt(seen, run, 1)


# ---- (b) killed while Suspended ----------------------------------------------------

@pytest.mark.parametrize("resume_while_down", [False, True], ids=["resume-after-restart", "resume-while-down"])
def test_killed_while_suspended(operator, namespace, resume_while_down):
    run = "suspended"
    jobs = JobRecorder(namespace)
    try:
        apply(namespace, flowrun_manifest(run, "examples.suspending:many_steps",
                                          parameters={"steps": 6, "seconds": 1}))
        suspend_from_outside_when_running(namespace, run)
        fr = wait_phase(namespace, run, "Suspended", "Completed", "Failed")
        assert fr["status"]["phase"] == "Suspended", fr["status"]
        wait_for(lambda: nothing_left(namespace, run), timeout=60, what="the suspended run's Job and pod to go")
        operator.kill()
        if resume_while_down:
            patch_fr(namespace, run, {"spec": {"state": "Running"}})
            time.sleep(2)  # a negative check: nothing starts a Job without the operator
            assert names("jobs", namespace, f"flowrun.io/run={run}") == [], "no operator, no Job"
            operator.start()
        else:
            operator.start()
            time.sleep(2)  # a negative check: the restarted operator leaves the suspension alone
            fr = get_fr(namespace, run)
            assert fr["status"]["phase"] == "Suspended" and nothing_left(namespace, run), fr["status"]
            patch_fr(namespace, run, {"spec": {"state": "Running"}})
        fr = wait_phase(namespace, run, "Completed", "Failed", timeout=120)
        assert_many_steps_result(fr, 6, 2)
        assert fr["status"]["jobName"] == f"{run}-2"
        assert fr["status"]["resumed"] == ["external-suspend-1"]
        assert_only_current_attempt_left(namespace, run, 2)
    finally:
        seen = jobs.close()
        if not operator.running:
            operator.start()
    assert_one_job_per_attempt(seen, run, 2)


# ---- (c) killed between the status update and the Job deletion of a suspension -----

FAILPOINT = "before-delete-jobs"


@pytest.mark.parametrize("resume_while_down", [False, True], ids=["resume-after-restart", "resume-while-down"])
def test_killed_between_suspended_status_and_job_deletion(operator, namespace, tmp_path, resume_while_down):
    """The operator records a suspension and dies before deleting the Job: the status
    says Suspended, the world still has the Job (its runner waits, running nothing).
    The restarted operator must delete that Job, and a resume (made after the restart,
    or while the operator was down) must start attempt 2 only once the old Job is gone."""
    from cluster.pytest_plugin import SESSION_NAMESPACES
    run = "torn"
    jobs = JobRecorder(namespace)
    crashing = OperatorProcess(tmp_path / "operator-failpoint.log", operator.env["FLOWRUN_RUNNER_IMAGE"],
                               namespaces=SESSION_NAMESPACES, FLOWRUN_FAILPOINTS=FAILPOINT,
                               KUBECONFIG=operator.env["KUBECONFIG"])  # the chart's rights
    # No webhook for the crashing operator: the session operator's configuration stays
    # registered but unanswered meanwhile (failurePolicy Ignore).
    for key in [k for k in crashing.env if k.startswith("FLOWRUN_WEBHOOK_")]:
        del crashing.env[key]
    try:
        operator.stop()
        try:
            crashing.start()
            apply(namespace, flowrun_manifest(run, "examples.suspending:many_steps",
                                              parameters={"steps": 6, "seconds": 1}))
            suspend_from_outside_when_running(namespace, run)
            wait_for(lambda: not crashing.running, timeout=60, interval=0.2,
                     what="the operator to hit its failpoint")
            assert crashing.proc.returncode == 137, crashing.tail()
            assert f"failpoint '{FAILPOINT}' hit" in crashing.tail()
            fr = get_fr(namespace, run)
            # The crash point: the suspension is recorded, its Job not yet deleted.
            assert fr["status"]["phase"] == "Suspended" and fr["status"]["jobName"] == "", fr["status"]
            assert names("jobs", namespace, f"flowrun.io/run={run}") == [f"{run}-1"]
            if resume_while_down:
                patch_fr(namespace, run, {"spec": {"state": "Running"}})
        finally:
            crashing.kill()
            operator.start()
        if not resume_while_down:
            wait_for(lambda: nothing_left(namespace, run), timeout=60,
                     what="the restarted operator to delete the suspended run's leftover Job")
            assert get_fr(namespace, run)["status"]["phase"] == "Suspended"
            patch_fr(namespace, run, {"spec": {"state": "Running"}})
        fr = wait_phase(namespace, run, "Completed", "Failed", timeout=120)
        assert_many_steps_result(fr, 6, 2)
        assert_only_current_attempt_left(namespace, run, 2)
    finally:
        seen = jobs.close()
        crashing.kill()
        if not operator.running:
            operator.start()
    assert_one_job_per_attempt(seen, run, 2)


# ---- (d) a paused run's deadline passes while the operator is down -----------------

def test_pause_deadline_passing_while_operator_is_down(operator, namespace):
    run = "expires"
    timeout = 6
    jobs = JobRecorder(namespace)
    try:
        apply(namespace, flowrun_manifest(run, "examples.timeouts:pause_and_wait",
                                          parameters={"timeout": timeout}))
        fr = wait_phase(namespace, run, "Paused")
        operator.kill()
        from flowrun.contract.lifecycle.vocabulary import now
        from flowrun.contract.status import parse_timestamp
        deadline = parse_timestamp(fr["status"]["pause"]["deadline"])
        time.sleep(max(0.0, (deadline - now()).total_seconds()) + 3)  # a negative check: the deadline passes
        fr = get_fr(namespace, run)
        assert fr["status"]["phase"] == "Paused", "nobody enforces the deadline while the operator is down"
        operator.start()
        fr = wait_phase(namespace, run, "Failed", "Completed", timeout=60)
        assert fr["status"]["phase"] == "Failed", fr["status"]
        assert "Flow run was paused and never resumed" in fr["status"]["message"]
        assert f"{timeout}s" in fr["status"]["message"]
        wait_for(lambda: nothing_left(namespace, run), timeout=60, what="the timed-out run's Job and pod to go")
    finally:
        seen = jobs.close()
        if not operator.running:
            operator.start()
    assert_one_job_per_attempt(seen, run, 1)


# ---- (e) a finished run's time to live runs out while the operator is down ---------

def test_finished_run_ttl_running_out_while_operator_is_down(operator, namespace):
    run = "brief"
    apply(namespace, flowrun_manifest(run, "testflows.basic:returns_value", ttlSecondsAfterFinished=4))
    wait_phase(namespace, run, "Completed")
    operator.kill()
    try:
        time.sleep(6)  # a negative check: its time to live runs out with no operator
        assert run in names("fr", namespace), "nobody deletes it while the operator is down"
        operator.start()

        def gone():
            return run not in names("fr", namespace) and not names("pvc", namespace, f"flowrun.io/run={run}")
        wait_for(gone, timeout=60, interval=0.5, what="the expired run and its claim to be deleted after the restart")
    finally:
        if not operator.running:
            operator.start()



def test_a_run_deleted_while_the_operator_is_down_goes_with_everything_it_owns(operator, namespace):
    """No finalizer: deleting a run never waits for the operator (docs/design.md)."""
    run = "orphan"
    apply(namespace, flowrun_manifest(run, "testflows.basic:sleeps", parameters={"seconds": 60}))
    wait_phase(namespace, run, "Running")
    assert not get_fr(namespace, run)["metadata"].get("finalizers")
    operator.kill()
    try:
        kubectl("delete", "fr", run, "--timeout=60s", namespace=namespace)  # waits until it is gone
        owned = ("jobs", "pods", "pvc", "serviceaccounts", "roles", "rolebindings")
        wait_for(lambda: not any(names(kind, namespace, f"flowrun.io/run={run}") for kind in owned) or None,
                 timeout=120, interval=1, what="everything the deleted run owned to go, with no operator")
    finally:
        operator.start()
