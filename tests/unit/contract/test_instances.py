"""Operator instances (contract/instances.py): which runs an operator handles, and the
label a run passes on."""
from __future__ import annotations

from flowrun.contract import instances
from flowrun.contract.children import child_errors, child_name
from flowrun.contract.constants import LABEL_INSTANCE


def run(instance: str = "", **labels) -> dict:
    if instance:
        labels[LABEL_INSTANCE] = instance
    return {"metadata": {"name": "p", "namespace": "n", "uid": "u1", "labels": labels}}


def test_each_run_belongs_to_exactly_one_instance():
    assert instances.belongs(run(), "") and not instances.belongs(run(), "blue")
    assert instances.belongs(run("blue"), "blue") and not instances.belongs(run("blue"), "")
    assert not instances.belongs(run("green"), "blue")
    assert instances.selector("") == f"!{LABEL_INSTANCE}" and instances.selector("b") == f"{LABEL_INSTANCE}=b"


def test_the_label_is_carried_and_added():
    assert instances.carried(run()) == {} and instances.carried(run("blue")) == {LABEL_INSTANCE: "blue"}
    m = {"kind": "FlowRun", "metadata": {"name": "x", "labels": {"team": "a"}}}
    assert instances.labelled(m, "blue")["metadata"]["labels"] == {"team": "a", LABEL_INSTANCE: "blue"}
    assert instances.labelled(m, "") is m


def test_a_child_must_carry_its_parents_instance():
    parent = run("blue")
    child = {"metadata": {"name": child_name("p", "u1", "sub-1"), "labels": {"flowrun.io/parent": "p"},
                          "ownerReferences": [{"kind": "FlowRun", "uid": "u1"}]}}
    assert any(LABEL_INSTANCE in e for e in child_errors(child, parent))
    child["metadata"]["labels"][LABEL_INSTANCE] = "blue"
    assert child_errors(child, parent) == []


def test_each_instance_has_a_finalizer_of_its_own():
    """kopf strips its finalizer from objects no handler of its own takes: a shared name
    would let two instances undo each other's writes forever."""
    import re
    assert instances.finalizer("") == "flowrun.io/operator"
    assert instances.finalizer("blue") == "flowrun.io/operator-blue"
    ids = ["blue", "green", "x" * 63, "x" * 62 + "y", "A_b.c", "t0ba0-" + "z" * 57]
    names = [instances.finalizer(i) for i in ids]
    assert len(set(names)) == len(ids) and "flowrun.io/operator" not in names
    qualified = re.compile(r"flowrun\.io/[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
    assert all(qualified.fullmatch(n) for n in names), names
    assert instances.finalizer("x" * 63) == instances.finalizer("x" * 63)  # stable across restarts


def test_an_instance_id_is_kept_readable_up_to_63_characters_after_the_slash():
    """The part after `flowrun.io/` may have 63 characters: `operator-` and an id of 54
    characters is kept as it is; one more and the id is hashed to 16 hex digits."""
    import hashlib
    assert instances.finalizer("a" * 54) == "flowrun.io/operator-" + "a" * 54
    longer = "a" * 55
    assert instances.finalizer(longer) == "flowrun.io/operator-" + hashlib.sha256(longer.encode()).hexdigest()[:16]
    assert instances.finalizer("a b") == "flowrun.io/operator-" + hashlib.sha256(b"a b").hexdigest()[:16]
