"""Prefect's names, keywords and behaviours that flowrun takes on (issue 12)."""
import asyncio
import logging
import threading
import time

import pydantic
import pytest

import flowrun.sdk.pausing as pausing
from flowrun import flow, task
from flowrun.cache_policies import INPUTS, NONE, TASK_SOURCE
from flowrun.context import FlowRunContext, TaskRunContext, get_run_context
from flowrun import cancel_flow_run
from flowrun.flow_runs import pause_flow_run, resume_flow_run, suspend_flow_run
from flowrun.input import RunInput
from flowrun.logging import get_run_logger
from flowrun.sdk.cache import MemoryCache, ResultCache
from flowrun.sdk.context import FlowRunContextError, RunContext, enter_run, exit_run
from flowrun.sdk.live import RunCancelled
from flowrun.task_runners import ThreadPoolTaskRunner
from flowrun.contract.lifecycle.vocabulary import Refusal
from flowrun.kube.errors import KubeError


def run_in_context(fn, cache=None, live=None, **params):
    ctx = RunContext(name="r", namespace="ns", attempt=1, parameters=params,
                     cache=cache if cache is not None else MemoryCache(), uid="u-1", live=live)
    token = enter_run(ctx)
    try:
        out = fn.call_with_parameters(params)
        if asyncio.iscoroutine(out):
            out = asyncio.run(out)
        return out
    finally:
        exit_run(token)


# ---- keywords ----------------------------------------------------------------------

def test_unknown_keyword_names_the_supported_ones():
    with pytest.raises(TypeError, match=r"unknown keyword argument\(s\) colour; supported: .*log_prints"):
        flow(colour="red")
    with pytest.raises(TypeError, match=r"unknown keyword argument\(s\) nope; supported: .*persist_result"):
        task(nope=1)


def test_prefect_keywords_are_accepted_and_kept():
    @flow(log_prints=True, persist_result=True, version="1.2", tags=["a"], flow_run_name="run-{x}",
          timeout_seconds=60, cache_result_in_memory=False, task_runner=ThreadPoolTaskRunner(max_workers=2))
    def f(x: int) -> int:
        return x

    @task(persist_result=True, cache_policy=INPUTS + TASK_SOURCE, cache_result_in_memory=True,
          tags=["t"], version="2", task_run_name="sq-{x}", retry_jitter_factor=0.5, refresh_cache=False,
          timeout_seconds=5)
    def t(x):
        return x

    assert f.version == "1.2" and f.tags == {"a"} and f.task_runner.max_workers == 2
    assert t.cache_policy == INPUTS + TASK_SOURCE and t.tags == {"t"} and t.retry_policy.jitter == 0.5
    assert run_in_context(f, x=3) == 3


def test_log_prints_sends_prints_to_the_run_logger(caplog, capsys):
    @task
    def inner():
        print("from the task")

    @task(log_prints=False)
    def quiet():
        print("plain print")

    @flow(log_prints=True)
    def f():
        print("hello", "world")
        inner()
        quiet()

    with caplog.at_level(logging.INFO):
        run_in_context(f)
    messages = [r.getMessage() for r in caplog.records]
    assert "r: hello world" in messages
    assert "r / inner-1: from the task" in messages
    assert "plain print" in capsys.readouterr().out
    print("outside a run")  # the patched print still prints
    assert "outside a run" in capsys.readouterr().out


def test_get_run_logger_and_context_in_flows_and_tasks(caplog):
    seen = {}

    @task(task_run_name="double-{x}")
    def double(x):
        seen["task"] = get_run_context()
        get_run_logger().info("doubling")
        return 2 * x

    @flow
    def f(x: int):
        seen["flow"] = get_run_context()
        get_run_logger().info("start")
        return double(x)

    with caplog.at_level(logging.INFO):
        assert run_in_context(f, x=2) == 4
    assert isinstance(seen["flow"], FlowRunContext)
    assert seen["flow"].flow_run.id == "u-1" and seen["flow"].flow_run.name == "r"
    assert isinstance(seen["task"], TaskRunContext)
    assert seen["task"].task_run.name == "double-2" and seen["task"].flow_run.name == "r"
    messages = [r.getMessage() for r in caplog.records]
    assert "r: start" in messages and "r / double-2: doubling" in messages
    with pytest.raises(FlowRunContextError):
        get_run_context()
    with pytest.raises(FlowRunContextError):
        get_run_logger()


def test_flow_timeout_fails_the_run():
    @flow(timeout_seconds=0.3)
    def slow():
        time.sleep(5)

    started = time.monotonic()
    with pytest.raises(TimeoutError, match="exceeded timeout of 0.3 second"):
        slow()
    assert time.monotonic() - started < 2


def test_task_timeout_in_a_worker_thread_and_async():
    @task(timeout_seconds=0.3)
    def spin():
        while True:
            time.sleep(0.01)

    @task(timeout_seconds=0.3)
    async def nap():
        await asyncio.sleep(5)

    @flow
    def f():
        future = spin.submit()
        future.wait()
        return future.state

    state = run_in_context(f)
    assert state.is_failed() and isinstance(state.data, TimeoutError)

    @flow
    async def g():
        await nap()

    with pytest.raises(TimeoutError, match="Task run nap-1 exceeded timeout"):
        run_in_context(g)


def test_time_paused_does_not_count_towards_timeout_seconds():
    class SlowPause:
        def checkpoint(self, _next_key):
            pass

        def pause(self, key, **_):
            time.sleep(0.6)  # "paused" longer than the flow's timeout

    @flow(timeout_seconds=0.4)
    def f():
        pause_flow_run(timeout=60)
        return "done"

    assert run_in_context(f, live=SlowPause()) == "done"


def test_retry_jitter_stays_within_the_factor():
    @task(retries=1, retry_delay_seconds=10, retry_jitter_factor=0.5)
    def t():
        pass

    delays = {t.retry_policy.delay(1) for _ in range(50)}
    assert all(10 <= d <= 15 for d in delays) and len(delays) > 1
    with pytest.raises(ValueError, match="retry_jitter_factor"):
        task(retry_jitter_factor=-1)(lambda: None)


def test_flow_hooks_completion_failure_and_cancellation():
    calls = []

    def hook(name):
        return lambda flow, flow_run, state: calls.append((name, flow.name, flow_run.name, state.type))

    @flow(on_completion=[hook("done")], on_failure=[hook("failed")], on_cancellation=[hook("cancelled")])
    def f(mode: str):
        if mode == "fail":
            raise ValueError("x")
        if mode == "cancel":
            raise RunCancelled("spec.state is Cancelled")
        return 1

    run_in_context(f, mode="ok")
    with pytest.raises(ValueError):
        run_in_context(f, mode="fail")
    with pytest.raises(RunCancelled):
        run_in_context(f, mode="cancel")
    assert calls == [("done", "f", "r", "COMPLETED"), ("failed", "f", "r", "FAILED"),
                     ("cancelled", "f", "r", "CANCELLED")]


def test_failure_hook_runs_once_after_the_retries_and_a_broken_hook_is_only_logged(caplog):
    calls = []

    def broken(flow, flow_run, state):
        raise RuntimeError("hook bug")

    @flow(retries=2, on_failure=[broken, lambda f, r, s: calls.append(s.message)])
    def f():
        raise ValueError("always")

    with pytest.raises(ValueError):
        run_in_context(f)
    assert calls == ["ValueError: always"]
    assert "hook broken failed" in caplog.text


def test_task_hooks():
    calls = []

    @task(on_completion=[lambda t, tr, s: calls.append((tr.name, s.result()))],
          on_failure=[lambda t, tr, s: calls.append((tr.name, s.message))])
    def t(x):
        if x < 0:
            raise ValueError("negative")
        return x

    @flow
    def f():
        t(1)
        return t(-1, return_state=True)

    state = run_in_context(f)
    assert state.is_failed() and not state.is_completed()
    with pytest.raises(ValueError):
        state.result()
    assert calls == [("t-1", 1), ("t-2", "ValueError: negative")]


# ---- input models ------------------------------------------------------------------

class UserInput(RunInput):
    name: str
    age: int


def test_with_initial_data_sets_defaults_and_a_description():
    model = UserInput.with_initial_data(description="**Hi** there", name="anonymous")
    schema = model.model_json_schema()
    assert schema["required"] == ["age"] and schema["properties"]["name"]["default"] == "anonymous"
    assert model(age=3).name == "anonymous" and isinstance(model(age=3), UserInput)
    assert pausing.description_of(model) == "**Hi** there"
    assert pausing.description_of(UserInput) is None
    with pytest.raises(ValueError, match="has no field"):
        UserInput.with_initial_data(nmae="x")
    long = UserInput.with_initial_data(description="x" * 10000)
    assert len(pausing.description_of(long)) == 4096


def test_a_base_model_is_upgraded_to_forbid_unknown_fields_and_keeps_its_validators():
    from flowrun.input.run_input import run_input_subclass_from_type

    class User(pydantic.BaseModel):
        name: str

        @pydantic.model_validator(mode="after")
        def not_root(self):
            if self.name == "root":
                raise ValueError("not root")
            return self

    upgraded = run_input_subclass_from_type(User)
    assert issubclass(upgraded, RunInput) and issubclass(upgraded, User)
    assert upgraded.model_json_schema()["additionalProperties"] is False
    with pytest.raises(pydantic.ValidationError, match="Extra inputs are not permitted"):
        upgraded.model_validate({"name": "a", "typo": 1})
    with pytest.raises(pydantic.ValidationError, match="not root"):
        upgraded.model_validate({"name": "root"})
    wrapped = run_input_subclass_from_type(list[int])
    assert wrapped.model_json_schema()["required"] == ["value"]


# ---- pause, awaitable ----------------------------------------------------------------

class FakeLive:
    """Stands in for LiveFlowRun: a pause blocks until `resume(data)` is called."""

    def __init__(self):
        self.paused = threading.Event()
        self.resumed = threading.Event()
        self.calls = []
        self.data = None

    def checkpoint(self, _next_key):
        pass

    def pause(self, key, *, kind, timeout, model, description=None, as_model=False):
        self.calls.append({"key": key, "kind": kind.value, "description": description,
                           "schema": model.model_json_schema() if model else None,
                           "thread": threading.current_thread().name})
        self.paused.set()
        assert self.resumed.wait(5), "never resumed"
        if model is not None:  # as LiveFlowRun: validated by the model once
            instance = model.model_validate(self.data or {})
            return instance if as_model else instance.model_dump(mode="json")
        return self.data

    def resume(self, data=None):
        self.data = data
        self.resumed.set()


def test_await_pause_in_an_async_flow_does_not_block_the_event_loop():
    live = FakeLive()
    ticks = []

    async def ticker():
        while not live.resumed.is_set():
            ticks.append(1)
            if len(ticks) == 3:
                live.resume({"name": "Marvin", "age": 42})
            await asyncio.sleep(0.01)

    @flow
    async def greet():
        t = asyncio.create_task(ticker())
        user = await pause_flow_run(wait_for_input=UserInput.with_initial_data(description="who?"))
        await t
        return f"Hello, {user.name} ({user.age})"

    assert run_in_context(greet, live=live) == "Hello, Marvin (42)"
    assert len(ticks) >= 3, "the event loop was blocked while paused"
    assert live.calls[0]["key"] == "pause-1" and live.calls[0]["description"] == "who?"
    assert live.calls[0]["thread"] != "MainThread"


def test_plain_pause_in_a_sync_flow_returns_the_value_and_wraps_plain_types():
    live = FakeLive()
    live.resume({"value": 7})

    @flow
    def f():
        return pause_flow_run(wait_for_input=int, poll_interval=30)

    assert run_in_context(f, live=live) == 7
    assert live.calls[0]["schema"]["properties"]["value"]["type"] == "integer"
    assert live.calls[0]["thread"] == threading.current_thread().name
    assert live.calls[0]["description"] is None


def test_suspend_is_awaitable_too():
    live = FakeLive()
    live.resume({"name": "A", "age": 1})

    @flow
    async def f():
        return await suspend_flow_run(wait_for_input=UserInput, timeout=None)

    assert run_in_context(f, live=live) == UserInput(name="A", age=1)
    assert live.calls[0]["kind"] == "Suspend"


# ---- resume by name or uid ----------------------------------------------------------

UID = "0b8f5c1e-1111-4222-8333-444455556666"


class FakeKube:
    def __init__(self, obj, can_list=True, after_patch=None):
        self.obj, self.can_list, self.after_patch = obj, can_list, after_patch
        self.patches, self.gets = [], 0

    def get_flowrun(self, namespace, name):
        self.gets += 1
        return self.obj if name == self.obj["metadata"]["name"] else None

    def list_flowruns(self, namespace=None, selector=None):
        if not self.can_list:
            from flowrun.kube import KubeError
            raise KubeError(403, "Forbidden", "cannot list flowruns")
        return [self.obj]

    def update_flowrun(self, namespace, name, decide):
        obj = self.get_flowrun(namespace, name)
        if obj is None:
            return None
        decision = decide(obj)
        return obj if decision is None else self.patch_flowrun(namespace, name, decision[0])

    def patch_flowrun(self, namespace, name, patch):
        self.patches.append((namespace, name, patch))
        self.obj = {**self.obj, "metadata": {**self.obj["metadata"], "generation": 2}}
        if self.after_patch:
            self.obj = self.after_patch(self.obj)
        return self.obj


def paused_run(schema=None):
    return {"metadata": {"name": "greet", "namespace": "team", "uid": UID, "generation": 1},
            "spec": {"state": "Paused"},
            "status": {"phase": "Paused", "pause": {"key": "pause-1", "inputSchema": schema}}}


def accepted(obj):
    return {**obj, "spec": {"state": "Running"}, "status": {"phase": "Running", "resumed": ["pause-1"]}}


@pytest.mark.parametrize("ident", ["greet", UID])
def test_resume_flow_run_by_name_or_uid(monkeypatch, ident):
    kube = FakeKube(paused_run(UserInput.model_json_schema()), after_patch=accepted)
    monkeypatch.setattr(pausing, "Kube", lambda: kube)
    resume_flow_run(ident, run_input=UserInput(name="a", age=1), namespace="team")
    assert kube.patches == [("team", "greet", {"spec": {"state": "Running", "input": {"name": "a", "age": 1}}})]


def test_resume_by_uid_without_list_permission_says_to_use_the_name(monkeypatch):
    kube = FakeKube(paused_run(), can_list=False)
    monkeypatch.setattr(pausing, "Kube", lambda: kube)
    with pytest.raises(pausing.ResumeError, match="pass the FlowRun's name"):
        resume_flow_run(UID, namespace="team")


def test_suspend_another_run_by_uid(monkeypatch):
    obj = paused_run()
    obj["spec"]["state"] = "Running"
    kube = FakeKube(obj)
    monkeypatch.setattr(pausing, "Kube", lambda: kube)
    suspend_flow_run(flow_run_id=UID)
    assert kube.patches[0][1:] == ("greet", {"spec": {"state": "Suspended"}})


def run_in_phase(phase, state):
    obj = paused_run(UserInput.model_json_schema())
    obj["spec"]["state"], obj["status"]["phase"] = state, phase
    return obj


@pytest.mark.parametrize("call,phase,state,code", [
    (lambda: suspend_flow_run(flow_run_id="greet", namespace="team"), "Completed", "Running", "Finished"),
    (lambda: resume_flow_run("greet", namespace="team"), "Running", "Running", "NotStopped"),
    (lambda: resume_flow_run("greet", run_input={"name": 1}, namespace="team"), "Paused", "Paused",
     "InvalidInput"),
    (lambda: cancel_flow_run("greet", namespace="team"), "Failed", "Running", "Finished"),
])
def test_the_sdks_actions_are_refused_by_the_one_door_with_a_code(monkeypatch, call, phase, state, code):
    """resume_flow_run, suspend_flow_run(flow_run_id=) and cancel_flow_run decide nothing
    themselves (kube/actions.py plans the change, as for the CLI and the UI): a refusal
    says why with the contract's code, and nothing is written."""
    kube = FakeKube(run_in_phase(phase, state))
    monkeypatch.setattr(pausing, "Kube", lambda: kube)
    with pytest.raises(pausing.ResumeError) as refused:
        call()
    assert refused.value.code is not None and refused.value.code.value == code
    assert kube.patches == []


def test_cancelling_a_run_already_cancelled_does_nothing(monkeypatch):
    for phase in ("Running", "Cancelled"):
        kube = FakeKube(run_in_phase(phase, "Cancelled"))
        monkeypatch.setattr(pausing, "Kube", lambda: kube)
        cancel_flow_run("greet", namespace="team")
        assert kube.patches == []


def test_resume_reports_a_refusal_by_the_flows_validators(monkeypatch):
    def refused(obj):
        return {**obj, "metadata": {**obj["metadata"], "generation": 3}, "spec": {"state": "Paused"},
                "status": {**obj["status"], "message": "Input refused: Green is only in-stock for medium",
                           "pause": {**obj["status"]["pause"], "rejectedGeneration": 2}}}
    kube = FakeKube(paused_run(), after_patch=None)
    monkeypatch.setattr(pausing, "Kube", lambda: kube)
    original = kube.get_flowrun
    kube.get_flowrun = lambda ns, name: refused(original(ns, name)) if kube.patches else original(ns, name)
    with pytest.raises(pausing.ResumeError, match="did not accept the input: Input refused: Green"):
        resume_flow_run("greet", namespace="team")


def test_resume_flow_run_is_awaitable(monkeypatch):
    kube = FakeKube(paused_run(), after_patch=accepted)
    monkeypatch.setattr(pausing, "Kube", lambda: kube)

    async def main():
        await resume_flow_run("greet", namespace="team")

    asyncio.run(main())
    assert kube.patches


# ---- concurrency and cache identity ----------------------------------------------

def test_submit_map_futures_and_wait_for():
    order = []

    @task
    def square(x):
        time.sleep(0.01 * (x % 5))
        order.append(x)
        return x * x

    @task
    def total(xs):
        return sum(xs)

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=4))
    def f():
        futures = square.map([1, 2, 3, 4])
        one = square.submit(10)
        one.wait()
        assert one.state.is_completed()
        after = total.submit(futures, wait_for=[one])
        return futures.result(), one.result(), after.result()

    assert run_in_context(f) == ([1, 4, 9, 16], 100, 30)
    assert sorted(order) == [1, 2, 3, 4, 10]


def test_a_failed_upstream_fails_the_dependent_task():
    from flowrun.futures import UpstreamTaskError

    @task
    def boom():
        raise ValueError("no")

    @task
    def after():
        return "ran"

    @flow
    def f():
        b = boom.submit()
        a = after.submit(wait_for=[b])
        a.wait()
        return a.state, b.state

    after_state, boom_state = run_in_context(f)
    assert boom_state.is_failed() and after_state.is_failed()
    assert isinstance(after_state.data, UpstreamTaskError)


def test_identities_are_fixed_at_submission_and_resumed_runs_find_every_result(tmp_path):
    runs = []

    @task
    def work(i):
        time.sleep(0.001 * ((7 * i) % 5))  # finish out of order
        runs.append(i)
        return i * 10

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=5))
    def f(n: int):
        return [fut.result() for fut in [work.submit(i) for i in range(n)]]

    cache = ResultCache(tmp_path, "ns/r/uid")
    assert run_in_context(f, cache, n=20) == [i * 10 for i in range(20)]
    assert sorted(runs) == list(range(20))
    for i in range(20):
        assert cache.read(cache.task_path(f"work-{i + 1}")).value == i * 10
    runs.clear()
    assert run_in_context(f, cache, n=20) == [i * 10 for i in range(20)]
    assert runs == [], "finished tasks ran again"


def test_the_run_context_reaches_worker_threads():
    @task
    def where():
        return get_run_context().flow_run.name, threading.current_thread().name

    @flow
    def f():
        return where.submit().result()

    name, thread = run_in_context(f)
    assert name == "r" and thread.startswith("flowrun-task")


def test_async_tasks_gathered_with_asyncio():
    @task
    async def fetch(i):
        await asyncio.sleep(0.01)
        return i

    @flow
    async def f():
        return await asyncio.gather(*(fetch(i) for i in range(5)))

    assert run_in_context(f) == [0, 1, 2, 3, 4]


def test_a_changed_call_runs_again_with_a_log_line(tmp_path, caplog):
    calls = []

    @task
    def double(x):
        calls.append(x)
        return 2 * x

    @flow
    def f(x: int):
        return double(x)

    cache = ResultCache(tmp_path, "ns/r/uid")
    assert run_in_context(f, cache, x=1) == 2
    assert run_in_context(f, cache, x=1) == 2 and calls == [1]
    with caplog.at_level(logging.INFO):
        assert run_in_context(f, cache, x=5) == 10, "the stored result of another call came back"
    assert calls == [1, 5]
    assert "stored by a call with other inputs or code" in caplog.text


def test_changed_source_runs_again_and_input_only_policy_ignores_it(tmp_path):
    cache = ResultCache(tmp_path, "ns/r/uid")

    def make(body_offset, policy=None):
        ns = {}
        exec(f"def step(x):\n    return x + {body_offset}\n", ns)
        t = task(name="step", **({"cache_policy": policy} if policy else {}))(ns["step"])
        t.__dict__["source_hash"] = str(body_offset)  # exec'd code has no source file

        @flow
        def f():
            return t(1)
        return f

    assert run_in_context(make(1), cache) == 2
    assert run_in_context(make(100), cache) == 101
    cache2 = ResultCache(tmp_path, "ns/r2/uid")
    assert run_in_context(make(1, INPUTS), cache2) == 2
    assert run_in_context(make(100, INPUTS), cache2) == 2


def test_policy_none_and_refresh_cache_always_run(tmp_path):
    calls = []

    @task(cache_policy=NONE)
    def never(x):
        calls.append("never")
        return x

    @task(refresh_cache=True)
    def fresh(x):
        calls.append("fresh")
        return x

    @flow
    def f():
        return never(1), fresh(2)

    cache = ResultCache(tmp_path, "ns/r/uid")
    run_in_context(f, cache)
    run_in_context(f, cache)
    assert calls == ["never", "fresh", "never", "fresh"]


def test_inputs_policy_shares_results_across_runs(tmp_path):
    calls = []

    @task(cache_policy=INPUTS)
    def slow(x):
        calls.append(x)
        return x

    @flow
    def f(x: int):
        return slow(x)

    run_in_context(f, ResultCache(tmp_path, "ns/a/1"), x=3)
    run_in_context(f, ResultCache(tmp_path, "ns/b/2"), x=3)
    run_in_context(f, ResultCache(tmp_path, "ns/c/3"), x=4)
    assert calls == [3, 4]


def test_submitted_tasks_outside_a_flow_still_run():
    @task
    def inc(x):
        return x + 1

    assert inc.submit(1).result() == 2
    assert inc.map([1, 2]).result() == [2, 3]


def test_a_task_called_in_a_bare_thread_warns_that_it_runs_uncached(caplog):
    @task
    def lonely():
        return 1

    @flow
    def f():
        worker = threading.Thread(target=lonely)
        worker.start()
        worker.join()

    with caplog.at_level(logging.WARNING):
        run_in_context(f)
    assert "task lonely called in a thread without the run's context" in caplog.text


def test_suspend_waits_for_submitted_tasks_before_the_job_is_torn_down():
    from flowrun.sdk.live import FlowSuspended
    finished = []

    class Suspender(FakeLive):
        def pause(self, key, *, kind, **_):
            self.calls.append(list(finished))
            raise FlowSuspended(key)

    @task
    def slow(i):
        time.sleep(0.2)
        finished.append(i)

    @flow
    def f():
        [slow.submit(i) for i in range(3)]
        suspend_flow_run()

    live = Suspender()
    with pytest.raises(FlowSuspended):
        run_in_context(f, live=live)
    assert sorted(live.calls[0]) == [0, 1, 2], "suspended while submitted tasks were running"


class OutsidePause(FakeLive):
    """An outside pause pending at the first task boundary: checkpoint blocks until resumed."""

    def __init__(self):
        super().__init__()
        self.checkpoints = []

    def checkpoint(self, next_key):
        self.checkpoints.append(threading.current_thread().name)
        if len(self.checkpoints) == 1:
            self.paused.set()
            assert self.resumed.wait(5), "never resumed"


def test_an_outside_pause_is_honoured_when_a_task_is_submitted():
    live = OutsidePause()
    ran = []

    @task
    def step(i):
        ran.append((i, live.resumed.is_set()))
        return i

    @flow
    def f():
        return [step.submit(i) for i in range(3)]

    threading.Timer(0.2, live.resume).start()
    futures = run_in_context(f, live=live)
    assert [fut.result() for fut in futures] == [0, 1, 2]
    assert all(resumed for _, resumed in ran), "a task ran while the run was paused"
    assert live.checkpoints == [threading.current_thread().name] * 3, "checked in the submitting thread"


def test_an_outside_pause_in_an_async_flow_does_not_block_the_event_loop():
    live = OutsidePause()
    ticks = []

    @task
    async def step():
        return "ran"

    async def ticker():
        while not live.resumed.is_set():
            ticks.append(1)
            if len(ticks) == 3:
                live.resume()
            await asyncio.sleep(0.01)

    @flow
    async def f():
        t = asyncio.create_task(ticker())
        out = await step()
        await t
        return out

    assert run_in_context(f, live=live) == "ran"
    assert len(ticks) >= 3 and live.checkpoints[0] != "MainThread"


@pytest.mark.parametrize("denied, raised", [
    ("[InvalidInput] input does not match what the run waits for: spec.input.name: 1 is not of type 'string'",
     pausing.ResumeError),
    ("[NotAllowed] bob may not resume FlowRun greet: that needs the `resume` verb", KubeError),
])
def test_the_webhooks_refusal_reaches_the_sdk_by_its_code(monkeypatch, denied, raised):
    """An input our webhook refused is a ResumeError with the contract's code (as the
    SDK's own refusal of it); any other refusal by the API server stays its KubeError,
    carrying the webhook's code."""
    kube = FakeKube(paused_run(UserInput.model_json_schema()))

    def refuse(namespace, name, patch):
        raise KubeError(403, "Forbidden", f'admission webhook "v.flowrun.io" denied the request: {denied}')
    kube.patch_flowrun = refuse
    monkeypatch.setattr(pausing, "Kube", lambda: kube)
    with pytest.raises(raised) as refused:
        resume_flow_run("greet", run_input={"name": "a", "age": 1}, namespace="team")
    code = refused.value.code if raised is pausing.ResumeError else refused.value.refusal
    assert code is Refusal(denied[1:denied.index("]")])
    assert "[" not in str(refused.value)
