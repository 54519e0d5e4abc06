"""Cancelling and rejecting runs on the real cluster, through the CLI as a person would."""
from __future__ import annotations

import json
import subprocess

import pytest

from cluster import _kubectl_binary, kubectl, wait_for
from cluster.cli import fails, flowrun, ok
from cluster.flowruns import apply, flowrun_manifest, get_fr, names, wait_phase

pytestmark = pytest.mark.e2e

PHASES = {
    # phase to cancel in -> (manifest spec, phase to wait for first)
    "Pending": ({"flow": "testflows.basic:returns_value",
                 "template": {"spec": {"nodeSelector": {"flowrun.io/no-such-node": "x"}}}}, "Pending"),
    "Running": ({"flow": "testflows.basic:sleeps_until_cancelled"}, "Running"),
    "Paused": ({"flow": "testflows.basic:pauses_until_cancelled"}, "Paused"),
    "Suspended": ({"flow": "testflows.basic:returns_value", "state": "Suspended"}, "Suspended"),
}


def test_cancel_in_every_live_phase(operator, namespace):
    """One run in each live phase, cancelled together with one command."""
    runs = {phase: f"c-{phase.lower()}" for phase in PHASES}
    for phase, name in runs.items():
        apply(namespace, {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun", "metadata": {"name": name},
                          "spec": PHASES[phase][0]})
    followers = {}
    for phase, name in runs.items():
        wait_phase(namespace, name, PHASES[phase][1])
        if phase in ("Running", "Paused"):
            # Follow the pod's log from before the cancel: the pod goes with its Job.
            pod = wait_for(lambda: names("pods", namespace, f"flowrun.io/run={name}"), timeout=60, what="the pod")[0]
            wait_for(lambda: "task echo-1: result stored" in kubectl("logs", pod, namespace=namespace,
                                                                     check=False).stdout,
                     timeout=60, what=f"{name}'s flow to be under way")
            followers[name] = subprocess.Popen([_kubectl_binary(), "logs", "-f", pod, "-n", namespace],
                                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = ok(flowrun("cancel", *runs.values(), "--reason", "not this month", namespace=namespace)).stdout
    assert all(f"{name} cancel requested" in out for name in runs.values()), out
    for phase, name in runs.items():
        fr = wait_phase(namespace, name, "Cancelled", "Failed", "Completed")
        assert fr["status"]["phase"] == "Cancelled" and fr["status"]["reason"] == "Cancelled", phase
        assert "not this month" in fr["status"]["message"]
        succeeded = next(c for c in fr["status"]["conditions"] if c["type"] == "Succeeded")
        assert (succeeded["status"], succeeded["reason"]) == ("False", "Cancelled")
        entry = fr["status"]["history"][-1]
        assert entry["action"] == "cancelled" and entry["by"], entry
        wait_for(lambda: not names("jobs", namespace, f"flowrun.io/run={name}")
                 and not names("pods", namespace, f"flowrun.io/run={name}"),
                 timeout=60, what=f"the cancelled run {name}'s Job and pod to go")
        kubectl("wait", "--for=condition=Cancelled", f"fr/{name}", "--timeout=10s", namespace=namespace)
        if name in followers:
            log, _ = followers[name].communicate(timeout=60)
            assert f"on_cancellation ran for {name}: the run was cancelled: not this month" in log, log
        events = json.loads(kubectl("get", "events", "-o", "json", "--field-selector",
                                    f"involvedObject.name={name}", namespace=namespace).stdout)["items"]
        assert any(e["reason"] == "Cancelled" and "not this month" in e["message"] for e in events), phase
    fails(flowrun("resume", "c-paused", namespace=namespace), 1, "Cancelled")
    fails(flowrun("cancel", "c-paused", namespace=namespace), 1, "Cancelled")


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
