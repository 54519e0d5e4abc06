"""Prefect's `prefect.futures`: what `Task.submit()` and `Task.map()` return."""
from .sdk.futures import TaskFuture, TaskFutureList, UpstreamTaskError, as_completed, wait

PrefectFuture = TaskFuture  # Prefect's name, for type hints in ported code

__all__ = ["PrefectFuture", "TaskFuture", "TaskFutureList", "UpstreamTaskError", "as_completed", "wait"]
