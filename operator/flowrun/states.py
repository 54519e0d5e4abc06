"""Prefect's `prefect.states`, reduced to what `return_state=True`, futures and hooks give."""
from .sdk.states import State

__all__ = ["State"]
