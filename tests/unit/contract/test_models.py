"""The pydantic models of a FlowRun (contract/models.py), as the runner reads its run:
camelCase on the wire, empty parts of a body allowed, None left out when written back."""
from __future__ import annotations

from flowrun.contract.models import FlowRun, PauseInfo
from flowrun.contract.phases import PauseKind, Phase, State


def test_a_body_is_read_with_its_camel_case_names():
    run = FlowRun.from_body({
        "metadata": {"name": "r", "namespace": "ns", "uid": "u1", "generation": 3, "labels": {"a": "b"}},
        "spec": {"flow": "f", "maxPodLosses": 2, "suspendAfterSeconds": 60, "cache": {"claimName": "c"}},
        "status": {"phase": "Paused", "jobName": "r-1", "podLosses": 1,
                   "pause": {"key": "k", "kind": "Pause", "timeoutSeconds": 30}},
    })
    assert (run.name, run.namespace, run.uid, run.generation, run.labels) == ("r", "ns", "u1", 3, {"a": "b"})
    assert run.spec.max_pod_losses == 2 and run.spec.suspend_after_seconds == 60
    assert run.spec.cache.claim_name == "c" and run.spec.cache.size == "1Gi" and run.spec.state is State.RUNNING
    assert run.phase is Phase.PAUSED and run.status.job_name == "r-1" and run.status.pod_losses == 1
    assert run.status.pause is not None and run.status.pause.timeout_seconds == 30
    assert run.status.pause.kind is PauseKind.PAUSE and run.status.pause.requested_by == "flow"
    assert not run.deleting


def test_a_body_without_status_or_with_null_parts_is_a_fresh_run():
    run = FlowRun.from_body({"metadata": {"name": "r", "deletionTimestamp": "2026-01-01T00:00:00Z"},
                             "spec": {"flow": "f"}, "status": None})
    assert run.phase is None and run.status.attempt == 0 and run.namespace == "default" and run.uid == ""
    assert run.generation == 0 and run.labels == {} and run.deleting


def test_dump_writes_camel_case_json_without_the_unset_optionals():
    pause = PauseInfo(key="k", kind=PauseKind.SUSPEND, timeout_seconds=30,
                      deadline="2026-01-01T00:00:00Z")  # type: ignore[arg-type]
    assert pause.dump() == {"key": "k", "kind": "Suspend", "timeoutSeconds": 30,
                            "deadline": "2026-01-01T00:00:00Z", "requestedBy": "flow", "generation": 0}
