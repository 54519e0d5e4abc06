"""How often one resume parses and validates its input, per process (docs/design.md, "A
person's action: one door"): `flowrun resume NAME --input k=v` in the CLI's process, and
the runner's pod that the resume wakes. Counted, not assumed: the counters wrap the one
parser of `--input`, the one JSON-schema check (contract/inputs.py `_check`) and the flow's
pydantic model."""
from __future__ import annotations

import io
import threading
from collections import Counter
from typing import Any

import pydantic
import pytest

from fakeapi import FakeKube, Store
from flowrun.cli import actions as cli_actions, commands, inputs as cli_inputs, main as cli_main
from flowrun.cli.commands import Session
from flowrun.cli.parser import build_parser
from flowrun.contract import inputs as contract_inputs
from flowrun.contract.inputs import forget_answers
from flowrun.contract.phases import PauseKind
from flowrun.sdk.cache import ResultCache
from flowrun.sdk.live import LiveFlowRun

COUNTS: Counter[str] = Counter()


class Answer(pydantic.BaseModel):
    approved: bool
    amount: int

    @pydantic.model_validator(mode="after")
    def counted(self) -> "Answer":
        COUNTS["pydantic"] += 1
        return self


@pytest.fixture(autouse=True)
def counters(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    COUNTS.clear()
    forget_answers()  # what another test checked is not this test's
    split = cli_inputs.split_assignment
    check = contract_inputs._check

    def counted_split(text: str) -> tuple[str, str, str]:
        COUNTS["parse"] += 1
        return split(text)

    def counted_check(schema: Any, data: Any) -> Any:
        COUNTS["schema"] += 1
        return check(schema, data)

    for module in (cli_inputs, cli_actions):
        if hasattr(module, "split_assignment"):
            monkeypatch.setattr(module, "split_assignment", counted_split)
    monkeypatch.setattr(contract_inputs, "_check", counted_check)
    return COUNTS


def paused_run(store: Store) -> FakeKube:
    person = FakeKube(store, user="alice")
    person.create_flowrun("ns", {"metadata": {"name": "r"}, "spec": {"flow": "m:f"}})
    person.patch_flowrun("ns", "r", {"status": {"phase": "Running", "attempt": 1}}, status=True)
    return person


def test_the_cli_parses_the_input_once_and_validates_it_once(counters: Counter[str]) -> None:
    store = Store()
    person = paused_run(store)
    schema = Answer.model_json_schema()
    person.patch_flowrun("ns", "r", {"spec": {"state": "Paused"}})
    person.patch_flowrun("ns", "r", {"status": {"phase": "Paused", "pause": {
        "key": "pause-1", "kind": "Pause", "inputSchema": schema}}}, status=True)
    out, err = io.StringIO(), io.StringIO()
    args = build_parser().parse_args(["resume", "r", "--input", "approved=true", "--input", "amount=3"])
    code = commands.COMMANDS[cli_main.ALIASES.get(args.command, args.command)](
        args, Session(namespace_arg="ns", out=out, err=err, _kube=person))
    assert code == 0, err.getvalue()
    assert person.get_flowrun("ns", "r")["spec"]["input"] == {"approved": True, "amount": 3}
    assert dict(counters) == {"parse": 2, "schema": 1}  # one parse of each of the two --input


def test_a_refused_input_is_validated_once_too(counters: Counter[str]) -> None:
    store = Store()
    person = paused_run(store)
    person.patch_flowrun("ns", "r", {"spec": {"state": "Paused"}})
    person.patch_flowrun("ns", "r", {"status": {"phase": "Paused", "pause": {
        "key": "pause-1", "kind": "Pause", "inputSchema": Answer.model_json_schema()}}}, status=True)
    args = build_parser().parse_args(["resume", "r", "--input", "approved=true", "--input", 'amount:="3"'])
    with pytest.raises(cli_inputs.InputError, match="amount: '3' is not of type 'integer'"):
        commands.COMMANDS["resume"](args, Session(namespace_arg="ns", out=io.StringIO(), err=io.StringIO(),
                                                  _kube=person))
    assert dict(counters) == {"parse": 2, "schema": 1}
    assert person.get_flowrun("ns", "r")["spec"]["state"] == "Paused"


def test_the_pod_validates_the_input_once_with_the_schema_and_once_with_the_model(
        counters: Counter[str], tmp_path: Any) -> None:
    store = Store()
    person = paused_run(store)
    runner = FakeKube(store, user="system:serviceaccount:ns:r-runner")
    live = LiveFlowRun(runner, "ns", "r", runner.get_flowrun("ns", "r"), attempt=1,
                       cache=ResultCache(tmp_path, "ns/r/uid")).start()
    got: dict[str, Any] = {}
    waiting = threading.Thread(target=lambda: got.update(value=live.pause(
        "pause-1", kind=PauseKind.PAUSE, timeout=60, model=Answer)), daemon=True)
    waiting.start()
    from cluster import wait_for
    wait_for(lambda: (person.get_flowrun("ns", "r").get("status") or {}).get("phase") == "Paused",
             timeout=10, interval=0.01, what="the pause")
    counters.clear()
    person.patch_flowrun("ns", "r", {"spec": {"state": "Running", "input": {"approved": True, "amount": 3}}})
    waiting.join(10)
    live.close()
    assert got == {"value": {"approved": True, "amount": 3}}
    assert dict(counters) == {"schema": 1, "pydantic": 1}
