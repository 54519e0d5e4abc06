"""Reading a FlowRun: a typed, read-only view of a run (`RunView`) with the facts every
decision reads (phase, desired state, the pause it waits at, its deadline, the attempt,
approvals, children), and of the pause it records (`PauseView`).

It exists so that the operator, the runner, people's doors, approvals and the shells
read a run the same way, once, instead of walking its dicts. It must never decide a
step or write anything, and never import the rules above it (operator, runner, people,
approvals). Writers still build dict patches (the API's shape): `RunView.status` is the
status as read, for the patch builders of contract/status.py that extend it.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..audit import actor
from ..constants import LABEL_PARENT
from ..phases import PauseKind, Phase, State
from ..status import keys_contain, parse_timestamp
from .vocabulary import OnTimeout


def _doc(value: Any) -> dict[str, Any]:
    """A sub-document as a dict: {} when it is missing (or null)."""
    return dict(value) if isinstance(value, Mapping) else {}


def _int(value: Any) -> int:
    return int(value or 0)


def _int_or_none(value: Any) -> int | None:
    return int(value) if value is not None else None


@dataclass(frozen=True)
class Approval:
    """`status.pause.approval`: who may answer a pause (contract/approvals.py's rules),
    how many distinct people must, and whose approvals were counted."""

    approvers: tuple[str, ...]  # users, and groups as "group:<name>"; empty: anyone
    required: int
    allow_creator: bool
    given: tuple[Mapping[str, Any], ...]  # counted approvals: {by, groups, time}
    doc: Mapping[str, Any]  # as stored
    # escalate_after / escalate_to: who may answer too once the operator escalated it
    # (`escalated`: when; then they are among `approvers`).
    escalate_after: int | None = None
    escalate_to: tuple[str, ...] = ()
    escalated: str = ""

    @classmethod
    def of(cls, value: Any) -> Approval | None:
        """The rule, or None when the pause has none (anyone who may resume it may)."""
        doc = _doc(value)
        approvers = tuple(str(a) for a in doc.get("approvers") or [])
        required = int(doc.get("required") or 1)
        if not doc or not (approvers or required > 1):
            return None
        escalate_to = tuple(str(a) for a in doc.get("escalateTo") or [])
        escalated = str(doc.get("escalated") or "")
        if escalated:
            approvers = approvers + tuple(a for a in escalate_to if a not in approvers)
        return cls(approvers, required, bool(doc.get("allowCreator")),
                   tuple(_doc(g) for g in doc.get("approvals") or []), doc,
                   _int_or_none(doc.get("escalateAfterSeconds")) or None, escalate_to, escalated)

    @property
    def given_by(self) -> frozenset[str]:
        """Who approved (each person once)."""
        return frozenset(str(g.get("by")) for g in self.given)

    def with_given(self, entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The rule as stored, with these approvals counted too."""
        return {**self.doc, "approvals": [*self.given, *entries]}


@dataclass(frozen=True)
class TimedOut:
    """`status.pause.timedOut`: the system settled the pause at its deadline (written by
    the operator in one compare-and-swap of the status, which people cannot write): the
    outcome, when, and the generation it was decided on."""

    outcome: OnTimeout
    time: datetime | None
    generation: int

    @classmethod
    def of(cls, value: Any) -> TimedOut | None:
        doc = _doc(value)
        outcome = doc.get("outcome")
        if outcome not in OnTimeout._value2member_map_:
            return None
        return cls(OnTimeout(outcome), parse_timestamp(doc.get("time")), _int(doc.get("generation")))


@dataclass(frozen=True)
class PauseView:
    """`status.pause`: the pause (or suspension) a run recorded."""

    key: str
    kind: PauseKind | None
    # "flow" when the flow's code asked, "user" when someone set spec.state (None: not
    # recorded, which counts as the flow's).
    requested_by: str | None
    since: datetime | None
    deadline: datetime | None
    timeout_seconds: int | None
    input_schema: dict[str, Any] | None
    # The metadata.generation from which spec.state Running is a resume of this pause.
    generation: int
    # A generation whose resume was refused: not judged again.
    rejected_generation: int | None
    suspend_after_seconds: int | None
    approval: Approval | None
    description: str
    notify_message: str
    # What the deadline does when nobody answered, and the input it resumes with.
    on_timeout: OnTimeout
    timeout_input: Any
    # Set once the system settled the pause at its deadline (resume: until it resumed).
    timed_out: TimedOut | None
    # pause_flow_run(until=...): the time the run continues by itself (its deadline).
    until: datetime | None
    # As stored: what a patch copies when it keeps the pause (the deadline as written).
    deadline_text: str | None
    doc: Mapping[str, Any]

    @classmethod
    def of(cls, value: Any) -> PauseView | None:
        doc = _doc(value)
        if not doc:
            return None
        kind = doc.get("kind")
        return cls(
            key=str(doc.get("key") or ""),
            kind=PauseKind(kind) if kind in PauseKind._value2member_map_ else None,
            requested_by=doc.get("requestedBy"),
            since=parse_timestamp(doc.get("since")),
            deadline=parse_timestamp(doc.get("deadline")),
            timeout_seconds=_int_or_none(doc.get("timeoutSeconds")),
            input_schema=_doc(doc.get("inputSchema")) or None,
            generation=_int(doc.get("generation")),
            rejected_generation=_int_or_none(doc.get("rejectedGeneration")),
            suspend_after_seconds=_int_or_none(doc.get("suspendAfterSeconds")) or None,
            approval=Approval.of(doc.get("approval")),
            description=str(doc.get("description") or ""),
            notify_message=str(doc.get("notifyMessage") or ""),
            on_timeout=OnTimeout(doc["onTimeout"]) if doc.get("onTimeout") in OnTimeout._value2member_map_
            else OnTimeout.FAIL,
            timeout_input=doc.get("timeoutInput"),
            timed_out=TimedOut.of(doc.get("timedOut")),
            until=parse_timestamp(doc.get("until")),
            deadline_text=doc.get("deadline"),
            doc=doc,
        )

    @property
    def asked_by_flow(self) -> bool:
        """The flow's own code asked for it (not a suspension from outside)."""
        return (self.requested_by or "flow") == "flow"

    def stored(self) -> dict[str, Any]:
        """The pause as stored, as a new dict (to change and write back)."""
        return dict(self.doc)

    @property
    def resumed_by_system(self) -> bool:
        """The system resumes it (its deadline passed with on_timeout="resume"): the
        resume uses `timeout_input`, needs no approval, and nobody else may answer."""
        return self.timed_out is not None and self.timed_out.outcome is OnTimeout.RESUME

    @property
    def why_the_system_resumes(self) -> str:
        """Why the system (not a person) resumes this pause, in a few words."""
        return "its time came (until)" if self.until is not None else "nobody answered in time"

    def if_unanswered(self) -> str:
        """What happens when nobody answers by the deadline, in the words every reader
        shows ("if nobody answers by 14:00: resumes with amount=0"); "" with no deadline."""
        if self.deadline is None:
            return ""
        when = self.deadline.strftime("%Y-%m-%d %H:%M:%S UTC")
        if self.until is not None:
            return f"continues by itself at {when} (unless resumed earlier)"
        if self.on_timeout is OnTimeout.RESUME:
            given = self.timeout_input
            what = ("resumes with " + ", ".join(f"{k}={json.dumps(v, sort_keys=True)}" for k, v in given.items())
                    if isinstance(given, Mapping) and given else "resumes without input")
        elif self.on_timeout is OnTimeout.CANCEL:
            what = "is cancelled"
        else:
            what = "fails"
        return f"if nobody answers by {when}: {what}"


# The fields of status.pause that only some pauses have.
PAUSE_OPTIONAL = ("description", "suspendAfterSeconds", "notifyMessage", "approval", "onTimeout",
                  "timeoutInput", "timedOut", "until", "rejectedGeneration")


def new_pause(record: Mapping[str, Any]) -> dict[str, Any]:
    """status.pause as a patch recording a new pause: status patches merge, so what an
    earlier pause left (its approvals, its deadline's outcome...) is removed."""
    return {**{name: None for name in PAUSE_OPTIONAL}, **record}


@dataclass(frozen=True)
class RunView:
    """A FlowRun as read: everything a decision may look at, typed."""

    name: str
    namespace: str
    uid: str
    generation: int
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    deleting: bool
    # A controller owner reference (with the parent label: a linked child).
    controlled: bool
    # Who made the change that produced this generation, as the webhook stamped it
    # (audit.UNKNOWN when no valid stamp is there).
    changed_by: str
    # status
    phase: Phase | None
    message: str
    end_reason: str  # status.reason: one of vocabulary.END_REASONS once ended
    attempt: int
    job_name: str
    job_uid: str
    pod_losses: int
    start_time: str | None
    completion_time: datetime | None
    history: tuple[Mapping[str, Any], ...]
    notifications: tuple[Mapping[str, Any], ...]  # deliveries recorded (notifications.py)
    pause: PauseView | None  # as recorded, resumed or not
    resumed: Any  # the compact list of pause keys resumed (status.keys_contain reads it)
    inputs: Mapping[str, Any]  # inputs of resumed pauses not yet on the run's volume
    subflows: Mapping[str, Any]
    subflows_received: Any
    has_result: bool
    result: Any
    # spec
    flow: str
    state: State
    parameters: Any
    reason: str  # why spec.state was changed (a cancel's reason)
    input: Any
    input_given: bool  # spec.input is there (not null)
    max_pod_losses: int | None
    suspend_after_seconds: int | None
    # The status as read: only for the patch builders that extend it (history, conditions).
    status: Mapping[str, Any]

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> RunView:
        meta, spec, status = _doc(obj.get("metadata")), _doc(obj.get("spec")), _doc(obj.get("status"))
        phase = status.get("phase")
        return cls(
            name=str(meta.get("name") or ""),
            namespace=str(meta.get("namespace") or ""),
            uid=str(meta.get("uid") or ""),
            generation=_int(meta.get("generation")),
            labels=_doc(meta.get("labels")),
            annotations=_doc(meta.get("annotations")),
            deleting=bool(meta.get("deletionTimestamp")),
            controlled=any(_doc(ref).get("controller") for ref in meta.get("ownerReferences") or []),
            changed_by=actor(obj),
            phase=Phase(phase) if phase else None,
            message=str(status.get("message") or ""),
            end_reason=str(status.get("reason") or ""),
            attempt=_int(status.get("attempt")),
            job_name=str(status.get("jobName") or ""),
            job_uid=str(status.get("jobUID") or ""),
            pod_losses=_int(status.get("podLosses")),
            start_time=status.get("startTime"),
            completion_time=parse_timestamp(status.get("completionTime")),
            history=tuple(_doc(e) for e in status.get("history") or []),
            notifications=tuple(_doc(r) for r in status.get("notifications") or []),
            pause=PauseView.of(status.get("pause")),
            resumed=status.get("resumed"),
            inputs=_doc(status.get("inputs")),
            subflows=_doc(status.get("subflows")),
            subflows_received=status.get("subflowsReceived"),
            has_result="result" in status,
            result=status.get("result"),
            flow=str(spec.get("flow") or ""),
            state=State(spec.get("state") or State.RUNNING.value),
            parameters=spec.get("parameters"),
            reason=str(spec.get("reason") or ""),
            input=spec.get("input"),
            input_given=spec.get("input") is not None,
            max_pod_losses=_int_or_none(spec.get("maxPodLosses")),
            suspend_after_seconds=_int_or_none(spec.get("suspendAfterSeconds")) or None,
            status=status,
        )

    @property
    def terminal(self) -> bool:
        return self.phase is not None and self.phase.terminal

    @property
    def ended_at(self) -> datetime | None:
        """When the run ended: its completionTime, else its last history entry's time."""
        last = parse_timestamp(self.history[-1].get("time")) if self.history else None
        return self.completion_time or last

    @property
    def stopped(self) -> bool:
        """Paused or suspended: waiting for a person (or a parent)."""
        return self.phase is not None and self.phase.stopped

    def resumed_at(self, key: str) -> bool:
        return keys_contain(self.resumed, key)

    @property
    def pending(self) -> PauseView | None:
        """The pause not yet resumed (it may be waiting, suspended, or to be
        re-established by the next attempt after a lost pod)."""
        pause = self.pause
        if pause is not None and pause.key and not self.resumed_at(pause.key):
            return pause
        return None

    def recorded(self, key: str) -> PauseView | None:
        """The recorded pause when it is the one at `key`."""
        return self.pause if self.pause is not None and self.pause.key == key else None

    @property
    def waits_for_a_person(self) -> bool:
        """Does the run wait at a pause its own flow asked for (not merely a suspension
        from outside, which its parent's resume lifts)?"""
        pending = self.pending
        return pending is not None and pending.asked_by_flow

    @property
    def pause_deadline(self) -> datetime | None:
        """The deadline the operator enforces now: a paused or suspended run's pause."""
        if not self.stopped or self.pause is None or self.pause.timed_out is not None:
            return None
        return self.pause.deadline

    @property
    def linked_child(self) -> bool:
        """A subflow its parent takes along (suspended, resumed, cancelled with it)."""
        return bool(self.labels.get(LABEL_PARENT)) and self.controlled

    def resumes(self, pause: PauseView) -> bool:
        """Does spec.state Running, as of this generation, resume `pause`: set after the
        write that armed it, and not a generation already refused?"""
        return (self.state is State.RUNNING and self.generation > pause.generation
                and self.generation != pause.rejected_generation)


# ---- for the shells, which read a run as a dict -----------------------------------------

def pending_pause(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """status.pause, as stored, when it is a pause not yet resumed."""
    pause = RunView.of(obj).pending
    return pause.stored() if pause is not None else None


def waits_for_a_person(obj: Mapping[str, Any]) -> bool:
    return RunView.of(obj).waits_for_a_person


def is_linked_child(obj: Mapping[str, Any]) -> bool:
    return RunView.of(obj).linked_child
