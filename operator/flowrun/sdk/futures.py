"""Concurrency in a flow: `Task.submit()` returns a future, `Task.map()` a list of
them, run by the flow's task runner (a thread pool, Prefect's ThreadPoolTaskRunner).

What makes this safe to resume: a task's identity in the result cache (name + call
index) is taken in the submitting thread, in submission order, before the call is
handed to a worker; the worker runs in a copy of the submitter's context (the run,
log_prints), so cached results, pauses' bookkeeping and loggers behave as in the flow.
"""
from __future__ import annotations

import concurrent.futures
import contextvars
import os
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from . import states
from .states import State

R = TypeVar("R")


class UpstreamTaskError(RuntimeError):
    """A task waited for (`wait_for=` or a future among its arguments) failed."""


class ThreadPoolTaskRunner:
    """Runs submitted tasks in threads: `@flow(task_runner=ThreadPoolTaskRunner(max_workers=4))`.
    Each flow run gets its own pool; the flow waits for its submitted tasks at its end."""

    def __init__(self, max_workers: int | None = None):
        if max_workers is not None and (not isinstance(max_workers, int) or max_workers < 1):
            raise ValueError(f"max_workers must be a whole number >= 1, not {max_workers!r}")
        self.max_workers = max_workers or min(32, (os.cpu_count() or 1) + 4)
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._submitted: list[concurrent.futures.Future] = []

    def duplicate(self) -> "ThreadPoolTaskRunner":
        return type(self)(self.max_workers)

    def submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                self.max_workers, thread_name_prefix="flowrun-task")
        context = contextvars.copy_context()
        future = self._executor.submit(context.run, fn, *args)
        self._submitted = [f for f in self._submitted if not f.done()] + [future]
        return future

    def wait_idle(self) -> None:
        """Wait for every call submitted so far (before a suspension: their results are
        stored, so the re-execution finds them)."""
        concurrent.futures.wait(self._submitted)

    def shutdown(self, wait: bool = True) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=wait, cancel_futures=not wait)
            self._executor = None

    def __repr__(self) -> str:
        return f"ThreadPoolTaskRunner(max_workers={self.max_workers})"


class TaskFuture(Generic[R]):
    """A submitted task call (Prefect's PrefectFuture)."""

    def __init__(self, future: concurrent.futures.Future, task_run_id: str):
        self._future = future
        self.task_run_id = task_run_id

    def wait(self, timeout: float | None = None) -> None:
        concurrent.futures.wait([self._future], timeout=timeout)

    @property
    def state(self) -> State:
        f = self._future
        if not f.done():
            return State(states.RUNNING if f.running() else states.PENDING)
        exc = f.exception()
        if exc is not None:
            return states.failed(exc)
        value = f.result()
        return value if isinstance(value, State) else states.completed(value)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> R:
        self.wait(timeout)
        if not self._future.done():
            raise TimeoutError(f"task run {self.task_run_id} did not finish within {timeout} s")
        state = self.state
        return state.result(raise_on_failure=raise_on_failure)

    def __repr__(self) -> str:
        return f"<TaskFuture {self.task_run_id} {self.state.name}>"


class TaskFutureList(list):
    """What `Task.map()` returns: a list of futures with `wait()` and `result()`."""

    def wait(self, timeout: float | None = None) -> None:
        concurrent.futures.wait([f._future for f in self], timeout=timeout)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> list[Any]:
        return [f.result(timeout, raise_on_failure) for f in self]


def wait(futures: Iterable[TaskFuture], timeout: float | None = None):
    """Wait for futures (Prefect's `prefect.futures.wait`): (done, not_done) sets."""
    futures = list(futures)
    concurrent.futures.wait([f._future for f in futures], timeout=timeout)
    done = {f for f in futures if f._future.done()}
    return done, {f for f in futures if f not in done}


def as_completed(futures: Iterable[TaskFuture], timeout: float | None = None):
    by_future = {f._future: f for f in futures}
    for done in concurrent.futures.as_completed(by_future, timeout=timeout):
        yield by_future[done]


class unmapped:  # noqa: N801 - Prefect's name
    """An argument of `Task.map()` passed whole to every call, even if iterable."""

    def __init__(self, value: Any):
        self.value = value


def resolve(value: Any) -> Any:
    """Arguments with futures in them (at the top level or in a list, tuple, set or
    dict) get the futures' results; a failed one fails this call."""
    if isinstance(value, TaskFuture):
        try:
            return value.result()
        except Exception as exc:
            raise UpstreamTaskError(f"upstream task run {value.task_run_id} failed: {exc}") from exc
    if isinstance(value, State):
        return value.result()
    if isinstance(value, (list, tuple, set)):
        return type(value)(resolve(v) for v in value)
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    return value


def wait_for_upstream(wait_for: Iterable[Any] | None) -> None:
    for item in wait_for or ():
        if isinstance(item, TaskFuture):
            item.wait()
            state = item.state
        elif isinstance(item, State):
            state = item
        else:
            continue
        if state.is_failed() or state.is_cancelled():
            raise UpstreamTaskError(f"upstream task run {getattr(item, 'task_run_id', item)} "
                                    f"did not complete: {state.message}")
