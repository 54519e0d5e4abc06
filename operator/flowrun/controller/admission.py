"""What the admission webhook allows: the contract's rules, asked before the API server
stores a change, so a refused change leaves the run exactly as it was and the user sees
the reason at once (`kubectl patch` prints it).

The rules themselves live in contract/lifecycle/people.py (`review_create`,
`review_update`); this module only says who is asking. The operator and the runner
apply the same rules again when they act, so an unreachable webhook (failurePolicy
Ignore) never lets invalid input resume a run.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..contract import template_policy as policy
from ..contract.children import child_errors
from ..contract.lifecycle import people
from ..contract.lifecycle.vocabulary import ANNOTATION_SUSPENDED_WITH_PARENT, SUBFLOW_SUSPEND_MESSAGE
from .resources import cache_claim_name

__all__ = ["ANNOTATION_SUSPENDED_WITH_PARENT", "SUBFLOW_SUSPEND_MESSAGE", "review_create", "review_template",
           "review_update", "runner_account"]


def runner_account(obj: dict[str, Any]) -> str:
    """The Kubernetes user name of a run's own runner (its pod's ServiceAccount)."""
    meta = obj.get("metadata") or {}
    return f"system:serviceaccount:{meta.get('namespace', '')}:{meta.get('name')}-runner"


def review_create(new: dict[str, Any]) -> list[str]:
    return people.review_create(new)


def review_update(old: dict[str, Any], new: dict[str, Any], *, user: str = "") -> list[str]:
    """Error messages (empty: allowed) for an update of a FlowRun's main resource."""
    return people.review_update(old, new, runner_of_run=bool(user) and user == runner_account(new))


# ---- spec.template and children: who may ask for what ---------------------------------

def review_template(
    new: dict[str, Any], old: dict[str, Any] | None, *, user: str,
    own_run: dict[str, Any] | None, can_create_pods: Callable[[], tuple[bool, str]], key: bytes | None,
) -> tuple[list[str], str | None]:
    """The template and origin rules of a CREATE or UPDATE: (errors, the approval
    signature to store, None to remove any). `own_run` is the FlowRun whose own
    ServiceAccount `user` is (flow code acting), else None. `can_create_pods()` asks the
    API server whether `user` may create pods in the namespace (called only when needed).

    - A person may ask for a template beyond the allow-list only if they may create pods.
    - A run's ServiceAccount may create only its own children (contract/children.py), with
      a template no wider than its own, and may never change a template.
    """
    meta = new.get("metadata") or {}
    template = (new.get("spec") or {}).get("template")
    if old is not None and policy.pod_shape(new.get("spec")) == policy.pod_shape(old.get("spec")):
        # Unchanged: the approval stays what the webhook made it (a client's own edit undone).
        return [], ((old.get("metadata") or {}).get("annotations") or {}).get(policy.ANNOTATION_TEMPLATE_APPROVAL)
    reaches = policy.reaches_further(template, cache_claim=cache_claim_name(new))
    spec = new.get("spec")
    sign = (lambda: policy.sign(key, meta.get("namespace", ""), meta.get("name", ""), spec)) if key else (lambda: None)

    if own_run is not None:
        if old is not None:
            return ["a run's ServiceAccount may not change spec.template, spec.image or spec.cache"], None
        errors = child_errors(new, own_run)
        wider = policy.no_wider_than(template, (own_run.get("spec") or {}).get("template"),
                                     child_claim=cache_claim_name(new), parent_claim=cache_claim_name(own_run))
        if wider:
            errors.append("a run's ServiceAccount may not start a child whose spec.template reaches further "
                          f"than its own: {'; '.join(wider)}")
        if errors:
            return errors, None
        if reaches and not policy.approved(key, own_run):
            return [f"spec.template reaches beyond what a FlowRun may change ({'; '.join(reaches)}), "
                    "and the starting run's own template was not approved"], None
        return [], sign() if reaches else None

    if not reaches:
        return [], None
    allowed, reason = can_create_pods()
    if not allowed:
        return [policy.refusal(reaches, user=user, allowed=False, reason=reason)], None
    return [], sign()
