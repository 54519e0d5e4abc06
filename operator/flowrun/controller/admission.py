"""What the admission webhook allows: the contract's rules, asked before the API server
stores a change, so a refused change leaves the run exactly as it was and the user sees
the reason at once (`kubectl patch` prints it).

The rules themselves live in contract/transitions.py (`review_create`,
`review_update`); this module only says who is asking. The operator and the runner
apply the same rules again when they act, so an unreachable webhook (failurePolicy
Ignore) never lets invalid input resume a run.
"""
from __future__ import annotations

from typing import Any

from ..contract import transitions
from ..contract.transitions import ANNOTATION_SUSPENDED_WITH_PARENT, SUBFLOW_SUSPEND_MESSAGE

__all__ = ["ANNOTATION_SUSPENDED_WITH_PARENT", "SUBFLOW_SUSPEND_MESSAGE", "review_create", "review_update",
           "runner_account"]


def runner_account(obj: dict[str, Any]) -> str:
    """The Kubernetes user name of a run's own runner (its pod's ServiceAccount)."""
    meta = obj.get("metadata") or {}
    return f"system:serviceaccount:{meta.get('namespace', '')}:{meta.get('name')}-runner"


def review_create(new: dict[str, Any]) -> list[str]:
    return transitions.review_create(new)


def review_update(old: dict[str, Any], new: dict[str, Any], *, user: str = "") -> list[str]:
    """Error messages (empty: allowed) for an update of a FlowRun's main resource."""
    return transitions.review_update(old, new, runner_of_run=bool(user) and user == runner_account(new))
