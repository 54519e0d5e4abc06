"""Whose child a FlowRun is, and what its name must be.

Why: flow code may create FlowRuns (subflows), and the operator copies a child's result
into its parent's status. A child named only after its parent (`<parent>-sub-1`) could be
made by any run to inject a result into another ("posing as another run's child"), and a
parent deleted and re-applied under the same name would adopt its predecessor's child.
So a child's name carries its parent's name AND uid, and its ownership (linked: an
ownerReference to the parent's uid; independent: a label with the starting run's uid)
says the same. The webhook refuses anything else from a run's ServiceAccount; the
operator mirrors a result only into the run the child really belongs to.

Pure functions, no I/O.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from .identities import claimed_parent, run_account
from .instances import instance_of
from .constants import LABEL_INSTANCE, KIND, LABEL_PARENT, LABEL_STARTED_BY, LABEL_STARTED_BY_UID
from .objects import Meta

# FlowRun names are at most 52 characters, so that `<run>-<attempt>` Job names and the
# labels derived from them stay within Kubernetes' 63.
MAX_NAME = 52
_PARENT_PART = 30
_UID_PART = 8


def child_prefix(parent: str, parent_uid: str) -> str:
    """Every child of this very run (this uid) starts with this."""
    return f"{parent[:_PARENT_PART].rstrip('-')}-{parent_uid.replace('-', '')[:_UID_PART]}-"


def child_name(parent: str, parent_uid: str, key: str) -> str:
    """The name of the child started at call `key` (deterministic, so a re-executed
    parent finds the child it already started), at most MAX_NAME characters."""
    prefix = child_prefix(parent, parent_uid)
    name = prefix + key
    if len(name) <= MAX_NAME:
        return name
    return prefix + hashlib.sha256(key.encode()).hexdigest()[:MAX_NAME - len(prefix)]


def is_child_of(child: Mapping[str, Any], parent: Mapping[str, Any]) -> bool:
    """True when `child` belongs to this very `parent` (not to an older run of the same
    name): its name has the parent's prefix, and it is owned by the parent's uid (linked)
    or labelled with it (independent)."""
    meta, pmeta = Meta.of(child), Meta.of(parent)
    uid, labels = pmeta.uid, meta.labels
    if not uid or not meta.name.startswith(child_prefix(pmeta.name, uid)):
        return False
    if labels.get(LABEL_PARENT) == pmeta.name:
        return uid in meta.owner_uids(KIND)
    if labels.get(LABEL_STARTED_BY) == pmeta.name:
        return labels.get(LABEL_STARTED_BY_UID) == uid and uid not in meta.owner_uids(KIND)
    return False


def child_errors(child: Mapping[str, Any], parent: Mapping[str, Any]) -> list[str]:
    """Why `child`, created by `parent`'s own ServiceAccount, is not a proper child of it
    (empty: it is)."""
    pmeta = Meta.of(parent)
    name, uid = pmeta.name, pmeta.uid
    if is_child_of(child, parent):
        if instance_of(child) != instance_of(parent):
            return [f"a run's children carry its label {LABEL_INSTANCE}={instance_of(parent)!r} "
                    "(its operator instance; run_flow does this)"]
        return []
    return [f"a run's ServiceAccount may create only its own children: name it "
            f"{child_prefix(name, uid)}<key>, and either label it {LABEL_PARENT}={name} and own it by "
            f"{KIND} {name} (uid {uid}), or label it {LABEL_STARTED_BY}={name} and "
            f"{LABEL_STARTED_BY_UID}={uid} (run_flow does this)"]


def person_refusal(new: Mapping[str, Any], old: Mapping[str, Any] | None, user: str) -> str:
    """The webhook's refusal of a FlowRun labelled as a run's child (on create, or when
    the labels change) by anyone but that run's own pod; the caller asks only when the
    user is not the pod of an existing run that owns its account."""
    parent, labels = claimed_parent(new), Meta.of(new).labels
    if not parent or (old is not None and claimed_parent(old) == parent and Meta.of(old).labels == labels):
        return ""
    label = LABEL_PARENT if labels.get(LABEL_PARENT) else LABEL_STARTED_BY
    return (f"only the run {parent}'s own pod may create its children (run_flow does); "
            f"{user or 'an unknown user'} may not create a FlowRun labelled {label}={parent}")
