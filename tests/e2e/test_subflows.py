"""Scenario 7: subflows on the real cluster (child FlowRuns, linked or independent)."""
from __future__ import annotations

import pytest

from cluster import wait_for
from cluster.flowruns import apply, get_fr, names, patch_fr, wait_phase
from flowrun.contract.children import child_name

pytestmark = pytest.mark.e2e


def parent(name: str, linked: bool, steps: int = 12) -> dict:
    return {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun", "metadata": {"name": name},
            "spec": {"flow": "examples.subflows:parent_with_child",
                     "parameters": {"linked": linked, "steps": steps, "seconds": 1}}}


def first_child(namespace: str, run: str) -> str:
    """The name run_flow gives the parent's first child: from the parent's name and uid."""
    return child_name(run, get_fr(namespace, run)["metadata"]["uid"], "sub-1")


def no_pods(namespace: str, run: str) -> bool:
    return not names("pods", namespace, f"flowrun.io/run={run}")


def test_7_linked_subflow_cannot_be_suspended_alone_and_follows_its_parent(operator, namespace):
    apply(namespace, parent("linked", True))
    sub = first_child(namespace, "linked")
    child = wait_phase(namespace, sub, "Running", timeout=120)
    assert child["metadata"]["labels"]["flowrun.io/parent"] == "linked"
    assert child["metadata"]["ownerReferences"][0]["name"] == "linked"
    out = patch_fr(namespace, sub, {"spec": {"state": "Suspended"}}, check=False)
    assert out.returncode != 0
    assert ("cannot suspend a subflow independently of its parent; start it with as_subflow=False"
            in out.stderr), out.stderr
    assert get_fr(namespace, sub)["spec"]["state"] == "Running"
    # Suspending the parent suspends the child too; resuming the parent resumes both.
    patch_fr(namespace, "linked", {"spec": {"state": "Suspended"}})
    wait_phase(namespace, "linked", "Suspended")
    wait_phase(namespace, sub, "Suspended")
    wait_for(lambda: no_pods(namespace, "linked") and no_pods(namespace, sub), timeout=60,
             what="both runs' pods to go")
    patch_fr(namespace, "linked", {"spec": {"state": "Running"}})
    fr = wait_phase(namespace, "linked", "Completed", "Failed", timeout=180)
    assert fr["status"]["phase"] == "Completed", fr["status"]
    result = fr["status"]["result"]
    assert result["linked"] is True and result["child"]["steps"] == 12
    assert result["child"]["attempt"] == 2
    assert names("fr", namespace) == sorted(["linked", sub]), "re-execution started a second child"


def test_7_independent_subflow_can_be_suspended_alone(operator, namespace):
    apply(namespace, parent("free", False, steps=8))
    sub = first_child(namespace, "free")
    child = wait_phase(namespace, sub, "Running", timeout=120)
    assert "ownerReferences" not in child["metadata"]
    assert child["metadata"]["labels"]["flowrun.io/started-by"] == "free"
    assert child["metadata"]["labels"]["flowrun.io/started-by-uid"] == get_fr(namespace, "free")["metadata"]["uid"]
    patch_fr(namespace, sub, {"spec": {"state": "Suspended"}})
    wait_phase(namespace, sub, "Suspended")
    assert get_fr(namespace, "free")["status"]["phase"] == "Running", "the parent keeps waiting"
    patch_fr(namespace, sub, {"spec": {"state": "Running"}})
    fr = wait_phase(namespace, "free", "Completed", "Failed", timeout=180)
    assert fr["status"]["phase"] == "Completed", fr["status"]
    assert fr["status"]["result"]["child"]["steps"] == 8
    # Received: the result left the parent's status once it was on the parent's volume.
    assert fr["status"]["subflowsReceived"] == [sub] and not fr["status"].get("subflows")


def test_cancel_and_linked_subflows(operator, namespace):
    """A parent's cancel takes its linked child along; a linked child cancelled alone
    ends its parent's run_flow (two families side by side)."""
    apply(namespace, parent("doomed", True, steps=60))
    apply(namespace, parent("left", True, steps=60))
    doomed_child, left_child = first_child(namespace, "doomed"), first_child(namespace, "left")
    wait_phase(namespace, doomed_child, "Running", timeout=120)
    wait_phase(namespace, left_child, "Running", timeout=120)
    patch_fr(namespace, "doomed", {"spec": {"state": "Cancelled", "reason": "not needed"}})
    patch_fr(namespace, left_child, {"spec": {"state": "Cancelled", "reason": "wrong input"}})

    assert "not needed" in wait_phase(namespace, "doomed", "Cancelled")["status"]["message"]
    child = wait_phase(namespace, doomed_child, "Cancelled", timeout=60)
    assert "its parent doomed was cancelled" in child["status"]["message"]
    wait_for(lambda: no_pods(namespace, "doomed") and no_pods(namespace, doomed_child), timeout=60,
             what="the pods of the parent and its child to go")

    fr = wait_phase(namespace, "left", "Failed", "Completed", timeout=120)
    assert fr["status"]["phase"] == "Failed" and fr["status"]["reason"] == "FlowFailed"
    assert f"subflow {left_child} was cancelled" in fr["status"]["message"]
    assert "wrong input" in fr["status"]["message"]
