"""The operator's work queue: which run is reconciled when, in a worker thread.

- One reconcile of a run at a time: an event for a run being reconciled only marks it
  to go once more when the running pass ends (level-triggered: one pass sees every
  change), instead of queueing a second thread that would wait for the run's lock.
- A reconcile says when the run next needs the operator by itself (a pause's deadline,
  an idle pause's suspension, a retry after a refused Job); a per-run timer reconciles
  it at that moment. A finished run's time to live, the resync period of a live run and
  its next notification are folded into the same timer.
- A reconcile that raises is retried with backoff (1 s, 2 s, 4 s... up to a minute):
  kopf would drop the error of an event handler.
- Only the leader acts (`acting`): a standby remembers which runs exist, and reconciles
  them all, live ones first, when it becomes the leader (`reconcile_all`).

Made once, when the operator starts (controller/handlers.py); it decides nothing about
a run (controller/reconcile.py and contract/ do).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from ..contract.lifecycle.vocabulary import now
from . import metrics
from .cache import WorldCache
from .reconcile import Reconciler
from .settings import Settings
from .views import finished_expiry

log = logging.getLogger("flowrun.controller")

# Runs a new leader reconciles at once.
LEADER_GAIN_WORKERS = 8
MAX_BACKOFF_SECONDS = 60.0


class WorkQueue:
    def __init__(self, reconciler: Reconciler, settings: Settings, cache: WorldCache, *,
                 acting: Callable[[], bool],
                 look_at: Callable[[str, str], datetime | None] | None = None) -> None:
        """`acting`: whether this replica leads now; `look_at`: queue a run's due
        notifications and say when the next one is due (controller/notify.py), if on."""
        self.reconciler = reconciler
        self.settings = settings
        self.cache = cache
        self.acting = acting
        self.look_at = look_at
        # Runs this replica has seen (namespace, name) -> live: what a new leader reconciles.
        self.known: dict[tuple[str, str], bool] = {}
        # Per run: the timer that reconciles it again by itself, and its failures in a row.
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.failures: dict[str, int] = {}
        # Runs being reconciled now -> whether another event came meanwhile.
        self.inflight: dict[str, bool] = {}
        self.executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="reconcile")
        self.tasks: set[asyncio.Task[None]] = set()

    # ---- what the watch handlers say ------------------------------------------------------

    def seen(self, namespace: str, name: str, live: bool) -> None:
        self.known[(namespace, name)] = live

    def schedule(self, namespace: str, name: str) -> None:
        """Reconcile the run soon, without holding up kopf's event processing: a handler
        that waited for its reconcile (behind hundreds of others in a burst) would keep the
        watch cache behind the API by minutes (bench/scale.py measured it)."""
        task = asyncio.get_running_loop().create_task(self.reconcile(namespace, name))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def forget(self, namespace: str, name: str) -> None:
        """A FlowRun is gone: its timer, its failure count, its lock and its cache entry go."""
        key = f"{namespace}/{name}"
        self.known.pop((namespace, name), None)
        armed = self.timers.pop(key, None)
        if armed is not None:
            armed.cancel()
        self.failures.pop(key, None)
        self.reconciler.forget(namespace, name)

    # ---- leadership -------------------------------------------------------------------------

    async def reconcile_all(self) -> None:
        """Just became the leader: reconcile every run seen, live ones first (nothing a
        standby saw was acted on, and its timers were never armed)."""
        keys = sorted(self.known, key=lambda k: not self.known[k])
        log.info("leader: reconciling %d runs", len(keys))
        gate = asyncio.Semaphore(LEADER_GAIN_WORKERS)

        async def one(namespace: str, name: str) -> None:
            async with gate:
                if self.acting():
                    await self.reconcile(namespace, name)
        await asyncio.gather(*(one(ns, n) for ns, n in keys))

    def stand_by(self) -> None:
        """Lost the lease: no timer of this replica fires any more (the next leader arms its own)."""
        for handle in self.timers.values():
            handle.cancel()
        self.timers.clear()
        self.failures.clear()

    # ---- one pass -----------------------------------------------------------------------------

    async def reconcile(self, namespace: str, name: str) -> None:
        """Reconcile in a worker thread; then arm the run's timer for when it wants the
        operator again, or, when the reconcile raised, for a retry with backoff."""
        if not self.acting():
            return  # a standby: the leader does it (and a new leader reconciles every run)
        key = f"{namespace}/{name}"
        if key in self.inflight:
            self.inflight[key] = True
            return
        self.inflight[key] = False
        metrics.WORKQUEUE_DEPTH.inc()
        try:
            while True:
                try:
                    wake = await self._pass(namespace, name)
                except Exception as exc:  # noqa: BLE001 - retried below, and said in the log
                    metrics.RECONCILE_ERRORS.inc()
                    failures = self.failures[key] = self.failures.get(key, 0) + 1
                    delay = min(2.0 ** (failures - 1), MAX_BACKOFF_SECONDS)
                    log.error("%s: reconcile failed (%s: %s); retrying in %g s", key, type(exc).__name__, exc, delay)
                    self.arm(key, namespace, name, delay)
                    return
                self.failures.pop(key, None)
                if wake is not None:
                    self.arm(key, namespace, name, max((wake - now()).total_seconds(), 0.01))
                if not self.inflight[key]:
                    return
                self.inflight[key] = False
        finally:
            del self.inflight[key]
            metrics.WORKQUEUE_DEPTH.dec()

    async def _pass(self, namespace: str, name: str) -> datetime | None:
        """One reconcile, then the time to live, then the notifications: when next to wake."""
        loop = asyncio.get_running_loop()
        wake = await loop.run_in_executor(self.executor, self.reconciler.reconcile, namespace, name)
        expiry = self._expiry(namespace, name)
        if expiry is not None and expiry <= now():  # its time to live is over: delete it
            done = await loop.run_in_executor(self.executor, self.reconciler.collect, namespace, name)
            expiry = None if done else now() + timedelta(seconds=1)
        wake = min(filter(None, (wake, expiry, self._resync_due(namespace, name))), default=None)
        if self.look_at is not None:  # queued here, sent in the background (controller/notify.py)
            near = await loop.run_in_executor(self.executor, self.look_at, namespace, name)
            wake = min(filter(None, (wake, near)), default=None)
        return wake

    def arm(self, key: str, namespace: str, name: str, delay: float) -> None:
        loop = asyncio.get_running_loop()
        armed = self.timers.get(key)
        if armed is not None and not armed.cancelled() and armed.when() <= loop.time() + delay:
            return
        if armed is not None:
            armed.cancel()

        def fire() -> None:
            self.timers.pop(key, None)
            loop.create_task(self.reconcile(namespace, name))
        self.timers[key] = loop.call_later(delay, fire)

    def _resync_due(self, namespace: str, name: str) -> datetime | None:
        """A live run is reconciled at least every resync period (a missed watch event is
        seen within it; the reconcile works from the cache, so a quiet run costs no request)."""
        if not self.known.get((namespace, name)):
            return None
        return now() + timedelta(seconds=self.settings.resync_seconds)

    def _expiry(self, namespace: str, name: str) -> datetime | None:
        """When a finished run's time to live is over (ttlSecondsAfterFinished), if it has one."""
        obj = self.cache.flowrun(namespace, name)
        return None if obj is None else finished_expiry(obj, self.settings.ttl_seconds_after_finished)
