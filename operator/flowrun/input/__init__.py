"""Prefect's `prefect.input`: `from flowrun.input import RunInput`."""
from .run_input import RunInput, run_input_subclass_from_type

__all__ = ["RunInput", "run_input_subclass_from_type"]
