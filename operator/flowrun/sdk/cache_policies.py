"""Prefect's cache policies, mapped onto the result cache (`flowrun.cache_policies`).

A task's stored result is found again by its identity in the run (name + call index,
fixed when it is called or submitted). The policy decides two things:

- what must be the same for a stored result to count as this call's: the arguments
  (INPUTS), the task's code (TASK_SOURCE), the flow's parameters (FLOW_PARAMETERS).
  A call whose fingerprint differs runs again, with a log line saying why;
- whether results are shared across runs on the same cache claim: a policy without
  RUN_ID (e.g. `INPUTS`, `INPUTS + TASK_SOURCE`) also stores the result under a key
  built from those parts, which any later run finds (until `cache_expiration`).

DEFAULT is INPUTS + TASK_SOURCE + RUN_ID, as in Prefect: reuse within the run only.
NONE stores nothing: the task runs every time, also when a suspended run re-executes.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CachePolicy:
    parts: frozenset[str]

    def __add__(self, other: "CachePolicy") -> "CachePolicy":
        if not isinstance(other, CachePolicy):
            return NotImplemented
        return CachePolicy(self.parts | other.parts)

    @property
    def is_none(self) -> bool:
        return not self.parts

    @property
    def per_run_only(self) -> bool:
        return "RUN_ID" in self.parts

    def __repr__(self) -> str:
        return " + ".join(sorted(self.parts)) or "NONE"


INPUTS = CachePolicy(frozenset({"INPUTS"}))
TASK_SOURCE = CachePolicy(frozenset({"TASK_SOURCE"}))
FLOW_PARAMETERS = CachePolicy(frozenset({"FLOW_PARAMETERS"}))
RUN_ID = CachePolicy(frozenset({"RUN_ID"}))
NONE = CachePolicy(frozenset())
NO_CACHE = NONE
DEFAULT = INPUTS + TASK_SOURCE + RUN_ID

__all__ = ["CachePolicy", "DEFAULT", "FLOW_PARAMETERS", "INPUTS", "NONE", "NO_CACHE", "RUN_ID", "TASK_SOURCE"]
