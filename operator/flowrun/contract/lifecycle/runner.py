"""The runner's rules: the steps of one attempt's runner inside the run's pod.

Every one of them is fenced first (`runner_fence`): a runner whose attempt is no longer
the run's, or whose run is suspended, cancelled or finished, changes nothing and stops
quietly. sdk/live.py applies the steps (compare-and-swap writes, the volume).

It must never do I/O or read a clock: `now` is an argument, and the flow's model
validation and the volume's reads are callbacks. It never imports the operator's or
people's rules.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .. import approvals
from ..audit import actor
from ..constants import (
    MAX_DESCRIPTION_BYTES,
    MAX_INPUT_BYTES,
    MAX_KEY_LENGTH,
    MAX_NOTIFY_MESSAGE_BYTES,
    MAX_SCHEMA_BYTES,
)
from ..inputs import input_errors
from ..phases import PauseKind, Phase, State
from ..status import (
    clip,
    history_patch,
    json_size,
    keys_add,
    keys_contain,
    keys_remove,
    parse_timestamp,
    phase_patch,
    timestamp,
)
from .steps import Exit, Hold, Proceed, RunnerStep, Stash, Stop, Write, end_status as _end
from .view import _spec, _status, pending_pause
from .vocabulary import FLOW_FAILED

# ---- the runner ----------------------------------------------------------------------------

def runner_fence(obj: Mapping[str, Any] | None, attempt: int) -> Stop | None:
    """Stop when this attempt may no longer change the run: a later attempt took over, or
    the run is suspended, cancelled or finished. A stopped runner writes nothing."""
    if obj is None:
        return Stop("the FlowRun was deleted")
    status, spec = _status(obj), _spec(obj)
    phase = status.get("phase")
    if spec.get("state") == State.CANCELLED.value or phase == Phase.CANCELLED.value:
        reason = spec.get("reason") or ""
        return Stop("the run was cancelled" + (f": {reason}" if reason else ""), cancelled=True)
    if phase and Phase(phase).terminal:
        return Stop(status.get("message") or f"the run is {phase}")
    if int(status.get("attempt") or 0) != attempt:
        return Stop(f"attempt {status.get('attempt')} has taken over from attempt {attempt}")
    if phase == Phase.SUSPENDED.value:
        return Stop("the run is suspended")
    return None


def runner_started(obj: Mapping[str, Any], attempt: int, message: str, now: datetime) -> RunnerStep:
    stop = runner_fence(obj, attempt)
    if stop:
        return stop
    status = _status(obj)
    if status.get("phase") in (Phase.RUNNING.value, Phase.PAUSED.value):
        return None
    patch = phase_patch(status, Phase.RUNNING.value, message, when=now,
                        startTime=status.get("startTime") or timestamp(now))
    patch["history"] = history_patch(status, "started", by="runner", message=message, when=now)
    return Write(status=patch)


def runner_finished(obj: Mapping[str, Any], attempt: int, *, failed: bool, message: str,
                    now: datetime, result: Any = None, has_result: bool = False) -> RunnerStep:
    """The flow returned (Completed, with its result when small enough) or raised
    after its retries (Failed, reason FlowFailed)."""
    stop = runner_fence(obj, attempt)
    if stop:
        return stop
    status = _status(obj)
    if failed:
        return Write(status=_end(status, Phase.FAILED, FLOW_FAILED, message, action="failed",
                                 by="runner", now=now))
    fields: dict[str, Any] = {"completionTime": timestamp(now), "reason": ""}
    if has_result:
        fields["result"] = result
    patch = phase_patch(status, Phase.COMPLETED.value, message, when=now, **fields)
    patch["history"] = history_patch(status, "completed", by="runner", message=message, when=now)
    return Write(status=patch)


def runner_note(obj: Mapping[str, Any], attempt: int, action: str, message: str, now: datetime) -> RunnerStep:
    """A history entry (an Event) and the run's message, without a phase change."""
    stop = runner_fence(obj, attempt)
    if stop:
        return stop
    status = _status(obj)
    return Write(status={"message": clip(message, 1024),
                         "history": history_patch(status, action, by="runner", message=message, when=now)})


def runner_checkpoint(obj: Mapping[str, Any], attempt: int) -> Stop | Hold | str | None:
    """At a task boundary: Stop, Hold (a suspension was asked for: run nothing more),
    "pause" (a person asked for a pause: pause here), or None (carry on)."""
    stop = runner_fence(obj, attempt)
    if stop:
        return stop
    state = _spec(obj).get("state")
    if state == State.SUSPENDED.value:
        return Hold("a suspension was requested")
    if state == State.PAUSED.value and pending_pause(obj) is None:
        return "pause"
    return None


@dataclass(frozen=True)
class PauseRequest:
    """What the flow's pause_flow_run/suspend_flow_run call asks for."""
    key: str
    kind: PauseKind
    timeout_seconds: int | None
    input_schema: dict[str, Any] | None = None
    description: str | None = None
    requested_by: str = "flow"
    suspend_after_seconds: int | None = None
    approval: dict[str, Any] | None = None
    notify_message: str | None = None

    def record(self, now: datetime, generation: int, earlier: Mapping[str, Any] | None) -> dict[str, Any]:
        """status.pause for this request. A pause recorded by an earlier attempt at the
        same key keeps its start and deadline (a lost pod does not extend a pause)."""
        since = parse_timestamp((earlier or {}).get("since")) or now
        deadline = (earlier or {}).get("deadline") if earlier else (
            timestamp(since + timedelta(seconds=self.timeout_seconds)) if self.timeout_seconds else None)
        info: dict[str, Any] = {
            "key": self.key, "kind": self.kind.value, "since": timestamp(since),
            "timeoutSeconds": self.timeout_seconds, "deadline": deadline,
            "inputSchema": self.input_schema, "requestedBy": self.requested_by,
            "generation": generation,
        }
        if self.description:
            info["description"] = clip(self.description, MAX_DESCRIPTION_BYTES)
        if self.suspend_after_seconds:
            info["suspendAfterSeconds"] = self.suspend_after_seconds
        if self.notify_message:
            info["notifyMessage"] = clip(self.notify_message, MAX_NOTIFY_MESSAGE_BYTES)
        if self.approval:
            info["approval"] = self.approval
        return info


def check_pause_request(request: PauseRequest) -> None:
    """Refuse a pause the run could not hold: raise ValueError saying why."""
    if not request.key or len(request.key) > MAX_KEY_LENGTH:
        raise ValueError(f"a pause key must be 1 to {MAX_KEY_LENGTH} characters: {request.key!r}")
    if request.input_schema is not None and json_size(request.input_schema) > MAX_SCHEMA_BYTES:
        raise ValueError(f"the input model's JSON schema is {json_size(request.input_schema)} bytes, "
                         f"more than the {MAX_SCHEMA_BYTES} a pause may store")


@dataclass
class PauseMemo:
    """What the runner remembers between the steps of one pause (only an optimisation
    of what the FlowRun says; losing it with the pod loses nothing)."""
    armed: int | None = None  # the generation our spec write produced
    stashed: dict[str, int] = field(default_factory=dict)  # key -> generation stashed


def _pause_message(request: PauseRequest, *, re_established: bool = False) -> str:
    fields = ", ".join((request.input_schema or {}).get("properties", {}).keys())
    text = f"Paused at {request.key}; " + (f"waiting for input ({fields})" if request.input_schema
                                            else "resume with spec.state=Running")
    return text + (" (re-established by a new pod)" if re_established else "")


def runner_pause(obj: Mapping[str, Any], attempt: int, request: PauseRequest, memo: PauseMemo,
                 now: datetime, *, check: Callable[[Any], str | None],
                 stored: Callable[[str], tuple[bool, Any]]) -> RunnerStep:
    """The runner's next step for a pause_flow_run / suspend_flow_run call.

    `check(data)`: the input model's own validation (None when valid, else the message);
    `stored(key)`: (found, input) from the run's volume.
    """
    stop = runner_fence(obj, attempt)
    if stop:
        return stop
    status, spec = _status(obj), _spec(obj)
    generation = int((obj.get("metadata") or {}).get("generation") or 0)
    key = request.key
    # 1. Resumed already (in this attempt or an earlier one): its input, from the status
    #    until it is on the volume, then from the volume.
    if keys_contain(status.get("resumed"), key):
        inputs = status.get("inputs") or {}
        if key in inputs:
            data = inputs[key]
            if memo.stashed.get(key) is None:
                error = check(data)
                if error:
                    return _unresume(obj, status, request, error, now, generation)
                return Stash(key, data, generation)
            return Write(status={"inputs": {key: None}})
        found, data = stored(key)
        if found:
            error = check(data)
            if error:
                return _unresume(obj, status, request, error, now, generation)
        return Proceed(data if found else None)
    target = State.PAUSED if request.kind is PauseKind.PAUSE else State.SUSPENDED
    state = spec.get("state")
    recorded = status.get("pause") or {}
    recorded = recorded if recorded.get("key") == key else None
    # 2. A suspension asked for from outside: a pause waits for it to be recorded (then
    #    the fence stops this runner) or withdrawn.
    if state == State.SUSPENDED.value and request.kind is PauseKind.PAUSE:
        return Hold("a suspension was requested")
    # 3. Not recorded yet.
    if recorded is None:
        if request.kind is PauseKind.SUSPEND:
            # Record first: the operator acts on spec.state and must find the key.
            patch = {"pause": request.record(now, generation, None),
                     "history": history_patch(status, "suspended", by=request.requested_by, key=key, when=now)}
            return Write(status=patch)
        if memo.armed is not None and generation > memo.armed and state != target.value:
            # A person changed spec.state after our write armed the pause: record the
            # pause as of that write, so their change is judged as its resume.
            return Write(status=_paused(status, request, now, memo.armed, None))
        if state != target.value or spec.get("input") is not None:
            # Arm: spec first, so that any later change of spec.state is newer than it.
            return Write(spec={"spec": {"state": target.value, "input": None}}, spec_first=True)
        return Write(status=_paused(status, request, now, generation, None))
    pause_generation = int(recorded.get("generation") or 0)
    resumed = (state == State.RUNNING.value and generation > pause_generation
               and generation != recorded.get("rejectedGeneration"))
    # 4. Recorded: a flow's own suspension sets spec.state, then ends the process.
    if request.kind is PauseKind.SUSPEND:
        if state == State.SUSPENDED.value:
            return Exit(key)
        if resumed and spec.get("input") is not None:
            return _judge_resume(obj, status, spec, request, recorded, memo, now, generation, check)
        return Write(spec={"spec": {"state": State.SUSPENDED.value, "input": None}})
    # 5. Recorded pause: a change of spec.state to Running after it armed is its resume.
    if resumed:
        return _judge_resume(obj, status, spec, request, recorded, memo, now, generation, check)
    if state == State.RUNNING.value:
        return Write(spec={"spec": {"state": State.PAUSED.value, "input": None}}, spec_first=True)
    if status.get("phase") != Phase.PAUSED.value:
        # Re-established by a new attempt (its pod was lost): same key, same deadline.
        return Write(status=_paused(status, request, now, pause_generation, recorded))
    return Hold(f"paused at {key}")


def _paused(status: Mapping[str, Any], request: PauseRequest, now: datetime, generation: int, earlier: Mapping[str, Any] | None) -> dict[str, Any]:
    pause = request.record(now, generation, earlier)
    if earlier and earlier.get("rejectedGeneration") is not None:
        pause["rejectedGeneration"] = earlier["rejectedGeneration"]
    patch = phase_patch(status, Phase.PAUSED.value, _pause_message(request, re_established=bool(earlier)),
                        when=now, pause=pause)
    if not earlier:
        patch["history"] = history_patch(status, "paused", by=request.requested_by, key=request.key, when=now)
    return patch


def _judge_resume(obj: Mapping[str, Any], status: Mapping[str, Any], spec: Mapping[str, Any], request: PauseRequest, recorded: Mapping[str, Any], memo: PauseMemo, now: datetime,
                  generation: int, check: Callable[[Any], str | None]) -> RunnerStep:
    if not approvals.complete(approvals.approval_of(recorded)):
        return Hold("the operator counts the pause's approvals")
    data = spec.get("input")
    errors = input_errors(recorded.get("inputSchema"), data)
    error = "; ".join(errors) if errors else (check(data) if recorded.get("inputSchema") else None)
    if error is None and data is not None and json_size(data) > MAX_INPUT_BYTES:
        error = f"the input is {json_size(data)} bytes, more than the {MAX_INPUT_BYTES} allowed"
    key = request.key
    if error:
        back = State.PAUSED if request.kind is PauseKind.PAUSE else State.SUSPENDED
        patch = {"message": clip(f"Resume of {key} rejected, input is invalid: {error}", 1024),
                 "pause": {"rejectedGeneration": generation},
                 "history": history_patch(status, "resume-rejected", by=actor(obj), key=key,
                                          message=error, when=now)}
        return Write(status=patch, spec={"spec": {"state": back.value}})
    if data is not None and memo.stashed.get(key) != generation:
        return Stash(key, data, generation)
    patch = phase_patch(status, Phase.RUNNING.value, f"Resumed from {key}", when=now, pause=None,
                        resumed=keys_add(status.get("resumed"), key))
    patch["history"] = history_patch(status, "resumed", by=actor(obj), key=key, when=now, given=data)
    return Write(status=patch)


def _unresume(obj: Mapping[str, Any], status: Mapping[str, Any], request: PauseRequest, error: str, now: datetime, generation: int) -> Write:
    """Input stored for a pause fails the flow's own model validation (a resume judged
    by the operator, which knows only the JSON schema): the pause is not over. It is
    taken back and waits again, at the same key, for input that validates."""
    key = request.key
    earlier = status.get("pause") if (status.get("pause") or {}).get("key") == key else None
    pause = request.record(now, generation, earlier)
    pause["rejectedGeneration"] = generation
    patch = {"resumed": keys_remove(status.get("resumed"), key), "inputs": {key: None},
             "pause": pause, "message": clip(f"Resume of {key} rejected, input is invalid: {error}", 1024),
             "history": history_patch(status, "resume-rejected", by=actor(obj), key=key,
                                      message=error, when=now)}
    return Write(status=patch)
