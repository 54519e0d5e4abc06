"""The runner in this test process (no pod, no operator) against the real API server:
the pause protocol as the flow's code sees it."""
from __future__ import annotations

import threading
import time

import pytest

from cluster import wait_for
from cluster.flowruns import apply, flowrun_manifest, get_fr, patch_fr
from flowrun import resume_flow_run
from flowrun.kube import Kube
from flowrun.runner.main import load_flow, run
from flowrun.sdk import ResumeError
from flowrun.sdk.cache import ResultCache
from flowrun.sdk.context import RunContext, enter_run, exit_run
from flowrun.sdk.live import LiveFlowRun

pytestmark = pytest.mark.e2e


@pytest.fixture
def kube(kubeconfig) -> Kube:
    return Kube()


def start_runner(kube: Kube, namespace: str, name: str, cache_dir) -> dict:
    """Create the FlowRun as the operator would leave it (Pending), run the runner in a
    thread, and return a dict that gets its exit code."""
    kube.patch_flowrun(namespace, name, {"status": {"phase": "Pending", "attempt": 1}}, status=True)
    outcome: dict = {}

    def target():
        outcome["code"] = run(kube, namespace, name, attempt=1, cache_dir=str(cache_dir))
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    outcome["thread"] = thread
    return outcome


def test_resumed_pause_returns_the_input_model(crd, namespace, kube, tmp_path):
    apply(namespace, flowrun_manifest("greet", "examples.greeting:greet_user"))
    outcome = start_runner(kube, namespace, "greet", tmp_path)
    wait_for(lambda: get_fr(namespace, "greet")["spec"]["state"] == "Paused", timeout=30,
             what="the runner to pause")
    fr = get_fr(namespace, "greet")
    assert fr["status"]["phase"] == "Paused"
    assert fr["status"]["pause"]["inputSchema"]["properties"]["name"]["type"] == "string"
    resume_flow_run("greet", run_input={"name": "Marvin"}, namespace=namespace)
    outcome["thread"].join(30)
    assert outcome["code"] == 0
    fr = get_fr(namespace, "greet")
    assert fr["status"]["phase"] == "Completed"
    assert fr["status"]["result"] == "Hello, Marvin!"
    assert fr["status"]["inputs"] == {"pause-1": {"name": "Marvin"}}
    assert fr["status"]["resumed"] == ["pause-1"]


def test_invalid_input_never_resumes(crd, namespace, kube, tmp_path):
    apply(namespace, flowrun_manifest("greet", "examples.greeting:greet_user"))
    outcome = start_runner(kube, namespace, "greet", tmp_path)
    wait_for(lambda: get_fr(namespace, "greet")["spec"]["state"] == "Paused", timeout=30,
             what="the runner to pause")
    # resume_flow_run checks the input first and refuses.
    with pytest.raises(ResumeError, match="name: 42 is not of type 'string'"):
        resume_flow_run("greet", run_input={"name": 42}, namespace=namespace)
    # Straight to the API (no webhook, no operator here): the runner must not resume.
    for bad in ({"name": 42}, {"nmae": "typo"}, None):
        patch_fr(namespace, "greet", {"spec": {"state": "Running", "input": bad}})
        time.sleep(1.5)
        fr = get_fr(namespace, "greet")
        assert fr["status"]["phase"] == "Paused", f"resumed with invalid input {bad!r}"
        assert fr["status"].get("resumed", []) == []
        assert outcome["thread"].is_alive()
        patch_fr(namespace, "greet", {"spec": {"state": "Paused", "input": None}})
    patch_fr(namespace, "greet", {"spec": {"state": "Running", "input": {"name": "Zaphod"}}})
    outcome["thread"].join(30)
    assert get_fr(namespace, "greet")["status"]["result"] == "Hello, Zaphod!"


def test_reexecution_skips_resumed_pauses_and_finished_tasks(crd, namespace, kube, tmp_path):
    """A second execution (as after a suspension) with the same cache volume: the pause
    key is in status.resumed, so it returns at once, and the task comes from the cache."""
    apply(namespace, flowrun_manifest("joke", "examples.jokes:tell_joke", parameters={"topic": "cows"}))
    outcome = start_runner(kube, namespace, "joke", tmp_path)
    wait_for(lambda: get_fr(namespace, "joke")["spec"]["state"] == "Paused", timeout=30, what="pause")
    resume_flow_run("joke", namespace=namespace)
    outcome["thread"].join(30)
    first = get_fr(namespace, "joke")["status"]["result"]
    tasks = sorted(p.name for p in tmp_path.glob("runs/*/joke/*/tasks/*.json"))
    assert tasks == ["get_punchline-1.json", "get_setup-1.json"]
    # Execute the flow again against the same FlowRun and volume: nothing pauses, and
    # both results come from the cache.
    obj = kube.get_flowrun(namespace, "joke")
    live = LiveFlowRun(kube, namespace, "joke", obj).start()
    ctx = RunContext(name="joke", namespace=namespace, attempt=2, parameters={"topic": "cows"},
                     cache=ResultCache(tmp_path, f"{namespace}/joke/{obj['metadata']['uid']}"),
                     uid=obj["metadata"]["uid"], live=live)
    token = enter_run(ctx)
    try:
        started = time.monotonic()
        again = load_flow("examples.jokes:tell_joke").call_with_parameters({"topic": "cows"})
        assert time.monotonic() - started < 5, "a resumed pause must return at once"
    finally:
        exit_run(token)
        live.close()
    assert again == first


def test_watch_survives_a_broken_connection(crd, namespace, kube, tmp_path):
    """Close the runner's watch stream under it while paused: it reconnects and still
    sees the resume."""
    apply(namespace, flowrun_manifest("joke", "examples.jokes:tell_joke"))
    outcome = start_runner(kube, namespace, "joke", tmp_path)
    wait_for(lambda: get_fr(namespace, "joke")["spec"]["state"] == "Paused", timeout=30, what="pause")
    import gc
    lives = [o for o in gc.get_objects() if isinstance(o, LiveFlowRun) and o.name == "joke"
             and o.namespace == namespace]
    assert lives, "the runner's live FlowRun"
    for live in lives:
        if live._response is not None:
            live._response.close()  # the connection drops
    time.sleep(1)
    resume_flow_run("joke", namespace=namespace)
    outcome["thread"].join(30)
    assert outcome["code"] == 0
    assert get_fr(namespace, "joke")["status"]["phase"] == "Completed"
