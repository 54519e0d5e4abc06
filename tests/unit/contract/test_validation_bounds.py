"""Hostile schemas and inputs: checking them is bounded (issue 26).

Each case would run for minutes to forever with a backtracking engine or an unbounded
validator; the pytest timeout below is the guard (no wall-clock asserts): these tests
fail by hanging if the bound is lost."""
import pytest

from flowrun.contract import inputs
from flowrun.contract.lifecycle import pausing as runner
from flowrun.contract.lifecycle import people
from flowrun.contract.phases import PauseKind
from flowrun.contract.inputs import MAX_VALIDATION_WORK, input_errors, input_problems, schema_problems

pytestmark = pytest.mark.timeout(20)

EVIL = {"type": "object", "properties": {"x": {"type": "string", "pattern": "^(a+)+$"}}}


@pytest.mark.parametrize("n", [26, 40, 1_000, 60_000])
def test_catastrophic_pattern_is_answered_at_once(n):
    # Python's re takes 4 s at n=26 and doubles with each further character.
    errors = input_errors(EVIL, {"x": "a" * n + "!"})
    assert len(errors) == 1 and errors[0].startswith("x: ") and "does not match" in errors[0]
    assert input_errors(EVIL, {"x": "a" * n}) == []


def test_patterns_re2_cannot_compile_are_refused_with_a_reason():
    for pattern in (r"(a)\1", r"(?=a)b", r"(?<!x)y"):
        schema = {"type": "object", "properties": {"x": {"type": "string", "pattern": pattern}}}
        [error] = input_errors(schema, {"x": "aa"})
        assert "cannot be used to check input" in error and "RE2" in error
        assert schema_problems(schema)


def test_too_long_patterns_and_refused_keywords():
    long = {"type": "object", "properties": {"x": {"type": "string", "pattern": "a" * 2000}}}
    assert "more than the 1024 allowed" in schema_problems(long)[0]
    pp = {"type": "object", "patternProperties": {"^(a+)+$": {"type": "string"}}}
    assert schema_problems(pp) == ["the keyword patternProperties is not supported"]
    assert "cannot be used" in input_errors(pp, {"a" * 30 + "!": "x"})[0]


def test_a_property_named_pattern_is_not_a_pattern():
    schema = {"type": "object", "properties": {"pattern": {"type": "string"}},
              "default": {"pattern": "(a)\\1"}}
    assert schema_problems(schema) == []
    assert input_errors(schema, {"pattern": "(a)\\1"}) == []


def test_exponential_anyof_chains_stop_at_the_work_budget():
    defs = {f"d{i}": {"anyOf": [{"$ref": f"#/$defs/d{i + 1}"}, {"$ref": f"#/$defs/d{i + 1}"}]}
            for i in range(60)}
    defs["d60"] = {"type": "integer"}
    [(where, message)] = input_problems({"$defs": defs, "$ref": "#/$defs/d0"}, "x")
    assert where == "(input)" and f"more than {MAX_VALIDATION_WORK} steps" in message


def test_big_enums_and_unique_items_are_metered_or_linear():
    enum = {"type": "array", "items": {"enum": list(range(5000))}}
    assert "steps" in input_errors(enum, ["x"] * 10_000)[0]
    unique = {"type": "array", "uniqueItems": True}
    assert input_errors(unique, [{"a": i} for i in range(5000)]) == []
    assert input_errors(unique, [1, {"a": 1}, 1.0])  # 1 == 1.0 in JSON
    assert input_errors(unique, [True, 1]) == []  # true is not 1


def test_oversized_schemas_and_inputs_are_refused_unread():
    big = {"type": "object", "description": "x" * 40_000}
    assert "bytes, more than" in input_errors(big, {})[0]
    assert "bytes, more than" in input_errors(EVIL, {"x": "a" * 70_000})[0]


def test_deep_nesting_is_an_answer_not_a_crash():
    schema: dict = {"type": "integer"}
    for _ in range(3000):
        schema = {"items": schema}
    assert input_errors(schema, [[[1]]])  # too deep or too big: refused, never raised


def test_a_legit_large_input_fits_the_budget():
    item = {"type": "object", "required": ["name", "qty"],
            "properties": {"name": {"type": "string", "pattern": "^[a-z0-9]+$"}, "qty": {"type": "integer"},
                           "tags": {"type": "array", "items": {"type": "string"}}}}
    schema = {"type": "object", "properties": {"items": {"type": "array", "items": item}}}
    data = {"items": [{"name": f"n{i}", "qty": i, "tags": ["a", "b"]} for i in range(1000)]}
    assert input_errors(schema, data) == []


def test_the_pause_itself_refuses_an_unusable_schema():
    request = runner.PauseRequest(key="k", kind=PauseKind.PAUSE, timeout_seconds=None, input_schema={
        "type": "object", "properties": {"x": {"type": "string", "pattern": r"(a)\1"}}})
    with pytest.raises(ValueError, match="RE2"):
        runner.check_pause_request(request)


def test_the_runner_resuming_its_own_run_is_checked_like_anyone():
    old = {"metadata": {"name": "r", "namespace": "ns", "generation": 3},
           "spec": {"state": "Suspended"},
           "status": {"phase": "Suspended", "pause": {"key": "k", "kind": "suspend", "inputSchema": EVIL}}}
    new = {**old, "spec": {"state": "Running", "input": {"x": "a" * 40 + "!"}}}
    for runner in (False, True):
        errors = people.review_update(old, new, runner_of_run=runner)
        assert errors and "does not match" in errors[0], (runner, errors)


def test_work_budget_is_per_check():
    # a refused check leaves no debt for the next one
    defs = {f"d{i}": {"anyOf": [{"$ref": f"#/$defs/d{i + 1}"}] * 2} for i in range(40)}
    defs["d40"] = {"type": "integer"}
    input_errors({"$defs": defs, "$ref": "#/$defs/d0"}, "x")
    assert inputs._work.get(None) is None
    assert input_errors({"type": "integer"}, 1) == []


def test_too_many_patterns_are_refused():
    schema = {"type": "object", "properties": {f"p{i}": {"type": "string", "pattern": f"^{i}$"} for i in range(150)}}
    assert "more than 100 different patterns" in schema_problems(schema)[0]
