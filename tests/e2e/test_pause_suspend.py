"""Pause, suspend and resume on the real cluster: the seed scenarios that need no
subflows, each through kubectl as a user would, with runner pods in the cluster."""
from __future__ import annotations

import json
import time

import pytest

from cluster import kubectl, wait_for

from cluster.flowruns import apply, get_fr, names, patch_fr, wait_phase
from cluster.harness import REPO

pytestmark = pytest.mark.e2e
MANIFESTS = REPO / "examples" / "manifests"


def example(namespace: str, name: str) -> None:
    apply(namespace, (MANIFESTS / f"{name}.yaml").read_text())


def running_pods(namespace: str, run: str) -> list[str]:
    return kubectl("get", "pods", "-l", f"flowrun.io/run={run}", "--field-selector=status.phase=Running",
                   "-o", "jsonpath={.items[*].metadata.name}", namespace=namespace).stdout.split()


def no_pods_or_jobs(namespace: str, run: str):
    return not names("jobs", namespace, f"flowrun.io/run={run}") and \
        not names("pods", namespace, f"flowrun.io/run={run}")


def test_1_pause_after_first_task_then_resume_delivers_the_punchline(operator, namespace):
    example(namespace, "joke")
    fr = wait_phase(namespace, "joke", "Paused")
    assert fr["spec"]["state"] == "Paused"
    assert fr["status"]["pause"]["key"] == "pause-1"
    assert fr["status"]["pause"]["kind"] == "Pause"
    assert fr["status"]["pause"]["timeoutSeconds"] == 600
    # The pod stays alive (the kubelet may report Running a moment after the pause).
    wait_for(lambda: running_pods(namespace, "joke"), timeout=30, what="a paused run to keep its pod")
    patch_fr(namespace, "joke", {"spec": {"state": "Running"}})
    fr = wait_phase(namespace, "joke", "Completed", "Failed")
    assert fr["status"]["result"] == {"setup": "Why did the ducks cross the road?",
                                      "punchline": "To get to the other side!"}
    assert fr["status"]["attempt"] == 1, "a pause must not restart the pod"
    assert fr["status"]["resumed"] == ["pause-1"]
    actions = [(h["action"], h.get("key", "")) for h in fr["status"]["history"]]
    assert ("paused", "pause-1") in actions and ("resumed", "pause-1") in actions


@pytest.mark.parametrize("amount,pauses", [(250, True), (50, False)])
def test_2_conditional_pause(operator, namespace, amount, pauses):
    apply(namespace, {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun", "metadata": {"name": "pay"},
                      "spec": {"flow": "examples.approvals:approve_payment", "parameters": {"amount": amount}}})
    fr = wait_phase(namespace, "pay", "Paused", "Completed", "Failed")
    if pauses:
        assert fr["status"]["phase"] == "Paused"
        patch_fr(namespace, "pay", {"spec": {"state": "Running"}})
        fr = wait_phase(namespace, "pay", "Completed", "Failed")
    assert fr["status"]["phase"] == "Completed"
    assert fr["status"]["result"] == {"amount": amount, "reviewed": pauses, "receipt": f"paid {amount}"}
    assert ("pause" in [h["action"][:5] for h in fr["status"]["history"]]) == pauses


def test_3_pause_timeout_fails_the_run_and_removes_the_pod(operator, namespace):
    example(namespace, "pause-timeout")
    fr = wait_phase(namespace, "pause-timeout", "Paused")
    deadline = fr["status"]["pause"]["deadline"]
    assert deadline
    fr = wait_phase(namespace, "pause-timeout", "Failed", "Completed", timeout=60)
    assert fr["status"]["phase"] == "Failed"
    assert "Flow run was paused and never resumed" in fr["status"]["message"]
    assert "5s" in fr["status"]["message"]
    wait_for(lambda: no_pods_or_jobs(namespace, "pause-timeout"), timeout=60,
             what="the timed-out run's Job and pod to go")
    out = patch_fr(namespace, "pause-timeout", {"spec": {"state": "Running"}}, check=False)
    assert out.returncode != 0 and "FlowRun is Failed" in out.stderr
    assert get_fr(namespace, "pause-timeout")["status"]["phase"] == "Failed"


def test_4_suspend_tears_down_and_resume_reuses_the_finished_task(operator, namespace):
    example(namespace, "suspend")
    fr = wait_phase(namespace, "suspend", "Suspended", "Failed", "Completed")
    assert fr["status"]["phase"] == "Suspended", fr["status"]
    assert fr["spec"]["state"] == "Suspended"
    assert fr["status"]["jobName"] == ""
    assert fr["status"]["pause"]["kind"] == "Suspend" and fr["status"]["pause"]["key"] == "pause-1"
    wait_for(lambda: no_pods_or_jobs(namespace, "suspend"), timeout=60,
             what="the suspended run's Job and pod to be deleted")
    patch_fr(namespace, "suspend", {"spec": {"state": "Running"}})
    fr = wait_phase(namespace, "suspend", "Completed", "Failed")
    assert fr["status"]["phase"] == "Completed", fr["status"]
    assert fr["status"]["attempt"] == 2 and fr["status"]["jobName"] == "suspend-2"
    result = fr["status"]["result"]
    # The first task's body ran once, in attempt 1; attempt 2 got its stored result.
    assert result["first"] == {"value": 42, "body_runs": 1}
    assert result["second"] == {"value": 43, "body_runs": 1}
    assert names("jobs", namespace, "flowrun.io/run=suspend") == ["suspend-2"]


def test_5_suspend_from_outside_then_resume(operator, namespace):
    example(namespace, "many-steps")
    wait_phase(namespace, "many-steps", "Running")
    wait_for(lambda: "task step-3: result stored" in kubectl(  # let a few steps finish
        "logs", "-l", "flowrun.io/run=many-steps", "--tail=-1", namespace=namespace, check=False).stdout,
        timeout=60, what="three steps to finish")
    patch_fr(namespace, "many-steps", {"spec": {"state": "Suspended"}})
    fr = wait_phase(namespace, "many-steps", "Suspended", "Failed", "Completed")
    assert fr["status"]["phase"] == "Suspended", fr["status"]
    assert fr["status"]["pause"]["key"] == "external-suspend-1"
    assert fr["status"]["pause"]["requestedBy"] == "user"
    wait_for(lambda: no_pods_or_jobs(namespace, "many-steps"), timeout=60,
             what="the Job and pod to be deleted")
    patch_fr(namespace, "many-steps", {"spec": {"state": "Running"}})
    fr = wait_phase(namespace, "many-steps", "Completed", "Failed", timeout=180)
    assert fr["status"]["phase"] == "Completed", fr["status"]
    result = fr["status"]["result"]
    assert result["steps"] == 20 and result["attempt"] == 2
    runs = result["body_runs"]
    # Steps finished before the suspension were not run again; at most the one that was
    # interrupted by the suspension ran twice.
    assert runs.count(1) >= 19 and set(runs) <= {1, 2}, runs
    assert runs[0] == 1 and runs[1] == 1


def test_pause_from_outside_blocks_at_the_next_task(operator, namespace):
    apply(namespace, {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun", "metadata": {"name": "steps"},
                      "spec": {"flow": "examples.suspending:many_steps",
                               "parameters": {"steps": 6, "seconds": 0.5}}})
    wait_phase(namespace, "steps", "Running")
    patch_fr(namespace, "steps", {"spec": {"state": "Paused"}})
    fr = wait_phase(namespace, "steps", "Paused", "Completed", "Failed")
    assert fr["status"]["phase"] == "Paused"
    assert fr["status"]["pause"]["key"] == "external-pause-1"
    assert fr["status"]["pause"]["requestedBy"] == "user"
    wait_for(lambda: running_pods(namespace, "steps"), timeout=30, what="the paused run to keep its pod")
    patch_fr(namespace, "steps", {"spec": {"state": "Running"}})
    fr = wait_phase(namespace, "steps", "Completed", "Failed")
    assert fr["status"]["result"]["body_runs"] == [1] * 6
    assert fr["status"]["attempt"] == 1


def test_6_suspend_timeout_fails_the_run(operator, namespace):
    example(namespace, "suspend-timeout")
    wait_phase(namespace, "suspend-timeout", "Suspended")
    fr = wait_phase(namespace, "suspend-timeout", "Failed", "Completed", timeout=60)
    assert "Flow run was suspended and never resumed" in fr["status"]["message"]


def test_6_suspend_without_timeout_stays_suspended(operator, namespace):
    apply(namespace, {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun", "metadata": {"name": "forever"},
                      "spec": {"flow": "examples.timeouts:suspend_without_timeout"}})
    fr = wait_phase(namespace, "forever", "Suspended")
    # No timeout: no deadline recorded (a merge patch drops null keys), no daemon.
    assert fr["status"]["pause"].get("deadline") is None
    assert fr["status"]["pause"].get("timeoutSeconds") is None
    time.sleep(8)  # a negative check: longer than the 5 s timeout of the test above, nothing fires
    assert get_fr(namespace, "forever")["status"]["phase"] == "Suspended"
    patch_fr(namespace, "forever", {"spec": {"state": "Running"}})
    fr = wait_phase(namespace, "forever", "Completed", "Failed")
    assert fr["status"]["result"] == "resumed in time"


def test_8_wait_for_input_returns_the_model_and_invalid_input_is_rejected(operator, namespace):
    example(namespace, "greet")
    fr = wait_phase(namespace, "greet", "Paused")
    schema = fr["status"]["pause"]["inputSchema"]
    assert schema["required"] == ["name"] and schema["additionalProperties"] is False
    conditions = {c["type"]: c["status"] for c in fr["status"]["conditions"]}
    assert conditions["AwaitingInput"] == "True"
    # Invalid input: the API server refuses the patch with the field error.
    for bad, error in (({"name": 42}, "spec.input.name: 42 is not of type 'string'"),
                       ({"nmae": "typo"}, "'name' is a required property"),
                       (None, "'name' is a required property")):
        patch = {"spec": {"state": "Running", **({"input": bad} if bad is not None else {})}}
        out = patch_fr(namespace, "greet", patch, check=False)
        assert out.returncode != 0, f"the API server accepted {bad!r}"
        # The webhook's denial leads with its code, which the doors sort refusals by.
        assert "denied the request: [InvalidInput] " in out.stderr and error in out.stderr, out.stderr
        fr = get_fr(namespace, "greet")
        assert fr["spec"]["state"] == "Paused" and fr["status"]["phase"] == "Paused"
        assert fr["status"].get("resumed", []) == []
    # Through the project's own client: kube/errors.py reads the code back, and the words
    # stay the API server's (without the code); nothing was written.
    from flowrun.contract.lifecycle.vocabulary import Refusal
    from flowrun.kube import Kube, KubeError
    before = get_fr(namespace, "greet")["metadata"]["resourceVersion"]
    with pytest.raises(KubeError) as refused:
        Kube().patch_flowrun(namespace, "greet", {"spec": {"state": "Running", "input": {"name": 42}}})
    assert refused.value.refusal is Refusal.INVALID_INPUT, refused.value.message
    assert "[InvalidInput]" not in refused.value.message and "spec.input.name" in refused.value.message
    assert get_fr(namespace, "greet")["metadata"]["resourceVersion"] == before
    # Valid input: the flow gets the model.
    patch_fr(namespace, "greet", {"spec": {"state": "Running", "input": {"name": "Marvin"}}})
    fr = wait_phase(namespace, "greet", "Completed", "Failed")
    assert fr["status"]["result"] == "Hello, Marvin!"
    # Who resumed it, and with what: in the history (the input itself is on the volume).
    resumed = [h for h in fr["status"]["history"] if h["action"] == "resumed"]
    assert resumed and resumed[0]["by"] == "kubernetes-admin" and resumed[0]["key"] == "pause-1"
    assert json.loads(resumed[0]["input"]) == {"name": "Marvin"}
    assert not fr["status"].get("inputs")
    # A finished run cannot be resumed again.
    out = patch_fr(namespace, "greet", {"spec": {"state": "Paused"}}, check=False)
    assert out.returncode != 0 and "[Finished] FlowRun is Completed" in out.stderr, out.stderr


def test_without_the_webhook_the_operator_still_refuses_invalid_input(operator, namespace):
    """The webhook is a courtesy (failurePolicy Ignore): with it gone, invalid input
    reaches the API, and the operator puts the run back to Paused and says why."""
    from cluster.pytest_plugin import SESSION_PREFIX
    example(namespace, "greet")
    wait_phase(namespace, "greet", "Paused")
    kubectl("delete", "validatingwebhookconfiguration", f"{SESSION_PREFIX}flowrun.io", "--ignore-not-found")
    try:
        patch_fr(namespace, "greet", {"spec": {"state": "Running", "input": {"name": 42}}})

        def rejected():
            cur = get_fr(namespace, "greet")
            return cur if "input is invalid" in cur["status"].get("message", "") and cur["spec"]["state"] == "Paused" else None
        fr = wait_for(rejected, timeout=30, what="the operator to refuse the invalid resume")
        assert "name: 42 is not of type 'string'" in fr["status"]["message"]
        assert fr["status"]["phase"] == "Paused" and fr["status"].get("resumed", []) == []
        wait_for(lambda: "ResumeRejected" in kubectl(
            "get", "events", "--field-selector", "involvedObject.name=greet", "-o",
            "jsonpath={.items[*].reason}", namespace=namespace).stdout,
            timeout=30, what="a ResumeRejected Event")
    finally:
        operator.restore_webhooks()  # made by the session's set-up, as Helm makes them
    patch_fr(namespace, "greet", {"spec": {"state": "Running", "input": {"name": "Marvin"}}})
    assert wait_phase(namespace, "greet", "Completed", "Failed")["status"]["result"] == "Hello, Marvin!"


@pytest.mark.parametrize("gap", [0.0, 0.02])
def test_suspend_then_resume_back_to_back_loses_nothing(operator, namespace, gap):
    """A suspension withdrawn (or resumed) within milliseconds must never fail the run:
    it either never took effect (attempt 1 carries on) or is resumed (attempt 2)."""
    from flowrun.kube import Kube
    apply(namespace, {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun", "metadata": {"name": "quick"},
                      "spec": {"flow": "examples.suspending:many_steps", "parameters": {"steps": 6, "seconds": 0.5}}})
    wait_phase(namespace, "quick", "Running")
    wait_for(lambda: "task step-1: result stored" in kubectl(
        "logs", "-l", "flowrun.io/run=quick", "--tail=-1", namespace=namespace, check=False).stdout,
        timeout=60, what="a step to finish")
    api = Kube()
    api.patch_flowrun(namespace, "quick", {"spec": {"state": "Suspended"}})
    time.sleep(gap)  # the gap under test, not a wait for anything
    api.patch_flowrun(namespace, "quick", {"spec": {"state": "Running"}})
    fr = wait_phase(namespace, "quick", "Completed", "Failed", timeout=120)
    assert fr["status"]["phase"] == "Completed", fr["status"]
    assert fr["status"]["result"]["steps"] == 6
    assert fr["status"]["attempt"] in (1, 2)
    assert set(fr["status"]["result"]["body_runs"]) <= {1, 2}
