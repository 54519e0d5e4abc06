"""The state machine on the real cluster: races between a person and the operator, lost
pods, runs the infrastructure refuses, and the FlowRun's size bound."""
from __future__ import annotations

import json
import threading
import time

import pytest

from cluster import kubectl, wait_for
from cluster.flowruns import apply, flowrun_manifest, get_fr, names, patch_fr, wait_phase

pytestmark = pytest.mark.e2e

GREET = "examples.greeting:greet_user"


@pytest.fixture(scope="module")
def api(kubeconfig):
    """One client with one kept-open connection pool, as a UI or a script would have."""
    from flowrun.kube import Kube
    return Kube()


def history(fr: dict, action: str, key: str | None = None) -> list[dict]:
    return [h for h in fr["status"].get("history") or []
            if h["action"] == action and (key is None or h.get("key") == key)]


def events(namespace: str, name: str) -> list[dict]:
    out = kubectl("get", "events", "-o", "json", "--field-selector", f"involvedObject.name={name}",
                  namespace=namespace).stdout
    return json.loads(out)["items"]


def condition(fr: dict, ctype: str) -> dict:
    return next(c for c in fr["status"]["conditions"] if c["type"] == ctype)


GAPS = [0, 0.02, 0.05, 0.1, 0.3, 1.0, 1.5]


def test_a_resume_right_after_a_suspension_is_never_lost(operator, namespace, api):
    """A run paused for input is suspended from outside and resumed with its input after
    a gap: the resume is accepted every time, and the run completes with that input
    without asking for it again, whether or not the operator had acted on the
    suspension yet."""
    runs = {f"gap-{i}": gap for i, gap in enumerate(GAPS)}
    for name in runs:
        apply(namespace, flowrun_manifest(name, GREET))
    for name in runs:
        wait_phase(namespace, name, "Paused", timeout=180)
    refused: list[str] = []

    def suspend_then_resume(name: str, gap: float) -> None:
        try:
            api.patch_flowrun(namespace, name, {"spec": {"state": "Suspended"}})
            time.sleep(gap)  # the gap under test, not a wait for anything
            api.patch_flowrun(namespace, name, {"spec": {"state": "Running", "input": {"name": name}}})
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            refused.append(f"{name}: {exc}")

    threads = [threading.Thread(target=suspend_then_resume, args=item) for item in runs.items()]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert refused == []
    for name in runs:
        fr = wait_phase(namespace, name, "Completed", "Failed", timeout=180)
        assert fr["status"]["phase"] == "Completed", fr["status"]["message"]
        assert fr["status"]["result"] == f"Hello, {name}!"
        assert len(history(fr, "paused", "pause-1")) == 1, "the run asked for its input again"
        assert not history(fr, "resume-rejected")


def test_a_pod_deleted_while_running_continues_as_the_next_attempt(operator, namespace):
    apply(namespace, flowrun_manifest("lost", "testflows.basic:sleeps", parameters={"seconds": 15}))
    wait_phase(namespace, "lost", "Running")
    pod = wait_for(lambda: names("pods", namespace, "flowrun.io/run=lost"), timeout=60, what="the runner pod")[0]
    kubectl("delete", "pod", pod, "--wait=false", namespace=namespace)
    fr = wait_phase(namespace, "lost", "Completed", "Failed", timeout=180)
    assert fr["status"]["phase"] == "Completed", fr["status"]["message"]
    assert fr["status"]["attempt"] == 2 and fr["status"]["podLosses"] == 1
    assert history(fr, "pod-lost")
    assert any(e["reason"] == "PodLost" and e["type"] == "Warning" for e in events(namespace, "lost"))


@pytest.mark.parametrize("how", ["delete", "evict"])
def test_a_paused_pod_lost_pauses_again_at_the_same_key_and_deadline(operator, namespace, how):
    apply(namespace, flowrun_manifest("held", GREET))
    before = wait_phase(namespace, "held", "Paused")["status"]["pause"]
    pod = wait_for(lambda: [p for p in names("pods", namespace, "flowrun.io/run=held")], timeout=60,
                   what="the paused pod")[0]
    if how == "delete":
        kubectl("delete", "pod", pod, "--wait=false", namespace=namespace)
    else:
        eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": namespace}}
        kubectl("create", "--raw", f"/api/v1/namespaces/{namespace}/pods/{pod}/eviction", "-f", "-",
                input=json.dumps(eviction))

    def paused_again():
        fr = get_fr(namespace, "held")
        return fr if fr["status"].get("attempt") == 2 and fr["status"].get("phase") == "Paused" else None
    fr = wait_for(paused_again, timeout=180, what="attempt 2 paused again")
    after = fr["status"]["pause"]
    assert (after["key"], after["deadline"], after["inputSchema"]) == \
        (before["key"], before["deadline"], before["inputSchema"])
    assert fr["spec"]["state"] == "Paused"
    patch_fr(namespace, "held", {"spec": {"state": "Running", "input": {"name": "Trillian"}}})
    fr = wait_phase(namespace, "held", "Completed", "Failed")
    assert fr["status"]["result"] == "Hello, Trillian!"
    assert fr["status"]["attempt"] == 2


def test_a_job_refused_by_a_quota_says_so_and_starts_once_allowed(operator, namespace):
    kubectl("create", "quota", "no-jobs", "--hard=count/jobs.batch=0", namespace=namespace)
    # A quota binds once the quota controller has computed its usage: before that the API
    # server's admission may not have seen it yet and lets the Job through (the flake).
    wait_for(lambda: json.loads(kubectl("get", "quota", "no-jobs", "-o", "json", namespace=namespace).stdout)
             .get("status", {}).get("used", {}).get("count/jobs.batch") == "0",
             timeout=60, what="the quota's computed usage")
    apply(namespace, flowrun_manifest("quota", "testflows.basic:returns_value"))

    def blocked():
        fr = get_fr(namespace, "quota")
        return fr if "exceeded quota" in fr["status"].get("message", "") else None
    fr = wait_for(blocked, timeout=60, what="the quota's refusal in status.message")
    progressing = condition(fr, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "QuotaExceeded")
    assert fr["status"]["phase"] == "Pending"
    # The Event follows the status write that records the refusal (the reconciler sends
    # Events for the history entries it sees on its next look): wait for it, don't race it.
    wait_for(lambda: any(e["reason"] == "Blocked" and e["type"] == "Warning" and "quota" in e["message"]
                         for e in events(namespace, "quota")),
             timeout=30, what="a Warning Event 'Blocked' naming the quota")
    kubectl("delete", "quota", "no-jobs", namespace=namespace)
    fr = wait_phase(namespace, "quota", "Completed", "Failed", timeout=120)
    assert fr["status"]["phase"] == "Completed"
    assert condition(fr, "Progressing")["status"] == "False"  # finished: no more progress


def test_an_unschedulable_pod_says_why(operator, namespace):
    apply(namespace, flowrun_manifest("nowhere", "testflows.basic:returns_value",
                                      template={"spec": {"nodeSelector": {"flowrun.io/no-such-node": "x"}}}))

    def blocked():
        fr = get_fr(namespace, "nowhere")
        return fr if "cannot be scheduled" in fr["status"].get("message", "") else None
    fr = wait_for(blocked, timeout=60, what="the scheduler's reason in status.message")
    assert "node" in fr["status"]["message"]
    assert condition(fr, "Progressing")["reason"] == "Unschedulable"
    assert fr["status"]["phase"] == "Pending"
    patch_fr(namespace, "nowhere", {"spec": {"state": "Cancelled", "reason": "no such node"}})
    fr = wait_phase(namespace, "nowhere", "Cancelled")
    assert "no such node" in fr["status"]["message"]
    wait_for(lambda: not names("jobs", namespace, "flowrun.io/run=nowhere"), timeout=60, what="the Job to go")


SUBFLOWS = 12
assert SUBFLOWS * 64000 > 512 * 1024  # together the results could not fit in the object


def test_the_flowrun_stays_small_whatever_the_flow_does(operator, namespace, api):
    """200 pauses with 10 KiB inputs (2 MB of input) and 12 subflows with 64 KiB results
    (768 KB of results, more than the size bound asserted below), then a suspension and
    a resume: every pause returns its input at once on re-execution, every subflow
    result arrives, and the object stays far under etcd's limit. (12 subflows, a pod
    each, prove what 50 did: the results outgrow the bound, so they must leave.)"""
    apply(namespace, flowrun_manifest("big", "testflows.durable:many_pauses_and_subflows",
                                      parameters={"subflows": SUBFLOWS}))
    largest = 0
    answered = 0
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        fr = api.get_flowrun(namespace, "big")
        largest = max(largest, len(json.dumps(fr)))
        status, spec = fr.get("status") or {}, fr.get("spec") or {}
        if status.get("phase") == "Suspended":
            break
        assert status.get("phase") not in ("Failed", "Completed"), status.get("message")
        pause = status.get("pause") or {}
        if status.get("phase") == "Paused" and spec.get("state") == "Paused" and pause.get("key"):
            i = int(pause["key"].split("-")[1]) - 1
            api.patch_flowrun(namespace, "big", {"spec": {"state": "Running",
                                                          "input": {"data": f"{i:04d}" + "y" * (10240 - 4)}}})
            answered += 1
            continue
        wait_for(lambda: api.get_flowrun(namespace, "big")["metadata"]["resourceVersion"]
                 != fr["metadata"]["resourceVersion"], timeout=120, interval=0.05, what="the run to move on")
    assert answered == 200
    assert largest < 512 * 1024, largest
    patch_fr(namespace, "big", {"spec": {"state": "Running"}})
    fr = wait_phase(namespace, "big", "Completed", "Failed", timeout=300)
    assert fr["status"]["result"] == {"attempt": 2, "inputs": 200, "inputs_ok": True,
                                      "subflows": SUBFLOWS, "subflows_ok": True}, fr["status"]["message"]
    size = len(json.dumps(fr))
    assert size < 512 * 1024, size
    assert not fr["status"].get("subflows") and not fr["status"].get("inputs")
    assert fr["status"]["resumed"][0].startswith("pause-1..")


def test_an_idle_pause_frees_its_pod_and_resumes_the_same_way(operator, namespace):
    apply(namespace, flowrun_manifest("idle", GREET, suspendAfterSeconds=3))
    paused = wait_phase(namespace, "idle", "Paused")["status"]["pause"]
    fr = wait_phase(namespace, "idle", "Suspended", "Failed", timeout=60)
    pause = fr["status"]["pause"]
    assert (pause["key"], pause["deadline"], pause["inputSchema"]) == \
        (paused["key"], paused["deadline"], paused["inputSchema"])
    wait_for(lambda: not names("pods", namespace, "flowrun.io/run=idle"), timeout=60, what="the pod to be freed")
    refused = patch_fr(namespace, "idle", {"spec": {"state": "Running"}}, check=False)
    assert refused.returncode != 0 and "'name' is a required property" in refused.stderr
    patch_fr(namespace, "idle", {"spec": {"state": "Running", "input": {"name": "Zaphod"}}})
    fr = wait_phase(namespace, "idle", "Completed", "Failed")
    assert fr["status"]["result"] == "Hello, Zaphod!" and fr["status"]["attempt"] == 2
