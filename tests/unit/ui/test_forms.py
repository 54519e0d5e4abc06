"""The pause form from an input schema, and the submitted form back to JSON (no cluster)."""
from __future__ import annotations

from typing import Literal, Optional

import pytest
from pydantic import BaseModel, Field

from flowrun.input import RunInput
from flowrun.ui import forms


class Address(BaseModel):
    city: str = Field(title="City", description="where")
    zip: Optional[str] = None


class Item(BaseModel):
    sku: str
    qty: int = 1


class Order(RunInput):
    name: str = Field(description="who")
    count: int = Field(3, ge=1)
    rate: float = 0.5
    urgent: bool = False
    colour: Literal["red", "green"] = "green"
    address: Address
    tags: list[str] = ["a", "b"]
    items: list[Item] = []
    note: Optional[str] = None
    extra: dict[str, int] = {}


SCHEMA = Order.model_json_schema()


def by_path(fields):
    out = {}
    for f in fields:
        out[f.path] = f
        out.update(by_path(f.children))
    return out


def test_every_kind_of_field_with_defaults_required_marks_and_json_paths():
    fields = by_path(forms.build(SCHEMA))
    assert [f.path for f in forms.build(SCHEMA)][:2] == ["name", "address"]  # required first
    assert fields["name"].required and fields["name"].kind == "string" and fields["name"].description == "who"
    assert fields["count"].kind == "integer" and fields["count"].value == "3" and fields["count"].constraints == [">= 1"]
    assert fields["rate"].kind == "number" and fields["rate"].value == "0.5"
    assert fields["urgent"].kind == "boolean" and fields["urgent"].value == "false"
    assert fields["colour"].kind == "enum" and [v for v, _ in fields["colour"].options] == ["red", "green"]
    assert fields["address"].kind == "object" and fields["address.city"].required
    assert fields["address.city"].label == "City" and not fields["address.zip"].required
    assert fields["tags"].kind == "array" and [fields[f"tags.{i}"].value for i in range(4)] == ["a", "b", "", ""]
    assert fields["items.0.sku"].kind == "string" and fields["items.1.qty"].kind == "integer"
    assert fields["note"].kind == "string" and not fields["note"].required  # Optional[str] as str
    assert fields["extra"].kind == "json"  # what the form cannot express: JSON text
    assert not any(p.startswith("_") for p in fields)


def test_a_submitted_form_becomes_the_input():
    data = forms.parse(SCHEMA, {
        "name": "Marvin", "count": "2", "rate": "1.25", "urgent": "true", "colour": "red",
        "address.city": "Paris", "tags.0": "x", "tags.1": "", "tags.2": "z", "items.0.sku": "k1",
        "items.0.qty": "4", "extra": '{"a": 1}', "note": "", "_csrf": "t",
        "_json": '{"address": {"zip": "75001"}, "note": "from json"}'})
    assert data == {"name": "Marvin", "count": 2, "rate": 1.25, "urgent": True, "colour": "red",
                    "address": {"city": "Paris", "zip": "75001"}, "tags": ["x", "z"],
                    "items": [{"sku": "k1", "qty": 4}], "extra": {"a": 1}, "note": "from json"}
    assert Order.model_validate(data).address.zip == "75001"


def test_values_the_form_cannot_read_are_named():
    with pytest.raises(forms.FormError) as err:
        forms.parse(SCHEMA, {"name": "M", "count": "many", "colour": "blue", "_json": "[1]"})
    assert set(err.value.fields) == {"count", "colour", "_json"}
    assert "is not a valid integer" in err.value.fields["count"]


def test_submitted_values_and_errors_are_shown_again():
    fields = by_path(forms.build(SCHEMA, {"name": "typed", "tags.5": "late"}, {"address.city": "required"}))
    assert fields["name"].value == "typed" and fields["address.city"].error == "required"
    assert fields["tags.5"].value == "late"  # the submitted items are all kept
