"""Delivering inputs sent to a run (FlowRunInput requests) into its inbox pages.

A thin shell around contract/run_inputs.py: list the run's pending requests (a
snapshot, so etcd's order), plan the page writes, write them (each guarded by the
page's delivery mark), then delete the requests delivered. Called per run, serialised
per run by handlers.py, whenever a request for it appears (and when the run appears or
this replica becomes the leader, for requests that waited).

What is kept in memory: per run with an inbox, its last page's number, size and mark
(a few integers), never the entries; dropped when the run is deleted.

What it must never do: deliver a request twice (the mark), out of order (the snapshot,
sorted by revision), or to another run than the one it names (its name, or its uid).
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from ..contract import run_inputs as ri
from ..contract.constants import LABEL_RUN
from ..kube import Conflict, Kube, KubeError
from .resources import owner_reference

log = logging.getLogger(__name__)


class Deliveries:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._pages: dict[tuple[str, str], ri.PageState] = {}
        self._lock = threading.Lock()

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            self._pages.pop((namespace, name), None)

    def load(self, namespace: str, name: str) -> ri.PageState:
        """The run's last page as the API has it: the first page not sealed (or the one
        after the last sealed page, not created yet, carrying its mark)."""
        mark = 0
        for index in range(ri.MAX_PAGES):
            page = self.kube.get_inbox(namespace, ri.page_name(name, index))
            if page is None:
                return ri.PageState(index=index, last_revision=mark)
            state = ri.state_of(page, index)
            if not (page.get("spec") or {}).get("sealed"):
                return state
            mark = state.last_revision
        return ri.PageState(index=ri.MAX_PAGES - 1, entries=ri.PAGE_MAX_ENTRIES, last_revision=mark, exists=True)

    def deliver(self, run: dict[str, Any]) -> int:
        """Copy the run's pending inputs into its inbox, in order; returns how many."""
        meta = run["metadata"]
        namespace, name, uid = meta["namespace"], meta["name"], meta.get("uid", "")
        targets = ",".join(sorted({name, uid} - {""}))
        requests = self.kube.list_inputs(namespace, f"{LABEL_RUN} in ({targets})")
        if not requests:
            return 0
        key = (namespace, name)
        with self._lock:
            state = self._pages.get(key)
        if state is None:
            state = self.load(namespace, name)
        delivered: list[dict[str, Any]] = []
        refused: list[tuple[dict[str, Any], str]] = []
        status = run.get("status") or {}

        def problems(r: dict[str, Any]) -> list[str]:
            spec = r.get("spec") or {}
            return ri.request_problems(r) or ri.door_problems(status, str(spec.get("key") or ""), spec.get("value"))
        for _ in range(10):
            todo = ri.pending(requests, state.last_revision)
            good = [r for r in todo if not problems(r)]
            refused = [(r, "; ".join(problems(r))) for r in todo if problems(r)]
            try:
                writes, after = ri.plan(state, [ri.entry_of(r) for r in good])
            except ri.InboxFull as exc:
                refused += [(r, str(exc)) for r in good]
                good, writes, after = [], [], state
            try:
                self._write(namespace, name, run, state, writes)
            except Conflict:
                state = self.load(namespace, name)  # someone (an earlier us) wrote: read the mark again
                continue
            state = after
            delivered = good
            break
        else:
            raise KubeError(409, "Conflict", f"inbox of {namespace}/{name} kept changing; gave up")
        with self._lock:
            self._pages[key] = state
        for req, why in refused:
            self.kube.emit_event(run, "InputRefused",
                                 f"input {req['metadata']['name']} (key {(req.get('spec') or {}).get('key')}) "
                                 f"not delivered: {why}", type_="Warning")
        # Delivered now, or earlier (a crash before the delete): the request has done its job.
        for req in requests:
            if ri.revision(req) <= state.last_revision or any(req is r for r, _ in refused):
                self.kube.delete_input(namespace, req["metadata"]["name"])
        if delivered:
            log.info("%s/%s: %d input(s) delivered to page %d", namespace, name, len(delivered), state.index)
        return len(delivered)

    def _write(self, namespace: str, name: str, run: dict[str, Any], state: ri.PageState,
               writes: list[ri.PageWrite]) -> None:
        mark = state.last_revision
        for write in writes:
            page = ri.page_name(name, write.index)
            if write.create:
                try:
                    self.kube.create_inbox(ri.page_object(namespace, name, owner_reference(run), write))
                except KubeError as exc:
                    if exc.status == 409:
                        raise Conflict(409, "Conflict", f"page {page} exists already") from None
                    raise
            else:
                self.kube.patch_inbox(namespace, page, ri.page_patch(mark, write))
            mark = write.last_revision
