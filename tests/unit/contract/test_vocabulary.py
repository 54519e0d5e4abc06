"""One vocabulary: the actions table, the refusal codes a person's refused change
carries, the kinds table kube/ reads, and the operator's rules as a named list."""
from __future__ import annotations

import pytest

from flowrun.contract.lifecycle import operator
from flowrun.contract.lifecycle.people import InputRefused, Refused, plan, user_change
from flowrun.contract.lifecycle.view import RunView
from flowrun.contract.lifecycle.vocabulary import ACTIONS, ACTIONS_BY_VERB, KINDS, Phase, Refusal, State
from flowrun.contract.phases import InvalidTransition
from flowrun.kube.calls import rights_of
from flowrun.kube.client import _client_method

SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


def run(phase: str | None = None, state: str = "Running", *, schema: dict | None = None) -> dict:
    status: dict = {"attempt": 1}
    if phase:
        status["phase"] = phase
    if phase in ("Paused", "Suspended"):
        status["pause"] = {"key": "k", "kind": "Pause" if phase == "Paused" else "Suspend",
                           "inputSchema": schema, "generation": 1}
    return {"metadata": {"name": "r", "namespace": "ns", "generation": 2},
            "spec": {"flow": "m:f", "state": state}, "status": status}


def test_every_state_has_one_action_and_every_verb_one_state():
    assert set(ACTIONS) == set(State)
    assert {a.verb for a in ACTIONS.values()} == {"resume", "suspend", "pause", "cancel"}
    for state, action in ACTIONS.items():
        assert action.state is state and ACTIONS_BY_VERB[action.verb] is action
        assert action.phase.value == state.value


def test_stopped_is_paused_or_suspended():
    assert {p for p in Phase if p.stopped} == {Phase.PAUSED, Phase.SUSPENDED}
    assert RunView.of(run("Paused")).stopped and not RunView.of(run("Running")).stopped


@pytest.mark.parametrize("obj,target,data,code", [
    (run("Completed"), State.RUNNING, None, Refusal.FINISHED),
    (run("Running", "Cancelled"), State.RUNNING, None, Refusal.BEING_CANCELLED),
    (run("Running"), State.RUNNING, None, Refusal.NOT_STOPPED),
    (run("Paused", "Paused"), State.RUNNING, {"name": "x"}, Refusal.NOT_WAITING_FOR_INPUT),
    (run("Paused", "Paused", schema=SCHEMA), State.RUNNING, {"name": 1}, Refusal.INVALID_INPUT),
    (run("Suspended", "Suspended"), State.PAUSED, None, Refusal.NOTHING_TO_PAUSE),
    (run("Failed"), State.CANCELLED, None, Refusal.FINISHED),
], ids=["finished", "being-cancelled", "not-stopped", "no-input-wanted", "invalid-input", "suspended-pause",
        "cancel-finished"])
def test_a_refused_action_carries_its_code(obj, target, data, code):
    with pytest.raises(Refused) as refused:
        plan(obj, target, data=data)
    assert refused.value.code is code
    assert refused.value.message  # today's words stay the default rendering


def test_a_reject_of_a_run_at_no_pause_says_so():
    with pytest.raises(Refused) as refused:
        plan(run("Running"), State.CANCELLED, only_waiting=True)
    assert refused.value.code is Refusal.NOT_AT_A_PAUSE


def test_user_change_refusals_carry_codes():
    with pytest.raises(InvalidTransition) as finished:
        user_change(run("Completed"), State.RUNNING)
    assert finished.value.code is Refusal.FINISHED
    with pytest.raises(InputRefused) as no_input:
        user_change(run("Paused", "Paused"), State.RUNNING, data={"a": 1})
    assert no_input.value.code is Refusal.NOT_WAITING_FOR_INPUT


def test_one_kinds_table_gives_the_client_methods_and_the_rights():
    # What kube/client.py's own table said before it read contract's KINDS.
    before = {
        "Job": ("batch", "namespaced_job"), "Pod": ("core", "namespaced_pod"),
        "PersistentVolumeClaim": ("core", "namespaced_persistent_volume_claim"),
        "ServiceAccount": ("core", "namespaced_service_account"),
        "ConfigMap": ("core", "namespaced_config_map"), "Secret": ("core", "namespaced_secret"),
        "Event": ("core", "namespaced_event"), "Role": ("rbac", "namespaced_role"),
        "RoleBinding": ("rbac", "namespaced_role_binding"),
    }
    assert {kind: _client_method(kind) for kind in before} == before
    for kind in ("FlowRun", "FlowRunNotifier"):  # through our own transport, not the library
        with pytest.raises(KeyError):
            _client_method(kind)
    assert {(r.group, r.resource) for r in rights_of("get", "Role")} == {("rbac.authorization.k8s.io", "roles")}
    assert KINDS["Pod"].group == ""


def test_the_operator_rules_are_named_and_ordered():
    names = [rule.name for rule in operator.RULES]
    assert len(names) == len(set(names))
    assert names[0] == "a deleted run is left to the garbage collector"
    assert names[-1] == "a live attempt has its Job, and its pod can run"
    assert names.index("a pause nobody answered by its deadline ends as it declared") < names.index(
        "approvals are counted before any resume") < names.index("a suspension asked for is recorded")


def test_the_clock_is_utc_to_the_second():
    from datetime import timezone

    from flowrun.contract.lifecycle.vocabulary import now
    clock = now()
    assert (clock.tzinfo, clock.microsecond) == (timezone.utc, 0)
