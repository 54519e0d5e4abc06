"""The operator's core on the real cluster: a FlowRun becomes a Job whose pod runs the
flow, status follows the run, bad manifests are refused, crashes lose nothing, deletion
leaves nothing, and a run's account reaches only its own FlowRun."""
from __future__ import annotations

import json
import subprocess

import pytest

from cluster import kubectl, load_image, wait_for

from cluster.flowruns import JobRecorder, apply, flowrun_manifest, get_fr, names, wait_phase
from cluster.harness import REPO, build_runner_image

pytestmark = pytest.mark.e2e


def test_flow_returning_a_value_completes_with_its_result(operator, namespace):
    apply(namespace, flowrun_manifest("value", "testflows.basic:returns_value", parameters={"x": 7}))
    kubectl("wait", "--for=condition=Succeeded", "fr/value", "--timeout=120s", namespace=namespace,
            timeout=130)
    fr = get_fr(namespace, "value")
    status = fr["status"]
    assert status["phase"] == "Completed"
    assert status["result"] == {"x": 7, "attempt": 1, "name": "value"}
    assert status["attempt"] == 1 and status["jobName"] == "value-1"
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions["Succeeded"] == "True" and conditions["Failed"] == "False"
    assert [h["action"] for h in status["history"]][:3] == ["created", "started", "completed"]
    table = kubectl("get", "fr", namespace=namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "PHASE", "FLOW", "ATTEMPT", "AGE", "CONTINUES", "MESSAGE"]
    assert table[1].split()[:4] == ["value", "Completed", "testflows.basic:returns_value", "1"]
    # The story is told by Events too.
    events = wait_for(lambda: (lambda out: out if "Completed" in out else None)(
        kubectl("get", "events", "--field-selector", "involvedObject.name=value", "-o",
                "jsonpath={.items[*].reason}", namespace=namespace).stdout),
        timeout=30, what="a Completed event")
    assert "Created" in events and "Started" in events


def test_operator_metrics_count_transitions_and_runs_by_phase(operator, namespace):
    import urllib.request
    apply(namespace, flowrun_manifest("counted", "testflows.basic:returns_value"))
    wait_phase(namespace, "counted", "Completed")

    def scrape():
        text = urllib.request.urlopen(operator.metrics_url, timeout=5).read().decode()
        samples = {}
        for line in text.splitlines():
            if line.startswith("flowrun_") and " " in line:
                key, value = line.rsplit(" ", 1)
                samples[key] = float(value)
        return samples if samples.get('flowrun_transitions_total{action="completed"}', 0) >= 1 else None
    samples = wait_for(scrape, timeout=30, what="metrics counting the completion")
    assert samples['flowrun_transitions_total{action="created"}'] >= 1
    assert samples['flowrun_transitions_total{action="started"}'] >= 1
    assert samples['flowrun_runs{phase="Completed"}'] >= 1
    assert "flowrun_reconcile_errors_total" in samples


def test_flow_that_raises_fails_with_the_exception(operator, namespace):
    apply(namespace, flowrun_manifest("boom", "testflows.basic:raises", parameters={"message": "the answer is 41"}))
    fr = wait_phase(namespace, "boom", "Failed", "Completed")
    assert fr["status"]["phase"] == "Failed"
    assert fr["status"]["message"] == "Flow failed: ValueError: the answer is 41"
    kubectl("wait", "--for=condition=Failed", "fr/boom", "--timeout=30s", namespace=namespace)


def test_retries_in_a_pod_rerun_only_what_failed_and_tell_the_story(operator, namespace):
    """examples/retries.py: a task retried twice, then a flow retry in the same pod that
    takes the finished tasks' results from the cache volume (bodies count their runs)."""
    apply(namespace, (REPO / "examples" / "manifests" / "retries.yaml").read_text())
    fr = wait_phase(namespace, "retries", "Completed", "Failed")
    assert fr["status"]["phase"] == "Completed", fr["status"].get("message")
    assert fr["status"]["result"] == {
        "rows": 128, "fetch_runs": 1,            # ran once, reused by the flow retry
        "uploaded_rows": 128, "upload_tries": 3,  # two task retries, then success
        "publish_calls": 2, "flow_run_count": 2,  # failed once: one flow retry
    }
    assert fr["status"]["attempt"] == 1 and names("jobs", namespace) == ["retries-1"]
    retrying = [e for e in fr["status"]["history"] if e["action"] == "retrying"]
    assert len(retrying) == 1
    assert retrying[0]["message"] == ("Flow failed (RuntimeError: search index not ready yet); "
                                      "retry 1 of 1 in 1 s")
    reasons = wait_for(lambda: (lambda out: out if "FlowRetrying" in out else None)(
        kubectl("get", "events", "--field-selector", "involvedObject.name=retries", "-o",
                "jsonpath={.items[*].reason}", namespace=namespace).stdout),
        timeout=30, what="a FlowRetrying event")
    assert "Completed" in reasons or "Started" in reasons
    log = kubectl("logs", "job/retries-1", namespace=namespace).stdout
    assert "task upload-1 failed (ConnectionError: upload attempt 1 failed: connection reset); retry 1 of 2 in 1 s" in log
    assert "task upload-1 failed (ConnectionError: upload attempt 2 failed: connection reset); retry 2 of 2 in 2 s" in log


def test_a_users_own_image_runs_its_flows(operator, namespace):
    """examples/custom-image exactly as its Dockerfile says: FROM the runner image plus
    COPY of the user's package; the FlowRun names the image and the flow in it."""
    example = REPO / "examples" / "custom-image"
    build_runner_image()
    subprocess.run(["docker", "build", "--quiet", "-t", "my-flows:1.0", str(example)], check=True,
                   stdout=subprocess.DEVNULL)
    load_image("my-flows:1.0")
    apply(namespace, (example / "flowrun.yaml").read_text())
    fr = wait_phase(namespace, "nightly", "Paused", "Failed")
    assert fr["status"]["phase"] == "Paused", fr["status"].get("message")
    assert set(fr["status"]["pause"]["inputSchema"]["properties"]) == {"approve", "comment"}
    kubectl("patch", "fr", "nightly", "--type", "merge", "-p",
            '{"spec":{"state":"Running","input":{"approve":true,"comment":"looks right"}}}', namespace=namespace)
    fr = wait_phase(namespace, "nightly", "Completed", "Failed")
    assert fr["status"]["result"] == {"count": 5, "total": 100, "loaded": True}
    assert get_job_image(namespace, "nightly-1") == "my-flows:1.0"


def get_job_image(namespace: str, job: str) -> str:
    return kubectl("get", "job", job, "-o", "jsonpath={.spec.template.spec.containers[0].image}",
                   namespace=namespace).stdout


def test_flow_that_does_not_import_fails_saying_so(operator, namespace):
    apply(namespace, flowrun_manifest("missing", "no_such_package.flows:main"))
    fr = wait_phase(namespace, "missing", "Failed", "Completed")
    assert "Cannot import flow 'no_such_package.flows:main'" in fr["status"]["message"]
    assert "No module named 'no_such_package'" in fr["status"]["message"]


def test_image_that_does_not_exist_fails_saying_so(operator, namespace):
    apply(namespace, flowrun_manifest("noimage", "testflows.basic:returns_value",
                                      image="flowrun-no-such-image:0.0.1"))
    fr = wait_phase(namespace, "noimage", "Failed", "Completed")
    assert "Image 'flowrun-no-such-image:0.0.1' cannot be pulled" in fr["status"]["message"]
    wait_for(lambda: not names("jobs", namespace), timeout=30, what="the Job of the failed run to go")


BAD_MANIFESTS = {
    "missing flow": ({}, "spec.flow: Required value"),
    "flow without function": ({"flow": "examples.jokes"}, "spec.flow"),
    "flow with a dash": ({"flow": "my-flows:run"}, "spec.flow"),
    "flow with spaces": ({"flow": "examples.jokes: tell_joke"}, "spec.flow"),
    "unknown state": ({"flow": "a:b", "state": "Sleeping"}, 'spec.state: Unsupported value: "Sleeping"'),
    "parameters not an object": ({"flow": "a:b", "parameters": [1, 2]}, "spec.parameters"),
    "too many parameters": ({"flow": "a:b", "parameters": {f"p{i}": i for i in range(129)}}, "spec.parameters"),
    "input not an object": ({"flow": "a:b", "input": "Marvin"}, "spec.input"),
    "image with spaces": ({"flow": "a:b", "image": "my image:1"}, "spec.image"),
    "bad cache size": ({"flow": "a:b", "cache": {"size": "lots"}}, "spec.cache.size"),
    "bad claim name": ({"flow": "a:b", "cache": {"claimName": "Not_A_Name"}}, "spec.cache.claimName"),
    "state not a string": ({"flow": "a:b", "state": 3}, "spec.state"),
    "flow too long": ({"flow": "m:" + "f" * 260}, "spec.flow"),
    "negative ttl": ({"flow": "a:b", "ttlSecondsAfterFinished": -1}, "spec.ttlSecondsAfterFinished"),
}


@pytest.mark.parametrize("spec,error", BAD_MANIFESTS.values(), ids=BAD_MANIFESTS.keys())
def test_malformed_manifests_are_rejected_by_the_api_server(crd, namespace, spec, error):
    out = apply(namespace, {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun",
                            "metadata": {"name": "bad"}, "spec": spec}, check=False)
    assert out.returncode != 0, "the API server accepted a malformed FlowRun"
    assert error in out.stderr, out.stderr
    assert names("fr", namespace) == []


def test_name_too_long_is_rejected(crd, namespace):
    out = apply(namespace, flowrun_manifest("x" * 60, "a:b"), check=False)
    assert out.returncode != 0 and "metadata.name" in out.stderr


def test_flow_and_parameters_are_immutable(crd, namespace):
    apply(namespace, flowrun_manifest("fixed", "a:b", parameters={"x": 1}, state="Suspended"))
    out = kubectl("patch", "fr", "fixed", "--type", "merge", "-p", '{"spec":{"flow":"c:d"}}',
                  namespace=namespace, check=False)
    assert out.returncode != 0 and "spec.flow is immutable" in out.stderr
    out = kubectl("patch", "fr", "fixed", "--type", "merge", "-p", '{"spec":{"parameters":{"x":2}}}',
                  namespace=namespace, check=False)
    assert out.returncode != 0 and "immutable" in out.stderr


def _kill_when(operator, namespace, name, phase):
    wait_phase(namespace, name, phase, timeout=120)
    operator.kill()


@pytest.mark.parametrize("kill_in", ["Pending", "Running"])
def test_operator_sigkilled_mid_run_loses_nothing(operator, namespace, kill_in):
    jobs = JobRecorder(namespace)
    try:
        apply(namespace, flowrun_manifest("crash", "testflows.basic:sleeps", parameters={"seconds": 4}))
        _kill_when(operator, namespace, "crash", kill_in)
        operator.start()
        fr = wait_phase(namespace, "crash", "Completed", "Failed", timeout=180)
        assert fr["status"]["phase"] == "Completed", fr["status"]
        assert fr["status"]["result"] == "slept"
    finally:
        seen = jobs.close()
        if not operator.running:
            operator.start()
    assert seen == {"crash-1": seen.get("crash-1")} and len(seen["crash-1"]) == 1, seen


def test_deleting_a_flowrun_leaves_nothing_behind(operator, namespace):
    apply(namespace, flowrun_manifest("gone", "testflows.basic:sleeps", parameters={"seconds": 60}))
    wait_phase(namespace, "gone", "Running")
    owned = {kind: names(kind, namespace, "flowrun.io/run=gone")
             for kind in ("jobs", "pods", "pvc", "serviceaccounts", "roles", "rolebindings")}
    assert all(owned.values()), f"expected every kind of child to exist: {owned}"
    kubectl("delete", "fr", "gone", "--wait=false", namespace=namespace)

    def leftovers():
        left = {kind: names(kind, namespace, "flowrun.io/run=gone") for kind in owned}
        left["flowruns"] = names("fr", namespace)
        return None if any(left.values()) else True
    wait_for(leftovers, timeout=120, interval=1, what="every object of the deleted FlowRun to go")


def test_the_operator_runs_with_exactly_the_charts_rights(operator, namespace):
    """The session operator is not admin: it is the chart's ServiceAccount (its token), so
    every other e2e test exercises the chart's RBAC."""
    as_operator = {"kubeconfig": operator.env["KUBECONFIG"], "namespace": namespace, "check": False}
    who = kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}", **as_operator).stdout
    assert who == operator.username
    assert kubectl("auth", "can-i", "delete", "flowruns.flowrun.io", **as_operator).stdout.strip() == "yes"
    assert kubectl("auth", "can-i", "create", "subjectaccessreviews.authorization.k8s.io",
                   **as_operator).stdout.strip() == "yes"
    # Secrets: only `get` (a notifier's URL and signing key), granted because the session's
    # chart rights have notifications on; never list or watch them.
    for verb, resource in [("list", "secrets"), ("watch", "secrets"), ("create", "pods"), ("delete", "pods"),
                           ("create", "validatingwebhookconfigurations"), ("update", "flowruns.flowrun.io"),
                           ("impersonate", "serviceaccounts")]:
        assert kubectl("auth", "can-i", verb, resource, **as_operator).stdout.strip() == "no", (verb, resource)


def test_finished_runs_with_a_ttl_are_deleted_with_everything_they_own(operator, namespace):
    apply(namespace, flowrun_manifest("brief", "testflows.basic:returns_value", ttlSecondsAfterFinished=5))
    apply(namespace, flowrun_manifest("kept", "testflows.basic:returns_value"))
    brief = wait_phase(namespace, "brief", "Completed", "Failed")
    assert brief["status"]["phase"] == "Completed"
    assert names("pvc", namespace, "flowrun.io/run=brief"), "the run's claim should exist until the TTL"

    def leftovers():
        left = {kind: names(kind, namespace, "flowrun.io/run=brief")
                for kind in ("jobs", "pods", "pvc", "serviceaccounts", "roles", "rolebindings")}
        left["flowruns"] = [n for n in names("fr", namespace) if n == "brief"]
        return None if any(left.values()) else True
    wait_for(leftovers, timeout=90, interval=1, what="the expired run and everything it owned to go")
    reasons = kubectl("get", "events", "--field-selector", "involvedObject.name=brief", "-o",
                      "jsonpath={.items[*].reason}", namespace=namespace).stdout.split()
    assert "Expired" in reasons
    # No TTL, no operator default: a finished run stays.
    wait_phase(namespace, "kept", "Completed")
    assert "kept" in names("fr", namespace)


def test_runner_account_reaches_only_its_own_flowrun(operator, namespace):
    apply(namespace, flowrun_manifest("mine", "testflows.basic:returns_value", state="Suspended"))
    apply(namespace, flowrun_manifest("other", "testflows.basic:returns_value", state="Suspended"))
    # Accounts are made when a run starts: start "mine".
    kubectl("patch", "fr", "mine", "--type", "merge", "-p", '{"spec":{"state":"Running"}}', namespace=namespace)
    wait_phase(namespace, "mine", "Completed")
    who = f"system:serviceaccount:{namespace}:mine-runner"

    def can(verb, resource):
        out = kubectl("auth", "can-i", verb, resource, "--as", who, namespace=namespace, check=False)
        return out.stdout.strip()
    assert can("get", "flowruns/mine") == "yes"
    assert can("patch", "flowruns/mine") == "yes"
    assert can("patch", "flowruns.flowrun.io/mine") == "yes"
    assert can("get", "flowruns/other") == "no"
    assert can("patch", "flowruns/other") == "no"
    assert can("delete", "flowruns/mine") == "no"
    assert can("list", "flowruns") == "no"
    assert can("create", "pods") == "no"
    assert can("create", "flowruns") == "yes"  # subflows, the one broader right
    assert can("get", "secrets") == "no"
