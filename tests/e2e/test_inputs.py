"""Issue 24 on the cluster: inputs sent to running flows (send_input / receive_input,
RunInput.send_to / receive / respond), delivered in order through the run's inbox."""
from __future__ import annotations

import json
import uuid

import pytest

from cluster import kubectl, wait_for
from cluster.cli import fails, flowrun, ok
from cluster.flowruns import apply, flowrun_manifest, get_fr, names, wait_phase
from flowrun.flow_runs import resume_flow_run
from flowrun.input import filter_flow_run_input, read_flow_run_input
from flowrun.input import RunInput
from flowrun.input.run_input import send_input

pytestmark = pytest.mark.e2e


def run(namespace: str, image: str, name: str, flow: str, **spec) -> None:
    apply(namespace, flowrun_manifest(name, f"testflows.inputs:{flow}", image=image, **spec))


def completed(namespace: str, name: str, timeout: float = 180) -> dict:
    fr = wait_phase(namespace, name, "Completed", "Failed", "Cancelled", timeout=timeout)
    assert fr["status"]["phase"] == "Completed", fr["status"].get("message")
    return fr


def whoami() -> str:
    return json.loads(kubectl("auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]["username"]


def inbox(namespace: str, run_name: str) -> list[dict]:
    out = kubectl("get", "flowruninboxes", "-l", f"flowrun.io/run={run_name}", "-o", "json", namespace=namespace)
    pages = sorted(json.loads(out.stdout)["items"], key=lambda p: p["spec"]["page"])
    return [e for p in pages for e in p["spec"].get("entries") or []]


def test_inputs_sent_before_the_run_starts_arrive_in_order(operator, namespace, runner_image):
    # Created suspended: no pod runs until it is resumed; the inputs wait meanwhile.
    run(namespace, runner_image, "early", "collect", state="Suspended", parameters={"count": 3})
    fr = wait_phase(namespace, "early", "Suspended")
    uid = fr["metadata"]["uid"]
    for name in ("ada", "grace", "linus"):
        send_input(name, flow_run_id="early", namespace=namespace)
    # an input of another type, and one on another channel, do not disturb the order
    send_input(7, flow_run_id="early", namespace=namespace)
    send_input("side", flow_run_id="early", key_prefix="side", namespace=namespace)
    wait_for(lambda: len(inbox(namespace, "early")) == 5, timeout=30, what="five inputs in the inbox")
    assert names("flowruninputs", namespace) == [], "a delivered request is deleted"
    page = json.loads(kubectl("get", "flowruninbox", "early-inbox-0", "-o", "json", namespace=namespace).stdout)
    assert page["metadata"]["ownerReferences"][0]["uid"] == uid

    # Read from outside, as Prefect's actions do
    first = filter_flow_run_input("strautomaticruninput-auto", limit=10, flow_run_id="early", namespace=namespace)
    assert [i.decoded_value for i in first] == [{"value": "ada"}, {"value": "grace"}, {"value": "linus"}]
    assert read_flow_run_input(first[1].key, flow_run_id=uuid.UUID(uid), namespace=namespace) == {"value": "grace"}

    resume_flow_run("early", namespace=namespace)
    got = completed(namespace, "early")["status"]["result"]
    assert [g["value"] for g in got] == ["ada", "grace", "linus"]
    assert all(g["key"].startswith("strautomaticruninput-auto-") for g in got)
    assert {g["sender"] for g in got} == {whoami()}, "the sender is the API server's user name"
    assert {g["receiver"] for g in got} == {uid}

    # Finished, its inputs stay readable (flowrun inputs, Prefect's read functions)...
    listed = json.loads(ok(flowrun("inputs", "early", "-o", "json", namespace=namespace)).stdout)
    assert [e["value"] for e in listed] == [{"value": v} for v in ("ada", "grace", "linus")] + [
        {"value": 7}, {"value": "side"}]
    assert read_flow_run_input(first[2].key, flow_run_id="early", namespace=namespace) == {"value": "linus"}
    assert [i.key for i in filter_flow_run_input("side", flow_run_id="early", namespace=namespace)] == \
        [listed[4]["key"]]

    # ...until the FlowRun is deleted: its inbox goes with it.
    kubectl("delete", "fr", "early", "--wait=true", namespace=namespace)
    wait_for(lambda: names("flowruninboxes", namespace) == [], timeout=60, what="the inbox deleted with its run")
    assert "not found" in fails(flowrun("inputs", "early", namespace=namespace), 3)
    with pytest.raises(ValueError, match="FlowRun early not found"):
        read_flow_run_input(first[2].key, flow_run_id="early", namespace=namespace)


class Order(RunInput):
    """The same class as the flow's (testflows/inputs.py): same name, same key prefix."""
    item: str
    quantity: int


def test_channels_types_and_sending_by_uid(operator, namespace, runner_image):
    run(namespace, runner_image, "shop", "orders_and_names")
    uid = uuid.UUID(wait_phase(namespace, "shop", "Running")["metadata"]["uid"])
    send_input("hello", flow_run_id=uid, key_prefix="chat", namespace=namespace)
    Order(item="towel", quantity=2).send_to(uid)
    with pytest.raises(ValueError, match="more than"):
        send_input("x" * (65 * 1024), flow_run_id="shop", namespace=namespace)
    assert completed(namespace, "shop")["status"]["result"] == {"order": ["towel", 2], "chat": "hello", "ints": []}


def test_flow_to_flow_request_and_response(operator, namespace, runner_image):
    run(namespace, runner_image, "greeter", "greeter")
    run(namespace, runner_image, "asker", "asker", parameters={"greeter_run": "greeter", "names": ["andrew", "marvin"]})
    assert completed(namespace, "asker")["status"]["result"] == ["Hello, andrew!", "Hello, marvin!"]
    assert completed(namespace, "greeter")["status"]["result"] == [
        {"name": "andrew", "sender_run": "asker"}, {"name": "marvin", "sender_run": "asker"}]


def test_a_suspended_run_re_executes_with_the_same_inputs_in_the_same_order(operator, namespace, runner_image):
    run(namespace, runner_image, "again", "suspend_between", parameters={"count": 3})
    wait_phase(namespace, "again", "Running")
    for name in ("one", "two", "three"):
        send_input(name, flow_run_id="again", namespace=namespace)
    wait_phase(namespace, "again", "Suspended")
    wait_for(lambda: not kubectl("get", "pods", "-l", "flowrun.io/run=again", "-o", "name",
                                 namespace=namespace).stdout.strip(),
             timeout=90, what="the suspended run's pod to be gone")
    resume_flow_run("again", namespace=namespace)
    result = completed(namespace, "again")["status"]["result"]
    assert result["attempt"] == 2
    assert result["record"] == {"values": ["one", "two", "three"], "attempt": 1}, \
        "the re-execution received something else than the first execution"
    assert result["again"] == ["one", "two", "three"]


def test_a_pod_lost_while_waiting_in_receive_input_re_executes_with_the_same_inputs(operator, namespace,
                                                                                   runner_image):
    run(namespace, runner_image, "lost", "lose_pod_between", parameters={"count": 3})
    for name in ("one", "two", "three"):
        send_input(name, flow_run_id="lost", namespace=namespace)
    # Attempt 1 has received the three and waits on the channel "go" (it says so).
    wait_for(lambda: (get_fr(namespace, "lost")["status"].get("receiving") or {}).get("keyPrefix") == "go",
             timeout=120, what="attempt 1 waiting on the channel go")
    pod = wait_for(lambda: names("pods", namespace, "flowrun.io/run=lost"), timeout=60, what="the runner pod")[0]
    kubectl("delete", "pod", pod, "--wait=false", namespace=namespace)
    wait_for(lambda: get_fr(namespace, "lost")["status"].get("attempt") == 2, timeout=120, what="attempt 2")
    send_input("go!", flow_run_id="lost", key_prefix="go", namespace=namespace)
    fr = completed(namespace, "lost")
    result = fr["status"]["result"]
    assert result["attempt"] == 2 and fr["status"]["podLosses"] == 1, fr["status"]
    assert result["record"] == {"values": ["one", "two", "three"], "attempt": 1}, \
        "the re-execution received something else than the first execution"
    assert result["first"] == ["one", "two", "three"] and result["go"] == "go!"


# ---- Prefect's documented examples (tests/e2e/prefect_docs, imports swapped) ----------------

def docs_run(namespace: str, image: str, name: str, flow: str, **spec) -> None:
    apply(namespace, flowrun_manifest(name, f"prefect_docs.{flow}", image=image, **spec))


def logs(namespace: str, name: str) -> str:
    return ok(flowrun("logs", name, "--tail", "200", namespace=namespace)).stdout


def test_prefect_docs_send_and_receive_examples(operator, namespace, runner_image):
    docs_run(namespace, runner_image, "plain", "receive_greeter:greeter_flow")
    docs_run(namespace, runner_image, "meta", "receive_with_metadata:greeter_flow")
    docs_run(namespace, runner_image, "respond", "greeter_respond:greeter")
    docs_run(namespace, runner_image, "squarer", "run_input_receiver_mended:receiver_flow")
    docs_run(namespace, runner_image, "typed", "greeter_input_mended:greeter_flow")
    docs_run(namespace, runner_image, "untyped", "greeter_input:greeter_flow")
    for name, prefix in (("plain", "strautomaticruninput-auto"), ("meta", "strautomaticruninput-auto"),
                         ("typed", "greeterinput-auto")):
        # The flow publishes what it waits for; `flowrun send` sends that kind of input to it.
        wait_for(lambda: (get_fr(namespace, name)["status"].get("receiving") or {}).get("keyPrefix")
                 == prefix, timeout=120, what=f"{name} waiting in receive_input")
        ok(flowrun("send", name, "--input", "value=andrew", namespace=namespace))
        wait_for(lambda: "Hello, andrew!" in logs(namespace, name), timeout=60, what=f"{name}'s greeting")
        if name == "plain":
            # Created by hand, an input passes no door: the operator judges it at delivery
            # against what the flow waits for, and refuses it with a Warning Event.
            bad = raw_input(namespace, "plain", 3)
            refusal = wait_for(lambda: [e for e in events(namespace, "InputRefused")
                                        if e["involvedObject"]["name"] == "plain"], timeout=60, what="InputRefused")
            assert refusal[0]["type"] == "Warning" and bad in refusal[0]["message"], refusal
            assert "3 is not of type 'string'" in refusal[0]["message"], refusal
        ok(flowrun("cancel", name, namespace=namespace))  # timeout=None: it would wait for ever
    # A value of the wrong type is refused at the door, with the reason.
    refused = fails(flowrun("send", "plain", "--json", '{"value": 3}', namespace=namespace), 4)
    assert "3 is not of type 'string'" in refused
    # The GreeterInput example as published fails as in Prefect: receive_input is not imported.
    untyped = wait_phase(namespace, "untyped", "Completed", "Failed", timeout=180)
    assert untyped["status"]["phase"] == "Failed" and "receive_input" in untyped["status"]["message"], \
        untyped["status"]

    # The greeter that answers the run that sent each name, and stops on __EXIT__.
    run(namespace, runner_image, "asker", "asker", parameters={"greeter_run": "respond", "names": ["andrew"]})
    assert completed(namespace, "asker")["status"]["result"] == ["Hello, andrew!"]
    completed(namespace, "respond")
    assert "Goodbye!" in logs(namespace, "respond")

    # The API reference's pair: the published sender reads the receiver's inputs (refused
    # here: a run reads only its own); the mended one gets its square back by uid.
    squarer = wait_phase(namespace, "squarer", "Running")["metadata"]["uid"]
    docs_run(namespace, runner_image, "published", "run_input_sender:sender_flow",
             parameters={"receiver_flow_run_id": squarer})
    failed = wait_phase(namespace, "published", "Completed", "Failed", timeout=180)
    assert failed["status"]["phase"] == "Failed" and "may not read the inputs" in failed["status"]["message"], \
        failed["status"]
    docs_run(namespace, runner_image, "mended", "run_input_sender_mended:sender_flow",
             parameters={"receiver_flow_run_id": squarer})
    completed(namespace, "mended")
    line = next(ln for ln in logs(namespace, "mended").splitlines() if "squared is" in ln)
    number, square = line.split("squared is")
    assert int(square.strip()) == int(number.split()[-1]) ** 2, line
    ok(flowrun("cancel", "squarer", namespace=namespace))


def events(namespace: str, reason: str) -> list[dict]:
    out = kubectl("get", "events", "--field-selector", f"reason={reason}", "-o", "json", namespace=namespace)
    return json.loads(out.stdout)["items"]


def raw_input(namespace: str, target: str, value: object) -> str:
    """A FlowRunInput created directly, as a run's pod does (it may not read other runs,
    so nothing checks the target before it is stored). Returns its name."""
    body = {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRunInput",
            "metadata": {"generateName": "input-", "labels": {"flowrun.io/run": target}},
            "spec": {"flowRun": target, "key": f"strautomaticruninput-auto-{uuid.uuid4()}",
                     "value": {"value": value}, "sender": whoami()}}
    out = kubectl("create", "-f", "-", "-o", "jsonpath={.metadata.name}", namespace=namespace,
                  input=json.dumps(body))
    return out.stdout.strip()


def test_inputs_to_missing_or_deleted_runs_are_refused_or_dropped_with_an_event(operator, namespace, runner_image):
    """A person's send to a run that does not exist is refused, nothing stored; an input
    stored for a name that is no run's, or for the uid of a deleted run, is dropped after
    the operator's grace (30 s for the session's operator: conftest.py) with a Warning
    Event InputDropped about it; one for a run created within the grace is delivered."""
    with pytest.raises(ValueError, match="FlowRun ghost not found"):
        send_input("boo", flow_run_id="ghost", namespace=namespace)
    assert names("flowruninputs", namespace) == []

    run(namespace, runner_image, "gone", "collect", state="Suspended")
    uid = wait_phase(namespace, "gone", "Suspended")["metadata"]["uid"]
    send_input("delivered", flow_run_id="gone", namespace=namespace)
    wait_for(lambda: len(inbox(namespace, "gone")) == 1, timeout=30, what="the input in gone's inbox")
    kubectl("delete", "fr", "gone", "--wait=true", namespace=namespace)
    wait_for(lambda: names("flowruninboxes", namespace) == [], timeout=60, what="the inbox deleted with its run")

    ghost = raw_input(namespace, "ghost", "to nobody")
    late = raw_input(namespace, uid, "to a deleted run")
    early = raw_input(namespace, "later", "before its run")
    run(namespace, runner_image, "later", "collect", state="Suspended")
    wait_for(lambda: [e["value"] for e in inbox(namespace, "later")] == [{"value": "before its run"}],
             timeout=60, what="the input sent before its run to be delivered")
    dropped = wait_for(lambda: (got := {e["involvedObject"]["name"]: e for e in events(namespace, "InputDropped")})
                       and {ghost, late} <= set(got) and got, timeout=120, what="the two orphans dropped")
    assert set(names("flowruninputs", namespace)) & {ghost, late, early} == set()
    assert dropped[ghost]["type"] == "Warning" and dropped[ghost]["involvedObject"]["kind"] == "FlowRunInput"
    assert f"FlowRun ghost does not exist in namespace {namespace}" in dropped[ghost]["message"]
    assert whoami() in dropped[ghost]["message"], "the Event names the sender"
    assert f"FlowRun {uid} does not exist" in dropped[late]["message"]
    assert early not in dropped
