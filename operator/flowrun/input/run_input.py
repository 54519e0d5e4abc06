"""Prefect's `prefect.input.run_input`: typed input for paused and suspended runs, and
inputs sent to running flows (send_input / receive_input, RunInput.send_to / receive /
respond), at the same names. See sdk/messages.py."""
from typing import Any

from ..sdk.inputs import RunInput, RunInputMetadata, as_run_input
from ..sdk.messages import (
    GetAutomaticInputHandler,
    GetInputHandler,
    receive_input,
    send_input,
)


def run_input_subclass_from_type(_type: Any) -> type[RunInput]:
    """The RunInput a `wait_for_input` type becomes: a BaseModel upgraded (unknown
    fields forbidden), a plain type wrapped in a model with one field, `value`."""
    return as_run_input(_type)[0]


__all__ = ["GetAutomaticInputHandler", "GetInputHandler", "RunInput", "RunInputMetadata",
           "receive_input", "run_input_subclass_from_type", "send_input"]
