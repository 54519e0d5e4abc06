"""Prefect's `prefect.cache_policies` (see flowrun.sdk.cache_policies for what each does here)."""
from .sdk.cache_policies import (DEFAULT, FLOW_PARAMETERS, INPUTS, NO_CACHE, NONE, RUN_ID,
                                 TASK_SOURCE, CachePolicy)

__all__ = ["CachePolicy", "DEFAULT", "FLOW_PARAMETERS", "INPUTS", "NONE", "NO_CACHE", "RUN_ID", "TASK_SOURCE"]
