"""The runner's side as a shell: LiveFlowRun (its watch, its compare-and-swap writes and
its fencing) against the in-memory API, with a real thread blocked in a pause."""
from __future__ import annotations

import threading

import pydantic
import pytest

from fakeapi import FakeKube, Store
from flowrun.contract.phases import PauseKind
from flowrun.sdk.cache import ResultCache
from flowrun.sdk.live import FlowSuspended, LiveFlowRun, RunCancelled, RunFenced


class Name(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    name: str

    @pydantic.field_validator("name")
    @classmethod
    def a_person(cls, value: str) -> str:
        if value == "nobody":
            raise ValueError("'nobody' is not a person")
        return value


@pytest.fixture
def api():
    store = Store()
    person = FakeKube(store, user="alice")
    person.create_flowrun("ns", {"metadata": {"name": "r"}, "spec": {"flow": "m:f"}})
    person.patch_flowrun("ns", "r", {"status": {"phase": "Running", "attempt": 1}}, status=True)
    return store, person


def live_run(store, tmp_path, attempt=1):
    kube = FakeKube(store, user="system:serviceaccount:ns:r-runner")
    live = LiveFlowRun(kube, "ns", "r", kube.get_flowrun("ns", "r"), attempt=attempt,
                       cache=ResultCache(tmp_path, "ns/r/uid"))
    return live.start()


def in_thread(fn):
    out: dict = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc
    th = threading.Thread(target=target, daemon=True)
    th.start()
    return th, out


def wait_phase(person, phase):
    from cluster import wait_for
    return wait_for(lambda: (person.get_flowrun("ns", "r").get("status") or {}).get("phase") == phase,
                    timeout=10, interval=0.01, what=f"phase {phase}")


def test_a_pause_blocks_until_resumed_with_valid_input(api, tmp_path):
    store, person = api
    live = live_run(store, tmp_path)
    th, out = in_thread(lambda: live.pause("pause-1", kind=PauseKind.PAUSE, timeout=60, model=Name))
    wait_phase(person, "Paused")
    assert person.get_flowrun("ns", "r")["spec"]["state"] == "Paused"
    # Valid for the schema, refused by the model's own validator: stays paused, says why.
    person.patch_flowrun("ns", "r", {"spec": {"state": "Running", "input": {"name": "nobody"}}})
    from cluster import wait_for
    wait_for(lambda: person.get_flowrun("ns", "r")["spec"]["state"] == "Paused", timeout=10,
             what="the refused resume to be put back")
    fr = person.get_flowrun("ns", "r")
    assert "'nobody' is not a person" in fr["status"]["message"] and th.is_alive()
    person.patch_flowrun("ns", "r", {"spec": {"state": "Running", "input": {"name": "Marvin"}}})
    th.join(10)
    assert out == {"value": {"name": "Marvin"}}
    fr = person.get_flowrun("ns", "r")
    assert fr["status"]["phase"] == "Running" and fr["status"]["resumed"] == ["pause-1"]
    assert fr["status"]["history"][-1]["by"] == "alice"
    assert "inputs" not in fr["status"], "a live pause's input goes to the volume, not the status"
    # Re-executed (a new attempt after a suspension): returns at once, from the volume.
    assert live.pause("pause-1", kind=PauseKind.PAUSE, timeout=60, model=Name) == {"name": "Marvin"}
    live.close()


def test_a_stale_attempt_changes_nothing(api, tmp_path):
    store, person = api
    live = live_run(store, tmp_path, attempt=1)
    person.patch_flowrun("ns", "r", {"status": {"attempt": 2, "phase": "Pending"}}, status=True)
    before = person.get_flowrun("ns", "r")["metadata"]["resourceVersion"]
    for call in (lambda: live.pause("pause-1", kind=PauseKind.PAUSE, timeout=60, model=None),
                 lambda: live.finished(failed=False, message="done", result=1, has_result=True),
                 lambda: live.started("go")):
        with pytest.raises(RunFenced, match="attempt 2 has taken over"):
            call()
    assert person.get_flowrun("ns", "r")["metadata"]["resourceVersion"] == before
    live.close()


def test_a_paused_runner_learns_it_was_cancelled(api, tmp_path):
    store, person = api
    live = live_run(store, tmp_path)
    th, out = in_thread(lambda: live.pause("pause-1", kind=PauseKind.PAUSE, timeout=60, model=None))
    wait_phase(person, "Paused")
    person.patch_flowrun("ns", "r", {"spec": {"state": "Cancelled", "reason": "not needed"}})
    th.join(10)
    assert isinstance(out.get("error"), RunCancelled) and "not needed" in str(out["error"])
    live.close()


def test_a_flow_suspending_itself_records_then_exits(api, tmp_path):
    store, person = api
    live = live_run(store, tmp_path)
    with pytest.raises(FlowSuspended):
        live.pause("pause-1", kind=PauseKind.SUSPEND, timeout=None, model=None)
    fr = person.get_flowrun("ns", "r")
    assert fr["spec"]["state"] == "Suspended" and fr["status"]["pause"]["kind"] == "Suspend"
    live.close()


class WebhookDown(FakeKube):
    """The API server while every webhook endpoint is gone (failurePolicy Fail): writes
    of the FlowRun fail with its 500 until `down` is cleared; reads still work."""

    def __init__(self, store, **kw):
        super().__init__(store, **kw)
        self.down = threading.Event()
        self.refused = 0

    def patch_flowrun(self, namespace, name, patch, **kw):
        if self.down.is_set():
            from flowrun.kube import KubeError
            self.refused += 1
            raise KubeError(500, "InternalError", 'Internal error occurred: failed calling webhook '
                            '"validate.flowruns.flowrun.io": failed to call webhook: Post "https://op:443/'
                            'flowrun-validate": dial tcp 10.0.0.1:443: connect: connection refused')
        return super().patch_flowrun(namespace, name, patch, **kw)


def test_a_pause_survives_a_webhook_outage(api, tmp_path):
    """The runner's pause write is refused while the webhook is unreachable: it retries
    with backoff instead of failing the flow, and lands once the webhook is back."""
    store, person = api
    kube = WebhookDown(store, user="system:serviceaccount:ns:r-runner")
    live = LiveFlowRun(kube, "ns", "r", kube.get_flowrun("ns", "r"), attempt=1,
                       cache=ResultCache(tmp_path, "ns/r/uid")).start()
    kube.down.set()
    th, out = in_thread(lambda: live.pause("pause-1", kind=PauseKind.PAUSE, timeout=60, model=None))
    from cluster import wait_for
    wait_for(lambda: kube.refused >= 3, timeout=10, interval=0.05, what="refused writes")
    assert th.is_alive() and "error" not in out, out
    assert (person.get_flowrun("ns", "r").get("status") or {}).get("phase") == "Running"
    kube.down.clear()
    wait_phase(person, "Paused")
    person.patch_flowrun("ns", "r", {"spec": {"state": "Running"}})
    th.join(10)
    assert out == {"value": None}
    live.close()


def test_other_errors_are_not_retried(api, tmp_path):
    store, _person = api
    kube = FakeKube(store, user="system:serviceaccount:ns:r-runner")
    live = LiveFlowRun(kube, "ns", "r", kube.get_flowrun("ns", "r"), attempt=1, cache=None).start()
    from flowrun.kube import KubeError
    calls = []

    def refuse(*_a, **_k):
        calls.append(1)
        raise KubeError(500, "InternalError", "etcdserver: request timed out")
    kube.update_flowrun = refuse
    with pytest.raises(KubeError, match="etcdserver"):
        live.pause("pause-1", kind=PauseKind.PAUSE, timeout=60, model=None)
    assert calls == [1]
    live.close()


def test_a_write_decides_on_the_copy_its_watch_brought_without_a_read(api, tmp_path):
    """A resume is recorded one request after the watch brings it: no GET first."""
    store, person = api
    live = live_run(store, tmp_path)
    from cluster import wait_for
    current = person.get_flowrun("ns", "r")["metadata"]["resourceVersion"]
    wait_for(lambda: live.latest["metadata"]["resourceVersion"] == current, timeout=10, interval=0.01,
             what="the watch to bring the run")
    reads = []
    get = live.kube.get_flowrun
    live.kube.get_flowrun = lambda *a, **k: reads.append(a) or get(*a, **k)
    live.finished(failed=False, message="Flow completed")
    assert reads == []
    assert person.get_flowrun("ns", "r")["status"]["phase"] == "Completed"
    live.close()


def test_a_stale_copy_costs_a_read_never_a_wrong_write(api, tmp_path):
    """The copy the runner decides on is older than the run (attempt 2 took over since):
    the guarded write conflicts, the runner reads again and stops, writing nothing."""
    from flowrun.sdk.live import RunStopped
    store, person = api
    kube = FakeKube(store, user="system:serviceaccount:ns:r-runner")
    stale = kube.get_flowrun("ns", "r")
    person.patch_flowrun("ns", "r", {"status": {"attempt": 2}}, status=True)
    before = person.get_flowrun("ns", "r")
    live = LiveFlowRun(kube, "ns", "r", stale, attempt=1, cache=None)  # no watch: the copy stays stale
    reads = []
    get = kube.get_flowrun
    kube.get_flowrun = lambda *a, **k: reads.append(a) or get(*a, **k)
    with pytest.raises(RunStopped, match="attempt 2"):
        live.finished(failed=False, message="Flow completed")
    assert len(reads) == 1
    assert person.get_flowrun("ns", "r") == before
