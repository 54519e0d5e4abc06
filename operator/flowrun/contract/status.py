"""Building status patches: one function per kind of change, all going through the
phase table, so no room writes a phase without the state machine's consent.

Each function takes the current status (a plain dict as read from the API) and returns
a JSON merge patch for `status`. Callers apply it with optimistic concurrency (the
resourceVersion they read), so two writers can never both win.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from .constants import MAX_HISTORY
from .phases import check_phase_transition, conditions_for


def now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def timestamp(when: datetime | None = None) -> str:
    return (when or now()).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def phase_patch(
    status: Mapping[str, Any] | None,
    phase: str,
    message: str,
    *,
    when: datetime | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A status patch moving the run to `phase` (checked against the table), with the
    conditions recomputed and any extra status `fields` set alongside."""
    status = status or {}
    check_phase_transition(status.get("phase"), phase)
    when = when or now()
    pause = fields.get("pause", status.get("pause"))
    patch: dict[str, Any] = {
        "phase": phase,
        "message": message,
        "conditions": conditions_for(
            phase,
            message=message,
            awaiting_input=bool(pause and pause.get("inputSchema")),
            previous=status.get("conditions"),
            now=when,
        ),
    }
    patch.update(fields)
    return patch


def history_patch(
    status: Mapping[str, Any] | None, action: str, *, by: str = "", key: str = "",
    message: str = "", when: datetime | None = None,
) -> list[dict[str, Any]]:
    """The whole new history list (merge patches replace lists) with one entry added."""
    entries = list((status or {}).get("history") or [])
    seq = max((e.get("seq", 0) for e in entries), default=0) + 1
    entry = {"time": timestamp(when), "action": action, "by": by, "key": key, "seq": seq}
    if message:
        entry["message"] = message
    entries.append(entry)
    return entries[-MAX_HISTORY:]
