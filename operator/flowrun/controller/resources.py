"""The objects the operator creates for a FlowRun, as plain manifests.

Pure functions of the FlowRun and the settings: no I/O, so every field can be unit
tested, and the controller only decides *when* to create them.
"""
from __future__ import annotations

import copy
from typing import Any

from ..contract.instances import carried
from ..contract.constants import (
    API_VERSION,
    CACHE_MOUNT_PATH,
    ENV_ATTEMPT,
    ENV_CACHE_DIR,
    ENV_NAME,
    ENV_NAMESPACE,
    GROUP,
    KIND,
    LABEL_ATTEMPT,
    LABEL_MANAGED_BY,
    LABEL_RUN,
    MANAGED_BY,
    PLURAL,
    RUNNER_UID,
)
from ..contract.run_inputs import INBOX_PLURAL, INPUT_PLURAL, page_names
from .settings import Settings

CONTAINER = "flow"


def owner_reference(flowrun: dict[str, Any]) -> dict[str, Any]:
    meta = flowrun["metadata"]
    return {"apiVersion": API_VERSION, "kind": KIND, "name": meta["name"], "uid": meta["uid"],
            "controller": True, "blockOwnerDeletion": True}


def labels(flowrun: dict[str, Any], attempt: int | None = None) -> dict[str, str]:
    out = {LABEL_RUN: flowrun["metadata"]["name"], LABEL_MANAGED_BY: MANAGED_BY, **carried(flowrun)}
    if attempt is not None:
        out[LABEL_ATTEMPT] = str(attempt)
    return out


def _meta(flowrun: dict[str, Any], name: str, attempt: int | None = None) -> dict[str, Any]:
    return {"name": name, "namespace": flowrun["metadata"]["namespace"],
            "labels": labels(flowrun, attempt), "ownerReferences": [owner_reference(flowrun)]}


def job_name(run_name: str, attempt: int) -> str:
    return f"{run_name}-{attempt}"


def runner_account_name(run_name: str) -> str:
    return f"{run_name}-runner"


def cache_claim_name(flowrun: dict[str, Any]) -> str:
    claim = ((flowrun.get("spec") or {}).get("cache") or {}).get("claimName") or ""
    return claim or f"{flowrun['metadata']['name']}-cache"


def owns_cache_claim(flowrun: dict[str, Any]) -> bool:
    return not ((flowrun.get("spec") or {}).get("cache") or {}).get("claimName")


def cache_claim(flowrun: dict[str, Any], settings: Settings) -> dict[str, Any]:
    cache = (flowrun.get("spec") or {}).get("cache") or {}
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": str(cache.get("size") or settings.cache_size)}},
    }
    storage_class = cache.get("storageClassName") or settings.cache_storage_class
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": _meta(flowrun, cache_claim_name(flowrun)), "spec": spec}


def runner_account(flowrun: dict[str, Any]) -> list[dict[str, Any]]:
    """ServiceAccount, Role and RoleBinding: the run's pod may read, watch and patch its
    own FlowRun (by resourceNames), read its own inbox pages (by resourceNames), create
    FlowRuns (subflows) and send inputs (create FlowRunInputs); nothing else."""
    name = flowrun["metadata"]["name"]
    account = runner_account_name(name)
    own = [name]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(flowrun, account)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": _meta(flowrun, account),
         "rules": [
             {"apiGroups": [GROUP], "resources": [PLURAL], "resourceNames": own,
              "verbs": ["get", "list", "watch", "patch"]},
             {"apiGroups": [GROUP], "resources": [f"{PLURAL}/status"], "resourceNames": own,
              "verbs": ["get", "patch"]},
             # Subflows: the one broader right. Create cannot be limited by name; the
             # parent never reads its children (the operator mirrors their status into
             # the parent's status.subflows).
             {"apiGroups": [GROUP], "resources": [PLURAL], "verbs": ["create"]},
             # Runtime inputs: its own inbox pages, by name (never another run's inputs),
             # and sending inputs (create returns only what it created).
             {"apiGroups": [GROUP], "resources": [INBOX_PLURAL], "resourceNames": page_names(name),
              "verbs": ["get", "list", "watch"]},
             {"apiGroups": [GROUP], "resources": [INPUT_PLURAL], "verbs": ["create"]},
         ]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": _meta(flowrun, account),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
         "subjects": [{"kind": "ServiceAccount", "name": account,
                       "namespace": flowrun["metadata"]["namespace"]}]},
    ]


def job(flowrun: dict[str, Any], attempt: int, settings: Settings) -> dict[str, Any]:
    meta, spec = flowrun["metadata"], flowrun.get("spec") or {}
    name = meta["name"]
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": spec.get("image") or settings.runner_image,
        "imagePullPolicy": settings.image_pull_policy,
        "env": [
            {"name": ENV_NAME, "value": name},
            {"name": ENV_NAMESPACE, "value": meta["namespace"]},
            {"name": ENV_ATTEMPT, "value": str(attempt)},
            {"name": ENV_CACHE_DIR, "value": CACHE_MOUNT_PATH},
            {"name": "FLOWRUN_DEFAULT_TIMEOUT", "value": str(settings.default_timeout_seconds)},
            {"name": "PYTHONUNBUFFERED", "value": "1"},
            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
            {"name": "HOME", "value": "/tmp"},
        ],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "cache", "mountPath": CACHE_MOUNT_PATH},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": runner_account_name(name),
        "automountServiceAccountToken": True,
        "terminationGracePeriodSeconds": settings.termination_grace_seconds,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True, "runAsUser": RUNNER_UID, "runAsGroup": RUNNER_UID,
            "fsGroup": RUNNER_UID, "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {"name": "cache", "persistentVolumeClaim": {"claimName": cache_claim_name(flowrun)}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    pod_meta: dict[str, Any] = {"labels": labels(flowrun, attempt)}
    pod_meta, pod_spec = merge_template(pod_meta, pod_spec, spec.get("template") or {})
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": _meta(flowrun, job_name(name, attempt), attempt),
        "spec": {"backoffLimit": 0, "template": {"metadata": pod_meta, "spec": pod_spec}},
    }


def merge_template(pod_meta: dict[str, Any], pod_spec: dict[str, Any],
                   template: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply `spec.template` overrides: labels and annotations are added; pod spec fields
    replace ours, except containers (the first is merged into the runner container, env
    and volumeMounts appended) and volumes (appended). Our labels always win, so the
    operator can still find its pods."""
    meta, spec = copy.deepcopy(pod_meta), copy.deepcopy(pod_spec)
    t_meta = template.get("metadata") or {}
    meta["labels"] = {**(t_meta.get("labels") or {}), **meta["labels"]}
    if t_meta.get("annotations"):
        meta["annotations"] = dict(t_meta["annotations"])
    for key, value in (template.get("spec") or {}).items():
        if key == "containers":
            overrides = (value or [{}])[0]
            ours = spec["containers"][0]
            for ckey, cvalue in overrides.items():
                if ckey in ("env", "volumeMounts"):
                    ours[ckey] = ours[ckey] + list(cvalue)
                elif ckey != "name":
                    ours[ckey] = cvalue
            spec["containers"].extend(value[1:])
        elif key == "volumes":
            spec["volumes"] = spec["volumes"] + list(value)
        else:
            spec[key] = value
    return meta, spec
