"""A pause that waits for a plain `Literal[...]` or `Enum` (issue 25, choices): wrapped as
Prefect does (a RunInput with one field `value`), resumed with what a choice button, the
CLI's `--input value=OPTION` or resume_flow_run sends, and the flow gets the value, or
the Enum member, back to branch on. Through LiveFlowRun against the in-memory API."""
from __future__ import annotations

import threading
from enum import Enum
from typing import Literal

import pytest

from cluster import wait_for
from fakeapi import FakeKube, Store
from flowrun.cli.inputs import parse_input
from flowrun.contract.phases import PauseKind
from flowrun.sdk.cache import ResultCache
from flowrun.sdk.inputs import as_run_input
from flowrun.sdk.live import LiveFlowRun
from flowrun.sdk.pausing import _finish


class Verdict(Enum):
    APPROVE = "approve"
    REJECT = "reject"


@pytest.mark.parametrize("wait_for_input,sent,expected", [
    (Literal["approve", "reject"], "reject", "reject"),
    (Verdict, "reject", Verdict.REJECT),
    (Verdict, "approve", Verdict.APPROVE),
])
def test_a_plain_choice_round_trips_to_the_flow(tmp_path, wait_for_input, sent, expected):
    store = Store()
    person = FakeKube(store, user="alice")
    person.create_flowrun("ns", {"metadata": {"name": "r"}, "spec": {"flow": "m:f"}})
    person.patch_flowrun("ns", "r", {"status": {"phase": "Running", "attempt": 1}}, status=True)
    runner = FakeKube(store, user="system:serviceaccount:ns:r-runner")
    live = LiveFlowRun(runner, "ns", "r", runner.get_flowrun("ns", "r"), attempt=1,
                       cache=ResultCache(tmp_path, "ns/r/uid")).start()
    info = as_run_input(wait_for_input)
    out: dict = {}

    def flow() -> None:
        out["value"] = _finish(info, live.pause("pause-1", kind=PauseKind.PAUSE, timeout=60, model=info[0],
                                                as_model=True))
    th = threading.Thread(target=flow, daemon=True)
    th.start()
    wait_for(lambda: (person.get_flowrun("ns", "r").get("status") or {}).get("phase") == "Paused",
             timeout=10, interval=0.01, what="the pause")
    schema = person.get_flowrun("ns", "r")["status"]["pause"]["inputSchema"]
    assert schema["required"] == ["value"]
    # what `flowrun resume r --input value=OPTION` sends (a choice button posts the same field)
    # Not an option: the run's own validation refuses it, and the flow still waits.
    person.patch_flowrun("ns", "r", {"spec": {"state": "Running", "input": {"value": "maybe"}}})
    wait_for(lambda: person.get_flowrun("ns", "r")["spec"]["state"] == "Paused", timeout=10, interval=0.01,
             what="the refused answer to be put back")
    assert "maybe" in person.get_flowrun("ns", "r")["status"]["message"] and th.is_alive()
    data = parse_input([f"value={sent}"], None).build(schema)
    assert data == {"value": sent}
    person.patch_flowrun("ns", "r", {"spec": {"state": "Running", "input": data}})
    th.join(10)
    assert not th.is_alive()
    assert out["value"] == expected and type(out["value"]) is type(expected)
    live.close()
