"""Who may answer a pause: approvers, groups, the quorum, the creator, and counting only
what the webhook signed."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from flowrun.contract import approvals as a
from flowrun.contract.phases import PauseKind
from flowrun.contract.lifecycle.operator import operator_step
from flowrun.contract.lifecycle.pausing import PauseMemo, PauseRequest, runner_pause
from flowrun.contract.lifecycle.steps import Hold, Write
from flowrun.contract.lifecycle.world import JobView, Policy, World

SECRET = b"k" * 32
NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)


def paused(rule, *, state="Paused", generation=2, entries=None, creator="carol", phase="Paused", status_approvals=()):
    pause = {"key": "pause-1", "kind": "Pause", "generation": 2, "since": "2026-11-25T11:59:00Z",
             "deadline": "2026-11-25T13:00:00Z", "approval": {**rule, "approvals": list(status_approvals)}}
    annotations = {a.ANNOTATION_CREATED_BY: creator, "flowrun.io/changed-by": "dave",
                   "flowrun.io/changed-by-generation": str(generation)}
    if entries is not None:
        annotations[a.ANNOTATION_APPROVALS] = json.dumps({"key": "pause-1", "entries": entries})
    return {"metadata": {"name": "r", "namespace": "ns", "generation": generation, "annotations": annotations},
            "spec": {"flow": "m:f", "state": state},
            "status": {"phase": phase, "attempt": 1, "jobName": "r-1", "jobUID": "j", "pause": pause}}


FINANCE2 = a.request(["group:finance"], approvals=2)


@pytest.mark.parametrize("user,groups,creator,refused", [
    ("eve", [], "carol", "only group:finance may resume pause-1"),
    ("carol", ["finance"], "carol", "may not approve its own pause"),
    ("alice", ["finance"], "carol", ""),
    ("alice", ["finance", "ops"], "", ""),
])
def test_who_may_approve(user, groups, creator, refused):
    why = a.refusal(FINANCE2, "pause-1", user, groups, creator)
    assert (refused in why) if refused else why == ""


def test_the_creator_may_approve_when_allowed():
    assert a.refusal(a.request(["carol"], allow_creator=True), "k", "carol", [], "carol") == ""


def test_no_rule_when_anyone_may_resume():
    assert a.request(None) is None and a.request([], 1) is None
    with pytest.raises(ValueError):
        a.request(["x"], approvals=0)


def sign(entry):
    return {**entry, "sig": a.sign(SECRET, "ns", "r", "pause-1", entry)}


def test_the_webhook_records_approvals_until_the_quorum():
    old = paused(FINANCE2)
    new = {**old, "spec": {"flow": "m:f", "state": "Running", "input": {"ok": True}}}
    why, patch = a.webhook_approve(old, new, old["status"]["pause"], user="alice", groups=["finance"],
                                   time="t1", secret=SECRET)
    assert why == ""
    assert patch["spec"] == {"state": "Paused", "input": None}, "the first approval leaves the run paused"
    record = json.loads(patch["metadata"]["annotations"][a.ANNOTATION_APPROVALS])
    assert [e["by"] for e in record["entries"]] == ["alice"]
    # The same person again: not counted twice, still paused.
    old["metadata"]["annotations"][a.ANNOTATION_APPROVALS] = patch["metadata"]["annotations"][a.ANNOTATION_APPROVALS]
    _, again = a.webhook_approve(old, new, old["status"]["pause"], user="alice", groups=["finance"], time="t2",
                                 secret=SECRET)
    assert "spec" in again and len(json.loads(again["metadata"]["annotations"][a.ANNOTATION_APPROVALS])["entries"]) == 1
    # A second finance member completes it: the resume goes through.
    _, done = a.webhook_approve(old, new, old["status"]["pause"], user="bob", groups=["finance"], time="t3",
                                secret=SECRET)
    assert "spec" not in done
    assert [e["by"] for e in json.loads(done["metadata"]["annotations"][a.ANNOTATION_APPROVALS])["entries"]] \
        == ["alice", "bob"]


def test_only_signed_approvals_count():
    good = sign({"by": "alice", "groups": ["finance"], "time": "t1"})
    forged = {"by": "mallory", "groups": ["finance"], "time": "t1", "sig": "0" * 64}
    obj = paused(FINANCE2, entries=[good, forged])
    assert [e["by"] for e in a.verified(obj, "pause-1", SECRET)] == ["alice"]
    assert a.verified(obj, "pause-1", None) == []


def test_the_operator_counts_signed_approvals_into_the_status():
    obj = paused(FINANCE2, entries=[sign({"by": "alice", "groups": ["finance"], "time": "t1"})])
    step = operator_step(obj, World(jobs=(JobView("r-1", 1, "j"),)), Policy(approval_secret=SECRET), NOW)
    assert isinstance(step, Write)
    assert [x["by"] for x in step.status["pause"]["approval"]["approvals"]] == ["alice"]
    assert step.status["history"][-1]["action"] == "approved" and "1 of 2" in step.status["message"]


def test_a_resume_short_of_the_quorum_is_put_back():
    obj = paused(FINANCE2, state="Running", generation=3, status_approvals=[{"by": "alice"}])
    step = operator_step(obj, World(jobs=(JobView("r-1", 1, "j"),)), Policy(approval_secret=SECRET), NOW)
    assert step.spec == {"spec": {"state": "Paused"}} and "needs 2 approvals" in step.status["message"]


def test_the_runner_waits_for_the_quorum_to_be_counted():
    obj = paused(FINANCE2, state="Running", generation=3, status_approvals=[{"by": "alice"}])
    req = PauseRequest("pause-1", PauseKind.PAUSE, 3600, approval=FINANCE2)
    step = runner_pause(obj, 1, req, PauseMemo(), NOW, check=lambda d: None, stored=lambda k: (False, None))
    assert isinstance(step, Hold)
    obj["status"]["pause"]["approval"]["approvals"].append({"by": "bob"})
    step = runner_pause(obj, 1, req, PauseMemo(), NOW, check=lambda d: None, stored=lambda k: (False, None))
    assert isinstance(step, Write) and step.status["phase"] == "Running"


class People:
    """What `flowrun ls --waiting-for-me` asks the API server, answered for one person."""

    def __init__(self, user, groups, may_patch=("pay", "open"), verbs_on=False, may_resume=("pay",)):
        self.me = {"username": user, "groups": groups}
        self.may_patch, self.verbs_on, self.may_resume = may_patch, verbs_on, may_resume

    def whoami(self):
        return self.me

    def i_may(self, namespace, verb, resource, group="", name=""):
        return name in (self.may_patch if verb == "patch" else self.may_resume)

    def get_config_map(self, namespace, name):
        return {"data": {"actionVerbs": "true" if self.verbs_on else "false"}}


def test_what_waits_for_me():
    from flowrun.cli.runs import waiting_for
    pay = paused(FINANCE2, status_approvals=[{"by": "bob"}])
    pay["metadata"]["name"] = "pay"
    open_pause = paused(a.request(None) or {}, creator="carol")
    open_pause["metadata"]["name"] = "open"
    open_pause["status"]["pause"].pop("approval")
    running = {"metadata": {"name": "busy", "namespace": "ns"}, "spec": {"state": "Running"},
               "status": {"phase": "Running"}}
    runs = [pay, open_pause, running]
    names = lambda people: [r["metadata"]["name"] for r in waiting_for(people, runs)]  # noqa: E731
    assert names(People("alice", ["finance"])) == ["pay", "open"]
    assert names(People("bob", ["finance"])) == ["open"], "bob approved already"
    assert names(People("carol", ["finance"])) == ["open"], "carol created pay"
    assert names(People("eve", ["sales"])) == ["open"]
    assert names(People("alice", ["finance"], verbs_on=True)) == ["pay"], "no resume verb on open"
    assert names(People("alice", ["finance"], may_patch=())) == []
