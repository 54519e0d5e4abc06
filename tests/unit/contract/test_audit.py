"""Who acted: the webhook's stamp names a user for one generation; a client's own stamp
never survives, and a stale one reads as unknown."""
from __future__ import annotations

from flowrun.contract.audit import ANNOTATION_CHANGED_BY as BY
from flowrun.contract.audit import ANNOTATION_CHANGED_GENERATION as GEN
from flowrun.contract.audit import UNKNOWN, actor, stamp


def fr(generation=1, state="Running", annotations=None):
    return {"metadata": {"name": "r", "generation": generation, "annotations": annotations or {}},
            "spec": {"flow": "a:b", "state": state}, "status": {"phase": "Running"}}


def test_create_is_stamped_for_generation_one():
    assert stamp(fr(annotations={BY: "mallory"}), None, "alice") == {BY: "alice", GEN: "1"}


def test_a_change_of_the_spec_is_stamped_for_the_next_generation():
    old = fr(generation=3, annotations={BY: "alice", GEN: "3"})
    new = fr(generation=3, state="Suspended", annotations={BY: "bob-wrote-this", GEN: "4"})
    assert stamp(new, old, "carol") == {BY: "carol", GEN: "4"}


def test_a_metadata_only_update_keeps_the_previous_stamp_and_undoes_the_clients():
    old = fr(generation=3, annotations={BY: "alice", GEN: "3"})
    new = fr(generation=3, annotations={BY: "mallory", GEN: "3", "other": "x"})
    assert stamp(new, old, "mallory") == {BY: "alice", GEN: "3"}
    assert stamp(fr(), fr(), "mallory") == {BY: None, GEN: None}


def test_status_changes_do_not_count_as_changes():
    old, new = fr(generation=2, annotations={BY: "a", GEN: "2"}), fr(generation=2, annotations={BY: "a", GEN: "2"})
    new["status"] = {"phase": "Paused"}
    assert stamp(new, old, "operator") == {BY: "a", GEN: "2"}


def test_actor_trusts_a_stamp_only_for_the_current_generation():
    assert actor(fr(generation=4, annotations={BY: "carol", GEN: "4"})) == "carol"
    # changed while the webhook was unreachable: the stamp is for an older generation
    assert actor(fr(generation=5, annotations={BY: "carol", GEN: "4"})) == UNKNOWN
    # a client's annotation without the webhook's generation
    assert actor(fr(generation=1, annotations={BY: "mallory"})) == UNKNOWN
    assert actor(fr()) == UNKNOWN


def test_a_generation_stamp_without_a_user_names_nobody():
    """Only the webhook's pair counts: a changed-by-generation annotation for the current
    generation without the user is no stamp."""
    assert actor(fr(generation=4, annotations={GEN: "4"})) == UNKNOWN
    assert actor(fr(generation=4, annotations={BY: "", GEN: "4"})) == UNKNOWN


def test_an_update_of_an_object_without_a_generation_is_stamped_for_generation_one():
    old = fr()
    del old["metadata"]["generation"]
    assert stamp(fr(state="Suspended"), old, "carol") == {BY: "carol", GEN: "1"}
