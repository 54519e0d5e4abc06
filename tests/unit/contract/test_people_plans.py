"""What a person's action on a run means (contract/lifecycle/people.py), as the CLI, the
UI and the SDK get it: the exact refusal (message, code, whether the action applies at
all, whether the input is what is wrong, which fields) and the exact patch."""
from __future__ import annotations

from typing import Any

import pytest

from flowrun.contract.lifecycle.people import InputRefused, Refused, plan, user_change
from flowrun.contract.lifecycle.vocabulary import Refusal
from flowrun.contract.phases import InvalidTransition, State

SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "n": {"type": "integer"}},
          "required": ["name"]}


def run(phase: str | None, state: str = "Running", *, schema: dict[str, Any] | None = None,
        pause: bool = True) -> dict[str, Any]:
    status: dict[str, Any] = {"attempt": 1}
    if phase:
        status["phase"] = phase
    if pause and phase in ("Paused", "Suspended"):
        status["pause"] = {"key": "pause-1", "kind": "Pause" if phase == "Paused" else "Suspend",
                           "generation": 1, "inputSchema": schema}
    return {"metadata": {"name": "r", "namespace": "ns", "generation": 1},
            "spec": {"flow": "m:f", "state": state}, "status": status}


def refused(obj: dict[str, Any], target: State, **kw: Any) -> Refused:
    with pytest.raises(Refused) as info:
        plan(obj, target, **kw)
    return info.value


@pytest.mark.parametrize("obj, message, code, applies, invalid", [
    (run("Completed"), "FlowRun is Completed; it can no longer be resumed", Refusal.FINISHED, False, False),
    (run("Running", "Cancelled"), "FlowRun is cancelled; it can no longer be resumed", Refusal.BEING_CANCELLED,
     False, False),
    (run("Cancelled", "Cancelled"), "FlowRun is Cancelled; it can no longer be resumed", Refusal.FINISHED, False,
     False),
    (run("Running"), "not paused or suspended (phase Running); nothing to resume", Refusal.NOT_STOPPED, False, False),
    (run(None), "not paused or suspended (phase Pending); nothing to resume", Refusal.NOT_STOPPED, False, False),
])
def test_a_resume_that_does_not_apply(obj, message, code, applies, invalid):
    """A resume of a finished, cancelled or running run: refused with its reason, as an
    action that does not apply (a bulk resume skips the run), not as invalid input."""
    got = refused(obj, State.RUNNING)
    assert (got.message, str(got), got.code, got.applies, got.invalid_input, got.fields) == (
        message, message, code, applies, invalid, {})


def test_input_for_a_run_that_waits_for_none_says_why():
    """Input sent to a run that is not stopped, or to a pause without a schema: refused
    as invalid input, saying which of the two."""
    moving = refused(run("Running", "Paused"), State.RUNNING, data={"name": "x"})
    assert (moving.message, moving.code, moving.applies, moving.invalid_input) == (
        "does not wait for input (phase Running); resume it without input", Refusal.NOT_WAITING_FOR_INPUT, True, True)
    plain = refused(run("Paused", "Paused"), State.RUNNING, data={"name": "x"})
    assert plain.message == "does not wait for input (no input schema); resume it without input"


def test_input_that_does_not_match_names_each_field():
    got = refused(run("Paused", "Paused", schema=SCHEMA), State.RUNNING, data={"n": "x"})
    assert got.code is Refusal.INVALID_INPUT and got.invalid_input and got.applies
    assert got.fields == {"name": "'name' is a required property", "n": "'x' is not of type 'integer'"}
    assert got.message == "(input): 'name' is a required property; n: 'x' is not of type 'integer'"


def test_a_resume_plan_in_full():
    got = plan(run("Paused", "Paused", schema=SCHEMA), State.RUNNING, data={"name": "x"})
    assert (got.patch, got.phase, got.key, got.input_sent, got.already) == (
        {"spec": {"state": "Running", "input": {"name": "x"}}}, "Paused", "pause-1", True, "")


def test_a_reject_of_a_run_at_no_pause_and_a_cancel_already_asked():
    got = refused(run("Running"), State.CANCELLED, only_waiting=True)
    assert (got.message, got.code, got.applies) == (
        "does not wait at a pause (phase Running); use cancel to end it", Refusal.NOT_AT_A_PAUSE, False)
    again = plan(run("Running", "Cancelled"), State.CANCELLED)
    assert (again.patch, again.already) == (None, "requested")
    done = plan(run("Suspended", "Suspended"), State.SUSPENDED)
    assert (done.patch, done.already) == (None, "suspended")


def test_user_change_records_the_reason_and_refuses_input_nobody_waits_for():
    assert user_change(run("Running"), State.SUSPENDED, reason="night") == {
        "spec": {"state": "Suspended", "reason": "night"}}
    assert user_change(run("Running"), State.SUSPENDED) == {"spec": {"state": "Suspended"}}
    with pytest.raises(InputRefused) as info:
        user_change(run("Paused", "Paused"), State.RUNNING, data={"a": 1})
    assert str(info.value) == "the run does not wait for input; resume it without input"
    assert info.value.code is Refusal.NOT_WAITING_FOR_INPUT and info.value.problems == []
    with pytest.raises(InputRefused) as bad:
        user_change(run("Paused", "Paused", schema=SCHEMA), State.RUNNING, data={"n": "x"})
    assert bad.value.problems == [("(input)", "'name' is a required property"),
                                  ("n", "'x' is not of type 'integer'")]
    assert str(bad.value) == "(input): 'name' is a required property; n: 'x' is not of type 'integer'"
    with pytest.raises(InvalidTransition) as paused_suspended:
        user_change(run("Suspended", "Suspended"), State.PAUSED)
    assert paused_suspended.value.code is Refusal.NOTHING_TO_PAUSE


def test_a_refusal_without_a_code_takes_invalid_input_from_its_kind():
    assert Refused("m").code is None and Refused("m").applies is True
    assert Refused("m", invalid_input=True).code is Refusal.INVALID_INPUT
    assert Refused("m", code=Refusal.NOT_STOPPED, invalid_input=True).code is Refusal.NOT_STOPPED
    assert Refused("m", fields={"a": "b"}).fields == {"a": "b"} and str(Refused("m")) == "m"


def test_pausing_is_judged_on_the_phase_too():
    """A run whose phase is Suspended has no process to pause, even when spec.state says
    Running already (a resume the operator has not acted on yet)."""
    with pytest.raises(InvalidTransition) as info:
        user_change(run("Suspended", "Running"), State.PAUSED)
    assert info.value.code is Refusal.NOTHING_TO_PAUSE


def test_a_reject_needs_a_stopped_run_with_a_pause():
    """A reject cancels only a run that waits at a pause: a paused run is rejected; a
    suspended run whose pause record is gone, or a running one, is not."""
    got = plan(run("Paused", "Paused"), State.CANCELLED, only_waiting=True, reason="no")
    assert got.patch == {"spec": {"state": "Cancelled", "reason": "no"}} and got.phase == "Paused"
    for obj in (run("Suspended", "Suspended", pause=False), run("Running")):
        assert refused(obj, State.CANCELLED, only_waiting=True).code is Refusal.NOT_AT_A_PAUSE


def test_a_resume_without_input_sends_none():
    got = plan(run("Suspended", "Suspended"), State.RUNNING)
    assert (got.patch, got.key, got.input_sent) == ({"spec": {"state": "Running"}}, "pause-1", False)


def whole(exc: Refused) -> tuple[Any, ...]:
    return exc.message, exc.code, exc.applies, exc.invalid_input, exc.fields


def settled() -> dict[str, Any]:
    obj = run("Paused", "Paused", schema=SCHEMA)
    obj["status"]["pause"].update(onTimeout="resume", timedOut={"outcome": "resume", "generation": 1})
    return obj


SETTLED_MESSAGE = ("nobody answered pause-1 in time: the system resumes it with the input's defaults "
                   "(on_timeout='resume'); it can no longer be answered")


def test_a_pause_the_system_settled_can_only_be_cancelled():
    with pytest.raises(InvalidTransition) as info:
        user_change(settled(), State.RUNNING)
    assert (str(info.value), info.value.code) == (SETTLED_MESSAGE, Refusal.TIMED_OUT)
    assert user_change(settled(), State.CANCELLED) == {"spec": {"state": "Cancelled"}}
    assert whole(refused(settled(), State.RUNNING)) == (SETTLED_MESSAGE, Refusal.TIMED_OUT, False, False, {})


def test_an_action_already_done_or_asked_plans_nothing_and_says_which():
    from flowrun.contract.lifecycle.people import Plan
    assert plan(run("Suspended", "Suspended"), State.SUSPENDED) == Plan(None, "Suspended", already="suspended")
    assert plan(run("Running", "Suspended"), State.SUSPENDED) == Plan(None, "Running", already="requested")


def test_a_pause_of_a_suspended_run_does_not_apply():
    assert whole(refused(run("Suspended", "Suspended"), State.PAUSED)) == (
        "a suspended FlowRun has no running process to pause; resume it first", Refusal.NOTHING_TO_PAUSE, False,
        False, {})


def with_input(obj: dict[str, Any], value: Any) -> dict[str, Any]:
    return {**obj, "spec": {**obj["spec"], "input": value}}


@pytest.mark.parametrize("old, new, resume, verb", [
    (run("Paused", "Paused"), run("Paused", "Running"), True, "resume"),
    (run("Running"), with_input(run("Running"), {"name": "a"}), True, "resume"),
    (with_input(run("Running"), {"name": "a"}), with_input(run("Running"), {"name": "b"}), True, "resume"),
    (with_input(run("Running"), {"name": "a"}), with_input(run("Running"), {"name": "a"}), False, None),
    (with_input(run("Running"), {"name": "a"}), run("Running"), False, None),
    (run("Running"), run("Running", "Suspended"), False, "suspend"),
    (run("Paused", "Paused"), run("Paused", "Paused"), False, None),
], ids=["state-to-running", "input-given", "input-changed", "input-unchanged", "input-removed", "suspend",
        "nothing"])
def test_which_update_is_a_resume_and_which_verb_it_needs(old, new, resume, verb):
    from flowrun.contract.lifecycle.people import action_verb, is_resume_change
    assert (is_resume_change(old, new), action_verb(old, new)) == (resume, verb)


def test_a_finished_run_may_keep_or_drop_its_input_but_not_be_given_new():
    from flowrun.contract.lifecycle.people import review_update
    done = with_input(run("Completed"), {"name": "a"})
    assert review_update(done, done) == []
    assert review_update(done, run("Completed")) == []
    assert review_update(done, with_input(run("Completed"), {"name": "b"})) == [
        "FlowRun is Completed; it can no longer be resumed, paused, suspended or cancelled"]


def labelled(obj: dict[str, Any]) -> dict[str, Any]:
    return {**obj, "metadata": {**obj["metadata"], "labels": {"team": "a"}}}


RESUMED_AT_A_PAUSE = run("Paused", "Running", schema=SCHEMA)  # a resume asked, not carried out yet


@pytest.mark.parametrize("old, new, refusals", [
    (run("Suspended", "Running"), run("Suspended", "Paused"),
     [("a suspended FlowRun has no running process to pause; resume it first", Refusal.NOTHING_TO_PAUSE)]),
    (with_input(settled(), {"name": "a"}), labelled(with_input(settled(), {"name": "a"})), []),
    (with_input(settled(), {"name": "a"}), settled(), []),
    (with_input(RESUMED_AT_A_PAUSE, {"name": 5}), labelled(with_input(RESUMED_AT_A_PAUSE, {"name": 5})), []),
    (with_input(RESUMED_AT_A_PAUSE, {"name": "a"}), RESUMED_AT_A_PAUSE, []),
    (RESUMED_AT_A_PAUSE, with_input(RESUMED_AT_A_PAUSE, {"name": 5}),
     [("input does not match what the run waits for: spec.input.name: 5 is not of type 'string'",
       Refusal.INVALID_INPUT)]),
    (RESUMED_AT_A_PAUSE, with_input(RESUMED_AT_A_PAUSE, {"n": "x"}),
     [("input does not match what the run waits for: spec.input: 'name' is a required property; "
       "spec.input.n: 'x' is not of type 'integer'", Refusal.INVALID_INPUT)]),
    (run(None), with_input(run(None), {"name": "a"}),
     [("FlowRun is not paused or suspended (phase Pending); there is nothing to resume with input",
       Refusal.NOT_WAITING_FOR_INPUT)]),
    (run("Running"), with_input(run("Running"), {"name": "a"}),
     [("FlowRun is not paused or suspended (phase Running); there is nothing to resume with input",
       Refusal.NOT_WAITING_FOR_INPUT)]),
    (run("Running"), labelled(run("Running")), []),
], ids=["pause-while-suspended", "settled-input-kept", "settled-input-dropped", "input-kept", "input-dropped",
        "input-given-after-the-resume", "whole-input-and-field", "input-to-a-pending-run", "input-to-a-running-run",
        "labels-of-a-running-run"])
def test_the_webhooks_review_of_an_update_in_full(old, new, refusals):
    """Judged on the phase as well as the state; an update that gives no new input is no
    resume (keeping or dropping the input); new input is checked against the pause even
    when the resume was asked already."""
    from flowrun.contract.lifecycle.people import review_update
    assert [(str(e), e.code) for e in review_update(old, new)] == refusals
