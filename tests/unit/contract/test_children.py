"""A child's name carries its parent's name and uid; only a proper child passes."""
from __future__ import annotations

import pytest

from flowrun.contract.children import MAX_NAME, child_errors, child_name, child_prefix, is_child_of

PARENT = {"metadata": {"name": "parent", "namespace": "ns", "uid": "0f1e2d3c-aaaa-bbbb-cccc-000000000001"}}
UID = PARENT["metadata"]["uid"]


def child(name=None, *, linked=True, owner_uid=UID, label_uid=UID, parent="parent"):
    meta = {"name": name or child_name("parent", UID, "sub-1"), "labels": {}}
    if linked:
        meta["labels"]["flowrun.io/parent"] = parent
        meta["ownerReferences"] = [{"kind": "FlowRun", "name": parent, "uid": owner_uid, "controller": True}]
    else:
        meta["labels"].update({"flowrun.io/started-by": parent, "flowrun.io/started-by-uid": label_uid})
    return {"metadata": meta}


def test_names_carry_the_parents_uid_and_fit():
    assert child_name("parent", UID, "sub-1") == "parent-0f1e2d3c-sub-1"
    other_uid = child_name("parent", "99999999-0000", "sub-1")
    assert other_uid != child_name("parent", UID, "sub-1")  # a re-applied parent has a new uid
    long = child_name("p" * 52, UID, "k" * 40)
    assert len(long) <= MAX_NAME and long.startswith(child_prefix("p" * 52, UID))
    assert child_name("p" * 52, UID, "a" * 40) != child_name("p" * 52, UID, "b" * 40)


@pytest.mark.parametrize("obj,ok", [
    (child(), True),
    (child(linked=False), True),
    (child(owner_uid="an-older-parent"), False),
    (child(linked=False, label_uid="an-older-parent"), False),
    (child(name="victim-sub-1"), False),
    (child(name=child_name("parent", "99999999", "sub-1")), False),
    (child(parent="victim"), False),
    ({"metadata": {"name": child_name("parent", UID, "sub-1"), "labels": {}}}, False),
], ids=["linked", "independent", "owned-by-older", "labelled-older", "old-style-name", "other-uid-name",
        "labelled-for-another", "unlabelled"])
def test_only_a_proper_child_is_a_child(obj, ok):
    assert is_child_of(obj, PARENT) is ok
    assert (child_errors(obj, PARENT) == []) is ok


def test_a_child_name_of_exactly_52_characters_is_kept_one_more_is_hashed():
    """MAX_NAME is inclusive: `<prefix><key>` of 52 characters is the name as it is (a
    person can read the key); 53 becomes the prefix and a hash of the key, 52 long."""
    import hashlib
    prefix = child_prefix("parent", UID)
    fits = "k" * (MAX_NAME - len(prefix))
    assert child_name("parent", UID, fits) == prefix + fits
    over = fits + "k"
    assert child_name("parent", UID, over) == prefix + hashlib.sha256(over.encode()).hexdigest()[:MAX_NAME - len(prefix)]
    assert len(child_name("parent", UID, over)) == MAX_NAME


def test_the_origin_refusals_in_full():
    """A FlowRun labelled as a run's child but not made by that run's pod: the refusal
    says who made it, or that nobody was recorded, and what happens to it."""
    from flowrun.contract.identities import origin_refusal
    def claimed(created_by=None):
        meta = {"name": "c", "namespace": "ns", "labels": {"flowrun.io/parent": "p"}}
        if created_by is not None:
            meta["annotations"] = {"flowrun.io/created-by": created_by}
        return {"metadata": meta}
    assert origin_refusal(claimed("system:serviceaccount:ns:p-runner")) == ""
    assert origin_refusal(claimed("mallory")) == (
        "not created by the pod of run p but by mallory: only a run's own pod starts its subflows, so this one is "
        "not started and its parent receives nothing from it")
    assert origin_refusal(claimed()) == (
        "not created by the pod of run p as far as the API server recorded (no flowrun.io/created-by: made while "
        "the admission webhook was unreachable?): it is not started and its parent receives nothing from it; "
        "delete it and let its parent create it again")
    assert origin_refusal({"metadata": {"name": "c"}}) == ""


def test_a_parent_name_cut_before_a_dash_leaves_no_double_dash():
    assert child_prefix("a" * 29 + "-xyz", UID) == "a" * 29 + "-0f1e2d3c-"
    assert child_prefix("p " + "-" * 40, "ab-cd") == "p -abcd-"


def test_an_independent_child_that_the_parent_also_owns_is_not_its_child():
    independent_but_owned = child(linked=False)
    independent_but_owned["metadata"]["ownerReferences"] = [
        {"kind": "FlowRun", "name": "parent", "uid": UID, "controller": True}]
    assert is_child_of(independent_but_owned, PARENT) is False
    owned_by_a_job = child(linked=False)
    owned_by_a_job["metadata"]["ownerReferences"] = [{"kind": "Job", "name": "parent", "uid": UID}]
    assert is_child_of(owned_by_a_job, PARENT) is True


def test_child_errors_in_full():
    parent = {"metadata": {**PARENT["metadata"], "labels": {"flowrun.io/instance": "blue"}}}
    assert child_errors(child(), parent) == [
        "a run's children carry its label flowrun.io/instance='blue' (its operator instance; run_flow does this)"]
    assert child_errors(child(name="victim-sub-1"), PARENT) == [
        "a run's ServiceAccount may create only its own children: name it parent-0f1e2d3c-<key>, and either label "
        "it flowrun.io/parent=parent and own it by FlowRun parent (uid 0f1e2d3c-aaaa-bbbb-cccc-000000000001), or "
        "label it flowrun.io/started-by=parent and flowrun.io/started-by-uid=0f1e2d3c-aaaa-bbbb-cccc-000000000001 "
        "(run_flow does this)"]


def labelled(**labels):
    return {"metadata": {"name": "c", "labels": labels}}


P, S = "flowrun.io/parent", "flowrun.io/started-by"


@pytest.mark.parametrize("new,old,user,refusal", [
    (labelled(**{P: "p"}), None, "bob",
     "only the run p's own pod may create its children (run_flow does); bob may not create a FlowRun labelled "
     "flowrun.io/parent=p"),
    (labelled(**{S: "p"}), None, "",
     "only the run p's own pod may create its children (run_flow does); an unknown user may not create a FlowRun "
     "labelled flowrun.io/started-by=p"),
    (labelled(a="b"), None, "bob", ""),
    (labelled(**{P: "p"}), labelled(**{P: "p"}), "bob", ""),
    (labelled(**{P: "p", "a": "b"}), labelled(**{P: "p"}), "bob",
     "only the run p's own pod may create its children (run_flow does); bob may not create a FlowRun labelled "
     "flowrun.io/parent=p"),
    (labelled(**{S: "p"}), labelled(a="b"), "bob",
     "only the run p's own pod may create its children (run_flow does); bob may not create a FlowRun labelled "
     "flowrun.io/started-by=p"),
], ids=["create-linked", "create-independent-unknown-user", "no-parent", "labels-unchanged",
        "other-label-changed", "label-added"])
def test_a_persons_child_labelled_flowrun_is_refused_on_create_or_label_change(new, old, user, refusal):
    from flowrun.contract.children import person_refusal
    assert person_refusal(new, old, user) == refusal
