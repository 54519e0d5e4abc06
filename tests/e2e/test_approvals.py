"""Who may answer a pause, on the real cluster with real (impersonated) users: only the
approvers it names, never the run's creator, and only once enough of them did."""
from __future__ import annotations

import json
import subprocess

import pytest

from cluster import _kubectl_binary, kubectl, wait_for
from cluster.flowruns import get_fr, labelled, wait_phase

pytestmark = pytest.mark.e2e

FLOW = "testflows.approvals:two_finance_approvals"
PEOPLE = {"carol": ["finance"], "alice": ["finance"], "bob": ["finance"], "eve": ["sales"]}


def as_person(namespace: str, who: str, *args: str, check: bool = False, input: str | None = None):
    groups = [f"--as-group={g}" for g in PEOPLE[who]]
    return kubectl(f"--as={who}", *groups, *args, namespace=namespace, check=check, input=input)


def resume(namespace: str, who: str, name: str, ok: bool = True):
    body = json.dumps({"spec": {"state": "Running", "input": {"ok": ok}}})
    return as_person(namespace, who, "patch", "fr", name, "--type", "merge", "-p", body)


@pytest.fixture
def people(namespace):
    """RBAC for the people of the test: they may read, create, patch and resume FlowRuns
    here (the session's operator has rights by verb on)."""
    kubectl("create", "role", "flowrun-people", "--verb=get,list,watch,create,patch,update,resume",
            "--resource=flowruns.flowrun.io", namespace=namespace)
    kubectl("create", "rolebinding", "flowrun-people", "--role=flowrun-people", "--group=finance",
            "--group=sales", namespace=namespace)
    wait_for(lambda: as_person(namespace, "eve", "auth", "can-i", "patch", "flowruns.flowrun.io").returncode == 0,
             timeout=30, what="the people's rights to take effect")
    return namespace


def start(namespace: str, name: str) -> dict:
    manifest = labelled({"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun", "metadata": {"name": name},
                         "spec": {"flow": FLOW}})
    as_person(namespace, "carol", "create", "-f", "-", input=manifest, check=True)
    return wait_phase(namespace, name, "Paused")


def test_two_of_finance_but_not_the_creator(operator, people):
    ns = people
    fr = start(ns, "pay")
    assert fr["metadata"].get("annotations", {}).get("flowrun.io/created-by") == "carol", fr["metadata"]
    assert fr["status"]["pause"]["approval"]["approvers"] == ["group:finance"]

    out = resume(ns, "eve", "pay")
    assert out.returncode != 0 and "[NotAllowed] only group:finance may resume pause-1" in out.stderr, out.stderr
    out = resume(ns, "carol", "pay")
    assert out.returncode != 0 and "carol started this run and may not approve" in out.stderr, out.stderr

    out = resume(ns, "alice", "pay")
    assert out.returncode == 0, out.stderr
    fr = wait_for(lambda: (cur := get_fr(ns, "pay"))["status"]["pause"]["approval"]["approvals"] and cur,
                  timeout=30, what="alice's approval to be counted")
    assert [a["by"] for a in fr["status"]["pause"]["approval"]["approvals"]] == ["alice"]
    assert fr["status"]["phase"] == "Paused" and fr["spec"]["state"] == "Paused"
    assert "1 of 2 approvals" in fr["status"]["message"]
    # The same person again does not count twice.
    assert resume(ns, "alice", "pay").returncode == 0
    assert get_fr(ns, "pay")["status"]["phase"] == "Paused"

    assert resume(ns, "bob", "pay", ok=True).returncode == 0
    fr = wait_phase(ns, "pay", "Completed", "Failed")
    assert fr["status"]["result"] is True
    approved = [(h["by"], h.get("groups")) for h in fr["status"]["history"] if h["action"] == "approved"]
    # The API server adds system:authenticated to every authenticated user's groups.
    assert approved == [("alice", ["finance", "system:authenticated"]), ("bob", ["finance", "system:authenticated"])]
    events = json.loads(kubectl("get", "events", "-o", "json", "--field-selector", "involvedObject.name=pay",
                                namespace=ns).stdout)["items"]
    assert sum(1 for e in events if e["reason"] == "Approved") == 2
    refused = [e["message"] for e in events if e["reason"] == "ApprovalRefused"]
    assert any("eve" in m and "groups: sales" in m for m in refused), refused


def test_approvals_sent_at_the_same_moment_both_count(operator, people):
    ns = people
    start(ns, "together")
    body = json.dumps({"spec": {"state": "Running", "input": {"ok": False}}})
    procs = [subprocess.Popen([_kubectl_binary(), f"--as={who}", "--as-group=finance", "-n", ns, "patch", "fr",
                               "together", "--type", "merge", "-p", body],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for who in ("alice", "bob")]
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    fr = wait_phase(ns, "together", "Completed", "Failed")
    assert fr["status"]["result"] is False
    assert sorted(h["by"] for h in fr["status"]["history"] if h["action"] == "approved") == ["alice", "bob"]


def test_rights_by_verb(operator, namespace):
    """With authorization.actionVerbs on, patching spec.state needs the verb too: `mo`
    may patch but not resume; `lu` may resume (only this run) but not cancel."""
    ns = namespace
    kubectl("apply", "-f", "-", namespace=ns, input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "patchers"},
         "rules": [{"apiGroups": ["flowrun.io"], "resources": ["flowruns"], "verbs": ["get", "list", "patch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "resumers"},
         "rules": [{"apiGroups": ["flowrun.io"], "resources": ["flowruns"], "verbs": ["resume"],
                    "resourceNames": ["verbs"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "patchers"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "patchers"},
         "subjects": [{"kind": "User", "name": "mo"}, {"kind": "User", "name": "lu"}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "resumers"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "resumers"},
         "subjects": [{"kind": "User", "name": "lu"}]}]}))
    kubectl("apply", "-f", "-", namespace=ns, input=labelled(
        {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun", "metadata": {"name": "verbs"},
         "spec": {"flow": "examples.jokes:tell_joke"}}))
    wait_phase(ns, "verbs", "Paused")
    wait_for(lambda: kubectl("--as=lu", "auth", "can-i", "resume", "flowruns.flowrun.io/verbs",
                             namespace=ns, check=False).returncode == 0, timeout=30, what="lu's rights")
    running = json.dumps({"spec": {"state": "Running"}})
    out = kubectl("--as=mo", "patch", "fr", "verbs", "--type", "merge", "-p", running, namespace=ns, check=False)
    assert out.returncode != 0 and "[NotAllowed] mo may not resume FlowRun verbs" in out.stderr, out.stderr
    cancel = json.dumps({"spec": {"state": "Cancelled"}})
    out = kubectl("--as=lu", "patch", "fr", "verbs", "--type", "merge", "-p", cancel, namespace=ns, check=False)
    assert out.returncode != 0 and "`cancel` verb" in out.stderr, out.stderr
    out = kubectl("--as=lu", "patch", "fr", "verbs", "--type", "merge", "-p", running, namespace=ns, check=False)
    assert out.returncode == 0, out.stderr
    fr = wait_phase(ns, "verbs", "Completed", "Failed")
    assert [h["by"] for h in fr["status"]["history"] if h["action"] == "resumed"] == ["lu"]
