"""The reconciler as a shell, on the in-memory API: one converge creates what a run needs,
a refused Job becomes the run's message (or its end), and nothing is done twice."""
from __future__ import annotations

from fakeapi import FakeKube, Store
from flowrun.controller.reconcile import Reconciler
from flowrun.controller.settings import Settings
from flowrun.kube import KubeError


def setup(**spec):
    store = Store()
    kube = FakeKube(store, user="operator")
    kube.create_flowrun("ns", {"metadata": {"name": "r", "namespace": "ns"}, "spec": {"flow": "m:f", **spec}})
    return store, kube, Reconciler(kube, Settings(runner_image="img", job_retry_seconds=7))


def test_a_new_run_gets_its_account_claim_and_one_job():
    store, kube, rec = setup()
    assert rec.reconcile("ns", "r") is None
    kinds = sorted(k for (k, _, _) in store.objects)
    assert kinds.count("Job") == 1 and "PersistentVolumeClaim" in kinds and "ServiceAccount" in kinds
    fr = kube.get_flowrun("ns", "r")
    job = kube.get("Job", "ns", "r-1")
    assert fr["status"]["phase"] == "Pending" and fr["status"]["jobUID"] == job["metadata"]["uid"]
    writes = store.writes
    rec.reconcile("ns", "r")  # converged: a second reconcile writes nothing
    assert store.writes == writes
    assert [e["reason"] for e in store.events] == ["Created"]


def test_a_quota_refusal_is_shown_and_retried():
    store, kube, rec = setup()

    def quota(obj):
        raise KubeError(403, "Forbidden", 'jobs.batch "r-1" is forbidden: exceeded quota: q, requested: count/jobs.batch=1')
    store.refuse[("Job", "create")] = quota
    wake = rec.reconcile("ns", "r")
    fr = kube.get_flowrun("ns", "r")
    assert wake is not None, "retried by itself"
    assert "exceeded quota" in fr["status"]["message"] and fr["status"]["phase"] == "Pending"
    assert [e["reason"] for e in store.events][-1] == "Blocked"
    del store.refuse[("Job", "create")]
    rec.reconcile("ns", "r")
    assert kube.get("Job", "ns", "r-1") is not None


def test_an_invalid_job_fails_the_run():
    store, kube, rec = setup()

    def invalid(obj):
        raise KubeError(422, "Invalid", 'Job.batch "r-1" is invalid: spec.template.spec.containers[0].resources')
    store.refuse[("Job", "create")] = invalid
    assert rec.reconcile("ns", "r") is None
    fr = kube.get_flowrun("ns", "r")
    assert fr["status"]["phase"] == "Failed" and fr["status"]["reason"] == "InfrastructureRefused"


def test_a_paused_deadline_is_when_the_operator_wakes():
    store, kube, rec = setup()
    rec.reconcile("ns", "r")
    kube.patch_flowrun("ns", "r", {"status": {"phase": "Paused", "pause": {
        "key": "pause-1", "kind": "Pause", "deadline": "2099-01-01T00:00:00Z", "since": "2026-01-01T00:00:00Z"}}},
        status=True)
    wake = rec.reconcile("ns", "r")
    assert wake is not None and wake.year == 2099


def test_a_runs_lock_lives_only_while_it_is_reconciled():
    store, kube, rec = setup()
    inside = []
    converge = rec._converge
    rec._converge = lambda obj, **kw: (inside.append(len(rec.locks)), converge(obj, **kw))[1]
    rec.reconcile("ns", "r")
    assert inside == [1] and len(rec.locks) == 0
    kube.delete_flowrun("ns", "r")
    rec.reconcile("ns", "r")
    assert len(rec.locks) == 0


def test_two_reconciles_of_one_run_never_overlap():
    import threading
    import time
    store, kube, rec = setup()
    active, overlaps = [0], []
    converge = rec._converge

    def slow(obj, **kw):
        active[0] += 1
        overlaps.append(active[0])
        time.sleep(0.02)
        try:
            return converge(obj, **kw)
        finally:
            active[0] -= 1
    rec._converge = slow
    threads = [threading.Thread(target=rec.reconcile, args=("ns", "r")) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert max(overlaps) == 1 and len(rec.locks) == 0


def test_children_suspended_with_their_parent_come_back_unless_they_wait_for_a_person():
    from flowrun.controller.views import child_view
    parent = {"metadata": {"name": "p", "uid": "pu"}}

    def child(pause):
        return {"metadata": {"name": "c", "uid": "cu", "labels": {"flowrun.io/parent": "p"},
                             "ownerReferences": [{"controller": True, "uid": "pu"}],
                             "annotations": {"flowrun.io/suspended-with-parent": "p"}},
                "spec": {"state": "Suspended"}, "status": {"phase": "Suspended", "pause": pause}}
    outside = {"key": "external-suspend-1", "kind": "Suspend", "requestedBy": "user"}
    asked = {"key": "pause-1", "kind": "Suspend", "requestedBy": "flow"}
    assert child_view(child(outside), parent).waiting is False
    assert child_view(child(asked), parent).waiting is True


def test_events_are_announced_once_and_their_mark_costs_no_write_of_its_own():
    """An Event per history entry; status.eventedSeq rides along with the operator's next
    own status write, or is written when the run ends (not once per entry)."""
    store, kube, rec = setup()
    rec.reconcile("ns", "r")
    assert [e["reason"] for e in store.events] == ["Created"]
    assert not kube.get_flowrun("ns", "r")["status"].get("eventedSeq")  # no write just for the mark
    writes = store.writes
    rec.reconcile("ns", "r")
    assert store.writes == writes and len(store.events) == 1  # announced once by this process

    # another process (a restart, a new leader) does not know: it announces again (at least once)
    Reconciler(kube, Settings(runner_image="img", job_retry_seconds=7)).reconcile("ns", "r")
    assert [e["reason"] for e in store.events] == ["Created", "Created"]

    # the run ends (as the runner writes it): its Event, and the mark written with it
    fr = kube.get_flowrun("ns", "r")
    history = fr["status"]["history"] + [{"seq": 2, "action": "completed", "by": "runner",
                                          "time": "2026-11-26T00:00:00Z", "message": "done"}]
    kube.patch_flowrun("ns", "r", {"status": {"phase": "Completed", "history": history,
                                              "completionTime": "2026-11-26T00:00:00Z"}}, status=True)
    rec.reconcile("ns", "r")
    assert len(store.events) == 3 and store.events[-1]["message"] == "done"
    assert kube.get_flowrun("ns", "r")["status"]["eventedSeq"] == 2
    rec.reconcile("ns", "r")
    assert len(store.events) == 3


def test_the_mark_rides_with_the_operators_next_status_write():
    store, kube, rec = setup()
    rec.reconcile("ns", "r")  # Created announced, not recorded
    kube.patch_flowrun("ns", "r", {"spec": {"state": "Suspended"}})  # the operator records the suspension
    rec.reconcile("ns", "r")
    status = kube.get_flowrun("ns", "r")["status"]
    assert status["phase"] == "Suspended" and status["eventedSeq"] >= 1


import pytest  # noqa: E402


@pytest.mark.parametrize("kind,name", [("ServiceAccount", "r-runner"), ("Role", "r-runner"),
                                       ("RoleBinding", "r-runner"), ("PersistentVolumeClaim", "r-cache"),
                                       ("Job", "r-1")])
def test_an_object_of_the_name_that_is_not_the_runs_own_is_never_adopted(kind, name):
    store, kube, rec = setup()
    theirs = {"kind": kind, "metadata": {"name": name, "namespace": "ns", "labels": {"app": "gitlab"}}}
    kube.put(theirs)
    before = kube.get(kind, "ns", name)
    assert rec.reconcile("ns", "r") is None
    fr = kube.get_flowrun("ns", "r")
    assert fr["status"]["phase"] == "Failed" and fr["status"]["reason"] == "Conflict"
    assert f"{kind} {name} already exists and does not belong to this run" in fr["status"]["message"]
    failed = next(c for c in fr["status"]["conditions"] if c["type"] == "Failed")
    assert failed["status"] == "True" and name in failed["message"]
    assert "Conflict" in [e["reason"] for e in store.events]
    assert kube.get(kind, "ns", name) == before  # untouched
    if kind != "Job":
        assert kube.get("Job", "ns", "r-1") is None  # nothing started


def test_the_runs_own_objects_are_used_again_on_a_later_attempt():
    store, kube, rec = setup()
    rec.reconcile("ns", "r")
    fr = kube.get_flowrun("ns", "r")
    rec.ensure_job(fr, 2)  # the account, Role, binding and claim exist: owned, so used
    assert kube.get("Job", "ns", "r-2") is not None
    assert kube.get_flowrun("ns", "r")["status"]["phase"] == "Pending"
