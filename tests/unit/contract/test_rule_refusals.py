"""A negative row for every security rule: what must NOT count, NOT be allowed, NOT run.

Approvals (contract/approvals.py): an entry without a signature, with a wrong one, signed
for another run, namespace or pause, or altered after signing (its person, groups or
time); the same person twice towards a quorum (in the webhook's record, in the status,
or both); the run's creator; an outsider; no key at all. The signature binds namespace,
name, the run's uid, the pause's key and generation, person, groups, time and the input
(a hash), with a key id (contract/signing.py).

The runner's fence (contract/transitions.py): a runner whose attempt is no longer the
run's, or whose run is suspended, cancelled or finished, writes nothing and
returns nothing to flow code, even at a pause that was resumed already."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from flowrun.contract import approvals as a
from flowrun.contract.lifecycle.operator import operator_step
from flowrun.contract.lifecycle.pausing import PauseMemo, PauseRequest, runner_pause
from flowrun.contract.lifecycle.runner import runner_checkpoint, runner_fence, runner_finished, runner_note, runner_started
from flowrun.contract.lifecycle.steps import Proceed, Stop, Write
from flowrun.contract.lifecycle.subflows import subflow_received
from flowrun.contract.lifecycle.world import JobView, Policy, World
from flowrun.contract.lifecycle.view import Approval
from flowrun.contract.phases import PauseKind
from flowrun.contract.signing import KeyRing, SigningKey, digest, single

SECRET = b"k" * 32
KEYS = single(SECRET)
NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)
FINANCE2 = a.request(["group:finance"], approvals=2)
ALICE = {"by": "alice", "groups": ["finance"], "time": "2026-11-25T11:59:30Z"}
BOB = {"by": "bob", "groups": ["finance", "ops"], "time": "2026-11-25T11:59:40Z"}


def signed(entry: dict[str, Any], *, namespace: str = "ns", name: str = "r", key: str = "pause-1",
           secret: bytes = SECRET, uid: str = "uid-r", generation: int = 2) -> dict[str, Any]:
    obj = {"metadata": {"namespace": namespace, "name": name, "uid": uid}}
    return {**entry, "sig": a.sign(single(secret), obj, {"key": key, "generation": generation}, entry)}


def paused(rule: dict[str, Any] | None = FINANCE2, *, entries: list[Any] | None = None, record_key: str = "pause-1",
           state: str = "Paused", generation: int = 2, creator: str = "carol", phase: str = "Paused",
           counted: tuple[str, ...] = ()) -> dict[str, Any]:
    pause: dict[str, Any] = {"key": "pause-1", "kind": "Pause", "generation": 2, "since": "2026-11-25T11:59:00Z",
                             "deadline": "2026-11-25T13:00:00Z"}
    if rule is not None:
        pause["approval"] = {**rule, "approvals": [{"by": b} for b in counted]}
    annotations = {a.ANNOTATION_CREATED_BY: creator, "flowrun.io/changed-by": "dave",
                   "flowrun.io/changed-by-generation": str(generation)}
    if entries is not None:
        annotations[a.ANNOTATION_APPROVALS] = json.dumps({"key": record_key, "entries": entries}, separators=(",", ":"))
    return {"metadata": {"name": "r", "namespace": "ns", "uid": "uid-r", "generation": generation,
                         "annotations": annotations},
            "spec": {"flow": "m:f", "state": state},
            "status": {"phase": phase, "attempt": 1, "jobName": "r-1", "jobUID": "j", "pause": pause}}


def counted_by_operator(obj: dict[str, Any]) -> list[str]:
    """Who the operator's next step counts (copies into status.pause.approval)."""
    step = operator_step(obj, World(jobs=(JobView("r-1", 1, "j"),)), Policy(signing=KEYS), NOW)
    if isinstance(step, Write) and (step.status or {}).get("pause", {}).get("approval"):
        return [x["by"] for x in step.status["pause"]["approval"]["approvals"]]
    return [x["by"] for x in obj["status"]["pause"].get("approval", {}).get("approvals", [])]


# ---- signatures --------------------------------------------------------------------------------

def test_a_signature_is_stable_across_versions():
    """Approvals signed by the running operator are verified by the next one (a rolling
    upgrade counts what the old pods signed): the signed text is fixed, `tls:` and
    HMAC-SHA256 of ["approval","ns","r","uid-r","pause-1",2,"alice",["finance"],
    "2026-11-25T11:59:30Z",null] (canonical JSON)."""
    assert signed(ALICE)["sig"] == \
        "tls:" + __import__("hmac").new(SECRET, json.dumps(
            ["approval", "ns", "r", "uid-r", "pause-1", 2, "alice", ["finance"], "2026-11-25T11:59:30Z", None],
            separators=(",", ":")).encode(), "sha256").hexdigest()
    assert signed({"by": "alice"})["sig"] == signed({"by": "alice", "groups": []})["sig"], "no groups: an empty list"


FORGED = [
    ("unsigned", {**ALICE}),
    ("empty signature", {**ALICE, "sig": ""}),
    ("wrong signature", {**ALICE, "sig": "0" * 64}),
    ("signed with another key", signed(ALICE, secret=b"x" * 32)),
    ("signed for another run", signed(ALICE, name="r2")),
    ("signed for another namespace", signed(ALICE, namespace="ns2")),
    ("signed for another pause", signed(ALICE, key="pause-2")),
    ("signed for a deleted run of the same name", signed(ALICE, uid="uid-of-the-deleted-run")),
    ("signed for another generation of the pause", signed(ALICE, generation=7)),
    ("input changed after signing", {**signed({**ALICE, "input": digest({"ok": True})}), "input": digest(False)}),
    ("old format: no key id", {**ALICE, "sig": signed(ALICE)["sig"].split(":", 1)[1]}),
    ("another person's signature", {**ALICE, "by": "mallory", "sig": signed(ALICE)["sig"]}),
    ("groups added after signing", {**signed(ALICE), "groups": ["finance", "admins"]}),
    ("time changed after signing", {**signed(ALICE), "time": "2026-11-25T11:59:31Z"}),
    ("no person", signed({"groups": ["finance"], "time": "t"})),
    ("not an object", "alice"),
]


@pytest.mark.parametrize("case,entry", FORGED, ids=[c[0] for c in FORGED])
def test_an_approval_the_webhook_did_not_sign_is_not_counted(case, entry):
    obj = paused(entries=[entry])
    assert a.verified(obj, obj["status"]["pause"], KEYS, NOW) == []
    assert counted_by_operator(obj) == []


def test_a_good_signature_counts_next_to_forged_ones():
    obj = paused(entries=[f for _, f in FORGED] + [signed(BOB)])
    assert a.verified(obj, obj["status"]["pause"], KEYS, NOW) == [{"by": "bob", "groups": ["finance", "ops"], "time": BOB["time"]}]
    assert counted_by_operator(obj) == ["bob"]


def test_the_groups_are_signed_in_any_order():
    entry = signed(BOB)
    assert a.verified(paused(entries=[{**entry, "groups": ["ops", "finance"]}]), paused()["status"]["pause"], KEYS, NOW) != []


def test_a_record_for_another_pause_counts_nothing():
    obj = paused(entries=[signed(ALICE, key="pause-0")], record_key="pause-0")
    assert a.verified(obj, obj["status"]["pause"], KEYS, NOW) == [] and counted_by_operator(obj) == []


@pytest.mark.parametrize("text", ["", "not json", "[1, 2]", json.dumps({"key": "pause-1"}),
                                  json.dumps({"key": "pause-1", "entries": None})])
def test_a_malformed_record_counts_nothing(text):
    obj = paused()
    obj["metadata"]["annotations"][a.ANNOTATION_APPROVALS] = text
    assert a.verified(obj, obj["status"]["pause"], KEYS, NOW) == []
    assert a.recorded(obj) in ({}, json.loads(text) if text.startswith("{") else {})


def test_without_a_key_nothing_is_counted():
    obj = paused(entries=[signed(ALICE)])
    assert a.verified(obj, obj["status"]["pause"], KeyRing(None), NOW) == []


# ---- the same person twice -----------------------------------------------------------------

def test_the_same_person_twice_in_the_record_is_one_approval():
    obj = paused(entries=[signed(ALICE), signed({**ALICE, "time": "2026-11-25T11:59:59Z"})])
    assert [e["by"] for e in a.verified(obj, obj["status"]["pause"], KEYS, NOW)] == ["alice"]
    assert counted_by_operator(obj) == ["alice"]


def test_a_person_counted_already_is_not_counted_again():
    obj = paused(entries=[signed(ALICE)], counted=("alice",))
    step = operator_step(obj, World(jobs=(JobView("r-1", 1, "j"),)), Policy(signing=KEYS), NOW)
    assert step is None, "nothing new to count"


def webhook(old: dict[str, Any], user: str, groups: list[str] | None = None) -> tuple[str, dict[str, Any]]:
    new = {**old, "spec": {"flow": "m:f", "state": "Running", "input": {"ok": True}}}
    return a.webhook_approve(old, new, old["status"]["pause"], user=user, groups=groups or ["finance"],
                             time="2026-11-25T12:00:00Z", keys=KEYS, now=NOW)


@pytest.mark.parametrize("recorded,counted", [
    (True, False),   # alice's approval in the webhook's record only
    (False, True),   # in the status only (the record was for an earlier write)
    (True, True),    # in both: still one person
])
def test_the_webhook_counts_the_same_approver_once(recorded, counted):
    """Alice approves again: with a quorum of 2 the run stays paused, whether her first
    approval is in the webhook's record, in the status, or in both."""
    old = paused(entries=[signed(ALICE)] if recorded else None, counted=("alice",) if counted else ())
    why, patch = webhook(old, "alice")
    assert why == ""
    assert patch["spec"] == {"state": "Paused", "input": None}, "one person is not a quorum of 2"
    entries = json.loads(patch["metadata"]["annotations"][a.ANNOTATION_APPROVALS])["entries"]
    assert [e["by"] for e in entries] == (["alice"] if recorded else [])


def test_the_webhook_lets_a_second_person_complete_the_quorum():
    why, patch = webhook(paused(entries=[signed(ALICE)], counted=("alice",)), "bob")
    assert why == "" and "spec" not in patch
    entries = json.loads(patch["metadata"]["annotations"][a.ANNOTATION_APPROVALS])["entries"]
    assert [e["by"] for e in entries] == ["alice", "bob"]
    assert a.verified(paused(entries=entries), paused()["status"]["pause"], KEYS, NOW)[1]["by"] == "bob"


def test_the_webhook_drops_a_record_of_another_pause():
    """Alice approved pause-0; Bob's approval of pause-1 is its first, not its second."""
    why, patch = webhook(paused(entries=[signed(ALICE, key="pause-0")], record_key="pause-0"), "bob")
    record = json.loads(patch["metadata"]["annotations"][a.ANNOTATION_APPROVALS])
    assert record["key"] == "pause-1" and [e["by"] for e in record["entries"]] == ["bob"]
    assert patch["spec"] == {"state": "Paused", "input": None}


def test_a_rule_without_a_quorum_needs_one_approver():
    rule = {"approvers": ["alice", "bob"], "allowCreator": False, "approvals": []}
    why, patch = webhook(paused(rule), "alice")
    assert why == "" and "spec" not in patch, "one listed approver is the whole quorum"


def test_the_webhook_signs_what_it_records():
    _, patch = webhook(paused(), "alice", ["ops", "finance"])
    entry = json.loads(patch["metadata"]["annotations"][a.ANNOTATION_APPROVALS])["entries"][0]
    assert entry["groups"] == ["finance", "ops"] and entry["time"] == "2026-11-25T12:00:00Z"
    obj = paused()
    assert entry["sig"] == a.sign(KEYS, obj, obj["status"]["pause"], entry)
    assert entry["input"] == digest({"ok": True}), "what was approved: the input sent"


# ---- the creator and outsiders ---------------------------------------------------------------------

@pytest.mark.parametrize("user,groups,creator,allow,why", [
    ("carol", ["finance"], "carol", False, "carol started this run and may not approve its own pause pause-1"),
    ("carol", ["finance"], "carol", True, ""),
    ("eve", ["sales"], "carol", False, "only group:finance may resume pause-1; eve may not"),
    ("", [], "carol", False, "only group:finance may resume pause-1; an unknown user may not"),
    ("finance", [], "carol", False, "only group:finance may resume pause-1; finance may not"),  # a user named like the group
    ("alice", ["group:finance"], "carol", False, "only group:finance"),  # a group literally named "group:finance"
    ("alice", ["finance"], "", False, ""),  # creator unknown: nobody is excluded as the creator
])
def test_who_may_not_approve(user, groups, creator, allow, why):
    rule = a.request(["group:finance"], approvals=2, allow_creator=allow)
    got = a.refusal(rule, "pause-1", user, groups, creator)
    assert (why in got and got) if why else got == ""


@pytest.mark.parametrize("user,groups", [("eve", ["sales"]), ("carol", ["finance"])], ids=["outsider", "creator"])
def test_the_webhook_refuses_and_records_nothing(user, groups):
    why, patch = webhook(paused(entries=[signed(ALICE)]), user, groups)
    assert "pause-1" in why and patch == {}


CAROL = {"by": "carol", "groups": ["finance"], "time": "2026-11-25T11:59:50Z"}  # who started the run
EVE = {"by": "eve", "groups": ["sales"], "time": "2026-11-25T11:59:55Z"}
FINANCE2_CREATOR = a.request(["group:finance"], approvals=2, allow_creator=True)
RUNNER = "system:serviceaccount:ns:root-runner"  # a subflow's creator: its parent's pod


@pytest.mark.parametrize("case,rule,entries,creator,root,want", [
    ("the creator's validly signed entry", FINANCE2, [CAROL], "carol", None, []),
    ("the creator's next to another's", FINANCE2, [CAROL, BOB], "carol", None, ["bob"]),
    ("allowCreator counts the creator's", FINANCE2_CREATOR, [CAROL, BOB], "carol", None, ["carol", "bob"]),
    ("the root creator's, on a subflow", FINANCE2, [CAROL, BOB], RUNNER, "carol", ["bob"]),
    ("allowCreator, on a subflow", FINANCE2_CREATOR, [CAROL], RUNNER, "carol", ["carol"]),
    ("creator unknown: the webhook admits nobody", FINANCE2, [ALICE], "", None, []),
    ("a subflow without a valid root record", FINANCE2, [ALICE], RUNNER, None, []),
    ("creator unknown, allowCreator", FINANCE2_CREATOR, [ALICE], "", None, ["alice"]),
    ("someone the rule does not name", FINANCE2, [EVE], "carol", None, []),
    ("another approver (control)", FINANCE2, [ALICE, BOB], "carol", None, ["alice", "bob"]),
])
def test_a_validly_signed_approval_the_rule_refuses_is_not_counted(case, rule, entries, creator, root, want):
    """The webhook refuses the creator's resume, but while it does not authenticate its
    caller anyone can obtain an entry signed for any person (a forged AdmissionReview) and
    write it while the webhook is down (the records policy lets the creator add her own):
    the operator applies the rule's creator exclusion itself."""
    from flowrun.contract.lifecycle.view import PauseView
    obj = paused(rule, entries=[signed(e) for e in entries], creator=creator)
    if root:
        obj["metadata"]["annotations"][a.ANNOTATION_ROOT_CREATED_BY] = a.root_record(KEYS, obj, root, "root")
    pause = PauseView.of(obj["status"]["pause"])
    assert pause is not None
    assert [e["by"] for e in a.countable(obj, pause, KEYS, NOW)] == want
    assert counted_by_operator(obj) == want


# The key the entries and root records above are signed with, retired and verifying until GRACE.
GRACE = datetime(2026, 11, 25, 12, 30, tzinfo=timezone.utc)
ROTATED = KeyRing(SigningKey("k2", b"2" * 32), (SigningKey("tls", SECRET, GRACE),))


def test_without_a_rule_every_verified_approval_is_countable_judged_at_now():
    """A pause with no approval rule admits everybody: `countable` is `verified`, the
    entries whole (without their signatures), a retired key's judged at `now`."""
    from flowrun.contract.lifecycle.view import PauseView
    obj = paused(None, entries=[signed(ALICE), signed(CAROL)])
    pause = PauseView.of(obj["status"]["pause"])
    assert pause is not None and pause.approval is None
    assert a.countable(obj, pause, ROTATED, NOW) == [ALICE, CAROL] == a.verified(obj, pause, ROTATED, NOW)
    assert a.countable(obj, pause, ROTATED, GRACE) == []


def test_a_subflows_root_record_signed_by_a_retired_key_counts_within_its_grace_only():
    """Who started the root run is read from its signed record at `now`: within the
    retired key's grace the root creator's own entry is dropped and the others count;
    after it nobody is known, and a rule that excludes its creator admits nobody."""
    from flowrun.contract.lifecycle.view import PauseView
    current = {"metadata": {"namespace": "ns", "name": "r", "uid": "uid-r"}}  # entries by the current key
    entries = [{**e, "sig": a.sign(ROTATED, current, {"key": "pause-1", "generation": 2}, e)} for e in (CAROL, BOB)]
    obj = paused(FINANCE2, entries=entries, creator=RUNNER)
    obj["metadata"]["annotations"][a.ANNOTATION_ROOT_CREATED_BY] = a.root_record(KEYS, obj, "carol", "root")
    pause = PauseView.of(obj["status"]["pause"])
    assert pause is not None
    within = datetime(2026, 11, 25, 12, 29, tzinfo=timezone.utc)
    assert [e["by"] for e in a.countable(obj, pause, ROTATED, within)] == ["bob"]
    assert a.verified(obj, pause, ROTATED, GRACE) == [CAROL, BOB]
    assert a.countable(obj, pause, ROTATED, GRACE) == []


def test_the_creators_own_signed_approval_completes_no_quorum():
    """Carol started the run; alice approved; carol writes her own signed entry and
    resumes while the webhook is down: the resume is put back, nothing counted for her."""
    obj = paused(entries=[signed(ALICE), signed(CAROL)], counted=("alice",), state="Running", generation=3)
    step = operator_step(obj, World(jobs=(JobView("r-1", 1, "j"),)), Policy(signing=KEYS), NOW)
    assert isinstance(step, Write) and step.spec == {"spec": {"state": "Paused"}}
    assert "needs 2 approvals" in step.status["message"] and "1 given" in step.status["message"]
    assert "approval" not in step.status["pause"] or [x["by"] for x in step.status["pause"]["approval"]
                                                      ["approvals"]] == ["alice"]


def test_a_named_user_may_approve_and_nobody_else():
    rule = a.request(["alice", " ", "group:ops"])
    assert rule == {"approvers": ["alice", "group:ops"], "required": 1, "allowCreator": False, "approvals": []}
    assert a.may_approve(rule, "alice", []) and a.may_approve(rule, "zed", ["ops"])
    assert not a.may_approve(rule, "alicia", ["finance"])
    assert a.may_approve({"approvers": []}, "anyone", [])
    assert a.who_may(rule) == "alice, group:ops" and a.who_may({}) == "anyone allowed to resume it"


def test_a_rule_exists_only_with_approvers_or_a_quorum():
    assert a.approval_of(None) is None and a.approval_of({"key": "k"}) is None
    assert a.approval_of({"approval": {"approvers": [], "required": 1}}) is None
    assert a.approval_of({"approval": {"approvers": []}}) is None, "no quorum said: one"
    assert a.complete(Approval.of({"approvers": ["x"], "approvals": [{"by": "y"}]})), "no quorum said: one"
    assert not a.complete(Approval.of({"approvers": ["x"], "approvals": []})) and a.complete(None)
    quorum = a.approval_of({"approval": {"approvers": [], "required": 2}})
    assert quorum is not None and quorum.approvers == () and quorum.required == 2
    named = a.approval_of({"approval": {"approvers": ["x"]}})
    assert named is not None and named.approvers == ("x",) and named.required == 1
    assert a.request([], 2) == {"approvers": [], "required": 2, "allowCreator": False, "approvals": []}
    with pytest.raises(ValueError, match="approvals must be at least 1"):
        a.request(["x"], approvals=0)


@pytest.mark.parametrize("user,groups,phase,counted,may", [
    ("alice", ["finance"], "Paused", (), True),
    ("alice", ["finance"], "Suspended", (), True),
    ("alice", ["finance"], "Running", (), False),     # not waiting
    ("alice", ["finance"], "Paused", ("alice",), False),  # counted already
    ("carol", ["finance"], "Paused", (), False),      # the creator
    ("eve", ["sales"], "Paused", (), False),          # an outsider
])
def test_may_answer_now(user, groups, phase, counted, may):
    assert a.may_answer_now(paused(phase=phase, counted=counted), user, groups) is may


def test_anyone_may_answer_a_pause_without_a_rule():
    assert a.may_answer_now(paused(None), "eve", []) is True
    assert a.may_answer_now(paused(None, phase="Running"), "eve", []) is False


# ---- the fence: a fenced attempt writes nothing and runs no flow code --------------------------------

def resumed_run(**status: Any) -> dict[str, Any]:
    """A run whose pause-1 was resumed (with input still in the status), as attempt 1
    saw it, then changed by `status`."""
    base = {"phase": "Running", "attempt": 1, "resumed": ["pause-1"], "inputs": {"pause-1": {"name": "M"}}}
    return {"metadata": {"name": "r", "namespace": "ns", "generation": 3},
            "spec": {"flow": "m:f", "state": "Running"}, "status": {**base, **status}}


FENCED = [
    ("a later attempt took over", resumed_run(attempt=2, phase="Pending")),
    ("suspended", resumed_run(phase="Suspended")),
    ("being cancelled", {**resumed_run(), "spec": {"flow": "m:f", "state": "Cancelled"}}),
    ("cancelled", resumed_run(phase="Cancelled")),
    ("completed", resumed_run(phase="Completed")),
    ("failed", resumed_run(phase="Failed")),
]


def test_a_deleted_run_fences_every_attempt():
    """The runner's callers stop on a deleted run before asking a step (the steps take
    the run, never None); the fence itself says so."""
    stop = runner_fence(None, 1)
    assert isinstance(stop, Stop) and "deleted" in stop.reason and not stop.cancelled


@pytest.mark.parametrize("stored", [True, False], ids=["input-on-the-volume", "input-in-the-status"])
@pytest.mark.parametrize("case,obj", FENCED, ids=[c[0] for c in FENCED])
def test_a_fenced_runner_never_proceeds_past_a_resumed_pause(case, obj, stored):
    """Attempt 1 at pause-1, which was resumed: once fenced, it stops there, whatever the
    status says about the resume (no Proceed, no Stash, no write)."""
    request = PauseRequest("pause-1", PauseKind.PAUSE, 600)
    memo = PauseMemo(stashed={"pause-1": 3} if stored else {})
    got = runner_pause(obj, 1, request, memo, NOW, check=lambda d: None,
                         stored=lambda k: (stored, {"name": "M"} if stored else None))
    assert isinstance(got, Stop), got


@pytest.mark.parametrize("case,obj", FENCED, ids=[c[0] for c in FENCED])
def test_every_runner_step_of_a_fenced_attempt_stops(case, obj):
    request = PauseRequest("pause-2", PauseKind.SUSPEND, 600)
    for got in (runner_started(obj, 1, "go", NOW), runner_checkpoint(obj, 1),
                runner_finished(obj, 1, failed=False, message="done", now=NOW, result=1, has_result=True),
                runner_finished(obj, 1, failed=True, message="boom", now=NOW),
                runner_note(obj, 1, "retrying", "again", NOW), subflow_received(obj, 1, "c"),
                runner_pause(obj, 1, request, PauseMemo(), NOW, check=lambda d: None,
                               stored=lambda k: (False, None))):
        assert isinstance(got, Stop), got
        assert got.cancelled is (case in ("being cancelled", "cancelled"))


def test_the_current_attempt_proceeds_with_the_input_on_the_volume():
    """The same run, not fenced: the control row of the table above."""
    request = PauseRequest("pause-1", PauseKind.PAUSE, 600)
    obj = resumed_run()
    obj["status"].pop("inputs")
    got = runner_pause(obj, 1, request, PauseMemo(), NOW, check=lambda d: None,
                         stored=lambda k: (True, {"name": "M"}))
    assert got == Proceed({"name": "M"})


def test_the_runners_stops_and_holds_say_why():
    """The runner's log says why it stops or holds: a deleted FlowRun, or a suspension
    asked for at a task boundary."""
    from flowrun.contract.lifecycle.steps import Hold, Stop
    assert runner_fence(None, 1) == Stop("the FlowRun was deleted")
    obj = {"metadata": {"name": "r", "namespace": "ns", "generation": 2}, "spec": {"flow": "m:f", "state": "Suspended"},
           "status": {"phase": "Running", "attempt": 1, "jobName": "r-1"}}
    assert runner_checkpoint(obj, 1) == Hold("a suspension was requested")


def _fenced(state="Running", phase="Running", attempt=1, reason=None, message=None):
    spec: dict[str, Any] = {"flow": "m:f", "state": state}
    if reason is not None:
        spec["reason"] = reason
    status: dict[str, Any] = {"phase": phase, "attempt": attempt}
    if message is not None:
        status["message"] = message
    return {"metadata": {"name": "r", "namespace": "ns"}, "spec": spec, "status": status}


@pytest.mark.parametrize("obj,stop", [
    (_fenced(state="Cancelled", reason="not needed"), Stop("the run was cancelled: not needed", cancelled=True)),
    (_fenced(state="Cancelled"), Stop("the run was cancelled", cancelled=True)),
    (_fenced(phase="Cancelled"), Stop("the run was cancelled", cancelled=True)),
    (_fenced(phase="Failed", message="boom"), Stop("boom")),
    (_fenced(phase="Completed"), Stop("the run is Completed")),
    (_fenced(attempt=2), Stop("attempt 2 has taken over from attempt 1")),
    (_fenced(phase="Suspended"), Stop("the run is suspended")),
    (_fenced(phase="Paused"), None),
], ids=["cancelled-with-reason", "cancelled", "cancelled-phase", "failed", "completed", "taken-over", "suspended",
        "paused"])
def test_the_runners_fence_in_full(obj, stop):
    assert runner_fence(obj, 1) == stop
