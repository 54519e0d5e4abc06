"""The reconciler deciding from the watch cache (controller/cache.py), on the in-memory API:
a converged run costs no request, a stale copy of the FlowRun costs a conflict and a
re-read (never a wrong write), a Job the cache has not seen yet is read live, and what a
run leaves in memory goes when it is deleted."""
from __future__ import annotations

import copy
from collections import Counter

from fakeapi import FakeKube, Store
from flowrun.controller import metrics
from flowrun.controller.cache import WorldCache
from flowrun.controller.reconcile import Reconciler
from flowrun.controller.views import job_view, pod_view
from flowrun.controller.settings import Settings


class CountingKube(FakeKube):
    """Counts the reads (GET and LIST) the reconciler makes."""

    def __init__(self, store: Store, **kw):
        super().__init__(store, **kw)
        self.reads: Counter[str] = Counter()

    def get_flowrun(self, namespace, name):
        self.reads["get FlowRun"] += 1
        return super().get_flowrun(namespace, name)

    def list(self, kind, namespace, selector=None):
        self.reads[f"list {kind}"] += 1
        return super().list(kind, namespace, selector)


def feed(cache: WorldCache, store: Store) -> None:
    """What the watches would have delivered by now: every object as stored."""
    for (kind, _, _), obj in list(store.objects.items()):
        obj = copy.deepcopy(obj)
        {"FlowRun": cache.put_flowrun, "Job": cache.put_job, "Pod": cache.put_pod}.get(kind, lambda o: None)(obj)


def setup(**spec):
    store = Store()
    kube = CountingKube(store, user="operator")
    kube.create_flowrun("ns", {"metadata": {"name": "r", "namespace": "ns"}, "spec": {"flow": "m:f", **spec}})
    cache = WorldCache(job_view, pod_view)
    feed(cache, store)
    return store, kube, cache, Reconciler(kube, Settings(runner_image="img"), cache=cache)


def test_a_new_run_gets_one_job_and_a_converged_run_costs_no_request():
    store, kube, cache, rec = setup()
    rec.reconcile("ns", "r")
    assert sorted(k for (k, _, _) in store.objects).count("Job") == 1
    assert [e["reason"] for e in store.events] == ["Created"]
    fr = kube.get_flowrun("ns", "r")
    assert fr["status"]["jobUID"] == kube.get("Job", "ns", "r-1")["metadata"]["uid"]
    feed(cache, store)
    kube.reads.clear()
    writes = store.writes
    for _ in range(3):  # the events of its own writes, of the Job, of the pods
        rec.reconcile("ns", "r")
    assert store.writes == writes and not kube.reads, kube.reads
    assert store.created[("Job", "ns", "r-1")] == 1


def test_a_stale_copy_conflicts_and_the_write_is_decided_again_on_the_fresh_one():
    store, kube, cache, rec = setup()
    # Someone cancels the run; the cache still holds the copy from before.
    kube.patch_flowrun("ns", "r", {"spec": {"state": "Cancelled", "reason": "not today"}})
    rec.reconcile("ns", "r")
    fr = kube.get_flowrun("ns", "r")
    assert fr["status"]["phase"] == "Cancelled", fr["status"]
    assert not [k for k in store.objects if k[0] == "Job"], "no Job for a run cancelled before it started"
    assert cache.flowrun("ns", "r")["metadata"]["resourceVersion"] == fr["metadata"]["resourceVersion"]


def test_a_job_the_cache_has_not_seen_is_read_live_not_taken_for_lost():
    store, kube, cache, rec = setup()
    Reconciler(kube, Settings(runner_image="img")).reconcile("ns", "r")  # another process made the Job
    cache.put_flowrun(kube.get_flowrun("ns", "r"))  # the FlowRun event came, the Job's not yet
    rec.reconcile("ns", "r")
    fr = kube.get_flowrun("ns", "r")
    assert fr["status"]["attempt"] == 1 and "lost" not in fr["status"].get("message", "")
    assert kube.reads["list Job"] >= 1
    assert [k for k in store.objects if k[0] == "Job"] == [("Job", "ns", "r-1")]


def test_a_suspension_deletes_the_job_once_and_the_deletion_is_written_through():
    store, kube, cache, rec = setup()
    rec.reconcile("ns", "r")
    feed(cache, store)
    kube.patch_flowrun("ns", "r", {"spec": {"state": "Suspended"}})
    cache.put_flowrun(kube.get_flowrun("ns", "r"))
    rec.reconcile("ns", "r")
    assert not [k for k in store.objects if k[0] == "Job"]
    assert [j.deleting for j in cache.jobs("ns", "r")] == [True]  # until the watch says it is gone
    cache.drop_job({"metadata": {"name": "r-1", "namespace": "ns", "labels": {"flowrun.io/run": "r"}}})
    rec.reconcile("ns", "r")
    assert kube.get_flowrun("ns", "r")["status"]["phase"] == "Suspended"


def test_a_deleted_run_leaves_nothing_behind():
    store, kube, cache, rec = setup()
    rec.reconcile("ns", "r")
    assert len(rec.locks) == 0 and cache.flowrun("ns", "r") is not None
    kube.delete_flowrun("ns", "r")
    rec.forget("ns", "r")  # what handlers.py does on the DELETED event
    assert cache.flowrun("ns", "r") is None


def test_an_older_event_never_replaces_a_newer_copy():
    cache = WorldCache(job_view, pod_view)
    new = {"metadata": {"namespace": "ns", "name": "r", "resourceVersion": "12"}}
    old = {"metadata": {"namespace": "ns", "name": "r", "resourceVersion": "9"}}
    assert cache.put_flowrun(new) is new and cache.put_flowrun(old) is new


def test_metrics_see_how_long_people_take_and_how_fast_a_resume_lands():
    from datetime import datetime, timezone
    run = {"metadata": {"namespace": "m", "name": "x"}, "spec": {"state": "Paused"},
           "status": {"phase": "Paused", "pause": {"key": "pause-1", "kind": "Pause",
                                                   "since": "2026-01-01T00:00:00Z"}}}
    metrics.observe_run(run)
    resumed = copy.deepcopy(run)
    resumed["spec"]["state"] = "Running"
    metrics.observe_run(resumed, wall=datetime(2026, 1, 1, 0, 2, tzinfo=timezone.utc))
    running = copy.deepcopy(resumed)
    running["status"] = {"phase": "Running"}
    metrics.observe_run(running)
    sample = metrics.REGISTRY.get_sample_value
    assert sample("flowrun_pause_wait_seconds_sum", {"kind": "Pause"}) >= 120
    assert sample("flowrun_resume_latency_seconds_count", {"kind": "Pause"}) >= 1
    assert sample("flowrun_phase_seconds_count", {"phase": "Paused"}) >= 1
    metrics.observe_phase("m", "x", None)
