"""Flow-written status.history cannot create metric label values, Event reasons or
Event floods (issue 26): unknown actions become `other`, Events are rate-limited per run."""
from __future__ import annotations

from datetime import datetime, timezone

from fakeapi import FakeKube, Store
from flowrun.contract.lifecycle import runner as t
from flowrun.contract.lifecycle.steps import Write
from flowrun.contract import bounded as v
from flowrun.controller import metrics
from flowrun.controller.reconcile import Reconciler
from flowrun.controller.settings import Settings


def setup():
    store = Store()
    kube = FakeKube(store, user="operator")
    kube.create_flowrun("ns", {"metadata": {"name": "r", "namespace": "ns"}, "spec": {"flow": "m:f"}})
    return store, kube, Reconciler(kube, Settings(runner_image="img", job_retry_seconds=7))


def label_values(metric: str, label: str) -> set[str]:
    return {s.labels[label] for m in metrics.REGISTRY.collect() if m.name == metric for s in m.samples
            if label in s.labels}


def test_bounded_and_history_action():
    assert v.history_action("resumed") == "resumed"
    for hostile in ("x" * 5000, "resumed\n", None, 3, {"a": 1}):
        assert v.history_action(hostile) == "other"
    assert v.bounded("Paused", v.PHASES) == "Paused" and v.bounded("Weird", v.PHASES) == "other"


def test_event_budget_is_a_token_bucket():
    b = v.EventBudget(burst=3, per_minute=6)
    assert [b.allow(0.0) for _ in range(5)] == [True, True, True, False, False]
    assert b.suppressed == 2
    assert b.allow(5.0) is False and b.allow(10.0) is True  # one token per 10 s


def test_the_runner_records_only_known_actions():
    obj = {"metadata": {"name": "r", "namespace": "ns", "generation": 1},
           "status": {"phase": "Running", "attempt": 1}}
    step = t.runner_note(obj, 1, "pwned-" + "x" * 300, "m", datetime.now(timezone.utc))
    assert isinstance(step, Write) and step.status["history"][-1]["action"] == "other"


def test_flow_written_history_becomes_other_and_its_events_are_rate_limited():
    store, kube, rec = setup()
    rec.reconcile("ns", "r")
    before = len(store.events)
    fr = kube.get_flowrun("ns", "r")
    flood = [{"seq": 100 + i, "action": f"attack-{i}-" + "x" * 200, "by": "flow", "time": "2026-12-02T00:00:00Z",
              "message": "m" * 5000} for i in range(50)]
    kube.patch_flowrun("ns", "r", {"status": {"history": fr["status"]["history"] + flood}}, status=True)
    rec.reconcile("ns", "r")
    sent = store.events[before:]
    assert 0 < len(sent) <= 10, len(sent)  # the burst, not 50
    assert {e["reason"] for e in sent} == {"Other"}
    assert all(len(e["message"]) <= 1100 for e in sent)
    assert not any(value.startswith("attack-") for value in label_values("flowrun_transitions", "action"))
    assert "other" in label_values("flowrun_transitions", "action")


def test_flow_written_phase_and_pause_kind_are_not_label_values():
    metrics.observe_run({"metadata": {"namespace": "ns", "name": "m1"},
                         "status": {"phase": "Hacked-" + "x" * 50}})
    metrics.observe_run({"metadata": {"namespace": "ns", "name": "m1"}, "spec": {"state": "Running"},
                         "status": {"phase": "Paused", "pause": {"kind": "evil-kind", "since": "2026-12-02T00:00:00Z"}}})
    phases = label_values("flowrun_phase_seconds", "phase")
    assert "other" in phases and not any(p.startswith("Hacked") for p in phases)
    kinds = label_values("flowrun_pause_wait_seconds", "kind")
    assert "other" in kinds and "evil-kind" not in kinds


def test_an_exhausted_event_budget_refills_only_at_its_rate():
    """After the burst, Events come back at `per_minute` and no faster: asking again and
    again half a token later never resets the bucket to a full burst."""
    b = v.EventBudget(burst=2, per_minute=6)
    assert [b.allow(0.0), b.allow(0.0)] == [True, True]
    assert [b.allow(5.0), b.allow(5.0), b.allow(5.0)] == [False, False, False]
    assert [b.allow(10.0), b.allow(10.0)] == [True, False]
    assert b.suppressed == 4
