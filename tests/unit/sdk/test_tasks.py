import asyncio
from datetime import timedelta

import pytest

from flowrun import flow, pause_flow_run, suspend_flow_run, task, task_input_hash
from flowrun.sdk.cache import ResultCache
from flowrun.sdk.context import FlowRunContextError, RunContext, enter_run, exit_run


def run_in_context(fn, cache, **params):
    """Execute a flow function as the runner would, in a fresh execution context."""
    ctx = RunContext(name="r", namespace="ns", attempt=1, parameters=params, cache=cache)
    token = enter_run(ctx)
    try:
        out = fn.call_with_parameters(params)
        if asyncio.iscoroutine(out):
            out = asyncio.run(out)
        return out
    finally:
        exit_run(token)


def test_reexecution_returns_stored_results_without_running_bodies(tmp_path):
    calls = []

    @task
    def double(x: int) -> int:
        calls.append(x)
        return 2 * x

    @flow
    def twice(x: int) -> list[int]:
        return [double(x), double(x + 1)]

    cache = ResultCache(tmp_path, "ns/r/uid")
    assert run_in_context(twice, cache, x=1) == [2, 4]
    assert calls == [1, 2]
    assert run_in_context(twice, cache, x=1) == [2, 4]
    assert calls == [1, 2], "task bodies ran again"
    assert sorted(p.name for p in (tmp_path / "runs/ns/r/uid/tasks").iterdir()) == ["double-1.json", "double-2.json"]


def test_failed_tasks_are_not_cached(tmp_path):
    attempts = []

    @task
    def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("first time fails")
        return "ok"

    @flow
    def f() -> str:
        return flaky()

    cache = ResultCache(tmp_path, "r")
    with pytest.raises(RuntimeError):
        run_in_context(f, cache)
    assert run_in_context(f, cache) == "ok"
    assert len(attempts) == 2


def test_cache_key_fn_shares_results_across_runs(tmp_path):
    calls = []

    @task(cache_key_fn=task_input_hash, cache_expiration=timedelta(hours=1))
    def fetch(url: str) -> str:
        calls.append(url)
        return f"body of {url}"

    @flow
    def f(url: str) -> str:
        return fetch(url)

    assert run_in_context(f, ResultCache(tmp_path, "run-a"), url="u") == "body of u"
    assert run_in_context(f, ResultCache(tmp_path, "run-b"), url="u") == "body of u"
    assert run_in_context(f, ResultCache(tmp_path, "run-c"), url="v") == "body of v"
    assert calls == ["u", "v"]


def test_async_tasks_and_flows(tmp_path):
    calls = []

    @task
    async def slow_add(a: int, b: int) -> int:
        calls.append((a, b))
        await asyncio.sleep(0)
        return a + b

    @flow
    async def f() -> list[int]:
        return list(await asyncio.gather(slow_add(1, 2), slow_add(3, 4)))

    cache = ResultCache(tmp_path, "r")
    assert run_in_context(f, cache) == [3, 7]
    assert run_in_context(f, cache) == [3, 7]
    assert calls == [(1, 2), (3, 4)]


def test_parameters_are_validated_and_coerced(tmp_path):
    @flow
    def f(n: int) -> int:
        return n + 1

    assert run_in_context(f, ResultCache(tmp_path, "r"), n="41") == 42
    with pytest.raises(Exception, match="n"):
        run_in_context(f, ResultCache(tmp_path, "r"), n="forty")


def test_flows_run_locally_without_a_cluster():
    @task
    def inc(x: int) -> int:
        return x + 1

    @flow
    def f(x: int) -> int:
        return inc(inc(x))

    assert f(1) == 3


def test_pause_outside_a_flow_is_a_clear_error():
    with pytest.raises(FlowRunContextError, match="inside a flow run"):
        pause_flow_run()
    with pytest.raises(FlowRunContextError, match="inside a flow run"):
        suspend_flow_run()


def test_pause_inside_a_task_is_a_clear_error():
    @task
    def bad():
        pause_flow_run()

    @flow
    def f():
        bad()

    with pytest.raises(FlowRunContextError, match="cannot be called inside a task"):
        f()


def test_pause_in_a_local_run_says_it_needs_a_flowrun():
    @flow
    def f():
        pause_flow_run()

    with pytest.raises(RuntimeError, match="needs a FlowRun"):
        f()
