"""The reconcile's adapters: what the API server's objects (Jobs, pods, linked child
runs) say, read into the contract's typed views (pure functions, no I/O, no decision).

controller/reconcile.py and the watch cache (cache.py) read the world through these;
what to do about it is contract/lifecycle/'s.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..contract.lifecycle.view import is_linked_child, waits_for_a_person
from ..contract.lifecycle.vocabulary import ANNOTATION_SUSPENDED_WITH_PARENT
from ..contract.lifecycle.world import ChildView, JobView, PodView
from ..contract.constants import LABEL_ATTEMPT, LABEL_PARENT, LABEL_STARTED_BY
from ..contract.phases import Phase
from ..contract.lifecycle.vocabulary import now
from ..contract.status import parse_timestamp

# Waiting reasons of a container that will not fix themselves soon.
_IMAGE_ERRORS = {"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"}
_CONFIG_ERRORS = {"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}


def _attempt_label(obj: dict[str, Any]) -> int:
    value = (obj["metadata"].get("labels") or {}).get(LABEL_ATTEMPT, "0")
    return int(value) if value.isdigit() else 0


def job_view(job: dict[str, Any]) -> JobView:
    finished = None
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in ("Complete", "Failed"):
            finished = cond["type"]
    return JobView(name=job["metadata"]["name"], attempt=_attempt_label(job),
                     uid=job["metadata"].get("uid", ""), finished=finished,
                     deleting=bool(job["metadata"].get("deletionTimestamp")))


def pod_view(pod: dict[str, Any]) -> PodView:
    status = pod.get("status") or {}
    problem, reason = pod_problem(pod)
    unschedulable, unschedulable_since = "", None
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False" \
                and cond.get("reason") == "Unschedulable":
            unschedulable = cond.get("message", "Unschedulable")
            unschedulable_since = parse_timestamp(cond.get("lastTransitionTime"))
    return PodView(name=pod["metadata"]["name"], attempt=_attempt_label(pod),
                     alive=status.get("phase") not in ("Succeeded", "Failed"),
                     problem=problem, problem_reason=reason,
                     problem_since=parse_timestamp(pod["metadata"].get("creationTimestamp")),
                     unschedulable=unschedulable, unschedulable_since=unschedulable_since,
                     detail=pod_exit_detail(pod))


def child_view(child: dict[str, Any], parent: dict[str, Any]) -> ChildView:
    owned = any(ref.get("controller") and ref.get("uid") == parent["metadata"].get("uid")
                for ref in child["metadata"].get("ownerReferences") or [])
    annotations = child["metadata"].get("annotations") or {}
    return ChildView(
        name=child["metadata"]["name"], linked=owned and is_linked_child(child),
        phase=(child.get("status") or {}).get("phase") or "",
        state=(child.get("spec") or {}).get("state", "Running"),
        suspended_with_parent=annotations.get(ANNOTATION_SUSPENDED_WITH_PARENT) == parent["metadata"]["name"],
        waiting=waits_for_a_person(child))


def pod_problem(pod: dict[str, Any]) -> tuple[str, str]:
    """(message, reason) when a pod is stuck in a way that waiting will not fix soon."""
    status = pod.get("status") or {}
    for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in _IMAGE_ERRORS:
            return (f"Image {cs.get('image')!r} cannot be pulled ({reason}): "
                    f"{waiting.get('message', '').strip()}").strip(), reason
        if reason in _CONFIG_ERRORS:
            return (f"The runner container cannot start ({reason}): "
                    f"{waiting.get('message', '').strip()}"), reason
    return "", ""


def pod_exit_detail(pod: dict[str, Any]) -> str:
    status = pod.get("status") or {}
    name = pod["metadata"]["name"]
    if pod["metadata"].get("deletionTimestamp") and status.get("phase") not in ("Succeeded", "Failed"):
        return f"pod {name} deleted"
    if status.get("reason"):
        return f"pod {name}: {status.get('reason')} {status.get('message', '')}".strip()
    for cond in status.get("conditions") or []:
        if cond.get("type") == "DisruptionTarget" and cond.get("status") == "True":
            return f"pod {name}: {cond.get('reason', 'disrupted')} {cond.get('message', '')}".strip()
    for cs in status.get("containerStatuses") or []:
        term = (cs.get("state") or {}).get("terminated")
        if term:
            return f"pod {name}: {term.get('reason', 'Terminated')} (exit code {term.get('exitCode')})"
    return ""


def parent_of(obj: dict[str, Any]) -> str:
    """The run that started this one with run_flow (linked or not), or ""."""
    labels = obj["metadata"].get("labels") or {}
    return labels.get(LABEL_PARENT) or labels.get(LABEL_STARTED_BY) or ""


def finished_at(obj: dict[str, Any]) -> datetime:
    """When a finished run ended: status.completionTime, else its last history entry."""
    status = obj.get("status") or {}
    history = status.get("history") or []
    return (parse_timestamp(status.get("completionTime"))
            or (parse_timestamp(history[-1].get("time")) if history else None)
            or now())


def finished_expiry(obj: dict[str, Any], default_ttl: int | None) -> datetime | None:
    """When a finished FlowRun is due for deletion, if ever: its end plus
    spec.ttlSecondsAfterFinished (else the operator's default). A linked subflow has
    none of its own: it goes with its parent, whose re-execution may still need it."""
    phase = (obj.get("status") or {}).get("phase")
    if not phase or not Phase(phase).terminal:
        return None
    if (obj["metadata"].get("labels") or {}).get(LABEL_PARENT):
        return None
    ttl = (obj.get("spec") or {}).get("ttlSecondsAfterFinished")
    ttl = default_ttl if ttl is None else ttl
    if ttl is None:
        return None
    return finished_at(obj) + timedelta(seconds=int(ttl))
