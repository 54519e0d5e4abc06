"""Every decision about a FlowRun's life, in one place, as pure functions.

Four writers change a FlowRun: a person (kubectl, the CLI, the UI), the admission
webhook, the operator, and the runner of one attempt inside the run's pod. Each of
them reads the FlowRun, asks a function here what to do, and does exactly that:

- `operator_step(obj, world, policy, now)`: the operator's next single step for a run
  (one compare-and-swap write of the FlowRun, or one effect on the world: create the
  attempt's Job, delete Jobs, patch linked children), or None when it is converged.
  The controller applies one step, reads again, and asks again; so a crash between any
  two steps leaves a state from which the next reconcile continues.
- `runner_*(obj, attempt, ...)`: the runner's steps. Every one of them is fenced first
  (`runner_fence`): a runner whose attempt is no longer the run's, or whose run is
  suspended, cancelled or finished, changes nothing and stops quietly.
- `user_change(obj, state, ...)` and `review_update(old, new)`: what a person may
  change, for the CLI, the SDK's client calls and the admission webhook alike.

Nothing here does I/O or reads a clock: `now` is an argument, the world (Jobs, pods,
linked children) is a plain value, and the runner's model validation and volume reads
are callbacks. See docs/design.md, "The state machine", for the order of multi-write
decisions and why a crash or a concurrent write between them loses nothing.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import approvals
from .audit import UNKNOWN, actor
from .constants import (
    DEFAULT_MAX_POD_LOSSES,
    LABEL_PARENT,
    LABEL_STARTED_BY,
    MAX_DESCRIPTION_BYTES,
    MAX_NOTIFY_MESSAGE_BYTES,
    MAX_INPUT_BYTES,
    MAX_KEY_LENGTH,
    MAX_OBJECT_BYTES,
    MAX_PENDING_SUBFLOW_BYTES,
    MAX_SCHEMA_BYTES,
)
from .inputs import input_errors
from .models import FlowRun
from .phases import InvalidTransition, PauseKind, Phase, State, check_state_change
from .status import (
    clip,
    history_patch,
    json_size,
    keys_add,
    keys_contain,
    keys_remove,
    parse_timestamp,
    phase_patch,
    timestamp,
)

# Why a run ended other than Completed: status.reason is always one of these.
FLOW_FAILED = "FlowFailed"                      # the flow raised (after its retries)
DEADLINE_EXCEEDED = "DeadlineExceeded"          # a pause or suspension was never resumed
POD_LOSSES_EXHAUSTED = "PodLossesExhausted"     # more pods lost than spec.maxPodLosses
CONFLICT = "Conflict"  # an object of the name a run needs belongs to someone else
INFRASTRUCTURE_REFUSED = "InfrastructureRefused"  # invalid Job, image that cannot be pulled...
CANCELLED = "Cancelled"                         # spec.state: Cancelled
END_REASONS = frozenset({FLOW_FAILED, DEADLINE_EXCEEDED, POD_LOSSES_EXHAUSTED,
                         INFRASTRUCTURE_REFUSED, CANCELLED})
# Runs that end for these reasons lose their Jobs (no pod may run on); a flow's own
# failure keeps its Job so that `kubectl logs` shows the traceback.
_REMOVE_JOBS = frozenset({DEADLINE_EXCEEDED, INFRASTRUCTURE_REFUSED, CANCELLED})

ANNOTATION_SUSPENDED_WITH_PARENT = "flowrun.io/suspended-with-parent"
ANNOTATION_CANCELLED_WITH_PARENT = "flowrun.io/cancelled-with-parent"
SUBFLOW_SUSPEND_MESSAGE = ("cannot suspend a subflow independently of its parent; "
                           "start it with as_subflow=False")


# ---- what a decision can say ---------------------------------------------------------

@dataclass(frozen=True)
class Write:
    """One decision about the FlowRun itself: a merge patch of the main resource
    (`spec`, with `metadata`), of the status subresource, or both. Both: two writes, each
    guarded by the resourceVersion the previous one produced; `spec_first` says which
    goes first (docs/design.md explains each order)."""

    spec: dict[str, Any] | None = None
    status: dict[str, Any] | None = None
    spec_first: bool = False

    def patches(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        return self.spec, self.status


@dataclass(frozen=True)
class CreateJob:
    """Create (or adopt) what the attempt needs: account, claim, then its Job."""
    attempt: int


@dataclass(frozen=True)
class DeleteJobs:
    """Delete these Jobs with background propagation (their pods go too)."""
    names: tuple[str, ...]


@dataclass(frozen=True)
class PatchChildren:
    """Merge patches for linked children: (child name, patch of the main resource)."""
    patches: tuple[tuple[str, dict[str, Any]], ...]


@dataclass(frozen=True)
class Wait:
    """Nothing to do until something changes (or until `until`)."""
    reason: str
    until: datetime | None = None
    status: dict[str, Any] | None = None  # a blocked message to show meanwhile, if new


@dataclass(frozen=True)
class Stop:
    """Runner: stop quietly; nothing of this attempt may change the run any more."""
    reason: str
    cancelled: bool = False


@dataclass(frozen=True)
class Hold:
    """Runner: wait for the next change of the FlowRun, then ask again."""
    reason: str


@dataclass(frozen=True)
class Proceed:
    """Runner: the pause is over (or was resumed in an earlier attempt): return `value`."""
    value: Any = None


@dataclass(frozen=True)
class Stash:
    """Runner: write this pause's input to the run's volume, then ask again (it leaves
    the status only once it is safely on the volume)."""
    key: str
    value: Any
    generation: int


@dataclass(frozen=True)
class Exit:
    """Runner: the flow suspended itself; end the process so the Job can go."""
    key: str


Step = Write | CreateJob | DeleteJobs | PatchChildren | Wait | None
RunnerStep = Write | Stop | Hold | Proceed | Stash | Exit | None


# ---- what the operator sees of the world ---------------------------------------------

@dataclass(frozen=True)
class JobView:
    name: str
    attempt: int
    uid: str = ""
    finished: str | None = None  # "Complete" | "Failed"
    deleting: bool = False


@dataclass(frozen=True)
class PodView:
    name: str
    attempt: int
    alive: bool = True  # not Succeeded/Failed: its code may still run
    problem: str = ""  # a waiting reason that will not fix itself soon
    problem_reason: str = ""
    problem_since: datetime | None = None
    unschedulable: str = ""
    unschedulable_since: datetime | None = None
    detail: str = ""  # how it ended


@dataclass(frozen=True)
class ChildView:
    name: str
    linked: bool
    phase: str = ""
    state: str = State.RUNNING.value
    suspended_with_parent: bool = False
    waiting: bool = False  # at a pause nobody has answered yet


@dataclass(frozen=True)
class World:
    jobs: tuple[JobView, ...] = ()
    pods: tuple[PodView, ...] = ()
    children: tuple[ChildView, ...] = ()


@dataclass(frozen=True)
class Policy:
    """The operator settings that decisions depend on."""
    default_timeout_seconds: int = 3600
    max_pod_losses: int = DEFAULT_MAX_POD_LOSSES
    suspend_after_seconds: int | None = None
    image_pull_grace_seconds: int = 60
    # A pod unschedulable for less than this is normal (its claim is being bound): quiet.
    unschedulable_grace_seconds: int = 10
    job_name: Callable[[str, int], str] = field(default=lambda run, attempt: f"{run}-{attempt}")
    # The key the admission webhook signs approvals with (None: no approval is counted).
    approval_secret: bytes | None = None


# ---- small readers ---------------------------------------------------------------------

def _status(obj: Mapping[str, Any]) -> dict[str, Any]:
    return dict(obj.get("status") or {})


def _spec(obj: Mapping[str, Any]) -> dict[str, Any]:
    return dict(obj.get("spec") or {})


def pending_pause(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """status.pause when it is a pause not yet resumed (it may be waiting, suspended, or
    to be re-established by the next attempt after a lost pod)."""
    status = _status(obj)
    pause = status.get("pause") or None
    if pause and pause.get("key") and not keys_contain(status.get("resumed"), pause["key"]):
        return dict(pause)
    return None


def waits_for_a_person(obj: Mapping[str, Any]) -> bool:
    """Does the run wait at a pause its own flow asked for (not merely a suspension from
    outside, which its parent's resume lifts)?"""
    pause = pending_pause(obj)
    return pause is not None and pause.get("requestedBy", "flow") == "flow"


def pause_deadline(obj: Mapping[str, Any]) -> datetime | None:
    """The deadline the operator enforces now: a paused or suspended run's pause."""
    status = _status(obj)
    if status.get("phase") not in (Phase.PAUSED.value, Phase.SUSPENDED.value):
        return None
    return parse_timestamp((status.get("pause") or {}).get("deadline"))


def is_resume_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Is this update a person's resume: spec.state set to Running, or new input with it?"""
    old_spec, new_spec = _spec(old), _spec(new)
    if new_spec.get("state", State.RUNNING.value) != State.RUNNING.value:
        return False
    return old_spec.get("state", State.RUNNING.value) != State.RUNNING.value or (
        new_spec.get("input") is not None and new_spec.get("input") != old_spec.get("input"))


ACTION_VERBS = {State.RUNNING.value: "resume", State.SUSPENDED.value: "suspend",
                State.PAUSED.value: "pause", State.CANCELLED.value: "cancel"}


def action_verb(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """The custom RBAC verb a person needs for this update (with authorization.actionVerbs
    on): the verb of the new spec.state, `resume` for new input; None for anything else."""
    old_state = _spec(old).get("state", State.RUNNING.value)
    new_state = _spec(new).get("state", State.RUNNING.value)
    if old_state != new_state:
        return ACTION_VERBS[new_state]
    if is_resume_change(old, new):
        return "resume"
    return None


def is_linked_child(obj: Mapping[str, Any]) -> bool:
    meta = obj.get("metadata") or {}
    return bool((meta.get("labels") or {}).get(LABEL_PARENT)) and any(
        ref.get("controller") for ref in meta.get("ownerReferences") or [])


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


def _end(status: dict[str, Any], phase: Phase, reason: str, message: str, *, action: str,
         by: str, key: str = "", now: datetime) -> dict[str, Any]:
    patch = phase_patch(status, phase.value, message, when=now, completionTime=timestamp(now),
                        reason=reason)
    patch["history"] = history_patch(status, action, by=by, key=key, message=message, when=now)
    return patch


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


UNATTRIBUTED_CHILD = ("created without the admission webhook, so who created this subflow is unknown: "
                      "it is not started (a child's rights depend on the run that creates it); "
                      "delete it and let its parent create it again while the webhook runs")


def _created(obj, run: FlowRun, status, policy: Policy, now) -> Write | Wait:
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


def _finished(run: FlowRun, status, world: World) -> Step:
    if run.phase is Phase.CANCELLED or status.get("reason") in _REMOVE_JOBS:
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


def _suspension(obj, run: FlowRun, status, policy: Policy, now, *, idle: bool) -> dict[str, Any]:
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


def _approvals(obj, run: FlowRun, status, policy: Policy, now) -> Write | None:
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


def _while_suspended(obj, run: FlowRun, status, world: World, policy: Policy, now) -> Step:
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


def _follow_attempt(obj, run: FlowRun, status, world: World, policy: Policy, now) -> Step:
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
                         f"its Job {status.get('jobName')} was deleted while the run was {run.phase.value}")
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


def _blocked(status, run: FlowRun, reason: str, message: str, now, *, until: datetime | None = None) -> Wait:
    """Wait, showing why the run makes no progress (once: not rewritten while unchanged)."""
    if status.get("message") == clip(message, 1024):
        return Wait(message, until=until)
    patch = phase_patch(status, run.phase.value, message, when=now, blocked=reason)
    patch["history"] = history_patch(status, "blocked", by="operator", message=message, when=now)
    return Wait(message, until=until, status=patch)


def _lost(obj, run: FlowRun, status, policy: Policy, now, detail: str) -> Write:
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


# ---- subflows ------------------------------------------------------------------------

def subflow_mirror(parent: Mapping[str, Any], child: Mapping[str, Any]) -> Write | None:
    """Copy a child's phase, message and result into its parent's status.subflows, which
    the parent's runner watches (a runner may read no other FlowRun). Once the parent's
    runner has a result (it lists the child in status.subflowsReceived), nothing more is
    copied. A result waits in the parent's status only while the pending results stay
    under their bound; the next change of the parent copies it when there is room."""
    name = child["metadata"]["name"]
    pstatus = _status(parent)
    if keys_contain(pstatus.get("subflowsReceived"), name):
        return None
    cstatus = _status(child)
    entry: dict[str, Any] = {"phase": cstatus.get("phase") or Phase.PENDING.value,
                             "message": cstatus.get("message", "")}
    if "result" in cstatus:
        others = sum(json_size(v) for k, v in (pstatus.get("subflows") or {}).items() if k != name and v)
        if others + json_size(cstatus["result"]) > MAX_PENDING_SUBFLOW_BYTES:
            entry["resultPending"] = True
        else:
            entry["result"] = cstatus["result"]
    if (pstatus.get("subflows") or {}).get(name) == entry:
        return None
    return Write(status={"subflows": {name: entry}})


def subflow_received(obj: Mapping[str, Any], attempt: int, name: str) -> RunnerStep:
    """Runner: a child's result is safely in the parent's cache: drop it from status."""
    stop = runner_fence(obj, attempt)
    if stop:
        return stop
    status = _status(obj)
    if keys_contain(status.get("subflowsReceived"), name):
        return None
    return Write(status={"subflows": {name: None},
                         "subflowsReceived": keys_add(status.get("subflowsReceived"), name)})


# ---- the runner ----------------------------------------------------------------------------

def runner_fence(obj: Mapping[str, Any] | None, attempt: int) -> Stop | None:
    """Stop when this attempt may no longer change the run: a later attempt took over, or
    the run is suspended, cancelled or finished. A stopped runner writes nothing."""
    if obj is None:
        return Stop("the FlowRun was deleted")
    status, spec = _status(obj), _spec(obj)
    phase = status.get("phase")
    if spec.get("state") == State.CANCELLED.value or phase == Phase.CANCELLED.value:
        reason = spec.get("reason") or ""
        return Stop("the run was cancelled" + (f": {reason}" if reason else ""), cancelled=True)
    if phase and Phase(phase).terminal:
        return Stop(status.get("message") or f"the run is {phase}")
    if int(status.get("attempt") or 0) != attempt:
        return Stop(f"attempt {status.get('attempt')} has taken over from attempt {attempt}")
    if phase == Phase.SUSPENDED.value:
        return Stop("the run is suspended")
    return None


def runner_started(obj: Mapping[str, Any], attempt: int, message: str, now: datetime) -> RunnerStep:
    stop = runner_fence(obj, attempt)
    if stop:
        return stop
    status = _status(obj)
    if status.get("phase") in (Phase.RUNNING.value, Phase.PAUSED.value):
        return None
    patch = phase_patch(status, Phase.RUNNING.value, message, when=now,
                        startTime=status.get("startTime") or timestamp(now))
    patch["history"] = history_patch(status, "started", by="runner", message=message, when=now)
    return Write(status=patch)


def runner_finished(obj: Mapping[str, Any], attempt: int, *, failed: bool, message: str,
                    now: datetime, result: Any = None, has_result: bool = False) -> RunnerStep:
    """The flow returned (Completed, with its result when small enough) or raised
    after its retries (Failed, reason FlowFailed)."""
    stop = runner_fence(obj, attempt)
    if stop:
        return stop
    status = _status(obj)
    if failed:
        return Write(status=_end(status, Phase.FAILED, FLOW_FAILED, message, action="failed",
                                 by="runner", now=now))
    fields: dict[str, Any] = {"completionTime": timestamp(now), "reason": ""}
    if has_result:
        fields["result"] = result
    patch = phase_patch(status, Phase.COMPLETED.value, message, when=now, **fields)
    patch["history"] = history_patch(status, "completed", by="runner", message=message, when=now)
    return Write(status=patch)


def runner_note(obj: Mapping[str, Any], attempt: int, action: str, message: str, now: datetime) -> RunnerStep:
    """A history entry (an Event) and the run's message, without a phase change."""
    stop = runner_fence(obj, attempt)
    if stop:
        return stop
    status = _status(obj)
    return Write(status={"message": clip(message, 1024),
                         "history": history_patch(status, action, by="runner", message=message, when=now)})


def runner_checkpoint(obj: Mapping[str, Any], attempt: int) -> Stop | Hold | str | None:
    """At a task boundary: Stop, Hold (a suspension was asked for: run nothing more),
    "pause" (a person asked for a pause: pause here), or None (carry on)."""
    stop = runner_fence(obj, attempt)
    if stop:
        return stop
    state = _spec(obj).get("state")
    if state == State.SUSPENDED.value:
        return Hold("a suspension was requested")
    if state == State.PAUSED.value and pending_pause(obj) is None:
        return "pause"
    return None


@dataclass(frozen=True)
class PauseRequest:
    """What the flow's pause_flow_run/suspend_flow_run call asks for."""
    key: str
    kind: PauseKind
    timeout_seconds: int | None
    input_schema: dict[str, Any] | None = None
    description: str | None = None
    requested_by: str = "flow"
    suspend_after_seconds: int | None = None
    approval: dict[str, Any] | None = None
    notify_message: str | None = None

    def record(self, now: datetime, generation: int, earlier: Mapping[str, Any] | None) -> dict[str, Any]:
        """status.pause for this request. A pause recorded by an earlier attempt at the
        same key keeps its start and deadline (a lost pod does not extend a pause)."""
        since = parse_timestamp((earlier or {}).get("since")) or now
        deadline = (earlier or {}).get("deadline") if earlier else (
            timestamp(since + timedelta(seconds=self.timeout_seconds)) if self.timeout_seconds else None)
        info: dict[str, Any] = {
            "key": self.key, "kind": self.kind.value, "since": timestamp(since),
            "timeoutSeconds": self.timeout_seconds, "deadline": deadline,
            "inputSchema": self.input_schema, "requestedBy": self.requested_by,
            "generation": generation,
        }
        if self.description:
            info["description"] = clip(self.description, MAX_DESCRIPTION_BYTES)
        if self.suspend_after_seconds:
            info["suspendAfterSeconds"] = self.suspend_after_seconds
        if self.notify_message:
            info["notifyMessage"] = clip(self.notify_message, MAX_NOTIFY_MESSAGE_BYTES)
        if self.approval:
            info["approval"] = self.approval
        return info


def check_pause_request(request: PauseRequest) -> None:
    """Refuse a pause the run could not hold: raise ValueError saying why."""
    if not request.key or len(request.key) > MAX_KEY_LENGTH:
        raise ValueError(f"a pause key must be 1 to {MAX_KEY_LENGTH} characters: {request.key!r}")
    if request.input_schema is not None and json_size(request.input_schema) > MAX_SCHEMA_BYTES:
        raise ValueError(f"the input model's JSON schema is {json_size(request.input_schema)} bytes, "
                         f"more than the {MAX_SCHEMA_BYTES} a pause may store")


@dataclass
class PauseMemo:
    """What the runner remembers between the steps of one pause (only an optimisation
    of what the FlowRun says; losing it with the pod loses nothing)."""
    armed: int | None = None  # the generation our spec write produced
    stashed: dict[str, int] = field(default_factory=dict)  # key -> generation stashed


def _pause_message(request: PauseRequest, *, re_established: bool = False) -> str:
    fields = ", ".join((request.input_schema or {}).get("properties", {}).keys())
    text = f"Paused at {request.key}; " + (f"waiting for input ({fields})" if request.input_schema
                                            else "resume with spec.state=Running")
    return text + (" (re-established by a new pod)" if re_established else "")


def runner_pause(obj: Mapping[str, Any], attempt: int, request: PauseRequest, memo: PauseMemo,
                 now: datetime, *, check: Callable[[Any], str | None],
                 stored: Callable[[str], tuple[bool, Any]]) -> RunnerStep:
    """The runner's next step for a pause_flow_run / suspend_flow_run call.

    `check(data)`: the input model's own validation (None when valid, else the message);
    `stored(key)`: (found, input) from the run's volume.
    """
    stop = runner_fence(obj, attempt)
    if stop:
        return stop
    status, spec = _status(obj), _spec(obj)
    generation = int((obj.get("metadata") or {}).get("generation") or 0)
    key = request.key
    # 1. Resumed already (in this attempt or an earlier one): its input, from the status
    #    until it is on the volume, then from the volume.
    if keys_contain(status.get("resumed"), key):
        inputs = status.get("inputs") or {}
        if key in inputs:
            data = inputs[key]
            if memo.stashed.get(key) is None:
                error = check(data)
                if error:
                    return _unresume(obj, status, request, error, now, generation)
                return Stash(key, data, generation)
            return Write(status={"inputs": {key: None}})
        found, data = stored(key)
        if found:
            error = check(data)
            if error:
                return _unresume(obj, status, request, error, now, generation)
        return Proceed(data if found else None)
    target = State.PAUSED if request.kind is PauseKind.PAUSE else State.SUSPENDED
    state = spec.get("state")
    recorded = status.get("pause") or {}
    recorded = recorded if recorded.get("key") == key else None
    # 2. A suspension asked for from outside: a pause waits for it to be recorded (then
    #    the fence stops this runner) or withdrawn.
    if state == State.SUSPENDED.value and request.kind is PauseKind.PAUSE:
        return Hold("a suspension was requested")
    # 3. Not recorded yet.
    if recorded is None:
        if request.kind is PauseKind.SUSPEND:
            # Record first: the operator acts on spec.state and must find the key.
            patch = {"pause": request.record(now, generation, None),
                     "history": history_patch(status, "suspended", by=request.requested_by, key=key, when=now)}
            return Write(status=patch)
        if memo.armed is not None and generation > memo.armed and state != target.value:
            # A person changed spec.state after our write armed the pause: record the
            # pause as of that write, so their change is judged as its resume.
            return Write(status=_paused(status, request, now, memo.armed, None))
        if state != target.value or spec.get("input") is not None:
            # Arm: spec first, so that any later change of spec.state is newer than it.
            return Write(spec={"spec": {"state": target.value, "input": None}}, spec_first=True)
        return Write(status=_paused(status, request, now, generation, None))
    pause_generation = int(recorded.get("generation") or 0)
    resumed = (state == State.RUNNING.value and generation > pause_generation
               and generation != recorded.get("rejectedGeneration"))
    # 4. Recorded: a flow's own suspension sets spec.state, then ends the process.
    if request.kind is PauseKind.SUSPEND:
        if state == State.SUSPENDED.value:
            return Exit(key)
        if resumed and spec.get("input") is not None:
            return _judge_resume(obj, status, spec, request, recorded, memo, now, generation, check)
        return Write(spec={"spec": {"state": State.SUSPENDED.value, "input": None}})
    # 5. Recorded pause: a change of spec.state to Running after it armed is its resume.
    if resumed:
        return _judge_resume(obj, status, spec, request, recorded, memo, now, generation, check)
    if state == State.RUNNING.value:
        return Write(spec={"spec": {"state": State.PAUSED.value, "input": None}}, spec_first=True)
    if status.get("phase") != Phase.PAUSED.value:
        # Re-established by a new attempt (its pod was lost): same key, same deadline.
        return Write(status=_paused(status, request, now, pause_generation, recorded))
    return Hold(f"paused at {key}")


def _paused(status, request: PauseRequest, now, generation: int, earlier) -> dict[str, Any]:
    pause = request.record(now, generation, earlier)
    if earlier and earlier.get("rejectedGeneration") is not None:
        pause["rejectedGeneration"] = earlier["rejectedGeneration"]
    patch = phase_patch(status, Phase.PAUSED.value, _pause_message(request, re_established=bool(earlier)),
                        when=now, pause=pause)
    if not earlier:
        patch["history"] = history_patch(status, "paused", by=request.requested_by, key=request.key, when=now)
    return patch


def _judge_resume(obj, status, spec, request: PauseRequest, recorded, memo: PauseMemo, now,
                  generation: int, check: Callable[[Any], str | None]) -> RunnerStep:
    if not approvals.complete(approvals.approval_of(recorded)):
        return Hold("the operator counts the pause's approvals")
    data = spec.get("input")
    errors = input_errors(recorded.get("inputSchema"), data)
    error = "; ".join(errors) if errors else (check(data) if recorded.get("inputSchema") else None)
    if error is None and data is not None and json_size(data) > MAX_INPUT_BYTES:
        error = f"the input is {json_size(data)} bytes, more than the {MAX_INPUT_BYTES} allowed"
    key = request.key
    if error:
        back = State.PAUSED if request.kind is PauseKind.PAUSE else State.SUSPENDED
        patch = {"message": clip(f"Resume of {key} rejected, input is invalid: {error}", 1024),
                 "pause": {"rejectedGeneration": generation},
                 "history": history_patch(status, "resume-rejected", by=actor(obj), key=key,
                                          message=error, when=now)}
        return Write(status=patch, spec={"spec": {"state": back.value}})
    if data is not None and memo.stashed.get(key) != generation:
        return Stash(key, data, generation)
    patch = phase_patch(status, Phase.RUNNING.value, f"Resumed from {key}", when=now, pause=None,
                        resumed=keys_add(status.get("resumed"), key))
    patch["history"] = history_patch(status, "resumed", by=actor(obj), key=key, when=now, given=data)
    return Write(status=patch)


def _unresume(obj, status, request: PauseRequest, error: str, now, generation: int) -> Write:
    """Input stored for a pause fails the flow's own model validation (a resume judged
    by the operator, which knows only the JSON schema): the pause is not over. It is
    taken back and waits again, at the same key, for input that validates."""
    key = request.key
    earlier = status.get("pause") if (status.get("pause") or {}).get("key") == key else None
    pause = request.record(now, generation, earlier)
    pause["rejectedGeneration"] = generation
    patch = {"resumed": keys_remove(status.get("resumed"), key), "inputs": {key: None},
             "pause": pause, "message": clip(f"Resume of {key} rejected, input is invalid: {error}", 1024),
             "history": history_patch(status, "resume-rejected", by=actor(obj), key=key,
                                      message=error, when=now)}
    return Write(status=patch)


# ---- people --------------------------------------------------------------------------------

class InputRefused(ValueError):
    """Input that the pause the run waits at does not accept."""


def user_change(obj: Mapping[str, Any], target: State, *, data: Any = None,
                reason: str | None = None) -> dict[str, Any]:
    """The patch of the main resource for a person's resume, suspend, pause or cancel,
    or InvalidTransition / InputRefused saying why not."""
    status, spec = _status(obj), _spec(obj)
    phase = status.get("phase")
    state = spec.get("state", State.RUNNING.value)
    if phase and Phase(phase).terminal:
        raise InvalidTransition(f"FlowRun is {phase}; it can no longer be "
                                f"{ {State.RUNNING: 'resumed', State.PAUSED: 'paused', State.SUSPENDED: 'suspended', State.CANCELLED: 'cancelled'}[target] }")
    check_state_change(state, target.value, phase)
    patch: dict[str, Any] = {"spec": {"state": target.value}}
    if reason is not None:
        patch["spec"]["reason"] = reason
    if target is State.RUNNING:
        pause = pending_pause(obj)
        schema = (pause or {}).get("inputSchema")
        if data is not None and not schema:
            raise InputRefused("the run does not wait for input; resume it without input")
        errors = input_errors(schema, data)
        if errors:
            raise InputRefused("; ".join(errors))
        if data is not None:
            patch["spec"]["input"] = data
    return patch


def review_create(new: Mapping[str, Any]) -> list[str]:
    spec = _spec(new)
    errors = []
    for name, limit in (("parameters", MAX_OBJECT_BYTES), ("input", MAX_INPUT_BYTES)):
        if spec.get(name) is not None and json_size(spec[name]) > limit:
            errors.append(f"spec.{name}: {json_size(spec[name])} bytes serialised, more than "
                          f"the {limit} allowed")
    return errors


def review_update(old: Mapping[str, Any], new: Mapping[str, Any], *, runner_of_run: bool = False) -> list[str]:
    """The admission webhook's answer to an update of the main resource: error messages,
    empty when allowed. `runner_of_run`: the change comes from this run's own runner."""
    old_spec, new_spec = _spec(old), _spec(new)
    status = _status(old)
    phase = status.get("phase")
    old_state = old_spec.get("state", State.RUNNING.value)
    new_state = new_spec.get("state", State.RUNNING.value)
    errors = review_create(new)
    input_changed = new_spec.get("input") != old_spec.get("input")
    if phase and Phase(phase).terminal and (old_state != new_state or
                                            (input_changed and new_spec.get("input") is not None)):
        return errors + [f"FlowRun is {phase}; it can no longer be resumed, paused, suspended or cancelled"]
    try:
        check_state_change(old_state, new_state, phase)
    except InvalidTransition as exc:
        return errors + [str(exc)]
    annotations = (new.get("metadata") or {}).get("annotations") or {}
    if (new_state == State.SUSPENDED.value and old_state != new_state and is_linked_child(new)
            and not annotations.get(ANNOTATION_SUSPENDED_WITH_PARENT) and not runner_of_run):
        errors.append(SUBFLOW_SUSPEND_MESSAGE)
    resuming = new_state == State.RUNNING.value and (
        old_state != new_state or (input_changed and new_spec.get("input") is not None))
    pause = pending_pause(old)
    if resuming and not runner_of_run and (pause is not None or old_state != State.RUNNING.value):
        problems = input_errors((pause or {}).get("inputSchema"), new_spec.get("input"))
        if problems:
            errors.append("input does not match what the run waits for: " + "; ".join(
                f"spec.input.{p}" if not p.startswith("(input)") else f"spec.input{p[7:]}" for p in problems))
    elif (input_changed and new_spec.get("input") is not None and new_state == State.RUNNING.value
          and pause is None and not runner_of_run):
        errors.append(f"FlowRun is not paused or suspended (phase {phase or 'Pending'}); "
                      "there is nothing to resume with input")
    return errors

