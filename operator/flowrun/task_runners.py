"""Prefect's `prefect.task_runners`: `@flow(task_runner=ThreadPoolTaskRunner(max_workers=4))`."""
from .sdk.futures import ThreadPoolTaskRunner

__all__ = ["ThreadPoolTaskRunner"]
