"""Reading a stored input schema as a field list (no cluster)."""
from __future__ import annotations

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
