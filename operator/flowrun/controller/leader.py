"""Leader election among the replicas of one instance: the shell around
contract/leases.py (which decides) and Kube.get_lease/write_lease (which talk).

`Leadership.run()` loops every retry period: read the Lease, ask the contract, write
it when acquiring or renewing. `acting()` says whether this replica may act now: true
only while it holds the lease and its last renewal started less than the renew deadline
ago (fencing, checked by the reconciler before every step it takes, from any thread).
Gaining the lease calls `on_gain` (reconcile every run: nothing seen while standing by
is trusted); losing it calls `on_lose` (drop the timers of runs).

Without a lease namespace there is no election: the process always acts (one replica,
or a development run).
"""
from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from datetime import datetime, timezone

from ..contract import leases
from ..kube import Kube, KubeError
from .settings import Settings

log = logging.getLogger("flowrun.controller.leader")


def _microtime() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Leadership:
    def __init__(self, settings: Settings, *, on_gain: Callable[[], Awaitable[None]] | None = None,
                 on_lose: Callable[[], None] | None = None, kube: Kube | None = None):
        self.namespace = settings.lease_namespace
        self.name = leases.lease_name(settings.instance)
        # The pod's name (the chart): a container restarted in the same pod takes its lease
        # back at once. Without one, a name no other process ever has.
        self.identity = settings.lease_identity or f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}"
        self.timings = leases.Timings(settings.lease_duration, settings.lease_renew_deadline,
                                      settings.lease_retry_period)
        self.on_gain, self.on_lose = on_gain, on_lose
        self._kube = kube
        self.seen = leases.Observed()
        self.leading = False
        self._written: dict[str, Any] | None = None  # the Lease as this replica last wrote it
        self.transitions = 0  # times this replica became the leader (metrics, tests)

    @property
    def elects(self) -> bool:
        return bool(self.namespace)

    @property
    def kube(self) -> Kube:
        if self._kube is None:
            # Its own connection pool: a renewal never waits behind reconciles. A slow API
            # server (seconds per request on a loaded machine) must not cost the lease: a
            # request may take up to the renew deadline, after which fencing stops the
            # leader anyway.
            self._kube = Kube(timeout=self.timings.renew_deadline)
        return self._kube

    def acting(self) -> bool:
        if not self.elects:
            return True
        return self.leading and not leases.must_stop(self.seen, time.monotonic(), self.timings)

    async def run(self) -> None:
        if not self.elects:
            if self.on_gain:
                await self.on_gain()
            return
        log.info("leader election: lease %s/%s as %s (%s)", self.namespace, self.name, self.identity,
                 self.timings)
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - an API hiccup: fencing covers it
                log.warning("leader election: %s: %s", type(exc).__name__, exc)
                self._check_fence()
            await asyncio.sleep(self.timings.retry_period)

    def _check_fence(self) -> None:
        if self.leading and not self.acting():
            self._lose("its lease could not be renewed in time")

    async def step(self) -> None:
        self._check_fence()
        if self.leading and self._written is not None:
            # The leader renews what it wrote last (one request per period, not two); a
            # conflict means someone else wrote the Lease: read it next time.
            lease: dict[str, Any] | None = self._written
        else:
            lease = await asyncio.to_thread(self.kube.get_lease, self.namespace, self.name)
        started = time.monotonic()
        self.seen = leases.observe(self.seen, lease, time.monotonic())
        action = leases.decide(lease, self.identity, self.seen, time.monotonic(), self.timings,
                               leading=self.leading)
        if action is leases.Action.STAND_BY:
            return
        if action is leases.Action.STEP_DOWN:
            self._lose(f"the lease is held by {leases.holder(lease) or 'nobody'}"
                       if leases.holder(lease) != self.identity else "its renew deadline passed")
            return
        body = leases.lease_body(self.namespace, self.name, self.identity, self.timings, _microtime(), lease)
        try:
            written = await asyncio.to_thread(lambda: self.kube.write_lease(body))
        except KubeError as exc:
            self._written = None
            if exc.status in (409, 422):  # someone else wrote it first (or created it)
                log.info("leader election: lost the race for the lease (%s)", exc.reason)
                self._check_fence()
                return
            raise
        except Exception:
            self._written = None
            raise
        self._written = written
        self.seen = leases.observe(self.seen, written, time.monotonic())
        self.seen = leases.Observed(self.seen.record, self.seen.changed_at, started)
        if not self.leading:
            self.leading = True
            self.transitions += 1
            log.info("leader election: %s is the leader now (%s)", self.identity,
                     "acquired" if action is leases.Action.ACQUIRE else "renewed")
            if self.on_gain:
                asyncio.get_running_loop().create_task(_awaited(self.on_gain()))

    def _lose(self, why: str) -> None:
        if not self.leading:
            return
        self.leading = False
        log.warning("leader election: %s stops acting: %s", self.identity, why)
        if self.on_lose:
            self.on_lose()

    async def release(self) -> None:
        """Leaving in good order: hand the lease over at once (the next read of a standby
        takes it) instead of making it wait out the lease duration."""
        if not (self.elects and self.leading):
            return
        self.leading = False
        if self.on_lose:
            self.on_lose()
        try:
            lease = await asyncio.to_thread(lambda: self.kube.get_lease(self.namespace, self.name))
            if lease is not None and leases.holder(lease) == self.identity:
                await asyncio.to_thread(lambda: self.kube.write_lease(leases.released(lease)))
                log.info("leader election: released the lease")
        except Exception as exc:  # noqa: BLE001 - the lease then simply expires
            log.warning("leader election: could not release the lease: %s", exc)


async def _awaited(outcome: Awaitable[None]) -> None:
    """`on_gain`'s awaitable as the coroutine a task wants."""
    await outcome
