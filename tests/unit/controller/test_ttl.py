"""When a finished FlowRun is due for deletion (controller/reconcile.py finished_expiry)."""
from datetime import datetime, timedelta, timezone

import pytest

from flowrun.controller.views import finished_expiry
from flowrun.controller.settings import Settings

ENDED = "2026-11-24T10:00:00Z"
ENDED_AT = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)


def run(phase="Completed", ttl=None, labels=None, completion=ENDED, history=()):
    spec = {"flow": "a:b"}
    if ttl is not None:
        spec["ttlSecondsAfterFinished"] = ttl
    status = {"phase": phase, "history": list(history)}
    if completion:
        status["completionTime"] = completion
    return {"metadata": {"name": "r", "labels": labels or {}}, "spec": spec, "status": status}


@pytest.mark.parametrize("phase", ["Completed", "Failed"])
def test_finished_runs_expire_ttl_after_they_ended(phase):
    assert finished_expiry(run(phase, ttl=60), None) == ENDED_AT + timedelta(seconds=60)
    assert finished_expiry(run(phase, ttl=0), None) == ENDED_AT


@pytest.mark.parametrize("phase", ["Pending", "Running", "Paused", "Suspended", None])
def test_live_runs_never_expire(phase):
    assert finished_expiry(run(phase, ttl=0), 0) is None


def test_the_run_overrides_the_operator_default_and_no_ttl_keeps_it():
    assert finished_expiry(run(ttl=None), 300) == ENDED_AT + timedelta(seconds=300)
    assert finished_expiry(run(ttl=10), 300) == ENDED_AT + timedelta(seconds=10)
    assert finished_expiry(run(ttl=None), None) is None


def test_linked_subflows_go_with_their_parent_only():
    assert finished_expiry(run(ttl=0, labels={"flowrun.io/parent": "p"}), 0) is None
    assert finished_expiry(run(ttl=0, labels={"flowrun.io/started-by": "p"}), None) == ENDED_AT


def test_without_completion_time_the_last_history_entry_counts():
    later = "2026-11-24T10:05:00Z"
    r = run(ttl=30, completion=None, history=[{"time": ENDED, "action": "started"},
                                               {"time": later, "action": "failed"}])
    assert finished_expiry(r, None) == ENDED_AT + timedelta(minutes=5, seconds=30)


def test_setting_is_read_from_the_environment(monkeypatch):
    assert Settings.from_env().ttl_seconds_after_finished is None
    monkeypatch.setenv("FLOWRUN_TTL_SECONDS_AFTER_FINISHED", "3600")
    assert Settings.from_env().ttl_seconds_after_finished == 3600
