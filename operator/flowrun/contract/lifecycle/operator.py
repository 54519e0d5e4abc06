"""The operator's rules: its next single step for a run, as an ordered list of small
named rules (`RULES`), the first with something to say deciding.

`operator_step(obj, world, policy, now)` returns one compare-and-swap write of the
FlowRun, or one effect on the world (create the attempt's Job, delete Jobs, patch
linked children), or None when the run is converged. The controller applies one step,
reads again, and asks again; so a crash between any two steps leaves a state from which
the next reconcile continues. Following a live attempt (its Job and pods) is in
attempts.py.

It must never do I/O or read a clock (`now` is an argument, the world a plain value),
and never import the runner's or people's rules.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .. import approvals
from ..audit import UNKNOWN
from ..constants import LABEL_PARENT, LABEL_STARTED_BY
from ..identities import origin_refusal
from ..inputs import input_errors
from ..phases import PauseKind, Phase, State
from ..status import clip, history_patch, keys_add, phase_patch, timestamp
from .attempts import Situation, follow_attempt, live_jobs, terminal
from .steps import DeleteJobs, PatchChildren, Step, Wait, Write, end_status
from .view import Approval, PauseView, RunView, new_pause
from .vocabulary import (
    ACTIONS,
    ANNOTATION_CANCELLED_WITH_PARENT,
    ANNOTATION_SUSPENDED_WITH_PARENT,
    CANCELLED,
    DEADLINE_EXCEEDED,
    REMOVE_JOBS,
    SYSTEM,
    UNATTRIBUTED_CHILD,
    OnTimeout,
)
from .world import Policy, World


class Next:
    """A rule's answer when the run is not its business: ask the next rule."""


NEXT = Next()


@dataclass(frozen=True)
class Rule:
    """One of the operator's rules: a name (what it is about) and its decision."""

    name: str
    decide: Callable[[Situation], Step | Next]


def operator_step(obj: Mapping[str, Any], world: World, policy: Policy, now: datetime) -> Step:
    """The operator's next single step for this run; None when nothing is left to do."""
    situation = Situation(RunView.of(obj), world, policy, now)
    for rule in RULES:
        step = rule.decide(situation)
        if not isinstance(step, Next):
            return step
    return None


def idle_suspension_due(run: RunView, policy: Policy) -> datetime | None:
    """When a paused run turns into a suspension of the same pause, if ever:
    spec.suspendAfterSeconds, else the pause's suspend_after, else the operator's
    default. Linked children never: their parent takes them along."""
    pause = run.pause
    if run.phase is not Phase.PAUSED or run.linked_child or pause is None or pause.kind is not PauseKind.PAUSE:
        return None
    after = run.suspend_after_seconds or pause.suspend_after_seconds or policy.suspend_after_seconds
    if not after or pause.since is None:
        return None
    return pause.since + timedelta(seconds=int(after))


def escalation_due(run: RunView) -> datetime | None:
    """When the pause the run waits at escalates (escalate_after without a quorum), if
    it still may: once, and only while short of its approvals."""
    pause = run.pending
    rule = pause.approval if pause is not None else None
    if (not run.stopped or pause is None or rule is None or not rule.escalate_after or rule.escalated
            or pause.since is None or pause.timed_out is not None or approvals.complete(rule)):
        return None
    return pause.since + timedelta(seconds=rule.escalate_after)


def next_due(obj: Mapping[str, Any], policy: Policy) -> datetime | None:
    """The next moment at which the operator must act on a run by itself."""
    run = RunView.of(obj)
    times = [t for t in (run.pause_deadline, idle_suspension_due(run, policy), escalation_due(run))
             if t is not None]
    return min(times) if times else None


# ---- the rules, in the order they are asked ------------------------------------------------

def _left_to_the_garbage_collector(s: Situation) -> Step | Next:
    return None if s.run.deleting else NEXT


def _record_new_run(s: Situation) -> Step | Next:
    """A new FlowRun is recorded: Pending with attempt 1; created suspended, or
    cancelled, it starts no Job. A child nobody can be named for is not started."""
    run, now = s.run, s.now
    if run.phase is not None:
        return NEXT
    by = run.changed_by
    posing = origin_refusal({"metadata": {"namespace": run.namespace, "labels": run.labels,
                                          "annotations": run.annotations}})
    if posing:  # a child its parent's pod did not create: never started (contract/identities.py)
        return Wait(posing) if run.message == posing else Write(status={"message": posing})
    if (run.labels.get(LABEL_PARENT) or run.labels.get(LABEL_STARTED_BY)) and by == UNKNOWN:
        if run.message == UNATTRIBUTED_CHILD:
            return Wait(UNATTRIBUTED_CHILD)
        return Write(status={"message": UNATTRIBUTED_CHILD})
    if run.state is State.CANCELLED:
        return Write(status=end_status(run.status, Phase.CANCELLED, CANCELLED, "Cancelled before it started",
                                       action="cancelled", by=by, now=now))
    if run.state is State.SUSPENDED:
        patch = phase_patch(run.status, Phase.SUSPENDED.value,
                            "Created suspended: set spec.state to Running to start it",
                            when=now, attempt=0, jobName="")
        patch["history"] = history_patch(run.status, "created-suspended", by=by, when=now)
        return Write(status=patch)
    patch = phase_patch(run.status, Phase.PENDING.value, "Starting attempt 1", when=now, attempt=1,
                        jobName=s.policy.job_name(run.name, 1))
    patch["history"] = history_patch(run.status, "created", by=by, when=now)
    return Write(status=patch)


def _tidy_finished_run(s: Situation) -> Step | Next:
    """A finished run is only tidied up: the Jobs of a cancelled, timed-out or refused
    run go (a flow's own failure keeps its Job for `kubectl logs`), and the linked
    children of a cancelled run are cancelled."""
    run = s.run
    if not run.terminal:
        return NEXT
    if run.phase is Phase.CANCELLED or run.end_reason in REMOVE_JOBS:
        live = live_jobs(s.world)
        if live:
            return DeleteJobs(live)
    if run.phase is Phase.CANCELLED:
        patches = tuple(
            (c.name, {"metadata": {"annotations": {ANNOTATION_CANCELLED_WITH_PARENT: run.name}},
                      "spec": {"state": State.CANCELLED.value,
                               "reason": f"its parent {run.name} was cancelled"}})
            for c in s.world.children
            if c.linked and not terminal(c.phase) and c.state != State.CANCELLED.value)
        if patches:
            return PatchChildren(patches)
    return None


def _end_cancelled_run(s: Situation) -> Step | Next:
    """spec.state Cancelled ends the run (the rule above then removes its Job and
    cancels its children)."""
    run = s.run
    if run.state is not State.CANCELLED:
        return NEXT
    reason = run.reason.strip()
    message = "Cancelled" + (f": {reason}" if reason else "")
    return Write(status=end_status(run.status, Phase.CANCELLED, CANCELLED, message, action="cancelled",
                                   by=run.changed_by, key=run.pause.key if run.pause else "", now=s.now))


def _settle_past_deadline(s: Situation) -> Step | Next:
    """A pause or suspension nobody answered by its deadline ends as it declared
    (`on_timeout`): the run fails (the default), is cancelled, or is resumed by the
    system with the input's defaults. The outcome is one compare-and-swap of the status
    (which people cannot write), so an answer arriving at the same moment settles to
    exactly one of the two: an answer the API server took first is judged as usual (the
    deadline waits for it); once the outcome is written, people's answers are refused."""
    run, now = s.run, s.now
    pause = run.pending
    if pause is None or not run.stopped:
        return NEXT
    if pause.timed_out is not None:
        return _see_system_resume_through(s, pause)
    deadline = run.pause_deadline
    if deadline is None or deadline > now:
        return NEXT
    if run.resumes(pause):
        return NEXT  # an answer the API server took before the deadline's write: judged first
    verb = ACTIONS[State.PAUSED if run.phase is Phase.PAUSED else State.SUSPENDED].done
    when = timestamp(deadline)
    if pause.on_timeout is OnTimeout.CANCEL:
        message = f"Cancelled: nobody answered {pause.key} by {when} (on_timeout='cancel')"
        return Write(status=end_status(run.status, Phase.CANCELLED, CANCELLED, message, action="timed-out",
                                       by=SYSTEM, key=pause.key, now=now))
    if pause.on_timeout is OnTimeout.RESUME:
        if pause.until is not None:
            action, message = "continued", f"{pause.key} reached its time ({when}): the system continues the run"
        else:
            action = "timed-out"
            message = f"Nobody answered {pause.key} by {when}: the system resumes it (on_timeout='resume')"
        outcome = {"outcome": OnTimeout.RESUME.value, "time": timestamp(now), "generation": run.generation}
        return Write(status={"pause": {**pause.doc, "timedOut": outcome}, "message": message,
                             "history": history_patch(run.status, action, by=SYSTEM, key=pause.key,
                                                      message=message, when=now, given=pause.timeout_input)})
    message = (f"Flow run was {verb} and never resumed: no resume within "
               f"{pause.timeout_seconds}s of {verb} at {pause.key}")
    return Write(status=end_status(run.status, Phase.FAILED, DEADLINE_EXCEEDED, message, action="timed-out",
                                   by=SYSTEM, key=pause.key, now=now))


def _see_system_resume_through(s: Situation, pause: PauseView) -> Step | Next:
    """The system's resume is written: set spec.state Running (the runner, or the rule
    for a suspended run, then resumes with the recorded defaults); a person's change of
    spec.state made meanwhile without the webhook is overruled. Should the flow's own
    model refuse the defaults, the run fails rather than wait for an answer nobody may
    give any more."""
    run, stamp = s.run, pause.timed_out
    assert stamp is not None
    if stamp.outcome is not OnTimeout.RESUME or (run.state is State.RUNNING and run.resumes(pause)):
        return NEXT
    if pause.rejected_generation is not None and pause.rejected_generation > stamp.generation:
        message = f"Nobody answered {pause.key} in time, and the flow refused the input's defaults: {run.message}"
        return Write(status=end_status(run.status, Phase.FAILED, DEADLINE_EXCEEDED, clip(message, 1024),
                                       action="failed", by=SYSTEM, key=pause.key, now=s.now))
    return Write(spec={"spec": {"state": State.RUNNING.value, "input": None}})


def _escalate_unanswered_pause(s: Situation) -> Step | Next:
    """A pause short of its approvals for escalate_after seconds escalates: the people of
    escalate_to may answer too (approvals given still count). One compare-and-swap of the
    status records it (`approval.escalated`), so it happens once, whoever restarts."""
    due = escalation_due(s.run)
    if due is None or due > s.now:
        return NEXT
    pause = s.run.pending
    assert pause is not None and pause.approval is not None
    rule = pause.approval
    message = (f"Nobody of {', '.join(a for a in rule.approvers if a not in rule.escalate_to)} gave the "
               f"{rule.required} approval(s) of {pause.key} within {rule.escalate_after} s: "
               f"{', '.join(rule.escalate_to)} may answer it too")
    return Write(status={"pause": {**pause.doc, "approval": {**rule.doc, "escalated": timestamp(s.now)}},
                         "message": clip(message, 1024),
                         "history": history_patch(s.run.status, "escalated", by=SYSTEM, key=pause.key,
                                                  message=message, when=s.now)})


def _count_approvals(s: Situation) -> Step | Next:
    """Approvals of the pause the run waits at: count those the webhook signed; a
    resume short of the quorum is put back, saying what is missing."""
    run, now = s.run, s.now
    pause = run.pending
    rule = pause.approval if pause is not None else None
    if pause is None or rule is None or not run.stopped or pause.timed_out is not None:
        return NEXT
    key = pause.key
    have = set(rule.given_by)
    # (signed by the webhook, and admitted by the rule: not the root run's creator, unless allowed)
    fresh = [e for e in approvals.countable(run, pause, s.policy.signing, now) if e["by"] not in have]
    if fresh:
        history: dict[str, Any] = {"history": run.status.get("history")}
        for entry in fresh:
            history["history"] = history_patch(history, "approved", by=entry["by"], key=key, when=now,
                                               message=f"approval {len(have) + 1} of {rule.required}",
                                               groups=entry.get("groups"))
            have.add(entry["by"])
        counted = rule.with_given(fresh)
        return Write(status={"pause": {**pause.doc, "approval": counted}, "history": history["history"],
                             "message": clip(f"Waiting at {key}: {approvals.count(Approval.of(counted))} of "
                                             f"{rule.required} approvals", 1024)})
    wrong_input = approvals.input_refusal(rule, run.input) if run.resumes(pause) else ""
    if run.resumes(pause) and (not approvals.complete(rule) or wrong_input):
        back = State.PAUSED if run.phase is Phase.PAUSED else State.SUSPENDED
        message = (f"Resume of {key} not counted: {wrong_input}" if wrong_input and approvals.complete(rule) else
                   f"Resume of {key} not counted: it needs {rule.required} approvals by "
                   f"{approvals.who_may(rule)}, {approvals.count(rule)} given (a change made without the "
                   "admission webhook cannot be attributed)")
        return Write(status={"message": clip(message, 1024),
                             "pause": {**pause.doc, "rejectedGeneration": run.generation},
                             "history": history_patch(run.status, "resume-rejected", by=run.changed_by, key=key,
                                                      message="approvals missing", when=now)},
                     spec={"spec": {"state": back.value}})
    return NEXT


def _record_suspension(s: Situation) -> Step | Next:
    """A suspension asked for (by the flow or a person) while something runs."""
    if s.run.state is not State.SUSPENDED or s.run.phase is Phase.SUSPENDED:
        return NEXT
    return Write(status=_suspension(s, idle=False))


def _while_suspended(s: Situation) -> Step | Next:
    """Suspended: no Job may be left, linked children are suspended with their parent,
    and a resume (its input judged) starts the next attempt once no pod is left."""
    run, now = s.run, s.now
    if run.phase is not Phase.SUSPENDED:
        return NEXT
    live = live_jobs(s.world)
    if live:
        return DeleteJobs(live)
    patches = tuple(
        (c.name, {"metadata": {"annotations": {ANNOTATION_SUSPENDED_WITH_PARENT: run.name}},
                  "spec": {"state": State.SUSPENDED.value}})
        for c in s.world.children
        if c.linked and not terminal(c.phase) and c.state not in (State.SUSPENDED.value, State.CANCELLED.value))
    if patches:
        return PatchChildren(patches)
    if run.state is not State.RUNNING:
        return None
    pause = run.pending
    system = pause is not None and pause.resumed_by_system
    given = pause.timeout_input if pause is not None and system else run.input
    by = SYSTEM if system else run.changed_by
    if pause is not None:
        errors = input_errors(pause.input_schema, given)
        if errors:
            message = f"Resume rejected, input is invalid: {'; '.join(errors)}"
            back = {"spec": {"state": State.SUSPENDED.value}}
            if pause.rejected_generation == run.generation:
                return Write(spec=back)
            patch = {"message": clip(message, 1024),
                     "pause": {**pause.doc, "rejectedGeneration": run.generation},
                     "history": history_patch(run.status, "resume-rejected", by=by,
                                              key=pause.key, message="; ".join(errors), when=now)}
            return Write(status=patch, spec=back)
    if any(p.alive for p in s.world.pods):
        return Wait("the pods of the suspended attempt are still stopping")
    attempt = run.attempt + 1
    fields: dict[str, Any] = {"attempt": attempt, "jobName": s.policy.job_name(run.name, attempt),
                              "jobUID": ""}
    if run.start_time is not None:
        fields["startTime"] = run.start_time
    if pause is not None:
        fields["resumed"] = keys_add(run.resumed, pause.key)
        if given is not None:
            fields["inputs"] = {pause.key: given}
        history = history_patch(run.status, "resumed", by=by, key=pause.key, when=now, given=given)
        message = (f"Resumed from {pause.key}" + (f" by the system: {pause.why_the_system_resumes}" if system else "")
                   + f"; starting attempt {attempt}")
        if pause.until is not None:
            fields["pause"] = {"until": None}  # it no longer waits for that time
    else:
        history = history_patch(run.status, "started" if attempt == 1 else "resumed", by=run.changed_by, when=now)
        message = f"Starting attempt {attempt}"
    patch = phase_patch(run.status, Phase.PENDING.value, message, when=now, **fields)
    patch["history"] = history
    return Write(status=patch)


def _suspend_idle_pause(s: Situation) -> Step | Next:
    """A pause idle for its suspend-after time becomes a suspension of the same pause."""
    due = idle_suspension_due(s.run, s.policy)
    if due is None or due > s.now:
        return NEXT
    return Write(status=_suspension(s, idle=True))


def _suspension(s: Situation, *, idle: bool) -> dict[str, Any]:
    """Status of a run suspended now. A pause it waits at (or must re-establish) is kept:
    same key, deadline, input schema and approvers, so resuming it needs exactly what
    resuming the pause needed."""
    run, now = s.run, s.now
    pending = run.pending
    history = None
    if pending is not None:
        flow_suspended = pending.kind is PauseKind.SUSPEND and pending.requested_by == "flow"
        pause = {**pending.doc, "kind": PauseKind.SUSPEND.value}
        key = pending.key
        if flow_suspended:
            message = f"Suspended at {key} by the flow; resume with spec.state=Running"
        elif idle:
            message = (f"Suspended at {key} after waiting "
                       f"{int((now - (pending.since or now)).total_seconds())} s "
                       "(suspendAfterSeconds): its pod is freed; resume it as you would the pause")
            history = history_patch(run.status, "suspended", by="operator", key=key,
                                    message="idle pause suspended", when=now)
        else:
            message = f"Suspended while waiting at {key}; resume it as you would the pause"
            history = history_patch(run.status, "suspended", by=run.changed_by, key=key, when=now)
    else:
        timeout = s.policy.default_timeout_seconds
        key = f"external-suspend-{run.attempt}"
        pause = new_pause({"key": key, "kind": PauseKind.SUSPEND.value, "since": timestamp(now),
                           "timeoutSeconds": timeout, "deadline": timestamp(now + timedelta(seconds=timeout)),
                           "inputSchema": None, "requestedBy": "user", "generation": run.generation})
        message = "Suspended from outside; resume with spec.state=Running"
        history = history_patch(run.status, "suspended", by=run.changed_by, key=key, when=now)
    patch = phase_patch(run.status, Phase.SUSPENDED.value, message, when=now, pause=pause,
                        jobName="", jobUID="")
    if history is not None:
        patch["history"] = history
    return patch


RULES: tuple[Rule, ...] = (
    Rule("a deleted run is left to the garbage collector", _left_to_the_garbage_collector),
    Rule("a new run is recorded", _record_new_run),
    Rule("a finished run is only tidied up", _tidy_finished_run),
    Rule("a cancelled run ends", _end_cancelled_run),
    Rule("a pause nobody answered by its deadline ends as it declared", _settle_past_deadline),
    Rule("a pause short of its approvals for escalate_after escalates", _escalate_unanswered_pause),
    Rule("approvals are counted before any resume", _count_approvals),
    Rule("a suspension asked for is recorded", _record_suspension),
    Rule("a suspended run runs nothing until a resume starts the next attempt", _while_suspended),
    Rule("an idle pause becomes a suspension", _suspend_idle_pause),
    Rule("a live attempt has its Job, and its pod can run", follow_attempt),
)
