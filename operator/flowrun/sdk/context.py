"""Where the SDK finds the run it is part of.

The runner (or a local call of a flow) enters a `RunContext`; tasks, pauses and
`flowrun.runtime` read it through a context variable. Call counters live here, which is
what makes task identities and pause keys deterministic: the n-th call of a task (or of
pause_flow_run) in one execution gets the same identity in the next execution.
"""
from __future__ import annotations

import contextvars
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .cache import ResultCache

if TYPE_CHECKING:
    from .live import LiveFlowRun


class FlowRunContextError(RuntimeError):
    """An SDK call made where it cannot work (outside a flow, inside a task...)."""


@dataclass
class RunContext:
    name: str
    namespace: str
    attempt: int
    parameters: dict[str, Any]
    cache: ResultCache
    uid: str = ""
    flow_name: str = ""
    # The FlowRun object in the API, when running under the operator; None locally.
    live: "LiveFlowRun | None" = None
    # 1, then 2, 3... on each flow retry within this attempt.
    run_count: int = 1
    # The executor of `Task.submit()` / `.map()` while the flow runs (a ThreadPoolTaskRunner).
    task_runner: Any = None
    _counters: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Time spent paused (it does not count towards timeout_seconds).
    _paused_total: float = 0.0
    _pauses: int = 0
    _pause_started: float = 0.0

    def pause_began(self) -> None:
        with self._lock:
            if self._pauses == 0:
                self._pause_started = time.monotonic()
            self._pauses += 1

    def pause_ended(self) -> None:
        with self._lock:
            self._pauses -= 1
            if self._pauses == 0:
                self._paused_total += time.monotonic() - self._pause_started

    def paused_seconds(self) -> float:
        """Seconds spent paused so far in this process, the current pause included."""
        with self._lock:
            ongoing = time.monotonic() - self._pause_started if self._pauses else 0.0
            return self._paused_total + ongoing

    @property
    def pausing(self) -> bool:
        return self._pauses > 0

    def restart(self) -> None:
        """The flow executes again from the top (a flow retry): call counting restarts,
        so the same calls find the same identities and keys."""
        with self._lock:
            self._counters.clear()
            self.run_count += 1

    def next_index(self, counter: str) -> int:
        """1, 2, 3... per counter name, in call order (thread-safe)."""
        with self._lock:
            self._counters[counter] += 1
            return self._counters[counter]


_run: contextvars.ContextVar[RunContext | None] = contextvars.ContextVar("flowrun_run", default=None)
_task: contextvars.ContextVar[str | None] = contextvars.ContextVar("flowrun_task", default=None)
# The display name of the running task (task_run_name), when it has one.
_task_display: contextvars.ContextVar[str | None] = contextvars.ContextVar("flowrun_task_display", default=None)


def current_run() -> RunContext | None:
    return _run.get()


def current_task() -> str | None:
    return _task.get()


# Runs entered in this process (in any thread): a task called with no run in its
# context while one is active was called from a thread the flow did not hand its context.
_active = [0]
_active_lock = threading.Lock()


def enter_run(ctx: RunContext) -> contextvars.Token:
    with _active_lock:
        _active[0] += 1
    return _run.set(ctx)


def exit_run(token: contextvars.Token) -> None:
    ctx = token.var.get()
    _run.reset(token)
    if ctx is not None:
        with _active_lock:
            _active[0] -= 1


def run_active_elsewhere() -> bool:
    """True when a run is active in this process but not in the caller's context."""
    return _run.get() is None and _active[0] > 0


def current_task_display() -> str | None:
    return _task_display.get() or _task.get()


def enter_task(identity: str, display: str | None = None) -> contextvars.Token:
    return (_task.set(identity), _task_display.set(display))  # type: ignore[return-value]


def exit_task(token: Any) -> None:
    task, display = token
    _task_display.reset(display)
    _task.reset(task)


def require_flow_context(what: str) -> RunContext:
    """The current run, or a clear error for calls made outside a flow or inside a task."""
    task = current_task()
    if task is not None:
        raise FlowRunContextError(
            f"{what}() cannot be called inside a task (called in task {task!r}); "
            "call it from the flow function itself"
        )
    ctx = current_run()
    if ctx is None:
        raise FlowRunContextError(
            f"{what}() must be called inside a flow run (a function decorated with @flow)"
        )
    return ctx
