"""Flows that send and receive inputs at runtime (issue 24), for tests/e2e/test_inputs.py."""
import os

from flowrun import flow, task
from flowrun.flow_runs import suspend_flow_run
from flowrun.input import RunInput
from flowrun.input.run_input import receive_input, send_input

EXIT_SIGNAL = "__EXIT__"


class Order(RunInput):
    item: str
    quantity: int


@flow
def collect(count: int = 3, timeout: float = 120) -> list:
    """The first `count` str inputs, in order, with their metadata."""
    got = []
    for received in receive_input(str, timeout=timeout, with_metadata=True, raise_timeout_error=True):
        got.append({"value": received.value, "key": received.metadata.key, "sender": received.metadata.sender,
                    "receiver": str(received.metadata.receiver)})
        if len(got) == count:
            break
    return got


@flow
def orders_and_names(timeout: float = 120) -> dict:
    """Two channels: Order inputs, and str inputs with the key prefix "chat"."""
    order = Order.receive(timeout=timeout, raise_timeout_error=True).next()
    chat = receive_input(str, key_prefix="chat", timeout=timeout, raise_timeout_error=True).next()
    nothing = list(receive_input(int, timeout=1))  # times out quietly: no int was sent
    return {"order": [order.item, order.quantity], "chat": chat, "ints": nothing}


@flow
async def greeter() -> list:
    """Answers every name with a greeting to the run that sent it, until EXIT_SIGNAL."""
    names = []
    async for name_input in receive_input(str, with_metadata=True, timeout=None):
        if name_input.value == EXIT_SIGNAL:
            return names
        names.append({"name": name_input.value, "sender_run": name_input.metadata.sender_run})
        await name_input.respond(f"Hello, {name_input.value}!")


@flow
async def asker(greeter_run: str, names: list) -> list:
    """Sends each name to `greeter_run` and waits for its answer; then tells it to stop."""
    replies = []
    receiver = receive_input(str, timeout=120, raise_timeout_error=True)
    for name in names:
        await send_input(name, flow_run_id=greeter_run)
        replies.append(await receiver.next())
    await send_input(EXIT_SIGNAL, flow_run_id=greeter_run)
    return replies


@task
def seen_in_attempt(values: list) -> dict:
    # Cached by its input: a re-execution that received the same inputs in the same order
    # gets this attempt-1 record back; any other order would run it again.
    return {"values": values, "attempt": int(os.environ.get("FLOWRUN_ATTEMPT", "0"))}


@flow
def suspend_between(count: int = 3) -> dict:
    """Receives `count` inputs, suspends itself (the pod goes), and once resumed receives
    them all again: the re-execution sees the same inputs in the same order."""
    first = [v for _, v in zip(range(count), receive_input(str, timeout=120, raise_timeout_error=True))]
    record = seen_in_attempt(first)
    suspend_flow_run(timeout=600)
    again = [v for _, v in zip(range(count), receive_input(str, timeout=120, raise_timeout_error=True))]
    return {"record": record, "again": again, "attempt": int(os.environ.get("FLOWRUN_ATTEMPT", "0"))}


@flow
def lose_pod_between(count: int = 3) -> dict:
    """Receives `count` inputs, then waits for one on the channel "go"; the test deletes
    the pod meanwhile. The next attempt receives the same inputs in the same order (the
    cached record of attempt 1 comes back only for the same list), then "go"."""
    first = [v for _, v in zip(range(count), receive_input(str, timeout=300, raise_timeout_error=True))]
    record = seen_in_attempt(first)
    go = receive_input(str, key_prefix="go", timeout=300, raise_timeout_error=True).next()
    return {"record": record, "first": first, "go": go, "attempt": int(os.environ.get("FLOWRUN_ATTEMPT", "0"))}


@flow
def peek_other(other: str) -> str:
    """Tries to read another run's inputs with its own token (refused)."""
    try:
        receive_input(str, flow_run_id=other, timeout=5).next()
    except PermissionError as exc:
        return f"refused: {exc}"
    return "read another run's inputs"
