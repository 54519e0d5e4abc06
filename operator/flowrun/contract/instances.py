"""Operator instances: which FlowRuns an operator handles (docs/design.md, "Operator
instances"). An operator with instance id X handles exactly the FlowRuns labelled
`flowrun.io/instance: X`; one without an id exactly those without the label. A child
FlowRun carries its parent's label, and a run's Jobs and pods carry it too, so the watch
filters of one instance never see another's objects.

What this module must never do: read anything. It answers from the labels it is given.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .constants import LABEL_INSTANCE


def instance_of(obj: Mapping[str, Any]) -> str:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(LABEL_INSTANCE, "")


def belongs(obj: Mapping[str, Any], instance: str) -> bool:
    """Whether the operator of `instance` ("" for none) handles this object."""
    return instance_of(obj) == instance


def selector(instance: str) -> str:
    """The label selector of an instance's objects (for list and watch requests)."""
    return f"{LABEL_INSTANCE}={instance}" if instance else f"!{LABEL_INSTANCE}"


def carried(parent: Mapping[str, Any]) -> dict[str, str]:
    """The labels a run passes on to what it starts (children, Jobs, pods)."""
    instance = instance_of(parent)
    return {LABEL_INSTANCE: instance} if instance else {}


def labelled(manifest: dict[str, Any], instance: str) -> dict[str, Any]:
    """`manifest` (a FlowRun to create) labelled for `instance`; unchanged for none."""
    if not instance:
        return manifest
    meta = dict(manifest.get("metadata") or {})
    meta["labels"] = {**(meta.get("labels") or {}), LABEL_INSTANCE: instance}
    return {**manifest, "metadata": meta}
