"""The runner's rules: the steps of one attempt's runner inside the run's pod.

Every one of them is fenced first (`runner_fence`): a runner whose attempt is no longer
the run's, or whose run is suspended, cancelled or finished, changes nothing and stops
quietly. sdk/live.py applies the steps (compare-and-swap writes, the volume). A pause
(`runner_pause`) is in pausing.py.

It must never do I/O or read a clock: `now` is an argument, and the flow's model
validation and the volume's reads are callbacks. It never imports the operator's or
people's rules.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..bounded import history_action
from ..phases import Phase, State
from ..status import clip, history_patch, phase_patch, timestamp
from .steps import Hold, PauseHere, RunnerStep, Stop, Write, end_status
from .view import RunView
from .vocabulary import FLOW_FAILED


def runner_fence(obj: Mapping[str, Any] | None, attempt: int) -> Stop | None:
    """Stop when this attempt may no longer change the run: a later attempt took over, or
    the run is suspended, cancelled or finished. A stopped runner writes nothing."""
    if obj is None:
        return Stop("the FlowRun was deleted")
    return fence(RunView.of(obj), attempt)


def fence(run: RunView, attempt: int) -> Stop | None:
    """`runner_fence` of a run already read."""
    if run.state is State.CANCELLED or run.phase is Phase.CANCELLED:
        return Stop("the run was cancelled" + (f": {run.reason}" if run.reason else ""), cancelled=True)
    if run.phase is not None and run.phase.terminal:
        return Stop(run.message or f"the run is {run.phase.value}")
    if run.attempt != attempt:
        return Stop(f"attempt {run.attempt} has taken over from attempt {attempt}")
    if run.phase is Phase.SUSPENDED:
        return Stop("the run is suspended")
    return None


def runner_started(obj: Mapping[str, Any], attempt: int, message: str, now: datetime) -> RunnerStep:
    run = RunView.of(obj)
    stop = fence(run, attempt)
    if stop:
        return stop
    if run.phase in (Phase.RUNNING, Phase.PAUSED):
        return None
    patch = phase_patch(run.status, Phase.RUNNING.value, message, when=now,
                        startTime=run.start_time or timestamp(now))
    patch["history"] = history_patch(run.status, "started", by="runner", message=message, when=now)
    return Write(status=patch)


def runner_finished(obj: Mapping[str, Any], attempt: int, *, failed: bool, message: str,
                    now: datetime, result: Any = None, has_result: bool = False) -> RunnerStep:
    """The flow returned (Completed, with its result when small enough) or raised
    after its retries (Failed, reason FlowFailed)."""
    run = RunView.of(obj)
    stop = fence(run, attempt)
    if stop:
        return stop
    if failed:
        return Write(status=end_status(run.status, Phase.FAILED, FLOW_FAILED, message, action="failed",
                                       by="runner", now=now))
    fields: dict[str, Any] = {"completionTime": timestamp(now), "reason": ""}
    if has_result:
        fields["result"] = result
    patch = phase_patch(run.status, Phase.COMPLETED.value, message, when=now, **fields)
    patch["history"] = history_patch(run.status, "completed", by="runner", message=message, when=now)
    return Write(status=patch)


def runner_note(obj: Mapping[str, Any], attempt: int, action: str, message: str, now: datetime) -> RunnerStep:
    """A history entry (an Event) and the run's message, without a phase change."""
    run = RunView.of(obj)
    stop = fence(run, attempt)
    if stop:
        return stop
    action = history_action(action)  # a fixed vocabulary: anything else is `other`
    return Write(status={"message": clip(message, 1024),
                         "history": history_patch(run.status, action, by="runner", message=message, when=now)})


def runner_checkpoint(obj: Mapping[str, Any], attempt: int) -> Stop | Hold | PauseHere | None:
    """At a task boundary: Stop, Hold (a suspension was asked for: run nothing more),
    PauseHere (a person asked for a pause: pause here), or None (carry on)."""
    stop = runner_fence(obj, attempt)
    if stop:
        return stop
    run = RunView.of(obj)
    if run.state is State.SUSPENDED:
        return Hold("a suspension was requested")
    if run.state is State.PAUSED and run.pending is None:
        return PauseHere()
    return None
