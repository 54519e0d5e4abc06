import pytest

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


def _nested(depth):
    data: list = []
    for _ in range(depth):
        data = [data]
    return data


def test_input_refused_as_a_whole_says_why_in_full():
    """What cannot be checked field by field is refused for the input as a whole, each
    reason whole: the schema's problems joined, an input too deep, an input too large."""
    from flowrun.contract.inputs import input_problems
    unusable = {"patternProperties": {}, "properties": {"a": {"pattern": "(?<=a)"}}}
    assert input_problems(unusable, {}) == [(
        "(input)", "the pause's input schema cannot be used to check input: the keyword patternProperties is not "
        "supported; pattern '(?<=a)' is not supported (invalid perl operator: (?<=): patterns are evaluated with "
        "RE2, which has no backreferences or lookaround")]
    assert input_problems({"type": "array"}, _nested(100_000)) == [("(input)", "the input is nested too deeply to check")]
    assert input_problems({"type": "object"}, {"x": "a" * 70_000}) == [
        ("(input)", "the input is 70008 bytes, more than the 65536 allowed")]


def test_the_work_budget_may_be_spent_to_the_last_unit():
    from flowrun.contract import inputs
    token = inputs._work.set([3])
    try:
        inputs._spend(3)
        assert inputs._work.get() == [0]
        with pytest.raises(inputs.TooCostly):
            inputs._spend(1)
    finally:
        inputs._work.reset(token)


def test_a_check_that_fails_inside_the_validator_is_an_answer_in_full():
    from flowrun.contract.inputs import input_problems
    recursive = {"type": "array", "items": {"$ref": "#"}}
    assert input_problems(recursive, _nested(400)) == [
        ("(input)", "the input or the pause's schema is nested too deeply to check")]
    assert input_problems({"type": "nonsense"}, {}) == [
        ("(input)", "the pause's input schema cannot be used to check input: UnknownType")]


def test_a_schema_that_is_not_plain_json_checks_no_input_as_an_empty_object():
    from flowrun.contract.inputs import input_problems
    assert input_problems({"type": "object", "description": b"not JSON"}, None) == []


def test_a_nested_field_is_named_by_its_dotted_path():
    from flowrun.contract.inputs import input_problems
    schema = {"properties": {"tags": {"items": {"type": "string"}}}}
    assert input_problems(schema, {"tags": ["a", 1]}) == [("tags.1", "1 is not of type 'string'")]


def test_schema_problems_in_full():
    """A schema that is not an object, too deep to measure, with a refused keyword inside
    a list of subschemas, or with more than 100 different patterns (100 are fine)."""
    from flowrun.contract.inputs import schema_problems
    deep: dict = {}
    for _ in range(100_000):
        deep = {"not": deep}
    assert schema_problems("text") == ["the input schema is not an object"]
    assert schema_problems(deep) == ["the input schema is nested too deeply"]
    assert schema_problems({"anyOf": [{"type": "string"}, {"patternProperties": {}}]}) == [
        "the keyword patternProperties is not supported"]
    assert schema_problems({"anyOf": [{"pattern": f"a{i}"} for i in range(100)]}) == []
    assert schema_problems({"anyOf": [{"pattern": f"a{i}"} for i in range(101)]}) == [
        "more than 100 different patterns"]


def test_input_that_is_not_plain_json_is_checked_as_it_is():
    from flowrun.contract.inputs import input_problems
    assert input_problems({"type": "string"}, b"x") == [("(input)", "b'x' is not of type 'string'")]



@pytest.mark.parametrize("keyword", ["properties", "$defs", "definitions", "dependentSchemas"])
def test_under_a_keyword_of_names_the_names_are_not_keywords(keyword):
    """A property (or definition) named patternProperties is a name; a subschema under
    it that uses the keyword is refused."""
    from flowrun.contract.inputs import schema_problems
    assert schema_problems({keyword: {"patternProperties": {"type": "string"}}}) == []
    assert schema_problems({keyword: {"a": {"patternProperties": {}}}}) == [
        "the keyword patternProperties is not supported"]
    assert schema_problems({"not": {keyword: {"a": {"unevaluatedItems": False}}}}) == [
        "the keyword unevaluatedItems is not supported"]


def test_the_schema_walk_itself_is_guarded_against_depth(monkeypatch):
    """On Python 3.11 the size measure, which runs first, meets the recursion limit
    before the walk does; the JSON encoder of later Pythons has its own C limit, so the
    walk may be first: it answers too."""
    from flowrun.contract import inputs
    deep: dict = {}
    for _ in range(5_000):
        deep = {"not": deep}
    monkeypatch.setattr(inputs, "json_size", lambda value: 0)
    assert inputs.schema_problems(deep) == ["the input schema is nested too deeply"]
