"""The SDK's runtime inputs (sdk/messages.py, sdk/inbox.py, flowrun.input.actions) against
the in-memory API (tests/fakeapi): a send is stored as a FlowRunInput, the operator's own
delivery (controller/inbox.py) copies it into the run's inbox, and receive_input reads
the inbox through its watch. Who sends is the client's user, as the API server says."""
from __future__ import annotations

import asyncio
import contextvars
import threading
from contextlib import contextmanager

import pydantic
import pytest

from fakeapi import FakeKube, Store
from flowrun.controller.inbox import Deliveries
from flowrun.input import RunInput
from flowrun.input.actions import (
    create_flow_run_input,
    create_flow_run_input_from_model,
    filter_flow_run_input,
    read_flow_run_input,
)
from flowrun.input.run_input import GetInputHandler, receive_input, send_input
from flowrun.sdk import inbox, messages
from flowrun.sdk.cache import MemoryCache
from flowrun.sdk.context import RunContext, enter_run, exit_run
from flowrun.sdk.live import LiveFlowRun

NS = "ns"
STR = "strautomaticruninput-auto"


class Order(RunInput):
    item: str
    quantity: int


class Note(pydantic.BaseModel):
    text: str


class World:
    """Two runs, `r` (the receiver) and `asker`; alice, a person; the operator delivering."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.store = Store()
        self.alice = FakeKube(self.store, user="alice")
        self.operator = FakeKube(self.store, user="system:serviceaccount:flowrun:flowrun-operator")
        self.deliveries = Deliveries(self.operator)
        for name in ("r", "asker"):
            self.alice.create_flowrun(NS, {"metadata": {"name": name}, "spec": {"flow": "m:f"}})
            self.alice.patch_flowrun(NS, name, {"status": {"phase": "Running", "attempt": 1}}, status=True)
        self.uid = self.alice.get_flowrun(NS, "r")["metadata"]["uid"]
        monkeypatch.setattr(messages, "_outside", [self.alice])  # the client outside a flow is alice
        monkeypatch.setattr(inbox, "_readers", {})
        monkeypatch.setenv("FLOWRUN_NAMESPACE", NS)
        self.lives: list[LiveFlowRun] = []

    def deliver(self, run: str = "r") -> int:
        return self.deliveries.deliver(self.operator.get_flowrun(NS, run))

    def send(self, value, run: str = "r", **kw) -> None:
        """alice sends, the operator delivers."""
        send_input(value, flow_run_id=run, **kw)
        self.deliver(run)

    def keys(self, run: str = "r") -> list[str]:
        return [i.key for i in filter_flow_run_input("", limit=100, flow_run_id=run)]

    @contextmanager
    def in_run(self, name: str = "r"):
        """Inside the flow of run `name`, with its pod's own client (its runner account)."""
        kube = FakeKube(self.store, user=f"system:serviceaccount:{NS}:{name}-runner")
        live = LiveFlowRun(kube, NS, name, kube.get_flowrun(NS, name), attempt=1).start()
        self.lives.append(live)
        uid = kube.get_flowrun(NS, name)["metadata"]["uid"]
        token = enter_run(RunContext(name=name, namespace=NS, attempt=1, parameters={},
                                     cache=MemoryCache(), uid=uid, live=live))
        try:
            yield live
        finally:
            exit_run(token)

    def close(self) -> None:
        for live in self.lives:
            live.close()
        for reader in list(inbox._readers.values()):
            reader.close()
        self.deliveries._deleter.shutdown(wait=False)


@pytest.fixture
def world(monkeypatch):
    w = World(monkeypatch)
    yield w
    w.close()


def in_thread(fn):
    """Run `fn` in a thread that sees this thread's context (the current run)."""
    out: dict = {}
    ctx = contextvars.copy_context()

    def target():
        try:
            out["value"] = ctx.run(fn)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc
    th = threading.Thread(target=target, daemon=True)
    th.start()
    return th, out


def waiting_in_receive_input(world, prefix=STR):
    """The run published what it waits for: its receive_input is about to block."""
    from cluster import wait_for
    return wait_for(lambda: ((world.alice.get_flowrun(NS, "r").get("status") or {}).get("receiving") or {})
                    .get("keyPrefix") == prefix, timeout=10, interval=0.01, what="the flow waiting")


# ---- iterating: sync, async, .next() -------------------------------------------------------

def test_sync_iteration_yields_every_input_of_the_type_in_the_order_sent(world):
    for value in ("ada", "grace"):
        world.send(value)
    world.send(7)  # another type: another key prefix, not in the way
    world.send("linus")
    got = list(receive_input(str, timeout=0.05, flow_run_id="r"))
    assert got == ["ada", "grace", "linus"]
    assert list(receive_input(int, timeout=0.05, flow_run_id="r")) == [7]


def test_async_iteration_and_next_awaited(world):
    for value in ("one", "two", "three"):
        world.send(value)

    async def flow_body():
        handler = receive_input(str, timeout=0.05, flow_run_id="r")
        first = await handler.next()
        rest = [v async for v in handler]
        return first, rest
    assert asyncio.run(flow_body()) == ("one", ["two", "three"])


def test_next_in_sync_code_returns_the_value_and_keeps_the_position(world):
    world.send("one")
    world.send("two")
    handler = receive_input(str, timeout=0.05, flow_run_id="r")
    assert isinstance(handler, GetInputHandler)
    assert handler.next() == "one"
    assert handler.next() == "two"
    with pytest.raises(TimeoutError):
        handler.next()  # .next() raises on timeout whatever raise_timeout_error says
    assert handler.exclude_keys == set(world.keys()), "the keys seen are excluded, as in Prefect"


def test_waiting_in_async_iteration_leaves_the_event_loop_free(world):
    async def flow_body():
        async def send_later():
            await asyncio.sleep(0)  # runs only if the receiving loop does not hold the event loop
            await asyncio.to_thread(world.send, "from the same loop")

        sender = asyncio.create_task(send_later())
        async for value in receive_input(str, timeout=10, raise_timeout_error=True, flow_run_id="r"):
            await sender
            return value
    assert asyncio.run(flow_body()) == "from the same loop"


def test_a_run_input_class_is_received_as_its_instances(world):
    Order(item="towel", quantity=2).send_to("r")
    world.deliver()
    got = list(Order.receive(timeout=0.05, flow_run_id="r"))
    assert [g.model_dump() for g in got] == [{"item": "towel", "quantity": 2}] and isinstance(got[0], Order)
    assert got[0].metadata.key.startswith("order-auto-")


# ---- timeouts ----------------------------------------------------------------------------

def test_timeout_none_waits_until_an_input_arrives(world):
    with world.in_run("r"):
        handler = receive_input(str, timeout=None)
        th, out = in_thread(lambda: next(iter(handler)))
        waiting_in_receive_input(world)
        world.send("late")  # sent after the flow began to wait
        th.join(10)
    assert out == {"value": "late"}


def test_timeout_none_waits_in_async_iteration_too(world):
    with world.in_run("r"):
        async def flow_body():
            async for value in receive_input(str, timeout=None):
                return value
        th, out = in_thread(lambda: asyncio.run(flow_body()))
        waiting_in_receive_input(world)
        world.send("late")
        th.join(10)
    assert out == {"value": "late"}


def test_an_expired_timeout_ends_the_loop_quietly_by_default(world):
    world.send("only")
    assert list(receive_input(str, timeout=0.05, flow_run_id="r")) == ["only"]

    async def flow_body():
        return [v async for v in receive_input(str, timeout=0.05, flow_run_id="r")]
    assert asyncio.run(flow_body()) == ["only"]


def test_raise_timeout_error_raises_after_the_inputs_there_are(world):
    world.send("only")
    got = []
    with pytest.raises(TimeoutError):
        for value in receive_input(str, timeout=0.05, raise_timeout_error=True, flow_run_id="r"):
            got.append(value)
    assert got == ["only"]

    async def flow_body():
        async for _ in receive_input(int, timeout=0.05, raise_timeout_error=True, flow_run_id="r"):
            pass
    with pytest.raises(TimeoutError):
        asyncio.run(flow_body())


# ---- exclude_keys, key_prefix, with_metadata -------------------------------------------------

def test_exclude_keys_skips_inputs_already_handled(world):
    for value in ("a", "b", "c"):
        world.send(value)
    keys = world.keys()
    got = list(receive_input(str, timeout=0.05, exclude_keys=[keys[1]], flow_run_id="r"))
    assert got == ["a", "c"]
    assert list(receive_input(str, timeout=0.05, exclude_keys=set(keys), flow_run_id="r")) == []


def test_key_prefix_separates_channels(world):
    world.send("on chat", key_prefix="chat")
    world.send("plain")
    world.send("on chat too", key_prefix="chat")
    assert list(receive_input(str, timeout=0.05, key_prefix="chat", flow_run_id="r")) == ["on chat", "on chat too"]
    assert list(receive_input(str, timeout=0.05, flow_run_id="r")) == ["plain"]
    assert [k[:-len("-") - 36] for k in world.keys()] == ["chat", STR, "chat"]  # <prefix>-<uuid>


def test_with_metadata_yields_the_run_input_with_key_sender_and_receiver(world):
    world.send("ada")
    plain = list(receive_input(str, timeout=0.05, flow_run_id="r"))
    assert plain == ["ada"]
    [got] = list(receive_input(str, timeout=0.05, with_metadata=True, flow_run_id="r"))
    assert got.value == "ada"
    assert got.metadata.key == world.keys()[0] and got.metadata.key.startswith(f"{STR}-")
    assert got.metadata.sender == "alice", "the sender is the API server's user name"
    assert got.metadata.receiver == world.uid
    assert got.metadata.sender_run is None  # a person sent it


def test_a_claimed_sender_is_not_the_sender(world):
    world.send("ada", sender="the-queen")
    [got] = list(receive_input(str, timeout=0.05, with_metadata=True, flow_run_id="r"))
    assert got.metadata.sender == "alice"


def test_a_base_model_is_received_as_an_instance_of_it(world):
    world.send(Note(text="hi"))
    [got] = list(receive_input(Note, timeout=0.05, flow_run_id="r"))
    assert isinstance(got, Note) and got.text == "hi"
    assert got.metadata.key.startswith("noteruninput-auto-")


# ---- respond ------------------------------------------------------------------------------

def test_respond_answers_the_run_that_sent_and_only_a_run(world):
    with world.in_run("asker"):
        send_input("andrew", flow_run_id="r")  # from asker's pod, with its own account
    world.deliver()
    world.send("from a person")
    received = list(receive_input(str, timeout=0.05, with_metadata=True, flow_run_id="r"))
    assert [(i.value, i.metadata.sender_run) for i in received] == [("andrew", "asker"), ("from a person", None)]
    assert received[0].metadata.sender == f"system:serviceaccount:{NS}:asker-runner"

    received[0].respond("Hello, andrew!")
    world.deliver("asker")
    assert list(receive_input(str, timeout=0.05, flow_run_id="asker")) == ["Hello, andrew!"]

    with pytest.raises(RuntimeError, match="not sent by a flow run"):
        received[1].respond("Hello?")
    made_here = Order(item="x", quantity=1)
    with pytest.raises(RuntimeError, match="not sent by a flow run"):
        made_here.respond(Order(item="y", quantity=2))


def test_respond_is_awaitable_in_async_code(world):
    with world.in_run("asker"):
        send_input("andrew", flow_run_id="r")
    world.deliver()

    async def greeter():
        async for name in receive_input(str, timeout=0.05, with_metadata=True, flow_run_id="r"):
            await name.respond(f"Hello, {name.value}!")
    asyncio.run(greeter())
    world.deliver("asker")
    assert list(receive_input(str, timeout=0.05, flow_run_id="asker")) == ["Hello, andrew!"]


# ---- flowrun.input.actions: read / filter / create --------------------------------------------

def test_filter_and_read_flow_run_input(world):
    for value in ("a", "b", "c"):
        world.send(value)
    world.send("x", key_prefix="other")
    first = filter_flow_run_input(STR, flow_run_id="r")
    assert [i.decoded_value for i in first] == [{"value": "a"}]  # limit=1, oldest first
    three = filter_flow_run_input(STR, limit=10, flow_run_id="r")
    assert [i.decoded_value for i in three] == [{"value": v} for v in "abc"]
    assert {i.sender for i in three} == {"alice"} and {i.flow_run_id for i in three} == {world.uid}
    rest = filter_flow_run_input(STR, limit=10, exclude_keys={three[0].key}, flow_run_id="r")
    assert [i.decoded_value for i in rest] == [{"value": "b"}, {"value": "c"}]
    assert read_flow_run_input(three[2].key, flow_run_id="r") == {"value": "c"}
    assert read_flow_run_input(three[2].key, flow_run_id=world.uid) == {"value": "c"}  # by uid
    assert read_flow_run_input("no-such-key", flow_run_id="r") is None


def test_create_flow_run_input_stores_under_exactly_the_key(world):
    create_flow_run_input("answer-1", {"n": 42}, flow_run_id="r")
    create_flow_run_input_from_model("order-auto-1", Order(item="towel", quantity=2), flow_run_id="r")
    world.deliver()
    assert read_flow_run_input("answer-1", flow_run_id="r") == {"n": 42}
    assert [o.model_dump() for o in Order.receive(timeout=0.05, flow_run_id="r")] == [{"item": "towel", "quantity": 2}]
    with pytest.raises(ValueError, match="refused"):
        create_flow_run_input("not a key!", 1, flow_run_id="r")


def test_the_actions_can_be_awaited_in_async_code(world):
    async def client():
        await create_flow_run_input("answer-1", {"n": 42}, flow_run_id="r")
        await create_flow_run_input_from_model("order-auto-1", Order(item="towel", quantity=2), flow_run_id="r")
        await asyncio.to_thread(world.deliver)
        found = await filter_flow_run_input("order-auto", limit=5, flow_run_id="r")
        value = await read_flow_run_input("answer-1", flow_run_id="r")
        return [i.decoded_value for i in found], value
    assert asyncio.run(client()) == ([{"item": "towel", "quantity": 2}], {"n": 42})


def test_the_actions_in_sync_code_return_their_results(world):
    create_flow_run_input("answer-1", [1, 2], flow_run_id="r")
    world.deliver()
    got = read_flow_run_input("answer-1", flow_run_id="r")
    assert got == [1, 2] and not asyncio.iscoroutine(got)
    found = filter_flow_run_input("answer", flow_run_id="r")
    assert isinstance(found, list) and found[0].key == "answer-1"


def test_outside_a_flow_a_run_must_be_named(world):
    with pytest.raises(RuntimeError, match="flow run ID"):
        read_flow_run_input("k")
    with pytest.raises(RuntimeError, match="flow run ID"):
        receive_input(str)
