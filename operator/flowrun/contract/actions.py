"""What a person's action on a run (resume with input, suspend, pause, cancel, reject)
means, decided once for every door a person uses: the CLI (`flowrun resume ...`) and the
web UI (its buttons) both call `plan`, and both turn an API server's refusal into words
naming the field with `refusal_fields`. Pure functions; kube/actions.py applies them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from .inputs import input_problems
from .phases import InvalidTransition, Phase, State
from .transitions import InputRefused, pending_pause, user_change

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
