"""Flows of the adversarial suite (tests/e2e/adversarial/)."""
from flowrun import RunInput, flow, pause_flow_run, run_flow


class Go(RunInput):
    ok: bool


@flow
def returns_child() -> dict:
    """Whatever its first subflow returns (the suite tries to inject that)."""
    return {"child": run_flow("testflows.basic:returns_value", {"x": 1})}


@flow
def child_needs_finance() -> bool:
    """A subflow whose pause only finance may answer, never the run's creator."""
    return pause_flow_run(wait_for_input=Go, timeout=600, approvers=["group:finance"], approvals=1).ok


@flow
def parent_of_approval() -> dict:
    return {"child": run_flow(child_needs_finance)}
