"""Attacks on runtime inputs (issue 24), on the real cluster with the chart's rights: a
run's own token reading another run's inputs, a person without the send right, a sender
forging who sent, and changing an input once sent. Each asserts the refusal AND that
nothing happened."""
from __future__ import annotations

import json

import pytest
import yaml

from cluster import kubectl, wait_for
from cluster.flowruns import apply, flowrun_manifest, names, wait_phase
from cluster.harness import helm_template
from cluster.pytest_plugin import SESSION_PREFIX
from flowrun.contract import run_inputs as ri
from flowrun.input.run_input import send_input

pytestmark = pytest.mark.e2e


def inbox(namespace: str, run_name: str) -> list[dict]:
    out = kubectl("get", "flowruninboxes", "-l", f"flowrun.io/run={run_name}", "-o", "json", namespace=namespace)
    pages = sorted(json.loads(out.stdout)["items"], key=lambda p: p["spec"]["page"])
    return [e for p in pages for e in p["spec"].get("entries") or []]


@pytest.fixture
def personas(namespace):
    """The chart's persona ClusterRoles (a release of this test's own, so no other
    session's copy interferes), bound here: `vic` views, `ann` approves (and may send)."""
    release = f"{SESSION_PREFIX}in"
    docs = helm_template("--show-only", "templates/personas.yaml", release=release)
    roles = [d for d in docs if d["kind"] == "ClusterRole"]
    kubectl("apply", "-f", "-", input=yaml.safe_dump_all(roles))
    full = f"{release}-flowrun-operator"
    for who, persona in (("vic", "viewer"), ("ann", "approver")):
        kubectl("create", "rolebinding", f"{who}-{persona}", f"--clusterrole={full}-{persona}", f"--user={who}",
                namespace=namespace)
    wait_for(lambda: kubectl("auth", "can-i", "create", "flowruninputs.flowrun.io", "--as=ann",
                             namespace=namespace, check=False).returncode == 0,
             timeout=30, what="the personas' rights to take effect")
    yield namespace
    for role in roles:
        kubectl("delete", "clusterrole", role["metadata"]["name"], "--ignore-not-found", check=False)


def request(namespace: str, target: str, sender: str, key: str = "strautomaticruninput-auto-x1") -> str:
    return yaml.safe_dump(ri.request(namespace, target, key, {"value": "sneaky"}, sender))


def test_a_runs_token_cannot_read_another_runs_inputs(operator, namespace, runner_image):
    apply(namespace, flowrun_manifest("victim", "testflows.inputs:collect", image=runner_image,
                                      parameters={"count": 1, "timeout": 300}))
    wait_phase(namespace, "victim", "Running")
    apply(namespace, flowrun_manifest("peek", "testflows.inputs:peek_other", image=runner_image,
                                      parameters={"other": "victim"}))
    # The run's own pod, with its own token, tries: refused by the API server.
    fr = wait_phase(namespace, "peek", "Completed", "Failed", timeout=180)
    assert fr["status"]["phase"] == "Completed", fr["status"].get("message")
    assert fr["status"]["result"].startswith("refused: may not read the inputs of FlowRun"), fr["status"]["result"]
    # The same account by every door: list and watch the inputs and inboxes of the namespace,
    # get the victim's page by name.
    account = f"system:serviceaccount:{namespace}:peek-runner"
    for args in (("get", "flowruninputs"), ("get", "flowruninboxes"), ("get", "flowruninbox", "victim-inbox-0"),
                 ("get", "flowruninputs", "--watch", "--request-timeout=2s")):
        out = kubectl(f"--as={account}", *args, namespace=namespace, check=False)
        assert out.returncode != 0 and "forbidden" in out.stderr.lower(), (args, out.stdout, out.stderr)
    # Nothing happened: the victim's input, sent now, still reaches the victim alone.
    send_input("for victim", flow_run_id="victim", namespace=namespace)
    done = wait_phase(namespace, "victim", "Completed", "Failed", timeout=120)
    assert [r["value"] for r in done["status"]["result"]] == ["for victim"]


def test_a_person_without_the_send_right_is_refused_and_nothing_is_sent(operator, personas, runner_image):
    namespace = personas
    apply(namespace, flowrun_manifest("target", "testflows.inputs:collect", image=runner_image,
                                      parameters={"count": 1, "timeout": 300}))
    wait_phase(namespace, "target", "Running")
    out = kubectl("--as=vic", "create", "-f", "-", input=request(namespace, "target", "vic"),
                  namespace=namespace, check=False)
    assert out.returncode != 0 and "forbidden" in out.stderr.lower(), out.stderr
    assert names("flowruninputs", namespace) == [] and inbox(namespace, "target") == []
    # The viewer may read the inputs (none yet), never send.
    out = kubectl("--as=vic", "get", "flowruninboxes", namespace=namespace, check=False)
    assert out.returncode == 0, out.stderr
    # The approver may send, in their own name only: a forged sender is refused by the API server.
    out = kubectl("--as=ann", "create", "-f", "-", input=request(namespace, "target", "alice"),
                  namespace=namespace, check=False)
    assert out.returncode != 0 and "spec.sender must be your own user name (ann)" in out.stderr, out.stderr
    out = kubectl("--as=ann", "create", "-f", "-", input=request(namespace, "target", "system:serviceaccount:"
                                                                 f"{namespace}:victim-runner"),
                  namespace=namespace, check=False)
    assert out.returncode != 0 and "spec.sender must be your own user name" in out.stderr, out.stderr
    assert names("flowruninputs", namespace) == [] and inbox(namespace, "target") == []
    # ...and a label that names another run than spec.flowRun is refused too.
    body = ri.request(namespace, "target", "strautomaticruninput-auto-x2", {"value": "x"}, "ann")
    body["metadata"]["labels"]["flowrun.io/run"] = "elsewhere"
    out = kubectl("--as=ann", "create", "-f", "-", input=yaml.safe_dump(body), namespace=namespace, check=False)
    assert out.returncode != 0 and "must name the receiving run" in out.stderr, out.stderr
    # In their own name it is delivered, with their name as the sender.
    kubectl("--as=ann", "create", "-f", "-", input=request(namespace, "target", "ann"), namespace=namespace)
    done = wait_phase(namespace, "target", "Completed", "Failed", timeout=120)
    assert [(r["value"], r["sender"]) for r in done["status"]["result"]] == [("sneaky", "ann")]


def test_an_input_never_changes_once_sent(operator, namespace):
    # Sent to a run that does not exist (yet): the request waits in its object.
    created = json.loads(kubectl("create", "-o", "json", "-f", "-",
                                 input=request(namespace, "later", whoami(namespace)), namespace=namespace).stdout)
    name = created["metadata"]["name"]
    for patch in ({"spec": {"value": {"value": "changed"}}}, {"metadata": {"labels": {"flowrun.io/run": "other"}}}):
        out = kubectl("patch", "flowruninput", name, "--type", "merge", "-p", json.dumps(patch),
                      namespace=namespace, check=False)
        assert out.returncode != 0 and "never changes once sent" in out.stderr, out.stderr
    got = json.loads(kubectl("get", "flowruninput", name, "-o", "json", namespace=namespace).stdout)
    assert got["spec"] == created["spec"] and got["metadata"]["labels"] == created["metadata"]["labels"]


def whoami(namespace: str) -> str:
    return json.loads(kubectl("auth", "whoami", "-o", "json", namespace=namespace).stdout)["status"]["userInfo"]["username"]
