"""The lifecycle's words, each said once: the phases, desired states and pause kinds;
the actions a person takes (one table: verb, past participle, the state it sets, the
phase it leads to); why a run ended; why a change is refused; the kinds of object the
project touches; the annotations a parent leaves on its children; and the one clock.

It exists so that the operator, the runner, people's doors (CLI, UI, SDK, webhook) and
the readers name these things once: phases.py, kube/, cli/ and ui/ import them from
here. It must never decide anything, read a run or do I/O (the clock aside), and it
imports nothing of the project but constants: it is the bottom of the contract.
"""
from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from ..constants import GROUP, KIND, NOTIFIER_KIND, NOTIFIER_PLURAL, PLURAL


def now() -> datetime:
    """The one clock: UTC, to the second (what the API's timestamps hold)."""
    return datetime.now(timezone.utc).replace(microsecond=0)


class Phase(str, enum.Enum):
    """`status.phase`: what is happening."""

    PENDING = "Pending"
    RUNNING = "Running"
    PAUSED = "Paused"
    SUSPENDED = "Suspended"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @property
    def terminal(self) -> bool:
        return self in (Phase.COMPLETED, Phase.FAILED, Phase.CANCELLED)

    @property
    def stopped(self) -> bool:
        """Waiting for a person: paused or suspended."""
        return self in (Phase.PAUSED, Phase.SUSPENDED)


class State(str, enum.Enum):
    """`spec.state`: the desired state."""

    RUNNING = "Running"
    PAUSED = "Paused"
    SUSPENDED = "Suspended"
    CANCELLED = "Cancelled"


class PauseKind(str, enum.Enum):
    PAUSE = "Pause"
    SUSPEND = "Suspend"


class OnTimeout(str, enum.Enum):
    """What a pause's deadline does when nobody answered (`on_timeout=`, stored as
    `status.pause.onTimeout`): fail the run (the default, Prefect's), resume it with the
    input's defaults, or cancel it."""

    FAIL = "fail"
    RESUME = "resume"
    CANCEL = "cancel"


# Who the history credits with what the system did by itself (a deadline's outcome, an
# idle pause suspended, a pod lost): the operator, never a person.
SYSTEM = "operator"


# ---- a person's actions ------------------------------------------------------------------

@dataclass(frozen=True)
class Action:
    """A person's action on a run: the CLI's command and the RBAC verb (`resume`), its
    past participle (`resumed`), the spec.state it sets and the phase it leads to."""

    verb: str
    done: str
    state: State
    phase: Phase


ACTIONS: Mapping[State, Action] = {
    State.RUNNING: Action("resume", "resumed", State.RUNNING, Phase.RUNNING),
    State.SUSPENDED: Action("suspend", "suspended", State.SUSPENDED, Phase.SUSPENDED),
    State.PAUSED: Action("pause", "paused", State.PAUSED, Phase.PAUSED),
    State.CANCELLED: Action("cancel", "cancelled", State.CANCELLED, Phase.CANCELLED),
}
ACTIONS_BY_VERB: Mapping[str, Action] = {a.verb: a for a in ACTIONS.values()}


class Refusal(str, enum.Enum):
    """Why a person's change of a run is refused. Refusals carry one of these (`code`)
    with a message in today's words; the CLI, the UI and the SDK may say it their way."""

    FINISHED = "Finished"  # the run is Completed, Failed or Cancelled
    BEING_CANCELLED = "BeingCancelled"  # spec.state is Cancelled already
    NOTHING_TO_PAUSE = "NothingToPause"  # a suspended run has no process to pause
    NOT_STOPPED = "NotStopped"  # not paused or suspended: nothing to resume
    NOT_WAITING_FOR_INPUT = "NotWaitingForInput"  # input given, but the pause takes none
    INVALID_INPUT = "InvalidInput"  # the input does not match the pause's schema
    NOT_AT_A_PAUSE = "NotAtAPause"  # a reject of a run that waits at no pause
    TIMED_OUT = "TimedOut"  # nobody answered in time: the system settled the pause (on_timeout)
    # Only the admission webhook says these (a door's own plan never does):
    TOO_LARGE = "TooLarge"  # spec.parameters or spec.input beyond its size limit
    SUBFLOW_ALONE = "SubflowAlone"  # a linked subflow suspended on its own
    NOT_ALLOWED = "NotAllowed"  # who asks may not: a verb, an approval, a template, a child


# Refusals about the input a person sent (the CLI's exit code INVALID_INPUT, a form's 422).
INPUT_REFUSALS = frozenset({Refusal.INVALID_INPUT, Refusal.NOT_WAITING_FOR_INPUT})


class Denial(str):
    """A refusal's message with its code: a str (the webhook's reviews stay lists of
    messages), tagged for the API server by `denial_text`."""

    code: Refusal

    def __new__(cls, message: str, code: Refusal) -> Denial:
        self = super().__new__(cls, message)
        self.code = code
        return self


# The admission webhook's answer starts with its code in brackets, "[InvalidInput] ...":
# kopf gives a denial only a message and an HTTP code, and the API server wraps the
# message ("admission webhook ... denied the request: [InvalidInput] ..."). kube/errors.py
# reads it back (`read_denial`), so no door sorts refusals by their words.
_TAG = re.compile(r"\[(" + "|".join(re.escape(r.value) for r in Refusal) + r")\] ")


def denial_text(errors: Sequence[str], default: Refusal) -> str:
    """The webhook's denial of `errors`: the first one's code (`default` for a plain
    message), then the messages."""
    code = next((e.code for e in errors if isinstance(e, Denial)), default)
    return f"[{code.value}] " + "; ".join(errors)


def read_denial(message: str) -> tuple[Refusal | None, str]:
    """(the code, the message without it) of an API server's error message; (None, the
    message) when no webhook of ours tagged it."""
    found = _TAG.search(message or "")
    if found is None:
        return None, message
    return Refusal(found.group(1)), message[:found.start()] + message[found.end():]


# ---- why a run ended ---------------------------------------------------------------------

# Why a run ended other than Completed: status.reason is always one of these.
FLOW_FAILED = "FlowFailed"                      # the flow raised (after its retries)
DEADLINE_EXCEEDED = "DeadlineExceeded"          # a pause or suspension was never resumed
POD_LOSSES_EXHAUSTED = "PodLossesExhausted"     # more pods lost than spec.maxPodLosses
INFRASTRUCTURE_REFUSED = "InfrastructureRefused"  # invalid Job, image that cannot be pulled...
CANCELLED = "Cancelled"                         # spec.state: Cancelled
CONFLICT = "Conflict"  # an object of a name the run needs belongs to someone else (contract/ownership.py)
END_REASONS = frozenset({FLOW_FAILED, DEADLINE_EXCEEDED, POD_LOSSES_EXHAUSTED,
                         INFRASTRUCTURE_REFUSED, CANCELLED, CONFLICT})
# Runs that end for these reasons lose their Jobs (no pod may run on); a flow's own
# failure keeps its Job so that `kubectl logs` shows the traceback.
REMOVE_JOBS = frozenset({DEADLINE_EXCEEDED, INFRASTRUCTURE_REFUSED, CANCELLED})


# ---- the kinds of object the project touches ----------------------------------------------

@dataclass(frozen=True)
class Kind:
    """A kind's API group ("" for the core group) and resource (plural)."""

    group: str
    plural: str


KINDS: Mapping[str, Kind] = {
    KIND: Kind(GROUP, PLURAL),
    NOTIFIER_KIND: Kind(GROUP, NOTIFIER_PLURAL),
    "Job": Kind("batch", "jobs"),
    "Pod": Kind("", "pods"),
    "PersistentVolumeClaim": Kind("", "persistentvolumeclaims"),
    "ServiceAccount": Kind("", "serviceaccounts"),
    "ConfigMap": Kind("", "configmaps"),
    "Secret": Kind("", "secrets"),
    "Event": Kind("", "events"),
    "Role": Kind("rbac.authorization.k8s.io", "roles"),
    "RoleBinding": Kind("rbac.authorization.k8s.io", "rolebindings"),
}


# ---- what a parent leaves on its children, and messages every actor shows alike ----------

ANNOTATION_SUSPENDED_WITH_PARENT = "flowrun.io/suspended-with-parent"
ANNOTATION_CANCELLED_WITH_PARENT = "flowrun.io/cancelled-with-parent"
SUBFLOW_SUSPEND_MESSAGE = ("cannot suspend a subflow independently of its parent; "
                           "start it with as_subflow=False")

UNATTRIBUTED_CHILD = ("created without the admission webhook, so who created this subflow is unknown: "
                      "it is not started (a child's rights depend on the run that creates it); "
                      "delete it and let its parent create it again while the webhook runs")
