"""The inputs sent to a run, as its flow sees them: a copy of its inbox pages kept by a
watch (one page at a time, the last one; a sealed page is complete and the next one is
watched), and waits that block on a condition variable until a wanted entry arrives.
No polling: a waiting flow uses no CPU.

The pod's Role lets it read its own pages only; reading another run's pages from a pod
is refused by the API server (PermissionError here).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from ..contract import run_inputs as ri
from ..kube import Kube, KubeError

log = logging.getLogger("flowrun.inbox")


def read_entries(kube: Kube, namespace: str, run: str) -> list[dict[str, Any]]:
    """Every entry of a run's inbox, in the order sent (one GET per page)."""
    entries: list[dict[str, Any]] = []
    for index in range(ri.MAX_PAGES):
        try:
            page = kube.get_inbox(namespace, ri.page_name(run, index))
        except KubeError as exc:
            raise _refused(exc, namespace, run) from None
        if page is None:
            break
        spec = page.get("spec") or {}
        entries.extend(spec.get("entries") or [])
        if not spec.get("sealed"):
            break
    return entries


def _refused(exc: KubeError, namespace: str, run: str) -> Exception:
    if exc.status == 403:
        return PermissionError(f"may not read the inputs of FlowRun {namespace}/{run}: {exc.message}")
    return exc


class InboxReader:
    """A live, growing copy of a run's inbox."""

    def __init__(self, kube: Kube, namespace: str, run: str) -> None:
        self.kube, self.namespace, self.run = kube, namespace, run
        self.entries: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._response: Any = None
        self._thread = threading.Thread(target=self._watch, name="flowrun-inbox", daemon=True)
        self._started = False

    def start(self) -> "InboxReader":
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
                resp.shutdown()
            except Exception:  # noqa: BLE001 - best effort, the thread is a daemon
                pass

    def _on_connect(self, resp: Any) -> None:
        self._response = resp

    def _watch(self) -> None:
        page, seen = 0, 0
        try:
            while not self._stop.is_set() and page < ri.MAX_PAGES:
                name = ri.page_name(self.run, page)
                sealed = False
                for obj in self.kube.watch_inbox(self.namespace, name, stop=self._stop,
                                                 on_connect=self._on_connect):
                    spec = (obj or {}).get("spec") or {}
                    entries = spec.get("entries") or []
                    if len(entries) > seen:
                        with self._cond:
                            self.entries.extend(entries[seen:])
                            self._cond.notify_all()
                        seen = len(entries)
                    if spec.get("sealed"):
                        sealed = True
                        break
                if not sealed:
                    return  # stopped
                page, seen = page + 1, 0
        except KubeError as exc:
            err = _refused(exc, self.namespace, self.run)
            with self._cond:
                self._error = err
                self._cond.notify_all()
        except BaseException as exc:  # noqa: BLE001 - surfaced to the waiting thread
            if not self._stop.is_set():
                log.error("watch of the inbox of %s/%s failed: %s", self.namespace, self.run, exc)
                with self._cond:
                    self._error = exc
                    self._cond.notify_all()

    def wait_for(self, start: int, key_prefix: str | None, exclude_keys: Iterable[str],
                 timeout: float | None) -> tuple[int, dict[str, Any]] | None:
        """(index, entry) of the first wanted entry at or after `start`, waiting up to
        `timeout` seconds (None: for ever) for it; None when the time is up."""
        self.start()
        excluded = set(exclude_keys)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                found = ri.next_match(self.entries, start, key_prefix, excluded)
                if found is not None:
                    return found, self.entries[found]
                if self._error is not None:
                    raise self._error
                if deadline is None:
                    self._cond.wait()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    self._cond.wait(remaining)


_readers: dict[tuple[str, str], InboxReader] = {}
_readers_lock = threading.Lock()


def reader(kube: Kube, namespace: str, run: str) -> InboxReader:
    """The one live reader of a run's inbox in this process."""
    with _readers_lock:
        got = _readers.get((namespace, run))
        if got is None or got._error is not None:
            got = _readers[(namespace, run)] = InboxReader(kube, namespace, run)
        return got
