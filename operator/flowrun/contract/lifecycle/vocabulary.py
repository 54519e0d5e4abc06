"""The lifecycle's words: why a run ended, the annotations a parent leaves on its
children, and the messages every actor shows alike.

It exists so that the operator, the runner, people's doors and the readers name these
things once. It must never decide anything, read a run or do I/O: only constants.
"""
from __future__ import annotations

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

ANNOTATION_SUSPENDED_WITH_PARENT = "flowrun.io/suspended-with-parent"
ANNOTATION_CANCELLED_WITH_PARENT = "flowrun.io/cancelled-with-parent"
SUBFLOW_SUSPEND_MESSAGE = ("cannot suspend a subflow independently of its parent; "
                           "start it with as_subflow=False")

UNATTRIBUTED_CHILD = ("created without the admission webhook, so who created this subflow is unknown: "
                      "it is not started (a child's rights depend on the run that creates it); "
                      "delete it and let its parent create it again while the webhook runs")
