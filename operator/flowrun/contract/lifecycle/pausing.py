"""The runner's rules for a pause: what the flow's pause_flow_run / suspend_flow_run
call does next (`runner_pause`), from arming the pause to returning its input.

It exists apart from runner.py because a pause is most of the runner's life: arm it
(spec first), record it, wait, judge a resume's input (schema, then the flow's own
model), put the input on the run's volume, and take back a resume whose input the
flow's model refuses. It must never do I/O or read a clock (`now` is an argument; the
model's validation and the volume's reads are callbacks), and never import the
operator's or people's rules.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .. import approvals
from ..constants import MAX_DESCRIPTION_BYTES, MAX_INPUT_BYTES, MAX_KEY_LENGTH, MAX_NOTIFY_MESSAGE_BYTES
from ..constants import MAX_SCHEMA_BYTES
from ..inputs import input_errors, schema_problems
from ..phases import PauseKind, Phase, State
from ..status import clip, history_patch, json_size, keys_add, keys_remove, phase_patch, timestamp
from .runner import fence
from .steps import Exit, Hold, Proceed, RunnerStep, Stash, Write
from .view import PauseView, RunView, new_pause
from .vocabulary import SYSTEM, OnTimeout


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
    # What the deadline does when nobody answered; "resume" resumes with `timeout_input`.
    on_timeout: OnTimeout = OnTimeout.FAIL
    timeout_input: Any = None
    # pause_flow_run(until=...): continue by itself at this time (no input); it is the
    # pause's deadline, with the system resuming it.
    until: datetime | None = None

    def record(self, now: datetime, generation: int, earlier: PauseView | None) -> dict[str, Any]:
        """status.pause for this request. A pause recorded by an earlier attempt at the
        same key keeps its start and deadline (a lost pod does not extend a pause)."""
        since = (earlier.since if earlier else None) or now
        until = (earlier.until if earlier else None) or self.until
        if earlier:
            deadline = earlier.deadline_text
        elif until is not None:
            deadline = timestamp(until)
        else:
            deadline = timestamp(since + timedelta(seconds=self.timeout_seconds)) if self.timeout_seconds else None
        timeout = self.timeout_seconds if until is None else max(0, int((until - since).total_seconds()))
        info: dict[str, Any] = {
            "key": self.key, "kind": self.kind.value, "since": timestamp(since),
            "timeoutSeconds": timeout, "deadline": deadline,
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
        if until is not None:
            info["until"] = timestamp(until)
            info["onTimeout"] = OnTimeout.RESUME.value
        elif self.on_timeout is not OnTimeout.FAIL:
            info["onTimeout"] = self.on_timeout.value
            if self.on_timeout is OnTimeout.RESUME and self.timeout_input is not None:
                info["timeoutInput"] = self.timeout_input
        return info


def check_pause_request(request: PauseRequest) -> None:
    """Refuse a pause the run could not hold: raise ValueError saying why."""
    if not request.key or len(request.key) > MAX_KEY_LENGTH:
        raise ValueError(f"a pause key must be 1 to {MAX_KEY_LENGTH} characters: {request.key!r}")
    if request.input_schema is not None and json_size(request.input_schema) > MAX_SCHEMA_BYTES:
        raise ValueError(f"the input model's JSON schema is {json_size(request.input_schema)} bytes, "
                         f"more than the {MAX_SCHEMA_BYTES} a pause may store")
    problems = schema_problems(request.input_schema)
    if problems:
        raise ValueError("the input model's JSON schema cannot be used to check input: " + "; ".join(problems))
    if request.until is not None and (request.input_schema is not None or request.on_timeout is not OnTimeout.FAIL):
        raise ValueError("until= continues the run by itself at that time, without input: it takes no "
                         "wait_for_input and no on_timeout (for a pause for input, use timeout= and "
                         "on_timeout='resume')")
    if request.on_timeout is not OnTimeout.FAIL and not request.timeout_seconds:
        raise ValueError(f"on_timeout={request.on_timeout.value!r} needs a timeout: without one, nobody "
                         "answering never ends the pause")
    if request.on_timeout is OnTimeout.RESUME:
        if request.input_schema is None and request.timeout_input is not None:
            raise ValueError("on_timeout='resume' of a pause without input resumes without input")
        missing = input_errors(request.input_schema, request.timeout_input) if request.input_schema else []
        if missing:
            raise ValueError("on_timeout='resume' resumes with the input's defaults, and these are not "
                             "complete: " + "; ".join(missing) + " (give every field a default, or use "
                             "with_initial_data)")
        if request.timeout_input is not None and json_size(request.timeout_input) > MAX_INPUT_BYTES:
            raise ValueError(f"the input's defaults are {json_size(request.timeout_input)} bytes, more than "
                             f"the {MAX_INPUT_BYTES} allowed")


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
    run = RunView.of(obj)
    stop = fence(run, attempt)
    if stop:
        return stop
    generation = run.generation
    key = request.key
    # 1. Resumed already (in this attempt or an earlier one): its input, from the status
    #    until it is on the volume, then from the volume.
    if run.resumed_at(key):
        if key in run.inputs:
            data = run.inputs[key]
            if memo.stashed.get(key) is None:
                error = check(data)
                if error:
                    return _unresume(run, request, error, now, generation)
                return Stash(key, data, generation)
            return Write(status={"inputs": {key: None}})
        found, data = stored(key)
        if found:
            error = check(data)
            if error:
                return _unresume(run, request, error, now, generation)
        return Proceed(data if found else None)
    target = State.PAUSED if request.kind is PauseKind.PAUSE else State.SUSPENDED
    state = run.state
    recorded = run.recorded(key)
    # 2. A suspension asked for from outside: a pause waits for it to be recorded (then
    #    the fence stops this runner) or withdrawn.
    if state is State.SUSPENDED and request.kind is PauseKind.PAUSE:
        return Hold("a suspension was requested")
    # 3. Not recorded yet.
    if recorded is None:
        if request.kind is PauseKind.SUSPEND:
            # Record first: the operator acts on spec.state and must find the key.
            patch = {"pause": new_pause(request.record(now, generation, None)),
                     "history": history_patch(run.status, "suspended", by=request.requested_by, key=key, when=now)}
            return Write(status=patch)
        if memo.armed is not None and generation > memo.armed and state is not target:
            # A person changed spec.state after our write armed the pause: record the
            # pause as of that write, so their change is judged as its resume.
            return Write(status=_paused(run, request, now, memo.armed, None))
        if state is not target or run.input_given:
            # Arm: spec first, so that any later change of spec.state is newer than it.
            return Write(spec={"spec": {"state": target.value, "input": None}}, spec_first=True)
        return Write(status=_paused(run, request, now, generation, None))
    resumed = run.resumes(recorded)
    # 4. Recorded: a flow's own suspension sets spec.state, then ends the process.
    if request.kind is PauseKind.SUSPEND:
        if state is State.SUSPENDED:
            return Exit(key)
        if resumed and run.input_given:
            return _judge_resume(run, request, recorded, memo, now, check)
        return Write(spec={"spec": {"state": State.SUSPENDED.value, "input": None}})
    # 5. Recorded pause: a change of spec.state to Running after it armed is its resume.
    if resumed:
        return _judge_resume(run, request, recorded, memo, now, check)
    if state is State.RUNNING:
        return Write(spec={"spec": {"state": State.PAUSED.value, "input": None}}, spec_first=True)
    if run.phase is not Phase.PAUSED:
        # Re-established by a new attempt (its pod was lost): same key, same deadline.
        return Write(status=_paused(run, request, now, recorded.generation, recorded))
    return Hold(f"paused at {key}")


def _paused(run: RunView, request: PauseRequest, now: datetime, generation: int,
            earlier: PauseView | None) -> dict[str, Any]:
    pause = request.record(now, generation, earlier)
    if earlier is None:
        pause = new_pause(pause)
    if earlier and earlier.rejected_generation is not None:
        pause["rejectedGeneration"] = earlier.rejected_generation
    patch = phase_patch(run.status, Phase.PAUSED.value, _pause_message(request, re_established=bool(earlier)),
                        when=now, pause=pause)
    if not earlier:
        patch["history"] = history_patch(run.status, "paused", by=request.requested_by, key=request.key, when=now)
    return patch


def _judge_resume(run: RunView, request: PauseRequest, recorded: PauseView,
                  memo: PauseMemo, now: datetime, check: Callable[[Any], str | None]) -> RunnerStep:
    # Nobody answered by the deadline and the pause said on_timeout="resume": the system
    # resumes it with the defaults it recorded (no approval; nobody else's input counts).
    system = recorded.resumed_by_system
    if not system and not approvals.complete(recorded.approval):
        return Hold("the operator counts the pause's approvals")
    data = recorded.timeout_input if system else run.input
    by = SYSTEM if system else run.changed_by
    if not system and approvals.input_refusal(recorded.approval, data):
        return Hold("the input is not the one approved (the operator puts the resume back)")
    generation = run.generation
    errors = input_errors(recorded.input_schema, data)
    error = "; ".join(errors) if errors else (check(data) if recorded.input_schema else None)
    if error is None and data is not None and json_size(data) > MAX_INPUT_BYTES:
        error = f"the input is {json_size(data)} bytes, more than the {MAX_INPUT_BYTES} allowed"
    key = request.key
    if error:
        back = State.PAUSED if request.kind is PauseKind.PAUSE else State.SUSPENDED
        patch = {"message": clip(f"Resume of {key} rejected, input is invalid: {error}", 1024),
                 "pause": {"rejectedGeneration": generation},
                 "history": history_patch(run.status, "resume-rejected", by=by, key=key,
                                          message=error, when=now)}
        return Write(status=patch, spec={"spec": {"state": back.value}})
    if data is not None and memo.stashed.get(key) != generation:
        return Stash(key, data, generation)
    message = f"Resumed from {key}" + (f" by the system: {recorded.why_the_system_resumes}" if system else "")
    patch = phase_patch(run.status, Phase.RUNNING.value, message, when=now, pause=None,
                        resumed=keys_add(run.resumed, key))
    patch["history"] = history_patch(run.status, "resumed", by=by, key=key, when=now, given=data)
    return Write(status=patch)


def _unresume(run: RunView, request: PauseRequest, error: str, now: datetime,
              generation: int) -> Write:
    """Input stored for a pause fails the flow's own model validation (a resume judged
    by the operator, which knows only the JSON schema): the pause is not over. It is
    taken back and waits again, at the same key, for input that validates."""
    key = request.key
    pause = request.record(now, generation, run.recorded(key))
    pause["rejectedGeneration"] = generation
    patch = {"resumed": keys_remove(run.resumed, key), "inputs": {key: None},
             "pause": pause, "message": clip(f"Resume of {key} rejected, input is invalid: {error}", 1024),
             "history": history_patch(run.status, "resume-rejected", by=run.changed_by, key=key,
                                      message=error, when=now)}
    return Write(status=patch)
