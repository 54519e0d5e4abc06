"""Cancelling and rejecting runs on the real cluster, through the CLI as a person would."""
from __future__ import annotations

import json

import pytest

from cluster import kubectl, wait_for
from cluster.cli import fails, flowrun, ok
from cluster.flowruns import apply, flowrun_manifest, get_fr, names, wait_phase

pytestmark = pytest.mark.e2e

PHASES = {
    # phase to cancel in -> (manifest spec, phase to wait for first)
    "Pending": ({"flow": "testflows.basic:returns_value",
                 "template": {"spec": {"nodeSelector": {"flowrun.io/no-such-node": "x"}}}}, "Pending"),
    "Running": ({"flow": "testflows.basic:sleeps", "parameters": {"seconds": 600}}, "Running"),
    "Paused": ({"flow": "examples.greeting:greet_user"}, "Paused"),
    "Suspended": ({"flow": "testflows.basic:returns_value", "state": "Suspended"}, "Suspended"),
}


@pytest.mark.parametrize("phase", PHASES)
def test_cancel_in_every_live_phase(operator, namespace, phase):
    spec, wait_for_phase = PHASES[phase]
    apply(namespace, {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun", "metadata": {"name": "c"},
                      "spec": spec})
    wait_phase(namespace, "c", wait_for_phase)
    out = ok(flowrun("cancel", "c", "--reason", "not this month", namespace=namespace)).stdout
    assert "c cancel requested" in out
    fr = wait_phase(namespace, "c", "Cancelled", "Failed", "Completed")
    assert fr["status"]["phase"] == "Cancelled" and fr["status"]["reason"] == "Cancelled"
    assert "not this month" in fr["status"]["message"]
    succeeded = next(c for c in fr["status"]["conditions"] if c["type"] == "Succeeded")
    assert (succeeded["status"], succeeded["reason"]) == ("False", "Cancelled")
    entry = fr["status"]["history"][-1]
    assert entry["action"] == "cancelled" and entry["by"], entry
    wait_for(lambda: not names("jobs", namespace, "flowrun.io/run=c") and not names("pods", namespace, "flowrun.io/run=c"),
             timeout=60, what="the cancelled run's Job and pod to go")
    kubectl("wait", "--for=condition=Cancelled", "fr/c", "--timeout=10s", namespace=namespace)
    events = json.loads(kubectl("get", "events", "-o", "json", "--field-selector", "involvedObject.name=c",
                                namespace=namespace).stdout)["items"]
    assert any(e["reason"] == "Cancelled" and "not this month" in e["message"] for e in events)
    fails(flowrun("resume", "c", namespace=namespace), 1, "Cancelled")
    fails(flowrun("cancel", "c", namespace=namespace), 1, "Cancelled")


def test_reject_says_no_to_a_pause_only(operator, namespace):
    apply(namespace, flowrun_manifest("asks", "examples.greeting:greet_user"))
    apply(namespace, flowrun_manifest("busy", "testflows.basic:sleeps", parameters={"seconds": 600}))
    wait_phase(namespace, "asks", "Paused")
    wait_phase(namespace, "busy", "Running")
    fails(flowrun("reject", "busy", "--reason", "no", namespace=namespace), 1, "does not wait at a pause")
    assert get_fr(namespace, "busy")["spec"]["state"] == "Running"
    out = ok(flowrun("reject", "asks", "--reason", "amount too high", namespace=namespace)).stdout
    assert "asks rejected" in out
    fr = wait_phase(namespace, "asks", "Cancelled")
    assert "amount too high" in fr["status"]["message"]
    shown = ok(flowrun("ls", namespace=namespace)).stdout
    assert any("asks" in line and "Cancelled" in line for line in shown.splitlines())
    ok(flowrun("cancel", "busy", namespace=namespace))
    wait_phase(namespace, "busy", "Cancelled")
