"""What a decision can say: the steps every actor's rules return, and the one status
patch that ends a run.

It exists so that the operator's and the runner's rules, and the shells that apply
their answers (controller/reconcile.py, sdk/live.py), share one set of typed steps. It
must never read a run or decide anything: steps are plain values.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..phases import Phase
from ..status import history_patch, phase_patch, timestamp

@dataclass(frozen=True)
class Write:
    """One decision about the FlowRun itself: a merge patch of the main resource
    (`spec`, with `metadata`), of the status subresource, or both. Both: two writes, each
    guarded by the resourceVersion the previous one produced; `spec_first` says which
    goes first (docs/design.md explains each order)."""

    spec: dict[str, Any] | None = None
    status: dict[str, Any] | None = None
    spec_first: bool = False

    def patches(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        return self.spec, self.status


@dataclass(frozen=True)
class CreateJob:
    """Create (or adopt) what the attempt needs: account, claim, then its Job."""
    attempt: int


@dataclass(frozen=True)
class DeleteJobs:
    """Delete these Jobs with background propagation (their pods go too)."""
    names: tuple[str, ...]


@dataclass(frozen=True)
class PatchChildren:
    """Merge patches for linked children: (child name, patch of the main resource)."""
    patches: tuple[tuple[str, dict[str, Any]], ...]


@dataclass(frozen=True)
class Wait:
    """Nothing to do until something changes (or until `until`)."""
    reason: str
    until: datetime | None = None
    status: dict[str, Any] | None = None  # a blocked message to show meanwhile, if new


@dataclass(frozen=True)
class Stop:
    """Runner: stop quietly; nothing of this attempt may change the run any more."""
    reason: str
    cancelled: bool = False


@dataclass(frozen=True)
class Hold:
    """Runner: wait for the next change of the FlowRun, then ask again."""
    reason: str


@dataclass(frozen=True)
class Proceed:
    """Runner: the pause is over (or was resumed in an earlier attempt): return `value`."""
    value: Any = None


@dataclass(frozen=True)
class Stash:
    """Runner: write this pause's input to the run's volume, then ask again (it leaves
    the status only once it is safely on the volume)."""
    key: str
    value: Any
    generation: int


@dataclass(frozen=True)
class Exit:
    """Runner: the flow suspended itself; end the process so the Job can go."""
    key: str


@dataclass(frozen=True)
class PauseHere:
    """Runner, at a task boundary: a person asked for a pause; pause before the next
    task (at a key of the runner's choosing)."""


Step = Write | CreateJob | DeleteJobs | PatchChildren | Wait | None
RunnerStep = Write | Stop | Hold | Proceed | Stash | Exit | None


def end_status(status: Mapping[str, Any], phase: Phase, reason: str, message: str, *, action: str,
               by: str, key: str = "", now: datetime) -> dict[str, Any]:
    """The status patch that ends a run in `phase` for `reason` (one history entry)."""
    patch = phase_patch(status, phase.value, message, when=now, completionTime=timestamp(now),
                        reason=reason)
    patch["history"] = history_patch(status, action, by=by, key=key, message=message, when=now)
    if (status.get("pause") or {}).get("until"):
        patch["pause"] = {"until": None}  # an ended run continues at no time (the Continues column)
    return patch
