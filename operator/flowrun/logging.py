"""Prefect's `prefect.logging`: `from flowrun.logging import get_run_logger`."""
from .sdk.logs import get_run_logger

__all__ = ["get_run_logger"]
