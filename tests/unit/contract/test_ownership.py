"""Owned, never adopted (contract/ownership.py)."""
from __future__ import annotations

from flowrun.contract.ownership import conflict_message, owned_by

RUN = {"metadata": {"name": "gitlab", "uid": "u-1"}}


def ref(uid: str, controller: bool | None = True) -> dict:
    out = {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun", "name": "gitlab", "uid": uid}
    if controller is not None:
        out["controller"] = controller
    return out


def test_only_an_object_controlled_by_the_runs_uid_is_its_own():
    assert owned_by({"metadata": {"ownerReferences": [ref("u-1")]}}, "u-1")
    assert not owned_by({"metadata": {}}, "u-1")
    assert not owned_by({"metadata": {"ownerReferences": [ref("u-0")]}}, "u-1")  # a run of the same name before
    assert not owned_by({"metadata": {"ownerReferences": [ref("u-1", controller=False)]}}, "u-1")
    assert not owned_by({"metadata": {"ownerReferences": [ref("u-1", controller=None)]}}, "u-1")
    assert not owned_by({"metadata": {"ownerReferences": [ref("")]}}, "")


def test_the_message_names_the_object_and_the_run():
    msg = conflict_message({"kind": "ServiceAccount", "metadata": {"name": "gitlab-runner"}}, RUN)
    assert msg.startswith("ServiceAccount gitlab-runner already exists and does not belong to this run")
    assert "gitlab" in msg and "u-1" in msg


def test_the_conflict_message_in_full_and_with_nothing_known():
    """The whole message, so a person reading the run's failure knows the object, the
    run and the two ways out; an object or run without kind, name or uid says `An
    object` and `?` rather than `None`."""
    assert conflict_message({"kind": "ServiceAccount", "metadata": {"name": "gitlab-runner"}}, RUN) == (
        "ServiceAccount gitlab-runner already exists and does not belong to this run (no ownerReference to "
        "FlowRun gitlab, uid u-1): the operator never adopts an object it did not make for the run; remove "
        "that object or create the FlowRun under another name")
    assert conflict_message({}, {}).startswith(
        "An object ? already exists and does not belong to this run (no ownerReference to FlowRun ?, uid ?): ")
