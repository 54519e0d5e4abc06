"""`flowrun send` and `flowrun inputs` (cli/messages.py) against the in-memory API
(tests/fakeapi): what is stored, with which key and value, what is refused at the door
and with which exit code, and how a run's inputs are listed (also once it finished)."""
from __future__ import annotations

import io
import json

import pytest

from fakeapi import FakeKube, Store
from flowrun.cli import commands, errors, main as cli_main
from flowrun.cli.commands import Session
from flowrun.cli.parser import build_parser
from flowrun.controller.inbox import Deliveries

NS = "ns"
STR = "strautomaticruninput-auto"
ORDER_SCHEMA = {
    "title": "Order", "type": "object", "additionalProperties": False, "required": ["item", "quantity"],
    "properties": {"item": {"type": "string"}, "quantity": {"type": "integer"}},
}


@pytest.fixture
def api():
    store = Store()
    alice = FakeKube(store, user="alice")
    alice.create_flowrun(NS, {"metadata": {"name": "shop"}, "spec": {"flow": "m:f"}})
    alice.patch_flowrun(NS, "shop", {"status": {"phase": "Running", "attempt": 1}}, status=True)
    yield alice
    alice.store.objects.clear()


def waits_for_orders(kube):
    kube.patch_flowrun(NS, "shop", {"status": {"receiving": {
        "keyPrefix": "order-auto", "type": "Order", "inputSchema": ORDER_SCHEMA, "since": "2026-01-01T00:00:00Z"}}},
        status=True)


def run(kube, *argv):
    out, err = io.StringIO(), io.StringIO()
    args = build_parser().parse_args(list(argv))
    s = Session(namespace_arg=NS, out=out, err=err, _kube=kube)
    try:
        code = commands.COMMANDS[cli_main.ALIASES.get(args.command, args.command)](args, s)
    except errors.CliError as exc:
        return exc.code, out.getvalue(), exc.message
    return code, out.getvalue(), err.getvalue()


def sent(kube):
    """The FlowRunInputs stored, oldest first: (key, value, sender)."""
    return [(i["spec"]["key"], i["spec"]["value"], i["spec"]["sender"])
            for i in sorted(kube.list_inputs(NS), key=lambda i: int(i["metadata"]["resourceVersion"]))]


def deliver(kube, name="shop"):
    deliveries = Deliveries(kube)
    try:
        return deliveries.deliver(kube.get_flowrun(NS, name))
    finally:
        deliveries._deleter.shutdown(wait=True)


# ---- flowrun send ---------------------------------------------------------------------------

def test_send_value_sends_a_str_as_you(api):
    code, out, _ = run(api, "send", "shop", "--value", "andrew")
    assert code == errors.OK
    [(key, value, sender)] = sent(api)
    assert key.startswith(f"{STR}-") and value == {"value": "andrew"} and sender == "alice"
    assert out.startswith(f"shop: sent {key} (input-")


def test_send_value_on_a_key_prefix(api):
    assert run(api, "send", "shop", "--value", "hi", "--key-prefix", "chat")[0] == errors.OK
    [(key, value, _)] = sent(api)
    assert key.startswith("chat-") and not key.startswith(STR) and value == {"value": "hi"}


def test_send_input_file_takes_the_kind_the_flow_waits_for_and_its_types(api, tmp_path):
    waits_for_orders(api)
    order = tmp_path / "order.yaml"
    order.write_text("item: towel\nquantity: 2\n")
    assert run(api, "send", "shop", "--input-file", str(order))[0] == errors.OK
    # --input on top of the file, converted to the field's type by the published schema
    assert run(api, "send", "shop", "-f", str(order), "--input", "quantity=3")[0] == errors.OK
    # a file's values are taken as they are: a string where an integer is wanted is refused
    order.write_text("item: towel\nquantity: '2'\n")
    code, _, message = run(api, "send", "shop", "-f", str(order))
    assert code == errors.INVALID_INPUT and "quantity" in message
    # digits stay text for a string field (the schema says so), become a number for an integer
    assert run(api, "send", "shop", "--input", "item=42", "--input", "quantity=1")[0] == errors.OK
    assert [(k[:len("order-auto-")], v) for k, v, _ in sent(api)] == [
        ("order-auto-", {"item": "towel", "quantity": 2}), ("order-auto-", {"item": "towel", "quantity": 3}),
        ("order-auto-", {"item": "42", "quantity": 1})]


def test_send_refuses_at_the_door_what_does_not_fit_and_stores_nothing(api, tmp_path):
    waits_for_orders(api)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"item": "towel", "quantity": 2, "colour": "red"}))
    code, _, message = run(api, "send", "shop", "--input-file", str(bad))
    assert code == errors.INVALID_INPUT and "colour" in message
    code, _, message = run(api, "send", "shop", "--key-prefix", "order-auto", "--json", '{"item": 3, "quantity": 1}')
    assert code == errors.INVALID_INPUT and "3 is not of type 'string'" in message
    code, _, message = run(api, "send", "shop", "--input", "quantity=many")
    assert code == errors.INVALID_INPUT and "quantity" in message
    assert sent(api) == []


def test_send_without_a_known_kind_asks_for_a_key_prefix(api):
    code, _, message = run(api, "send", "shop", "--input", "item=towel")
    assert code == errors.INVALID_INPUT and "--key-prefix" in message
    code, _, message = run(api, "send", "shop", "--key-prefix", "order-auto")
    assert code == errors.INVALID_INPUT and "nothing to send" in message
    assert sent(api) == []


def test_send_to_a_run_that_does_not_exist(api):
    code, _, message = run(api, "send", "ghost", "--value", "boo")
    assert code == errors.NOT_FOUND and "ghost" in message
    assert sent(api) == []


def test_send_with_an_exact_key(api):
    assert run(api, "send", "shop", "--value", "x", "--key", "answer-1")[0] == errors.OK
    assert sent(api) == [("answer-1", {"value": "x"}, "alice")]


# ---- flowrun inputs -------------------------------------------------------------------------

def test_inputs_lists_what_was_delivered_in_order_also_once_the_run_finished(api):
    for value in ("ada", "grace"):
        run(api, "send", "shop", "--value", value)
    run(api, "send", "shop", "--value", "side", "--key-prefix", "chat")
    assert deliver(api) == 3
    api.patch_flowrun(NS, "shop", {"status": {"phase": "Completed"}}, status=True)

    code, out, _ = run(api, "inputs", "shop")
    assert code == errors.OK
    lines = out.splitlines()
    assert lines[0].split() == ["KEY", "SENDER", "SENT", "VALUE"]
    assert [ln.split()[-1] for ln in lines[1:]] == ['{"value":"ada"}', '{"value":"grace"}', '{"value":"side"}']
    assert all(ln.split()[1] == "alice" for ln in lines[1:])

    entries = json.loads(run(api, "inputs", "shop", "-o", "json")[1])
    assert [e["value"] for e in entries] == [{"value": "ada"}, {"value": "grace"}, {"value": "side"}]
    keys = run(api, "inputs", "shop", "-o", "name", "--key-prefix", "chat")[1].split()
    assert len(keys) == 1 and keys[0].startswith("chat-")


def test_inputs_names_the_run_that_sent(api):
    api.create_flowrun(NS, {"metadata": {"name": "asker"}, "spec": {"flow": "m:f"}})
    pod = FakeKube(api.store, user=f"system:serviceaccount:{NS}:asker-runner")
    run(pod, "send", "shop", "--value", "from a flow")
    deliver(api)
    out = run(api, "inputs", "shop")[1]
    assert "run asker" in out.splitlines()[1]


def test_inputs_of_a_run_without_any(api):
    code, out, _ = run(api, "inputs", "shop")
    assert code == errors.OK and "(no inputs sent to shop)" in out
    assert run(api, "inputs", "ghost")[0] == errors.NOT_FOUND
