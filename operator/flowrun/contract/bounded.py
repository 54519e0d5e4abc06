"""Bounded vocabularies: what flow code writes must not become unbounded label values,
Event reasons or Event floods (issue 26). Pure.

- `HISTORY_ACTIONS`: the actions a status.history entry may name. A runner records only
  these (anything else as `other`); readers (Events, metrics) map anything else, which
  flow code could write with its own token, to `other` as well.
- `bounded(value, allowed)`: a metric label value from a fixed set, else `other`.
- `EventBudget`: a token bucket per run, so a flow writing history in a loop cannot flood
  the namespace's Events (the history itself is capped at MAX_HISTORY entries).
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from .lifecycle.vocabulary import PauseKind, Phase

OTHER = "other"

# What each history action is called as an Event (reason, type); an action not here is `other`.
HISTORY_EVENTS: Mapping[str, tuple[str, str]] = {
    "created": ("Created", "Normal"),
    "created-suspended": ("CreatedSuspended", "Normal"),
    "started": ("Started", "Normal"),
    "paused": ("Paused", "Normal"),
    "suspended": ("Suspended", "Normal"),
    "resumed": ("Resumed", "Normal"),
    "completed": ("Completed", "Normal"),
    "cancelled": ("Cancelled", "Normal"),
    "approved": ("Approved", "Normal"),
    "failed": ("Failed", "Warning"),
    "retrying": ("FlowRetrying", "Warning"),
    "timed-out": ("TimedOut", "Warning"),
    "continued": ("Continued", "Normal"),
    "escalated": ("Escalated", "Normal"),
    "resume-rejected": ("ResumeRejected", "Warning"),
    "pod-lost": ("PodLost", "Warning"),
    "blocked": ("Blocked", "Warning"),
}
OTHER_EVENT = ("Other", "Normal")
HISTORY_ACTIONS: frozenset[str] = frozenset(HISTORY_EVENTS) | {OTHER}
PHASES: frozenset[str] = frozenset(p.value for p in Phase)
PAUSE_KINDS: frozenset[str] = frozenset(k.value for k in PauseKind)


def bounded(value: object, allowed: Collection[str]) -> str:
    """`value` when it is one of `allowed`, else `other`."""
    return value if isinstance(value, str) and value in allowed else OTHER


def history_action(action: object) -> str:
    return bounded(action, HISTORY_ACTIONS)


@dataclass
class EventBudget:
    """At most `burst` Events at once, refilled at `per_minute`; `allow(now)` spends one
    (now: monotonic seconds). `suppressed` counts the Events not sent since the last one sent."""
    burst: float = 10.0
    per_minute: float = 6.0
    tokens: float = -1.0
    last: float = 0.0
    suppressed: int = 0

    def allow(self, now: float) -> bool:
        if self.tokens < 0:
            self.tokens, self.last = self.burst, now
        self.tokens = min(self.burst, self.tokens + max(now - self.last, 0.0) * self.per_minute / 60.0)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        self.suppressed += 1
        return False
