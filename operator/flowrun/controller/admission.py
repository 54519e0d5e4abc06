"""What the admission webhook allows: pure functions of the old and new FlowRun.

The API server asks before it stores a change, so a refused change leaves the run
exactly as it was and the user sees the reason at once (`kubectl patch` prints it).
The rules come from the contract (the state table, the input schema check); the
operator applies the same rules again when it acts, so an unreachable webhook
(failurePolicy Ignore) never lets invalid input resume a run.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..contract import template_policy as policy
from ..contract.children import child_errors
from ..contract.constants import LABEL_PARENT, MAX_OBJECT_BYTES
from ..contract.inputs import input_errors
from ..contract.phases import InvalidTransition, Phase, State, check_state_change
from .resources import cache_claim_name

SUBFLOW_SUSPEND_MESSAGE = ("cannot suspend a subflow independently of its parent; "
                           "start it with as_subflow=False")
# Set on a linked child by the operator when it suspends it along with its parent.
ANNOTATION_SUSPENDED_WITH_PARENT = "flowrun.io/suspended-with-parent"


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode())


def review_create(new: dict[str, Any]) -> list[str]:
    spec = new.get("spec") or {}
    errors = []
    for field in ("parameters", "input"):
        if spec.get(field) is not None and _size(spec[field]) > MAX_OBJECT_BYTES:
            errors.append(f"spec.{field}: {_size(spec[field])} bytes serialised, more than "
                          f"the {MAX_OBJECT_BYTES} allowed")
    return errors


def review_update(old: dict[str, Any], new: dict[str, Any], *, user: str = "") -> list[str]:
    """Error messages (empty: allowed) for an update of a FlowRun's main resource."""
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    status = old.get("status") or {}
    phase = status.get("phase")
    old_state = old_spec.get("state", State.RUNNING.value)
    new_state = new_spec.get("state", State.RUNNING.value)
    errors = review_create(new)
    input_changed = new_spec.get("input") != old_spec.get("input")

    if phase and Phase(phase).terminal and (old_state != new_state or
                                            (input_changed and new_spec.get("input") is not None)):
        return errors + [f"FlowRun is {phase}; it can no longer be resumed, paused or suspended"]
    try:
        check_state_change(old_state, new_state, phase)
    except InvalidTransition as exc:
        errors.append(str(exc))
        return errors

    is_linked_child = bool((new.get("metadata", {}).get("labels") or {}).get(LABEL_PARENT)) and \
        any(ref.get("controller") for ref in new.get("metadata", {}).get("ownerReferences") or [])
    by_parent = (new.get("metadata", {}).get("annotations") or {}).get(ANNOTATION_SUSPENDED_WITH_PARENT)
    runner_account = ":".join(["system", "serviceaccount", new["metadata"].get("namespace", ""),
                               f"{new['metadata'].get('name')}-runner"])
    if (new_state == State.SUSPENDED.value and old_state != new_state and is_linked_child
            and not by_parent and user != runner_account):
        errors.append(SUBFLOW_SUSPEND_MESSAGE)

    resuming = new_state == State.RUNNING.value and old_state in (State.PAUSED.value, State.SUSPENDED.value)
    if resuming and phase in (Phase.PAUSED.value, Phase.SUSPENDED.value):
        schema = (status.get("pause") or {}).get("inputSchema")
        problems = input_errors(schema, new_spec.get("input"))
        if problems:
            errors.append("input does not match what the run waits for: " + "; ".join(
                f"spec.input.{p}" if not p.startswith("(input)") else f"spec.input{p[7:]}" for p in problems))
    elif (input_changed and new_spec.get("input") is not None and new_state == State.RUNNING.value
          and old_state == State.RUNNING.value):
        errors.append(f"FlowRun is not paused or suspended (phase {phase or 'Pending'}); "
                      "there is nothing to resume with input")
    return errors


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
    old_template = ((old or {}).get("spec") or {}).get("template")
    if old is not None and template == old_template:
        # Unchanged: the approval stays what the webhook made it (a client's own edit undone).
        return [], ((old.get("metadata") or {}).get("annotations") or {}).get(policy.ANNOTATION_TEMPLATE_APPROVAL)
    reaches = policy.reaches_further(template, cache_claim=cache_claim_name(new))
    sign = (lambda: policy.sign(key, meta.get("namespace", ""), meta.get("name", ""), template)) if key else (lambda: None)

    if own_run is not None:
        if old is not None:
            return ["a run's ServiceAccount may not change spec.template"], None
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
