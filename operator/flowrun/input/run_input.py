"""Prefect's `prefect.input.run_input` (the pause/suspend half; send_input and
receive_input between runs are not part of flowrun)."""
from typing import Any

from ..sdk.inputs import RunInput, as_run_input


def run_input_subclass_from_type(_type: Any) -> type[RunInput]:
    """The RunInput a `wait_for_input` type becomes: a BaseModel upgraded (unknown
    fields forbidden), a plain type wrapped in a model with one field, `value`."""
    return as_run_input(_type)[0]


__all__ = ["RunInput", "run_input_subclass_from_type"]
