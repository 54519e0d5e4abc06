"""Random AdmissionReviews against the webhook's rules (issue 22, item 7): whatever the
user, groups, object and old object, the mutating and validating reviews never raise, and
never sign a template or record an approval for a user the SubjectAccessReview stub
refuses; what they record about who acted names the requesting user.

The API server's order is followed: the mutating review, then the validating review of
the mutated object; a request either reviewer refuses stores nothing.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowrun.contract import approvals
from flowrun.contract import template_policy as policy
from flowrun.contract.children import child_name
from flowrun.contract.signing import single
from flowrun.controller.admission import Asker, mutate_review, validate_review

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)
KEYS = single(b"k" * 32)
NS = "ns"
UID = "0f0f0f0f-aaaa-bbbb"
OPERATOR = "system:serviceaccount:flowrun-system:flowrun-operator"
RUNNER = policy.run_account(NS, "parent")
USERS = ["alice", "bob", "carol", "eve", "", RUNNER, policy.run_account(NS, "other"), OPERATOR]
GROUPS = ["finance", "sales", "system:authenticated", "system:masters"]
NAMES = ["r", "parent", child_name("parent", UID, "sub-1"), child_name("parent", "ffffffff", "sub-1")]
TEMPLATES = [None, {}, {"spec": {"nodeSelector": {"a": "b"}}},
             {"spec": {"serviceAccountName": "admin"}},
             {"spec": {"volumes": [{"name": "t", "projected": {"sources": [{"secret": {"name": "db"}}]}}]}},
             {"spec": {"initContainers": [{"name": "i", "image": "x"}]}},
             {"spec": {"containers": [{"name": "flow", "securityContext": {"privileged": True}}]}}]
JUNK = st.one_of(st.none(), st.text(max_size=20), st.sampled_from(["{}", "[]", '{"key":"pause-1","entries":[{}]}',
                                                                   '{"user":"carol","run":"root","sig":"tls:00"}']))
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=6)


@st.composite
def approval_rules(draw: Any) -> dict[str, Any] | None:
    if draw(st.integers(0, 4)) == 0:
        return None
    approvers = draw(st.lists(st.sampled_from(["alice", "bob", "carol", "group:finance", "group:sales"]),
                              max_size=3, unique=True))
    return approvals.request(approvers, approvals=draw(st.integers(1, 3)), allow_creator=draw(st.booleans()))


@st.composite
def flowruns(draw: Any, name: str | None = None) -> dict[str, Any]:
    name = name or draw(st.sampled_from(NAMES))
    labels: dict[str, str] = draw(st.sampled_from([
        {}, {"flowrun.io/parent": "parent"}, {"flowrun.io/started-by": "parent", "flowrun.io/started-by-uid": UID},
        {"flowrun.io/parent": "victim"}]))
    owners = draw(st.sampled_from([[], [{"kind": "FlowRun", "name": "parent", "uid": UID, "controller": True}]]))
    annotations = {k: v for k, v in {
        approvals.ANNOTATION_CREATED_BY: draw(st.one_of(st.none(), st.sampled_from(USERS))),
        approvals.ANNOTATION_ROOT_CREATED_BY: draw(JUNK),
        approvals.ANNOTATION_APPROVALS: draw(JUNK),
        policy.ANNOTATION_TEMPLATE_APPROVAL: draw(JUNK),
        "flowrun.io/changed-by": draw(st.one_of(st.none(), st.sampled_from(USERS))),
    }.items() if v is not None}
    phase = draw(st.sampled_from([None, "Running", "Paused", "Paused", "Suspended", "Completed"]))
    status: dict[str, Any] = {"phase": phase} if phase else {}
    if phase in ("Paused", "Suspended"):
        status["pause"] = {"key": "pause-1", "kind": "Pause" if phase == "Paused" else "Suspend", "generation": 2,
                           "inputSchema": draw(st.sampled_from([None, {"type": "object"}])),
                           "approval": draw(approval_rules())}
    spec: dict[str, Any] = {"flow": "m:f", "state": draw(st.sampled_from(["Running", "Paused", "Suspended",
                                                                           "Cancelled"])),
                            "template": draw(st.sampled_from(TEMPLATES))}
    if draw(st.booleans()):
        spec["input"] = draw(JSON)
    return {"metadata": {"name": name, "namespace": NS, "uid": draw(st.sampled_from(["", UID, "u-" + name])),
                         "generation": draw(st.integers(1, 4)), "creationTimestamp": "2026-11-25T12:00:00Z",
                         "labels": labels, "ownerReferences": owners, "annotations": annotations},
            "spec": spec, "status": status}


@st.composite
def reviews(draw: Any) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any], frozenset[str]]:
    old = draw(st.one_of(st.none(), flowruns(), flowruns()))
    if old is None:
        new = draw(flowruns())
    else:  # an UPDATE: the same object, some of it changed by the client
        new = json.loads(json.dumps(old))
        new["spec"]["state"] = draw(st.sampled_from(["Running", "Running", old["spec"]["state"], "Cancelled"]))
        if draw(st.booleans()):
            new["spec"]["input"] = draw(JSON)
        if draw(st.booleans()):
            new["spec"]["template"] = draw(st.sampled_from(TEMPLATES))
        if draw(st.booleans()):
            new["metadata"]["annotations"] = draw(flowruns(name=old["metadata"]["name"]))["metadata"]["annotations"]
        if draw(st.booleans()):
            new["metadata"]["labels"] = draw(flowruns())["metadata"]["labels"]
    userinfo = {"username": draw(st.sampled_from(USERS)),
                "groups": draw(st.lists(st.sampled_from(GROUPS), max_size=3, unique=True))}
    refused = frozenset(draw(st.lists(st.sampled_from(USERS), max_size=len(USERS), unique=True)))
    return new, old, userinfo, refused


def stub(refused: frozenset[str], parent: dict[str, Any] | None) -> tuple[Asker, list[tuple[str, str]]]:
    """The API server as the webhook sees it: every SubjectAccessReview of a user in
    `refused` is refused, any other allowed; the parent run exists or not."""
    asked: list[tuple[str, str]] = []

    def may(userinfo: dict[str, Any], namespace: str, verb: str, resource: str, group: str,
            name: str) -> tuple[bool, str]:
        asked.append((userinfo.get("username", ""), verb))
        return userinfo.get("username", "") not in refused, "stub"

    def can_create_pods(namespace: str, userinfo: dict[str, Any]) -> tuple[bool, str]:
        asked.append((userinfo.get("username", ""), "create pods"))
        return userinfo.get("username", "") not in refused, "stub"

    def get_flowrun(namespace: str, name: str) -> dict[str, Any] | None:
        return parent if parent is not None and name == parent["metadata"]["name"] else None
    return Asker(may=may, can_create_pods=can_create_pods, get_flowrun=get_flowrun), asked


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(review=reviews(), parent=st.one_of(st.none(), flowruns(name="parent")), verbs=st.booleans())
def test_random_admission_reviews(review, parent, verbs):
    new, old, userinfo, refused = review
    user = userinfo["username"]
    if parent is not None:
        parent["metadata"]["uid"] = UID
    api, _asked = stub(refused, parent)
    mutation = mutate_review(json.loads(json.dumps(new)), old, userinfo, api=api, keys=KEYS, now=NOW,
                             action_verbs=verbs, operator_user=OPERATOR)
    if mutation.errors:
        return  # refused: nothing is stored
    stored = json.loads(json.dumps(new))
    notes = stored["metadata"].setdefault("annotations", {})
    for key, value in mutation.annotations.items():
        if value is None:
            notes.pop(key, None)
        else:
            notes[key] = value
    stored["spec"].update(mutation.spec)
    verdict = validate_review(stored, old, userinfo, api=api, operator_user=OPERATOR, action_verbs=verbs)
    if verdict.errors:
        return
    kept = ((old or {}).get("metadata") or {}).get("annotations") or {}

    # A template approval the webhook made now: only for someone the API server says may
    # create pods, or for a run's own pod starting a child no wider than its approved self.
    signature = mutation.annotations.get(policy.ANNOTATION_TEMPLATE_APPROVAL)
    if signature and signature != kept.get(policy.ANNOTATION_TEMPLATE_APPROVAL):
        own = parent if parent is not None and user == RUNNER else None
        assert user not in refused or (own is not None and old is None and policy.approved(KEYS, own, NOW)), \
            (user, signature)

    # An approval recorded now: never for a user the stub refuses (with rights by verb), never
    # for someone the rule does not list, never for the run's (root) creator.
    record = mutation.annotations.get(approvals.ANNOTATION_APPROVALS)
    if record and record != kept.get(approvals.ANNOTATION_APPROVALS):
        entries = json.loads(record)["entries"]
        before = {e.get("by") for e in (json.loads(kept[approvals.ANNOTATION_APPROVALS]).get("entries") or [])
                  if isinstance(e, dict)} if kept.get(approvals.ANNOTATION_APPROVALS, "").startswith("{") else set()
        fresh = [e for e in entries if e["by"] not in before]
        for entry in fresh:
            assert entry["by"] == user
            assert not verbs or user not in refused or user == OPERATOR
            rule = approvals.approval_of(old["status"]["pause"])
            assert rule is not None and approvals.may_approve(rule, user, userinfo["groups"])
            creator, _root = approvals.root_creator(old, KEYS, NOW)
            assert rule.allow_creator or (creator and creator != user)

    # Who created it, and the root creator, are the API server's userinfo only.
    if old is None:
        assert mutation.annotations.get(approvals.ANNOTATION_CREATED_BY) == (user or None)
        root = mutation.annotations.get(approvals.ANNOTATION_ROOT_CREATED_BY)
        assert root is None or (user == RUNNER and parent is not None)
        # Nobody but the parent's own pod makes a FlowRun that says it is a child.
        if policy.is_run_account(user, NS) is None and (new["metadata"]["labels"] or {}):
            raise AssertionError(f"{user} created a FlowRun labelled {new['metadata']['labels']}")
    else:
        for name in (approvals.ANNOTATION_CREATED_BY, approvals.ANNOTATION_ROOT_CREATED_BY):
            assert notes.get(name) == kept.get(name)
