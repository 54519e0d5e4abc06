"""The runner's first read of its FlowRun, begun before the rest of the runner is
imported (runner/__main__.py): a thread makes the request (and the connection, TLS
included) while the interpreter imports the SDK, which takes several times as long in a
pod (bench/README.md, "runner_start.py"). Only flowrun.kube is imported here.

The read is the same GET the runner always made first, only sooner: every decision
taken on it is taken again on a fresh read when the run changed meanwhile (the Running
write is a compare-and-swap)."""
from __future__ import annotations

import os
import threading
from typing import Any

from ..contract.constants import ENV_NAME, ENV_NAMESPACE
from ..kube import Kube


class FirstRead:
    """Kube().get_flowrun(namespace, name) in a thread; `result()` waits for it and
    returns the FlowRun (None: not found) or raises what the read raised."""

    def __init__(self, kube: Kube, namespace: str, name: str):
        self.kube, self.namespace, self.name = kube, namespace, name
        self._done = threading.Event()
        self._value: dict[str, Any] | None = None
        self._error: BaseException | None = None
        threading.Thread(target=self._read, name="flowrun-first-read", daemon=True).start()

    def _read(self) -> None:
        try:
            self._value = self.kube.get_flowrun(self.namespace, self.name)
        except BaseException as exc:  # noqa: BLE001 - raised again by result()
            self._error = exc
        finally:
            self._done.set()

    def result(self) -> dict[str, Any] | None:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value


def begin() -> FirstRead | None:
    """The first read under way, or None when it cannot begin here (no run named in
    the environment, no configuration): main() then reports why, as before."""
    name, namespace = os.environ.get(ENV_NAME), os.environ.get(ENV_NAMESPACE)
    if not name or not namespace:
        return None
    try:
        kube = Kube()
    except Exception:  # noqa: BLE001 - main() makes it again and says why
        return None
    return FirstRead(kube, namespace, name)
