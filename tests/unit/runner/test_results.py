import pytest

from flowrun.runner.main import load_flow, result_fields
from flowrun.sdk.flows import Flow


def test_small_results_go_into_status():
    fields, message = result_fields({"a": [1, 2]})
    assert fields == {"result": {"a": [1, 2]}} and message == "Flow completed"


def test_large_results_are_left_out_with_a_message():
    fields, message = result_fields("x" * 100_000)
    assert fields == {} and "larger than" in message


def test_unserialisable_results_are_explained():
    fields, message = result_fields(object())
    assert fields == {} and "not JSON-serialisable" in message


def test_load_flow_accepts_flows_and_plain_functions():
    assert isinstance(load_flow("examples.jokes:tell_joke"), Flow)
    assert load_flow("json:dumps").name == "dumps"
    with pytest.raises(ModuleNotFoundError):
        load_flow("no_such_module:f")
