"""Every API call the operator makes, declared as data next to the code that makes them.

Why: the operator runs with exactly the rights the Helm chart gives it, and a missing
right shows up only as a 403 at the worst moment (the TTL deletion did). So the calls
are written down here, and a fast test (tests/unit/chart/test_operator_rights.py)
checks three things against each other:

- the code: every `kube.<method>(...)` call in `flowrun/controller/` maps, through
  `METHOD_CALLS`, to rights listed in `OPERATOR_RIGHTS`; every public method of `Kube`
  is declared in `METHOD_CALLS` with the HTTP verbs it really sends;
- the chart: the rules `helm template` renders grant exactly `OPERATOR_RIGHTS`, no more
  and no less, in cluster-wide and in namespaced mode;
- docs/security.md: its operator table lists the same rights.

A new API call therefore means: declare it here, grant it in the chart's
`_helpers.tpl`/`rbac.yaml`, and say why in docs/security.md.

What this module must never do: make a call. It is a table.
"""
from __future__ import annotations

from typing import NamedTuple

from ..contract.lifecycle.vocabulary import KINDS


class Right(NamedTuple):
    group: str  # "" for the core group
    resource: str  # plural, with "/subresource" when there is one
    verb: str


_FR = ("flowrun.io", "flowruns")
_FR_STATUS = ("flowrun.io", "flowruns/status")

# Kube method -> the (group, resource, verb) it needs. `None` as the resource means "the
# kind passed as the first argument" (or, for `create`, the object's kind). Keep the
# HTTP verbs in step with the code: the test reads client.py, flowruns.py and access.py.
METHOD_CALLS: dict[str, list[tuple[str | None, str | None, str]]] = {
    "get_flowrun": [(*_FR, "get")],
    "list_flowruns": [(*_FR, "list")],
    "create_flowrun": [(*_FR, "create")],
    "delete_flowrun": [(*_FR, "delete")],
    "patch_flowrun": [(*_FR, "patch"), (*_FR_STATUS, "patch")],
    "update_flowrun": [(*_FR, "get"), (*_FR, "patch"), (*_FR_STATUS, "patch")],
    "watch_flowrun": [(*_FR, "get"), (*_FR, "list"), (*_FR, "watch")],
    "get_notifier": [("flowrun.io", "flowrunnotifiers", "get")],
    # runtime inputs (contract/run_inputs.py): send requests and the runs' inbox pages
    "create_input": [("flowrun.io", "flowruninputs", "create")],
    "list_inputs": [("flowrun.io", "flowruninputs", "list")],
    "delete_input": [("flowrun.io", "flowruninputs", "delete")],
    "get_inbox": [("flowrun.io", "flowruninboxes", "get")],
    "create_inbox": [("flowrun.io", "flowruninboxes", "create")],
    "patch_inbox": [("flowrun.io", "flowruninboxes", "patch")],
    "watch_inbox": [("flowrun.io", "flowruninboxes", "list"), ("flowrun.io", "flowruninboxes", "watch")],
    "patch_notifier_status": [("flowrun.io", "flowrunnotifiers/status", "patch")],
    # create adopts an existing object of the same name: it reads it on a 409
    "create": [(None, None, "create"), (None, None, "get")],
    "get": [(None, None, "get")],
    "list": [(None, None, "list")],
    "delete": [(None, None, "delete")],
    "flowrun_pods": [("", "pods", "list")],
    "flowrun_events": [("", "events", "list")],
    # the web UI's: every change of the runs a person may list; acting as that person
    "watch_flowruns": [(*_FR, "list"), (*_FR, "watch")],
    "as_person": [],
    "get_config_map": [("", "configmaps", "get")],
    "pod_log": [("", "pods/log", "get")],
    "emit_event": [("", "events", "create")],
    "get_lease": [("coordination.k8s.io", "leases", "get")],
    "write_lease": [("coordination.k8s.io", "leases", "create"), ("coordination.k8s.io", "leases", "update")],
    "can_create_pods": [("authorization.k8s.io", "subjectaccessreviews", "create")],
    "may": [("authorization.k8s.io", "subjectaccessreviews", "create")],
    # the CLI's and the UI's questions about the person using them (not the operator's)
    "whoami": [("authentication.k8s.io", "selfsubjectreviews", "create")],
    "i_may": [("authorization.k8s.io", "selfsubjectaccessreviews", "create")],
}


class Row(NamedTuple):
    group: str
    resource: str
    verbs: tuple[str, ...]
    cluster: bool  # cluster-scoped right (the chart's `-cluster` ClusterRole)
    why: str
    # granted only when this chart value is true (else never)
    only_with: str = ""
    # granted only in the operator's own namespace (the chart's `-leader` Role)
    own_namespace: bool = False


# Exactly what the chart grants the operator's ServiceAccount (and docs/security.md lists).
OPERATOR_RIGHTS: tuple[Row, ...] = (
    Row("flowrun.io", "flowruns", ("get", "list", "watch", "patch", "create", "delete"), False,
        "watch runs (kopf); record spec.state, annotations, kopf's finalizer and progress; "
        "delete a finished run when its TTL runs out; `create` only because each run's Role "
        "grants it (RBAC escalation prevention), the operator never creates runs"),
    Row("flowrun.io", "flowruns/status", ("get", "patch"), False,
        "write phase, attempt, history, conditions, subflow mirrors; `get` because each "
        "run's Role grants it"),
    Row("batch", "jobs", ("create", "get", "list", "watch", "delete"), False,
        "one Job per attempt (read back when it exists already); deleted on suspend, "
        "timeout and cancel"),
    Row("", "pods", ("list", "watch"), False,
        "follow the runner pod to see why it cannot start or was lost"),
    Row("", "persistentvolumeclaims", ("create", "get"), False,
        "the per-run result-cache claim (owned by the run: deleted by garbage collection)"),
    Row("", "serviceaccounts", ("create", "get"), False, "each run's own account"),
    Row("rbac.authorization.k8s.io", "roles", ("create", "get"), False, "each run's Role"),
    Row("rbac.authorization.k8s.io", "rolebindings", ("create", "get"), False,
        "binds each run's Role to its account"),
    Row("", "events", ("create",), False, "one Event per transition (kopf posts some too)"),
    Row("flowrun.io", "flowruninputs", ("list", "watch", "delete", "create"), False,
        "watch inputs sent to runs (kopf), list a run's pending ones, delete each once it is "
        "in the run's inbox; `create` only because each run's Role grants it (a run's pod "
        "sends inputs), the operator never sends"),
    Row("flowrun.io", "flowruninboxes", ("get", "list", "watch", "create", "patch"), False,
        "write each run's inbox pages (owned by the run); `list` and `watch` only because "
        "each run's Role grants them on its own pages"),
    Row("flowrun.io", "flowrunnotifiers", ("get", "list", "watch"), False,
        "watch notifiers (kopf); read one again just before a delivery", "notifications.enabled"),
    Row("flowrun.io", "flowrunnotifiers/status", ("patch",), False,
        "a notifier's Ready condition, last delivery and last error", "notifications.enabled"),
    Row("", "secrets", ("get",), False,
        "the receiver URL and signing key a notifier references (the webhook admits only "
        "notifiers whose creator may read those Secrets)", "notifications.enabled"),
    Row("", "namespaces", ("list", "watch"), True,
        "kopf follows namespaces for globs and cluster-wide mode"),
    Row("apiextensions.k8s.io", "customresourcedefinitions", ("list", "watch"), True,
        "kopf finds the FlowRun resource"),
    Row("authorization.k8s.io", "subjectaccessreviews", ("create",), True,
        "the webhook asks whether the creator of a run could create its pod themselves "
        "(spec.template beyond the allow-list), and, with authorization.actionVerbs, whether "
        "a person holds the verb (resume, suspend, pause, cancel) of the change they make"),
    Row("coordination.k8s.io", "leases", ("get", "create", "update"), False,
        "replicas of one instance elect a leader with a Lease in the operator's own namespace "
        "(controller/leader.py); only there", own_namespace=True),
)

# What kopf itself does, beside the calls of our code (handlers.py registers them).
KOPF_CALLS: tuple[Right, ...] = (
    Right("flowrun.io", "flowruns", "list"), Right("flowrun.io", "flowruns", "watch"),
    Right("flowrun.io", "flowruns", "patch"),  # finalizer, progress and diff-base annotations
    Right("batch", "jobs", "list"), Right("batch", "jobs", "watch"),
    Right("", "pods", "list"), Right("", "pods", "watch"),
    Right("", "events", "create"),
    Right("", "namespaces", "list"), Right("", "namespaces", "watch"),
    Right("apiextensions.k8s.io", "customresourcedefinitions", "list"),
    Right("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
    Right("flowrun.io", "flowrunnotifiers", "list"), Right("flowrun.io", "flowrunnotifiers", "watch"),
    Right("flowrun.io", "flowruninputs", "list"), Right("flowrun.io", "flowruninputs", "watch"),
)


def granted(notifications: bool = True) -> set[Right]:
    """What the chart grants; `notifications`: with `notifications.enabled` (the rows
    `only_with` it are granted only then)."""
    return {Right(r.group, r.resource, verb) for r in OPERATOR_RIGHTS for verb in r.verbs
            if notifications or not r.only_with}


def rights_of(method: str, kind: str | None = None) -> set[Right]:
    """The rights a call of `Kube.<method>` needs (`kind` for the kind-generic methods)."""
    out = set()
    for group, resource, verb in METHOD_CALLS[method]:
        if resource is None:
            if kind is None:
                raise ValueError(f"Kube.{method} needs a kind to know its rights")
            group, resource = KINDS[kind].group, KINDS[kind].plural
        out.add(Right(group or "", resource, verb))
    return out
