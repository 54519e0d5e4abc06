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

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..contract import run_inputs as ri
from ..contract.constants import LABEL_RUN
from ..contract.instances import belongs
from ..contract.lifecycle.vocabulary import now
from ..contract.status import timestamp
from ..kube import Conflict, Kube, KubeError
from .cache import WorldCache
from .resources import owner_reference

log = logging.getLogger(__name__)
DELETERS = 4  # delivered requests deleted at once (the API client's pool holds 16 connections)


class Deliveries:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._deleter = ThreadPoolExecutor(max_workers=DELETERS, thread_name_prefix="deliver-delete")
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

    def deliver(self, run: dict[str, Any], seen: str | None = None) -> int:
        """Copy the run's pending inputs into its inbox, in order; returns how many.
        `seen`: the newest resourceVersion of a request the watch brought for this run
        (the list then comes from the API server's cache, at least that recent)."""
        meta = run["metadata"]
        namespace, name, uid = meta["namespace"], meta["name"], meta.get("uid", "")
        targets = ",".join(sorted({name, uid} - {""}))
        try:
            requests = self.kube.list_inputs(namespace, f"{LABEL_RUN} in ({targets})", not_older_than=seen)
        except KubeError as exc:
            if not seen or exc.status not in (410, 504):  # (a cache that lags: "too large resource version")
                raise
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

        def problems(r: dict[str, Any]) -> str:
            spec = r.get("spec") or {}
            return "; ".join(ri.request_problems(r)
                             or ri.door_problems(status, str(spec.get("key") or ""), spec.get("value")))
        for _ in range(10):
            judged = [(r, problems(r)) for r in ri.pending(requests, state.last_revision)]
            good = [r for r, why in judged if not why]
            refused = [(r, why) for r, why in judged if why]
            full = False
            try:
                writes, after = ri.plan(state, [ri.entry_of(r) for r in good])
            except ri.InboxFull as exc:  # those that fit go in; the rest are refused
                refused += [(r, str(exc)) for r in good[exc.taken:]]
                good, writes, after, full = good[:exc.taken], exc.writes, exc.after, True
            try:
                self._write(namespace, name, run, state, writes)
            except Conflict:
                state = self.load(namespace, name)  # someone (an earlier us) wrote: read the mark again
                continue
            state = after
            delivered = good
            if delivered:  # the keys, never the values (bench/inputs_latency.py times each hop by them)
                keys = [str((r.get("spec") or {}).get("key")) for r in delivered]
                log.info("%s/%s: %d input(s) delivered to page %d: %s", namespace, name, len(delivered),
                         state.index, " ".join(keys[:5]) + (" ..." if len(keys) > 5 else ""))
            break
        else:
            raise KubeError(409, "Conflict", f"inbox of {namespace}/{name} kept changing; gave up")
        with self._lock:
            self._pages[key] = state
        if full and not (status.get("inbox") or {}).get("full"):
            # The one write about inputs to the FlowRun: senders who read it are refused at the door.
            self.kube.patch_flowrun(namespace, name, {"status": {"inbox": ri.inbox_full(timestamp())}}, status=True)
            log.warning("%s/%s: the inbox is full (%d pages); further inputs are refused", namespace, name,
                        ri.MAX_PAGES)
        for req, why in refused:
            self.kube.emit_event(run, "InputRefused",
                                 f"input {req['metadata']['name']} (key {(req.get('spec') or {}).get('key')}) "
                                 f"from {(req.get('spec') or {}).get('sender')} not delivered: {why}",
                                 type_="Warning")
            self.kube.emit_event(req, "InputRefused", f"not delivered to FlowRun {name}: {why}", type_="Warning")
        # Delivered now, or earlier (a crash before the delete), or refused: the request
        # has done its job. Deleted here, before the next delivery lists again, a few at
        # a time: deleting later (off the path) or one by one was measured to let a
        # thousand pile up in a burst, each listed again by every delivery
        # (bench/README.md, inputs_scale.py).
        done = [req["metadata"]["name"] for req in requests
                if ri.revision(req) <= state.last_revision or any(req is r for r, _ in refused)]
        list(self._deleter.map(lambda n: self.kube.delete_input(namespace, n), done))
        return len(delivered)

    def sweep(self, namespace: str, target: str, grace_seconds: float, instance: str) -> bool | None:
        """The requests for `target` (a run's name or uid) that this instance has not
        delivered: when no such run exists, drop those older than the grace, each with a
        Warning Event about it. Returns True while some still wait for their run, None
        when the run exists but is another instance's (it delivers them), else False."""
        if ri.UID.match(target):
            run = next((r for r in self.kube.list_flowruns(namespace) if r["metadata"].get("uid") == target), None)
        else:
            run = self.kube.get_flowrun(namespace, target)
        if run is not None:
            return True if belongs(run, instance) else None
        requests = self.kube.list_inputs(namespace, f"{LABEL_RUN}={target}")
        dropped = ri.orphans(requests, now(), grace_seconds)
        for req in dropped:
            message = ri.orphan_message(req, namespace, grace_seconds)
            self.kube.emit_event(req, "InputDropped", message, type_="Warning")
            if self.kube.delete_input(namespace, req["metadata"]["name"]):
                log.warning("%s", message)
        return len(dropped) < len(requests)

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


class InputQueue:
    """When to deliver: per run, one delivery at a time (a request that comes meanwhile
    makes the running one go once more), in threads of its own so that a burst of
    reconciles never holds up an input. Requests for a run this replica does not know
    (yet) are remembered by (namespace, target) until that run appears or this replica
    becomes the leader; only the leader delivers."""

    def __init__(self, deliveries: Deliveries, cache: WorldCache, acting: Callable[[], bool],
                 orphan_seconds: float = ri.ORPHAN_GRACE_SECONDS, instance: str = "") -> None:
        self.deliveries, self.cache, self.acting = deliveries, cache, acting
        self.orphan_seconds, self.instance = orphan_seconds, instance
        self.executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="deliver")
        self._inflight: dict[tuple[str, str], bool] = {}
        self._seen: dict[tuple[str, str], int] = {}  # per run: the newest request revision not listed yet
        self._waiting: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def _run_for(self, namespace: str, target: str) -> dict[str, Any] | None:
        obj = self.cache.flowrun(namespace, target)
        if obj is None and ri.UID.match(target):
            obj = self.cache.flowrun_by_uid(namespace, target)
        return obj

    def sent(self, namespace: str, target: str, revision: int = 0) -> None:
        """A request for `target` (a run's name or uid) appeared, at `revision`."""
        self._waiting.add((namespace, target))
        self.deliver_soon(namespace, target, revision)

    def run_seen(self, namespace: str, name: str, uid: str) -> None:
        """A FlowRun event: deliver what waited for it."""
        if (namespace, name) in self._waiting or (namespace, uid) in self._waiting:
            self.deliver_soon(namespace, name)

    def forget(self, namespace: str, name: str) -> None:
        self.deliveries.forget(namespace, name)
        self._seen.pop((namespace, name), None)

    def deliver_waiting(self) -> None:
        """Just became the leader: deliver every request seen and not delivered."""
        for namespace, target in list(self._waiting):
            self.deliver_soon(namespace, target)

    async def sweeping(self) -> None:
        """Runs while the operator does: every so often (a tenth of the grace, 5 s to
        60 s), the leader looks at the targets that inputs wait for and that are not
        this instance's known runs (controller/inbox.py's sweep). What is remembered per
        waiting target is forgotten when its run turns out to be another instance's or
        when nothing waits for it any more: the set does not grow without limit."""
        loop = asyncio.get_running_loop()
        period = min(60.0, max(5.0, self.orphan_seconds / 10))
        while True:
            await asyncio.sleep(period)
            if not self.acting():
                continue
            for namespace, target in list(self._waiting):
                if self._run_for(namespace, target) is not None:
                    continue  # ours and known: delivery handles it
                try:
                    waits = await loop.run_in_executor(self.executor, self.deliveries.sweep, namespace, target,
                                                       self.orphan_seconds, self.instance)
                except Exception as exc:  # noqa: BLE001 - looked at again next time
                    log.error("%s: sweeping inputs for %s failed (%s: %s)", namespace, target,
                              type(exc).__name__, exc)
                    continue
                if not waits:
                    self._waiting.discard((namespace, target))

    def deliver_soon(self, namespace: str, target: str, revision: int = 0) -> None:
        if not self.acting():
            return
        run = self._run_for(namespace, target)
        if run is None:
            return  # sent before the run exists (or not this instance's): waits in its object
        key = (namespace, run["metadata"]["name"])
        if revision:
            self._seen[key] = max(self._seen.get(key, 0), revision)
        if key in self._inflight:
            self._inflight[key] = True
            return
        self._inflight[key] = False
        task = asyncio.get_running_loop().create_task(self._deliver(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, key: tuple[str, str]) -> None:
        namespace, name = key
        loop = asyncio.get_running_loop()
        try:
            while True:
                run = self.cache.flowrun(namespace, name)
                if run is None:
                    return
                seen = self._seen.pop(key, 0)
                try:
                    await loop.run_in_executor(self.executor, self.deliveries.deliver, run, str(seen) if seen else None)
                    self._waiting.discard((namespace, name))
                    self._waiting.discard((namespace, run["metadata"].get("uid", "")))
                except Exception as exc:  # noqa: BLE001 - retried in a second
                    log.error("%s/%s: delivering inputs failed (%s: %s); retrying in 1 s",
                              namespace, name, type(exc).__name__, exc)
                    loop.call_later(1.0, self.deliver_soon, namespace, name)
                    return
                if not self._inflight[key]:
                    return
                self._inflight[key] = False
        finally:
            self._inflight.pop(key, None)
