"""A person's actions on runs: `flowrun resume`, `suspend`, `pause`, `cancel`, `reject`
(by name, or every run matching -l)."""
from __future__ import annotations

from typing import Any, Callable

from ..contract import input_schema as schemas
from ..contract.lifecycle.vocabulary import ACTIONS, INPUT_REFUSALS, Refusal
from ..contract.phases import Phase, State
from ..kube import actions
from ..sdk.pausing import RESUME_WATCH_SECONDS, watch_resume
from . import output
from .errors import FAILED, INVALID_INPUT, NOT_FOUND, OK, CliError
from .inputs import InputError, load_object, parse_input, read_text
from .session import STOPPED, Session, strip_kind


def _targets(args: Any, s: Session, verb: str) -> tuple[list[str], bool]:
    """The names a state command acts on: NAME(s), or every run matching -l."""
    if args.selector and args.names:
        raise CliError(f"{verb}: give NAME or -l SELECTOR, not both", 2)
    if args.selector:
        items = sorted(s.kube.list_flowruns(s.namespace, args.selector), key=output.sort_key)
        if not items:
            raise CliError(f"no FlowRun matches {args.selector!r} in namespace "
                           f"{s.namespace!r}", NOT_FOUND)
        return [o["metadata"]["name"] for o in items], True
    if not args.names:
        raise CliError(f"{verb}: give NAME or -l SELECTOR", 2)
    return [strip_kind(n) for n in args.names], False


def _refusal(name: str, exc: actions.ApiRefused, verb: str) -> CliError:
    """An API error for a state change, in words: admission webhook denials, invalid
    values and conflicts are refusals, not crashes."""
    if exc.status == 404:
        return CliError(f"FlowRun {name!r} not found", NOT_FOUND)
    # Our webhook's refusals carry their code; the API server's own validation (400,
    # 422 without a code) refuses a value.
    invalid = exc.code in INPUT_REFUSALS if exc.code is not None else exc.status in (400, 422)
    code = INVALID_INPUT if invalid else FAILED
    return CliError(f"the API server refused to {verb} FlowRun {name!r}: {exc.message}", code)


def _each(s: Session, names: list[str], bulk: bool, act: Callable[[str], str | None]) -> int:
    """Run `act` for every name; one failure does not stop the others; the exit code
    is the worst seen. In bulk mode, runs the action does not apply to are skipped."""
    worst, skipped = OK, 0
    for name in names:
        try:
            said = act(name)
            if said:
                s.print(said)
        except _Skip as skip:
            s.note(f"skipped {name}: {skip}")
            skipped += 1
        except CliError as exc:
            if len(names) == 1:
                raise
            s.note(f"flowrun: error: {exc.message}")
            worst = max(worst, exc.code)
    if bulk and skipped == len(names):
        raise CliError(f"none of the {len(names)} matching FlowRun(s) could be changed "
                       "(see the notes above)", FAILED)
    return worst


class _Skip(Exception):
    """Bulk only: this run is not in a state the command applies to."""


def cmd_resume(args: Any, s: Session) -> int:
    names, bulk = _targets(args, s, "resume")
    file_data = load_object(read_text(args.input_file), args.input_file) \
        if args.input_file else None
    given = parse_input(args.input or [], file_data)  # once: a malformed --input fails first

    def resume(name: str) -> str:
        def make_input(schema: dict | None) -> Any:
            _expected[name] = schema
            return given.build(schema)  # InputError passes through

        try:
            result, done = actions.change(s.kube, s.namespace, name, State.RUNNING,
                                          make_input=make_input)
        except actions.Refused as exc:
            raise _refused(name, exc, bulk, expected=_expected) from None
        except actions.ApiRefused as exc:
            raise _refusal(name, exc, "resume") from None
        if result is None or done is None:
            raise CliError(f"FlowRun {name!r} not found in namespace {s.namespace!r}", NOT_FOUND)
        if done.key and done.phase == Phase.PAUSED.value:
            # The flow's own validators may still refuse the input: the run then goes
            # back to Paused with their message. Watch briefly so the person hears it.
            refusal = watch_resume(s.kube, s.namespace, name, done.key, result, RESUME_WATCH_SECONDS)
            if refusal:
                raise CliError(f"FlowRun {name!r} did not accept the input and is still paused: "
                               f"{refusal}", INVALID_INPUT)
        if done.phase == Phase.SUSPENDED.value:
            return f"{name} resumed (it was suspended: a new Job starts)"
        if done.phase not in STOPPED:
            return f"{name} resumed (its pause or suspension request is withdrawn)"
        return f"{name} resumed"

    _expected: dict[str, dict | None] = {}
    return _each(s, names, bulk, resume)


def _refused(name: str, exc: actions.Refused, bulk: bool,
             expected: dict[str, dict | None] | None = None) -> Exception:
    """A refusal by the run's state or its input, as the CLI says it."""
    if not exc.applies and bulk:
        return _Skip(exc.message)
    if exc.invalid_input:
        if exc.code is Refusal.NOT_WAITING_FOR_INPUT:
            return InputError(f"FlowRun {name!r} {exc.message.replace('without input', 'without --input/--input-file')}")
        fields = ", ".join(f"{f.name} ({f.type}{', required' if f.required else ''})"
                           for f in schemas.fields((expected or {}).get(name)))
        return InputError(f"invalid input for FlowRun {name!r}: {exc.message}"
                          + (f" [expected: {fields}]" if fields else ""))
    if exc.code in (Refusal.NOT_STOPPED, Refusal.NOT_AT_A_PAUSE):
        return CliError(f"FlowRun {name!r} is {exc.message}" if exc.code is Refusal.NOT_STOPPED
                        else f"FlowRun {name!r} {exc.message.replace('use cancel', 'use `flowrun cancel`')}",
                        FAILED)
    return CliError(f"FlowRun {name!r}: {exc.message}", FAILED)


def _set_state(args: Any, s: Session, target: State, verb: str, done: str, *,
               reason: str | None = None, only_waiting: bool = False) -> int:
    names, bulk = _targets(args, s, verb) if not only_waiting else ([strip_kind(n) for n in args.names], False)

    def act(name: str) -> str:
        try:
            result, got = actions.change(s.kube, s.namespace, name, target, reason=reason,
                                         only_waiting=only_waiting)
        except actions.Refused as exc:
            raise _refused(name, exc, bulk) from None
        except actions.ApiRefused as exc:
            raise _refusal(name, exc, verb) from None
        if result is None or got is None:
            raise CliError(f"FlowRun {name!r} not found in namespace {s.namespace!r}", NOT_FOUND)
        if got.already:
            return (f"{name} is already {done}" if got.already != "requested" else
                    f"{name}: {verb} already requested (phase {got.phase})")
        if target is State.PAUSED:
            return f"{name} pause requested: the flow pauses at its next task boundary"
        if target is State.CANCELLED:
            return f"{name} {'rejected' if only_waiting else 'cancel requested'}: its Job is deleted, " \
                   "the run ends Cancelled"
        return f"{name} suspend requested: its Job is deleted, resume starts a new one"

    return _each(s, names, bulk, act)


def cmd_suspend(args: Any, s: Session) -> int:
    return _set_state(args, s, State.SUSPENDED, ACTIONS[State.SUSPENDED].verb, ACTIONS[State.SUSPENDED].done)


def cmd_cancel(args: Any, s: Session) -> int:
    return _set_state(args, s, State.CANCELLED, ACTIONS[State.CANCELLED].verb, ACTIONS[State.CANCELLED].done,
                      reason=args.reason or None)


def cmd_reject(args: Any, s: Session) -> int:
    # A reject is a cancel of a run that waits at a pause.
    return _set_state(args, s, State.CANCELLED, "reject", ACTIONS[State.CANCELLED].done, reason=args.reason,
                      only_waiting=True)


def cmd_pause(args: Any, s: Session) -> int:
    return _set_state(args, s, State.PAUSED, ACTIONS[State.PAUSED].verb, ACTIONS[State.PAUSED].done)
