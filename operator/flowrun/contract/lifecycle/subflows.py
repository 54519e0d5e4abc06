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
from .runner import runner_fence
from .steps import RunnerStep, Write
from .view import _status

def subflow_mirror(parent: Mapping[str, Any], child: Mapping[str, Any]) -> Write | None:
    """Copy a child's phase, message and result into its parent's status.subflows, which
    the parent's runner watches (a runner may read no other FlowRun). Once the parent's
    runner has a result (it lists the child in status.subflowsReceived), nothing more is
    copied. A result waits in the parent's status only while the pending results stay
    under their bound; the next change of the parent copies it when there is room."""
    name = child["metadata"]["name"]
    pstatus = _status(parent)
    if keys_contain(pstatus.get("subflowsReceived"), name):
        return None
    cstatus = _status(child)
    entry: dict[str, Any] = {"phase": cstatus.get("phase") or Phase.PENDING.value,
                             "message": cstatus.get("message", "")}
    if "result" in cstatus:
        others = sum(json_size(v) for k, v in (pstatus.get("subflows") or {}).items() if k != name and v)
        if others + json_size(cstatus["result"]) > MAX_PENDING_SUBFLOW_BYTES:
            entry["resultPending"] = True
        else:
            entry["result"] = cstatus["result"]
    if (pstatus.get("subflows") or {}).get(name) == entry:
        return None
    return Write(status={"subflows": {name: entry}})


def subflow_received(obj: Mapping[str, Any], attempt: int, name: str) -> RunnerStep:
    """Runner: a child's result is safely in the parent's cache: drop it from status."""
    stop = runner_fence(obj, attempt)
    if stop:
        return stop
    status = _status(obj)
    if keys_contain(status.get("subflowsReceived"), name):
        return None
    return Write(status={"subflows": {name: None},
                         "subflowsReceived": keys_add(status.get("subflowsReceived"), name)})
