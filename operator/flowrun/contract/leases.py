"""Leader election among the replicas of one operator instance: the decision only.

Replicas share one `coordination.k8s.io/v1` Lease. Each one reads it every
`retry_period` seconds and asks `decide` what to do. The rules (those of client-go's
leaderelection, which Kubernetes' own controllers use):

- Nobody holds the lease (none yet, or its holder released it): take it.
- Another replica holds it: stand by, unless the lease record has not changed for
  `lease_duration` seconds *as this replica has watched it* (its own monotonic clock,
  never the holder's timestamps: clocks of two machines need not agree). Then its
  holder is gone: take it.
- This replica holds it: renew it. If its last successful renewal *started* more than
  `renew_deadline` seconds ago, it stops acting at once (fencing, `must_stop`): the lease was
  renewed at the earliest when that request started, others wait `lease_duration` from
  when they saw that renewal, so a leader that lost its lease has stopped before anyone
  else may take it (renew_deadline < lease_duration; the gap covers a step in flight).

What this module must never do: read a clock or the API. Times come in as arguments.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Any

from .constants import GROUP
from .objects import LeaseView

# A lease as last read: (holder, renewTime, leaseTransitions).
Record = tuple[str, Any, int]


class Action(enum.Enum):
    ACQUIRE = "acquire"  # write the lease with us as holder (create, or update it by version)
    RENEW = "renew"  # we hold it: write a new renewTime
    STAND_BY = "stand-by"  # someone else holds a live lease
    STEP_DOWN = "step-down"  # we held it but missed the renew deadline: stop acting now


@dataclass(frozen=True)
class Timings:
    lease_duration: float = 8.0
    renew_deadline: float = 5.0
    retry_period: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError("lease timings must satisfy 0 < retry period < renew deadline < lease duration")


@dataclass(frozen=True)
class Observed:
    """What one replica remembers of the lease between two reads (its own clock)."""
    record: Record | None = None  # (holder, renewTime, transitions) as last read
    changed_at: float | None = None  # monotonic time it last saw the record change
    renewed_at: float | None = None  # monotonic time its own last successful renewal started


def lease_name(instance: str) -> str:
    return f"flowrun-operator-{instance}" if instance else "flowrun-operator"


def record_of(lease: dict[str, Any] | None) -> Record | None:
    if lease is None:
        return None
    view = LeaseView.of(lease)
    return (view.holder, view.renew_time, view.transitions)


def holder(lease: dict[str, Any] | None) -> str:
    return LeaseView.of(lease).holder if lease is not None else ""


def observe(previous: Observed, lease: dict[str, Any] | None, mono: float) -> Observed:
    """The memory after reading `lease` at monotonic time `mono`."""
    record = record_of(lease)
    if record != previous.record or previous.changed_at is None:
        return replace(previous, record=record, changed_at=mono)
    return previous


def decide(lease: dict[str, Any] | None, me: str, seen: Observed, mono: float, timings: Timings,
           *, leading: bool) -> Action:
    """What replica `me` does now, having read `lease` (None: there is none) and
    updated its memory with `observe`. `leading`: it is acting as the leader now."""
    current = holder(lease)
    if current == me:
        # Ours: renew, even late. Fencing does not wait for this decision: `must_stop`
        # turns a leader off the moment its renew deadline passes (and the shell steps
        # down); a renewal that succeeds later makes it the leader again (it then
        # reconciles everything, as after any gain), and one that fails on the
        # resourceVersion means someone else took over.
        return Action.RENEW
    if leading:  # someone else took it (we were too slow): stop at once
        return Action.STEP_DOWN
    if lease is None or not current:
        return Action.ACQUIRE
    if seen.changed_at is not None and mono - seen.changed_at > timings.lease_duration:
        return Action.ACQUIRE
    return Action.STAND_BY


def must_stop(seen: Observed, mono: float, timings: Timings) -> bool:
    """Fencing between two reads: a leader checks this before each step it takes."""
    return seen.renewed_at is None or mono - seen.renewed_at > timings.renew_deadline


def lease_body(namespace: str, name: str, me: str, timings: Timings, time: str,
               current: dict[str, Any] | None) -> dict[str, Any]:
    """The Lease to write when `me` acquires or renews (`time`: RFC 3339 with
    microseconds, as MicroTime wants). Keeps resourceVersion: the write is a
    compare-and-swap, so two replicas never both win."""
    view = LeaseView.of(current) if current is not None else None
    spec = dict(view.spec) if view is not None else {}
    taking = view is None or view.holder != me
    spec.update({"holderIdentity": me, "leaseDurationSeconds": int(round(timings.lease_duration)),
                 "renewTime": time})
    if taking:
        spec["acquireTime"] = time
        spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if current else 0)
    metadata: dict[str, Any] = {"name": name, "namespace": namespace,
                                "labels": {"app.kubernetes.io/managed-by": "flowrun-operator",
                                           f"{GROUP}/lease": "leader"}}
    if view is not None:
        metadata["resourceVersion"] = view.meta.resource_version
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}


def released(current: dict[str, Any]) -> dict[str, Any]:
    """The Lease as a leader leaving in good order writes it: no holder, so a standby
    takes it at its next read instead of waiting out the lease."""
    spec = dict(LeaseView.of(current).spec)
    spec["holderIdentity"] = ""
    return {**current, "spec": spec}
