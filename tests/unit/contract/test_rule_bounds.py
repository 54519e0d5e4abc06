"""The boundary of every numeric rule, a row on each side: pod losses (spec.maxPodLosses
and the operator's default), sizes (the pause schema, the input, parameters, pending
subflow results, descriptions), deadlines and grace periods (at, just before, just
after), approvals' quorum. And fixtures whose values cannot coincide with a wrong
formula: a pause whose deadline is NOT now + its timeout, so that a rule recomputing it
is caught."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowrun.contract import approvals as a
from flowrun.contract.signing import single
from flowrun.contract.lifecycle.operator import idle_suspension_due, next_due, operator_step
from flowrun.contract.lifecycle.pausing import PauseMemo, PauseRequest, check_pause_request, runner_pause
from flowrun.contract.lifecycle.people import review_create
from flowrun.contract.lifecycle.steps import Stash, Step, Wait, Write
from flowrun.contract.lifecycle.subflows import subflow_mirror
from flowrun.contract.lifecycle.view import Approval, PauseView, RunView
from flowrun.contract.lifecycle.vocabulary import DEADLINE_EXCEEDED, INFRASTRUCTURE_REFUSED, POD_LOSSES_EXHAUSTED
from flowrun.contract.lifecycle.world import JobView, PodView, Policy, World
from flowrun.contract.constants import (
    MAX_DESCRIPTION_BYTES,
    MAX_INPUT_BYTES,
    MAX_KEY_LENGTH,
    MAX_NOTIFY_MESSAGE_BYTES,
    MAX_OBJECT_BYTES,
    MAX_PENDING_SUBFLOW_BYTES,
    MAX_SCHEMA_BYTES,
)
from flowrun.contract.phases import PauseKind
from flowrun.contract.status import json_size

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)
# Every number differs from every other, so a rule that reads the wrong one is caught:
# the pause's timeout (600) is neither the operator's default (900) nor the distance
# from now to the pause's deadline (250), nor the grace periods.
POLICY = Policy(default_timeout_seconds=900, max_pod_losses=2, image_pull_grace_seconds=30,
                  unschedulable_grace_seconds=10)
SINCE, DEADLINE, TIMEOUT = -350, 250, 600
SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


def ts(delta: float = 0) -> str:
    return (NOW + timedelta(seconds=delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(phase: str | None, state: str = "Running", *, attempt: int = 1, generation: int = 1,
        pause: dict[str, Any] | None = None, spec: dict[str, Any] | None = None, **status: Any) -> dict[str, Any]:
    st_: dict[str, Any] = {"attempt": attempt, "jobName": f"r-{attempt}", **status}
    if phase:
        st_["phase"] = phase
    if pause:
        st_["pause"] = pause
    meta = {"name": "r", "namespace": "ns", "uid": "u1", "generation": generation, "resourceVersion": "7",
            "annotations": {"flowrun.io/changed-by": "alice", "flowrun.io/changed-by-generation": str(generation)}}
    return {"metadata": meta, "spec": {"flow": "m:f", "state": state, **(spec or {})}, "status": st_}


def pause(key: str = "pause-1", kind: str = "Pause", generation: int = 2, *, since: float = SINCE,
          deadline: float | None = DEADLINE, **extra: Any) -> dict[str, Any]:
    return {"key": key, "kind": kind, "generation": generation, "inputSchema": None, "since": ts(since),
            "deadline": ts(deadline) if deadline is not None else None, "timeoutSeconds": TIMEOUT,
            "requestedBy": "flow", **extra}


JOB1 = JobView(name="r-1", attempt=1, uid="j1")


def step(obj: dict[str, Any], world: World = World(), policy: Policy = POLICY, now: datetime = NOW) -> Step:
    return operator_step(obj, world, policy, now)


# ---- pod losses ----------------------------------------------------------------------------

def lost(losses: int, spec: dict[str, Any] | None = None) -> Step:
    """The attempt's Job deleted under a run that lost `losses` pods before."""
    return step(run("Running", jobUID="j1", podLosses=losses, spec=spec))


@pytest.mark.parametrize("before,limit,spec,fails", [
    (0, 2, None, False),
    (1, 2, None, False),             # the limit-th loss: still one more attempt
    (2, 2, None, True),              # limit + 1: the run fails
    (0, 0, {"maxPodLosses": 0}, True),
    (0, 1, {"maxPodLosses": 1}, False),
    (1, 1, {"maxPodLosses": 1}, True),
    (2, 5, {"maxPodLosses": 5}, False),  # spec.maxPodLosses above the operator's default wins
    (4, 5, {"maxPodLosses": 5}, False),
    (5, 5, {"maxPodLosses": 5}, True),
], ids=lambda v: repr(v))
def test_max_pod_losses_boundary(before, limit, spec, fails):
    """spec.maxPodLosses (else the operator's) is how many pods a run may lose: the
    limit-th loss starts one more attempt, the one after it fails the run."""
    got = lost(before, spec)
    assert isinstance(got, Write)
    if fails:
        assert got.status["phase"] == "Failed" and got.status["reason"] == POD_LOSSES_EXHAUSTED
        assert f"lost {before + 1} times, more than spec.maxPodLosses ({limit})" in got.status["message"]
        assert "podLosses" not in got.status, "the count stays at the limit"
    else:
        assert got.status["phase"] == "Pending" and got.status["podLosses"] == before + 1
        assert got.status["attempt"] == 2 and got.status["jobName"] == "r-2" and got.status["jobUID"] == ""


@given(before=st.integers(min_value=0, max_value=20), limit=st.integers(min_value=0, max_value=20))
@settings(max_examples=200, deadline=None)
def test_pod_losses_never_exceed_the_limit_unless_the_run_fails(before, limit):
    """Whatever the counts: a loss either fails the run (only past the limit) or counts
    one more loss, never more than the limit."""
    got = lost(min(before, limit), {"maxPodLosses": limit})
    assert isinstance(got, Write)
    if got.status.get("phase") == "Failed":
        assert min(before, limit) + 1 > limit and got.status["reason"] == POD_LOSSES_EXHAUSTED
    else:
        assert got.status["podLosses"] == min(before, limit) + 1 <= limit


# ---- deadlines and grace periods ---------------------------------------------------------------

@pytest.mark.parametrize("phase,kind", [("Paused", "Pause"), ("Suspended", "Suspend")])
@pytest.mark.parametrize("offset,fires", [(-1, False), (0, True), (1, True)], ids=["before", "at", "after"])
def test_a_pause_deadline_fires_at_its_time_and_not_before(phase, kind, offset, fires):
    """The deadline fails the run from its very second on (deadline <= now), not a second
    earlier."""
    obj = run(phase, phase, pause=pause(kind=kind, deadline=DEADLINE))
    got = step(obj, now=NOW + timedelta(seconds=DEADLINE + offset))
    failed = isinstance(got, Write) and (got.status or {}).get("reason") == DEADLINE_EXCEEDED
    assert failed is fires, got
    if fires:
        assert got.status["phase"] == "Failed" and got.status["history"][-1]["action"] == "timed-out"
        assert f"within {TIMEOUT}s of" in got.status["message"] and "pause-1" in got.status["message"]


@pytest.mark.parametrize("offset,suspends", [(-1, False), (0, True), (1, True)], ids=["before", "at", "after"])
def test_an_idle_pause_is_suspended_at_its_time_and_not_before(offset, suspends):
    obj = run("Paused", "Paused", jobUID="j1", pause=pause(since=-60), spec={"suspendAfterSeconds": 45})
    got = step(obj, World(jobs=(JOB1,)), now=NOW - timedelta(seconds=15) + timedelta(seconds=offset))
    assert (isinstance(got, Write) and got.status["phase"] == "Suspended") is suspends, got


@pytest.mark.parametrize("where,after", [
    ("spec", 45),           # spec.suspendAfterSeconds first
    ("pause", 75),          # then the pause's own suspend_after
    ("policy", 105),        # then the operator's default
])
def test_which_idle_time_applies(where, after):
    spec = {"suspendAfterSeconds": 45} if where == "spec" else None
    extra = {"suspendAfterSeconds": 75} if where in ("spec", "pause") else {}
    policy = Policy(default_timeout_seconds=900, suspend_after_seconds=105)
    obj = run("Paused", "Paused", pause=pause(since=-10, **extra), spec=spec)
    assert idle_suspension_due(RunView.of(obj), policy) == NOW + timedelta(seconds=after - 10)
    assert next_due(obj, policy) == NOW + timedelta(seconds=after - 10)


def test_next_due_is_the_deadline_when_it_comes_first():
    obj = run("Paused", "Paused", pause=pause(since=-10, suspendAfterSeconds=400))
    assert next_due(obj, POLICY) == NOW + timedelta(seconds=DEADLINE)
    assert next_due(run("Suspended", "Suspended", pause=pause(kind="Suspend")), POLICY) == \
        NOW + timedelta(seconds=DEADLINE)
    assert next_due(run("Pending", "Paused", pause=pause()), POLICY) is None, "no deadline while re-executing"


@pytest.mark.parametrize("waited,fails", [(29, False), (30, True), (31, True)])
def test_an_image_pull_problem_fails_after_exactly_its_grace(waited, fails):
    pod = PodView("p", 1, problem="Image 'x' cannot be pulled", problem_reason="ErrImagePull",
                    problem_since=NOW - timedelta(seconds=waited))
    got = step(run("Pending", jobUID="j1"), World(jobs=(JOB1,), pods=(pod,)))
    if fails:
        assert isinstance(got, Write) and got.status["reason"] == INFRASTRUCTURE_REFUSED
    else:
        assert isinstance(got, Wait) and got.until == NOW + timedelta(seconds=30 - waited)


@pytest.mark.parametrize("waited,speaks", [(9, False), (10, True), (11, True)])
def test_an_unschedulable_pod_is_reported_after_exactly_its_grace(waited, speaks):
    pod = PodView("p", 1, unschedulable="0/1 nodes are available",
                    unschedulable_since=NOW - timedelta(seconds=waited))
    got = step(run("Pending", jobUID="j1"), World(jobs=(JOB1,), pods=(pod,)))
    assert isinstance(got, Wait)
    assert (got.status is not None) is speaks
    if not speaks:
        assert got.until == NOW + timedelta(seconds=10 - waited)


# ---- a pause keeps its deadline (fixtures where now + timeout is another time) ---------

def test_suspending_a_paused_run_keeps_its_deadline():
    """The deadline (now + 250 s) is not now + the pause's timeout (600 s) nor now + the
    operator's default (900 s): recomputing it on suspension shows."""
    obj = run("Paused", "Suspended", jobUID="j1", pause=pause())
    got = step(obj, World(jobs=(JOB1,)))
    assert isinstance(got, Write) and got.status["phase"] == "Suspended"
    kept = got.status["pause"]
    assert kept["deadline"] == ts(DEADLINE) and kept["since"] == ts(SINCE) and kept["timeoutSeconds"] == TIMEOUT
    assert kept["key"] == "pause-1" and kept["kind"] == "Suspend"


def test_an_idle_suspension_keeps_the_pause_deadline():
    obj = run("Paused", "Paused", jobUID="j1", pause=pause(), spec={"suspendAfterSeconds": 60})
    got = step(obj, World(jobs=(JOB1,)))
    assert isinstance(got, Write) and got.status["phase"] == "Suspended"
    assert got.status["pause"]["deadline"] == ts(DEADLINE) and got.status["pause"]["since"] == ts(SINCE)
    assert "after waiting 350 s" in got.status["message"]
    assert got.status["history"][-1]["action"] == "suspended" and got.status["history"][-1]["by"] == "operator"


def test_an_outside_suspension_gets_the_operators_timeout_from_now():
    got = step(run("Running", "Suspended", jobUID="j1", generation=4), World(jobs=(JOB1,)))
    assert isinstance(got, Write)
    recorded = got.status["pause"]
    assert recorded["deadline"] == ts(900) and recorded["since"] == ts(0) and recorded["timeoutSeconds"] == 900
    assert recorded["generation"] == 4 and recorded["requestedBy"] == "user"
    assert recorded["key"] == "external-suspend-1" and recorded["inputSchema"] is None


def test_a_pause_recorded_again_keeps_its_start_and_deadline():
    request = PauseRequest("pause-1", PauseKind.PAUSE, TIMEOUT)
    first = request.record(NOW, 3, None)
    assert first["since"] == ts(0) and first["deadline"] == ts(TIMEOUT) and first["generation"] == 3
    again = request.record(NOW + timedelta(seconds=500), 7, PauseView.of(pause()))
    assert again["since"] == ts(SINCE) and again["deadline"] == ts(DEADLINE) and again["generation"] == 7
    assert PauseRequest("k", PauseKind.PAUSE, None).record(NOW, 1, None)["deadline"] is None


def test_a_pause_re_established_by_a_new_pod_keeps_its_deadline():
    obj = run("Pending", "Paused", attempt=2, generation=2, pause=pause(generation=2))
    req = PauseRequest("pause-1", PauseKind.PAUSE, TIMEOUT)
    got = runner_pause(obj, 2, req, PauseMemo(), NOW + timedelta(seconds=100), check=lambda d: None,
                         stored=lambda k: (False, None))
    assert isinstance(got, Write)
    assert got.status["pause"]["deadline"] == ts(DEADLINE) and got.status["pause"]["since"] == ts(SINCE)


# ---- sizes ------------------------------------------------------------------------------------

def sized(n: int, key: str = "v") -> dict[str, Any]:
    """A JSON object of exactly n bytes serialised (json_size)."""
    value = {key: ""}
    value[key] = "x" * (n - json_size(value))
    assert json_size(value) == n
    return value


def schema_of(n: int) -> dict[str, Any]:
    """A JSON schema of one property, exactly n bytes serialised: few keys, many bytes."""
    base = {"type": "object", "description": ""}
    base["description"] = "d" * (n - json_size(base))
    assert json_size(base) == n and len(base) == 2
    return base


@pytest.mark.parametrize("size,ok", [(MAX_SCHEMA_BYTES - 1, True), (MAX_SCHEMA_BYTES, True),
                                     (MAX_SCHEMA_BYTES + 1, False)])
def test_the_pause_schema_bound_is_measured_in_bytes(size, ok):
    """A schema of two keys but 32 KiB + 1 bytes is refused: the bound is on its
    serialised bytes, not on the number of its keys."""
    request = PauseRequest("pause-1", PauseKind.PAUSE, 60, input_schema=schema_of(size))
    if ok:
        check_pause_request(request)
    else:
        with pytest.raises(ValueError, match=f"is {size} bytes, more than the {MAX_SCHEMA_BYTES}"):
            check_pause_request(request)


def test_a_schema_is_measured_serialised_not_by_its_characters():
    schema = {"type": "object", "description": "é" * (MAX_SCHEMA_BYTES // 2)}  # 2 bytes each
    assert len(json.dumps(schema, ensure_ascii=False)) < MAX_SCHEMA_BYTES < json_size(schema)
    with pytest.raises(ValueError):
        check_pause_request(PauseRequest("k", PauseKind.PAUSE, 60, input_schema=schema))


@pytest.mark.parametrize("key,ok", [("", False), ("k", True), ("k" * MAX_KEY_LENGTH, True),
                                    ("k" * (MAX_KEY_LENGTH + 1), False)], ids=["empty", "1", "63", "64"])
def test_check_pause_request_key_length(key, ok):
    request = PauseRequest(key, PauseKind.SUSPEND, None)
    if ok:
        check_pause_request(request)
    else:
        with pytest.raises(ValueError, match=f"1 to {MAX_KEY_LENGTH} characters"):
            check_pause_request(request)


def test_check_pause_request_without_a_schema():
    check_pause_request(PauseRequest("k", PauseKind.PAUSE, 60, input_schema=None))


@pytest.mark.parametrize("field,limit", [("parameters", MAX_OBJECT_BYTES), ("input", MAX_INPUT_BYTES)])
@pytest.mark.parametrize("over", [0, 1])
def test_spec_size_bounds(field, limit, over):
    errors = review_create({"spec": {"flow": "m:f", field: sized(limit + over)}})
    assert errors == ([] if not over else [f"spec.{field}: {limit + 1} bytes serialised, more than the "
                                          f"{limit} allowed"])


@pytest.mark.parametrize("over", [0, 1])
def test_a_resume_input_size_bound(over):
    """The runner judges a resume's input against MAX_INPUT_BYTES (the webhook may have
    been bypassed): at the bound it is taken, one byte more is refused."""
    data = sized(MAX_INPUT_BYTES + over, "name")
    obj = run("Paused", "Running", generation=3, pause=pause(generation=2, inputSchema=SCHEMA),
              spec={"input": data})
    req = PauseRequest("pause-1", PauseKind.PAUSE, TIMEOUT, input_schema=SCHEMA)
    got = runner_pause(obj, 1, req, PauseMemo(), NOW, check=lambda d: None, stored=lambda k: (False, None))
    if over:
        assert isinstance(got, Write) and got.spec == {"spec": {"state": "Paused"}}
        assert f"{MAX_INPUT_BYTES + 1} bytes, more than the {MAX_INPUT_BYTES}" in got.status["message"]
    else:
        assert isinstance(got, Stash) and got.value == data


@pytest.mark.parametrize("over", [0, 1])
def test_pending_subflow_results_bound(over):
    """Results waiting in the parent may add up to MAX_PENDING_SUBFLOW_BYTES exactly."""
    other = {"phase": "Completed", "result": "y"}  # the other entries count whole
    other_size = json_size(other)
    result = "z" * (MAX_PENDING_SUBFLOW_BYTES - other_size - 2 + over)  # a JSON string: 2 quotes
    parent = run("Running", subflows={"a": other})
    child = {"metadata": {"name": "c"}, "status": {"phase": "Completed", "message": "ok", "result": result}}
    got = subflow_mirror(parent, child)
    assert isinstance(got, Write)
    entry = got.status["subflows"]["c"]
    assert ("resultPending" in entry) is bool(over) and ("result" in entry) is not bool(over)


def test_a_child_own_pending_result_is_not_counted_twice():
    big = "x" * (MAX_PENDING_SUBFLOW_BYTES - 10)
    parent = run("Running", subflows={"c": {"phase": "Running", "result": big}})
    child = {"metadata": {"name": "c"}, "status": {"phase": "Completed", "message": "ok", "result": big}}
    got = subflow_mirror(parent, child)
    assert isinstance(got, Write) and got.status["subflows"]["c"]["result"] == big


@pytest.mark.parametrize("over", [0, 1])
def test_description_and_notify_message_bounds(over):
    req = PauseRequest("k", PauseKind.PAUSE, 60, description="d" * (MAX_DESCRIPTION_BYTES + over),
                         notify_message="n" * (MAX_NOTIFY_MESSAGE_BYTES + over))
    info = req.record(NOW, 1, None)
    assert len(info["description"].encode()) == MAX_DESCRIPTION_BYTES
    assert len(info["notifyMessage"].encode()) == MAX_NOTIFY_MESSAGE_BYTES
    assert info["description"].endswith("...") is bool(over)
    assert info["notifyMessage"].endswith("...") is bool(over)


# ---- approvals' quorum -----------------------------------------------------------------------

@pytest.mark.parametrize("required,given,done", [
    (1, [], False), (1, ["alice"], True),
    (2, ["alice"], False), (2, ["alice", "bob"], True),
    (3, ["alice", "bob"], False), (3, ["alice", "bob", "carol"], True),
    (2, ["alice", "alice"], False),                 # the same person twice is one approval
    (3, ["alice", "bob", "alice"], False),
])
def test_the_quorum_boundary(required, given, done):
    rule = {"approvers": ["group:finance"], "required": required, "approvals": [{"by": b} for b in given]}
    approval = Approval.of(rule)
    assert a.count(approval) == len(set(given))
    assert a.complete(approval) is done


@pytest.mark.parametrize("required", [2, 3])
def test_the_webhook_lets_the_resume_through_at_exactly_the_nth_approver(required):
    rule = a.request(["group:finance"], approvals=required)
    names = ["alice", "bob", "carol"][:required]
    record: dict[str, Any] = {}
    for i, user in enumerate(names, start=1):
        old = _paused(rule, record)
        # (the approvals of one pause agree on its input: every approver sends the same)
        new = {**old, "spec": {"flow": "m:f", "state": "Running", "input": {"n": 1}}}
        why, patch = a.webhook_approve(old, new, old["status"]["pause"], user=user, groups=["finance"],
                                       time=f"t{i}", keys=single(b"s" * 32),
                                       now=datetime(2026, 11, 25, tzinfo=timezone.utc))
        assert why == ""
        record = patch["metadata"]["annotations"]
        assert ("spec" not in patch) is (i == required), (i, patch)
        if i < required:
            assert patch["spec"] == {"state": "Paused", "input": None}, "kept paused, its input too"


def _paused(rule: dict[str, Any] | None, annotations: dict[str, str]) -> dict[str, Any]:
    obj = run("Paused", "Paused", pause=pause(approval=rule))
    obj["metadata"]["annotations"]["flowrun.io/created-by"] = "dave"  # known (else nobody may approve)
    obj["metadata"]["annotations"].update(annotations)
    return obj



def test_a_run_failed_for_its_pod_losses_records_it_as_the_operators():
    """The end is on record: a `failed` history entry by the operator with the message,
    at the decision's time, and the conditions say Failed."""
    before = {"time": ts(-60), "action": "started", "by": "runner", "key": "", "seq": 3}
    got = step(run("Running", jobUID="j1", podLosses=2, history=[before]))
    assert isinstance(got, Write)
    assert got.status["history"][0] == before and got.status["history"][1]["seq"] == 4
    last = got.status["history"][-1]
    assert (last["action"], last["by"], last["time"]) == ("failed", "operator", ts())
    assert last["message"].startswith("The runner pod was lost 3 times, more than spec.maxPodLosses (2) allows")
    failed = {c["type"]: c["status"] for c in got.status["conditions"]}["Failed"]
    assert failed == "True" and got.status["completionTime"] == ts()


@pytest.mark.parametrize("over", [0, 1])
def test_a_resume_input_size_bound_without_a_schema(over):
    """A pause without a schema takes no input through the webhook; with the webhook
    bypassed, the runner still refuses an input one byte over MAX_INPUT_BYTES."""
    data = sized(MAX_INPUT_BYTES + over, "name")
    obj = run("Paused", "Running", generation=3, pause=pause(generation=2), spec={"input": data})
    req = PauseRequest("pause-1", PauseKind.PAUSE, TIMEOUT)
    got = runner_pause(obj, 1, req, PauseMemo(), NOW, check=lambda d: None, stored=lambda k: (False, None))
    if over:
        assert isinstance(got, Write) and got.spec == {"spec": {"state": "Paused"}}
        assert got.status["message"] == clip_message(
            f"Resume of pause-1 rejected, input is invalid: the input is {MAX_INPUT_BYTES + 1} bytes, more than "
            f"the {MAX_INPUT_BYTES} allowed")
    else:
        assert isinstance(got, Stash) and got.value == data


def clip_message(text: str) -> str:
    from flowrun.contract.status import clip
    return clip(text, 1024)


def test_a_pause_schema_over_the_bound_is_refused_saying_its_size_first():
    """Too big is said as such (not as an unusable schema); an unusable schema names its
    problems."""
    with pytest.raises(ValueError) as big:
        check_pause_request(PauseRequest("k", PauseKind.PAUSE, 60, input_schema=schema_of(MAX_SCHEMA_BYTES + 1)))
    assert str(big.value) == (f"the input model's JSON schema is {MAX_SCHEMA_BYTES + 1} bytes, more than the "
                              f"{MAX_SCHEMA_BYTES} a pause may store")
    odd = {"type": "object", "patternProperties": {}, "unevaluatedItems": False}
    with pytest.raises(ValueError) as bad:
        check_pause_request(PauseRequest("k", PauseKind.PAUSE, 60, input_schema=odd))
    assert str(bad.value) == ("the input model's JSON schema cannot be used to check input: the keyword "
                              "patternProperties is not supported; the keyword unevaluatedItems is not supported")


BEFORE = {"time": ts(-400), "action": "paused", "by": "runner", "key": "pause-1", "seq": 6}


def test_an_idle_suspension_on_record():
    """The operator suspends an idle pause: the message says how long it waited and how to
    resume; history keeps what was before and adds `suspended` by the operator at the
    pause's key, saying why; the pause is kept, now a suspension."""
    obj = run("Paused", "Paused", jobUID="j1", pause=pause(since=-60), spec={"suspendAfterSeconds": 45},
              history=[BEFORE])
    got = step(obj, World(jobs=(JOB1,)))
    assert isinstance(got, Write)
    assert got.status["message"] == ("Suspended at pause-1 after waiting 60 s (suspendAfterSeconds): its pod is "
                                     "freed; resume it as you would the pause")
    assert got.status["history"] == [BEFORE, {"time": ts(), "action": "suspended", "by": "operator",
                                              "key": "pause-1", "seq": 7, "message": "idle pause suspended"}]
    assert got.status["pause"]["kind"] == "Suspend" and got.status["pause"]["deadline"] == ts(DEADLINE)


def test_a_persons_suspension_of_a_pause_on_record():
    """A person suspends a paused run: recorded as theirs, at the pause's key."""
    obj = run("Paused", "Suspended", jobUID="j1", pause=pause(since=-60), history=[BEFORE])
    got = step(obj, World(jobs=(JOB1,)))
    assert isinstance(got, Write)
    assert got.status["message"] == "Suspended while waiting at pause-1; resume it as you would the pause"
    assert got.status["history"] == [BEFORE, {"time": ts(), "action": "suspended", "by": "alice",
                                              "key": "pause-1", "seq": 7}]


def test_a_suspension_from_outside_on_record():
    """A running run suspended by a person (no pause): a new pause `external-suspend-N`
    of kind Suspend, with the operator's default timeout from now, recorded as theirs."""
    obj = run("Running", "Suspended", jobUID="j1", attempt=3, generation=4, history=[BEFORE])
    got = step(obj, World(jobs=(JobView(name="r-3", attempt=3, uid="j1"),)))
    assert isinstance(got, Write)
    assert got.status["message"] == "Suspended from outside; resume with spec.state=Running"
    want = {"key": "external-suspend-3", "kind": "Suspend", "since": ts(), "timeoutSeconds": 900,
            "deadline": ts(900), "inputSchema": None, "requestedBy": "user", "generation": 4}
    assert {k: got.status["pause"].get(k) for k in want} == want
    assert all(v is None for k, v in got.status["pause"].items() if k not in want), "nothing else is set"
    assert got.status["history"] == [BEFORE, {"time": ts(), "action": "suspended", "by": "alice",
                                              "key": "external-suspend-3", "seq": 7}]
    assert (got.status["jobName"], got.status["jobUID"]) == ("", "")


def test_a_lost_pod_keeps_the_transition_times_of_conditions_that_did_not_change():
    """The next attempt's status is a change of the run's own conditions: Failed stays
    False since it was; only the conditions whose status changes move (Kubernetes' convention)."""
    from flowrun.contract.status import phase_patch
    earlier = phase_patch({"phase": "Pending"}, "Running", "go", when=NOW - timedelta(hours=1))["conditions"]
    got = step(run("Running", jobUID="j1", podLosses=0, conditions=earlier))
    assert isinstance(got, Write) and got.status["phase"] == "Pending"
    times = {c["type"]: c["lastTransitionTime"] for c in got.status["conditions"]}
    assert times["Failed"] == times["Cancelled"] == ts(-3600) and times["Ready"] == ts()


def test_a_paused_run_without_a_pause_record_is_never_suspended_for_idling():
    obj = run("Paused", "Paused", spec={"suspendAfterSeconds": 45})
    assert idle_suspension_due(RunView.of(obj), POLICY) is None
    suspend_kind = run("Paused", "Paused", pause=pause(kind="Suspend", since=-60), spec={"suspendAfterSeconds": 45})
    assert idle_suspension_due(RunView.of(suspend_kind), POLICY) is None


def test_a_deadline_past_on_record():
    """The deadline's end: `timed-out` by the operator at the pause's key, the earlier
    history kept."""
    obj = run("Paused", "Paused", jobUID="j1", pause=pause(deadline=-1), history=[BEFORE])
    got = step(obj, World(jobs=(JOB1,)))
    assert isinstance(got, Write) and got.status["reason"] == DEADLINE_EXCEEDED
    assert got.status["history"][0] == BEFORE
    last = got.status["history"][-1]
    assert (last["action"], last["by"], last["key"], last["time"], last["seq"]) == (
        "timed-out", "operator", "pause-1", ts(), 7)
