"""Adversarial: what a FlowRun may shape in its pod reaches no further than the person's own
RBAC (issue 22, items 2, 3, 6; docs/security.md, "Threat model").

Run against the operator with exactly the chart's rights (tests/e2e/conftest.py) and the
chart's tenancy policy (templates/admission-policy.yaml, applied as Helm would), acting as
the chart's personas (`kubectl --as eve --as-group system:authenticated`, the chart's
editor or approver ClusterRole bound in the test's namespace), as a run's own pod token
(its ServiceAccount), and as any pod of the cluster calling the webhook directly. Each test
asserts the refusal (the message names the missing right) AND that nothing happened.
"""
from __future__ import annotations

import base64
import json
import secrets
import textwrap
from datetime import datetime, timezone

import pytest
import yaml

from cluster import kubectl, wait_for
from cluster.flowruns import apply, flowrun_manifest, get_fr, labelled, names, wait_phase
from cluster.harness import helm_template
from flowrun.contract import template_policy as policy
from flowrun.contract.signing import single
from flowrun.contract.children import child_name

pytestmark = pytest.mark.e2e

FLOW = "testflows.basic:returns_value"
SECRET_VOLUME = {"spec": {"volumes": [{"name": "db", "secret": {"secretName": "db-password"}}],
                          "containers": [{"name": "flow", "volumeMounts": [{"name": "db", "mountPath": "/db"}]}]}}


# ---- the chart's personas, and acting as someone ---------------------------------------

@pytest.fixture(scope="module")
def personas(kubeconfig) -> dict[str, str]:
    """The chart's persona ClusterRoles (templates/personas.yaml), by persona name."""
    from cluster.pytest_plugin import SESSION_PREFIX
    roles = [d for d in helm_template("--show-only", "templates/personas.yaml", release=f"{SESSION_PREFIX}adv")
             if d["kind"] == "ClusterRole"]
    kubectl("apply", "-f", "-", input=yaml.safe_dump_all(roles))
    yield {d["metadata"]["name"].rsplit("-", 1)[1]: d["metadata"]["name"] for d in roles}
    kubectl("delete", "clusterrole", *[d["metadata"]["name"] for d in roles], "--ignore-not-found", check=False)


def bind(namespace: str, role: str, user: str) -> None:
    kubectl("create", "rolebinding", f"{user}-{role.rsplit('-', 1)[1]}", f"--clusterrole={role}",
            f"--user={user}", namespace=namespace)


def as_(user: str) -> list[str]:
    """kubectl acting as `user`: a person (authenticated) or a ServiceAccount."""
    if user.startswith("system:serviceaccount:"):
        return ["--as", user]
    return ["--as", user, "--as-group", "system:authenticated"]


def create_as(namespace: str, user: str, manifest: dict):
    return kubectl("create", "-f", "-", *as_(user), namespace=namespace, input=labelled(manifest), check=False)


def patch_as(namespace: str, user: str, name: str, patch: dict):
    return kubectl("patch", "fr", name, "--type", "merge", "-p", json.dumps(patch), *as_(user),
                   namespace=namespace, check=False)


def exists(namespace: str, kind: str, name: str) -> bool:
    return kubectl("get", kind, name, "-o", "name", namespace=namespace, check=False).returncode == 0


def refused(out, *says: str) -> None:
    assert out.returncode != 0, f"allowed: {out.stdout}"
    for text in says:
        assert text in out.stderr, f"{text!r} not in: {out.stderr}"


def unchanged(namespace: str, name: str, before: dict) -> None:
    """The FlowRun is exactly as it was (same spec, annotations and generation)."""
    now = get_fr(namespace, name)
    assert now["metadata"]["generation"] == before["metadata"]["generation"]
    assert now["spec"] == before["spec"]
    assert (now["metadata"].get("annotations") or {}) == (before["metadata"].get("annotations") or {})


def admin_apply(namespace: str, *objects: dict) -> None:
    kubectl("apply", "-f", "-", namespace=namespace, input=yaml.safe_dump_all(list(objects)))


def claim(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}}}}


def secret(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {"password": "s3cret"}}


def configmap(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}


def may_get(namespace: str, user: str, resource: str, name: str) -> None:
    """The admin lets `user` get one object (a Role with resourceNames)."""
    kubectl("create", "role", f"get-{name}", "--verb=get", f"--resource={resource}", f"--resource-name={name}",
            namespace=namespace)
    kubectl("create", "rolebinding", f"{user}-get-{name}", f"--role=get-{name}", f"--user={user}",
            namespace=namespace)


def runs_and_jobs(namespace: str) -> tuple[list[str], list[str]]:
    return names("flowruns", namespace), names("jobs", namespace)


# ---- spec.cache.claimName --------------------------------------------------------------

def test_a_claim_the_person_may_not_get_is_never_mounted(operator, namespace, personas):
    """A database's claim, and another run's per-run cache claim (whose pickle entries the
    owner's re-executed run would load: code execution as the owner), as eve (editor) and as
    a run's own pod token; that token also may not change its own run's image, template or
    cache (P9)."""
    bind(namespace, personas["editor"], "eve")
    admin_apply(namespace, claim("database"), claim("victim-cache"))
    for name in ("database", "victim-cache"):
        out = create_as(namespace, "eve", flowrun_manifest(f"steal-{name}", FLOW, cache={"claimName": name}))
        refused(out, f"eve may not get PersistentVolumeClaim {name} in {namespace}")
        assert not exists(namespace, "fr", f"steal-{name}")
    assert runs_and_jobs(namespace) == ([], [])

    # A run's own pod token: flow code naming a claim for its child, or shortening its TTL.
    apply(namespace, flowrun_manifest("parent", "testflows.basic:sleeps", parameters={"seconds": 120}))
    wait_for(lambda: "parent-runner" in names("rolebindings", namespace), timeout=120,
             what="the parent run's RoleBinding")
    parent = get_fr(namespace, "parent")
    flow_code = f"system:serviceaccount:{namespace}:parent-runner"
    child = flowrun_manifest(child_name("parent", parent["metadata"]["uid"], "steal"), FLOW,
                             cache={"claimName": "victim-cache"})
    child["metadata"]["labels"] = {"flowrun.io/started-by": "parent",
                                   "flowrun.io/started-by-uid": parent["metadata"]["uid"]}
    out = create_as(namespace, flow_code, child)
    refused(out, f"{flow_code} may not get PersistentVolumeClaim victim-cache")
    assert not exists(namespace, "fr", child["metadata"]["name"])
    out = patch_as(namespace, flow_code, "parent", {"spec": {"ttlSecondsAfterFinished": 1}})
    refused(out, f"{flow_code} may not delete FlowRun parent")
    assert "ttlSecondsAfterFinished" not in get_fr(namespace, "parent")["spec"]
    # P9: flow code may patch its own run (its Role), but never the fields that shape its
    # pod: a new image, a template within the allow-list (nothing else would refuse it), a
    # cache on another claim. Each refused by the webhook, the run unchanged.
    before = get_fr(namespace, "parent")
    for change in ({"image": "busybox:latest"},
                   {"template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}}}},
                   {"cache": {"allowPickle": True}}):
        out = patch_as(namespace, flow_code, "parent", {"spec": change})
        refused(out, "a run's ServiceAccount may not change spec.template, spec.image or spec.cache")
        unchanged(namespace, "parent", before)
    kubectl("patch", "fr", "parent", "--type", "merge", "-p", '{"spec":{"state":"Cancelled"}}', namespace=namespace)

    # The admin lets eve get one claim: she may share it (what a team that shares a claim does).
    may_get(namespace, "eve", "persistentvolumeclaims", "database")
    out = create_as(namespace, "eve", flowrun_manifest("shared", FLOW, state="Suspended",
                                                        cache={"claimName": "database"}))
    assert out.returncode == 0, out.stderr
    refused(create_as(namespace, "eve", flowrun_manifest("steal-again", FLOW, cache={"claimName": "victim-cache"})),
            "eve may not get PersistentVolumeClaim victim-cache")


# ---- owned, never adopted ----------------------------------------------------------------

def test_objects_of_the_names_a_run_needs_are_never_adopted(operator, namespace, personas):
    """A FlowRun named `gitlab` next to a `gitlab-runner` ServiceAccount with a RoleBinding
    (it would run as that account, with its rights); the same for the Role, the
    RoleBinding, the per-run claim and the Job of a run's names."""
    bind(namespace, personas["editor"], "eve")
    theirs = {
        ("gitlab", "ServiceAccount", "gitlab-runner"): [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "gitlab-runner"}},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "ci-secrets"},
             "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "ci-secrets"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "ci-secrets"},
             "subjects": [{"kind": "ServiceAccount", "name": "gitlab-runner", "namespace": namespace}]}],
        ("deploy", "Role", "deploy-runner"): [
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "deploy-runner"},
             "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}],
        ("backup", "RoleBinding", "backup-runner"): [
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "backup-runner"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "ci-secrets"},
             "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": namespace}]}],
        ("db", "PersistentVolumeClaim", "db-cache"): [claim("db-cache")],
        ("report", "Job", "report-1"): [
            {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "report-1"},
             "spec": {"suspend": True, "template": {"spec": {"restartPolicy": "Never", "containers": [
                 {"name": "c", "image": "registry.invalid/report:1"}]}}}}],
    }
    for objects in theirs.values():
        admin_apply(namespace, *objects)
    before = {(kind, name): json.loads(kubectl("get", kind, name, "-o", "json", namespace=namespace).stdout)
              for (_, kind, name) in theirs}
    for run, _, _ in theirs:
        out = create_as(namespace, "eve", flowrun_manifest(run, FLOW))
        assert out.returncode == 0, out.stderr
    for run, kind, name in theirs:
        # Failed, or (before owned-never-adopted) an attempt started with their object.
        status = wait_for(lambda: (s := get_fr(namespace, run).get("status") or {}).get("phase") == "Failed"
                          and s or s.get("jobUID") and s, timeout=120, what=f"{run} to fail or start")
        assert status["phase"] == "Failed" and status.get("reason") == "Conflict", status
        assert f"{kind} {name} already exists and does not belong to this run" in status["message"], status
        failed = next(c for c in status["conditions"] if c["type"] == "Failed")
        assert failed["status"] == "True" and f"{kind} {name}" in failed["message"]
        events = kubectl("get", "events", "--field-selector", f"involvedObject.name={run},reason=Conflict",
                         "-o", "jsonpath={.items[*].message}", namespace=namespace).stdout
        assert f"{kind} {name}" in events, events
        # Nothing happened: no Job of the run's own, no pod, their object untouched.
        assert names("jobs", namespace, f"flowrun.io/run={run}") == []
        assert names("pods", namespace, f"flowrun.io/run={run}") == []
        now = json.loads(kubectl("get", kind, name, "-o", "json", namespace=namespace).stdout)
        assert now["metadata"]["resourceVersion"] == before[(kind, name)]["metadata"]["resourceVersion"], now
        assert not now["metadata"].get("ownerReferences"), now["metadata"]
    assert json.loads(kubectl("get", "job", "report-1", "-o", "json", namespace=namespace).stdout)["spec"]["suspend"]


# ---- template fields that reach past RBAC ----------------------------------------------

def test_labels_priority_and_configmaps_reach_no_further_than_the_persons_rbac(operator, namespace, personas):
    bind(namespace, personas["editor"], "eve")
    admin_apply(namespace, configmap("payroll"), configmap("public"),
                {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                 "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
    may_get(namespace, "eve", "configmaps", "public")

    def c(**fields):
        return {"spec": {"containers": [{"name": "flow", **fields}]}}
    attacks = {
        # a label that puts eve's pod behind another workload's Service (its endpoints move)
        "label": ({"metadata": {"labels": {"app": "web"}}}, ["eve may not create pods", "metadata.labels[app]"]),
        "priority": ({"spec": {"priorityClassName": "system-node-critical"}},
                     ["eve may not create pods", "priorityClassName: 'system-node-critical'"]),
        "env": (c(env=[{"name": "P", "valueFrom": {"configMapKeyRef": {"name": "payroll", "key": "k"}}}]),
                ["eve may not get every ConfigMap spec.template references (payroll)", namespace]),
        "envfrom": (c(envFrom=[{"configMapRef": {"name": "payroll"}}]),
                    ["eve may not get every ConfigMap spec.template references (payroll)", namespace]),
        "volume": ({"spec": {"volumes": [{"name": "p", "configMap": {"name": "payroll"}}]}},
                   ["eve may not get every ConfigMap spec.template references (payroll)", namespace]),
        "projected": ({"spec": {"volumes": [{"name": "p", "projected": {"sources": [
            {"configMap": {"name": "payroll"}}]}}]}}, ["eve may not", "projected"]),
    }
    by_webhook = []
    for name, (template, says) in attacks.items():
        out = create_as(namespace, "eve", flowrun_manifest(f"eve-{name}", FLOW, template=template))
        refused(out, *says)
        # Our webhook's refusal leads with its code (the doors sort refusals by it); the
        # chart's tenancy policy, run by the API server, may refuse first, in its words.
        if "ValidatingAdmissionPolicy" not in out.stderr:
            assert "denied the request: [NotAllowed] " in out.stderr, out.stderr
            by_webhook.append(name)
        assert not exists(namespace, "fr", f"eve-{name}")
    assert by_webhook, "no attack reached the webhook"
    assert runs_and_jobs(namespace) == ([], [])
    assert names("pods", namespace, "app=web") == []
    endpoints = kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=web",
                        "-o", "jsonpath={.items[*].endpoints}", namespace=namespace).stdout.strip()
    assert endpoints in ("", "[]", "null"), endpoints  # the Service has no endpoint

    # What she may: her own label prefix, a ConfigMap she may get.
    ok = flowrun_manifest("eve-ok", FLOW, state="Suspended", template={
        "metadata": {"labels": {"user.flowrun.io/team": "a"}},
        "spec": {"containers": [{"name": "flow", "envFrom": [{"configMapRef": {"name": "public"}}]}]}})
    out = create_as(namespace, "eve", ok)
    assert out.returncode == 0, out.stderr
    # ...and by a later change, the same refusals; the run stays as it was.
    before = get_fr(namespace, "eve-ok")
    refused(patch_as(namespace, "eve", "eve-ok", {"spec": {"template": attacks["envfrom"][0]}}),
            "eve may not get every ConfigMap spec.template references (payroll)")
    refused(patch_as(namespace, "eve", "eve-ok", {"spec": {"template": attacks["label"][0]}}),
            "eve may not create pods")
    unchanged(namespace, "eve-ok", before)


# ---- TTL, pickle and changes after an approval -----------------------------------------

def test_ttl_pickle_and_changes_after_an_approval_need_the_rights_they_use(operator, namespace, personas):
    bind(namespace, personas["approver"], "amy")
    bind(namespace, personas["editor"], "eve")
    admin_apply(namespace, claim("shared"), secret("db-password"))
    apply(namespace, flowrun_manifest("nightly", FLOW, state="Suspended", ttlSecondsAfterFinished=3600,
                                      cache={"claimName": "shared"}))
    before = get_fr(namespace, "nightly")

    # amy may patch and resume, not delete: no TTL that deletes the run for her.
    for ttl in (1, None):
        refused(patch_as(namespace, "amy", "nightly", {"spec": {"ttlSecondsAfterFinished": ttl}}),
                f"amy may not delete FlowRun nightly in {namespace}", "ttlSecondsAfterFinished")
    unchanged(namespace, "nightly", before)
    # eve has patch but not `create pods`: no pickle on a shared claim (code execution in this run).
    refused(patch_as(namespace, "eve", "nightly", {"spec": {"cache": {"allowPickle": True}}}),
            f"eve may not create pods in {namespace}", "allowPickle")
    refused(create_as(namespace, "eve", flowrun_manifest("pickled", FLOW, state="Suspended",
                                                          cache={"claimName": "shared", "allowPickle": True})),
            "eve may not")
    unchanged(namespace, "nightly", before)
    assert not exists(namespace, "fr", "pickled")
    # eve may delete runs: she may shorten the TTL (a lengthened one needs nothing).
    assert patch_as(namespace, "eve", "nightly", {"spec": {"ttlSecondsAfterFinished": 60}}).returncode == 0
    assert patch_as(namespace, "amy", "nightly", {"spec": {"ttlSecondsAfterFinished": 7200}}).returncode == 0

    # An admin's approved run that mounts a Secret: any change of its pod's shape by eve is refused.
    apply(namespace, flowrun_manifest("approved", FLOW, state="Suspended", template=SECRET_VOLUME))
    approved = get_fr(namespace, "approved")
    assert approved["metadata"]["annotations"].get(policy.ANNOTATION_TEMPLATE_APPROVAL)
    for change in ({"spec": {"image": "registry.invalid/evil:1"}},
                   {"spec": {"template": {"spec": {"containers": [{"name": "flow", "env": [
                       {"name": "X", "value": "1"}]}]}}}},
                   {"spec": {"cache": {"allowPickle": True}}}):
        refused(patch_as(namespace, "eve", "approved", change), "eve may not")
        unchanged(namespace, "approved", approved)
    assert runs_and_jobs(namespace)[1] == []


# ---- the webhook called directly -------------------------------------------------------

@pytest.fixture
def unhooked(kubeconfig, personas):
    """A namespace of the session that the webhook does not see (no session label): as if
    the webhook were down (failurePolicy Ignore). The API server's policy still applies."""
    from cluster.pytest_plugin import SESSION_PREFIX
    name = f"{SESSION_PREFIX}adv-nohook-{secrets.token_hex(3)}"
    kubectl("create", "namespace", name)
    wait_for(lambda: exists(name, "serviceaccount", "default"), timeout=60, what=f"default ServiceAccount in {name}")
    bind(name, personas["editor"], "eve")
    yield name
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def _approval_in(op: dict) -> str:
    """The template approval a JSON Patch operation writes, whether it sets the one
    annotation, the annotations map or the whole metadata."""
    value, path = op.get("value"), op.get("path", "")
    if path.endswith("template-approval"):
        return value or ""
    if isinstance(value, dict) and path.endswith("/metadata"):
        value = value.get("annotations")
    if isinstance(value, dict) and path.endswith(("/metadata", "/annotations")):
        return value.get(policy.ANNOTATION_TEMPLATE_APPROVAL) or ""
    return ""


FORGE = textwrap.dedent("""
    import os, ssl, urllib.request
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    req = urllib.request.Request(os.environ["URL"], data=os.environ["REVIEW"].encode(),
                                 headers={"Content-Type": "application/json"})
    print(urllib.request.urlopen(req, context=ctx, timeout=30).read().decode())
""")


def test_a_forged_admission_review_sent_to_the_webhook_gains_nothing(operator, namespace, unhooked, runner_image):
    """Any pod may reach the webhook's port and claim to be anyone: it sends an
    AdmissionReview as `system:masters` for a template that mounts a Secret, and gets the
    webhook's approval back. That approval gains eve nothing, the webhook down or not:
    the API server's policy asks about eve herself."""
    if not operator.webhook_env:
        pytest.skip("the operator's webhook runs only beside a local cluster")
    admin_apply(unhooked, secret("db-password"))
    body = yaml.safe_load(labelled(flowrun_manifest("forged", FLOW, template=SECRET_VOLUME)))
    body["metadata"]["namespace"] = unhooked
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "00000000-0000-0000-0000-000000000001",
        "kind": {"group": "flowrun.io", "version": "v1alpha1", "kind": "FlowRun"},
        "resource": {"group": "flowrun.io", "version": "v1alpha1", "resource": "flowruns"},
        "name": "forged", "namespace": unhooked, "operation": "CREATE",
        "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]},
        "object": body, "oldObject": None, "dryRun": False}}
    env = operator.webhook_env
    url = f"https://{env['FLOWRUN_WEBHOOK_HOST']}:{env['FLOWRUN_WEBHOOK_PORT']}/flowrun-mutate"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "forger"}, "spec": {
        "restartPolicy": "Never", "automountServiceAccountToken": False,
        "containers": [{"name": "forger", "image": runner_image, "imagePullPolicy": "IfNotPresent",
                        "command": ["python", "-c", FORGE],
                        "env": [{"name": "URL", "value": url}, {"name": "REVIEW", "value": json.dumps(review)}]}]}}
    admin_apply(namespace, pod)
    wait_for(lambda: kubectl("get", "pod", "forger", "-o", "jsonpath={.status.phase}",
                             namespace=namespace).stdout in ("Succeeded", "Failed"),
             timeout=180, what="the forging pod to finish")
    answer = json.loads(kubectl("logs", "forger", namespace=namespace).stdout)["response"]
    patch = json.loads(base64.b64decode(answer.get("patch") or "W10=")) if answer.get("allowed") else []
    approval = next((found for op in patch if (found := _approval_in(op))), "")

    # What the forger obtained is the webhook's real signature (no client authentication)...
    key = (operator.workdir / "webhook-certs" / "tls.key").read_bytes()
    forged = json.loads(json.dumps(body))
    forged["metadata"]["annotations"] = {policy.ANNOTATION_TEMPLATE_APPROVAL: approval}
    # On create the approval is bound to the object's creation (no uid yet): created within
    # moments of it, as the API server would stamp it, the object would carry it as valid.
    forged["metadata"]["creationTimestamp"] = json.loads(approval or "{}").get("at")
    assert approval and policy.approved(single(key), forged, datetime.now(timezone.utc)), answer
    # ...and gains eve nothing where the webhook does not answer: the API server refuses.
    del forged["metadata"]["namespace"]
    out = create_as(unhooked, "eve", forged)
    refused(out, f"eve may not create pods in {unhooked}", "template-approval")
    assert runs_and_jobs(unhooked) == ([], [])

    # An admin's run approved while the webhook answered: eve's new image is refused too.
    admins = json.loads(json.dumps(forged))
    admins["metadata"]["name"] = "approved"
    admins["spec"]["state"] = "Suspended"
    admins["metadata"]["namespace"] = unhooked
    admins["metadata"].pop("creationTimestamp", None)
    approval = policy.sign(single(key), admins, datetime.now(timezone.utc))
    assert approval
    admins["metadata"]["annotations"] = {policy.ANNOTATION_TEMPLATE_APPROVAL: approval}
    apply(unhooked, admins)
    before = get_fr(unhooked, "approved")
    refused(patch_as(unhooked, "eve", "approved", {"spec": {"image": "registry.invalid/evil:1"}}),
            f"eve may not create pods in {unhooked}")
    unchanged(unhooked, "approved", before)
    assert runs_and_jobs(unhooked)[1] == []
