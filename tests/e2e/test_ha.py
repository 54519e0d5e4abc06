"""High availability and instances (issue 16), against the real cluster:

- two replicas of one instance (the session operator and a second process with the same
  instance id and Lease): the leader SIGKILLed while one run waits at a pause and
  another is suspended; both are resumed while nobody leads, and both complete under the
  standby that takes over, with exactly one Job per attempt;
- a webhook outage (failurePolicy Fail, no endpoint) while a runner pauses: the pause
  still lands once the webhook is back, the flow does not fail;
- two instances in one cluster: the chart's operator as `make deploy` installs it
  (cluster-wide, no instance id; tests/cluster/prepare.py installs it before the suite,
  so every test runs beside it) and the session's instance each handle only their own
  runs.

Replicas here are processes on this machine (the harness's OperatorProcess); only the
session operator serves the webhook, as only one URL can be registered for it.
"""
from __future__ import annotations

import json
import os

import pytest

from cluster import kubectl, wait_for
from cluster.flowruns import JobRecorder, apply, flowrun_manifest, get_fr, names, patch_fr, wait_phase
from cluster.harness import DEPLOYED_NAMESPACE, DEPLOYED_RELEASE, OperatorProcess, deploy_cluster_wide, \
    release_cluster_wide

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def deployed():
    """The operator `make deploy` installs (tests/cluster/prepare.py did, before the
    suite; deployed here when pytest runs without it): its runner image and its pods."""
    def deployment():
        out = kubectl("get", "deployment", DEPLOYED_RELEASE, "-o", "json", namespace=DEPLOYED_NAMESPACE, check=False)
        return json.loads(out.stdout) if out.returncode == 0 else None
    ours = deployment() is None
    if ours:
        deploy_cluster_wide()
    spec = deployment()["spec"]["template"]["spec"]["containers"][0]
    assert "--all-namespaces" in spec["args"] and not any(e["name"] == "FLOWRUN_INSTANCE" and e.get("value")
                                                          for e in spec.get("env") or []), spec
    kubectl("rollout", "status", f"deployment/{DEPLOYED_RELEASE}", "--timeout=180s", namespace=DEPLOYED_NAMESPACE)

    def pods() -> set[str]:
        return set(kubectl("get", "pods", "-l", f"app.kubernetes.io/instance={DEPLOYED_RELEASE},"
                           "app.kubernetes.io/name=flowrun-operator", "-o", "name",
                           namespace=DEPLOYED_NAMESPACE).stdout.replace("pod/", "").split())
    runner = next(e["value"] for e in spec["env"] if e["name"] == "FLOWRUN_RUNNER_IMAGE")
    yield {"runner_image": runner, "pods": pods}
    if ours:
        release_cluster_wide()


def reporters(namespace: str, run: str) -> set[str]:
    """Who posted the Events of a FlowRun (reportingInstance: the operator's host name)."""
    out = kubectl("get", "events", "--field-selector", f"involvedObject.kind=FlowRun,involvedObject.name={run}",
                  "-o", "json", namespace=namespace).stdout
    return {e.get("reportingInstance") or "" for e in json.loads(out)["items"]}


def lease_holder(operator) -> str:
    out = kubectl("get", "lease", "-o", "json", namespace=operator.rights.namespace, check=False)
    leases = json.loads(out.stdout or "{}").get("items", [])
    return next((l["spec"].get("holderIdentity") or "" for l in leases), "")


def replica(operator, tmp_path, identity: str, **env: str) -> OperatorProcess:
    """Another process of the session's instance (its rights, its Lease), without the
    webhook and metrics ports of the session operator."""
    other = OperatorProcess(tmp_path / f"{identity}.log", operator.env["FLOWRUN_RUNNER_IMAGE"],
                            namespaces=operator.namespaces, FLOWRUN_LEASE_IDENTITY=identity, **env)
    other.env.update({k: v for k, v in operator.env.items()
                      if k.startswith(("KUBECONFIG", "FLOWRUN_")) and not k.startswith(
                          ("FLOWRUN_WEBHOOK_", "FLOWRUN_METRICS_PORT", "FLOWRUN_LEASE_IDENTITY")) and k not in env})
    return other


def test_the_standby_takes_over_a_paused_and_a_suspended_run(operator, namespace, tmp_path):
    standby = replica(operator, tmp_path, "replica-b")
    jobs = JobRecorder(namespace)
    try:
        # Make the second replica the leader: the session operator hands its lease over
        # (SIGTERM releases it), and comes back as the standby (it serves the webhook).
        standby.start()
        operator.stop()
        wait_for(lambda: lease_holder(operator) == "replica-b", timeout=60, what="replica-b to lead")
        operator.start()
        apply(namespace, flowrun_manifest("held", "examples.jokes:tell_joke"))
        apply(namespace, flowrun_manifest("parked", "examples.suspending:suspend_after_one_task"))
        wait_phase(namespace, "held", "Paused")
        wait_phase(namespace, "parked", "Suspended")
        assert lease_holder(operator) == "replica-b"

        standby.kill()  # the leader dies; both runs are resumed while nobody leads
        patch_fr(namespace, "held", {"spec": {"state": "Running"}})
        patch_fr(namespace, "parked", {"spec": {"state": "Running"}})
        wait_for(lambda: lease_holder(operator) == "session-operator", timeout=30,
                 what="the standby to take the lease over")
        held = wait_phase(namespace, "held", "Completed", "Failed", timeout=120)
        parked = wait_phase(namespace, "parked", "Completed", "Failed", timeout=120)
        assert held["status"]["phase"] == "Completed" and held["status"]["attempt"] == 1, held["status"]
        assert parked["status"]["phase"] == "Completed" and parked["status"]["attempt"] == 2, parked["status"]
    finally:
        seen = jobs.close()
        standby.kill()
        if not operator.running:
            operator.start()
    assert sorted(seen) == ["held-1", "parked-1", "parked-2"], seen
    assert all(len(uids) == 1 for uids in seen.values()), f"an attempt got two Jobs: {seen}"


def _webhook_policy(operator, policy: str) -> None:
    from cluster.pytest_plugin import SESSION_PREFIX
    for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
        kubectl("patch", kind, f"{SESSION_PREFIX}flowrun.io", "--type", "json", "-p",
                json.dumps([{"op": "replace", "path": "/webhooks/0/failurePolicy", "value": policy}]))


def test_a_pause_lands_through_a_webhook_outage(operator, namespace):
    """failurePolicy Fail and no webhook endpoint while the runner pauses: the API server
    refuses the runner's write (500 "failed calling webhook"); the runner retries it with
    backoff, and the pause lands once the webhook is back."""
    _webhook_policy(operator, "Fail")
    try:
        apply(namespace, flowrun_manifest("outage", "testflows.basic:sleeps_then_pauses",
                                          parameters={"seconds": 6}))
        wait_phase(namespace, "outage", "Running")
        operator.stop()  # no webhook endpoint from here on
        (pod,) = names("pods", namespace, "flowrun.io/run=outage")

        def refused() -> bool:
            log = kubectl("logs", pod, namespace=namespace, check=False).stdout
            return "admission webhook is unreachable" in log
        wait_for(refused, timeout=60, interval=0.5, what="the runner's pause to be refused and retried")
        assert (get_fr(namespace, "outage").get("status") or {}).get("phase") == "Running"
        operator.start()
        wait_phase(namespace, "outage", "Paused", timeout=60)
        patch_fr(namespace, "outage", {"spec": {"state": "Running"}})
        done = wait_phase(namespace, "outage", "Completed", "Failed", timeout=60)
        assert done["status"]["phase"] == "Completed" and done["status"]["result"] == "resumed", done["status"]
    finally:
        if not operator.running:
            operator.start()
        operator.restore_webhooks()


def test_the_suite_runs_beside_the_operator_make_deploy_installs(operator, namespace, deployed):
    """The chart's default install (`make deploy`: two replicas, cluster-wide, no instance
    id; tests/cluster/prepare.py installs it before the suite) and the session's instance
    in one cluster: each handles only its own runs, in the same namespace."""
    unlabelled = flowrun_manifest("plain", "examples.hello:hello", parameters={"name": "plain"})
    kubectl("apply", "-f", "-", namespace=namespace, input=json.dumps(unlabelled))  # no instance label
    apply(namespace, flowrun_manifest("ours", "testflows.basic:returns_value", parameters={"x": 3}))
    try:
        ours = wait_phase(namespace, "ours", "Completed", "Failed", timeout=120)
        assert ours["status"]["phase"] == "Completed", ours["status"]
        plain = wait_phase(namespace, "plain", "Completed", "Failed", timeout=180)
        assert plain["status"]["phase"] == "Completed" and plain["status"]["result"]["length"] == 5, \
            plain["status"]
        # Who made each Job: the deployed operator runs the chart's runner image, the
        # session's operator the test-flows image, and each labels Jobs with its instance.
        (job,) = json.loads(kubectl("get", "jobs", "-l", "flowrun.io/run=plain", "-o", "json",
                                    namespace=namespace).stdout)["items"]
        assert "flowrun.io/instance" not in job["metadata"]["labels"]
        assert job["spec"]["template"]["spec"]["containers"][0]["image"] == deployed["runner_image"]
        (job,) = json.loads(kubectl("get", "jobs", "-l", "flowrun.io/run=ours", "-o", "json",
                                    namespace=namespace).stdout)["items"]
        assert job["metadata"]["labels"]["flowrun.io/instance"] == os.environ["FLOWRUN_INSTANCE"]
        assert job["spec"]["template"]["spec"]["containers"][0]["image"] == operator.env["FLOWRUN_RUNNER_IMAGE"]
        # Neither operator wrote about the other's run: an operator's Events name it as the
        # reporting instance (its host name: the deployed replicas' pod names, this
        # machine's for the session's operator).
        pods = deployed["pods"]()
        assert reporters(namespace, "plain") and reporters(namespace, "plain") <= pods, (reporters(namespace, "plain"), pods)
        assert reporters(namespace, "ours") and not reporters(namespace, "ours") & pods, reporters(namespace, "ours")
    finally:
        # the deployed operator holds the unlabelled run's finalizer and removes it
        kubectl("delete", "fr", "plain", "--wait=false", namespace=namespace, check=False)
        wait_for(lambda: "plain" not in names("fr", namespace), timeout=60, what="the plain run to go")
