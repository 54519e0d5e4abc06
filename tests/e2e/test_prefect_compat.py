"""Issue 12 on the cluster: Prefect-style flows, and Prefect's own documented examples
(tests/e2e/prefect_docs, as published) with only `prefect` -> `flowrun` in their imports."""
from __future__ import annotations

import json

import pytest

from cluster import kubectl, wait_for
from cluster.cli import fails, flowrun, ok
from cluster.flowruns import apply, flowrun_manifest, get_fr, patch_fr, wait_phase
from cluster.harness import swap_imports
from flowrun.flow_runs import resume_flow_run, suspend_flow_run
from flowrun.sdk.pausing import ResumeError

pytestmark = pytest.mark.e2e
INVALID_INPUT = 4  # flowrun.cli.errors.INVALID_INPUT


def test_swap_imports_touches_import_lines_only():
    assert swap_imports("from prefect import flow\nfrom prefect.input import RunInput\n"
                        "x = 'prefect'\n") == \
        "from flowrun import flow\nfrom flowrun.input import RunInput\nx = 'prefect'\n"


def logs(namespace: str, name: str) -> str:
    return ok(flowrun("logs", name, "--tail", "200", namespace=namespace)).stdout


def completed(namespace: str, name: str) -> dict:
    fr = wait_phase(namespace, name, "Completed", "Failed", timeout=180)
    assert fr["status"]["phase"] == "Completed", fr["status"].get("message")
    return fr


# ---- flows written the Prefect way --------------------------------------------------

def test_async_flow_awaits_a_pause_with_input(operator, namespace):
    apply(namespace, flowrun_manifest("hello", "testflows.prefect:async_greeting"))
    fr = wait_phase(namespace, "hello", "Paused")
    assert fr["status"]["pause"]["inputSchema"]["required"] == ["name", "age"]
    ok(flowrun("resume", "hello", "--input", "name=Marvin", "--input", "age=42", namespace=namespace))
    result = completed(namespace, "hello")["status"]["result"]
    assert result["greeting"] == "Hello, Marvin (42)!"
    assert result["ticks_while_paused"] >= 3, "the event loop was blocked while paused"
    assert "hello: Hello, Marvin!" in logs(namespace, "hello"), "log_prints sends print() to the run's log"


def test_pause_with_a_description_and_defaults(operator, namespace):
    apply(namespace, flowrun_manifest("prompt", "testflows.prefect:described_pause"))
    fr = wait_phase(namespace, "prompt", "Paused")
    pause = fr["status"]["pause"]
    assert pause["description"].startswith("**Welcome!**")
    assert pause["inputSchema"]["required"] == ["age"]
    assert pause["inputSchema"]["properties"]["name"]["default"] == "anonymous"
    shown = ok(flowrun("get", "prompt", namespace=namespace)).stdout
    assert "**Welcome!**" in shown and "- **Name**: what should we call you?" in shown
    assert shown.index("**Welcome!**") < shown.index("Expected input"), shown
    # By uid, as Prefect's flow_run.id; the default fills the field left out.
    resume_flow_run(fr["metadata"]["uid"], run_input={"age": 30}, namespace=namespace)
    assert completed(namespace, "prompt")["status"]["result"] == "Hello, stranger!"


def test_twenty_submitted_tasks_suspend_midway_and_none_reruns(operator, namespace):
    apply(namespace, flowrun_manifest("twenty", "testflows.prefect:twenty_submitted"))
    wait_phase(namespace, "twenty", "Suspended")
    wait_for(lambda: not kubectl("get", "pods", "-l", "flowrun.io/run=twenty", "-o", "name",
                                 namespace=namespace).stdout.strip(),
             timeout=90, what="the suspended run's pod to be gone")
    ok(flowrun("resume", "twenty", namespace=namespace))
    fr = completed(namespace, "twenty")
    assert fr["status"]["attempt"] == 2
    result = fr["status"]["result"]
    assert result["results"] == [i * i for i in range(20)]
    assert result["executions"] == {str(i): 1 for i in range(20)}, "a finished task ran again"


# ---- Prefect's documented examples ---------------------------------------------------

def docs_run(namespace: str, image: str, name: str, flow: str) -> None:
    apply(namespace, flowrun_manifest(name, f"prefect_docs.{flow}", image=image))


def test_prefect_docs_model_validator_refusal_keeps_the_run_paused(operator, namespace, runner_image):
    docs_run(namespace, runner_image, "shirt", "shirt_order:get_shirt_order")
    wait_phase(namespace, "shirt", "Paused")
    refused = fails(flowrun("resume", "shirt", "--input", "size=small", "--input", "color=green",
                            namespace=namespace), INVALID_INPUT, "still paused")
    assert "Green is only in-stock for medium, large, and XL sizes." in refused
    # The runner records the refusal in the status first, then puts spec.state back to
    # Paused (contract/lifecycle/runner.py): the CLI answers on the first; the second follows.
    fr = wait_for(lambda: (got := get_fr(namespace, "shirt"))["spec"]["state"] == "Paused" and got,
                  timeout=30, what="spec.state back to Paused after the refusal")
    assert fr["status"]["phase"] == "Paused" and "Green is only in-stock" in fr["status"]["message"]
    wait_for(lambda: "Green is only in-stock" in kubectl(
        "get", "events", "--field-selector", "involvedObject.name=shirt,type=Warning", "-o", "json",
        namespace=namespace).stdout, timeout=30, what="a Warning Event with the validator's message")
    with pytest.raises(ResumeError, match="Green is only in-stock"):
        resume_flow_run("shirt", run_input={"size": "small", "color": "green"}, namespace=namespace)
    resume_flow_run("shirt", run_input={"size": "medium", "color": "green"}, namespace=namespace)
    completed(namespace, "shirt")


def test_prefect_docs_examples_run_unchanged(operator, namespace, runner_image):
    runs = {"joke": "joke:inspiring_joke", "noblock": "noblock:noblock_pausing",
            "greet-str": "greet_str:greet_user", "greet-model": "greet_basemodel:greet_user",
            "greet-prompt": "greet_description:greet_user", "shirt-loop": "shirt_order_loop:get_shirt_order"}
    for name, flow in runs.items():
        docs_run(namespace, runner_image, name, flow)

    # "Pause a workflow": the async joke pauses; suspend it from outside by its id, and
    # resume it by its id, as the page's snippets do.
    joke = wait_phase(namespace, "joke", "Paused")
    suspend_flow_run(flow_run_id=joke["metadata"]["uid"], namespace=namespace)
    wait_phase(namespace, "joke", "Suspended")
    resume_flow_run(joke["metadata"]["uid"], namespace=namespace)
    # suspend_flow_run(timeout=30) between submitted tasks and wait_for=.
    wait_phase(namespace, "noblock", "Suspended")
    resume_flow_run("noblock", namespace=namespace)

    # "Write interactive workflows": a plain type, a BaseModel (upgraded: unknown fields
    # refused), a described pause with a default, and the validator loop.
    wait_phase(namespace, "greet-str", "Paused")
    ok(flowrun("resume", "greet-str", "--input", "value=Marvin", namespace=namespace))
    model = wait_phase(namespace, "greet-model", "Paused")
    assert model["status"]["pause"]["inputSchema"]["additionalProperties"] is False
    out = patch_fr(namespace, "greet-model", {"spec": {"state": "Running",
                   "input": {"name": "Arthur", "age": 42, "planet": "Earth"}}}, check=False)
    assert out.returncode != 0 and "planet" in out.stderr, out.stderr
    resume_flow_run("greet-model", run_input={"name": "Arthur", "age": 42}, namespace=namespace)
    prompt = wait_phase(namespace, "greet-prompt", "Paused")
    assert "**Welcome to the User Greeting Flow!**" in prompt["status"]["pause"]["description"]
    resume_flow_run("greet-prompt", run_input={"age": 7}, namespace=namespace)
    wait_phase(namespace, "shirt-loop", "Paused")
    resume_flow_run("shirt-loop", run_input={"size": "large", "color": "black"}, namespace=namespace)

    for name in runs:
        completed(namespace, name)
    joke_history = [h["action"] for h in get_fr(namespace, "joke")["status"]["history"]]
    assert "suspended" in joke_history and "resumed" in joke_history, joke_history
    assert "Hello, Marvin!" in logs(namespace, "greet-str")
    assert "Hello, Arthur!" in logs(namespace, "greet-model")
    assert "Hello, stranger!" in logs(namespace, "greet-prompt")
    assert "Shirt order: large, black" in logs(namespace, "shirt-loop")
    assert json.dumps(get_fr(namespace, "noblock")["status"].get("result")) == "null"
