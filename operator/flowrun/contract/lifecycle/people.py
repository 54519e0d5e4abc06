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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..constants import MAX_INPUT_BYTES, MAX_OBJECT_BYTES
from ..inputs import input_errors, input_problems
from ..phases import InvalidTransition, Phase, State, check_state_change
from ..status import json_size
from .view import _spec, _status, is_linked_child, pending_pause
from .vocabulary import ANNOTATION_SUSPENDED_WITH_PARENT, SUBFLOW_SUSPEND_MESSAGE

def is_resume_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Is this update a person's resume: spec.state set to Running, or new input with it?"""
    old_spec, new_spec = _spec(old), _spec(new)
    if new_spec.get("state", State.RUNNING.value) != State.RUNNING.value:
        return False
    return old_spec.get("state", State.RUNNING.value) != State.RUNNING.value or (
        new_spec.get("input") is not None and new_spec.get("input") != old_spec.get("input"))


ACTION_VERBS = {State.RUNNING.value: "resume", State.SUSPENDED.value: "suspend",
                State.PAUSED.value: "pause", State.CANCELLED.value: "cancel"}


def action_verb(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """The custom RBAC verb a person needs for this update (with authorization.actionVerbs
    on): the verb of the new spec.state, `resume` for new input; None for anything else."""
    old_state = _spec(old).get("state", State.RUNNING.value)
    new_state = _spec(new).get("state", State.RUNNING.value)
    if old_state != new_state:
        return ACTION_VERBS[new_state]
    if is_resume_change(old, new):
        return "resume"
    return None


class InputRefused(ValueError):
    """Input that the pause the run waits at does not accept."""


def user_change(obj: Mapping[str, Any], target: State, *, data: Any = None,
                reason: str | None = None) -> dict[str, Any]:
    """The patch of the main resource for a person's resume, suspend, pause or cancel,
    or InvalidTransition / InputRefused saying why not."""
    status, spec = _status(obj), _spec(obj)
    phase = status.get("phase")
    state = spec.get("state", State.RUNNING.value)
    if phase and Phase(phase).terminal:
        raise InvalidTransition(f"FlowRun is {phase}; it can no longer be "
                                f"{ {State.RUNNING: 'resumed', State.PAUSED: 'paused', State.SUSPENDED: 'suspended', State.CANCELLED: 'cancelled'}[target] }")
    check_state_change(state, target.value, phase)
    patch: dict[str, Any] = {"spec": {"state": target.value}}
    if reason is not None:
        patch["spec"]["reason"] = reason
    if target is State.RUNNING:
        pause = pending_pause(obj)
        schema = (pause or {}).get("inputSchema")
        if data is not None and not schema:
            raise InputRefused("the run does not wait for input; resume it without input")
        errors = input_errors(schema, data)
        if errors:
            raise InputRefused("; ".join(errors))
        if data is not None:
            patch["spec"]["input"] = data
    return patch


def review_create(new: Mapping[str, Any]) -> list[str]:
    spec = _spec(new)
    errors = []
    for name, limit in (("parameters", MAX_OBJECT_BYTES), ("input", MAX_INPUT_BYTES)):
        if spec.get(name) is not None and json_size(spec[name]) > limit:
            errors.append(f"spec.{name}: {json_size(spec[name])} bytes serialised, more than "
                          f"the {limit} allowed")
    return errors


def review_update(old: Mapping[str, Any], new: Mapping[str, Any], *, runner_of_run: bool = False) -> list[str]:
    """The admission webhook's answer to an update of the main resource: error messages,
    empty when allowed. `runner_of_run`: the change comes from this run's own runner."""
    old_spec, new_spec = _spec(old), _spec(new)
    status = _status(old)
    phase = status.get("phase")
    old_state = old_spec.get("state", State.RUNNING.value)
    new_state = new_spec.get("state", State.RUNNING.value)
    errors = review_create(new)
    input_changed = new_spec.get("input") != old_spec.get("input")
    if phase and Phase(phase).terminal and (old_state != new_state or
                                            (input_changed and new_spec.get("input") is not None)):
        return errors + [f"FlowRun is {phase}; it can no longer be resumed, paused, suspended or cancelled"]
    try:
        check_state_change(old_state, new_state, phase)
    except InvalidTransition as exc:
        return errors + [str(exc)]
    annotations = (new.get("metadata") or {}).get("annotations") or {}
    if (new_state == State.SUSPENDED.value and old_state != new_state and is_linked_child(new)
            and not annotations.get(ANNOTATION_SUSPENDED_WITH_PARENT) and not runner_of_run):
        errors.append(SUBFLOW_SUSPEND_MESSAGE)
    resuming = new_state == State.RUNNING.value and (
        old_state != new_state or (input_changed and new_spec.get("input") is not None))
    pause = pending_pause(old)
    if resuming and not runner_of_run and (pause is not None or old_state != State.RUNNING.value):
        problems = input_errors((pause or {}).get("inputSchema"), new_spec.get("input"))
        if problems:
            errors.append("input does not match what the run waits for: " + "; ".join(
                f"spec.input.{p}" if not p.startswith("(input)") else f"spec.input{p[7:]}" for p in problems))
    elif (input_changed and new_spec.get("input") is not None and new_state == State.RUNNING.value
          and pause is None and not runner_of_run):
        errors.append(f"FlowRun is not paused or suspended (phase {phase or 'Pending'}); "
                      "there is nothing to resume with input")
    return errors


# ---- a person's action, planned ----------------------------------------------------------

TERMINAL = {p.value for p in Phase if p.terminal}
STOPPED = {Phase.PAUSED.value, Phase.SUSPENDED.value}

#: The words for each target state: (verb, past participle).
WORDS: dict[State, tuple[str, str]] = {
    State.RUNNING: ("resume", "resumed"),
    State.SUSPENDED: ("suspend", "suspended"),
    State.PAUSED: ("pause", "paused"),
    State.CANCELLED: ("cancel", "cancelled"),
}


class Refused(Exception):
    """The action does not apply to the run as it is now, or its input is invalid.

    `applies` is False when the run is simply not in a state the action is for (a bulk
    command skips it); `invalid_input` when the input is what is wrong; `fields` maps a
    field's JSON path (`address.city`, `tags.0`; "" for the input as a whole) to its
    problem."""

    def __init__(self, message: str, *, applies: bool = True, invalid_input: bool = False,
                 fields: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
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
    return (obj.get("status") or {}).get("phase") or Phase.PENDING.value


def state_of(obj: Mapping[str, Any]) -> str:
    return (obj.get("spec") or {}).get("state") or State.RUNNING.value


def plan(obj: Mapping[str, Any], target: State, *, data: Any = None, reason: str | None = None,
         only_waiting: bool = False) -> Plan:
    """The patch for a person's action on `obj` (as read just now), or Refused saying why
    not. `only_waiting`: a reject (a cancel only of a run waiting at a pause)."""
    ph, state = phase_of(obj), state_of(obj)
    pause = pending_pause(obj)
    if target is State.RUNNING:
        if ph in TERMINAL or state == State.CANCELLED.value:
            verb = "cancelled" if state == State.CANCELLED.value and ph not in TERMINAL else ph
            raise Refused(f"FlowRun is {verb}; it can no longer be resumed", applies=False)
        if ph not in STOPPED and state == State.RUNNING.value:
            raise Refused(f"not paused or suspended (phase {ph}); nothing to resume", applies=False)
        schema = (pause or {}).get("inputSchema")
        if data is not None and not schema:
            why = "phase " + ph if ph not in STOPPED else "no input schema"
            raise Refused(f"does not wait for input ({why}); resume it without input",
                          invalid_input=True)
        try:
            patch = user_change(obj, State.RUNNING, data=data)
        except InvalidTransition as exc:
            raise Refused(str(exc), applies=False) from None
        except InputRefused as exc:
            problems = input_problems(schema, data)
            raise Refused(str(exc), invalid_input=True, fields=field_map(
                ("" if path == "(input)" else path, msg) for path, msg in problems)) from None
        return Plan(patch, ph, key=(pause or {}).get("key") if ph in STOPPED else None,
                    input_sent=data is not None)
    if only_waiting and (ph not in STOPPED or pause is None):
        raise Refused(f"does not wait at a pause (phase {ph}); use cancel to end it", applies=False)
    if ph not in TERMINAL and (ph == target.value or state == target.value):
        return Plan(None, ph, already=WORDS[target][1] if ph == target.value else "requested")
    try:
        return Plan(user_change(obj, target, reason=reason), ph)
    except InvalidTransition as exc:
        raise Refused(str(exc), applies=False) from None


def allowed(obj: Mapping[str, Any]) -> dict[State, bool]:
    """Which actions the run's state allows now (rights aside): the buttons to show."""
    out = {}
    for target in WORDS:
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


def field_map(problems: Any) -> dict[str, str]:
    """{path: problem} from (path, problem) pairs; a missing required property is put
    on the missing field itself (`address.city`), where a form shows it."""
    out: dict[str, str] = {}
    for path, message in problems:
        missing = _REQUIRED.match(message)
        if missing:
            path = f"{path}.{missing.group(1)}" if path else missing.group(1)
        out.setdefault(path, message)
    return out
