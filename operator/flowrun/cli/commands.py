"""The `flowrun` commands. Each `cmd_*` takes the parsed arguments and a Session (the
API door, the namespace, where to print) and returns an exit code, or raises CliError.
Every API call goes through `flowrun.kube.Kube`."""
from __future__ import annotations

import queue
import re
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, TextIO

from .. import __version__
from ..contract.constants import API_VERSION, KIND, LABEL_INSTANCE
from ..contract import approvals
from ..contract.status import current_pod
from ..contract.phases import Phase, State
from ..kube import actions
from ..kube.actions import action_verbs_on
from ..kube.client import Conflict, Gone, Kube, KubeError, context_namespace, load_api_client
from ..sdk.pausing import RESUME_WATCH_SECONDS, watch_resume
from . import output
from ..contract import input_schema as schemas
from .errors import FAILED, INVALID_INPUT, NOT_FOUND, OK, TIMEOUT, CliError, api_message
from .inputs import InputError, build_input, load_object, parse_parameters, read_text, split_assignment

TERMINAL = {p.value for p in Phase if p.terminal}
STOPPED = {Phase.PAUSED.value, Phase.SUSPENDED.value}
PHASES = [p.value for p in Phase]
MAX_NAME = 52
_FLOW_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


@dataclass
class Session:
    """What every command needs: the API (made on first use), the namespace, streams."""

    kubeconfig: str | None = None
    namespace_arg: str | None = None
    colour_mode: str = "auto"
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    _kube: Kube | None = None

    @property
    def kube(self) -> Kube:
        if self._kube is None:
            self._kube = Kube(kubeconfig=self.kubeconfig)
        return self._kube

    @property
    def namespace(self) -> str:
        if not self.namespace_arg:
            self.namespace_arg = context_namespace(self.kubeconfig)
        return self.namespace_arg

    @property
    def colour(self) -> bool:
        return output.use_colour(self.out, self.colour_mode)

    def print(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def note(self, text: str) -> None:
        """A remark for the person at the terminal (stderr; stdout stays for scripts)."""
        print(text, file=self.err, flush=True)


def now() -> datetime:
    return datetime.now(timezone.utc)


def phase_of(obj: dict[str, Any]) -> str:
    return (obj.get("status") or {}).get("phase") or Phase.PENDING.value


def state_of(obj: dict[str, Any]) -> str:
    return (obj.get("spec") or {}).get("state") or State.RUNNING.value


def strip_kind(name: str) -> str:
    """Accept `fr/joke` and `flowrun.flowrun.io/joke` as kubectl prints them."""
    kind, sep, rest = name.partition("/")
    if sep and kind.lower() in ("fr", "flowrun", "flowruns", "flowrun.flowrun.io",
                                "flowruns.flowrun.io"):
        return rest
    return name


def generate_name(flow: str, token: str | None = None) -> str:
    """`examples.jokes:tell_joke` -> `tell-joke-x7k2p` (at most 52 characters)."""
    func = flow.rsplit(":", 1)[-1]
    base = re.sub(r"[^a-z0-9-]+", "-", func.lower()).strip("-") or "flowrun"
    token = token or "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))
    base = base[: MAX_NAME - len(token) - 1].rstrip("-")
    return f"{base}-{token}"


def parse_labels(pairs: list[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"expected a label key=value, got {pair!r}", INVALID_INPUT)
        labels[key] = value
    return labels


def get_or_fail(s: Session, name: str) -> dict[str, Any]:
    obj = s.kube.get_flowrun(s.namespace, name)
    if obj is None:
        raise CliError(f"FlowRun {name!r} not found in namespace {s.namespace!r}", NOT_FOUND)
    return obj


def show(s: Session, objs: Any, fmt: str | None) -> None:
    s.print(output.dump(objs, fmt or "name"))


# ---- waiting ----------------------------------------------------------------------

def watch_until(
    kube: Kube, namespace: str, name: str, want: set[str], timeout: float | None,
    on_update: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[str, dict[str, Any] | None]:
    """Follow the run with a watch until its phase is in `want` ("reached"), it ends in
    another terminal phase ("ended"), or `timeout` seconds pass ("timeout").
    The watch runs in a thread feeding a queue; this thread blocks on the queue."""
    events: queue.Queue = queue.Queue()
    stop = threading.Event()
    # With a timeout, the API server ends each watch request soon after it, so the thread
    # finishes by itself (closing a TLS stream another thread reads can block).
    server_timeout = 300 if timeout is None else max(1, min(300, int(timeout) + 1))

    def pump() -> None:
        try:
            for obj in kube.watch_flowrun(namespace, name, stop=stop,
                                          server_timeout=server_timeout):
                events.put(("obj", obj))
                if stop.is_set():
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            events.put(("exc", exc))

    thread = threading.Thread(target=pump, name=f"watch-{name}", daemon=True)
    thread.start()
    deadline = None if timeout is None else time.monotonic() + timeout
    last: dict[str, Any] | None = None
    try:
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return "timeout", last
            try:
                kind, item = events.get(timeout=remaining)
            except queue.Empty:
                return "timeout", last
            if kind == "exc":
                if isinstance(item, Gone):
                    what = "was deleted" if last is not None else \
                        f"not found in namespace {namespace!r}"
                    raise CliError(f"FlowRun {name!r} {what}", NOT_FOUND)
                raise item
            last = item
            if on_update:
                on_update(item)
            ph = phase_of(item)
            if ph in want:
                return "reached", item
            if ph in TERMINAL:
                return "ended", item
    finally:
        stop.set()  # the daemon thread stops at its next event or server timeout


def pause_notifier(s: Session, name: str, want: set[str]) -> Callable[[dict[str, Any]], None]:
    """Tell the person (once per pause) that the run waits for them, and how to resume."""
    told: set[str] = set()

    def notify(obj: dict[str, Any]) -> None:
        ph = phase_of(obj)
        if ph not in STOPPED or ph in want:
            return
        pause = (obj.get("status") or {}).get("pause") or {}
        key = f"{ph}/{pause.get('key', '')}"
        if key in told:
            return
        told.add(key)
        schema = pause.get("inputSchema")
        needs = ", ".join(f.name for f in schemas.fields(schema) if f.required)
        waiting = f", waiting for input ({needs})" if needs else ""
        s.note(f"{name} is {ph} at {pause.get('key', '?')}{waiting}; still waiting. "
               f"Resume with: {output.resume_hint(name, s.namespace_arg, schema)}")
    return notify


def parse_phases(text: str) -> set[str]:
    wanted = set()
    for part in text.split(","):
        part = part.strip()
        match = next((p for p in PHASES if p.lower() == part.lower()), None)
        if match is None:
            raise CliError(f"--for: unknown phase {part!r} (one of {', '.join(PHASES)})", 2)
        wanted.add(match)
    return wanted


def report_wait(s: Session, name: str, want: set[str], outcome: str,
                obj: dict[str, Any] | None, timeout: float | None) -> int:
    wanted = " or ".join(sorted(want))
    if outcome == "timeout":
        current = phase_of(obj) if obj else "unknown"
        raise CliError(f"timed out after {timeout:g}s waiting for FlowRun {name!r} to be "
                       f"{wanted} (it is {current})", TIMEOUT)
    assert obj is not None
    ph = phase_of(obj)
    if outcome == "ended":
        message = (obj.get("status") or {}).get("message") or ""
        raise CliError(f"FlowRun {name!r} ended {ph}, not {wanted}"
                       + (f": {' '.join(message.split())}" if message else ""), FAILED)
    return OK


# ---- commands ---------------------------------------------------------------------

def cmd_version(args: Any, s: Session) -> int:
    s.print(f"flowrun {__version__}")
    return OK


def cmd_run(args: Any, s: Session) -> int:
    flow = args.flow
    if not _FLOW_REF.match(flow):
        raise CliError(f"FLOW_REF must be module:function (e.g. examples.hello:hello), "
                       f"got {flow!r}", INVALID_INPUT)
    spec: dict[str, Any] = {"flow": flow, "parameters": parse_parameters(args.param or [])}
    if args.image:
        spec["image"] = args.image
    if args.suspended:
        spec["state"] = State.SUSPENDED.value
    if args.ttl is not None:  # the parser refuses negative durations
        spec["ttlSecondsAfterFinished"] = int(args.ttl)
    labels = parse_labels(args.label or [])
    if getattr(args, "instance", ""):
        labels[LABEL_INSTANCE] = args.instance
    if args.name and len(args.name) > MAX_NAME:
        raise CliError(f"--name: at most {MAX_NAME} characters", INVALID_INPUT)

    created = None
    for attempt in range(5):
        name = strip_kind(args.name) if args.name else generate_name(flow)
        body = {"apiVersion": API_VERSION, "kind": KIND,
                "metadata": {"name": name, **({"labels": labels} if labels else {})},
                "spec": spec}
        try:
            created = s.kube.create_flowrun(s.namespace, body)
            break
        except Conflict:
            if args.name:
                raise CliError(f"FlowRun {name!r} already exists in namespace "
                               f"{s.namespace!r}", FAILED) from None
    if created is None:
        raise CliError("could not find a free name for the run; use --name", FAILED)
    name = created["metadata"]["name"]

    if not args.wait:
        show(s, created, args.output) if args.output else s.print(name)
        return OK
    if not args.output:
        s.print(name)
    want = {Phase.COMPLETED.value}
    outcome, obj = watch_until(s.kube, s.namespace, name, want, args.timeout,
                               pause_notifier(s, name, want))
    if args.output and obj is not None:
        show(s, obj, args.output)
    if outcome == "reached" and not args.output:
        assert obj is not None
        status = obj.get("status") or {}
        s.print(f"{name} {output.phase(Phase.COMPLETED.value, s.colour)}")
        if "result" in status:
            s.print("result: " + output.compact_json(status["result"]))
        elif status.get("message"):
            s.print(status["message"])
    return report_wait(s, name, want, outcome, obj, args.timeout)


def waiting_for(kube: Kube, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs among `items` the caller may answer now (approvers and RBAC considered)."""
    me = kube.whoami()
    user, groups = me.get("username", ""), list(me.get("groups") or [])
    verbs = ["patch", "resume"] if action_verbs_on(kube) else ["patch"]
    out = []
    for obj in items:
        meta = obj["metadata"]
        if approvals.may_answer_now(obj, user, groups) and all(
                kube.i_may(meta["namespace"], verb, "flowruns", "flowrun.io", meta["name"]) for verb in verbs):
            out.append(obj)
    return out


def cmd_ls(args: Any, s: Session) -> int:
    namespace = None if args.all_namespaces else s.namespace
    items = sorted(s.kube.list_flowruns(namespace, args.selector), key=output.sort_key)
    if getattr(args, "waiting_for_me", False):
        items = waiting_for(s.kube, items)
    if args.output:
        if items or args.output != "name":
            show(s, items, args.output)
        return OK
    if not items:
        where = "any namespace" if args.all_namespaces else f"namespace {s.namespace!r}"
        match = f" matching {args.selector!r}" if args.selector else ""
        s.note(f"No FlowRuns{match} found in {where}.")
        return OK
    colour = s.colour
    headers, rows = output.list_rows(items, now(), all_namespaces=args.all_namespaces,
                                     colour=colour)
    s.print(output.table(headers, rows, colour=colour, max_last=80))
    return OK


def cmd_get(args: Any, s: Session) -> int:
    obj = get_or_fail(s, strip_kind(args.name))
    if args.output:
        show(s, obj, args.output)
    else:
        s.print(output.describe(obj, now(), colour=s.colour, namespace_hint=s.namespace_arg))
    return OK


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


def _refusal(name: str, exc: actions.ApiRefused, verb: str, sent_input: bool) -> CliError:
    """An API error for a state change, in words: admission webhook denials, invalid
    values and conflicts are refusals, not crashes."""
    if exc.status == 404:
        return CliError(f"FlowRun {name!r} not found", NOT_FOUND)
    code = FAILED
    if exc.status in (400, 422) or (sent_input and "input" in exc.message.lower()):
        code = INVALID_INPUT
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
    assignments = args.input or []
    for pair in assignments:
        split_assignment(pair)  # a malformed --input fails before anything else

    def resume(name: str) -> str:
        def make_input(schema: dict | None) -> Any:
            _expected[name] = schema
            return build_input(assignments, file_data, schema)  # InputError passes through

        try:
            result, done = actions.change(s.kube, s.namespace, name, State.RUNNING,
                                          make_input=make_input)
        except actions.Refused as exc:
            raise _refused(name, exc, bulk, expected=_expected) from None
        except actions.ApiRefused as exc:
            raise _refusal(name, exc, "resume", True) from None
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
        if exc.message.startswith("does not wait for input"):
            return InputError(f"FlowRun {name!r} {exc.message.replace('without input', 'without --input/--input-file')}")
        fields = ", ".join(f"{f.name} ({f.type}{', required' if f.required else ''})"
                           for f in schemas.fields((expected or {}).get(name)))
        return InputError(f"invalid input for FlowRun {name!r}: {exc.message}"
                          + (f" [expected: {fields}]" if fields else ""))
    if exc.message.startswith(("not paused", "does not wait")):
        return CliError(f"FlowRun {name!r} is {exc.message}" if exc.message.startswith("not")
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
            raise _refusal(name, exc, verb, False) from None
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
    return _set_state(args, s, State.SUSPENDED, "suspend", "suspended")


def cmd_cancel(args: Any, s: Session) -> int:
    return _set_state(args, s, State.CANCELLED, "cancel", "cancelled", reason=args.reason or None)


def cmd_reject(args: Any, s: Session) -> int:
    return _set_state(args, s, State.CANCELLED, "reject", "cancelled", reason=args.reason, only_waiting=True)


def cmd_pause(args: Any, s: Session) -> int:
    return _set_state(args, s, State.PAUSED, "pause", "paused")


def cmd_logs(args: Any, s: Session) -> int:
    name = strip_kind(args.name)
    obj = get_or_fail(s, name)
    pod = current_pod(obj, s.kube.flowrun_pods(s.namespace, name), args.attempt)
    if pod is None:
        ph = phase_of(obj)
        why = {Phase.SUSPENDED.value: "its Job is deleted while it is suspended",
               Phase.PENDING.value: "its pod has not been created yet",
               Phase.COMPLETED.value: "its Job and pod are gone",
               Phase.FAILED.value: "its Job and pod are gone"}.get(ph, "none found")
        attempt = f" for attempt {args.attempt}" if args.attempt is not None else ""
        raise CliError(f"FlowRun {name!r} has no pod{attempt} ({ph}: {why})", NOT_FOUND)
    pod_name = pod["metadata"]["name"]
    if not args.follow:
        try:
            text = s.kube.pod_log(s.namespace, pod_name, tail_lines=args.tail)
        except KubeError as exc:
            raise CliError(f"cannot read the log of pod {pod_name}: {api_message(exc)}",
                           FAILED) from None
        s.out.write(text)
        s.out.flush()
        return OK
    deadline = time.monotonic() + 300
    while True:
        try:
            lines = s.kube.pod_log(s.namespace, pod_name, follow=True, tail_lines=args.tail)
            break
        except KubeError as exc:
            # The container has not started yet (ContainerCreating): wait for it.
            if exc.status == 400 and time.monotonic() < deadline and \
                    ("waiting to start" in exc.message or "ContainerCreating" in exc.message):
                time.sleep(0.5)
                continue
            raise CliError(f"cannot follow the log of pod {pod_name}: {api_message(exc)}",
                           FAILED) from None
    for line in lines:
        s.out.write(line + "\n")
        s.out.flush()
    return OK


def cmd_wait(args: Any, s: Session) -> int:
    name = strip_kind(args.name)
    want = parse_phases(args.for_)
    outcome, obj = watch_until(s.kube, s.namespace, name, want, args.timeout,
                               pause_notifier(s, name, want))
    code = report_wait(s, name, want, outcome, obj, args.timeout)
    assert obj is not None
    s.print(f"{name} {output.phase(phase_of(obj), s.colour)}")
    return code


def cmd_ui(args: Any, s: Session) -> int:
    try:
        from ..ui.app import Settings, serve  # the one import of the UI: its command
    except ImportError as exc:
        raise CliError(f"the web UI needs the ui extra (pip install 'flowrun-operator[ui]'): {exc}",
                       FAILED) from None
    namespaces = None if args.all_namespaces else [s.namespace]
    host = f"[{args.address}]" if ":" in args.address else args.address

    def ready(port: int) -> None:
        where = "all namespaces" if namespaces is None else f"namespace {namespaces[0]}"
        s.print(f"flowrun UI for {where}: http://{host}:{port}/")
        s.note("Ctrl-C stops it.")

    from ..ui.guard import local_hosts
    serve(Settings(auth="kubeconfig", namespaces=namespaces, kubeconfig=s.kubeconfig,
                   allowed_hosts=local_hosts(args.address)),
          args.address, args.port, base=s.kube, on_ready=ready)
    return OK


COMMANDS: dict[str, Callable[[Any, Session], int]] = {
    "version": cmd_version,
    "run": cmd_run,
    "ls": cmd_ls,
    "get": cmd_get,
    "resume": cmd_resume,
    "suspend": cmd_suspend,
    "pause": cmd_pause,
    "cancel": cmd_cancel,
    "reject": cmd_reject,
    "logs": cmd_logs,
    "wait": cmd_wait,
    "ui": cmd_ui,
}
