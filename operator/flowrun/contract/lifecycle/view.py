"""Reading a FlowRun: the facts every decision reads (the pause it waits at, its
deadline, whether it is a linked child).

It exists so that the operator, the runner, people's doors, approvals and the shells
read a run the same way. It must never decide a step or write anything, and never
import the rules above it (operator, runner, people, approvals).
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..constants import LABEL_PARENT
from ..phases import Phase, State
from ..status import keys_contain, parse_timestamp

def _status(obj: Mapping[str, Any]) -> dict[str, Any]:
    return dict(obj.get("status") or {})


def _spec(obj: Mapping[str, Any]) -> dict[str, Any]:
    return dict(obj.get("spec") or {})


def pending_pause(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """status.pause when it is a pause not yet resumed (it may be waiting, suspended, or
    to be re-established by the next attempt after a lost pod)."""
    status = _status(obj)
    pause = status.get("pause") or None
    if pause and pause.get("key") and not keys_contain(status.get("resumed"), pause["key"]):
        return dict(pause)
    return None


def waits_for_a_person(obj: Mapping[str, Any]) -> bool:
    """Does the run wait at a pause its own flow asked for (not merely a suspension from
    outside, which its parent's resume lifts)?"""
    pause = pending_pause(obj)
    return pause is not None and pause.get("requestedBy", "flow") == "flow"


def pause_deadline(obj: Mapping[str, Any]) -> datetime | None:
    """The deadline the operator enforces now: a paused or suspended run's pause."""
    status = _status(obj)
    if status.get("phase") not in (Phase.PAUSED.value, Phase.SUSPENDED.value):
        return None
    return parse_timestamp((status.get("pause") or {}).get("deadline"))


def is_linked_child(obj: Mapping[str, Any]) -> bool:
    meta = obj.get("metadata") or {}
    return bool((meta.get("labels") or {}).get(LABEL_PARENT)) and any(
        ref.get("controller") for ref in meta.get("ownerReferences") or [])
