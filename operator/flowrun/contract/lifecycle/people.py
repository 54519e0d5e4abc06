"""What a person may change: the patch for a resume, suspend, pause or cancel
(`user_change`), what a person's action on a run means (`plan`: resume with input,
suspend, pause, cancel, reject), and the admission webhook's review of an update
(`review_update`).

It exists so that every door a person uses (the CLI, the web UI's buttons, the SDK's
client calls) and the admission webhook give the same answer in the same words; they
turn an API server's refusal into words naming the field with `refusal_fields`, and
kube/actions.py applies a plan. It must never do I/O, and never import the
operator's or the runner's rules.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..constants import MAX_INPUT_BYTES, MAX_OBJECT_BYTES
from ..inputs import input_errors, input_problems
from ..phases import InvalidTransition, Phase, State, check_state_change
from ..status import json_size
from .view import RunView
from .vocabulary import ACTIONS, ANNOTATION_SUSPENDED_WITH_PARENT, SUBFLOW_SUSPEND_MESSAGE, Denial, Refusal


def settled_by_system(run: RunView) -> str:
    """Why nobody may answer the run's pause any more: its deadline passed and the system
    settled it (on_timeout="resume", being carried out); "" otherwise."""
    pause = run.pending
    if pause is None or pause.timed_out is None:
        return ""
    if pause.until is not None:
        return f"{pause.key} reached its time: the system continues the run; it can no longer be answered"
    return (f"nobody answered {pause.key} in time: the system resumes it with the input's defaults "
            f"(on_timeout='{pause.timed_out.outcome.value}'); it can no longer be answered")


def _transition(run: RunView) -> tuple[str, str | None]:
    """spec.state and status.phase as check_state_change takes them."""
    return run.state.value, run.phase.value if run.phase else None


def is_resume_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Is this update a person's resume: spec.state set to Running, or new input with it?"""
    was, now = RunView.of(old), RunView.of(new)
    if now.state is not State.RUNNING:
        return False
    return was.state is not State.RUNNING or (now.input_given and now.input != was.input)


def action_verb(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """The custom RBAC verb a person needs for this update (with authorization.actionVerbs
    on): the verb of the new spec.state, `resume` for new input; None for anything else."""
    was, now = RunView.of(old), RunView.of(new)
    if was.state is not now.state:
        return ACTIONS[now.state].verb
    if is_resume_change(old, new):
        return ACTIONS[State.RUNNING].verb
    return None


class InputRefused(ValueError):
    """Input that the pause the run waits at does not accept (`code`: why; `problems`:
    the (field's JSON path, problem) pairs the schema found, so nobody validates again)."""

    def __init__(self, message: str, code: Refusal = Refusal.INVALID_INPUT,
                 problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.problems = list(problems or [])


def user_change(obj: Mapping[str, Any], target: State, *, data: Any = None,
                reason: str | None = None) -> dict[str, Any]:
    """The patch of the main resource for a person's resume, suspend, pause or cancel,
    or InvalidTransition / InputRefused saying why not."""
    run = RunView.of(obj)
    if run.terminal and run.phase is not None:
        raise InvalidTransition(f"FlowRun is {run.phase.value}; it can no longer be {ACTIONS[target].done}",
                                Refusal.FINISHED)
    state, phase = _transition(run)
    settled = settled_by_system(run)
    if settled and target is not State.CANCELLED:
        raise InvalidTransition(settled, Refusal.TIMED_OUT)
    check_state_change(state, target.value, phase)
    patch: dict[str, Any] = {"spec": {"state": target.value}}
    if reason is not None:
        patch["spec"]["reason"] = reason
    if target is State.RUNNING:
        pause = run.pending
        schema = pause.input_schema if pause else None
        if data is not None and not schema:
            raise InputRefused("the run does not wait for input; resume it without input",
                               Refusal.NOT_WAITING_FOR_INPUT)
        problems = input_problems(schema, data)
        if problems:
            raise InputRefused("; ".join(f"{where}: {message}" for where, message in problems),
                               problems=problems)
        if data is not None:
            patch["spec"]["input"] = data
    return patch


# ---- the admission webhook's review ----------------------------------------------------------

def review_create(new: Mapping[str, Any]) -> list[str]:
    """The admission webhook's answer to a create: refusals (each a Denial: a message
    with its code), empty when allowed."""
    run = RunView.of(new)
    errors: list[str] = []
    for name, value, limit in (("parameters", run.parameters, MAX_OBJECT_BYTES), ("input", run.input, MAX_INPUT_BYTES)):
        if value is not None and json_size(value) > limit:
            errors.append(Denial(f"spec.{name}: {json_size(value)} bytes serialised, more than "
                                 f"the {limit} allowed", Refusal.TOO_LARGE))
    return errors


def review_update(old: Mapping[str, Any], new: Mapping[str, Any], *, runner_of_run: bool = False) -> list[str]:
    """The admission webhook's answer to an update of the main resource: refusals (each a
    Denial: a message with its code), empty when allowed. `runner_of_run`: the change
    comes from this run's own runner."""
    was, now = RunView.of(old), RunView.of(new)
    errors = review_create(new)
    input_changed = now.input != was.input
    state_changed = was.state is not now.state
    if was.terminal and was.phase is not None and (state_changed or (input_changed and now.input_given)):
        return errors + [Denial(f"FlowRun is {was.phase.value}; it can no longer be resumed, paused, suspended "
                                "or cancelled", Refusal.FINISHED)]
    old_state, phase = _transition(was)
    try:
        check_state_change(old_state, now.state.value, phase)
    except InvalidTransition as exc:
        return errors + [Denial(str(exc), exc.code or Refusal.NOT_STOPPED)]
    if (now.state is State.SUSPENDED and state_changed and now.linked_child
            and not now.annotations.get(ANNOTATION_SUSPENDED_WITH_PARENT) and not runner_of_run):
        errors.append(Denial(SUBFLOW_SUSPEND_MESSAGE, Refusal.SUBFLOW_ALONE))
    settled = settled_by_system(was)
    if settled:
        # The system's resume is written: only it (spec.state Running, no input: the
        # defaults recorded with the pause are the input) or a cancel may follow.
        if (input_changed and now.input_given) or (state_changed and now.state not in (State.RUNNING,
                                                                                       State.CANCELLED)):
            return errors + [Denial(settled, Refusal.TIMED_OUT)]
        return errors
    resuming = now.state is State.RUNNING and (state_changed or (input_changed and now.input_given))
    pause = was.pending
    # (the run's own runner is checked like anyone: flow code holds its token)
    if resuming and (pause is not None or was.state is not State.RUNNING):
        problems = input_errors(pause.input_schema if pause else None, now.input)
        if problems:
            errors.append(Denial("input does not match what the run waits for: " + "; ".join(
                f"spec.input.{p}" if not p.startswith("(input)") else f"spec.input{p[7:]}" for p in problems),
                Refusal.INVALID_INPUT))
    elif (input_changed and now.input_given and now.state is State.RUNNING
          and pause is None):
        errors.append(Denial(f"FlowRun is not paused or suspended (phase {phase or 'Pending'}); "
                             "there is nothing to resume with input", Refusal.NOT_WAITING_FOR_INPUT))
    return errors


# ---- a person's action, planned ----------------------------------------------------------

class Refused(Exception):
    """The action does not apply to the run as it is now, or its input is invalid.

    `code` says why (the CLI, the UI and the SDK may word it their own way; `message` is
    the default wording). `applies` is False when the run is simply not in a state the
    action is for (a bulk command skips it); `invalid_input` when the input is what is
    wrong; `fields` maps a field's JSON path (`address.city`, `tags.0`; "" for the input
    as a whole) to its problem."""

    def __init__(self, message: str, *, code: Refusal | None = None, applies: bool = True,
                 invalid_input: bool = False, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else (Refusal.INVALID_INPUT if invalid_input else None)
        self.applies = applies
        self.invalid_input = invalid_input
        self.fields = dict(fields or {})


@dataclass
class Plan:
    """What to write (None: nothing, the run is already there) and what to tell."""

    patch: dict[str, Any] | None
    phase: str
    key: str | None = None  # the pause a resume answers (a live or suspended one)
    already: str = ""  # "" or what the run already is: "suspended", "requested"
    input_sent: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def phase_of(obj: Mapping[str, Any]) -> str:
    """status.phase, Pending until the operator records one."""
    return (RunView.of(obj).phase or Phase.PENDING).value


def state_of(obj: Mapping[str, Any]) -> str:
    """spec.state, Running when unset."""
    return RunView.of(obj).state.value


def plan(obj: Mapping[str, Any], target: State, *, data: Any = None, reason: str | None = None,
         only_waiting: bool = False) -> Plan:
    """The patch for a person's action on `obj` (as read just now), or Refused saying why
    not. `only_waiting`: a reject (a cancel only of a run waiting at a pause)."""
    run = RunView.of(obj)
    phase = run.phase or Phase.PENDING
    ph = phase.value
    pause = run.pending
    if target is State.RUNNING:
        if run.terminal or run.state is State.CANCELLED:
            verb = "cancelled" if run.state is State.CANCELLED and not run.terminal else ph
            raise Refused(f"FlowRun is {verb}; it can no longer be resumed", applies=False,
                          code=Refusal.FINISHED if run.terminal else Refusal.BEING_CANCELLED)
        if not run.stopped and run.state is State.RUNNING:
            raise Refused(f"not paused or suspended (phase {ph}); nothing to resume", applies=False,
                          code=Refusal.NOT_STOPPED)
        if settled_by_system(run):
            raise Refused(settled_by_system(run), applies=False, code=Refusal.TIMED_OUT)
        schema = pause.input_schema if pause else None
        if data is not None and not schema:
            why = "phase " + ph if not run.stopped else "no input schema"
            raise Refused(f"does not wait for input ({why}); resume it without input",
                          invalid_input=True, code=Refusal.NOT_WAITING_FOR_INPUT)
        try:
            patch = user_change(obj, State.RUNNING, data=data)
        except InvalidTransition as exc:
            raise Refused(str(exc), applies=False, code=exc.code) from None
        except InputRefused as exc:
            raise Refused(str(exc), invalid_input=True, code=exc.code, fields=field_map(
                ("" if path == "(input)" else path, msg) for path, msg in exc.problems)) from None
        return Plan(patch, ph, key=pause.key if pause and run.stopped else None,
                    input_sent=data is not None)
    if only_waiting and (not run.stopped or pause is None):
        raise Refused(f"does not wait at a pause (phase {ph}); use cancel to end it", applies=False,
                      code=Refusal.NOT_AT_A_PAUSE)
    action = ACTIONS[target]
    if not run.terminal and (phase is action.phase or run.state is target):
        return Plan(None, ph, already=action.done if phase is action.phase else "requested")
    try:
        return Plan(user_change(obj, target, reason=reason), ph)
    except InvalidTransition as exc:
        raise Refused(str(exc), applies=False, code=exc.code) from None


def allowed(obj: Mapping[str, Any]) -> dict[State, bool]:
    """Which actions the run's state allows now (rights aside): the buttons to show."""
    out = {}
    for target in ACTIONS:
        try:
            got = plan(obj, target)
            out[target] = got.patch is not None
        except Refused as exc:
            # a resume refused only for missing input is still a resume to offer
            out[target] = exc.invalid_input
    return out


# "spec.input.address.city: 42 is not of type 'string'", as the webhook words it
_FIELD_LINE = re.compile(r"spec\.input(?:\.([\w.\-]+))?:\s*([^;]+)")


def refusal_fields(message: str) -> dict[str, str]:
    """The fields an API server's refusal (admission webhook, validators) names, by JSON
    path under spec.input ("" for the input as a whole)."""
    return field_map((match.group(1) or "", match.group(2).strip())
                     for match in _FIELD_LINE.finditer(message or ""))


_REQUIRED = re.compile(r"^'([^']+)' is a required property$")


def field_map(problems: Iterable[tuple[str, str]]) -> dict[str, str]:
    """{path: problem} from (path, problem) pairs; a missing required property is put
    on the missing field itself (`address.city`), where a form shows it."""
    out: dict[str, str] = {}
    for path, message in problems:
        missing = _REQUIRED.match(message)
        if missing:
            path = f"{path}.{missing.group(1)}" if path else missing.group(1)
        out.setdefault(path, message)
    return out
