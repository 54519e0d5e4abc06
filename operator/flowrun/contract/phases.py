"""The FlowRun state machine as data.

Two things change over a run's life: `status.phase` (what is happening) and
`spec.state` (what the user, or the flow's own code, wants). Both tables live here and
are checked here only: the controller, the runner and the admission webhook all call
`check_phase_transition` / `check_state_change`, so a rule is never written twice.

Never put Kubernetes I/O here: these are pure functions of plain values.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

# The words themselves (Phase, State, PauseKind, the actions' verbs, refusal codes) are
# lifecycle/vocabulary.py's; they are named here too for this module's many readers.
from .lifecycle.vocabulary import ACTIONS, PauseKind, Phase, Refusal, State
from .objects import Condition

__all__ = ["CONDITION_TYPES", "INITIAL_PHASES", "PHASE_TRANSITIONS", "InvalidTransition", "PauseKind",
           "Phase", "State", "check_phase_transition", "check_state_change", "conditions_for"]


# phase -> the phases it may move to. Staying in the same phase is always allowed.
PHASE_TRANSITIONS: Mapping[Phase, frozenset[Phase]] = {
    # Pending -> Paused: the next attempt after a lost pod re-establishes its pause.
    Phase.PENDING: frozenset({Phase.RUNNING, Phase.PAUSED, Phase.SUSPENDED, Phase.FAILED, Phase.CANCELLED}),
    # Running -> Pending: the pod was lost; the next attempt starts.
    Phase.RUNNING: frozenset({Phase.PENDING, Phase.PAUSED, Phase.SUSPENDED, Phase.COMPLETED,
                              Phase.FAILED, Phase.CANCELLED}),
    Phase.PAUSED: frozenset({Phase.PENDING, Phase.RUNNING, Phase.SUSPENDED, Phase.FAILED, Phase.CANCELLED}),
    # A resumed suspension starts a new Job: Pending again.
    Phase.SUSPENDED: frozenset({Phase.PENDING, Phase.FAILED, Phase.CANCELLED}),
    Phase.COMPLETED: frozenset(),
    Phase.FAILED: frozenset(),
    Phase.CANCELLED: frozenset(),
}
INITIAL_PHASES = frozenset({Phase.PENDING, Phase.SUSPENDED, Phase.CANCELLED})


class InvalidTransition(ValueError):
    """A phase or state change the state machine does not allow. A person's change
    carries why (`code`, a vocabulary.Refusal) besides the message in today's words."""

    def __init__(self, message: str, code: Refusal | None = None) -> None:
        super().__init__(message)
        self.code = code


def check_phase_transition(current: str | None, target: str) -> None:
    """Raise InvalidTransition unless `current -> target` is in the table."""
    to = Phase(target)
    if current is None or current == "":
        if to not in INITIAL_PHASES and to is not Phase.FAILED:
            raise InvalidTransition(f"a new FlowRun starts Pending or Suspended, not {to.value}")
        return
    frm = Phase(current)
    if frm is to or to in PHASE_TRANSITIONS[frm]:
        return
    raise InvalidTransition(f"FlowRun cannot go from {frm.value} to {to.value}")


def check_state_change(old_state: str, new_state: str, phase: str | None) -> None:
    """Is the user (or runner) allowed to change `spec.state` from old to new now?

    Raises InvalidTransition with a message meant for the person who asked.
    """
    if old_state == new_state:
        return
    ph = Phase(phase) if phase else Phase.PENDING
    new = State(new_state)
    old = State(old_state)
    if ph.terminal:
        raise InvalidTransition(f"FlowRun is {ph.value}; it can no longer be {ACTIONS[new].done}",
                                Refusal.FINISHED)
    if old is State.CANCELLED:
        raise InvalidTransition(f"FlowRun is being cancelled; it can no longer be {ACTIONS[new].done}",
                                Refusal.BEING_CANCELLED)
    if new is State.CANCELLED:
        return
    if new is State.RUNNING:
        # Resume. Also withdraws a pause/suspend request the run has not reached yet.
        return
    if new is State.PAUSED:
        if old is State.SUSPENDED or ph is Phase.SUSPENDED:
            raise InvalidTransition("a suspended FlowRun has no running process to pause; resume it first",
                                    Refusal.NOTHING_TO_PAUSE)
        return
    if new is State.SUSPENDED:
        return



# ---- conditions -------------------------------------------------------------------

CONDITION_TYPES = ("Ready", "Paused", "Suspended", "AwaitingInput", "Succeeded", "Failed",
                   "Cancelled", "Progressing")


def conditions_for(
    phase: str,
    *,
    message: str = "",
    awaiting_input: bool = False,
    blocked: str = "",
    previous: Sequence[Mapping[str, Any]] | None = None,
    now: datetime,
) -> list[dict[str, Any]]:
    """The full conditions list for a phase, keeping lastTransitionTime of conditions
    whose status did not change (as Kubernetes' meta.SetStatusCondition does).

    `blocked`: the reason the run cannot make progress now (e.g. QuotaExceeded,
    Unschedulable, ImagePullBackOff): Progressing=False with that reason."""
    ph = Phase(phase)
    wanted: dict[str, tuple[str, str]] = {
        "Ready": ("True", "Running") if ph is Phase.RUNNING else ("False", ph.value),
        "Paused": ("True", "Paused") if ph is Phase.PAUSED else ("False", ph.value),
        "Suspended": ("True", "Suspended") if ph is Phase.SUSPENDED else ("False", ph.value),
        "AwaitingInput": (
            ("True", "InputRequired")
            if awaiting_input and ph.stopped
            else ("False", "NoInputRequired")
        ),
        "Succeeded": (
            ("True", "Completed") if ph is Phase.COMPLETED
            else ("False", "Failed") if ph is Phase.FAILED
            else ("False", "Cancelled") if ph is Phase.CANCELLED
            else ("Unknown", ph.value)
        ),
        "Failed": ("True", "Failed") if ph is Phase.FAILED else ("False", ph.value),
        "Cancelled": ("True", "Cancelled") if ph is Phase.CANCELLED else ("False", ph.value),
        "Progressing": (
            ("False", ph.value) if ph.terminal
            else ("False", blocked) if blocked
            else ("True", ph.value)
        ),
    }
    before = {c.type: c for c in map(Condition.of, previous or [])}
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = []
    for ctype in CONDITION_TYPES:
        status, reason = wanted[ctype]
        prev = before.get(ctype)
        changed = prev is None or prev.status != status
        out.append({
            "type": ctype,
            "status": status,
            "reason": reason,
            "message": message if status == "True" or (ctype == "Progressing" and blocked) else "",
            "lastTransitionTime": stamp if prev is None or changed else prev.doc.get("lastTransitionTime", stamp),
        })
    return out
