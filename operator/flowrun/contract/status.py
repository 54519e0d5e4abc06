"""Building status patches: one function per kind of change, all going through the
phase table, so no room writes a phase without the state machine's consent.

Each function takes the current status (a plain dict as read from the API) and returns
a JSON merge patch for `status`. Callers apply it with optimistic concurrency (the
resourceVersion they read), so two writers can never both win.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from .constants import LABEL_ATTEMPT, MAX_HISTORY, MAX_MESSAGE_BYTES
from .lifecycle.vocabulary import now
from .objects import Meta, Object
from .phases import check_phase_transition, conditions_for


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
    message = clip(message, MAX_MESSAGE_BYTES)
    patch: dict[str, Any] = {
        "phase": phase,
        "message": message,
        "conditions": conditions_for(
            phase,
            message=message,
            awaiting_input=bool(pause and pause.get("inputSchema")),
            blocked=fields.pop("blocked", ""),
            previous=status.get("conditions"),
            now=when,
        ),
    }
    patch.update(fields)
    return patch


def history_patch(
    status: Mapping[str, Any] | None, action: str, *, by: str = "", key: str = "",
    message: str = "", when: datetime | None = None, given: Any = None,
    groups: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """The whole new history list (merge patches replace lists) with one entry added.
    `given`: the input a resume delivered, kept as a short JSON text for the audit (the
    input itself lives on the run's volume)."""
    entries = list((status or {}).get("history") or [])
    seq = max((e.get("seq", 0) for e in entries), default=0) + 1
    entry = {"time": timestamp(when), "action": action, "by": by, "key": key, "seq": seq}
    if message:
        entry["message"] = clip(message, 200)
    if given is not None:
        entry["input"] = clip(json.dumps(given, ensure_ascii=False, default=str), 200)
    if groups:
        entry["groups"] = list(groups)[:20]
    entries.append(entry)
    return entries[-MAX_HISTORY:]


# ---- compact key lists ------------------------------------------------------------
# status.resumed (pause keys) and status.subflowsReceived (child names) must stay
# complete, yet a flow may pause thousands of times. Consecutive numbered keys of one
# stem collapse into a range: ["pause-1..200", "approve"] holds pause-1 to pause-200.

_RANGE = re.compile(r"^(?P<stem>.*-)(?P<lo>\d+)\.\.(?P<hi>\d+)$")
_NUMBERED = re.compile(r"^(?P<stem>.*-)(?P<n>\d+)$")


def _expand(entry: str) -> tuple[str, int, int] | None:
    m = _RANGE.match(entry)
    if m:
        return m["stem"], int(m["lo"]), int(m["hi"])
    m = _NUMBERED.match(entry)
    if m and str(int(m["n"])) == m["n"]:
        return m["stem"], int(m["n"]), int(m["n"])
    return None


def keys_contain(entries: Sequence[str] | None, key: str) -> bool:
    """Is `key` in a compact key list?"""
    entries = entries or []
    if key in entries:
        return True
    m = _NUMBERED.match(key)
    if not m:
        return False
    n = int(m["n"])
    for entry in entries:
        span = _expand(entry)
        if span and span[0] == m["stem"] and span[1] <= n <= span[2] and str(n) == m["n"]:
            return True
    return False


def keys_add(entries: Sequence[str] | None, key: str) -> list[str]:
    """The compact key list with `key` added (merging numbered neighbours)."""
    entries = list(entries or [])
    if keys_contain(entries, key):
        return entries
    m = _NUMBERED.match(key)
    if not m or str(int(m["n"])) != m["n"]:
        return [*entries, key]
    stem, n = m["stem"], int(m["n"])
    lo, hi = n, n
    kept = []
    for entry in entries:
        span = _expand(entry)
        if span and span[0] == stem and (span[2] == lo - 1 or span[1] == hi + 1):
            lo, hi = min(lo, span[1]), max(hi, span[2])
            continue
        kept.append(entry)
    # A second pass: merging may have made another neighbour adjacent.
    changed = True
    while changed:
        changed = False
        for entry in list(kept):
            span = _expand(entry)
            if span and span[0] == stem and (span[2] == lo - 1 or span[1] == hi + 1):
                lo, hi = min(lo, span[1]), max(hi, span[2])
                kept.remove(entry)
                changed = True
    kept.append(f"{stem}{lo}" if lo == hi else f"{stem}{lo}..{hi}")
    return kept


def keys_remove(entries: Sequence[str] | None, key: str) -> list[str]:
    """The compact key list without `key` (splitting a range)."""
    entries = list(entries or [])
    if key in entries:
        return [e for e in entries if e != key]
    m = _NUMBERED.match(key)
    if not m:
        return entries
    stem, n = m["stem"], int(m["n"])
    out: list[str] = []
    for entry in entries:
        span = _expand(entry)
        if span and span[0] == stem and span[1] <= n <= span[2]:
            for lo, hi in ((span[1], n - 1), (n + 1, span[2])):
                if lo <= hi:
                    out.append(f"{stem}{lo}" if lo == hi else f"{stem}{lo}..{hi}")
            continue
        out.append(entry)
    return out


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` bytes of UTF-8, marked when cut."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode(errors="ignore") + "..."


def json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), default=str).encode())


def current_pod(obj: Mapping[str, Any], pods: list[dict[str, Any]],
                attempt: int | None = None) -> dict[str, Any] | None:
    """The pod to show the log of: of `attempt` if given, else of the run's current Job,
    else the newest (pods oldest first, as Kube.flowrun_pods returns them)."""
    if attempt is not None:
        pods = [p for p in pods if Meta.of(p).labels.get(LABEL_ATTEMPT) == str(attempt)]
    job = Object.of(obj).status.get("jobName")
    current = [p for p in pods if job and Meta.of(p).labels.get("job-name") == job]
    chosen = current or pods
    return chosen[-1] if chosen else None
