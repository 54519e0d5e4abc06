"""flowrun: run Python flows as Kubernetes FlowRun resources that can pause, suspend and
wait for typed input.

    from flowrun import flow, task, pause_flow_run, RunInput
"""
from .sdk import (
    Flow,
    ResumeError,
    RunInput,
    cancel_flow_run,
    Task,
    exponential_backoff,
    flow,
    pause_flow_run,
    SubflowFailed,
    resume_flow_run,
    run_flow,
    suspend_flow_run,
    task,
    task_input_hash,
)

__version__ = "0.1.0"

__all__ = [
    "Flow", "ResumeError", "RunInput", "Task", "__version__", "exponential_backoff", "flow", "pause_flow_run",
    "resume_flow_run", "run_flow", "SubflowFailed", "suspend_flow_run", "task", "task_input_hash",
    "cancel_flow_run",
]
