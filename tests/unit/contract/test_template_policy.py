"""spec.template's allow-list, as a table: what a FlowRun may always change, and what
reaches further (allowed only for someone who could create such a pod)."""
from __future__ import annotations

import pytest

from flowrun.contract.template_policy import (
    ANNOTATION_TEMPLATE_APPROVAL,
    approved,
    is_run_account,
    no_wider_than,
    operator_refusal,
    reaches_further,
    refusal,
    sign,
)

CLAIM = "r-cache"


def c(**fields):
    """A template changing only the runner container."""
    return {"spec": {"containers": [{"name": "flow", **fields}]}}


WITHIN = {
    "nothing": {},
    "labels and annotations under user.flowrun.io/": {"metadata": {"labels": {"user.flowrun.io/team": "a"},
                                                                   "annotations": {"user.flowrun.io/x": "y"}}},
    "resources": c(resources={"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}}),
    "node selector": {"spec": {"nodeSelector": {"disk": "ssd"}}},
    "tolerations": {"spec": {"tolerations": [{"key": "gpu", "operator": "Exists"}]}},
    "affinity": {"spec": {"affinity": {"nodeAffinity": {}}}},
    "literal env": c(env=[{"name": "A", "value": "1"}]),
    "env from a ConfigMap key": c(env=[{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}]),
    "envFrom a ConfigMap": c(envFrom=[{"configMapRef": {"name": "cm"}, "prefix": "X_"}]),
    "emptyDir and configMap volumes": {"spec": {"volumes": [{"name": "a", "emptyDir": {}},
                                                            {"name": "b", "configMap": {"name": "cm"}}],
                                                "containers": [{"volumeMounts": [{"name": "a", "mountPath": "/a"}]}]}},
    "the run's own cache claim": {"spec": {"volumes": [{"name": "c", "persistentVolumeClaim": {"claimName": CLAIM}}]}},
}

FURTHER = {
    "another ServiceAccount": ({"spec": {"serviceAccountName": "admin"}}, "serviceAccountName: 'admin'"),
    "deprecated serviceAccount": ({"spec": {"serviceAccount": "admin"}}, "spec.serviceAccount"),
    "token automount": ({"spec": {"automountServiceAccountToken": False}}, "automountServiceAccountToken"),
    "host network": ({"spec": {"hostNetwork": True}}, "host namespace"),
    "host PID": ({"spec": {"hostPID": True}}, "host namespace"),
    "pod security context": ({"spec": {"securityContext": {"runAsUser": 0}}}, "security context"),
    "privileged": (c(securityContext={"privileged": True}), "privileged"),
    "added capabilities": (c(securityContext={"capabilities": {"add": ["NET_ADMIN"]}}), "adds capabilities"),
    "image pull secrets": ({"spec": {"imagePullSecrets": [{"name": "reg"}]}}, "imagePullSecrets"),
    "Secret volume": ({"spec": {"volumes": [{"name": "s", "secret": {"secretName": "db"}}]}}, "a Secret ('db')"),
    "hostPath": ({"spec": {"volumes": [{"name": "h", "hostPath": {"path": "/"}}]}}, "hostPath ('/')"),
    "another claim": ({"spec": {"volumes": [{"name": "p", "persistentVolumeClaim": {"claimName": "x"}}]}},
                      "the claim 'x'"),
    "env from a Secret": (c(env=[{"name": "P", "valueFrom": {"secretKeyRef": {"name": "db", "key": "p"}}}]),
                          "a Secret ('db')"),
    "env from a field": (c(env=[{"name": "P", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}]), "fieldRef"),
    "envFrom a Secret": (c(envFrom=[{"secretRef": {"name": "db"}}]), "a Secret ('db')"),
    "a second container": ({"spec": {"containers": [{}, {"name": "side", "image": "x"}]}}, "another container"),
    "init containers": ({"spec": {"initContainers": [{"name": "i"}]}}, "spec.initContainers"),
    "the runner's command": (c(command=["sh"]), "spec.containers[0].command"),
    "the pod's name": ({"metadata": {"name": "x"}}, "metadata.name"),
    "node name": ({"spec": {"nodeName": "n1"}}, "spec.nodeName"),
    # a label can put the run's pod behind another workload's Service; a priority evicts others
    "a label another Service may select": ({"metadata": {"labels": {"app": "web"}}},
                                           "metadata.labels[app]"),
    "an annotation outside user.flowrun.io/": ({"metadata": {"annotations": {"sidecar.istio.io/inject": "true"}}},
                                               "metadata.annotations[sidecar.istio.io/inject]"),
    "a priority class": ({"spec": {"priorityClassName": "system-node-critical"}},
                         "spec.priorityClassName: 'system-node-critical'"),
}


@pytest.mark.parametrize("template", WITHIN.values(), ids=WITHIN.keys())
def test_within_the_allow_list(template):
    assert reaches_further(template, cache_claim=CLAIM) == []


@pytest.mark.parametrize("template,says", FURTHER.values(), ids=FURTHER.keys())
def test_reaches_further(template, says):
    found = reaches_further(template, cache_claim=CLAIM)
    assert len(found) == 1 and says in found[0], found


def test_refusal_names_the_fields_and_the_user():
    message = refusal(["spec.hostNetwork: a host namespace"], user="alice", allowed=False)
    assert "spec.hostNetwork" in message and "alice may not create pods" in message
    assert refusal(["x"], user="alice", allowed=True) == ""
    assert refusal([], user="alice", allowed=False) == ""


@pytest.mark.parametrize("user,run", [
    ("system:serviceaccount:ns:parent-runner", "parent"),
    ("system:serviceaccount:other:parent-runner", None),
    ("system:serviceaccount:ns:builder", None),
    ("alice", None),
    ("system:serviceaccount:ns:-runner", None),
])
def test_run_accounts_are_recognised(user, run):
    assert is_run_account(user, "ns") == run


def test_a_child_reaches_no_further_than_its_parent():
    parent = {"spec": {"nodeSelector": {"a": "b"}, "volumes": [{"name": "s", "secret": {"secretName": "db"}}]}}
    same = {"spec": {"volumes": [{"name": "s", "secret": {"secretName": "db"}}]}}
    wider = {"spec": {"serviceAccountName": "admin"}}
    assert no_wider_than(same, parent, child_claim="c-cache", parent_claim="p-cache") == []
    assert no_wider_than({}, parent, child_claim="c-cache", parent_claim="p-cache") == []
    assert no_wider_than(wider, parent, child_claim="c-cache", parent_claim="p-cache") == [
        "spec.serviceAccountName: 'admin' (the run's pod runs as its own account)"]
    # the parent's own cache claim is not the child's
    mount_parent_cache = {"spec": {"volumes": [{"name": "c", "persistentVolumeClaim": {"claimName": "p-cache"}}]}}
    assert no_wider_than(mount_parent_cache, {}, child_claim="c-cache", parent_claim="p-cache")


def run(template, annotations=None, name="r", **spec):
    return {"metadata": {"name": name, "namespace": "ns", "annotations": annotations or {}},
            "spec": {"flow": "a:b", "template": template, **spec}}


def test_the_operator_runs_a_further_reaching_template_only_with_the_webhooks_signature():
    key = b"k" * 32
    wide = {"spec": {"serviceAccountName": "admin"}}
    assert operator_refusal(run({"spec": {"nodeSelector": {"a": "b"}}}), None, CLAIM) == ""
    assert "did not approve" in operator_refusal(run(wide), key, CLAIM)
    good = {ANNOTATION_TEMPLATE_APPROVAL: sign(key, "ns", "r", {"template": wide})}
    assert approved(key, run(wide, good)) and operator_refusal(run(wide, good), key, CLAIM) == ""
    # a signature is bound to the key, the run's name and the exact template
    assert not approved(b"other" * 8, run(wide, good))
    assert not approved(key, run(wide, good, name="r2"))
    assert not approved(key, run({"spec": {"serviceAccountName": "root"}}, good))
    assert not approved(None, run(wide, good))
    assert "did not approve" in operator_refusal(run(wide, {ANNOTATION_TEMPLATE_APPROVAL: "forged"}), key, CLAIM)
    # ...and every other field that shapes the pod: a new image or cache voids the approval
    assert not approved(key, run(wide, good, image="evil:latest"))
    assert not approved(key, run(wide, good, cache={"claimName": "db"}))
    assert "did not approve" in operator_refusal(run(wide, good, image="evil:latest"), key, CLAIM)
    # defaults the API server fills in sign like absent fields
    assert approved(key, run(wide, good, image="", cache={"claimName": ""}))
