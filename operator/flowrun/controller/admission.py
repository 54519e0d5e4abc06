"""What the admission webhook allows: pure functions of the old and new FlowRun.

The API server asks before it stores a change, so a refused change leaves the run
exactly as it was and the user sees the reason at once (`kubectl patch` prints it).
The rules come from the contract (the state table, the input schema check); the
operator applies the same rules again when it acts, so an unreachable webhook
(failurePolicy Ignore) never lets invalid input resume a run.
"""
from __future__ import annotations

import json
from typing import Any

from ..contract.constants import LABEL_PARENT, MAX_OBJECT_BYTES
from ..contract.inputs import input_errors
from ..contract.phases import InvalidTransition, Phase, State, check_state_change

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
