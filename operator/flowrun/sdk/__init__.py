"""The SDK used by flow code inside the pod: flows, tasks, the result cache, and
pause / suspend / wait_for_input. Never imports kopf or the controller."""
from .flows import Flow, flow
from .inputs import RunInput
from .retries import exponential_backoff
from .pausing import ResumeError, cancel_flow_run, pause_flow_run, resume_flow_run, suspend_flow_run
from .subflows import SubflowFailed, run_flow
from .tasks import Task, task, task_input_hash

__all__ = ["Flow", "ResumeError", "RunInput", "Task", "exponential_backoff", "flow", "pause_flow_run",
           "resume_flow_run", "run_flow", "SubflowFailed", "suspend_flow_run", "task", "task_input_hash",
           "cancel_flow_run"]
