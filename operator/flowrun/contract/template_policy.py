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

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

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

SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
RUNNER_ACCOUNT_SUFFIX = "-runner"


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
    out: list[str] = []
    template = template or {}
    for key in template:
        if key not in ("metadata", "spec"):
            out.append(f"template.{key}")
    t_meta = template.get("metadata") or {}
    for key in t_meta:
        if key not in ALLOWED_METADATA_FIELDS:
            out.append(f"metadata.{key}")
    for kind in ("labels", "annotations"):
        for key in sorted(t_meta.get(kind) or {}):
            if not str(key).startswith(USER_METADATA_PREFIX):
                out.append(f"metadata.{kind}[{key}] (only keys under {USER_METADATA_PREFIX} are allowed: "
                           "a label can put the pod behind another workload's Service)"
                           if kind == "labels" else
                           f"metadata.{kind}[{key}] (only keys under {USER_METADATA_PREFIX} are allowed)")
    spec = template.get("spec") or {}
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
            out.append(what)
    containers = spec.get("containers") or []
    for i, container in enumerate(containers):
        where = f"spec.containers[{i}]"
        if i > 0:
            out.append(f"{where}: another container (only the runner container may be changed)")
            continue
        for key in container:
            if key not in ALLOWED_CONTAINER_FIELDS:
                if key == "securityContext":
                    ctx = container[key] or {}
                    detail = ("privileged" if ctx.get("privileged") else
                              "adds capabilities" if (ctx.get("capabilities") or {}).get("add") else
                              "changes the container's security context")
                    out.append(f"{where}.securityContext: {detail}")
                else:
                    out.append(f"{where}.{key}")
        for env in container.get("env") or []:
            reach = _env_reach(env, f"{where}.env")
            if reach:
                out.append(reach)
        for j, env_from in enumerate(container.get("envFrom") or []):
            reach = _env_from_reach(env_from, f"{where}.envFrom[{j}]")
            if reach:
                out.append(reach)
    for volume in spec.get("volumes") or []:
        reach = _volume_reach(volume, cache_claim)
        if reach:
            out.append(reach)
    return out


def is_run_account(user: str, namespace: str) -> str | None:
    """The run whose own ServiceAccount `user` is named like (`<run>-runner` in
    `namespace`), else None. The caller confirms that run exists."""
    prefix = f"{SERVICE_ACCOUNT_PREFIX}{namespace}:"
    if user.startswith(prefix) and user.endswith(RUNNER_ACCOUNT_SUFFIX):
        return user[len(prefix):-len(RUNNER_ACCOUNT_SUFFIX)] or None
    return None


def no_wider_than(child: Mapping[str, Any] | None, parent: Mapping[str, Any] | None, *,
                  child_claim: str, parent_claim: str) -> list[str]:
    """What the child's template reaches that the parent's template does not (a run may
    start children reaching only as far as itself). Compared item by item."""
    mine = set(reaches_further(parent, cache_claim=parent_claim))
    return [item for item in reaches_further(child, cache_claim=child_claim) if item not in mine]


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


def _canonical(namespace: str, name: str, spec: Mapping[str, Any] | None) -> bytes:
    return json.dumps([namespace, name, pod_shape(spec)], sort_keys=True, separators=(",", ":")).encode()


def sign(key: bytes, namespace: str, name: str, spec: Mapping[str, Any] | None) -> str:
    """The approval of a FlowRun's pod shape (template, image, cache): `spec` is its spec."""
    return hmac.new(key, _canonical(namespace, name, spec), hashlib.sha256).hexdigest()


def approved(key: bytes | None, obj: Mapping[str, Any]) -> bool:
    """True when the FlowRun's pod shape carries the webhook's valid signature."""
    if not key:
        return False
    meta = obj.get("metadata") or {}
    given = (meta.get("annotations") or {}).get(ANNOTATION_TEMPLATE_APPROVAL, "")
    want = sign(key, meta.get("namespace", ""), meta.get("name", ""), obj.get("spec"))
    return bool(given) and hmac.compare_digest(given, want)


def operator_refusal(obj: Mapping[str, Any], key: bytes | None, cache_claim: str) -> str:
    """The operator's own check before it starts a run (the webhook may have been
    bypassed): a template beyond the allow-list runs only with the webhook's signature.
    Returns the reason to fail the run with ("" when it may run)."""
    reaches = reaches_further((obj.get("spec") or {}).get("template"), cache_claim=cache_claim)
    if not reaches or approved(key, obj):
        return ""
    return (f"spec.template reaches beyond what a FlowRun may change ({'; '.join(reaches)}) and the admission "
            "webhook did not approve it (was it unreachable?): recreate the FlowRun while the webhook runs")
