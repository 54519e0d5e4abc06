"""Owned, never adopted: an object the operator makes for a run (its ServiceAccount, Role,
RoleBinding, cache claim, Jobs) is used only when it carries an ownerReference to that
run's uid.

Why: creation is idempotent by name (a 409 returns the object of that name), so without
this rule a FlowRun named `gitlab` would run as an existing `gitlab-runner` account with
all its RoleBindings, or mount an existing `<run>-cache` claim (docs/security.md, "Threat
model"). An object of the name that the run does not own makes the run fail with the
reason `Conflict`, naming the object.

Pure functions, no I/O.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .objects import Meta, Object

CONFLICT = "Conflict"


def owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    """True when `obj` is controlled by the object of `uid` (an ownerReference with
    controller: true)."""
    return Meta.of(obj).controlled_by(uid)


def conflict_message(obj: Mapping[str, Any], run: Mapping[str, Any]) -> str:
    """Why a run cannot use `obj` (an object of the name it needs that it does not own)."""
    what, run_meta = Object.of(obj), Meta.of(run)
    return (f"{what.kind or 'An object'} {what.meta.name or '?'} already exists and does not belong to this "
            f"run (no ownerReference to FlowRun {run_meta.name or '?'}, uid {run_meta.uid or '?'}): "
            "the operator never adopts an object it did not make for the run; remove that object or "
            "create the FlowRun under another name")
