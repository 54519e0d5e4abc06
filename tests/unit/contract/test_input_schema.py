"""Reading a stored input schema as a field list (no cluster)."""
from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from flowrun import RunInput
from flowrun.contract import input_schema as schemas
from flowrun.sdk.inputs import as_run_input


class Address(BaseModel):
    street: str


class Approval(RunInput):
    approver: str = Field(description="who approves")
    amount: int = Field(ge=0, default=10)
    level: str = Field(default="low", json_schema_extra={"enum": ["low", "high"]})
    note: str | None = None
    tags: list[str] = []
    address: Address | None = None


def test_fields_of_a_pydantic_schema_required_first():
    fields = {f.name: f for f in schemas.fields(Approval.model_json_schema())}
    assert list(fields)[0] == "approver"
    a = fields["approver"]
    assert (a.type, a.required, a.has_default, a.description) == ("string", True, False, "who approves")
    assert fields["amount"].type == "integer" and fields["amount"].default == 10
    assert fields["amount"].constraints == [">= 0"]
    assert fields["level"].enum == ["low", "high"]
    assert fields["note"].type == "string | null" and fields["note"].default is None
    assert fields["note"].default_text() == "null"
    assert fields["tags"].type == "array of string"
    assert fields["address"].type == "object (Address) | null"


def test_user_name_input_of_the_greeting_example():
    from examples.greeting import UserNameInput
    (field,) = schemas.fields(UserNameInput.model_json_schema())
    assert (field.name, field.type, field.required) == ("name", "string", True)


def test_plain_type_wrapped_in_value():
    model, _ = as_run_input(int)
    (field,) = schemas.fields(model.model_json_schema())
    assert field.name == "value" and field.type == "integer" and field.required


def test_enum_class_via_ref_and_closed():
    schema = {"type": "object", "additionalProperties": False,
              "properties": {"c": {"$ref": "#/$defs/C", "description": "colour"}},
              "$defs": {"C": {"enum": ["r", "g"], "type": "string", "title": "C"}}}
    (field,) = schemas.fields(schema)
    assert field.type == "string" and field.enum == ["r", "g"] and field.description == "colour"
    assert schemas.closed(schema) and not schemas.closed({"type": "object"})


def test_empty_and_odd_schemas():
    assert schemas.fields(None) == [] and schemas.fields({}) == []
    assert schemas.type_name({}, {}) == "any"
    assert schemas.type_name({"const": 3}, {}) == "integer (= 3)"
    assert schemas.type_name({"type": ["string", "null"]}, {}) == "string | null"
    assert schemas.json_types({"enum": [1, "a"]}, {}) == ["integer", "string"]
    # a dangling $ref is left as it is instead of failing
    assert schemas.resolve({"$ref": "#/$defs/Nope"}, {}) == {"$ref": "#/$defs/Nope"}
    assert schemas.property_schema(None, "x") is None


def test_the_type_of_a_const_or_enum_value_is_its_json_type():
    """A field given by `const` or an untyped `enum` reads as the JSON type of its values:
    null, boolean (not integer: true is not 1), integer, number, string, array, object."""
    for value, name in [(None, "null"), (True, "boolean"), (3, "integer"), (2.5, "number"), ("a", "string"),
                        ([1], "array"), ({"a": 1}, "object")]:
        assert schemas.json_types({"const": value}, {}) == [name]
        assert schemas.json_types({"enum": [value]}, {}) == [name]
    assert schemas.type_name({"const": None}, {}) == "null (= null)"
    assert schemas.type_name({"const": "on"}, {}) == "string (= on)"


def test_a_schema_whose_root_refers_to_a_closed_model_is_closed():
    """`closed` follows a root `$ref` into `$defs`: a schema that is only a reference to a
    model without additional properties allows none (the CLI then refuses unknown names)."""
    schema = {"$ref": "#/$defs/M", "$defs": {"M": {"type": "object", "additionalProperties": False,
                                                     "properties": {"a": {"type": "string"}}}}}
    assert schemas.closed(schema)
    assert not schemas.closed({"$ref": "#/$defs/M", "$defs": {"M": {"type": "object"}}})


def test_a_default_is_shown_as_text_and_a_text_default_as_it_is():
    """The CLI and the UI show a field's default: a string as it is (no quotes), any
    other value as JSON, and nothing for a field without a default."""
    schema = {"properties": {"s": {"type": "string", "default": "low"}, "n": {"type": "integer", "default": 3},
                             "b": {"type": "boolean", "default": False}, "x": {"type": "string"}}}
    shown = {f.name: f.default_text() for f in schemas.fields(schema)}
    assert shown == {"s": "low", "n": "3", "b": "false", "x": ""}


def test_type_names_of_arrays_objects_and_empty_alternatives():
    """`array` without items, `array of X` with items (following a reference), `object
    (Title)` only for a titled object with properties, `any` for empty alternatives."""
    root = {"$defs": {"A": {"type": "object", "title": "Address", "properties": {"s": {"type": "string"}}}}}
    assert schemas.type_name({"type": "array"}, root) == "array"
    assert schemas.type_name({"type": "array", "items": {"$ref": "#/$defs/A"}}, root) == "array of object (Address)"
    assert schemas.type_name({"type": "object", "title": "T"}, root) == "object"
    assert schemas.type_name({"type": "string", "title": "T", "properties": {}}, root) == "string"
    assert schemas.type_name({"type": "object", "properties": {}}, root) == "object"
    assert schemas.type_name({"anyOf": []}, root) == "any"


def test_a_property_schema_follows_references_at_the_root_and_the_property():
    """The CLI coerces `--input name=...` with the property's resolved schema, also when
    the whole schema is a reference to a model; an unknown name has none."""
    schema = {"$ref": "#/$defs/M", "$defs": {"M": {"properties": {"c": {"$ref": "#/$defs/C"}}},
                                             "C": {"type": "integer"}}}
    assert schemas.property_schema(schema, "c") == {"type": "integer"}
    assert schemas.property_schema(schema, "nope") is None


REFS = {"$defs": {"Int": {"type": "integer"}, "Flag": {"type": "boolean"},
                  "Ints": {"type": "array", "items": {"$ref": "#/$defs/Int"}},
                  "MaybeInt": {"oneOf": [{"$ref": "#/$defs/Int"}, {"type": "null"}]}},
        "properties": {"n": {"$ref": "#/$defs/Int"}, "f": {"$ref": "#/$defs/Flag"},
                       "ns": {"$ref": "#/$defs/Ints"}, "m": {"$ref": "#/$defs/MaybeInt"},
                       "x": {"type": "number"}, "s": {"type": "string"}, "o": {"type": "object"},
                       "no": {"type": "null"}}}


@pytest.mark.parametrize("name, raw, value", [
    ("n", "7", 7), ("n", "3.0", 3), ("f", "on", True), ("f", "0", False),
    ("ns", "1, 2,3", [1, 2, 3]), ("ns", "", []), ("ns", "[4]", [4]),
    ("m", "5", 5), ("m", "null", None), ("m", "None", None), ("m", "~", None),
    ("x", "2", 2), ("x", "2.5", 2.5), ("s", "None", "None"), ("o", '{"a": 1}', {"a": 1}), ("no", "~", None),
])
def test_a_persons_text_becomes_the_type_the_schema_asks_for(name, raw, value):
    """`--input name=text` (and the UI's form) through references, `oneOf`, lists of a
    referenced item type, and the spellings of null (`null`, `None`, `~`)."""
    got = schemas.coerce(name, raw, schemas.property_schema(REFS, name), REFS)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("name, raw, says", [
    ("n", "nan", "n: 'nan' is not a valid integer"),
    ("n", "2.5", "n: '2.5' is not a valid integer"),
    ("x", "ten", "x: 'ten' is not a valid number"),
    ("ns", "1,x", "ns: '1,x' is not a valid array"),
    ("o", "[1]", "o: '[1]' is not a valid object"),
    ("m", "maybe", "m: 'maybe' is not a valid integer or null"),
    ("no", "None?", "no: 'None?' is not a valid null"),
])
def test_a_text_of_the_wrong_type_is_refused_naming_the_field_and_the_types(name, raw, says):
    with pytest.raises(schemas.CoercionError) as info:
        schemas.coerce(name, raw, schemas.property_schema(REFS, name), REFS)
    assert str(info.value) == says


def test_fields_read_references_for_type_default_enum_and_constraints():
    """A field given by reference shows the referenced type, default, allowed values and
    constraints; a `$ref` sibling (description) wins over the target's."""
    schema = {"$defs": {"Level": {"type": "string", "enum": ["low", "high"], "default": "low",
                                  "minLength": 3, "description": "inner"}},
              "properties": {"level": {"$ref": "#/$defs/Level", "description": "outer"}}}
    (field,) = schemas.fields(schema)
    assert (field.type, field.default, field.enum, field.constraints, field.description) == (
        "string", "low", ["low", "high"], ["min length 3"], "outer")
    assert schemas.resolve({"$ref": "#/$defs/Level", "description": "outer"}, schema) == {
        "type": "string", "enum": ["low", "high"], "default": "low", "minLength": 3, "description": "outer"}


def test_enum_values_of_alternatives_are_merged_once_in_order():
    node = {"oneOf": [{"enum": ["a", "b"]}, {"$ref": "#/$defs/E"}, {"enum": ["a"]}]}
    assert schemas.enum_values(node, {"$defs": {"E": {"enum": ["c", "b"]}}}) == ["a", "b", "c"]
    assert schemas.json_types({"oneOf": [{"type": "string"}, {"type": "null"}]}, {}) == ["string", "null"]


def test_a_chain_of_twenty_references_resolves_and_a_cycle_stops():
    """References are followed 21 deep (depth 0 to 20); a cycle ends there with the node
    it reached instead of recursing forever."""
    defs = {f"D{i}": {"$ref": f"#/$defs/D{i + 1}"} for i in range(20)}
    defs["D20"] = {"type": "integer"}
    assert schemas.resolve({"$ref": "#/$defs/D0"}, {"$defs": defs}) == {"type": "integer"}
    defs["D21"] = {"type": "string"}
    defs["D20"] = {"$ref": "#/$defs/D21"}
    assert schemas.resolve({"$ref": "#/$defs/D0"}, {"$defs": defs}) == {"$ref": "#/$defs/D21"}
    cycle = {"$defs": {"A": {"$ref": "#/$defs/A"}}}
    assert schemas.resolve({"$ref": "#/$defs/A"}, cycle) == {"$ref": "#/$defs/A"}


def test_json_types_read_one_of_const_and_typed_enums():
    """`oneOf` like `anyOf`; a `const` says its value's type; an `enum` with a `type` says
    that type (not its values' types); a reference at the root is followed."""
    root = {"$defs": {"N": {"type": "integer"}}}
    assert schemas.json_types({"oneOf": [{"$ref": "#/$defs/N"}, {"type": "null"}]}, root) == ["integer", "null"]
    assert schemas.json_types({"$ref": "#/$defs/N"}, root) == ["integer"]
    assert schemas.json_types({"const": "a", "type": "integer"}, root) == ["string"]
    assert schemas.json_types({"enum": [1, 2], "type": "number"}, root) == ["number"]
    assert schemas.type_name({"oneOf": [{"type": "string"}, {"type": "null"}]}, root) == "string | null"
    assert schemas.enum_values({"oneOf": [{"enum": [1]}]}, root) == [1]


def test_the_fields_of_a_schema_that_is_a_reference_to_a_model():
    schema = {"$ref": "#/$defs/M", "$defs": {"M": {"properties": {"a": {"type": "integer", "minimum": 1}},
                                                  "required": ["a"]}}}
    (field,) = schemas.fields(schema)
    assert (field.name, field.type, field.required, field.constraints) == ("a", "integer", True, [">= 1"])


def test_a_comma_list_is_only_a_list_where_the_schema_asks_for_one():
    """`a,b` is split into a list for an array field (each item in the items' type, also
    through a reference), never for an object field."""
    schema = {"$defs": {"Flag": {"type": "boolean"}},
              "properties": {"flags": {"type": "array", "items": {"$ref": "#/$defs/Flag"}}, "o": {"type": "object"}}}
    assert schemas.coerce("flags", "yes,no", schemas.property_schema(schema, "flags"), schema) == [True, False]
    with pytest.raises(schemas.CoercionError):
        schemas.coerce("o", "a,b", schemas.property_schema(schema, "o"), schema)
