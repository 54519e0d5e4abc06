"""Operator instances: which FlowRuns an operator handles (docs/design.md, "Operator
instances"). An operator with instance id X handles exactly the FlowRuns labelled
`flowrun.io/instance: X`; one without an id exactly those without the label. A child
FlowRun carries its parent's label, and a run's Jobs and pods carry it too, so the watch
filters of one instance never see another's objects.

What this module must never do: read anything. It answers from the labels it is given.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from .constants import LABEL_INSTANCE
from .objects import Meta


def instance_of(obj: Mapping[str, Any]) -> str:
    return str(Meta.of(obj).labels.get(LABEL_INSTANCE, ""))


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
    meta = dict(Meta.of(manifest).doc)
    meta["labels"] = {**(meta.get("labels") or {}), LABEL_INSTANCE: instance}
    return {**manifest, "metadata": meta}


FINALIZER = "flowrun.io/operator"
_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")


def finalizer(instance: str) -> str:
    """The finalizer an instance puts on its FlowRuns: one name per instance. kopf removes
    its finalizer from every object it watches that no handler of its own takes, so two
    instances sharing a name would take it off each other's runs, endlessly, each write
    conflicting with the runner's (found with `make deploy`'s operator beside the suite).
    The part after the slash is at most 63 characters: a long id is hashed."""
    if not instance:
        return FINALIZER
    name = f"operator-{instance}"
    if len(name) > 63 or not _NAME.fullmatch(name):
        name = f"operator-{hashlib.sha256(instance.encode()).hexdigest()[:16]}"
    return f"flowrun.io/{name}"
