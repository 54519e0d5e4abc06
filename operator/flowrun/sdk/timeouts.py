"""`timeout_seconds` for flows and tasks: a real timeout that fails the call with
TimeoutError. Time spent paused does not count (the clock stops while a pause waits).
A suspension ends the process; the re-execution starts a fresh clock.

Sync calls: a watchdog thread interrupts the caller when the time is up, with a signal
in the main thread (so even `time.sleep` is interrupted) and an asynchronous exception
in other threads (delivered at the next Python instruction: a blocking C call finishes
first). Async calls: the coroutine is cancelled.
"""
from __future__ import annotations

import asyncio
import ctypes
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .context import RunContext, current_run

T = TypeVar("T")
_POLL_WHILE_PAUSED = 0.5


class _Clock:
    """Seconds of running time (not paused) since it started."""

    def __init__(self, ctx: RunContext | None):
        self.ctx = ctx
        self.start = time.monotonic()
        self.paused_at_start = ctx.paused_seconds() if ctx else 0.0

    def remaining(self, seconds: float) -> float:
        paused = (self.ctx.paused_seconds() - self.paused_at_start) if self.ctx else 0.0
        return seconds - (time.monotonic() - self.start - paused)

    def pausing(self) -> bool:
        return bool(self.ctx and self.ctx.pausing)

    # What both watchers below (a thread for a sync call, the event loop for an async
    # one) decide by: how long to wait for the call now, and whether its time is up.
    def next_wait(self, seconds: float) -> float:
        left = self.remaining(seconds)
        if self.pausing():  # look again soon: the clock stops while a pause waits
            left = max(left, _POLL_WHILE_PAUSED)
        return max(left, 0.0)

    def over(self, seconds: float) -> bool:
        return self.remaining(seconds) <= 0 and not self.pausing()


def _message(what: str, seconds: float) -> str:
    return f"{what} exceeded timeout of {seconds:g} second(s)"


_pending: dict[int, TimeoutError] = {}


def _on_alarm(_signum: int, _frame: Any) -> None:
    exc = _pending.pop(threading.get_ident(), None)
    if exc is not None:
        raise exc


def call_with_timeout(fn: Callable[[], T], seconds: float | None, what: str) -> T:
    if not seconds:
        return fn()
    clock = _Clock(current_run())
    target = threading.get_ident()
    in_main = threading.current_thread() is threading.main_thread()
    lock = threading.Lock()
    finished = threading.Event()
    previous = signal.signal(signal.SIGALRM, _on_alarm) if in_main else None

    def watch() -> None:
        while True:
            if finished.wait(clock.next_wait(seconds)):
                return
            if not clock.over(seconds):
                continue
            with lock:
                if finished.is_set():
                    return
                exc = TimeoutError(_message(what, seconds))
                if in_main:
                    _pending[target] = exc
                    signal.pthread_kill(target, signal.SIGALRM)
                else:
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target), ctypes.py_object(TimeoutError))
                return

    watcher = threading.Thread(target=watch, name="flowrun-timeout", daemon=True)
    watcher.start()
    try:
        return fn()
    except TimeoutError as exc:
        if not exc.args:  # the asynchronous exception carries no message
            raise TimeoutError(_message(what, seconds)) from None
        raise
    finally:
        with lock:
            finished.set()
        _pending.pop(target, None)
        if in_main:
            signal.signal(signal.SIGALRM, previous)


async def acall_with_timeout(make: Callable[[], Awaitable[T]], seconds: float | None, what: str) -> T:
    if not seconds:
        return await make()
    clock = _Clock(current_run())
    job = asyncio.ensure_future(make())
    try:
        while True:
            await asyncio.wait({job}, timeout=clock.next_wait(seconds))
            if job.done():
                return job.result()
            if clock.over(seconds):
                job.cancel()
                try:
                    await job
                except asyncio.CancelledError:
                    pass
                raise TimeoutError(_message(what, seconds))
    finally:
        if not job.done():
            job.cancel()
