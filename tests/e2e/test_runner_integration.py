"""The runner in this test process (no pod, no operator) against the real API server:
the pause protocol as the flow's code sees it."""
from __future__ import annotations

import threading

import pytest

from cluster import wait_for
from cluster.flowruns import apply, flowrun_manifest, get_fr, patch_fr
from flowrun import resume_flow_run
from flowrun.kube import Kube
from flowrun.runner.main import run
from flowrun.sdk import ResumeError
from flowrun.sdk.live import LiveFlowRun

pytestmark = pytest.mark.e2e


@pytest.fixture
def kube(kubeconfig) -> Kube:
    return Kube()


@pytest.fixture
def namespace(kubeconfig, request):
    """A namespace no operator of this session watches (no session prefix): here the
    test process is the runner, and nothing else may act on the FlowRun."""
    import secrets

    from cluster import kubectl
    name = f"runner-{secrets.token_hex(4)}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


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
    assert fr["status"]["resumed"] == ["pause-1"]
    assert not fr["status"].get("inputs"), "a live pause's input is on the volume, not in the status"


@pytest.fixture
def without_session_webhook(kubeconfig):
    """This session's validating webhook configuration (if an operator made one) set
    aside for the test, so invalid input reaches the API and the runner's own check is
    what is tested; restored afterwards."""
    import json

    from cluster import kubectl
    from cluster.pytest_plugin import SESSION_PREFIX
    name = f"{SESSION_PREFIX}flowrun.io"
    got = kubectl("get", "validatingwebhookconfiguration", name, "-o", "json", check=False)
    saved = json.loads(got.stdout) if got.returncode == 0 else None
    if saved:
        kubectl("delete", "validatingwebhookconfiguration", name)
    yield
    if saved:
        for key in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
            saved["metadata"].pop(key, None)
        kubectl("create", "-f", "-", input=json.dumps(saved))


def test_invalid_input_never_resumes(crd, namespace, kube, tmp_path, without_session_webhook):
    apply(namespace, flowrun_manifest("greet", "examples.greeting:greet_user"))
    outcome = start_runner(kube, namespace, "greet", tmp_path)
    wait_for(lambda: get_fr(namespace, "greet")["spec"]["state"] == "Paused", timeout=30,
             what="the runner to pause")
    # resume_flow_run checks the input first and refuses.
    with pytest.raises(ResumeError, match="name: 42 is not of type 'string'"):
        resume_flow_run("greet", run_input={"name": 42}, namespace=namespace)
    # Straight to the API (no webhook, no operator here): the runner must not resume; it
    # puts spec.state back and says why.
    for bad in ({"name": 42}, {"nmae": "typo"}, None):
        patch_fr(namespace, "greet", {"spec": {"state": "Running", "input": bad}})
        fr = wait_for(lambda: (cur := get_fr(namespace, "greet"))["spec"]["state"] == "Paused"
                      and "input is invalid" in cur["status"].get("message", "") and cur,
                      timeout=30, what=f"the runner to refuse {bad!r}")
        assert fr["status"]["phase"] == "Paused", f"resumed with invalid input {bad!r}"
        assert fr["status"].get("resumed", []) == []
        assert outcome["thread"].is_alive()
    patch_fr(namespace, "greet", {"spec": {"state": "Running", "input": {"name": "Zaphod"}}})
    outcome["thread"].join(30)
    assert get_fr(namespace, "greet")["status"]["result"] == "Hello, Zaphod!"


def test_reexecution_after_suspension_skips_finished_tasks(crd, namespace, kube, tmp_path, monkeypatch):
    """The runner suspends; the test does the operator's part (record the resume, start
    attempt 2); the second execution gets the first task from the cache (its body, which
    counts its runs on the volume, does not run again) and the suspend call returns."""
    monkeypatch.setenv("FLOWRUN_CACHE_DIR", str(tmp_path))
    apply(namespace, flowrun_manifest("susp", "examples.suspending:suspend_after_one_task"))
    first = start_runner(kube, namespace, "susp", tmp_path)
    first["thread"].join(30)
    assert first["code"] == 0
    fr = get_fr(namespace, "susp")
    assert fr["spec"]["state"] == "Suspended"
    assert fr["status"]["pause"]["kind"] == "Suspend" and fr["status"]["pause"]["key"] == "pause-1"
    # The operator's part of a resume of a suspended run.
    kube.patch_flowrun(namespace, "susp", {"status": {"phase": "Suspended"}}, status=True)
    kube.patch_flowrun(namespace, "susp", {"status": {"phase": "Pending", "attempt": 2, "pause": None,
                                                      "resumed": ["pause-1"]}}, status=True)
    kube.patch_flowrun(namespace, "susp", {"spec": {"state": "Running"}})
    outcome: dict = {}
    thread = threading.Thread(target=lambda: outcome.setdefault(
        "code", run(kube, namespace, "susp", attempt=2, cache_dir=str(tmp_path))), daemon=True)
    thread.start()
    thread.join(30)
    assert outcome["code"] == 0
    result = get_fr(namespace, "susp")["status"]["result"]
    assert result == {"first": {"value": 42, "body_runs": 1}, "second": {"value": 43, "body_runs": 1}}


def test_corrupted_cache_entry_is_a_miss_not_a_crash(crd, namespace, kube, tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWRUN_CACHE_DIR", str(tmp_path))
    apply(namespace, flowrun_manifest("susp", "examples.suspending:suspend_after_one_task"))
    first = start_runner(kube, namespace, "susp", tmp_path)
    first["thread"].join(30)
    [entry] = tmp_path.glob("runs/*/susp/*/tasks/expensive_step-1.json")
    entry.write_bytes(b'{"format": 1, "value": {"truncated')
    kube.patch_flowrun(namespace, "susp", {"status": {"phase": "Suspended"}}, status=True)
    kube.patch_flowrun(namespace, "susp", {"status": {"phase": "Pending", "attempt": 2, "pause": None,
                                                      "resumed": ["pause-1"]}}, status=True)
    kube.patch_flowrun(namespace, "susp", {"spec": {"state": "Running"}})
    assert run(kube, namespace, "susp", attempt=2, cache_dir=str(tmp_path)) == 0
    result = get_fr(namespace, "susp")["status"]["result"]
    assert result["first"]["body_runs"] == 2, "a corrupt entry is a miss: the task ran again"


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
            live._response.shutdown()  # the connection drops
    resume_flow_run("joke", namespace=namespace)
    outcome["thread"].join(30)
    assert outcome["code"] == 0
    assert get_fr(namespace, "joke")["status"]["phase"] == "Completed"
