"""The operator following a live attempt: its Job must exist (and be the one it
created), its pod must be able to run, and a pod lost without the runner reporting an
end starts the next attempt. Also the answer to an API server refusing the Job.

It exists apart from operator.py's rules so that each reads on its own; operator.py's
last rule is `follow_attempt`. It must never do I/O or read a clock, and never import
the runner's or people's rules.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..phases import Phase, State
from ..status import clip, history_patch, phase_patch
from .steps import CreateJob, DeleteJobs, PatchChildren, Step, Wait, Write, end_status
from .view import RunView
from .vocabulary import ANNOTATION_SUSPENDED_WITH_PARENT, CONFLICT, INFRASTRUCTURE_REFUSED, POD_LOSSES_EXHAUSTED
from .world import Policy, World


@dataclass(frozen=True)
class Situation:
    """What every operator rule decides from: the run, the world, the settings and
    the time."""

    run: RunView
    world: World
    policy: Policy
    now: datetime


def terminal(phase: str) -> bool:
    """A child's phase (as its view gives it) is a final one."""
    return bool(phase) and Phase(phase).terminal


def live_jobs(world: World) -> tuple[str, ...]:
    return tuple(j.name for j in world.jobs if not j.deleting)


def follow_attempt(s: Situation) -> Step:
    """A live attempt: children suspended with the run come back with it, Jobs of
    earlier attempts go, its Job is created (once), and its pod must be able to run."""
    run, world, now = s.run, s.world, s.now
    attempt = run.attempt
    # Children suspended along with this run come back with it.
    if run.state is State.RUNNING:
        # A child that waited at a pause of its own keeps waiting there, suspended at it:
        # resuming it past that pause is for the people it waits for.
        patches = tuple(
            (c.name, {"metadata": {"annotations": {ANNOTATION_SUSPENDED_WITH_PARENT: None}},
                      **({} if c.waiting else {"spec": {"state": State.RUNNING.value}})})
            for c in world.children
            if c.linked and c.suspended_with_parent and c.state == State.SUSPENDED.value
            and not terminal(c.phase))
        if patches:
            return PatchChildren(patches)
    # Jobs of earlier attempts go (a lost attempt's, or one left by a crash).
    old = tuple(j.name for j in world.jobs if j.attempt < attempt and not j.deleting)
    if old:
        return DeleteJobs(old)
    job = next((j for j in world.jobs if j.attempt == attempt and not j.deleting), None)
    recorded_uid = run.job_uid
    # No Job: create it, unless the one we created was deleted under the run.
    if job is None:
        if recorded_uid:
            return _lost(s, f"its Job {run.job_name} was deleted while the run was "
                            f"{(run.phase or Phase.PENDING).value}")
        if any(p.alive for p in world.pods if p.attempt != attempt):
            return Wait("the pods of an earlier attempt are still stopping")
        return CreateJob(attempt)
    if recorded_uid and job.uid != recorded_uid:
        return _lost(s, f"its Job {job.name} was replaced")
    if not recorded_uid:
        return Write(status={"jobUID": job.uid})
    # The Job ended but the runner did not report an end: the pod was lost.
    if job.finished:
        detail = "; ".join(p.detail for p in world.pods if p.attempt == attempt and p.detail) or \
            f"Job {job.name} {job.finished}"
        return _lost(s, detail)
    # Its pod cannot start (bad image, bad configuration): say so, then fail.
    for pod in world.pods:
        if pod.attempt != attempt:
            continue
        if pod.problem:
            since = pod.problem_since or now
            give_up = since + timedelta(seconds=s.policy.image_pull_grace_seconds)
            if give_up <= now:
                return Write(status=end_status(run.status, Phase.FAILED, INFRASTRUCTURE_REFUSED, pod.problem,
                                               action="failed", by="operator", now=now))
            return _blocked(run, pod.problem_reason, pod.problem, now, until=give_up)
        if pod.unschedulable:
            since = pod.unschedulable_since or now
            speak_at = since + timedelta(seconds=s.policy.unschedulable_grace_seconds)
            if speak_at > now:
                return Wait("the scheduler may place the pod once its claim is bound", until=speak_at)
            return _blocked(run, "Unschedulable", f"The runner pod cannot be scheduled: {pod.unschedulable}", now)
    return None


def _blocked(run: RunView, reason: str, message: str, now: datetime, *, until: datetime | None = None) -> Wait:
    """Wait, showing why the run makes no progress (once: not rewritten while unchanged)."""
    if run.message == clip(message, 1024):
        return Wait(message, until=until)
    patch = phase_patch(run.status, (run.phase or Phase.PENDING).value, message, when=now, blocked=reason)
    patch["history"] = history_patch(run.status, "blocked", by="operator", message=message, when=now)
    return Wait(message, until=until, status=patch)


def _lost(s: Situation, detail: str) -> Write:
    """The attempt's pod is gone without the runner reporting an end: start the next
    attempt (it re-executes from the result cache and re-establishes a pause at the same
    key and deadline), or fail once the run has lost more pods than it may."""
    run, now = s.run, s.now
    losses = run.pod_losses + 1
    limit = run.max_pod_losses if run.max_pod_losses is not None else s.policy.max_pod_losses
    if losses > limit:
        message = (f"The runner pod was lost {losses} times, more than spec.maxPodLosses "
                   f"({limit}) allows; last: {detail}")
        return Write(status=end_status(run.status, Phase.FAILED, POD_LOSSES_EXHAUSTED, message, action="failed",
                                       by="operator", now=now))
    attempt = run.attempt + 1
    message = f"The runner pod was lost ({detail}); starting attempt {attempt} from the result cache"
    patch = phase_patch(run.status, Phase.PENDING.value, message, when=now, attempt=attempt,
                        jobName=s.policy.job_name(run.name, attempt), jobUID="", podLosses=losses)
    patch["history"] = history_patch(run.status, "pod-lost", by="operator", message=detail, when=now)
    return Write(status=patch)


def job_refused(obj: Mapping[str, Any], code: int, message: str, now: datetime) -> Write | Wait:
    """The API server refused the attempt's Job. Invalid (400/422): it never will be
    valid, the run fails. Forbidden (a quota, missing rights): say why and wait; the
    controller retries with backoff."""
    run = RunView.of(obj)
    if run.phase is None or run.terminal:
        return Wait("finished")
    if code in (400, 422):
        return Write(status=end_status(run.status, Phase.FAILED, INFRASTRUCTURE_REFUSED,
                                       f"The runner Job is invalid: {message}", action="failed",
                                       by="operator", now=now))
    reason = "QuotaExceeded" if "quota" in message.lower() else "JobRefused"
    return _blocked(run, reason, f"The runner Job cannot be created: {message}", now)


def job_conflict(obj: Mapping[str, Any], message: str, now: datetime) -> Write | Wait:
    """An object the attempt needs exists under its name but belongs to someone else
    (contract/ownership.py): the run fails with the reason Conflict, naming it; it is
    never adopted."""
    run = RunView.of(obj)
    if run.phase is None or run.terminal:
        return Wait("finished")
    return Write(status=end_status(run.status, Phase.FAILED, CONFLICT, message, action="failed",
                                   by="operator", now=now))
