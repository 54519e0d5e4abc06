"""Prefect's `prefect.input`: `from flowrun.input import RunInput`."""
from .actions import (
    create_flow_run_input,
    create_flow_run_input_from_model,
    filter_flow_run_input,
    read_flow_run_input,
)
from .run_input import (
    GetInputHandler,
    RunInput,
    RunInputMetadata,
    receive_input,
    run_input_subclass_from_type,
    send_input,
)

__all__ = ["GetInputHandler", "RunInput", "RunInputMetadata", "create_flow_run_input",
           "create_flow_run_input_from_model", "filter_flow_run_input", "read_flow_run_input",
           "receive_input", "run_input_subclass_from_type", "send_input"]
