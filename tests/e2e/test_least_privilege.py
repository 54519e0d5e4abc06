"""Least privilege on the real cluster (issue 11): what flow code and users may ask for in
a FlowRun, who may start whose children, and whose name history gives.

Identities are impersonated with `kubectl --as` (the admin kubeconfig may impersonate):
a run's own ServiceAccount, a user who may create FlowRuns but not pods, and the admin.
"""
from __future__ import annotations

import json
import secrets

import pytest
import yaml

from cluster import kubectl, wait_for
from cluster.flowruns import apply, flowrun_manifest, get_fr, labelled, names, wait_phase
from flowrun.contract.children import child_name

pytestmark = pytest.mark.e2e

FLOW = "testflows.basic:returns_value"
# A pod created just before its cache claim binds may wait for the scheduler's periodic
# retry of unschedulable pods (up to 5 minutes on the local cluster).
CLAIM_WAIT = 360


def create_as(namespace: str, who: str, manifest: dict):
    return kubectl("create", "-f", "-", "--as", who, namespace=namespace, input=labelled(manifest),
                   check=False)


def linked_child(parent: dict, key: str, **spec) -> dict:
    meta = parent["metadata"]
    body = flowrun_manifest(child_name(meta["name"], meta["uid"], key), FLOW, **spec)
    body["metadata"]["labels"] = {"flowrun.io/parent": meta["name"]}
    body["metadata"]["ownerReferences"] = [{"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun",
                                            "name": meta["name"], "uid": meta["uid"], "controller": True,
                                            "blockOwnerDeletion": False}]
    return body


ANOTHER_ACCOUNT = {"spec": {"serviceAccountName": "builder"}}
PRIVILEGED = {"spec": {"containers": [{"name": "flow", "securityContext": {"privileged": True}}]}}
HOST_PATH = {"spec": {"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}}


def test_a_runs_account_starts_only_its_own_children_no_wider_than_itself(operator, namespace):
    apply(namespace, flowrun_manifest("parent", "testflows.basic:sleeps", parameters={"seconds": 120}))
    apply(namespace, flowrun_manifest("victim", FLOW, state="Suspended"))
    victim = get_fr(namespace, "victim")
    # The run's account is bound once the operator starts the run (its pod need not run).
    wait_for(lambda: "parent-runner" in names("rolebindings", namespace), timeout=60,
             what="the parent run's RoleBinding")
    parent = get_fr(namespace, "parent")
    flow_code = f"system:serviceaccount:{namespace}:parent-runner"

    for name, template, says in [("sa", ANOTHER_ACCOUNT, "serviceAccountName: 'builder'"),
                                 ("priv", PRIVILEGED, "privileged"), ("host", HOST_PATH, "hostPath ('/')")]:
        out = create_as(namespace, flow_code, linked_child(parent, name, template=template))
        assert out.returncode != 0, f"{name}: {out.stdout}"
        assert "reaches further than its own" in out.stderr and says in out.stderr, out.stderr

    # Posing as the victim's child: the old naming scheme, and the victim's real prefix.
    for key in ("sub-1", "mine"):
        posing = linked_child(victim, key)
        if key == "sub-1":
            posing["metadata"]["name"] = "victim-sub-1"
        out = create_as(namespace, flow_code, posing)
        assert out.returncode != 0 and "may create only its own children" in out.stderr, out.stderr
    # An independent child labelled with another run's uid, or not labelled at all.
    independent = flowrun_manifest(child_name("parent", parent["metadata"]["uid"], "free"), FLOW)
    independent["metadata"]["labels"] = {"flowrun.io/started-by": "parent",
                                         "flowrun.io/started-by-uid": victim["metadata"]["uid"]}
    out = create_as(namespace, flow_code, independent)
    assert out.returncode != 0 and "may create only its own children" in out.stderr, out.stderr

    # Its own linked child, within the allow-list: allowed, and it runs.
    mine = linked_child(parent, "mine", template={"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}}})
    out = create_as(namespace, flow_code, mine)
    assert out.returncode == 0, out.stderr
    done = wait_phase(namespace, mine["metadata"]["name"], "Completed", "Failed", timeout=CLAIM_WAIT)
    assert done["status"]["phase"] == "Completed", done["status"]
    history = done["status"]["history"]
    assert history[0]["action"] == "created" and history[0]["by"] == flow_code, history


def test_only_someone_who_may_create_pods_asks_for_more_than_the_allow_list(operator, namespace):
    # eve may create FlowRuns, not pods.
    kubectl("create", "role", "flowrun-creator", "--verb=create,get", "--resource=flowruns.flowrun.io",
            namespace=namespace)
    kubectl("create", "rolebinding", "eve", "--role=flowrun-creator", "--user=eve", namespace=namespace)
    kubectl("create", "serviceaccount", "builder", namespace=namespace)
    for name, template, says in [("sa", ANOTHER_ACCOUNT, "serviceAccountName"),
                                 ("priv", PRIVILEGED, "privileged"), ("host", HOST_PATH, "hostPath")]:
        out = create_as(namespace, "eve", flowrun_manifest(f"eve-{name}", FLOW, template=template))
        assert out.returncode != 0, out.stdout
        assert "eve may not create pods" in out.stderr and says in out.stderr, out.stderr
    out = create_as(namespace, "eve", flowrun_manifest("eve-ok", FLOW, template={
        "metadata": {"labels": {"user.flowrun.io/team": "a"}},
        "spec": {"containers": [{"name": "flow", "env": [{"name": "A", "value": "1"}],
                                 "resources": {"requests": {"cpu": "10m"}}}]}}))
    assert out.returncode == 0, out.stderr
    assert wait_phase(namespace, "eve-ok", "Completed", "Failed", timeout=CLAIM_WAIT)["status"]["phase"] == "Completed"

    # The admin may: the Job's pod then runs as the named account.
    apply(namespace, flowrun_manifest("admin-sa", "testflows.basic:sleeps", parameters={"seconds": 60},
                                      template=ANOTHER_ACCOUNT))
    fr = get_fr(namespace, "admin-sa")
    assert fr["metadata"]["annotations"].get("flowrun.io/template-approval")

    def pod_account():
        out = kubectl("get", "jobs", "-l", "flowrun.io/run=admin-sa", "-o",
                      "jsonpath={.items[*].spec.template.spec.serviceAccountName}", namespace=namespace)
        return out.stdout.strip()
    assert wait_for(pod_account, timeout=60, what="the admin's run's Job") == "builder"
    # A client cannot carry the approval over to another template.
    out = kubectl("patch", "fr", "admin-sa", "--type", "merge", "--as", "eve", "-p",
                  json.dumps({"metadata": {"annotations": {"flowrun.io/template-approval": "forged"}}}),
                  namespace=namespace, check=False)
    assert out.returncode != 0  # eve may not patch runs at all (RBAC), and the webhook would undo it
    kubectl("patch", "fr", "admin-sa", "--type", "merge", "-p",
            json.dumps({"metadata": {"annotations": {"flowrun.io/template-approval": "forged"}}}), namespace=namespace)
    assert get_fr(namespace, "admin-sa")["metadata"]["annotations"]["flowrun.io/template-approval"] == \
        fr["metadata"]["annotations"]["flowrun.io/template-approval"]


@pytest.fixture
def unhooked_namespace(kubeconfig):
    """A namespace the session operator watches but its webhook does not (no session
    label): as if the webhook were unreachable (failurePolicy Ignore)."""
    from cluster.pytest_plugin import SESSION_PREFIX
    name = f"{SESSION_PREFIX}nohook-{secrets.token_hex(3)}"
    kubectl("create", "namespace", name)
    wait_for(lambda: kubectl("get", "serviceaccount", "default", namespace=name, check=False).returncode == 0,
             timeout=60, what=f"default ServiceAccount in {name}")
    yield name
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def test_without_the_webhook_a_wider_template_fails_and_nobody_is_credited(operator, unhooked_namespace):
    ns = unhooked_namespace
    forged = flowrun_manifest("wide", FLOW, template=ANOTHER_ACCOUNT)
    forged["metadata"]["annotations"] = {"flowrun.io/template-approval": "0" * 64,
                                         "flowrun.io/changed-by": "somebody-else"}
    apply(ns, forged)
    fr = wait_phase(ns, "wide", "Failed", "Completed", timeout=60)
    assert fr["status"]["phase"] == "Failed"
    assert "did not approve" in fr["status"]["message"] and "serviceAccountName" in fr["status"]["message"]
    assert kubectl("get", "jobs", "-o", "name", namespace=ns).stdout.strip() == ""
    assert fr["status"]["history"][0]["by"] == "unknown", fr["status"]["history"]


def test_a_clients_own_changed_by_is_not_credited(operator, namespace):
    me = kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout.strip()
    manifest = flowrun_manifest("audited", FLOW, state="Suspended")
    manifest["metadata"]["annotations"] = {"flowrun.io/changed-by": "somebody-else",
                                           "flowrun.io/changed-by-generation": "1"}
    apply(namespace, manifest)
    fr = wait_phase(namespace, "audited", "Suspended")
    assert fr["status"]["history"][0]["by"] == me, fr["status"]["history"]
    kubectl("patch", "fr", "audited", "--type", "merge", "-p", json.dumps({
        "metadata": {"annotations": {"flowrun.io/changed-by": "mallory",
                                     "flowrun.io/changed-by-generation": str(fr["metadata"]["generation"] + 1)}},
        "spec": {"state": "Running"}}), namespace=namespace)
    fr = wait_phase(namespace, "audited", "Completed", "Failed", timeout=CLAIM_WAIT)
    # (the runner adds its own "started" entry, by "runner")
    started = [e for e in fr["status"]["history"] if e["action"] == "started" and e["by"] != "runner"]
    assert [e["by"] for e in started] == [me], fr["status"]["history"]
    assert "mallory" not in json.dumps(fr["status"]["history"])
    assert "somebody-else" not in json.dumps(fr["status"]["history"])
