"""spec.template's allow-list, as a table: what a FlowRun may always change, and what
reaches further (allowed only for someone who could create such a pod)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from flowrun.contract.signing import NO_KEYS, single

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


def test_a_child_is_compared_to_its_parent_by_value_not_by_description():
    """A projected token volume and a projected Secret read the same ("projected"); so do
    any two lists of init containers ("spec.initContainers")."""
    token = {"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}
    secret = {"name": "t", "projected": {"sources": [{"secret": {"name": "db"}}]}}
    init = {"name": "init", "image": "busybox", "command": ["true"]}
    steal = {**init, "env": [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}]}
    parent = {"spec": {"volumes": [token], "initContainers": [init]}}
    assert no_wider_than(parent, parent, child_claim="c-cache", parent_claim="p-cache") == []
    assert no_wider_than({"spec": {"volumes": [secret]}}, parent, child_claim="c-cache", parent_claim="p-cache") == [
        "spec.volumes[t]: projected (only emptyDir and configMap are allowed)"]
    assert no_wider_than({"spec": {"initContainers": [steal]}}, parent, child_claim="c-cache",
                         parent_claim="p-cache") == ["spec.initContainers"]
    # Keys in another order are the same value.
    reordered = {"spec": {"initContainers": [{"command": ["true"], "image": "busybox", "name": "init"}]}}
    assert no_wider_than(reordered, parent, child_claim="c-cache", parent_claim="p-cache") == []


UID = "0f0f0f0f-1111"
CREATED = "2026-11-25T12:00:00Z"
NOW = datetime(2026, 11, 25, 12, 0, 30, tzinfo=timezone.utc)
KEYS = single(b"k" * 32)


def run(template, annotations=None, name="r", uid=UID, created=CREATED, **spec):
    return {"metadata": {"name": name, "namespace": "ns", "annotations": annotations or {}, "uid": uid,
                         "creationTimestamp": created},
            "spec": {"flow": "a:b", "template": template, **spec}}


def test_the_operator_runs_a_further_reaching_template_only_with_the_webhooks_signature():
    wide = {"spec": {"serviceAccountName": "admin"}}
    assert operator_refusal(run({"spec": {"nodeSelector": {"a": "b"}}}), NO_KEYS, CLAIM, NOW) == ""
    assert "did not approve" in operator_refusal(run(wide), KEYS, CLAIM, NOW)
    good = {ANNOTATION_TEMPLATE_APPROVAL: sign(KEYS, run(wide), NOW)}
    assert approved(KEYS, run(wide, good), NOW) and operator_refusal(run(wide, good), KEYS, CLAIM, NOW) == ""
    # a signature is bound to the key, the run's name and uid, and the exact template
    assert not approved(single(b"other" * 8), run(wide, good), NOW)
    assert not approved(KEYS, run(wide, good, name="r2"), NOW)
    assert not approved(KEYS, run(wide, good, uid="a-new-run-of-the-same-name"), NOW)
    assert not approved(KEYS, run({"spec": {"serviceAccountName": "root"}}, good), NOW)
    assert not approved(NO_KEYS, run(wide, good), NOW)
    assert "did not approve" in operator_refusal(run(wide, {ANNOTATION_TEMPLATE_APPROVAL: "forged"}), KEYS, CLAIM, NOW)
    # ...and every other field that shapes the pod: a new image or cache voids the approval
    assert not approved(KEYS, run(wide, good, image="evil:latest"), NOW)
    assert not approved(KEYS, run(wide, good, cache={"claimName": "db"}), NOW)
    assert "did not approve" in operator_refusal(run(wide, good, image="evil:latest"), KEYS, CLAIM, NOW)
    # defaults the API server fills in sign like absent fields
    assert approved(KEYS, run(wide, good, image="", cache={"claimName": ""}), NOW)


def test_a_signature_made_on_create_vouches_only_for_that_creation():
    """On CREATE the API server has not given the uid yet: the signature names the moment,
    and vouches for an object created then, not for one re-created later by name."""
    wide = {"spec": {"serviceAccountName": "admin"}}
    signed_at = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)
    made = sign(KEYS, run(wide, uid=""), signed_at)
    assert approved(KEYS, run(wide, {ANNOTATION_TEMPLATE_APPROVAL: made}), NOW)
    assert approved(KEYS, run(wide, {ANNOTATION_TEMPLATE_APPROVAL: made}, uid="other"), NOW), "any uid: created then"
    replayed = run(wide, {ANNOTATION_TEMPLATE_APPROVAL: made}, created="2026-11-25T12:05:00Z")
    assert not approved(KEYS, replayed, NOW)




@pytest.mark.parametrize("env, says", [
    ({"name": "A", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
     "spec.containers[0].env[A]: a Secret ('db')"),
    ({"valueFrom": {"secretKeyRef": {}}}, "spec.containers[0].env[?]: a Secret ('?')"),
    ({"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "x"}, "resourceFieldRef": {}}},
     "spec.containers[0].env[B]: valueFrom fieldRef, resourceFieldRef (only literal values and ConfigMaps are allowed)"),
    ({"valueFrom": {}}, "spec.containers[0].env[?]: valueFrom ? (only literal values and ConfigMaps are allowed)"),
    ({"configMapRef": {"name": "a"}, "secretRef": {}}, "spec.containers[0].envFrom[0]: a Secret ('?')"),
    ({"secretRef": {"name": "s"}}, "spec.containers[0].envFrom[0]: a Secret ('s')"),
    ({"configMapRef": {"name": "a"}, "other": {}}, "spec.containers[0].envFrom[0]: configMapRef, other (only ConfigMaps are allowed)"),
])
def test_each_environment_item_beyond_the_list_is_named_exactly(env, says):
    """The refusal names the variable (or `?` for an unnamed one) and the Secret it reads
    (or `?`), and lists every other source, sorted: the person fixes what it names."""
    field = "envFrom" if "valueFrom" not in env else "env"
    assert reaches_further(c(**{field: [env]}), cache_claim=CLAIM) == [says]


def test_the_operators_own_check_in_full():
    """The run's own cache claim is within the list for the operator too; a template
    signed with a key since retired is run within the key's grace period only; the
    refusal names every item and the way out."""
    from flowrun.contract.signing import KeyRing, SigningKey
    mounted = {"spec": {"volumes": [{"name": "c", "persistentVolumeClaim": {"claimName": CLAIM}}]}}
    assert operator_refusal(run(mounted), NO_KEYS, CLAIM, NOW) == ""
    wide = {"spec": {"serviceAccountName": "admin", "hostNetwork": True}}
    old = KeyRing(SigningKey("k1", b"1" * 32))
    signed = run(wide, {ANNOTATION_TEMPLATE_APPROVAL: sign(old, run(wide), NOW)})
    rotated = KeyRing(SigningKey("k2", b"2" * 32), (SigningKey("k1", b"1" * 32, NOW),))
    assert operator_refusal(signed, rotated, CLAIM, NOW - timedelta(seconds=1)) == ""
    assert operator_refusal(signed, rotated, CLAIM, NOW) == (
        "spec.template reaches beyond what a FlowRun may change (spec.serviceAccountName: 'admin' (the run's pod "
        "runs as its own account); spec.hostNetwork: a host namespace) and the admission webhook did not approve it "
        "(was it unreachable?): recreate the FlowRun while the webhook runs")


# Each row of FURTHER, the line it gives in full (the person reads it in the refusal).
FURTHER_IN_FULL = {
    "another ServiceAccount": "spec.serviceAccountName: 'admin' (the run's pod runs as its own account)",
    "deprecated serviceAccount": "spec.serviceAccount: 'admin'",
    "token automount": "spec.automountServiceAccountToken",
    "host network": "spec.hostNetwork: a host namespace",
    "host PID": "spec.hostPID: a host namespace",
    "pod security context": "spec.securityContext: changes the pod's security context",
    "privileged": "spec.containers[0].securityContext: privileged",
    "added capabilities": "spec.containers[0].securityContext: adds capabilities",
    "image pull secrets": "spec.imagePullSecrets: uses Secrets",
    "Secret volume": "spec.volumes[s]: a Secret ('db')",
    "hostPath": "spec.volumes[h]: a hostPath ('/')",
    "another claim": "spec.volumes[p]: the claim 'x' (only the run's cache claim is allowed)",
    "env from a Secret": "spec.containers[0].env[P]: a Secret ('db')",
    "env from a field":
        "spec.containers[0].env[P]: valueFrom fieldRef (only literal values and ConfigMaps are allowed)",
    "envFrom a Secret": "spec.containers[0].envFrom[0]: a Secret ('db')",
    "a second container": "spec.containers[1]: another container (only the runner container may be changed)",
    "init containers": "spec.initContainers",
    "the runner's command": "spec.containers[0].command",
    "the pod's name": "metadata.name",
    "node name": "spec.nodeName",
    "a label another Service may select":
        "metadata.labels[app] (only keys under user.flowrun.io/ are allowed: a label can put the pod behind another workload's Service)",
    "an annotation outside user.flowrun.io/":
        "metadata.annotations[sidecar.istio.io/inject] (only keys under user.flowrun.io/ are allowed)",
    "a priority class": "spec.priorityClassName: 'system-node-critical' (a priority evicts other pods)",
}


@pytest.mark.parametrize("case", FURTHER, ids=FURTHER.keys())
def test_each_item_beyond_the_list_is_named_in_full(case):
    template, _ = FURTHER[case]
    assert reaches_further(template, cache_claim=CLAIM) == [FURTHER_IN_FULL[case]]


@pytest.mark.parametrize("volume, says", [
    ({"name": "v"}, "spec.volumes[v]: no source (only emptyDir and configMap are allowed)"),
    ({"secret": {"secretName": "db"}}, "spec.volumes[?]: a Secret ('db')"),
    ({"name": "v", "secret": None}, "spec.volumes[v]: a Secret ('?')"),
    ({"name": "v", "hostPath": None}, "spec.volumes[v]: a hostPath ('?')"),
    ({"name": "v", "persistentVolumeClaim": None}, "spec.volumes[v]: the claim '?' (only the run's cache claim is allowed)"),
    ({"name": "v", "persistentVolumeClaim": {}}, "spec.volumes[v]: the claim '?' (only the run's cache claim is allowed)"),
    ({"name": "v", "nfs": {}, "csi": {}}, "spec.volumes[v]: csi, nfs (only emptyDir and configMap are allowed)"),
    ({"name": "v", "emptyDir": {}, "configMap": {}},
     "spec.volumes[v]: configMap, emptyDir (only emptyDir and configMap are allowed)"),
    ({"name": "v", "persistentVolumeClaim": {"claimName": CLAIM}, "secret": {}},
     "spec.volumes[v]: the claim 'r-cache' (only the run's cache claim is allowed)"),
])
def test_each_volume_beyond_the_list_is_named_exactly(volume, says):
    """One source each, and only emptyDir, configMap or the run's own claim: a volume with
    none, two, or the cache claim beside another source reaches further."""
    assert reaches_further({"spec": {"volumes": [volume]}}, cache_claim=CLAIM) == [says]


def test_a_refusal_in_full():
    assert refusal(["a", "b"], user="alice", allowed=False, reason="r") == (
        "spec.template reaches beyond what a FlowRun may change (a; b), and alice may not create pods in this "
        "namespace (r): only someone who could create such a pod may ask for it")
    assert refusal(["a"], user="", allowed=False) == (
        "spec.template reaches beyond what a FlowRun may change (a), and the creator is unknown: only someone who "
        "could create such a pod may ask for it")


@pytest.mark.parametrize("template, says", [
    ({"foo": 1}, ["template.foo"]),
    ({"spec": {"hostIPC": True}}, ["spec.hostIPC: a host namespace"]),
    (c(securityContext={"runAsUser": 0}), ["spec.containers[0].securityContext: changes the container's security context"]),
    ({"spec": {"containers": [{}, {"name": "a"}, {"name": "b"}]}},
     ["spec.containers[1]: another container (only the runner container may be changed)",
      "spec.containers[2]: another container (only the runner container may be changed)"]),
])
def test_more_items_beyond_the_list_in_full(template, says):
    assert reaches_further(template, cache_claim=CLAIM) == says


VOLUME = {"name": "s", "secret": {"secretName": "db"}}
OTHER_VOLUME = {"name": "s", "secret": {"secretName": "other"}}


@pytest.mark.parametrize("parent, child", [
    # the same place, another value
    ({"foo": 1}, {"foo": 2}),
    ({"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}),
    ({"metadata": {"labels": {"app": "a"}}}, {"metadata": {"labels": {"app": "b"}}}),
    ({"spec": {"nodeName": "a"}}, {"spec": {"nodeName": "b"}}),
    ({"spec": {"containers": [{}, {"name": "a"}]}}, {"spec": {"containers": [{}, {"name": "b"}]}}),
    (c(securityContext={"privileged": True}), c(securityContext={"privileged": True, "runAsUser": 0})),
    (c(command=["a"]), c(command=["b"])),
    (c(env=[{"name": "P", "valueFrom": {"secretKeyRef": {"name": "a"}}}]),
     c(env=[{"name": "P", "valueFrom": {"secretKeyRef": {"name": "b"}}}])),
    (c(envFrom=[{"secretRef": {"name": "a"}}]), c(envFrom=[{"secretRef": {"name": "b"}}])),
    ({"spec": {"volumes": [VOLUME]}}, {"spec": {"volumes": [OTHER_VOLUME]}}),
    # the same value, another place
    ({"foo": 1}, {"bar": 1}),
    ({"metadata": {"name": "a"}}, {"metadata": {"generateName": "a"}}),
    ({"metadata": {"labels": {"app": "a"}}}, {"metadata": {"labels": {"tier": "a"}}}),
    ({"metadata": {"labels": {"app": "a"}}}, {"metadata": {"annotations": {"app": "a"}}}),
    ({"spec": {"hostNetwork": True}}, {"spec": {"hostPID": True}}),
    ({"spec": {"containers": [{}, {"name": "a"}]}}, {"spec": {"containers": [{}, {}, {"name": "a"}]}}),
    (c(securityContext={"privileged": True}), c(stdin={"privileged": True})),
    (c(command=["a"]), c(args=["a"])),
    # a value in another section that looks like a volume
    ({"volume": VOLUME, "metadata": {"volume": VOLUME},
      "spec": {"volume": VOLUME, "containers": [{"name": "flow", "volume": VOLUME}]}},
     {"spec": {"volumes": [VOLUME]}}),
], ids=lambda v: str(v)[:40])
def test_a_parents_item_vouches_only_for_the_same_item_at_the_same_place(parent, child):
    wider = no_wider_than(child, parent, child_claim="c-cache", parent_claim="p-cache")
    assert wider == reaches_further(child, cache_claim="c-cache") and wider


def test_each_run_mounts_only_its_own_cache_claim():
    own = {"spec": {"volumes": [{"name": "c", "persistentVolumeClaim": {"claimName": "c-cache"}}]}}
    parents = {"spec": {"volumes": [{"name": "c", "persistentVolumeClaim": {"claimName": "p-cache"}}]}}
    assert no_wider_than(own, {}, child_claim="c-cache", parent_claim="p-cache") == []
    assert no_wider_than(parents, parents, child_claim="c-cache", parent_claim="p-cache") == [
        "spec.volumes[c]: the claim 'p-cache' (only the run's cache claim is allowed)"]


def test_an_approval_record_that_is_no_object_or_names_no_valid_time_approves_nothing():
    wide = {"spec": {"serviceAccountName": "admin"}}
    for text in ("[]", '"x"', '{"at": "yesterday", "sig": "k:00"}', '{"at": 5}'):
        assert approved(KEYS, run(wide, {ANNOTATION_TEMPLATE_APPROVAL: text}), NOW) is False, text
    made = sign(KEYS, run(wide, uid=""), NOW)
    record = json.loads(made)
    forged = json.dumps({**record, "at": "yesterday"})
    assert approved(KEYS, run(wide, {ANNOTATION_TEMPLATE_APPROVAL: forged}, uid=""), NOW) is False


@pytest.mark.parametrize("created, ok", [("2026-11-25T12:01:30Z", True), ("2026-11-25T12:01:31Z", False),
                                         ("2026-11-25T11:59:30Z", True), ("2026-11-25T11:59:29Z", False)])
def test_a_signature_on_create_vouches_for_a_creation_within_60_seconds_either_way(created, ok):
    wide = {"spec": {"serviceAccountName": "admin"}}
    made = sign(KEYS, run(wide, uid=""), NOW)  # NOW is 12:00:30
    assert approved(KEYS, run(wide, {ANNOTATION_TEMPLATE_APPROVAL: made}, created=created), NOW) is ok


def test_an_approval_covers_the_cache_size_too():
    wide = {"spec": {"serviceAccountName": "admin"}}
    made = sign(KEYS, run(wide, cache={"claimName": "c", "size": 1}), NOW)
    assert approved(KEYS, run(wide, {ANNOTATION_TEMPLATE_APPROVAL: made}, cache={"claimName": "c", "size": 1}), NOW)
    assert not approved(KEYS, run(wide, {ANNOTATION_TEMPLATE_APPROVAL: made}, cache={"claimName": "c"}), NOW)
    unset = sign(KEYS, run(wide, cache={"claimName": "c", "size": 0}), NOW)
    assert approved(KEYS, run(wide, {ANNOTATION_TEMPLATE_APPROVAL: unset}, cache={"claimName": "c"}), NOW)
