"""The leader-election shell (controller/leader.py) with two replicas against an
in-memory Lease with the API server's compare-and-swap: one leads, the other takes over
when the leader dies, and never do both act at once (fencing), sampled every few ms."""
from __future__ import annotations

import asyncio
import copy
import itertools
import threading

from flowrun.controller.leader import Leadership
from flowrun.controller.settings import Settings
from flowrun.kube import Conflict


class LeaseStore:
    def __init__(self):
        self.lease = None
        self.rv = itertools.count(1)
        self.lock = threading.Lock()
        self.cut_off: set[str] = set()  # identities whose requests hang up (a partition)


class LeaseKube:
    def __init__(self, store: LeaseStore, me: str):
        self.store, self.me = store, me

    def _reachable(self):
        if self.me in self.store.cut_off:
            raise OSError("connection refused")

    def get_lease(self, namespace, name):
        self._reachable()
        with self.store.lock:
            return copy.deepcopy(self.store.lease)

    def write_lease(self, lease):
        self._reachable()
        with self.store.lock:
            current = self.store.lease
            wanted = lease["metadata"].get("resourceVersion")
            if (current is None) != (wanted is None) or (current and current["metadata"]["resourceVersion"] != wanted):
                raise Conflict(409, "Conflict", "the object has been modified")
            written = copy.deepcopy(lease)
            written["metadata"]["resourceVersion"] = str(next(self.store.rv))
            self.store.lease = written
            return copy.deepcopy(written)


SETTINGS = Settings(lease_namespace="ns", lease_duration=0.6, lease_renew_deadline=0.35, lease_retry_period=0.05)


def replica(store, me):
    gained = []
    lead = Leadership(Settings(**{**SETTINGS.__dict__, "lease_identity": me}), kube=LeaseKube(store, me),
                      on_gain=lambda: _note(gained), on_lose=lambda: None)
    return lead, gained


async def _note(gained):
    gained.append(1)


async def watch_both(a, b, seconds, both):
    end = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < end:
        if a.acting() and b.acting():
            both.append(1)
        await asyncio.sleep(0.003)


def test_one_leads_the_other_takes_over_and_never_both():
    async def scenario():
        store = LeaseStore()
        a, gained_a = replica(store, "a")
        b, gained_b = replica(store, "b")
        both: list[int] = []
        task_a = asyncio.create_task(a.run())
        await asyncio.sleep(0.2)
        task_b = asyncio.create_task(b.run())
        await watch_both(a, b, 0.5, both)
        assert a.acting() and not b.acting() and gained_a == [1] and gained_b == []
        # a is cut off from the API server: it must stop acting before b may start
        store.cut_off.add("a")
        await watch_both(a, b, 1.5, both)
        assert not a.acting() and b.acting() and gained_b == [1]
        assert store.lease["spec"]["holderIdentity"] == "b" and store.lease["spec"]["leaseTransitions"] == 1
        # a comes back: it stands by (the lease is b's and alive)
        store.cut_off.clear()
        await watch_both(a, b, 0.5, both)
        assert not a.acting() and b.acting()
        # b leaves in good order: it releases the lease and a takes it at its next read
        task_b.cancel()
        await b.release()
        await watch_both(a, b, 0.3, both)
        assert a.acting()
        task_a.cancel()
        assert both == [], "two replicas acted at the same time"
    asyncio.run(scenario())


def test_without_a_lease_namespace_it_always_acts():
    lead = Leadership(Settings())
    assert not lead.elects and lead.acting()
