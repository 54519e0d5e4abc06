from flowrun.contract.inputs import input_errors

SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["name"],
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
}


def test_valid_input_has_no_errors():
    assert input_errors(SCHEMA, {"name": "Marvin"}) == []


def test_errors_name_the_fields():
    errors = input_errors(SCHEMA, {"name": 3, "age": "old"})
    assert errors == ["age: 'old' is not of type 'integer'", "name: 3 is not of type 'string'"]


def test_missing_input_is_an_error_when_required():
    assert input_errors(SCHEMA, None) == ["(input): 'name' is a required property"]


def test_no_schema_accepts_anything():
    assert input_errors(None, {"x": 1}) == []


def test_unique_items_compares_lists_and_objects_by_value():
    """uniqueItems is JSON equality: [1] and [2] differ, two equal objects do not; true is
    not 1; two nulls are the same."""
    from flowrun.contract.inputs import input_errors
    schema = {"type": "object", "properties": {"v": {"type": "array", "uniqueItems": True}}}
    assert input_errors(schema, {"v": [[1], [2]]}) == []
    assert input_errors(schema, {"v": [{"a": 1}, {"a": 2}]}) == []
    assert input_errors(schema, {"v": [True, 1]}) == []
    assert input_errors(schema, {"v": [{"a": [1]}, {"a": [1]}]}) == ["v: the array has non-unique elements"]
    assert input_errors(schema, {"v": [None, None]}) == ["v: the array has non-unique elements"]


def test_pattern_problems_say_exactly_why():
    """A pattern RE2 cannot use is named (its first 80 characters) with RE2's reason; a
    pattern of 1,024 characters is allowed, 1,025 is not; a pattern must be a string."""
    from flowrun.contract.inputs import pattern_problem
    assert pattern_problem("x" * 1024) is None
    assert pattern_problem("x" * 1025) == "pattern of 1025 characters, more than the 1024 allowed"
    assert pattern_problem(3) == "a pattern must be a string"
    assert pattern_problem("(?<=a)b" + "c" * 100) == (
        "pattern '(?<=a)b" + "c" * 73 + "' is not supported (invalid perl operator: (?<=): patterns are evaluated "
        "with RE2, which has no backreferences or lookaround")
