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
from flowrun.contract.signing import KeyRing, SigningKey, digest, single

SECRET = b"k" * 32
KEYS = single(SECRET)
NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)
UID = "uid-of-r"


def paused(rule, *, state="Paused", generation=2, entries=None, creator="carol", phase="Paused", status_approvals=()):
    pause = {"key": "pause-1", "kind": "Pause", "generation": 2, "since": "2026-11-25T11:59:00Z",
             "deadline": "2026-11-25T13:00:00Z", "approval": {**rule, "approvals": list(status_approvals)}}
    annotations = {a.ANNOTATION_CREATED_BY: creator, "flowrun.io/changed-by": "dave",
                   "flowrun.io/changed-by-generation": str(generation)}
    if entries is not None:
        annotations[a.ANNOTATION_APPROVALS] = json.dumps({"key": "pause-1", "entries": entries}, separators=(",", ":"))
    return {"metadata": {"name": "r", "namespace": "ns", "uid": UID, "generation": generation,
                         "annotations": annotations},
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


def sign(entry, obj=None, pause=None, keys=KEYS):
    obj = obj or paused(FINANCE2)
    return {**entry, "sig": a.sign(keys, obj, pause or obj["status"]["pause"], entry)}


def test_the_webhook_records_approvals_until_the_quorum():
    old = paused(FINANCE2)
    new = {**old, "spec": {"flow": "m:f", "state": "Running", "input": {"ok": True}}}
    why, patch = a.webhook_approve(old, new, old["status"]["pause"], user="alice", groups=["finance"],
                                   time="t1", keys=KEYS, now=NOW)
    assert why == ""
    assert patch["spec"] == {"state": "Paused", "input": None}, "the first approval leaves the run paused"
    record = json.loads(patch["metadata"]["annotations"][a.ANNOTATION_APPROVALS])
    assert [e["by"] for e in record["entries"]] == ["alice"]
    # The same person again: not counted twice, still paused.
    old["metadata"]["annotations"][a.ANNOTATION_APPROVALS] = patch["metadata"]["annotations"][a.ANNOTATION_APPROVALS]
    _, again = a.webhook_approve(old, new, old["status"]["pause"], user="alice", groups=["finance"], time="t2",
                                 keys=KEYS, now=NOW)
    assert "spec" in again and len(json.loads(again["metadata"]["annotations"][a.ANNOTATION_APPROVALS])["entries"]) == 1
    # A second finance member completes it: the resume goes through.
    _, done = a.webhook_approve(old, new, old["status"]["pause"], user="bob", groups=["finance"], time="t3",
                                keys=KEYS, now=NOW)
    assert "spec" not in done
    assert [e["by"] for e in json.loads(done["metadata"]["annotations"][a.ANNOTATION_APPROVALS])["entries"]] \
        == ["alice", "bob"]


ALICE = {"by": "alice", "groups": ["finance"], "time": "t1", "input": digest({"ok": True})}


def _other_uid():
    obj = paused(FINANCE2)
    obj["metadata"]["uid"] = "uid-of-a-deleted-run"
    return obj


def _later_pause():
    obj = paused(FINANCE2)
    return obj, {**obj["status"]["pause"], "generation": 7}


# Each row an entry that must not count (the good one alone does: the first row).
@pytest.mark.parametrize("entry,counted", [
    (sign(ALICE), ["alice"]),
    ({**ALICE}, []),                                                     # unsigned
    ({**ALICE, "sig": "tls:" + "0" * 64}, []),                           # wrong signature
    ({**ALICE, "sig": "0" * 64}, []),                                    # no key id (the old format)
    ({**sign(ALICE), "by": "mallory"}, []),                              # someone else's signature
    ({**sign(ALICE), "input": digest({"ok": False})}, []),               # another input
    (sign(ALICE, obj=_other_uid()), []),                                 # a deleted run of the same name
    (sign(ALICE, *_later_pause()), []),                                  # another generation of the pause
    (sign(ALICE, pause={"key": "pause-2", "generation": 2}), []),        # another pause
    (sign(ALICE, keys=single(b"x" * 32)), []),                           # another key with the same id
], ids=["signed", "unsigned", "wrong-sig", "no-kid", "other-person", "other-input", "wrong-uid",
        "other-generation", "other-pause", "other-key"])
def test_only_approvals_signed_for_this_object_and_pause_count(entry, counted):
    obj = paused(FINANCE2, entries=[entry])
    assert [e["by"] for e in a.verified(obj, obj["status"]["pause"], KEYS, NOW)] == counted
    assert a.verified(obj, obj["status"]["pause"], a.KeyRing(None), NOW) == []


@pytest.mark.parametrize("write", [
    lambda record: json.dumps(record),                                          # spaces
    lambda record: json.dumps(record, separators=(",", ":")).replace('"by"', '"\\u0062y"'),  # an escaped key
    lambda record: json.dumps(record, separators=(",", ":")).replace('{"by":"alice"', '{"by":"eve","by":"alice"'),
], ids=["spaces", "escaped-key", "duplicate-key"])
def test_a_record_not_in_the_webhooks_exact_form_counts_for_nothing(write):
    """The chart's records policy reads `flowrun.io/approvals` as text (the API server's
    CEL has no JSON parser): an entry hidden from it by another spelling of the same JSON
    (an escaped key, a duplicate key, spaces) must not count either."""
    good = paused(FINANCE2, entries=[sign(ALICE)])
    assert [e["by"] for e in a.verified(good, good["status"]["pause"], KEYS, NOW)] == ["alice"]
    record = json.loads(good["metadata"]["annotations"][a.ANNOTATION_APPROVALS])
    good["metadata"]["annotations"][a.ANNOTATION_APPROVALS] = write(record)
    assert a.recorded(good) == {}
    assert a.verified(good, good["status"]["pause"], KEYS, NOW) == []


def test_the_same_person_twice_counts_once_toward_the_quorum():
    obj = paused(FINANCE2, entries=[sign(ALICE), sign({**ALICE, "time": "t2"})])
    assert [e["by"] for e in a.verified(obj, obj["status"]["pause"], KEYS, NOW)] == ["alice"]
    step = operator_step(obj, World(jobs=(JobView("r-1", 1, "j"),)), Policy(signing=KEYS), NOW)
    assert [x["by"] for x in step.status["pause"]["approval"]["approvals"]] == ["alice"]
    assert "1 of 2" in step.status["message"]


@pytest.mark.parametrize("user,groups,creator,says", [
    ("carol", ["finance"], "carol", "carol started this run and may not approve"),   # the creator
    ("eve", ["sales"], "carol", "only group:finance may resume pause-1; eve may not"),  # an outsider
    ("", [], "carol", "an unknown user may not"),
])
def test_the_webhook_records_no_approval_for_those_who_may_not(user, groups, creator, says):
    old = paused(FINANCE2, creator=creator)
    new = {**old, "spec": {"flow": "m:f", "state": "Running", "input": {"ok": True}}}
    why, patch = a.webhook_approve(old, new, old["status"]["pause"], user=user, groups=groups, time="t1",
                                   keys=KEYS, now=NOW)
    assert says in why and patch == {}


def test_approvals_of_one_pause_agree_on_its_input():
    old = paused(FINANCE2, entries=[sign(ALICE)])
    other = {**old, "spec": {"flow": "m:f", "state": "Running", "input": {"ok": False}}}
    why, patch = a.webhook_approve(old, other, old["status"]["pause"], user="bob", groups=["finance"], time="t2",
                                   keys=KEYS, now=NOW)
    assert "differs from the one approved by alice" in why and patch == {}
    # The operator and runner hold a completed quorum to the input it approved.
    rule = {**FINANCE2, "approvals": [{"by": "alice", "input": digest({"ok": True})},
                                      {"by": "bob", "input": digest({"ok": True})}]}
    assert a.input_refusal(rule, {"ok": True}) == ""
    assert "alice, bob" in a.input_refusal(rule, {"ok": False})
    obj = paused(FINANCE2, state="Running", generation=3, status_approvals=rule["approvals"])
    obj["spec"]["input"] = {"ok": False}
    step = operator_step(obj, World(jobs=(JobView("r-1", 1, "j"),)), Policy(signing=KEYS), NOW)
    assert step.spec == {"spec": {"state": "Paused"}} and "differs from the one approved" in step.status["message"]


def test_a_retired_key_verifies_within_its_grace_only():
    old_key = SigningKey("k1", b"1" * 32)
    entry = sign(ALICE, keys=KeyRing(old_key))
    obj = paused(FINANCE2, entries=[entry])
    grace_end = datetime(2026, 11, 26, 12, 0, 0, tzinfo=timezone.utc)
    rotated = KeyRing(SigningKey("k2", b"2" * 32), (SigningKey("k1", b"1" * 32, grace_end),))
    pause = obj["status"]["pause"]
    assert [e["by"] for e in a.verified(obj, pause, rotated, NOW)] == ["alice"]
    assert a.verified(obj, pause, rotated, grace_end) == []
    assert rotated.sign(["x"]).startswith("k2:")


def test_creator_exclusion_follows_the_root_run():
    runner = "system:serviceaccount:ns:root-runner"
    child = paused(a.request(["group:finance"]), creator=runner)
    child["metadata"]["name"] = "root-1234abcd-sub-1"
    new = {**child, "spec": {"flow": "m:f", "state": "Running", "input": {"ok": True}}}
    pause = child["status"]["pause"]
    # No valid record of who started the root run: nobody may approve (allow_creator off).
    why, _ = a.webhook_approve(child, new, pause, user="alice", groups=["finance"], time="t", keys=KEYS, now=NOW)
    assert "is unknown" in why
    child["metadata"]["annotations"][a.ANNOTATION_ROOT_CREATED_BY] = json.dumps({"user": "carol", "run": "root",
                                                                                 "sig": "tls:" + "0" * 64})
    assert "is unknown" in a.webhook_approve(child, new, pause, user="alice", groups=["finance"], time="t",
                                             keys=KEYS, now=NOW)[0]
    child["metadata"]["annotations"][a.ANNOTATION_ROOT_CREATED_BY] = a.root_record(KEYS, child, "carol", "root")
    assert a.root_creator(child, KEYS, NOW) == ("carol", "root")
    why, _ = a.webhook_approve(child, new, pause, user="carol", groups=["finance"], time="t", keys=KEYS, now=NOW)
    assert why.startswith("carol started the run root (which started this one) and may not approve")
    assert a.webhook_approve(child, new, pause, user="alice", groups=["finance"], time="t", keys=KEYS,
                             now=NOW)[0] == ""
    # The record is bound to the child's name: copied onto another child, it is no record.
    other = {**child, "metadata": {**child["metadata"], "name": "root-1234abcd-sub-2"}}
    assert a.root_creator(other, KEYS, NOW) == ("", "")


def test_the_operator_counts_signed_approvals_into_the_status():
    obj = paused(FINANCE2, entries=[sign({"by": "alice", "groups": ["finance"], "time": "t1"})])
    step = operator_step(obj, World(jobs=(JobView("r-1", 1, "j"),)), Policy(signing=KEYS), NOW)
    assert isinstance(step, Write)
    assert [x["by"] for x in step.status["pause"]["approval"]["approvals"]] == ["alice"]
    assert step.status["history"][-1]["action"] == "approved" and "1 of 2" in step.status["message"]


def test_a_resume_short_of_the_quorum_is_put_back():
    obj = paused(FINANCE2, state="Running", generation=3, status_approvals=[{"by": "alice"}])
    step = operator_step(obj, World(jobs=(JobView("r-1", 1, "j"),)), Policy(signing=KEYS), NOW)
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


def test_the_root_record_is_signed_over_exactly_the_childs_namespace_name_user_and_root_run():
    """`{"user","run","sig"}` compact, signed over ["root-created-by", namespace, name,
    user, root run]: an operator of another version verifies the same record."""
    import hashlib
    import hmac
    from flowrun.contract.signing import canonical, single
    secret = b"r" * 32
    child_ = {"metadata": {"namespace": "ns", "name": "p-0f1e2d3c-k"}}
    mac = hmac.new(secret, canonical(["root-created-by", "ns", "p-0f1e2d3c-k", "carol", "root"]),
                   hashlib.sha256).hexdigest()
    assert a.root_record(single(secret, kid="k1"), child_, "carol", "root") == (
        '{"user":"carol","run":"root","sig":"k1:' + mac + '"}')
    bare = hmac.new(secret, canonical(["root-created-by", "", "", "carol", "root"]), hashlib.sha256).hexdigest()
    assert json.loads(a.root_record(single(secret, kid="k1"), {}, "carol", "root"))["sig"] == "k1:" + bare


def test_no_approval_rule_counts_zero_approvals():
    assert a.count(None) == 0 and a.complete(None)


def _subflow(claimed: dict | None):
    child = paused(FINANCE2, creator="system:serviceaccount:ns:root-runner")
    child["metadata"]["name"] = "root-1234abcd-sub-1"
    if claimed is not None:
        child["metadata"]["annotations"][a.ANNOTATION_ROOT_CREATED_BY] = json.dumps(claimed)
    return child


def test_may_answer_now_for_the_ui_buttons():
    """Whether the UI offers a person the buttons of a pause: a listed approver who is not
    the creator and has not approved yet; anyone without a rule; nobody when the run is
    not stopped at a pause."""
    assert a.may_answer_now(paused(FINANCE2), "alice", ["finance"])
    assert not a.may_answer_now(paused(FINANCE2), "eve", [])
    assert not a.may_answer_now(paused(FINANCE2), "carol", ["finance"]), "the creator"
    assert not a.may_answer_now(paused(FINANCE2, creator=""), "alice", ["finance"]), "creator unknown"
    given = [{"by": "alice", "groups": ["finance"], "time": "t1", "sig": "x"}]
    assert not a.may_answer_now(paused(FINANCE2, status_approvals=given), "alice", ["finance"]), "counted already"
    assert a.may_answer_now(paused(FINANCE2, status_approvals=given), "bob", ["finance"])
    no_rule = paused(FINANCE2)
    no_rule["status"]["pause"].pop("approval")
    assert a.may_answer_now(no_rule, "anyone", [])
    assert not a.may_answer_now(paused(FINANCE2, phase="Running"), "alice", ["finance"])


def test_may_answer_now_of_a_subflow_names_its_roots_creator_as_claimed():
    """A subflow's creator is its parent's pod: the person excluded is the root run's
    creator its record claims (display only: the webhook checks the signature); with no
    claim, nobody is known, so nobody may."""
    claim = {"user": "carol", "run": "root", "sig": "unchecked"}
    assert a.may_answer_now(_subflow(claim), "alice", ["finance"])
    assert not a.may_answer_now(_subflow(claim), "carol", ["finance"])
    assert not a.may_answer_now(_subflow(None), "alice", ["finance"])
    assert not a.may_answer_now(_subflow({"user": "carol"}), "carol", ["finance"])
    assert a.may_answer_now(_subflow({"user": "carol"}), "alice", ["finance"])


def test_a_verified_approval_keeps_who_when_and_the_input_it_vouches_for():
    """What counts is recorded without its signature but with the input's digest, so the
    resume can be checked against the input each approver sent."""
    want = digest({"ok": True})
    entry = {"by": "alice", "groups": ["finance"], "time": "t1", "input": want}
    obj = paused(FINANCE2, entries=[sign(entry)])
    assert a.verified(obj, obj["status"]["pause"], KEYS, NOW) == [entry]


def test_the_runner_holds_a_resume_whose_input_is_not_the_approved_one():
    """Approvals vouch for the input their approvers sent: a resume carrying another
    input is held (the operator puts it back), saying so; the approved input proceeds."""
    approved = [{"by": "alice", "input": digest({"ok": True})}, {"by": "bob", "input": digest({"ok": True})}]
    obj = paused(FINANCE2, state="Running", generation=3, status_approvals=approved)
    req = PauseRequest("pause-1", PauseKind.PAUSE, 3600, approval=FINANCE2)
    obj["spec"]["input"] = {"ok": False}
    step = runner_pause(obj, 1, req, PauseMemo(), NOW, check=lambda d: None, stored=lambda k: (False, None))
    assert step == Hold("the input is not the one approved (the operator puts the resume back)")
    obj["spec"]["input"] = {"ok": True}
    step = runner_pause(obj, 1, req, PauseMemo(), NOW, check=lambda d: None, stored=lambda k: (False, None))
    assert not isinstance(step, Hold)


def test_counted_approvals_are_on_record_one_entry_each_after_the_earlier_history():
    """Each newly counted approval adds an `approved` entry by its approver at the pause's
    key, saying which of how many it is, with the groups it was given under; earlier
    history is kept and the message says how many are in."""
    earlier = {"time": "2026-11-25T11:00:00Z", "action": "paused", "by": "runner", "key": "pause-1", "seq": 1}
    obj = paused(FINANCE2, entries=[sign({"by": "alice", "groups": ["finance"], "time": "t1"}),
                                    sign({"by": "bob", "groups": ["finance", "ops"], "time": "t2"})])
    obj["status"]["history"] = [earlier]
    step = operator_step(obj, World(jobs=(JobView("r-1", 1, "j"),)), Policy(signing=KEYS), NOW)
    assert isinstance(step, Write)
    t = "2026-11-25T12:00:00Z"
    assert step.status["history"] == [
        earlier,
        {"time": t, "action": "approved", "by": "alice", "key": "pause-1", "seq": 2, "message": "approval 1 of 2",
         "groups": ["finance"]},
        {"time": t, "action": "approved", "by": "bob", "key": "pause-1", "seq": 3, "message": "approval 2 of 2",
         "groups": ["finance", "ops"]}]
    assert step.status["message"] == "Waiting at pause-1: 2 of 2 approvals"


def test_a_resume_short_of_the_quorum_is_put_back_on_record():
    """The whole answer to a resume made before the quorum: spec.state back to the phase
    (Paused, or Suspended for a suspension), the exact message, the generation judged and
    a `resume-rejected` entry as the person's (approvals missing)."""
    for phase, back in (("Paused", "Paused"), ("Suspended", "Suspended")):
        obj = paused(FINANCE2, state="Running", generation=3, phase=phase, status_approvals=[{"by": "alice"}])
        step = operator_step(obj, World(jobs=(JobView("r-1", 1, "j"),)), Policy(signing=KEYS), NOW)
        assert isinstance(step, Write) and step.spec == {"spec": {"state": back}}
        assert step.status["message"] == (
            "Resume of pause-1 not counted: it needs 2 approvals by group:finance, 1 given (a change made without "
            "the admission webhook cannot be attributed)")
        assert step.status["pause"]["rejectedGeneration"] == 3 and step.status["pause"]["key"] == "pause-1"
        assert step.status["history"][-1] == {"time": "2026-11-25T12:00:00Z", "action": "resume-rejected",
                                              "by": "dave", "key": "pause-1", "seq": 1,
                                              "message": "approvals missing"}


def test_a_resume_with_another_input_than_approved_is_put_back_saying_so():
    approved = [{"by": "alice", "input": digest({"ok": True})}, {"by": "bob", "input": digest({"ok": True})}]
    obj = paused(FINANCE2, state="Running", generation=3, status_approvals=approved)
    obj["spec"]["input"] = {"ok": False}
    step = operator_step(obj, World(jobs=(JobView("r-1", 1, "j"),)), Policy(signing=KEYS), NOW)
    assert isinstance(step, Write) and step.spec == {"spec": {"state": "Paused"}}
    assert step.status["message"].startswith("Resume of pause-1 not counted: ")
    assert "approvals by" not in step.status["message"]
    obj["spec"]["input"] = {"ok": True}
    step = operator_step(obj, World(jobs=(JobView("r-1", 1, "j"),)), Policy(signing=KEYS), NOW)
    assert not (isinstance(step, Write) and step.spec == {"spec": {"state": "Paused"}})


def test_a_retired_key_within_its_grace_still_vouches_in_the_webhooks_count():
    """The webhook counts an approval and a root record signed by a retired key until its
    grace ends (judged at `now`)."""
    old_keys = KeyRing(SigningKey("k1", b"1" * 32))
    rotated = KeyRing(SigningKey("k2", b"2" * 32),
                      (SigningKey("k1", b"1" * 32, datetime(2026, 11, 26, tzinfo=timezone.utc)),))
    old = paused(FINANCE2, entries=[sign(ALICE, keys=old_keys)])
    new = {**old, "spec": {"flow": "m:f", "state": "Running", "input": {"ok": True}}}
    why, patch = a.webhook_approve(old, new, old["status"]["pause"], user="bob", groups=["finance"], time="t2",
                                   keys=rotated, now=NOW)
    assert (why, "spec" in patch) == ("", False)
    assert [e["by"] for e in json.loads(patch["metadata"]["annotations"][a.ANNOTATION_APPROVALS])["entries"]] == [
        "alice", "bob"]
    child = _subflow(None)
    child["metadata"]["annotations"][a.ANNOTATION_ROOT_CREATED_BY] = a.root_record(old_keys, child, "carol", "root")
    new_child = {**child, "spec": {"flow": "m:f", "state": "Running", "input": {"ok": True}}}
    assert a.root_creator(child, rotated, NOW) == ("carol", "root")
    why, _ = a.webhook_approve(child, new_child, child["status"]["pause"], user="carol", groups=["finance"],
                               time="t", keys=rotated, now=NOW)
    assert why == ("carol started the run root (which started this one) and may not approve its pause pause-1 "
                   "(allow_creator is off)")


@pytest.mark.parametrize("text", ["[1]", '"carol"', "7", "not json"])
def test_a_root_record_that_is_no_json_object_names_nobody(text):
    child = _subflow(None)
    child["metadata"]["annotations"][a.ANNOTATION_ROOT_CREATED_BY] = text
    assert a.root_creator(child, KEYS, NOW) == ("", "")
    assert a.may_answer_now(child, "alice", ["finance"]) is False


def test_the_webhook_reads_a_pause_without_a_rule_as_the_open_rule():
    old = paused(FINANCE2)
    old["status"]["pause"].pop("approval")
    new = {**old, "spec": {"flow": "m:f", "state": "Running", "input": None}}
    why, patch = a.webhook_approve(old, new, old["status"]["pause"], user="eve", groups=[], time="t1", keys=KEYS,
                                   now=NOW)
    record = json.loads(patch["metadata"]["annotations"][a.ANNOTATION_APPROVALS])
    assert (why, "spec" in patch, [e["by"] for e in record["entries"]]) == ("", False, ["eve"])


def test_an_approval_for_another_input_is_refused_in_full_but_not_the_approvers_own_change():
    from flowrun.contract.lifecycle.vocabulary import Refusal
    old = paused(FINANCE2, entries=[sign(ALICE)])
    other = {**old, "spec": {"flow": "m:f", "state": "Running", "input": {"ok": False}}}
    why, patch = a.webhook_approve(old, other, old["status"]["pause"], user="bob", groups=["finance"], time="t2",
                                   keys=KEYS, now=NOW)
    assert (str(why), why.code, patch) == (
        "the input differs from the one approved by alice: the approvals of pause-1 must agree on its input "
        "(send the same input, or reject the run)", Refusal.INVALID_INPUT, {})
    # alice, counted already, is not counted again: the run stays paused as it was
    why, patch = a.webhook_approve(old, other, old["status"]["pause"], user="alice", groups=["finance"], time="t2",
                                   keys=KEYS, now=NOW)
    assert (why, patch["spec"]) == ("", {"state": "Paused", "input": None})
    assert [e["by"] for e in json.loads(patch["metadata"]["annotations"][a.ANNOTATION_APPROVALS])["entries"]] == [
        "alice"]


def test_the_webhooks_approval_record_in_full():
    old = paused(FINANCE2)
    new = {**old, "spec": {"flow": "m:f", "state": "Running", "input": {"ok": True}}}
    _, patch = a.webhook_approve(old, new, old["status"]["pause"], user="alice", groups=["ops", "finance"],
                                 time="t1", keys=KEYS, now=NOW)
    entry = {"by": "alice", "groups": ["finance", "ops"], "time": "t1", "input": digest({"ok": True})}
    assert patch["metadata"]["annotations"][a.ANNOTATION_APPROVALS] == json.dumps(
        {"key": "pause-1", "uid": UID, "generation": 2, "entries": [sign(entry)]}, separators=(",", ":"))


UNKNOWN_CREATOR = ("who created {whose} is unknown (no record by the API server, or none the webhook signed: made "
                   "while the webhook was unreachable?), so nobody may approve its pause pause-1, which its creator "
                   "may not (allow_creator is off)")


@pytest.mark.parametrize("rule,user,creator,runs,says", [
    (FINANCE2, "alice", "", ("r", "r"), UNKNOWN_CREATOR.format(whose="this run")),
    (FINANCE2, "alice", "", ("root", "r"), UNKNOWN_CREATOR.format(whose="the run that started this subflow")),
    ({}, "eve", "carol", ("r", "r"), ""),
    ({}, "carol", "carol", ("r", "r"),
     "carol started this run and may not approve its own pause pause-1 (allow_creator is off)"),
    ({"allowCreator": True}, "carol", "carol", ("r", "r"), ""),
    ({"allowCreator": True}, "carol", "", ("r", "r"), ""),
], ids=["unknown-creator", "unknown-root-creator", "open-rule", "open-rule-creator", "open-rule-allow-creator",
        "open-rule-allow-creator-unknown"])
def test_refusals_in_full(rule, user, creator, runs, says):
    root_run, own_run = runs
    assert a.refusal(rule, "pause-1", user, ["finance"], creator, root_run=root_run, own_run=own_run) == says
    assert a.who_may(rule) == ("group:finance" if rule is FINANCE2 else "anyone allowed to resume it")


def test_a_root_record_without_the_root_runs_name_still_names_its_creator():
    child = _subflow(None)
    child["metadata"]["annotations"][a.ANNOTATION_ROOT_CREATED_BY] = a.root_record(KEYS, child, "carol", "")
    assert a.root_creator(child, KEYS, NOW) == ("carol", "")


def test_a_request_in_full_and_its_refusals_word_for_word():
    assert a.request([" alice ", "", "group:x"], 2, escalate_after=1, escalate_to=[" bob ", " "]) == {
        "approvers": ["alice", "group:x"], "required": 2, "allowCreator": False, "approvals": [],
        "escalateAfterSeconds": 1, "escalateTo": ["bob"]}
    for kwargs, message in [
        ({"approvals": 0}, "approvals must be at least 1"),
        ({"escalate_after": 60}, "escalate_after and escalate_to go together: after that many seconds without the "
                                 "approvals needed, the people in escalate_to may answer too"),
        ({"escalate_after": 0, "escalate_to": ["bob"]},
         "escalation needs approvers= (whom it adds to) and escalate_after of at least 1 second"),
    ]:
        with pytest.raises(ValueError) as info:
            a.request(["alice"], **kwargs)
        assert str(info.value) == message
    with pytest.raises(ValueError) as info:
        a.sign(KEYS, paused(FINANCE2), {}, ALICE)
    assert str(info.value) == "no pause"


def test_the_approval_record_keeps_names_as_they_are():
    old = paused(FINANCE2)
    _, patch = a.webhook_approve(old, old, old["status"]["pause"], user="zoë", groups=["finance"], time="t1",
                                 keys=KEYS, now=NOW)
    assert '"by":"zoë"' in patch["metadata"]["annotations"][a.ANNOTATION_APPROVALS]


def test_only_a_signed_entry_by_a_named_person_counts():
    obj = paused(FINANCE2, entries=[sign({**ALICE, "by": 7}), sign({**ALICE, "by": ""}), sign(ALICE)])
    assert [e["by"] for e in a.verified(obj, obj["status"]["pause"], KEYS, NOW)] == ["alice"]
    assert a.verified(obj, None, KEYS, NOW) == []


# ---- the operator's count, in full (mutation testing found these unasserted) -----------------

def test_three_approvals_counted_in_one_step_are_numbered_one_two_three():
    """Approvals that arrive together are numbered in order, each after the ones before it."""
    rule = a.request(["group:finance"], approvals=3)
    obj = paused(rule, entries=[sign({"by": who, "groups": ["finance"], "time": "t"}, paused(rule))
                                for who in ("alice", "bob", "carla")])
    step = operator_step(obj, World(jobs=(JobView("r-1", 1, "j"),)), Policy(signing=KEYS), NOW)
    assert isinstance(step, Write)
    assert [(e["by"], e["message"]) for e in step.status["history"]] == [
        ("alice", "approval 1 of 3"), ("bob", "approval 2 of 3"), ("carla", "approval 3 of 3")]
    assert step.status["message"] == "Waiting at pause-1: 3 of 3 approvals"


def test_the_operator_counts_an_approval_signed_by_a_retired_key_within_its_grace():
    """The operator judges a retired key's grace at `now`, as the webhook does."""
    old_keys = KeyRing(SigningKey("k1", b"1" * 32))
    later = datetime(2026, 11, 25, 12, 30, tzinfo=timezone.utc)  # the pause's deadline is 13:00
    rotated = KeyRing(SigningKey("k2", b"2" * 32), (SigningKey("k1", b"1" * 32, later),))
    obj = paused(FINANCE2, entries=[sign(ALICE, keys=old_keys)])
    step = operator_step(obj, World(jobs=(JobView("r-1", 1, "j"),)), Policy(signing=rotated), NOW)
    assert isinstance(step, Write) and [e["by"] for e in step.status["pause"]["approval"]["approvals"]] == ["alice"]
    assert operator_step(obj, World(jobs=(JobView("r-1", 1, "j"),)), Policy(signing=rotated), later) is None


def test_a_resume_short_of_the_quorum_with_another_input_says_what_is_missing_first():
    """Short of the quorum, the missing approvals are what the message names, even when
    the input also differs from the approved one; the earlier history is kept."""
    earlier = {"time": "2026-11-25T11:00:00Z", "action": "paused", "by": "runner", "key": "pause-1", "seq": 1}
    obj = paused(FINANCE2, state="Running", generation=3, status_approvals=[ALICE])
    obj["spec"]["input"] = {"ok": False}
    obj["status"]["history"] = [earlier]
    step = operator_step(obj, World(jobs=(JobView("r-1", 1, "j"),)), Policy(signing=KEYS), NOW)
    assert isinstance(step, Write) and step.spec == {"spec": {"state": "Paused"}}
    assert step.status["message"] == (
        "Resume of pause-1 not counted: it needs 2 approvals by group:finance, 1 given (a change made without "
        "the admission webhook cannot be attributed)")
    assert step.status["history"] == [earlier, {"time": "2026-11-25T12:00:00Z", "action": "resume-rejected",
                                                "by": "dave", "key": "pause-1", "seq": 2,
                                                "message": "approvals missing"}]


def test_the_operators_approval_messages_are_clipped_to_1024_characters():
    """Whatever the pause's key (the runner bounds it; the status is read as it is)."""
    key = "k" * 1100
    obj = paused(FINANCE2, entries=[])
    obj["status"]["pause"]["key"] = key
    pause = obj["status"]["pause"]
    obj["metadata"]["annotations"][a.ANNOTATION_APPROVALS] = json.dumps(
        {"key": key, "entries": [sign(ALICE, obj, pause)]}, separators=(",", ":"))
    step = operator_step(obj, World(jobs=(JobView("r-1", 1, "j"),)), Policy(signing=KEYS), NOW)
    assert isinstance(step, Write)
    assert step.status["message"] == ("Waiting at " + key)[:1021] + "..."
    back = paused(FINANCE2, state="Running", generation=3)
    back["status"]["pause"]["key"] = key
    step = operator_step(back, World(jobs=(JobView("r-1", 1, "j"),)), Policy(signing=KEYS), NOW)
    assert isinstance(step, Write) and step.status["message"] == ("Resume of " + key)[:1021] + "..."
