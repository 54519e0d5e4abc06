"""Subflows: a child's outcome mirrored into its parent's status (the operator), and
the parent's runner saying it has the result (the runner).

It exists because a runner may read no other FlowRun than its own: the parent's status
carries its children's phases and results. It must never do I/O.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..constants import MAX_PENDING_SUBFLOW_BYTES
from ..phases import Phase
from ..status import json_size, keys_add, keys_contain
from .runner import fence
from .steps import RunnerStep, Write
from .view import RunView

def subflow_mirror(parent: Mapping[str, Any], child: Mapping[str, Any]) -> Write | None:
    """Copy a child's phase, message and result into its parent's status.subflows, which
    the parent's runner watches (a runner may read no other FlowRun). Once the parent's
    runner has a result (it lists the child in status.subflowsReceived), nothing more is
    copied. A result waits in the parent's status only while the pending results stay
    under their bound; the next change of the parent copies it when there is room."""
    mine, theirs = RunView.of(parent), RunView.of(child)
    name = theirs.name
    if keys_contain(mine.subflows_received, name):
        return None
    entry: dict[str, Any] = {"phase": (theirs.phase or Phase.PENDING).value, "message": theirs.message}
    if theirs.has_result:
        others = sum(json_size(v) for k, v in mine.subflows.items() if k != name and v)
        if others + json_size(theirs.result) > MAX_PENDING_SUBFLOW_BYTES:
            entry["resultPending"] = True
        else:
            entry["result"] = theirs.result
    if mine.subflows.get(name) == entry:
        return None
    return Write(status={"subflows": {name: entry}})


def subflow_received(obj: Mapping[str, Any], attempt: int, name: str) -> RunnerStep:
    """Runner: a child's result is safely in the parent's cache: drop it from status."""
    run = RunView.of(obj)
    stop = fence(run, attempt)
    if stop:
        return stop
    if keys_contain(run.subflows_received, name):
        return None
    return Write(status={"subflows": {name: None},
                         "subflowsReceived": keys_add(run.subflows_received, name)})
