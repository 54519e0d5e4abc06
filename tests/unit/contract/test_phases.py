from datetime import datetime, timezone

import pytest

from flowrun.contract.constants import MAX_HISTORY
from flowrun.contract.phases import (
    PHASE_TRANSITIONS,
    Refusal,
    InvalidTransition,
    Phase,
    check_phase_transition,
    check_state_change,
    conditions_for,
)
from flowrun.contract.status import history_patch, phase_patch

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_terminal_phases_go_nowhere():
    for phase in (Phase.COMPLETED, Phase.FAILED):
        assert PHASE_TRANSITIONS[phase] == frozenset()
        for target in Phase:
            if target is not phase:
                with pytest.raises(InvalidTransition):
                    check_phase_transition(phase.value, target.value)


@pytest.mark.parametrize("frm,to", [
    (None, "Pending"), (None, "Suspended"), ("Pending", "Running"), ("Running", "Paused"),
    ("Paused", "Running"), ("Running", "Suspended"), ("Suspended", "Pending"),
    ("Running", "Completed"), ("Paused", "Failed"), ("Running", "Running"),
])
def test_allowed_transitions(frm, to):
    check_phase_transition(frm, to)


@pytest.mark.parametrize("frm,to", [
    (None, "Running"), ("Pending", "Completed"), ("Suspended", "Running"), ("Paused", "Completed"),
])
def test_forbidden_transitions(frm, to):
    with pytest.raises(InvalidTransition):
        check_phase_transition(frm, to)


def test_state_changes():
    check_state_change("Paused", "Running", "Paused")
    check_state_change("Running", "Suspended", "Running")
    check_state_change("Running", "Paused", "Running")
    with pytest.raises(InvalidTransition, match="no longer be resumed"):
        check_state_change("Paused", "Running", "Completed")
    with pytest.raises(InvalidTransition, match="suspended FlowRun has no running process"):
        check_state_change("Suspended", "Paused", "Suspended")


def test_conditions_follow_phase_and_keep_transition_times():
    first = conditions_for("Running", now=NOW)
    by_type = {c["type"]: c for c in first}
    assert by_type["Ready"]["status"] == "True"
    assert by_type["Succeeded"]["status"] == "Unknown"
    later = datetime(2026, 1, 2, tzinfo=timezone.utc)
    second = {c["type"]: c for c in conditions_for("Completed", previous=first, now=later)}
    assert second["Succeeded"]["status"] == "True"
    assert second["Succeeded"]["lastTransitionTime"] == "2026-01-02T00:00:00Z"
    # Failed stayed False: its transition time is kept.
    assert second["Failed"]["lastTransitionTime"] == "2026-01-01T00:00:00Z"


def test_awaiting_input_only_while_stopped():
    paused = {c["type"]: c for c in conditions_for("Paused", awaiting_input=True, now=NOW)}
    assert paused["AwaitingInput"]["status"] == "True"
    running = {c["type"]: c for c in conditions_for("Running", awaiting_input=True, now=NOW)}
    assert running["AwaitingInput"]["status"] == "False"


def test_phase_patch_checks_the_table():
    with pytest.raises(InvalidTransition):
        phase_patch({"phase": "Completed"}, "Running", "again")
    patch = phase_patch({"phase": "Running"}, "Paused", "waiting", pause={"key": "pause-1"})
    assert patch["phase"] == "Paused" and patch["pause"] == {"key": "pause-1"}


def test_history_is_sequenced_and_capped():
    status = {"history": []}
    for i in range(105):
        status["history"] = history_patch(status, "paused", key=f"pause-{i}")
    assert len(status["history"]) == MAX_HISTORY
    assert status["history"][-1]["seq"] == 105
    assert status["history"][0]["key"] == f"pause-{105 - MAX_HISTORY}"


def _awaiting(patch):
    return {c["type"]: c for c in patch["conditions"]}["AwaitingInput"]["status"]


def test_awaiting_input_follows_the_pause_the_patch_writes_else_the_one_the_run_has():
    """AwaitingInput is True when the pause in effect after the patch asks for input: the
    pause the patch writes (even None: the pause is cleared), else the run's own."""
    schema_pause = {"key": "k", "inputSchema": {"type": "object"}}
    assert _awaiting(phase_patch({"phase": "Running", "pause": schema_pause}, "Paused", "w")) == "True"
    assert _awaiting(phase_patch({"phase": "Running"}, "Paused", "w", pause=schema_pause)) == "True"
    assert _awaiting(phase_patch({"phase": "Running", "pause": schema_pause}, "Paused", "w", pause=None)) == "False"
    assert _awaiting(phase_patch({"phase": "Running", "pause": {"key": "k"}}, "Paused", "w")) == "False"


def test_a_phase_patch_keeps_the_transition_time_of_conditions_that_did_not_change():
    """Kubernetes' convention: lastTransitionTime moves only for a condition whose status
    changes; the patch is made at `when`."""
    later = datetime(2026, 1, 2, tzinfo=timezone.utc)
    first = phase_patch({"phase": "Pending"}, "Running", "go", when=NOW)
    second = phase_patch({"phase": "Running", "conditions": first["conditions"]}, "Paused", "wait", when=later)
    times = {c["type"]: c["lastTransitionTime"] for c in second["conditions"]}
    assert times["Ready"] == times["Paused"] == "2026-01-02T00:00:00Z"
    assert times["Failed"] == times["Succeeded"] == "2026-01-01T00:00:00Z"
    assert second["message"] == "wait" and second["phase"] == "Paused"


def test_the_conditions_of_a_running_run_in_full():
    """Every condition of a Running run, with the defaults (no message, no input
    awaited, nothing blocking): Ready and Progressing True, the others False with the
    phase as reason, Succeeded Unknown."""
    got = conditions_for("Running", now=NOW)
    stamp = "2026-01-01T00:00:00Z"
    assert got == [
        {"type": "Ready", "status": "True", "reason": "Running", "message": "", "lastTransitionTime": stamp},
        {"type": "Paused", "status": "False", "reason": "Running", "message": "", "lastTransitionTime": stamp},
        {"type": "Suspended", "status": "False", "reason": "Running", "message": "", "lastTransitionTime": stamp},
        {"type": "AwaitingInput", "status": "False", "reason": "NoInputRequired", "message": "",
         "lastTransitionTime": stamp},
        {"type": "Succeeded", "status": "Unknown", "reason": "Running", "message": "", "lastTransitionTime": stamp},
        {"type": "Failed", "status": "False", "reason": "Running", "message": "", "lastTransitionTime": stamp},
        {"type": "Cancelled", "status": "False", "reason": "Running", "message": "", "lastTransitionTime": stamp},
        {"type": "Progressing", "status": "True", "reason": "Running", "message": "", "lastTransitionTime": stamp},
    ]
    pending = {c["type"]: (c["status"], c["reason"]) for c in conditions_for("Pending", now=NOW)}
    assert pending["Ready"] == ("False", "Pending") and pending["Progressing"] == ("True", "Pending")


def test_a_phase_patch_is_progressing_unless_told_what_blocks_it():
    """Without `blocked` the run is Progressing; with it, Progressing is False with that
    reason and the message; `blocked` itself is not a status field."""
    free = phase_patch({"phase": "Pending"}, "Pending", "starting")
    assert {c["type"]: c["status"] for c in free["conditions"]}["Progressing"] == "True" and "blocked" not in free
    stuck = phase_patch({"phase": "Pending"}, "Pending", "no quota", blocked="QuotaExceeded")
    progressing = {c["type"]: c for c in stuck["conditions"]}["Progressing"]
    assert (progressing["status"], progressing["reason"], progressing["message"]) == ("False", "QuotaExceeded", "no quota")
    assert "blocked" not in stuck


def test_a_paused_run_awaits_input_only_when_told_so():
    paused = {c["type"]: c["status"] for c in conditions_for("Paused", now=NOW)}
    assert paused["AwaitingInput"] == "False" and paused["Paused"] == "True"


# (status, reason) of Ready, Paused, Suspended, AwaitingInput, Succeeded, Failed, Cancelled,
# Progressing for each phase, with input awaited and nothing blocking.
EVERY_PHASE = {
    "Pending": [("False", "Pending"), ("False", "Pending"), ("False", "Pending"), ("False", "NoInputRequired"),
                ("Unknown", "Pending"), ("False", "Pending"), ("False", "Pending"), ("True", "Pending")],
    "Running": [("True", "Running"), ("False", "Running"), ("False", "Running"), ("False", "NoInputRequired"),
                ("Unknown", "Running"), ("False", "Running"), ("False", "Running"), ("True", "Running")],
    "Paused": [("False", "Paused"), ("True", "Paused"), ("False", "Paused"), ("True", "InputRequired"),
               ("Unknown", "Paused"), ("False", "Paused"), ("False", "Paused"), ("True", "Paused")],
    "Suspended": [("False", "Suspended"), ("False", "Suspended"), ("True", "Suspended"), ("True", "InputRequired"),
                  ("Unknown", "Suspended"), ("False", "Suspended"), ("False", "Suspended"), ("True", "Suspended")],
    "Completed": [("False", "Completed"), ("False", "Completed"), ("False", "Completed"),
                  ("False", "NoInputRequired"), ("True", "Completed"), ("False", "Completed"), ("False", "Completed"),
                  ("False", "Completed")],
    "Failed": [("False", "Failed"), ("False", "Failed"), ("False", "Failed"), ("False", "NoInputRequired"),
               ("False", "Failed"), ("True", "Failed"), ("False", "Failed"), ("False", "Failed")],
    "Cancelled": [("False", "Cancelled"), ("False", "Cancelled"), ("False", "Cancelled"),
                  ("False", "NoInputRequired"), ("False", "Cancelled"), ("False", "Cancelled"), ("True", "Cancelled"),
                  ("False", "Cancelled")],
}
TYPES = ["Ready", "Paused", "Suspended", "AwaitingInput", "Succeeded", "Failed", "Cancelled", "Progressing"]


@pytest.mark.parametrize("phase", list(EVERY_PHASE))
def test_the_conditions_of_every_phase_in_full(phase):
    """The message goes only with the conditions that are True."""
    stamp = "2026-01-01T00:00:00Z"
    assert conditions_for(phase, message="m", awaiting_input=True, now=NOW) == [
        {"type": ctype, "status": status, "reason": reason, "message": "m" if status == "True" else "",
         "lastTransitionTime": stamp}
        for ctype, (status, reason) in zip(TYPES, EVERY_PHASE[phase], strict=True)]


@pytest.mark.parametrize("phase,progressing", [
    ("Pending", ("False", "QuotaExceeded", "m")), ("Paused", ("False", "QuotaExceeded", "m")),
    ("Completed", ("False", "Completed", "m")), ("Failed", ("False", "Failed", "m")),
])
def test_what_blocks_a_run_is_its_progressing_condition_unless_it_ended(phase, progressing):
    got = conditions_for(phase, message="m", blocked="QuotaExceeded", now=NOW)
    assert [(c["status"], c["reason"], c["message"]) for c in got if c["type"] == "Progressing"] == [progressing]
    assert [c for c in got if c["type"] != "Progressing"] == [
        c for c in conditions_for(phase, message="m", now=NOW) if c["type"] != "Progressing"]


def test_a_kept_condition_without_a_transition_time_takes_the_new_one():
    later = datetime(2026, 1, 2, tzinfo=timezone.utc)
    previous = [{"type": "Ready", "status": "True"}, {"type": "Failed", "status": "False"},
                {"type": "Paused", "status": "False", "lastTransitionTime": "2025-12-31T00:00:00Z"}]
    got = {c["type"]: c["lastTransitionTime"] for c in conditions_for("Paused", previous=previous, now=later)}
    assert got == {"Ready": "2026-01-02T00:00:00Z", "Paused": "2026-01-02T00:00:00Z",
                   "Suspended": "2026-01-02T00:00:00Z", "AwaitingInput": "2026-01-02T00:00:00Z",
                   "Succeeded": "2026-01-02T00:00:00Z", "Failed": "2026-01-02T00:00:00Z",
                   "Cancelled": "2026-01-02T00:00:00Z", "Progressing": "2026-01-02T00:00:00Z"}
    kept = {c["type"]: c["lastTransitionTime"] for c in conditions_for("Running", previous=previous, now=later)}
    assert (kept["Ready"], kept["Failed"], kept["Paused"]) == (
        "2026-01-02T00:00:00Z", "2026-01-02T00:00:00Z", "2025-12-31T00:00:00Z")


@pytest.mark.parametrize("frm,to,message", [
    (None, "Running", "a new FlowRun starts Pending or Suspended, not Running"),
    ("", "Completed", "a new FlowRun starts Pending or Suspended, not Completed"),
    ("", "Pending", None), ("", "Failed", None), ("", "Cancelled", None),
    ("Pending", "Completed", "FlowRun cannot go from Pending to Completed"),
    ("Cancelled", "Running", "FlowRun cannot go from Cancelled to Running"),
    ("Suspended", "Suspended", None),
], ids=["none-to-running", "empty-to-completed", "empty-to-pending", "empty-to-failed", "empty-to-cancelled",
        "pending-to-completed", "cancelled-to-running", "stay"])
def test_a_phase_transition_refused_says_which(frm, to, message):
    if message is None:
        check_phase_transition(frm, to)
        return
    with pytest.raises(InvalidTransition) as refused:
        check_phase_transition(frm, to)
    assert (str(refused.value), refused.value.code) == (message, None)


@pytest.mark.parametrize("old,new,phase,refusal", [
    ("Running", "Running", "Completed", None),
    ("Running", "Cancelled", "Failed", ("FlowRun is Failed; it can no longer be cancelled", Refusal.FINISHED)),
    ("Paused", "Running", "Completed", ("FlowRun is Completed; it can no longer be resumed", Refusal.FINISHED)),
    ("Cancelled", "Suspended", "Running",
     ("FlowRun is being cancelled; it can no longer be suspended", Refusal.BEING_CANCELLED)),
    ("Suspended", "Paused", "Pending",
     ("a suspended FlowRun has no running process to pause; resume it first", Refusal.NOTHING_TO_PAUSE)),
    ("Running", "Paused", "Suspended",
     ("a suspended FlowRun has no running process to pause; resume it first", Refusal.NOTHING_TO_PAUSE)),
    ("Running", "Paused", None, None), ("Paused", "Suspended", "Paused", None),
    ("Suspended", "Cancelled", "Suspended", None), ("Suspended", "Running", "Suspended", None),
], ids=["unchanged", "cancel-failed", "resume-completed", "being-cancelled", "pause-suspension",
        "pause-suspended-phase", "pause-new", "suspend-paused", "cancel-suspended", "resume-suspended"])
def test_a_state_change_refused_says_why(old, new, phase, refusal):
    if refusal is None:
        check_state_change(old, new, phase)
        return
    with pytest.raises(InvalidTransition) as refused:
        check_state_change(old, new, phase)
    assert (str(refused.value), refused.value.code) == refusal


def test_a_history_entry_in_full_and_one_without_a_sequence_number_counts_as_zero():
    old = {"time": "2025-12-31T00:00:00Z", "action": "created"}  # written before entries were numbered
    assert history_patch({"history": [old]}, "paused", when=NOW) == [
        old, {"time": "2026-01-01T00:00:00Z", "action": "paused", "by": "", "key": "", "seq": 1}]
    assert history_patch(None, "resumed", by="alice", key="k", message="m", given={"a": 1}, groups=["g"],
                         when=NOW) == [
        {"time": "2026-01-01T00:00:00Z", "action": "resumed", "by": "alice", "key": "k", "seq": 1, "message": "m",
         "input": '{"a": 1}', "groups": ["g"]}]


def test_a_history_entry_keeps_the_input_as_short_readable_json():
    """Non-ASCII as it is, any value by its text, at most 200 bytes; at most 20 groups."""
    from flowrun.contract.status import history_patch as add
    entry = add(None, "resumed", given={"name": "Zoë", "at": NOW}, when=NOW)[0]
    assert entry["input"] == '{"name": "Zoë", "at": "2026-01-01 00:00:00+00:00"}'
    long = add(None, "resumed", given="x" * 300, groups=[f"g{i}" for i in range(25)], when=NOW)[0]
    assert long["input"] == '"' + "x" * 196 + "..."
    assert long["groups"] == [f"g{i}" for i in range(20)]


def test_clip_cuts_whole_characters():
    from flowrun.contract.status import clip
    assert clip("é" * 10, 8) == "éé..."
    assert clip("é" * 4, 8) == "éééé"


def test_a_timestamp_is_utc_whatever_the_local_zone(monkeypatch):
    import time

    from flowrun.contract.status import timestamp
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert timestamp(datetime(2026, 1, 1, tzinfo=timezone.utc)) == "2026-01-01T00:00:00Z"
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize("entries,key,expected", [
    (["a-1", "a-2"], "a-3", ["a-1..3"]),
    (["a-1..2", "a-3"], "a-4", ["a-1..4"]),
    (["a-1", "a-2", "a-3"], "a-4", ["a-1..4"]),
    (["b-1", "a-1..2", "a-3"], "a-4", ["b-1", "a-1..4"]),
], ids=["neighbour-after-a-merge", "range-after-a-merge", "two-sweeps", "other-stem-kept"])
def test_keys_add_merges_what_a_merge_made_adjacent(entries, key, expected):
    """Lists written by hand (or by older code) need not be compact: every neighbour
    that a merge makes adjacent is merged too."""
    from flowrun.contract.status import keys_add
    assert keys_add(entries, key) == expected
