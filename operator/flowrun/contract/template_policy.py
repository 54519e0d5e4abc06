"""What `spec.template` may change in a run's pod without anyone's further permission.

Why: whoever may create a FlowRun may not necessarily create any pod. The template is
merged into the runner pod (controller/resources.py `merge_template`), so without a rule
a FlowRun could name the namespace's most powerful ServiceAccount, mount its Secrets or
the host, or run privileged. The allow-list below is what a FlowRun may always change;
anything that reaches further is allowed only when the person creating the FlowRun could
create such a pod themselves (the webhook asks the API server with a SubjectAccessReview),
and never for a run's own ServiceAccount (flow code), whose children may reach no further
than their parent's template.

Pure functions, no I/O: the webhook and the operator (when the webhook was bypassed) apply
the same rule. What this module must never do: ask the API server; `flowrun.kube` does.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .identities import is_run_account as is_run_account
from .identities import run_account as run_account
from .objects import Meta, Object, PodTemplate
from .signing import KeyRing, canonical
from .status import parse_timestamp, timestamp

# The annotation the webhook signs a further-reaching template with once the API server
# said its creator may create such pods; the operator runs such a template only with a
# valid signature (so a bypassed webhook cannot be used to skip the check).
ANNOTATION_TEMPLATE_APPROVAL = "flowrun.io/template-approval"

# Pod spec fields a template may always set. Not priorityClassName: a priority (e.g.
# system-node-critical) evicts other people's pods, and RBAC has no right to ask about it
# but `create pods`.
ALLOWED_POD_FIELDS = {"nodeSelector", "tolerations", "affinity", "containers", "volumes"}
# Fields of the runner container (the first of `containers`) a template may always set.
ALLOWED_CONTAINER_FIELDS = {"name", "resources", "env", "envFrom", "volumeMounts"}
ALLOWED_METADATA_FIELDS = {"labels", "annotations"}
# Pod labels and annotations a template may always set: only under this prefix. Any other
# label can put the run's pod behind another workload's Service (its endpoints move to
# it), into a NetworkPolicy's or a PodDisruptionBudget's selection; other annotations
# reach sidecar injectors, AppArmor profiles and the like. A Service or policy that
# selects on this prefix invites runs' pods on purpose.
USER_METADATA_PREFIX = "user.flowrun.io/"



def _volume_reach(volume: Mapping[str, Any], cache_claim: str) -> str | None:
    name = volume.get("name", "?")
    sources = [k for k in volume if k != "name"]
    if sources == ["emptyDir"] or sources == ["configMap"]:
        return None
    if sources == ["persistentVolumeClaim"] and (volume["persistentVolumeClaim"] or {}).get("claimName") == cache_claim:
        return None
    if "persistentVolumeClaim" in sources:
        claim = (volume.get("persistentVolumeClaim") or {}).get("claimName", "?")
        return f"spec.volumes[{name}]: the claim {claim!r} (only the run's cache claim is allowed)"
    if "secret" in sources:
        return f"spec.volumes[{name}]: a Secret ({(volume.get('secret') or {}).get('secretName', '?')!r})"
    if "hostPath" in sources:
        return f"spec.volumes[{name}]: a hostPath ({(volume.get('hostPath') or {}).get('path', '?')!r})"
    return f"spec.volumes[{name}]: {', '.join(sorted(sources)) or 'no source'} (only emptyDir and configMap are allowed)"


def _env_reach(env: Mapping[str, Any], where: str) -> str | None:
    keys = set(env) - {"name"}
    if keys <= {"value"}:
        return None
    source = env.get("valueFrom") or {}
    if keys == {"valueFrom"} and set(source) == {"configMapKeyRef"}:
        return None
    if "secretKeyRef" in source:
        return f"{where}[{env.get('name', '?')}]: a Secret ({(source['secretKeyRef'] or {}).get('name', '?')!r})"
    return f"{where}[{env.get('name', '?')}]: valueFrom {', '.join(sorted(source)) or '?'} (only literal values and ConfigMaps are allowed)"


def _env_from_reach(env_from: Mapping[str, Any], where: str) -> str | None:
    keys = set(env_from) - {"prefix"}
    if keys == {"configMapRef"}:
        return None
    if "secretRef" in keys:
        return f"{where}: a Secret ({(env_from['secretRef'] or {}).get('name', '?')!r})"
    return f"{where}: {', '.join(sorted(keys))} (only ConfigMaps are allowed)"


def reaches_further(template: Mapping[str, Any] | None, *, cache_claim: str) -> list[str]:
    """What in `template` reaches beyond the allow-list, one readable line per item
    (empty: the template stays within it). `cache_claim` is the run's own cache claim,
    which a template may mount."""
    return [what for what, _value in _reaching(template, cache_claim)]


def _reaching(template: Mapping[str, Any] | None, cache_claim: str) -> list[tuple[str, bytes]]:
    """Each item beyond the allow-list: (a readable line, the item itself by value, as
    canonical JSON with where it sits). Two templates reach equally far only when these
    values are equal: the lines alone lose what matters (a projected volume of a token
    and one of a Secret read the same)."""
    out: list[tuple[str, bytes]] = []
    view = PodTemplate.of(template)

    def add(what: str, *where: Any) -> None:
        out.append((what, canonical(list(where))))
    for key, value in view.other.items():
        add(f"template.{key}", "template", key, value)
    metadata = view.metadata
    for key in metadata:
        if key not in ALLOWED_METADATA_FIELDS:
            add(f"metadata.{key}", "metadata", key, metadata[key])
    for kind in ("labels", "annotations"):
        for key in sorted(metadata.get(kind) or {}):
            if not str(key).startswith(USER_METADATA_PREFIX):
                add(f"metadata.{kind}[{key}] (only keys under {USER_METADATA_PREFIX} are allowed: "
                    "a label can put the pod behind another workload's Service)"
                    if kind == "labels" else
                    f"metadata.{kind}[{key}] (only keys under {USER_METADATA_PREFIX} are allowed)",
                    "metadata", kind, key, (metadata.get(kind) or {})[key])
    spec = view.spec
    for key, value in spec.items():
        if key not in ALLOWED_POD_FIELDS:
            what = {"serviceAccountName": f"spec.serviceAccountName: {value!r} (the run's pod runs as its own account)",
                    "serviceAccount": f"spec.serviceAccount: {value!r}",
                    "hostNetwork": "spec.hostNetwork: a host namespace",
                    "hostPID": "spec.hostPID: a host namespace", "hostIPC": "spec.hostIPC: a host namespace",
                    "securityContext": "spec.securityContext: changes the pod's security context",
                    "imagePullSecrets": "spec.imagePullSecrets: uses Secrets",
                    "priorityClassName": f"spec.priorityClassName: {value!r} (a priority evicts other pods)",
                    }.get(key, f"spec.{key}")
            add(what, "spec", key, value)
    containers = spec.get("containers") or []
    for i, container in enumerate(containers):
        where = f"spec.containers[{i}]"
        if i > 0:
            add(f"{where}: another container (only the runner container may be changed)", "container", i, container)
            continue
        for key in container:
            if key not in ALLOWED_CONTAINER_FIELDS:
                if key == "securityContext":
                    ctx = container[key] or {}
                    detail = ("privileged" if ctx.get("privileged") else
                              "adds capabilities" if (ctx.get("capabilities") or {}).get("add") else
                              "changes the container's security context")
                    add(f"{where}.securityContext: {detail}", "runner", key, container[key])
                else:
                    add(f"{where}.{key}", "runner", key, container[key])
        for env in container.get("env") or []:
            reach = _env_reach(env, f"{where}.env")
            if reach:
                add(reach, "env", env)
        for j, env_from in enumerate(container.get("envFrom") or []):
            reach = _env_from_reach(env_from, f"{where}.envFrom[{j}]")
            if reach:
                add(reach, "envFrom", env_from)
    for volume in spec.get("volumes") or []:
        reach = _volume_reach(volume, cache_claim)
        if reach:
            add(reach, "volume", volume)
    return out


def no_wider_than(child: Mapping[str, Any] | None, parent: Mapping[str, Any] | None, *,
                  child_claim: str, parent_claim: str) -> list[str]:
    """What the child's template reaches that the parent's template does not (a run may
    start children reaching only as far as itself). Compared item by item, by value: a
    child's item beyond the allow-list must be one of its parent's, equal as JSON."""
    mine = {value for _what, value in _reaching(parent, parent_claim)}
    return [what for what, value in _reaching(child, child_claim) if value not in mine]


def refusal(reaches: list[str], *, user: str, allowed: bool, reason: str = "") -> str:
    """The message for a template that reaches further than the allow-list and whose
    creator may not create such pods ("" when it may)."""
    if not reaches or allowed:
        return ""
    who = f"{user} may not create pods in this namespace" if user else "the creator is unknown"
    why = f" ({reason})" if reason else ""
    return (f"spec.template reaches beyond what a FlowRun may change ({'; '.join(reaches)}), and {who}{why}: "
            "only someone who could create such a pod may ask for it")


# ---- the webhook's signature on an approved template -----------------------------------

# Every field of a FlowRun's spec that shapes its pod: an approval covers them all, so a
# change of any (a new image for an approved run that mounts a Secret) voids it.
POD_SHAPING_FIELDS = ("template", "image", "cache")

# A template approved on CREATE is signed before the API server gives the object its uid;
# that signature vouches only for an object created within this many seconds of it (the
# API server's creationTimestamp), so it cannot be replayed onto a run re-created later.
CREATION_SKEW_SECONDS = 60


def _set(value: Any) -> bool:
    return value not in (None, "", False, {}, [])


def pod_shape(spec: Mapping[str, Any] | None) -> dict[str, Any]:
    """The pod-shaping fields of a FlowRun's spec, empty values left out (so a default
    the API server fills in, e.g. `cache: {claimName: ""}`, signs like an absent field)."""
    spec = spec or {}
    out: dict[str, Any] = {}
    for field in POD_SHAPING_FIELDS:
        value = spec.get(field)
        if isinstance(value, Mapping) and field == "cache":
            value = {k: v for k, v in value.items() if _set(v)}
        if _set(value):
            out[field] = value
    return out


def _payload(meta: Meta, uid: str, at: str, spec: Mapping[str, Any]) -> list[Any]:
    return ["template", meta.namespace, meta.name, uid, at, pod_shape(spec)]


def sign(keys: KeyRing, obj: Mapping[str, Any], now: datetime) -> str | None:
    """The approval annotation for `obj`'s pod shape (template, image, cache): bound to
    its uid, or, on CREATE (no uid yet), to its creation at `now`. None without a key."""
    if not keys:
        return None
    view = Object.of(obj)
    uid, at = view.meta.uid, timestamp(now)
    sig = keys.sign(_payload(view.meta, uid, at, view.spec))
    return json.dumps({"uid": uid, "at": at, "sig": sig}, separators=(",", ":"))


def approved(keys: KeyRing, obj: Mapping[str, Any], now: datetime) -> bool:
    """True when the FlowRun's template carries the webhook's valid signature for this
    very object: its uid, or its creation within CREATION_SKEW_SECONDS of the signature."""
    view = Object.of(obj)
    meta = view.meta
    try:
        record = json.loads(meta.annotations.get(ANNOTATION_TEMPLATE_APPROVAL) or "{}")
    except ValueError:
        return False
    if not keys or not isinstance(record, dict) or not isinstance(record.get("at"), str):
        return False
    uid = str(record.get("uid") or "")
    if uid:
        if uid != meta.uid:
            return False
    else:
        try:
            signed, created = parse_timestamp(record["at"]), parse_timestamp(meta.created)
        except ValueError:
            return False
        if signed is None or created is None or abs((created - signed).total_seconds()) > CREATION_SKEW_SECONDS:
            return False
    return keys.verify(_payload(meta, uid, record["at"], view.spec), record.get("sig"), now)


def operator_refusal(obj: Mapping[str, Any], keys: KeyRing, cache_claim: str, now: datetime) -> str:
    """The operator's own check before it starts a run (the webhook may have been
    bypassed): a template beyond the allow-list runs only with the webhook's signature.
    Returns the reason to fail the run with ("" when it may run)."""
    reaches = reaches_further(Object.of(obj).spec.get("template"), cache_claim=cache_claim)
    if not reaches or approved(keys, obj, now):
        return ""
    return (f"spec.template reaches beyond what a FlowRun may change ({'; '.join(reaches)}) and the admission "
            "webhook did not approve it (was it unreachable?): recreate the FlowRun while the webhook runs")
