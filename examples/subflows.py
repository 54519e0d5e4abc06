"""Scenario 7: a flow that runs another flow as a child FlowRun and waits for it.

Linked (`as_subflow=True`, the default): the child belongs to the parent; it cannot be
suspended on its own (the API server refuses, saying to use as_subflow=False), and
suspending or resuming the parent does the same to it. Independent
(`as_subflow=False`): the child is a run of its own and may be suspended alone.
"""
from flowrun import flow, run_flow, task

from .suspending import many_steps


@task
def plan(steps: int) -> int:
    return steps


@flow
def parent_with_child(linked: bool = True, steps: int = 10, seconds: float = 1.0) -> dict:
    count = plan(steps)
    child = run_flow(many_steps, {"steps": count, "seconds": seconds}, as_subflow=linked)
    return {"linked": linked, "child": child}
