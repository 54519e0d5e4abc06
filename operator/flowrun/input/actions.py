"""Prefect's `prefect.input.actions`: store, read and filter a run's inputs by key."""
from ..sdk.messages import (
    FlowRunInput,
    create_flow_run_input,
    create_flow_run_input_from_model,
    ensure_flow_run_id,
    filter_flow_run_input,
    read_flow_run_input,
)

__all__ = ["FlowRunInput", "create_flow_run_input", "create_flow_run_input_from_model",
           "ensure_flow_run_id", "filter_flow_run_input", "read_flow_run_input"]
