"""Prefect's `prefect.context`: `get_run_context().flow_run.id` / `.name`.

`flow_run.id` is the FlowRun's uid and `flow_run.name` its name; resume_flow_run and
suspend_flow_run(flow_run_id=) accept either.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .sdk.context import FlowRunContextError, current_run, current_task, current_task_display
from .sdk.flows import FlowRunInfo
from .sdk.tasks import TaskRunInfo


class MissingContextError(FlowRunContextError):
    """get_run_context() outside a flow or task run."""


@dataclass(frozen=True)
class FlowRunContext:
    flow_run: FlowRunInfo
    parameters: dict[str, Any]


@dataclass(frozen=True)
class TaskRunContext:
    flow_run: FlowRunInfo
    task_run: TaskRunInfo
    parameters: dict[str, Any]


def get_run_context() -> FlowRunContext | TaskRunContext:
    """The current run: a TaskRunContext inside a task, else a FlowRunContext."""
    ctx = current_run()
    if ctx is None:
        raise MissingContextError("get_run_context() must be called inside a flow or task run")
    flow_run = FlowRunInfo.of(ctx)
    identity = current_task()
    if identity is None:
        return FlowRunContext(flow_run, dict(ctx.parameters))
    task_run = TaskRunInfo(identity, current_task_display() or identity, identity.rsplit("-", 1)[0], ctx.name)
    return TaskRunContext(flow_run, task_run, {})


__all__ = ["FlowRunContext", "MissingContextError", "TaskRunContext", "get_run_context"]
