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
from collections.abc import Iterable
from typing import Any

from ..contract import run_inputs as ri
from ..kube import Kube, KubeError
from .watching import Watcher

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


class InboxReader(Watcher):
    """A live, growing copy of a run's inbox."""

    thread_name = "flowrun-inbox"

    def __init__(self, kube: Kube, namespace: str, run: str) -> None:
        self.kube, self.namespace, self.run = kube, namespace, run
        self.entries: list[dict[str, Any]] = []
        super().__init__()

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
            self._fail(_refused(exc, self.namespace, self.run))
        except BaseException as exc:  # noqa: BLE001 - surfaced to the waiting thread
            self._fail(exc, log, f"the inbox of {self.namespace}/{self.run}")

    def wait_for(self, start: int, key_prefix: str | None, exclude_keys: Iterable[str],
                 timeout: float | None) -> tuple[int, dict[str, Any]] | None:
        """(index, entry) of the first wanted entry at or after `start`, waiting up to
        `timeout` seconds (None: for ever) for it; None when the time is up."""
        self.start()
        excluded = set(exclude_keys)

        def found() -> tuple[int, dict[str, Any]] | None:
            index = ri.next_match(self.entries, start, key_prefix, excluded)
            return (index, self.entries[index]) if index is not None else None
        return self._wait_until(found, timeout)


_readers: dict[tuple[str, str], InboxReader] = {}
_readers_lock = threading.Lock()


def reader(kube: Kube, namespace: str, run: str) -> InboxReader:
    """The one live reader of a run's inbox in this process."""
    with _readers_lock:
        got = _readers.get((namespace, run))
        if got is None or got._error is not None:
            got = _readers[(namespace, run)] = InboxReader(kube, namespace, run)
        return got
