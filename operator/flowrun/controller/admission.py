"""What the admission webhook allows: the contract's rules, asked before the API server
stores a change, so a refused change leaves the run exactly as it was and the user sees
the reason at once (`kubectl patch` prints it).

The rules themselves live in contract/lifecycle/people.py (`review_create`,
`review_update`); this module only says who is asking. The operator and the runner
apply the same rules again when they act, so an unreachable webhook (failurePolicy
Ignore) never lets invalid input resume a run.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..contract import approvals, audit
from ..contract import template_policy as policy
from ..contract.children import child_errors, person_refusal
from ..contract.lifecycle import people
from ..contract.lifecycle.people import action_verb, is_resume_change, settled_by_system
from ..contract.lifecycle.view import RunView, pending_pause
from ..contract.lifecycle.vocabulary import ANNOTATION_SUSPENDED_WITH_PARENT, SUBFLOW_SUSPEND_MESSAGE, Denial, Refusal
from ..contract.signing import KeyRing
from ..contract.status import timestamp
from .resources import cache_claim_name

__all__ = ["ANNOTATION_SUSPENDED_WITH_PARENT", "SUBFLOW_SUSPEND_MESSAGE", "Asker", "Mutation", "mutate_review",
           "review_create", "review_template", "review_update", "runner_account", "validate_review"]


def runner_account(obj: dict[str, Any]) -> str:
    """The Kubernetes user name of a run's own runner (its pod's ServiceAccount)."""
    meta = obj.get("metadata") or {}
    return policy.run_account(meta.get("namespace", ""), str(meta.get("name")))


def review_create(new: dict[str, Any]) -> list[str]:
    return people.review_create(new)


def review_update(old: dict[str, Any], new: dict[str, Any], *, user: str = "") -> list[str]:
    """Error messages (empty: allowed) for an update of a FlowRun's main resource."""
    return people.review_update(old, new, runner_of_run=bool(user) and user == runner_account(new))


# ---- spec.template and children: who may ask for what ---------------------------------

def review_template(
    new: dict[str, Any], old: dict[str, Any] | None, *, user: str,
    own_run: dict[str, Any] | None, can_create_pods: Callable[[], tuple[bool, str]], keys: KeyRing,
    now: datetime,
) -> tuple[list[str], str | None]:
    """The template and origin rules of a CREATE or UPDATE: (errors, the approval
    signature to store, None to remove any). `own_run` is the FlowRun whose own
    ServiceAccount `user` is (flow code acting), else None. `can_create_pods()` asks the
    API server whether `user` may create pods in the namespace (called only when needed).

    - A person may ask for a template beyond the allow-list only if they may create pods.
    - Only a run's own pod may create its children (contract/children.py), with a template
      no wider than its own (item by item, by value), and it may never change a template.
    """
    template = (new.get("spec") or {}).get("template")
    posing = person_refusal(new, old, user) if own_run is None else ""
    if posing:
        return [posing], None
    if old is not None and policy.pod_shape(new.get("spec")) == policy.pod_shape(old.get("spec")):
        # Unchanged: the approval stays what the webhook made it (a client's own edit undone).
        return [], ((old.get("metadata") or {}).get("annotations") or {}).get(policy.ANNOTATION_TEMPLATE_APPROVAL)
    reaches = policy.reaches_further(template, cache_claim=cache_claim_name(new))

    if own_run is not None:
        if old is not None:
            return ["a run's ServiceAccount may not change spec.template, spec.image or spec.cache"], None
        errors = child_errors(new, own_run)
        wider = policy.no_wider_than(template, (own_run.get("spec") or {}).get("template"),
                                     child_claim=cache_claim_name(new), parent_claim=cache_claim_name(own_run))
        if wider:
            errors.append("a run's ServiceAccount may not start a child whose spec.template reaches further "
                          f"than its own: {'; '.join(wider)}")
        if errors:
            return errors, None
        if reaches and not policy.approved(keys, own_run, now):
            return [f"spec.template reaches beyond what a FlowRun may change ({'; '.join(reaches)}), "
                    "and the starting run's own template was not approved"], None
        return [], policy.sign(keys, new, now) if reaches else None

    if not reaches:
        return [], None
    allowed, reason = can_create_pods()
    if not allowed:
        return [policy.refusal(reaches, user=user, allowed=False, reason=reason)], None
    return [], policy.sign(keys, new, now)


def root_annotation(new: dict[str, Any], own_run: dict[str, Any] | None, keys: KeyRing,
                    now: datetime) -> str | None:
    """On a child its parent's pod creates: who started the root run, signed for this
    child (contract/approvals.py); None otherwise (a client's own value is removed)."""
    if own_run is None or not keys:
        return None
    user, run = approvals.root_creator(own_run, keys, now)
    if not user:
        return None
    return approvals.root_record(keys, new, user, run)


# ---- the whole mutating and validating review, for the handlers -------------------------

@dataclass(frozen=True)
class Asker:
    """What the webhook asks the API server (the handlers pass the operator's client;
    the tests a stub)."""
    # may(userinfo, namespace, verb, resource, group, name) -> (allowed, reason): a SubjectAccessReview
    may: Callable[[dict[str, Any], str, str, str, str, str], tuple[bool, str]]
    can_create_pods: Callable[[str, dict[str, Any]], tuple[bool, str]]
    get_flowrun: Callable[[str, str], dict[str, Any] | None]


@dataclass
class Mutation:
    """The mutating webhook's answer: a refusal, or the annotations (None: remove) and
    spec fields to set."""
    errors: list[str] = field(default_factory=list)
    annotations: dict[str, str | None] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)
    event: tuple[str, str] | None = None  # a Warning Event for a refusal: (reason, message)


def _denial(message: str) -> str:
    """A refusal as the webhook says it: with its code (NotAllowed unless it has one)."""
    return message if isinstance(message, Denial) else Denial(message, Refusal.NOT_ALLOWED)


def _user(userinfo: dict[str, Any] | None) -> str:
    return str((userinfo or {}).get("username") or "")


def _groups(userinfo: dict[str, Any] | None) -> list[str]:
    return [str(g) for g in (userinfo or {}).get("groups") or []]


def own_run_of(new: dict[str, Any], user: str, api: Asker) -> dict[str, Any] | None:
    """The FlowRun whose own pod `user` is, when it exists."""
    namespace = (new.get("metadata") or {}).get("namespace", "")
    run = policy.is_run_account(user, namespace)
    return api.get_flowrun(namespace, run) if run else None


def mutate_review(new: dict[str, Any], old: dict[str, Any] | None, userinfo: dict[str, Any] | None, *,
                  api: Asker, keys: KeyRing, now: datetime, action_verbs: bool = False,
                  operator_user: str = "") -> Mutation:
    """Every rule of the mutating webhook for a CREATE (`old` None) or UPDATE of a FlowRun.
    With `action_verbs`, an approval is recorded only for someone with the `resume` verb:
    an approval short of the quorum leaves spec.state as it was, so the validating
    webhook, which asks for the verb of a change of spec.state, would not ask."""
    user, meta = _user(userinfo), new.get("metadata") or {}
    namespace = meta.get("namespace", "")
    out = Mutation()
    own_run = own_run_of(new, user, api)
    errors, signature = review_template(
        new, old, user=user, own_run=own_run, can_create_pods=lambda: api.can_create_pods(namespace, userinfo or {}),
        keys=keys, now=now)
    if errors:
        out.errors = errors
        return out
    out.annotations[policy.ANNOTATION_TEMPLATE_APPROVAL] = signature
    written = meta.get("annotations") or {}
    if old is None:
        out.annotations[approvals.ANNOTATION_CREATED_BY] = user or None
        out.annotations[approvals.ANNOTATION_ROOT_CREATED_BY] = root_annotation(new, own_run, keys, now)
        if written.get(approvals.ANNOTATION_APPROVALS) is not None:
            out.annotations[approvals.ANNOTATION_APPROVALS] = None
    else:
        kept = (old.get("metadata") or {}).get("annotations") or {}
        for name in (approvals.ANNOTATION_CREATED_BY, approvals.ANNOTATION_APPROVALS,
                     approvals.ANNOTATION_ROOT_CREATED_BY):
            if written.get(name) != kept.get(name):
                out.annotations[name] = kept.get(name)
        if policy.is_run_account(user, namespace) != meta.get("name"):  # its own runner arms its pauses
            pause = pending_pause(old)
            # Once the system settled the pause at its deadline (on_timeout="resume"), a
            # resume is the system's own: no approval is recorded (people's are refused).
            if approvals.approval_of(pause) is not None and pause is not None and \
                    is_resume_change(old, new) and not settled_by_system(RunView.of(old)):
                if not keys:
                    out.errors = ["this pause names approvers, but the operator has no key to record "
                                  "approvals with (see docs/security.md)"]
                    return out
                lacks = _verb_refusal(old, new, userinfo, api, operator_user) if action_verbs else None
                if lacks is not None:
                    out.errors, out.event = [lacks[1]], ("ActionRefused", lacks[0])
                    return out
                why, change = approvals.webhook_approve(old, new, pause, user=user, groups=_groups(userinfo),
                                                        time=timestamp(now), keys=keys, now=now)
                if why:
                    out.errors, out.event = [_denial(why)], ("ApprovalRefused", why)
                    return out
                out.annotations.update(change["metadata"]["annotations"])
                out.spec.update(change.get("spec") or {})
    stamped = dict(new)
    if out.spec:
        stamped = {**new, "spec": {**(new.get("spec") or {}), **out.spec}}
    out.annotations.update(audit.stamp(stamped, old, user))
    return out


def validate_review(new: dict[str, Any], old: dict[str, Any] | None, userinfo: dict[str, Any] | None, *,
                    api: Asker, operator_user: str, action_verbs: bool) -> Mutation:
    """Every rule of the validating webhook (errors and the Warning Event of a refusal)."""
    out = Mutation()
    if old is None:
        out.errors = review_create(new)
        return out
    user = _user(userinfo)
    out.errors = review_update(old, new, user=user)
    if out.errors or not action_verbs:
        return out
    lacks = _verb_refusal(old, new, userinfo, api, operator_user)
    if lacks is not None:
        out.event, out.errors = ("ActionRefused", lacks[0]), [lacks[1]]
    return out


def _verb_refusal(old: dict[str, Any], new: dict[str, Any], userinfo: dict[str, Any] | None, api: Asker,
                  operator_user: str) -> tuple[str, str] | None:
    """(event message, refusal) when the change needs a custom verb the user lacks."""
    user, meta = _user(userinfo), new.get("metadata") or {}
    verb = action_verb(old, new)
    if verb is None or (operator_user and user == operator_user) or \
            policy.is_run_account(user, meta.get("namespace", "")) == meta.get("name"):
        return None
    allowed, _reason = api.may(userinfo or {}, meta.get("namespace", ""), verb, "flowruns", "flowrun.io",
                               meta.get("name", ""))
    if allowed:
        return None
    return (f"{user} lacks the `{verb}` verb",
            f"{user} may not {verb} FlowRun {meta.get('name')}: that needs the `{verb}` verb on "
            "flowruns.flowrun.io (authorization.actionVerbs is on), besides patch")
