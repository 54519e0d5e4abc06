"""flowrun: run Python flows as Kubernetes FlowRun resources that can pause, suspend and
wait for typed input.

    from flowrun import flow, task, pause_flow_run, RunInput

The names below are imported when first used (PEP 562), not with the package: a runner
pod starts reading its FlowRun (flowrun.kube) while the SDK is still being imported
(runner/__main__.py), and the operator, the CLI and the web UI do not load the SDK they
do not use. `from flowrun import flow` and `flowrun.flow` work as before.
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .sdk import (
        Flow,
        ResumeError,
        RunInput,
        SubflowFailed,
        Task,
        cancel_flow_run,
        exponential_backoff,
        flow,
        pause_flow_run,
        resume_flow_run,
        run_flow,
        suspend_flow_run,
        task,
        task_input_hash,
    )
    from .sdk.futures import unmapped
    from .sdk.logs import get_run_logger

__version__ = "0.1.0"

__all__ = [
    "Flow", "ResumeError", "RunInput", "Task", "__version__", "exponential_backoff", "flow", "pause_flow_run",
    "resume_flow_run", "run_flow", "SubflowFailed", "suspend_flow_run", "task", "task_input_hash",
    "cancel_flow_run", "get_run_logger", "unmapped",
]

_FROM = {"unmapped": ".sdk.futures", "get_run_logger": ".sdk.logs"}


def __getattr__(name: str) -> Any:
    if name not in __all__ or name == "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_FROM.get(name, ".sdk"), __name__), name)
    globals()[name] = value  # once: the next use is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
