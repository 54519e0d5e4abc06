"""Waiting for a run: `flowrun wait`, and `flowrun run --wait` (a watch until the run
reaches a phase, telling the person when it waits for them)."""
from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable

from ..contract import input_schema as schemas
from ..contract.phases import Phase
from ..kube.client import Gone, Kube
from . import output
from .errors import FAILED, NOT_FOUND, OK, TIMEOUT, CliError
from .session import STOPPED, TERMINAL, Session, phase_of, strip_kind

PHASES = [p.value for p in Phase]


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


def cmd_wait(args: Any, s: Session) -> int:
    name = strip_kind(args.name)
    want = parse_phases(args.for_)
    outcome, obj = watch_until(s.kube, s.namespace, name, want, args.timeout,
                               pause_notifier(s, name, want))
    code = report_wait(s, name, want, outcome, obj, args.timeout)
    assert obj is not None
    s.print(f"{name} {output.phase(phase_of(obj), s.colour)}")
    return code
