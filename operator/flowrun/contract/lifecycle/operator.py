"""The operator's rules: its next single step for a run.

`operator_step(obj, world, policy, now)` returns one compare-and-swap write of the
FlowRun, or one effect on the world (create the attempt's Job, delete Jobs, patch
linked children), or None when the run is converged. The controller applies one step,
reads again, and asks again; so a crash between any two steps leaves a state from which
the next reconcile continues.

It must never do I/O or read a clock (`now` is an argument, the world a plain value),
and never import the runner's or people's rules.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from .. import approvals
from ..audit import UNKNOWN, actor
from ..constants import LABEL_PARENT, LABEL_STARTED_BY
from ..inputs import input_errors
from ..models import FlowRun
from ..phases import PauseKind, Phase, State
from ..status import clip, history_patch, keys_add, parse_timestamp, phase_patch, timestamp
from .steps import CreateJob, DeleteJobs, PatchChildren, Step, Wait, Write, end_status as _end
from .view import _status, _spec, is_linked_child, pause_deadline, pending_pause
from .vocabulary import (
    ANNOTATION_CANCELLED_WITH_PARENT,
    ANNOTATION_SUSPENDED_WITH_PARENT,
    CANCELLED,
    CONFLICT,
    DEADLINE_EXCEEDED,
    INFRASTRUCTURE_REFUSED,
    POD_LOSSES_EXHAUSTED,
    REMOVE_JOBS,
    UNATTRIBUTED_CHILD,
)
from .world import Policy, World

def idle_suspension_due(obj: Mapping[str, Any], policy: Policy) -> datetime | None:
    """When a paused run turns into a suspension of the same pause, if ever:
    spec.suspendAfterSeconds, else the pause's suspend_after, else the operator's
    default. Linked children never: their parent takes them along."""
    status, spec = _status(obj), _spec(obj)
    if status.get("phase") != Phase.PAUSED.value or is_linked_child(obj):
        return None
    pause = status.get("pause") or {}
    if pause.get("kind") != PauseKind.PAUSE.value:
        return None
    after = spec.get("suspendAfterSeconds") or pause.get("suspendAfterSeconds") or policy.suspend_after_seconds
    since = parse_timestamp(pause.get("since"))
    if not after or since is None:
        return None
    return since + timedelta(seconds=int(after))


def next_due(obj: Mapping[str, Any], policy: Policy) -> datetime | None:
    """The next moment at which the operator must act on a run by itself."""
    times = [t for t in (pause_deadline(obj), idle_suspension_due(obj, policy)) if t is not None]
    return min(times) if times else None


# ---- the operator ------------------------------------------------------------------------

def operator_step(obj: Mapping[str, Any], world: World, policy: Policy, now: datetime) -> Step:
    """The operator's next single step for this run; None when nothing is left to do."""
    run = FlowRun.from_body(obj)
    status = _status(obj)
    if run.deleting:
        return None
    # 1. A new FlowRun: record it (created suspended, or cancelled, starts no Job).
    if run.phase is None:
        return _created(obj, run, status, policy, now)
    # 2. Finished: only tidy up (Jobs that must not run on, linked children).
    if run.phase.terminal:
        return _finished(run, status, world)
    # 3. Cancelled by a person: the run ends; step 2 then removes its Job and children.
    if run.spec.state is State.CANCELLED:
        reason = run.spec.reason.strip()
        message = "Cancelled" + (f": {reason}" if reason else "")
        return Write(status=_end(status, Phase.CANCELLED, CANCELLED, message, action="cancelled",
                                 by=actor(obj), key=(status.get("pause") or {}).get("key", ""), now=now))
    # 4. A pause or suspension past its deadline fails the run.
    deadline = pause_deadline(obj)
    if deadline is not None and deadline <= now:
        pause = status.get("pause") or {}
        verb = "paused" if run.phase is Phase.PAUSED else "suspended"
        message = (f"Flow run was {verb} and never resumed: no resume within "
                   f"{pause.get('timeoutSeconds')}s of {verb} at {pause.get('key')}")
        return Write(status=_end(status, Phase.FAILED, DEADLINE_EXCEEDED, message, action="timed-out",
                                 by="operator", key=pause.get("key", ""), now=now))
    # 4a. Approvals of the pause the run waits at: count those the webhook signed; a
    #     resume short of the quorum is put back, saying what is missing.
    counted = _approvals(obj, run, status, policy, now)
    if counted is not None:
        return counted
    # 5. A suspension asked for (by the flow or a person) while something runs.
    if run.spec.state is State.SUSPENDED and run.phase is not Phase.SUSPENDED:
        return Write(status=_suspension(obj, run, status, policy, now, idle=False))
    # 6. Suspended: nothing may run; a resume starts the next attempt.
    if run.phase is Phase.SUSPENDED:
        return _while_suspended(obj, run, status, world, policy, now)
    # 7. A pause idle for its suspend-after time becomes a suspension of the same pause.
    due = idle_suspension_due(obj, policy)
    if due is not None and due <= now:
        return Write(status=_suspension(obj, run, status, policy, now, idle=True))
    # 8. A live attempt: its Job must exist and its pod must be able to run.
    return _follow_attempt(obj, run, status, world, policy, now)


def _created(obj: Mapping[str, Any], run: FlowRun, status: Mapping[str, Any], policy: Policy, now: datetime) -> Write | Wait:
    by = actor(obj)
    labels = run.labels
    if (labels.get(LABEL_PARENT) or labels.get(LABEL_STARTED_BY)) and by == UNKNOWN:
        if status.get("message") == UNATTRIBUTED_CHILD:
            return Wait(UNATTRIBUTED_CHILD)
        return Write(status={"message": UNATTRIBUTED_CHILD})
    if run.spec.state is State.CANCELLED:
        return Write(status=_end(status, Phase.CANCELLED, CANCELLED, "Cancelled before it started",
                                 action="cancelled", by=by, now=now))
    if run.spec.state is State.SUSPENDED:
        patch = phase_patch(status, Phase.SUSPENDED.value,
                            "Created suspended: set spec.state to Running to start it",
                            when=now, attempt=0, jobName="")
        patch["history"] = history_patch(status, "created-suspended", by=by, when=now)
        return Write(status=patch)
    patch = phase_patch(status, Phase.PENDING.value, "Starting attempt 1", when=now, attempt=1,
                        jobName=policy.job_name(run.name, 1))
    patch["history"] = history_patch(status, "created", by=by, when=now)
    return Write(status=patch)


def _finished(run: FlowRun, status: Mapping[str, Any], world: World) -> Step:
    if run.phase is Phase.CANCELLED or status.get("reason") in REMOVE_JOBS:
        live = tuple(j.name for j in world.jobs if not j.deleting)
        if live:
            return DeleteJobs(live)
    if run.phase is Phase.CANCELLED:
        patches = tuple(
            (c.name, {"metadata": {"annotations": {ANNOTATION_CANCELLED_WITH_PARENT: run.name}},
                      "spec": {"state": State.CANCELLED.value,
                               "reason": f"its parent {run.name} was cancelled"}})
            for c in world.children
            if c.linked and not _terminal(c.phase) and c.state != State.CANCELLED.value)
        if patches:
            return PatchChildren(patches)
    return None


def _terminal(phase: str) -> bool:
    return bool(phase) and Phase(phase).terminal


def _suspension(obj: Mapping[str, Any], run: FlowRun, status: Mapping[str, Any], policy: Policy, now: datetime, *, idle: bool) -> dict[str, Any]:
    """Status of a run suspended now. A pause it waits at (or must re-establish) is kept:
    same key, deadline, input schema and approvers, so resuming it needs exactly what
    resuming the pause needed."""
    pause = pending_pause(obj)
    history = None
    if pause is not None:
        flow_suspended = pause.get("kind") == PauseKind.SUSPEND.value and pause.get("requestedBy") == "flow"
        pause = {**pause, "kind": PauseKind.SUSPEND.value}
        key = pause["key"]
        if flow_suspended:
            message = f"Suspended at {key} by the flow; resume with spec.state=Running"
        elif idle:
            message = (f"Suspended at {key} after waiting "
                       f"{int((now - (parse_timestamp(pause.get('since')) or now)).total_seconds())} s "
                       "(suspendAfterSeconds): its pod is freed; resume it as you would the pause")
            history = history_patch(status, "suspended", by="operator", key=key,
                                    message="idle pause suspended", when=now)
        else:
            message = f"Suspended while waiting at {key}; resume it as you would the pause"
            history = history_patch(status, "suspended", by=actor(obj), key=key, when=now)
    else:
        timeout = policy.default_timeout_seconds
        key = f"external-suspend-{int(status.get('attempt') or 0)}"
        pause = {"key": key, "kind": PauseKind.SUSPEND.value, "since": timestamp(now),
                 "timeoutSeconds": timeout, "deadline": timestamp(now + timedelta(seconds=timeout)),
                 "inputSchema": None, "requestedBy": "user", "generation": run.generation}
        message = "Suspended from outside; resume with spec.state=Running"
        history = history_patch(status, "suspended", by=actor(obj), key=key, when=now)
    patch = phase_patch(status, Phase.SUSPENDED.value, message, when=now, pause=pause,
                        jobName="", jobUID="")
    if history is not None:
        patch["history"] = history
    return patch


def _approvals(obj: Mapping[str, Any], run: FlowRun, status: Mapping[str, Any], policy: Policy, now: datetime) -> Write | None:
    pause = pending_pause(obj)
    rule = approvals.approval_of(pause)
    if pause is None or rule is None or run.phase not in (Phase.PAUSED, Phase.SUSPENDED):
        return None
    key = pause["key"]
    have = {a.get("by") for a in rule.get("approvals") or []}
    fresh = [e for e in approvals.verified(obj, key, policy.approval_secret) if e["by"] not in have]
    if fresh:
        history = {"history": status.get("history")}
        for entry in fresh:
            history["history"] = history_patch(history, "approved", by=entry["by"], key=key, when=now,
                                               message=f"approval {len(have) + 1} of {rule.get('required', 1)}",
                                               groups=entry.get("groups"))
            have.add(entry["by"])
        rule["approvals"] = [*(rule.get("approvals") or []), *fresh]
        return Write(status={"pause": {**pause, "approval": rule}, "history": history["history"],
                             "message": clip(f"Waiting at {key}: {approvals.count(rule)} of "
                                             f"{rule.get('required', 1)} approvals", 1024)})
    resumed = run.spec.state is State.RUNNING and run.generation > int(pause.get("generation") or 0) \
        and run.generation != pause.get("rejectedGeneration")
    if resumed and not approvals.complete(rule):
        back = State.PAUSED if run.phase is Phase.PAUSED else State.SUSPENDED
        message = (f"Resume of {key} not counted: it needs {rule.get('required', 1)} approvals by "
                   f"{approvals.who_may(rule)}, {approvals.count(rule)} given (a change made without the "
                   "admission webhook cannot be attributed)")
        return Write(status={"message": clip(message, 1024), "pause": {**pause, "rejectedGeneration": run.generation},
                             "history": history_patch(status, "resume-rejected", by=actor(obj), key=key,
                                                      message="approvals missing", when=now)},
                     spec={"spec": {"state": back.value}})
    return None


def _while_suspended(obj: Mapping[str, Any], run: FlowRun, status: Mapping[str, Any], world: World, policy: Policy, now: datetime) -> Step:
    # a. No Job may be left (the operator may have stopped right after recording).
    #    (Approvals were counted in step 4a, before any of this.)
    live = tuple(j.name for j in world.jobs if not j.deleting)
    if live:
        return DeleteJobs(live)
    # b. Linked children are suspended with their parent.
    patches = tuple(
        (c.name, {"metadata": {"annotations": {ANNOTATION_SUSPENDED_WITH_PARENT: run.name}},
                  "spec": {"state": State.SUSPENDED.value}})
        for c in world.children
        if c.linked and not _terminal(c.phase) and c.state not in (State.SUSPENDED.value, State.CANCELLED.value))
    if patches:
        return PatchChildren(patches)
    # c. A resume: judge its input, then start the next attempt once no pod is left.
    if run.spec.state is not State.RUNNING:
        return None
    pause = pending_pause(obj)
    if pause is not None:
        errors = input_errors(pause.get("inputSchema"), run.spec.input)
        if errors:
            message = f"Resume rejected, input is invalid: {'; '.join(errors)}"
            back = {"spec": {"state": State.SUSPENDED.value}}
            if pause.get("rejectedGeneration") == run.generation:
                return Write(spec=back)
            patch = {"message": clip(message, 1024),
                     "pause": {**pause, "rejectedGeneration": run.generation},
                     "history": history_patch(status, "resume-rejected", by=actor(obj),
                                              key=pause["key"], message="; ".join(errors), when=now)}
            return Write(status=patch, spec=back)
    if any(p.alive for p in world.pods):
        return Wait("the pods of the suspended attempt are still stopping")
    attempt = int(status.get("attempt") or 0) + 1
    fields: dict[str, Any] = {"attempt": attempt, "jobName": policy.job_name(run.name, attempt),
                              "jobUID": "", "startTime": status.get("startTime")}
    if pause is not None:
        key = pause["key"]
        fields["resumed"] = keys_add(status.get("resumed"), key)
        if run.spec.input is not None:
            fields["inputs"] = {key: run.spec.input}
        history = history_patch(status, "resumed", by=actor(obj), key=key, when=now, given=run.spec.input)
        message = f"Resumed from {key}; starting attempt {attempt}"
    else:
        history = history_patch(status, "started" if attempt == 1 else "resumed", by=actor(obj), when=now)
        message = f"Starting attempt {attempt}"
    if fields["startTime"] is None:
        fields.pop("startTime")
    patch = phase_patch(status, Phase.PENDING.value, message, when=now, **fields)
    patch["history"] = history
    return Write(status=patch)


def _follow_attempt(obj: Mapping[str, Any], run: FlowRun, status: Mapping[str, Any], world: World, policy: Policy, now: datetime) -> Step:
    attempt = int(status.get("attempt") or 0)
    # a. Children suspended along with this run come back with it.
    if run.spec.state is State.RUNNING:
        # A child that waited at a pause of its own keeps waiting there, suspended at it:
        # resuming it past that pause is for the people it waits for.
        patches = tuple(
            (c.name, {"metadata": {"annotations": {ANNOTATION_SUSPENDED_WITH_PARENT: None}},
                      **({} if c.waiting else {"spec": {"state": State.RUNNING.value}})})
            for c in world.children
            if c.linked and c.suspended_with_parent and c.state == State.SUSPENDED.value
            and not _terminal(c.phase))
        if patches:
            return PatchChildren(patches)
    # b. Jobs of earlier attempts go (a lost attempt's, or one left by a crash).
    old = tuple(j.name for j in world.jobs if j.attempt < attempt and not j.deleting)
    if old:
        return DeleteJobs(old)
    job = next((j for j in world.jobs if j.attempt == attempt and not j.deleting), None)
    recorded_uid = status.get("jobUID") or ""
    # c. No Job: create it, unless the one we created was deleted under the run.
    if job is None:
        if recorded_uid:
            return _lost(obj, run, status, policy, now,
                         f"its Job {status.get('jobName')} was deleted while the run was {(run.phase or Phase.PENDING).value}")
        if any(p.alive for p in world.pods if p.attempt != attempt):
            return Wait("the pods of an earlier attempt are still stopping")
        return CreateJob(attempt)
    if recorded_uid and job.uid != recorded_uid:
        return _lost(obj, run, status, policy, now, f"its Job {job.name} was replaced")
    if not recorded_uid:
        return Write(status={"jobUID": job.uid})
    # d. The Job ended but the runner did not report an end: the pod was lost.
    if job.finished:
        detail = "; ".join(p.detail for p in world.pods if p.attempt == attempt and p.detail) or \
            f"Job {job.name} {job.finished}"
        return _lost(obj, run, status, policy, now, detail)
    # e. Its pod cannot start (bad image, bad configuration): say so, then fail.
    for pod in world.pods:
        if pod.attempt != attempt:
            continue
        if pod.problem:
            since = pod.problem_since or now
            give_up = since + timedelta(seconds=policy.image_pull_grace_seconds)
            if give_up <= now:
                return Write(status=_end(status, Phase.FAILED, INFRASTRUCTURE_REFUSED, pod.problem,
                                         action="failed", by="operator", now=now))
            return _blocked(status, run, pod.problem_reason, pod.problem, now, until=give_up)
        if pod.unschedulable:
            since = pod.unschedulable_since or now
            speak_at = since + timedelta(seconds=policy.unschedulable_grace_seconds)
            if speak_at > now:
                return Wait("the scheduler may place the pod once its claim is bound", until=speak_at)
            return _blocked(status, run, "Unschedulable", f"The runner pod cannot be scheduled: {pod.unschedulable}", now)
    return None


def _blocked(status: Mapping[str, Any], run: FlowRun, reason: str, message: str, now: datetime, *, until: datetime | None = None) -> Wait:
    """Wait, showing why the run makes no progress (once: not rewritten while unchanged)."""
    if status.get("message") == clip(message, 1024):
        return Wait(message, until=until)
    patch = phase_patch(status, (run.phase or Phase.PENDING).value, message, when=now, blocked=reason)
    patch["history"] = history_patch(status, "blocked", by="operator", message=message, when=now)
    return Wait(message, until=until, status=patch)


def _lost(obj: Mapping[str, Any], run: FlowRun, status: Mapping[str, Any], policy: Policy, now: datetime, detail: str) -> Write:
    """The attempt's pod is gone without the runner reporting an end: start the next
    attempt (it re-executes from the result cache and re-establishes a pause at the same
    key and deadline), or fail once the run has lost more pods than it may."""
    losses = int(status.get("podLosses") or 0) + 1
    limit = run.spec.max_pod_losses if run.spec.max_pod_losses is not None else policy.max_pod_losses
    if losses > limit:
        message = (f"The runner pod was lost {losses} times, more than spec.maxPodLosses "
                   f"({limit}) allows; last: {detail}")
        return Write(status=_end(status, Phase.FAILED, POD_LOSSES_EXHAUSTED, message, action="failed",
                                 by="operator", now=now))
    attempt = int(status.get("attempt") or 0) + 1
    message = f"The runner pod was lost ({detail}); starting attempt {attempt} from the result cache"
    patch = phase_patch(status, Phase.PENDING.value, message, when=now, attempt=attempt,
                        jobName=policy.job_name(run.name, attempt), jobUID="", podLosses=losses)
    patch["history"] = history_patch(status, "pod-lost", by="operator", message=detail, when=now)
    return Write(status=patch)


def job_refused(obj: Mapping[str, Any], code: int, message: str, now: datetime) -> Write | Wait:
    """The API server refused the attempt's Job. Invalid (400/422): it never will be
    valid, the run fails. Forbidden (a quota, missing rights): say why and wait; the
    controller retries with backoff."""
    run = FlowRun.from_body(obj)
    status = _status(obj)
    if run.phase is None or run.phase.terminal:
        return Wait("finished")
    if code in (400, 422):
        return Write(status=_end(status, Phase.FAILED, INFRASTRUCTURE_REFUSED,
                                 f"The runner Job is invalid: {message}", action="failed",
                                 by="operator", now=now))
    reason = "QuotaExceeded" if "quota" in message.lower() else "JobRefused"
    return _blocked(status, run, reason, f"The runner Job cannot be created: {message}", now)


def job_conflict(obj: Mapping[str, Any], message: str, now: datetime) -> Write | Wait:
    """An object the attempt needs exists under its name but belongs to someone else
    (contract/ownership.py): the run fails with the reason Conflict, naming it; it is
    never adopted."""
    run = FlowRun.from_body(obj)
    if run.phase is None or run.phase.terminal:
        return Wait("finished")
    return Write(status=_end(_status(obj), Phase.FAILED, CONFLICT, message, action="failed",
                             by="operator", now=now))
