"""Prefect's `prefect.flow_runs`: `from flowrun.flow_runs import pause_flow_run`."""
from .sdk.pausing import ResumeError, pause_flow_run, resume_flow_run, suspend_flow_run

__all__ = ["ResumeError", "pause_flow_run", "resume_flow_run", "suspend_flow_run"]
