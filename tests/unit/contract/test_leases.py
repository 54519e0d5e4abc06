"""The leader-election decision (contract/leases.py): who acquires, renews, stands by
or steps down, from the lease as read and this replica's own clock."""
from __future__ import annotations

import pytest

from flowrun.contract import leases
from flowrun.contract.leases import Action, Observed, Timings

T = Timings(lease_duration=8, renew_deadline=5, retry_period=1)


def lease(holder: str, renew: str = "t0", transitions: int = 0, rv: str = "1") -> dict:
    return {"metadata": {"name": "l", "namespace": "ns", "resourceVersion": rv},
            "spec": {"holderIdentity": holder, "renewTime": renew, "leaseTransitions": transitions}}


def test_no_lease_or_no_holder_is_taken_at_once():
    assert leases.decide(None, "a", leases.observe(Observed(), None, 0), 0, T, leading=False) is Action.ACQUIRE
    free = lease("")
    assert leases.decide(free, "a", leases.observe(Observed(), free, 0), 0, T, leading=False) is Action.ACQUIRE


def test_a_live_holder_is_waited_out_by_the_standbys_own_clock():
    held = lease("b")
    seen = leases.observe(Observed(), held, 100.0)  # first read: the wait starts now
    assert leases.decide(held, "a", seen, 100.0 + 7.9, T, leading=False) is Action.STAND_BY
    # the holder renews: the record changes and the wait starts over
    renewed = lease("b", renew="t1", rv="2")
    seen = leases.observe(seen, renewed, 107.0)
    assert seen.changed_at == 107.0
    assert leases.decide(renewed, "a", seen, 114.0, T, leading=False) is Action.STAND_BY
    # no change for longer than the lease duration: the holder is gone
    seen = leases.observe(seen, renewed, 115.5)
    assert seen.changed_at == 107.0
    assert leases.decide(renewed, "a", seen, 115.5, T, leading=False) is Action.ACQUIRE


def test_the_holder_renews_and_is_fenced_after_its_renew_deadline():
    mine = lease("a")
    seen = Observed(record=leases.record_of(mine), changed_at=10.0, renewed_at=10.0)
    assert leases.decide(mine, "a", seen, 14.0, T, leading=True) is Action.RENEW
    assert not leases.must_stop(seen, 14.9, T)
    assert leases.must_stop(seen, 15.1, T)
    # late: it is fenced off at once, and still tries to renew (a success makes it lead again)
    assert leases.decide(mine, "a", seen, 15.1, T, leading=True) is Action.RENEW
    # a restarted process of the same identity (same pod) takes its own lease back
    assert leases.decide(mine, "a", Observed(), 0, T, leading=False) is Action.RENEW


def test_a_leader_that_sees_another_holder_steps_down():
    theirs = lease("b")
    seen = leases.observe(Observed(renewed_at=0.0), theirs, 1.0)
    assert leases.decide(theirs, "a", seen, 1.0, T, leading=True) is Action.STEP_DOWN


def test_fencing_leaves_a_gap_before_anyone_else_may_take_over():
    """The leader's renewal is written no earlier than it started (renewed_at); a standby
    sees it no earlier than that; the leader stops renew_deadline later, the standby
    takes over lease_duration later: never both at once."""
    for start in (0.0, 3.3, 99.0):
        leader_stops = start + T.renew_deadline
        standby_seen = start  # the earliest it can have seen the renewal
        assert leader_stops < standby_seen + T.lease_duration


def test_the_body_written_is_a_compare_and_swap_and_counts_transitions():
    body = leases.lease_body("ns", "flowrun-operator", "a", T, "2026-01-01T00:00:00.000000Z", lease("b", rv="7", transitions=2))
    assert body["metadata"]["resourceVersion"] == "7"
    assert body["spec"]["holderIdentity"] == "a" and body["spec"]["leaseTransitions"] == 3
    assert body["spec"]["acquireTime"] == body["spec"]["renewTime"] and body["spec"]["leaseDurationSeconds"] == 8
    renewed = leases.lease_body("ns", "l", "a", T, "later", body | {"metadata": {**body["metadata"], "resourceVersion": "8"}})
    assert renewed["spec"]["leaseTransitions"] == 3 and renewed["spec"]["acquireTime"] != "later"
    created = leases.lease_body("ns", "l", "a", T, "now", None)
    assert "resourceVersion" not in created["metadata"] and created["spec"]["leaseTransitions"] == 0
    assert leases.holder(leases.released(renewed)) == ""


def test_names_and_timings():
    assert leases.lease_name("") == "flowrun-operator" and leases.lease_name("blue") == "flowrun-operator-blue"
    with pytest.raises(ValueError):
        Timings(lease_duration=5, renew_deadline=5, retry_period=1)


def test_the_renew_deadline_is_inclusive():
    """A leader exactly renew_deadline after its last renewal started still acts; just
    past it, it stops; with no renewal at all it never acts."""
    seen = Observed(renewed_at=10.0)
    assert not leases.must_stop(seen, 10.0 + T.renew_deadline, T)
    assert leases.must_stop(seen, 10.0 + T.renew_deadline + 0.001, T)
    assert leases.must_stop(Observed(), 0.0, T)


def test_a_new_lease_in_full():
    """The Lease a replica creates: labelled as the operator's leader lease (the chart's
    RBAC and `kubectl get lease -l` find it), no resourceVersion (a create), the holder,
    duration, renew and acquire times, no transition yet."""
    assert leases.lease_body("ns", "flowrun-operator", "a", T, "now", None) == {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "flowrun-operator", "namespace": "ns",
                     "labels": {"app.kubernetes.io/managed-by": "flowrun-operator", "flowrun.io/lease": "leader"}},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 8, "renewTime": "now", "acquireTime": "now",
                 "leaseTransitions": 0}}


def test_a_released_lease_keeps_everything_but_its_holder():
    current = lease("a", renew="t5", transitions=4, rv="9")
    assert leases.released(current) == {
        "metadata": {"name": "l", "namespace": "ns", "resourceVersion": "9"},
        "spec": {"holderIdentity": "", "renewTime": "t5", "leaseTransitions": 4}}
    assert leases.released({"metadata": {}}) == {"metadata": {}, "spec": {"holderIdentity": ""}}
    assert current["spec"]["holderIdentity"] == "a", "the lease read is not changed"


def test_a_holder_is_waited_out_for_exactly_the_lease_duration():
    """Unchanged for exactly lease_duration: still stand by; just past it: take it."""
    held = lease("b")
    seen = leases.observe(Observed(), held, 100.0)
    assert leases.decide(held, "a", seen, 100.0 + T.lease_duration, T, leading=False) is Action.STAND_BY
    assert leases.decide(held, "a", seen, 100.0 + T.lease_duration + 0.001, T, leading=False) is Action.ACQUIRE


def test_a_lease_record_is_holder_renew_time_and_transitions():
    assert leases.record_of(lease("a", renew="t0", transitions=3)) == ("a", "t0", 3)
    assert leases.record_of({"spec": {"holderIdentity": None}}) == ("", None, 0)
    assert leases.record_of({}) == ("", None, 0) and leases.record_of(None) is None


@pytest.mark.parametrize("retry, renew, duration", [(0, 5, 8), (5, 5, 8), (1, 8, 8)])
def test_timings_must_be_strictly_ordered(retry, renew, duration):
    with pytest.raises(ValueError) as info:
        Timings(lease_duration=duration, renew_deadline=renew, retry_period=retry)
    assert str(info.value) == "lease timings must satisfy 0 < retry period < renew deadline < lease duration"
