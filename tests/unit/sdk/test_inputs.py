from typing import assert_type

import pydantic
import pytest

from flowrun import RunInput, pause_flow_run
from flowrun.sdk.inputs import as_run_input


class UserNameInput(RunInput):
    name: str


def test_models_are_used_as_they_are():
    assert as_run_input(UserNameInput) == (UserNameInput, False)


def test_run_input_forbids_unknown_fields():
    with pytest.raises(pydantic.ValidationError):
        UserNameInput.model_validate({"name": "Marvin", "nmae": "typo"})


def test_plain_types_are_wrapped():
    model, unwrap = as_run_input(int)
    assert unwrap
    assert model.model_validate({"value": "3"}).value == 3
    assert model.model_json_schema()["required"] == ["value"]
    assert as_run_input(int)[0] is model  # one model per type


def test_typing_of_pause_flow_run():
    # Checked by a type checker; at runtime just make sure the overloads exist.
    def typed() -> None:
        user = pause_flow_run(wait_for_input=UserNameInput)
        assert_type(user, UserNameInput)
        nothing = pause_flow_run()
        assert_type(nothing, None)
    assert callable(typed)
