"""Who is who: a run's own pod's user name, who created a FlowRun, and whether a FlowRun
that says it is a run's child was really made by that run's pod.

Who created a FlowRun is the API server's userinfo of the create request, recorded in
`flowrun.io/created-by` by the mutating webhook; the chart's ValidatingAdmissionPolicy
(`<release>-records`, run by the API server itself, so it holds while the webhook is down
and cannot be called from outside) refuses any other value on create and any change
afterwards. So the record is either absent or true.

Pure functions, no I/O.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .constants import LABEL_PARENT, LABEL_STARTED_BY
from .objects import Meta

ANNOTATION_CREATED_BY = "flowrun.io/created-by"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
RUNNER_ACCOUNT_SUFFIX = "-runner"


def run_account(namespace: str, run: str) -> str:
    """The Kubernetes user of a run's own pod (its ServiceAccount `<run>-runner`)."""
    return f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{run}{RUNNER_ACCOUNT_SUFFIX}"


def is_run_account(user: str, namespace: str) -> str | None:
    """The run whose own ServiceAccount `user` is named like (`<run>-runner` in
    `namespace`), else None. The caller confirms that run exists."""
    prefix = f"{SERVICE_ACCOUNT_PREFIX}{namespace}:"
    if user.startswith(prefix) and user.endswith(RUNNER_ACCOUNT_SUFFIX):
        return user[len(prefix):-len(RUNNER_ACCOUNT_SUFFIX)] or None
    return None


def created_by(obj: Mapping[str, Any]) -> str:
    """Who created the run ("" when the API server recorded nobody)."""
    return str(Meta.of(obj).annotations.get(ANNOTATION_CREATED_BY) or "")


def claimed_parent(child: Mapping[str, Any]) -> str:
    """The run a FlowRun says started it (linked or independent), "" for none."""
    labels = Meta.of(child).labels
    return str(labels.get(LABEL_PARENT) or labels.get(LABEL_STARTED_BY) or "")


def origin_refusal(child: Mapping[str, Any]) -> str:
    """Why a FlowRun that says it is a run's child was not made by that run's own pod ("" when
    it was, or says nothing). Such a FlowRun is not started, and nothing of it reaches the
    run it names: otherwise a person who may create FlowRuns could hand a parent's
    run_flow a result of her choosing (issue 22)."""
    parent = claimed_parent(child)
    if not parent:
        return ""
    who = created_by(child)
    if who == run_account(Meta.of(child).namespace, parent):
        return ""
    if not who:
        return (f"not created by the pod of run {parent} as far as the API server recorded (no "
                "flowrun.io/created-by: made while the admission webhook was unreachable?): it is not started "
                "and its parent receives nothing from it; delete it and let its parent create it again")
    return (f"not created by the pod of run {parent} but by {who}: only a run's own pod starts its subflows, "
            "so this one is not started and its parent receives nothing from it")
