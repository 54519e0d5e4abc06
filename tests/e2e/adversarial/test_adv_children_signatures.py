"""Adversarial: subflows and signed records (issue 22, items 4 and 5).

Each test is an attack, made as the chart's personas (`kubectl --as`, `--as-group`, bound
to the ClusterRoles `helm template` renders) or as a run's own pod token, against the
session's operator (which has exactly the chart's rights) and the chart's admission
policy. Each asserts the refusal, with a message naming what is missing, AND that
nothing happened: no injected result, no object, the run unchanged.

- a person creates `<parent>-<uid8>-<key>` owned by the parent, to inject a result;
- a run's pod starts a child whose template is wider than its parent's by value, but
  described the same (a projected volume, init containers);
- signed approvals of a deleted run are replayed onto a new run of the same name while
  the webhook is bypassed;
- the person who started a run approves a pause of its subflow (the subflow's creator
  is the parent's runner, not her);
- the person who started a run writes her own approval, validly signed (obtained by
  calling the webhook directly), while the webhook is down: the operator does not count it.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import yaml

from cluster import kubectl, wait_for
from cluster.flowruns import apply, flowrun_manifest, get_fr, labelled, names, patch_fr, wait_phase
from flowrun.contract.children import child_name

pytestmark = pytest.mark.e2e

# A pod created just before its cache claim binds may wait for the scheduler's periodic
# retry of unschedulable pods (up to 5 minutes on the local cluster).
CLAIM_WAIT = 360
RESULT = "testflows.basic:returns_value"


# ---- the chart's personas -----------------------------------------------------------

@pytest.fixture(scope="module")
def persona_roles(kubeconfig):
    """The chart's persona ClusterRoles, as `helm template` renders them, under names of
    this session (several sessions share the cluster)."""
    from cluster.harness import helm_template
    from cluster.pytest_plugin import SESSION_PREFIX
    made = {}
    for doc in helm_template("--show-only", "templates/personas.yaml"):
        if doc["kind"] != "ClusterRole":
            continue
        persona = doc["metadata"]["name"].rsplit("-", 1)[-1]  # viewer, approver, editor
        doc["metadata"] = {"name": f"{SESSION_PREFIX}adv-{persona}"}
        made[persona] = doc["metadata"]["name"]
        kubectl("apply", "-f", "-", input=yaml.safe_dump(doc))
    assert set(made) == {"viewer", "approver", "editor"}, made
    yield made
    for name in made.values():
        kubectl("delete", "clusterrole", name, "--ignore-not-found", check=False)


def bind(namespace: str, roles: dict, persona: str, *, user: str = "", group: str = "") -> None:
    subject = f"--user={user}" if user else f"--group={group}"
    kubectl("create", "rolebinding", f"{persona}-{user or group}", f"--clusterrole={roles[persona]}", subject,
            namespace=namespace)


def as_(namespace: str, who: str, *args: str, groups: tuple[str, ...] = (), input: str | None = None):
    return kubectl(f"--as={who}", *[f"--as-group={g}" for g in groups], *args, namespace=namespace,
                   input=input, check=False)


def can(namespace: str, who: str, verb: str, groups: tuple[str, ...] = ()) -> bool:
    return as_(namespace, who, "auth", "can-i", verb, "flowruns.flowrun.io", groups=groups).returncode == 0


def flowruns(namespace: str) -> list[str]:
    return names("fr", namespace)


def runner(namespace: str, run: str) -> str:
    """The Kubernetes user of a run's own pod (its ServiceAccount's token)."""
    from flowrun.controller.admission import runner_account
    return runner_account({"metadata": {"namespace": namespace, "name": run}})


def linked_child(parent: dict, key: str, flow: str = RESULT, **spec) -> dict:
    """A FlowRun shaped exactly as run_flow shapes a linked child of `parent`."""
    meta = parent["metadata"]
    body = flowrun_manifest(child_name(meta["name"], meta["uid"], key), flow, **spec)
    body["metadata"]["labels"] = {"flowrun.io/parent": meta["name"]}
    body["metadata"]["ownerReferences"] = [{"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun",
                                            "name": meta["name"], "uid": meta["uid"], "controller": True,
                                            "blockOwnerDeletion": False}]
    return body


# ---- 1. a person injects a subflow's result --------------------------------------------

def test_a_person_cannot_inject_a_subflow_result(operator, namespace, persona_roles):
    """eve (editor) reads the parent's uid and creates its first child herself, before
    the parent does, with a flow returning her value: the parent's run_flow would find
    it (create -> 409 -> wait) and return her value."""
    ns = namespace
    bind(ns, persona_roles, "editor", user="eve")
    wait_for(lambda: can(ns, "eve", "create"), timeout=30, what="eve's rights")
    apply(ns, flowrun_manifest("victim", "testflows.adversarial:returns_child", state="Suspended"))
    victim = wait_phase(ns, "victim", "Suspended")
    posing = linked_child(victim, "sub-1", parameters={"x": 666})
    name = posing["metadata"]["name"]

    # With the webhook: refused at once, naming who may create it.
    out = as_(ns, "eve", "create", "-f", "-", input=labelled(posing))
    assert out.returncode != 0, out.stdout
    assert "only the run victim's own pod may create its children" in out.stderr, out.stderr
    assert "eve may not" in out.stderr, out.stderr
    assert name not in flowruns(ns)

    # Without the webhook (the namespace no longer selected by it, as when it is down):
    # claiming to be the parent's runner is refused by the API server itself (the records
    # policy); what eve may create is stored, but the operator neither starts it nor
    # copies anything of it into the parent, whose run_flow fails, saying why.
    from cluster.pytest_plugin import SESSION_LABEL
    kubectl("label", "namespace", ns, f"{SESSION_LABEL[0]}-")
    try:
        forged = json.loads(json.dumps(posing))
        forged["metadata"]["annotations"] = {"flowrun.io/created-by": runner(ns, "victim")}
        out = as_(ns, "eve", "create", "-f", "-", input=labelled(forged))
        assert out.returncode != 0, out.stdout
        assert "flowrun.io/created-by records who created the FlowRun: it may name only you (eve)" in out.stderr, \
            out.stderr
        assert name not in flowruns(ns)
        out = as_(ns, "eve", "create", "-f", "-", input=labelled(posing))
        assert out.returncode == 0, out.stderr
    finally:
        kubectl("label", "namespace", ns, f"{SESSION_LABEL[0]}={SESSION_LABEL[1]}")
    child = wait_for(lambda: (c := get_fr(ns, name)).get("status", {}).get("message") and c, timeout=60,
                     what="the operator to look at eve's FlowRun")
    assert "not created by the pod of run victim" in child["status"]["message"], child["status"]
    assert not child["status"].get("phase"), child["status"]
    patch_fr(ns, "victim", {"spec": {"state": "Running"}})
    fr = wait_phase(ns, "victim", "Completed", "Failed", timeout=CLAIM_WAIT)
    assert fr["status"]["phase"] == "Failed", fr["status"]
    assert "not created by the pod of run victim" in fr["status"]["message"], fr["status"]
    assert "666" not in json.dumps(fr["status"]), fr["status"]
    assert names("jobs", ns, f"flowrun.io/run={name}") == []  # eve's flow never ran


# ---- 2. a child wider than its parent, described the same ------------------------------

def test_a_run_cannot_start_a_child_wider_than_itself_by_value(operator, namespace, runner_image):
    ns = namespace
    kubectl("create", "secret", "generic", "db", "--from-literal=password=hunter2", namespace=ns)
    token = {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "token",
                                                                                  "expirationSeconds": 3600}}]}}
    init = {"name": "init", "image": runner_image, "command": ["python", "-c", "pass"]}
    template = {"spec": {"volumes": [token], "initContainers": [init]}}
    # The admin (who may create pods) approves the parent's harmless projected token.
    apply(ns, flowrun_manifest("parent", "testflows.basic:sleeps", parameters={"seconds": 300}, template=template))
    assert get_fr(ns, "parent")["metadata"]["annotations"].get("flowrun.io/template-approval")
    wait_for(lambda: "parent-runner" in names("rolebindings", ns), timeout=60, what="the parent's RoleBinding")
    parent = get_fr(ns, "parent")
    pod = runner(ns, "parent")

    secret_source = {"name": "token", "projected": {"sources": [{"secret": {"name": "db"}}]}}
    secret_env = {"name": "init", "image": runner_image, "command": ["python", "-c", "pass"],
                  "env": [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]}
    attacks = {
        "projected": ({"spec": {"volumes": [secret_source], "initContainers": [init]}}, "spec.volumes[token]"),
        "init": ({"spec": {"volumes": [token], "initContainers": [secret_env]}}, "spec.initContainers"),
    }
    for key, (wider, says) in attacks.items():
        child = linked_child(parent, key, template=wider)
        out = as_(ns, pod, "create", "-f", "-", input=labelled(child))
        assert out.returncode != 0, f"{key}: {out.stdout}"
        assert "reaches further than its own" in out.stderr and says in out.stderr, out.stderr
        assert child["metadata"]["name"] not in flowruns(ns)

    # A child within the allow-list is its own business (what run_flow does). (One as wide
    # as its approved parent passes this check, but the chart's tenancy policy admits a
    # template approval only from someone who may create pods, which a run's pod may not:
    # docs/security.md, residual risks.)
    plain = linked_child(parent, "plain", template={"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}}})
    out = as_(ns, pod, "create", "-f", "-", input=labelled(plain))
    assert out.returncode == 0, out.stderr
    assert flowruns(ns) == sorted(["parent", plain["metadata"]["name"]])


# ---- 3. approvals replayed onto a re-created run ----------------------------------------

FINANCE = ("finance",)


def test_approvals_of_a_deleted_run_do_not_count_for_its_successor(operator, namespace, persona_roles):
    ns = namespace
    bind(ns, persona_roles, "editor", user="carol")
    bind(ns, persona_roles, "approver", group="finance")
    bind(ns, persona_roles, "editor", user="eve")
    wait_for(lambda: can(ns, "alice", "resume", FINANCE) and can(ns, "eve", "create"), timeout=30,
             what="the personas' rights")
    manifest = labelled(flowrun_manifest("pay", "testflows.approvals:two_finance_approvals"))
    as_(ns, "carol", "create", "-f", "-", input=manifest)
    wait_phase(ns, "pay", "Paused", timeout=CLAIM_WAIT)
    go = json.dumps({"spec": {"state": "Running", "input": {"ok": True}}})
    for who in ("alice", "bob"):
        assert as_(ns, who, "patch", "fr", "pay", "--type", "merge", "-p", go, groups=FINANCE).returncode == 0
    done = wait_phase(ns, "pay", "Completed", "Failed")
    assert done["status"]["result"] is True
    signed = done["metadata"]["annotations"]["flowrun.io/approvals"]
    assert len(json.loads(signed)["entries"]) == 2

    # eve deletes it and starts it again under the same name: same pause, same approvers.
    assert as_(ns, "eve", "delete", "fr", "pay").returncode == 0
    wait_for(lambda: "pay" not in flowruns(ns) and "pay-cache" not in names("pvc", ns)
             and "pay-runner" not in names("serviceaccounts", ns), timeout=120,
             what="the old run and what it owned to go")
    assert as_(ns, "eve", "create", "-f", "-", input=manifest).returncode == 0
    again = wait_phase(ns, "pay", "Paused", timeout=CLAIM_WAIT)
    # With the webhook bypassed, she writes the old signed approvals and resumes: the
    # API server's records policy refuses the approvals of others outright...
    from cluster.pytest_plugin import SESSION_LABEL
    kubectl("label", "namespace", ns, f"{SESSION_LABEL[0]}-")
    try:
        replay = {"metadata": {"annotations": {"flowrun.io/approvals": signed}},
                  "spec": {"state": "Running", "input": {"ok": False}}}
        out = as_(ns, "eve", "patch", "fr", "pay", "--type", "merge", "-p", json.dumps(replay))
        assert out.returncode != 0 and "flowrun.io/approvals records who approved a pause" in out.stderr, out
        assert "flowrun.io/approvals" not in (get_fr(ns, "pay")["metadata"].get("annotations") or {})
        # ...and her resume alone, without them, is put back by the operator.
        resume = {"spec": {"state": "Running", "input": {"ok": False}}}
        out = as_(ns, "eve", "patch", "fr", "pay", "--type", "merge", "-p", json.dumps(resume))
        assert out.returncode == 0, out.stderr
    finally:
        kubectl("label", "namespace", ns, f"{SESSION_LABEL[0]}={SESSION_LABEL[1]}")

    def put_back():
        cur = get_fr(ns, "pay")
        return cur if "not counted" in cur["status"].get("message", "") and cur["spec"]["state"] == "Paused" else None
    fr = wait_for(put_back, timeout=60, what="the operator to refuse the replayed approvals")
    assert "needs 2 approvals" in fr["status"]["message"] and "0 given" in fr["status"]["message"], fr["status"]
    assert fr["status"]["phase"] == "Paused" and not fr["status"]["pause"]["approval"]["approvals"]
    assert fr["metadata"]["uid"] == again["metadata"]["uid"] and "result" not in fr["status"]
    assert not [h for h in fr["status"]["history"] if h["action"] in ("approved", "resumed")]


def test_an_approval_signed_for_someone_else_cannot_be_written_while_the_webhook_is_down(
        operator, namespace, persona_roles):
    """Anyone who can reach the webhook's port can obtain a real signature for an approval
    by anyone (a forged AdmissionReview: test_adv_pod_shaping); here such an entry is made
    with the session webhook's own key. While the webhook does not answer (the namespace
    unlabelled: failurePolicy Ignore), eve writes it, one for herself naming a group she is
    not in, and one for herself with her real groups (the pause does not name her): the
    API server's records policy refuses each, nothing is written, the run still waits.
    Then carol, who started the run, writes her own such entry and resumes: the policy
    admits it (it does not know who started the run), the operator does not count it and
    puts the resume back."""
    from flowrun.contract import approvals
    from flowrun.contract.signing import digest, single
    ns = namespace
    bind(ns, persona_roles, "editor", user="carol")
    bind(ns, persona_roles, "approver", group="finance")
    bind(ns, persona_roles, "editor", user="eve")
    wait_for(lambda: can(ns, "eve", "create"), timeout=30, what="the personas' rights")
    as_(ns, "carol", "create", "-f", "-", input=labelled(flowrun_manifest("pay", "testflows.approvals:two_finance_approvals")))
    fr = wait_phase(ns, "pay", "Paused", timeout=CLAIM_WAIT)
    keys = single((operator.workdir / "webhook-certs" / "tls.key").read_bytes())
    pause = fr["status"]["pause"]

    def entry(by: str, groups: list[str]) -> dict:
        e = {"by": by, "groups": groups, "time": "2026-12-02T00:00:00Z", "input": digest({"ok": True})}
        return {**e, "sig": approvals.sign(keys, fr, pause, e)}

    def record(*entries: dict) -> str:
        return json.dumps({"key": pause["key"], "uid": fr["metadata"]["uid"], "generation": pause["generation"],
                           "entries": list(entries)}, separators=(",", ":"), ensure_ascii=False)

    forged = record(entry("alice", ["finance", "system:authenticated"]), entry("bob", ["finance", "system:authenticated"]))
    # What eve would gain if it were written: both count.
    assert [e["by"] for e in approvals.verified({**fr, "metadata": {**fr["metadata"], "annotations": {
        approvals.ANNOTATION_APPROVALS: forged}}}, pause, keys, datetime.now(timezone.utc))] == ["alice", "bob"]
    from cluster.pytest_plugin import SESSION_LABEL
    kubectl("label", "namespace", ns, f"{SESSION_LABEL[0]}-")
    try:
        # someone else's; her own naming a group she is not in; her own with her real
        # groups (the pause names only group:finance)
        for text in (forged, record(entry("eve", ["finance", "system:authenticated"])),
                     record(entry("eve", ["system:authenticated"]))):
            patch = {"metadata": {"annotations": {approvals.ANNOTATION_APPROVALS: text}},
                     "spec": {"state": "Running", "input": {"ok": True}}}
            out = as_(ns, "eve", "patch", "fr", "pay", "--type", "merge", "-p", json.dumps(patch),
                      groups=("system:authenticated",))
            assert out.returncode != 0, out.stdout
            assert "flowrun.io/approvals records who approved a pause" in out.stderr and "eve" in out.stderr, out.stderr
    finally:
        kubectl("label", "namespace", ns, f"{SESSION_LABEL[0]}={SESSION_LABEL[1]}")
    now = get_fr(ns, "pay")
    assert approvals.ANNOTATION_APPROVALS not in (now["metadata"].get("annotations") or {})
    assert now["spec"]["state"] == "Paused" and now["metadata"]["generation"] == fr["metadata"]["generation"]
    assert now["status"]["phase"] == "Paused" and not now["status"]["pause"]["approval"]["approvals"]

    # The creator's own approval: carol started the run and is in finance, which the pause
    # names. The webhook refuses her resume (allow_creator is off), but an entry signed for
    # her is obtained like the ones above, and the records policy lets her write her own
    # (it does not know who started the run): the operator does not count it, and puts her
    # resume back.
    mine = ("finance", "system:authenticated")
    own = record(entry("carol", list(mine)))
    kubectl("label", "namespace", ns, f"{SESSION_LABEL[0]}-")
    try:
        patch = {"metadata": {"annotations": {approvals.ANNOTATION_APPROVALS: own}},
                 "spec": {"state": "Running", "input": {"ok": True}}}
        out = as_(ns, "carol", "patch", "fr", "pay", "--type", "merge", "-p", json.dumps(patch), groups=mine)
        assert out.returncode == 0, out.stderr  # written: the attack reaches the operator
    finally:
        kubectl("label", "namespace", ns, f"{SESSION_LABEL[0]}={SESSION_LABEL[1]}")
    written = get_fr(ns, "pay")
    assert [e["by"] for e in approvals.verified(written, pause, keys, datetime.now(timezone.utc))] == ["carol"], \
        "a valid signature for carol"

    def put_back():
        cur = get_fr(ns, "pay")
        return cur if "not counted" in cur["status"].get("message", "") and cur["spec"]["state"] == "Paused" else None
    fr = wait_for(put_back, timeout=60, what="the operator to put back the creator's own approval")
    assert "needs 2 approvals" in fr["status"]["message"] and "0 given" in fr["status"]["message"], fr["status"]
    assert fr["status"]["phase"] == "Paused" and not fr["status"]["pause"]["approval"]["approvals"]
    assert "result" not in fr["status"]
    assert not [h for h in fr["status"]["history"] if h["action"] in ("approved", "resumed")]


# ---- 4. creator exclusion through a subflow ----------------------------------------------

def test_who_started_the_root_run_may_not_approve_its_subflows_pause(operator, namespace, persona_roles):
    ns = namespace
    bind(ns, persona_roles, "editor", group="finance")  # carol and alice are both in finance
    wait_for(lambda: can(ns, "carol", "create", FINANCE), timeout=30, what="the personas' rights")
    root = labelled(flowrun_manifest("root", "testflows.adversarial:parent_of_approval"))
    assert as_(ns, "carol", "create", "-f", "-", input=root, groups=FINANCE).returncode == 0
    sub = child_name("root", get_fr(ns, "root")["metadata"]["uid"], "sub-1")
    child = wait_phase(ns, sub, "Paused", timeout=CLAIM_WAIT)
    assert child["status"]["pause"]["approval"]["approvers"] == ["group:finance"]

    go = json.dumps({"spec": {"state": "Running", "input": {"ok": True}}})
    out = as_(ns, "carol", "patch", "fr", sub, "--type", "merge", "-p", go, groups=FINANCE)
    assert out.returncode != 0, out.stdout
    assert "carol started the run root" in out.stderr and "may not approve" in out.stderr, out.stderr
    cur = get_fr(ns, sub)
    assert cur["spec"]["state"] == "Paused" and cur["status"]["phase"] == "Paused"
    assert not cur["status"]["pause"]["approval"]["approvals"]
    assert "flowrun.io/approvals" not in (cur["metadata"].get("annotations") or {})

    # Someone else of finance may, and the whole family completes.
    assert as_(ns, "alice", "patch", "fr", sub, "--type", "merge", "-p", go, groups=FINANCE).returncode == 0
    fr = wait_phase(ns, "root", "Completed", "Failed", timeout=CLAIM_WAIT)
    assert fr["status"]["result"] == {"child": True}, fr["status"]
