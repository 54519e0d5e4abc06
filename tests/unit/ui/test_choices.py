"""Choices answered in one click, and several runs answered at once: the pure decisions
(ui/forms.py, ui/views.py) from the schemas pydantic writes (no cluster)."""
from __future__ import annotations

from enum import Enum, IntEnum
from typing import Literal

import pytest
from pydantic import Field

from flowrun.input import RunInput
from flowrun.sdk.inputs import as_run_input
from flowrun.ui import forms, views


class Verdict(str, Enum):
    APPROVE = "approve"
    REJECT = "reject"
    ESCALATE = "send to a manager"


class Level(IntEnum):
    LOW = 1
    HIGH = 2


class Review(RunInput):
    verdict: Verdict
    comment: str = Field(description="why")
    amount: int = 1


class Optional_(RunInput):
    note: str
    colour: Literal["red", "green"] = "green"  # a default: not a decision the person must make


def schema_of(wait_for_input) -> dict:
    return as_run_input(wait_for_input)[0].model_json_schema()


def test_a_plain_literal_is_one_button_per_option_and_the_whole_answer():
    schema = schema_of(Literal["approve", "reject"])
    found = forms.choice(schema)
    assert found == forms.Choice("value", "Your answer", (forms.Option("approve", "approve", False),
                                                    forms.Option("reject", "reject", True)), alone=True)
    assert forms.without(forms.build(schema), found.path) == []  # nothing else to fill in
    assert forms.parse(schema, {"value": "reject"}) == {"value": "reject"}  # what the button posts


def test_an_enum_and_an_int_enum_post_their_values():
    schema = schema_of(Verdict)  # a $ref to $defs, as pydantic writes an Enum
    found = forms.choice(schema)
    assert found is not None and [o.value for o in found.options] == ["approve", "reject", "send to a manager"]
    assert [o.destructive for o in found.options] == [False, True, False]
    assert as_run_input(Verdict)[0].model_validate(forms.parse(schema, {"value": "reject"})).value is Verdict.REJECT
    levels = schema_of(Level)
    assert forms.parse(levels, {"value": "2"}) == {"value": 2}
    assert as_run_input(Level)[0].model_validate({"value": 2}).value is Level.HIGH


def test_a_model_with_a_choice_and_free_fields_shows_the_choice_above_the_rest():
    schema = Review.model_json_schema()
    found = forms.choice(schema)
    assert found is not None and found.path == "verdict" and not found.alone
    rest = [f.path for f in forms.without(forms.build(schema), found.path)]
    assert rest == ["comment", "amount"]
    assert forms.parse(schema, {"verdict": "approve", "comment": "fine", "amount": "3"}) == \
        {"verdict": "approve", "comment": "fine", "amount": 3}


@pytest.mark.parametrize("schema", [
    Optional_.model_json_schema(),  # the only enum has a default: the form as it is
    schema_of(str),
    schema_of(Literal[tuple(f"o{i}" for i in range(forms.MAX_CHOICE_BUTTONS + 1))]),  # too many for buttons
    None, {},
])
def test_no_choice_where_there_is_no_required_enumeration_of_a_few(schema):
    assert forms.choice(schema) is None


@pytest.mark.parametrize("option,destructive", [
    ("reject", True), ("Rejected", True), ("DELETE_ALL", True), ("roll-back", True), ("rollBack", True),
    ("cancel", True), ("deny", True), ("abort", True), ("stop", True),
    ("approve", False), ("ok", False), ("yes", False), ("no", False), ("scancel", False), ("nonstop", False),
    ("send to a manager", False), ("2", False),
])
def test_which_options_look_destructive(option, destructive):
    assert forms.looks_destructive(option) is destructive


def test_only_a_destructive_choice_not_yet_confirmed_asks_first():
    found = forms.choice(schema_of(Literal["approve", "reject"]))
    assert forms.needs_confirmation(found, {"value": "reject"}, confirmed=False) == found.options[1]
    assert forms.needs_confirmation(found, {"value": "reject"}, confirmed=True) is None
    assert forms.needs_confirmation(found, {"value": "approve"}, confirmed=False) is None
    assert forms.needs_confirmation(None, {"value": "reject"}, confirmed=False) is None


def test_runs_share_a_schema_whatever_its_keys_order():
    schema = Review.model_json_schema()
    reordered = dict(reversed(list(schema.items())))
    shared = forms.shared_schema({"ns/a": schema, "ns/b": reordered})
    assert shared.same and shared.schema == schema and shared.signature == forms.schema_signature(reordered)
    assert forms.shared_schema({"ns/a": None, "ns/b": None}).same  # plain pauses: one resume for all
    other = forms.shared_schema({"ns/a": schema, "ns/b": schema, "ns/c": schema_of(str)})
    assert not other.same and other.schema is None
    assert other.why.endswith("ns/a, ns/b | ns/c")
    assert not forms.shared_schema({}).same


def test_a_selection_names_served_runs_each_once():
    assert views.selected_runs(["ns/a", "ns/b", "ns/a"], ["ns"]) == [("ns", "a"), ("ns", "b")]
    assert views.selected_runs(["x/r.1"], None) == [("x", "r.1")]
    with pytest.raises(views.Selection) as unserved:
        views.selected_runs(["ns/a", "other/b"], ["ns"])
    assert unserved.value.status == 403
    for bad in ([], ["a"], ["ns/"], ["ns/A"], ["../x/y"], [f"ns/r{i}" for i in range(views.MAX_SELECTED + 1)]):
        with pytest.raises(views.Selection) as err:
            views.selected_runs(bad, None)
        assert err.value.status == 400


def test_the_bulk_summary_says_which_run_got_what():
    assert views.bulk_summary([("a", True, ""), ("b", True, "")]) == "2 resumed"
    assert views.bulk_summary([("a", True, ""), ("x", False, "only bob may resume pause-1; ann may not")]) == \
        "1 resumed, 1 refused: x: only bob may resume pause-1; ann may not"


def test_the_checkbox_id_is_stable_and_css_safe():
    one = views.select_id("ns", "run.v1")
    assert one == views.select_id("ns", "run.v1") != views.select_id("ns-run", "v1")
    assert one.startswith("sel-") and one[4:].isalnum()
