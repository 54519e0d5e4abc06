"""The FlowRuns one person may list in one scope, kept current by a watch made as that
person (list, then watch from the list's resourceVersion, as an informer does). The list
page renders from it, and its changes are what the list's event stream announces, so a
redraw never reads an older copy than the one announced. Started by the first list page
a person opens, stopped after IDLE_SECONDS without a page or stream using it."""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from ..kube.client import Kube, KubeError

log = logging.getLogger("flowrun.ui")
IDLE_SECONDS = 600.0


class RunCache:
    def __init__(self, kube: Kube, namespace: str | None):
        self.kube, self.namespace = kube, namespace
        self._items: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._listeners: set[Callable[[str], None]] = set()
        self.ready = threading.Event()
        self.error: KubeError | None = None
        self.stop = threading.Event()
        self.used = time.monotonic()
        threading.Thread(target=self._run, daemon=True, name=f"ui-cache-{namespace or 'all'}").start()

    def items(self, timeout: float = 10.0) -> list[dict[str, Any]] | None:
        """The runs now; None when the cache cannot say (not ready in time, or the watch
        was refused: the caller asks the API itself, and shows its answer)."""
        self.used = time.monotonic()
        if not self.ready.wait(timeout) or self.error is not None or self.stop.is_set():
            return None
        with self._lock:
            return list(self._items.values())

    def listen(self, fn: Callable[[str], None]) -> Callable[[], None]:
        with self._lock:
            self._listeners.add(fn)

        def forget() -> None:
            with self._lock:
                self._listeners.discard(fn)
            self.used = time.monotonic()
        return forget

    @property
    def idle(self) -> bool:
        with self._lock:
            listened = bool(self._listeners)
        return not listened and time.monotonic() - self.used > IDLE_SECONDS

    def _notify(self, kind: str) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for fn in listeners:
            fn(kind)

    def _run(self) -> None:
        try:
            for kind, obj in self.kube.watch_flowruns(self.namespace, stop=self.stop, relist=True):
                with self._lock:
                    if kind == "RESYNC":
                        self._items = {_key(o): o for o in obj.get("items") or []}
                    elif kind == "DELETED":
                        self._items.pop(_key(obj), None)
                    else:
                        self._items[_key(obj)] = obj
                self.ready.set()
                self._notify(kind)
                if self.stop.is_set():
                    return
        except KubeError as exc:  # 401/403: this person may not (any more): the pages say so
            self.error = exc
        except Exception as exc:  # noqa: BLE001
            log.warning("FlowRun cache of %s stopped: %s", self.namespace or "all namespaces", exc)
            self.error = KubeError(0, "CacheStopped", str(exc))
        finally:
            self.stop.set()
            self.ready.set()
            self._notify("STOPPED")


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace", ""), meta.get("name", "")
