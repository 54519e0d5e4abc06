"""--input / -p parsing and coercion by the stored schema (no cluster)."""
from __future__ import annotations

import pytest

from flowrun.cli.errors import INVALID_INPUT
from flowrun.cli.inputs import (
    InputError,
    build_input,
    coerce,
    load_object,
    parse_parameters,
    split_assignment,
)

SCHEMA = {
    "title": "Order",
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "qty": {"type": "integer"},
        "price": {"type": "number"},
        "rush": {"type": "boolean", "default": False},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        "limit": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "sizes": {"type": "array", "items": {"type": "integer"}},
        "meta": {"type": "object"},
        "colour": {"$ref": "#/$defs/Colour"},
        "anything": {},
    },
    "$defs": {"Colour": {"enum": ["red", "green"], "type": "string", "title": "Colour"}},
}


def test_split_assignment_modes():
    assert split_assignment("a=b=c") == ("a", "=", "b=c")
    assert split_assignment("a:=[1]") == ("a", ":=", "[1]")
    assert split_assignment("a=@f.json") == ("a", "@", "f.json")
    assert split_assignment("a=") == ("a", "=", "")
    assert split_assignment("a=@") == ("a", "=", "@")
    with pytest.raises(InputError) as err:
        split_assignment("novalue")
    assert err.value.code == INVALID_INPUT
    with pytest.raises(InputError):
        split_assignment("=x")


def test_parameters_are_json_when_they_parse_else_strings():
    files = {"cfg.json": '{"a": [1, 2]}', "note.txt": "hello there\n"}
    got = parse_parameters(["n=3", "f=1.5", "b=true", "s=abc", "l=[1,2]", "o={\"k\": 1}",
                            "q=\"42\"", "cfg=@cfg.json", "note=@note.txt", "j:=null"],
                           read=files.__getitem__)
    assert got == {"n": 3, "f": 1.5, "b": True, "s": "abc", "l": [1, 2], "o": {"k": 1},
                   "q": "42", "cfg": {"a": [1, 2]}, "note": "hello there\n", "j": None}
    with pytest.raises(InputError, match="not valid JSON"):
        parse_parameters(["j:=nope"])


@pytest.mark.parametrize("name,raw,expected", [
    ("name", "42", "42"),            # a string field keeps the digits as text
    ("name", "true", "true"),
    ("qty", "42", 42),
    ("qty", " 7 ", 7),
    ("qty", "3.0", 3),
    ("price", "2", 2),
    ("price", "2.5", 2.5),
    ("rush", "yes", True),
    ("rush", "False", False),
    ("note", "null", None),
    ("note", "hi", "hi"),
    ("limit", "5", 5),
    ("limit", "null", None),
    ("tags", "a,b", ["a", "b"]),
    ("tags", '["x y"]', ["x y"]),
    ("sizes", "1,2,3", [1, 2, 3]),
    ("meta", '{"a": 1}', {"a": 1}),
    ("colour", "red", "red"),
    ("anything", "12", 12),
    ("anything", "word", "word"),
    ("unknown", "[1]", [1]),
])
def test_coerce_by_schema_type(name, raw, expected):
    from flowrun.contract.input_schema import property_schema
    assert coerce(name, raw, property_schema(SCHEMA, name) if name != "unknown" else None,
                  SCHEMA) == expected


@pytest.mark.parametrize("name,raw", [("qty", "4x"), ("qty", "2.5"), ("rush", "maybe"),
                                      ("meta", "[1]"), ("sizes", "1,x"), ("limit", "many")])
def test_coerce_refuses_values_of_the_wrong_type(name, raw):
    from flowrun.contract.input_schema import property_schema
    with pytest.raises(InputError, match=name):
        coerce(name, raw, property_schema(SCHEMA, name), SCHEMA)


def test_build_input_file_then_assignments_on_top():
    got = build_input(["qty=3", "tags:=[\"a\"]"], {"name": "Marvin", "qty": 1}, SCHEMA)
    assert got == {"name": "Marvin", "qty": 3, "tags": ["a"]}
    assert build_input([], None, SCHEMA) is None
    assert build_input([], {}, SCHEMA) == {}
    files = {"n.txt": "Arthur\n", "q.txt": "12\n"}
    assert build_input(["name=@n.txt", "qty=@q.txt"], None, SCHEMA, read=files.__getitem__) == \
        {"name": "Arthur\n", "qty": 12}


def test_build_input_without_schema_guesses_json():
    assert build_input(["a=1", "b=x"], None, None) == {"a": 1, "b": "x"}


def test_load_object_json_or_yaml():
    assert load_object('{"a": 1}', "f") == {"a": 1}
    assert load_object("a: 1\nb: [x]\n", "f") == {"a": 1, "b": ["x"]}
    assert load_object("", "f") == {}
    with pytest.raises(InputError, match="must hold an object"):
        load_object("[1, 2]", "f")
    with pytest.raises(InputError, match="neither JSON nor YAML"):
        load_object("a: [", "f")
