"""What the operator sees of the world (the attempt's Jobs and pods, linked children)
and the settings its decisions depend on, as plain values.

It exists so that the operator's rules are pure functions of a run, a World and a
Policy: controller/reconcile.py and controller/cache.py build these views from the
API's objects. It must never hold an API object or a client.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from ..constants import DEFAULT_MAX_POD_LOSSES
from ..phases import State

@dataclass(frozen=True)
class JobView:
    name: str
    attempt: int
    uid: str = ""
    finished: str | None = None  # "Complete" | "Failed"
    deleting: bool = False


@dataclass(frozen=True)
class PodView:
    name: str
    attempt: int
    alive: bool = True  # not Succeeded/Failed: its code may still run
    problem: str = ""  # a waiting reason that will not fix itself soon
    problem_reason: str = ""
    problem_since: datetime | None = None
    unschedulable: str = ""
    unschedulable_since: datetime | None = None
    detail: str = ""  # how it ended


@dataclass(frozen=True)
class ChildView:
    name: str
    linked: bool
    phase: str = ""
    state: str = State.RUNNING.value
    suspended_with_parent: bool = False
    waiting: bool = False  # at a pause nobody has answered yet


@dataclass(frozen=True)
class World:
    jobs: tuple[JobView, ...] = ()
    pods: tuple[PodView, ...] = ()
    children: tuple[ChildView, ...] = ()


@dataclass(frozen=True)
class Policy:
    """The operator settings that decisions depend on."""
    default_timeout_seconds: int = 3600
    max_pod_losses: int = DEFAULT_MAX_POD_LOSSES
    suspend_after_seconds: int | None = None
    image_pull_grace_seconds: int = 60
    # A pod unschedulable for less than this is normal (its claim is being bound): quiet.
    unschedulable_grace_seconds: int = 10
    job_name: Callable[[str, int], str] = field(default=lambda run, attempt: f"{run}-{attempt}")
    # The key the admission webhook signs approvals with (None: no approval is counted).
    approval_secret: bytes | None = None
