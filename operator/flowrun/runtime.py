"""`from flowrun import runtime; runtime.flow_run.name`: see flowrun.sdk.runtime."""
from .sdk.runtime import flow_run

__all__ = ["flow_run"]
