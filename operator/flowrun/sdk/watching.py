"""How the SDK waits: one watch loop for its live copies (a run as its runner follows it,
sdk/live.py; a run's inbox, sdk/inbox.py): a daemon thread follows the watch and wakes
the threads waiting on a condition variable (no polling: a waiting flow uses no CPU);
and `dual`, which makes a blocking call awaitable in async code (pausing.py,
messages.py)."""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Self, TypeVar

T = TypeVar("T")


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def dual(blocking: Callable[[], T]) -> Any:
    """Prefect's sync_compatible: in a thread with a running event loop, an awaitable
    that runs `blocking` in a worker thread; elsewhere, its result."""
    if _in_event_loop():
        return asyncio.to_thread(blocking)
    return blocking()


class Watcher:
    """A daemon thread running `_watch` (which subclasses write), and waits on what it
    sees: `start` (once), `close` (unblocks the thread's read), `_fail` (a broken watch,
    surfaced to the waiters by `_check`), `_wait_until`."""

    thread_name = "flowrun-watch"

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._response: Any = None
        self._thread = threading.Thread(target=self._watch, name=self.thread_name, daemon=True)
        self._started = False

    def _watch(self) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        with self._cond:
            if not self._started:
                self._started = True
                self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        resp = self._response
        if resp is not None:
            try:
                # shutdown() unblocks the watch thread's read; close() from this thread
                # would wait for it (TLS sockets are not closed across threads).
                resp.shutdown()
            except Exception:  # noqa: BLE001 - best effort, the thread is a daemon
                pass

    def _on_connect(self, resp: Any) -> None:
        self._response = resp

    def _fail(self, exc: BaseException, log: logging.Logger | None = None, what: str = "") -> None:
        """The watch broke: the waiters raise it (unless it broke because we closed it)."""
        if log is not None:
            if self._stop.is_set():
                return
            log.error("watch of %s failed: %s", what, exc)
        with self._cond:
            self._error = exc
            self._cond.notify_all()

    def _check(self) -> None:
        """Raise what broke the watch (called holding the condition)."""
        if self._error is not None:
            raise self._error

    def _wait_until(self, found: Callable[[], T], timeout: float | None) -> T | None:
        """Block until `found()` (called holding the condition) is truthy and return it;
        None when `timeout` seconds (None: for ever) pass first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                result = found()
                if result:
                    return result
                self._check()
                if deadline is None:
                    self._cond.wait()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    self._cond.wait(remaining)
