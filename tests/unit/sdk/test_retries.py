"""Task and flow retries (Prefect's `retries=` / `retry_delay_seconds=`), without a cluster.
Delays are patched out of time.sleep / asyncio.sleep and recorded instead."""
import asyncio

import pydantic
import pytest

from flowrun import exponential_backoff, flow, task
from flowrun.runtime import flow_run
from flowrun.sdk import bodies as bodies_module  # where the retries sleep (sync and async)
from flowrun.sdk.cache import ResultCache
from flowrun.sdk.context import RunContext, enter_run, exit_run
from flowrun.sdk.live import FlowSuspended
from flowrun.sdk.retries import RetryPolicy


@pytest.fixture
def slept(monkeypatch):
    delays: list[float] = []

    async def fake_async_sleep(seconds):
        delays.append(seconds)

    monkeypatch.setattr(bodies_module.time, "sleep", delays.append)
    monkeypatch.setattr(bodies_module.asyncio, "sleep", fake_async_sleep)
    return delays


def run_in_context(fn, cache, on_retry=None, **params):
    ctx = RunContext(name="r", namespace="ns", attempt=1, parameters=params, cache=cache)
    token = enter_run(ctx)
    try:
        out = fn.call_with_parameters(params, on_retry=on_retry)
        if asyncio.iscoroutine(out):
            out = asyncio.run(out)
        return out
    finally:
        exit_run(token)


def failing(times: int, exc: type[Exception] = ConnectionError):
    """A body that fails `times` times, then returns how many calls it took."""
    calls = []

    def body():
        calls.append(1)
        if len(calls) <= times:
            raise exc(f"failure {len(calls)}")
        return len(calls)
    return body, calls


def test_task_retries_until_it_succeeds_with_the_given_delays(tmp_path, slept):
    body, calls = failing(2)
    flaky = task(retries=3, retry_delay_seconds=[1, 5])(lambda: body())

    @flow
    def f() -> int:
        return flaky()

    assert run_in_context(f, ResultCache(tmp_path, "r")) == 3
    assert slept == [1.0, 5.0]


def test_task_gives_up_after_its_retries_and_caches_nothing(tmp_path, slept):
    body, calls = failing(5)

    @task(retries=2, retry_delay_seconds=0.5)
    def flaky() -> int:
        return body()

    @flow
    def f() -> int:
        return flaky()

    cache = ResultCache(tmp_path, "r")
    with pytest.raises(ConnectionError, match="failure 3"):
        run_in_context(f, cache)
    assert len(calls) == 3 and slept == [0.5, 0.5]
    assert not (tmp_path / "runs/r/tasks").exists() or not any((tmp_path / "runs/r/tasks").iterdir())


def test_retry_condition_can_decline(tmp_path, slept):
    body, calls = failing(5, exc=ValueError)

    @task(retries=3, retry_condition_fn=lambda exc: isinstance(exc, ConnectionError))
    def picky() -> int:
        return body()

    @flow
    def f() -> int:
        return picky()

    with pytest.raises(ValueError):
        run_in_context(f, ResultCache(tmp_path, "r"))
    assert len(calls) == 1 and slept == []


def test_async_task_retries(tmp_path, slept):
    body, calls = failing(1)

    @task(retries=1, retry_delay_seconds=2)
    async def flaky() -> int:
        return body()

    @flow
    async def f() -> int:
        return await flaky()

    assert run_in_context(f, ResultCache(tmp_path, "r")) == 2
    assert slept == [2.0]


def test_task_outside_a_flow_retries_too(slept):
    body, calls = failing(1)
    flaky = task(retries=1)(lambda: body())
    assert flaky() == 2


def test_suspension_is_never_retried(tmp_path, slept):
    calls = []

    @task(retries=3)
    def stops() -> None:
        calls.append(1)
        raise FlowSuspended("suspended from outside")

    @flow
    def f() -> None:
        stops()

    with pytest.raises(FlowSuspended):
        run_in_context(f, ResultCache(tmp_path, "r"))
    assert calls == [1] and slept == []


def test_flow_retry_reruns_from_the_top_reusing_finished_tasks(tmp_path, slept):
    ran = {"first": 0, "second": 0}
    run_counts = []
    retries_seen = []

    @task
    def first() -> int:
        ran["first"] += 1
        return 1

    @task
    def second() -> int:
        ran["second"] += 1
        if ran["second"] == 1:
            raise ConnectionError("transient")
        return 2

    @flow(retries=1, retry_delay_seconds=3)
    def f() -> list[int]:
        run_counts.append(flow_run.run_count)
        return [first(), second()]

    out = run_in_context(f, ResultCache(tmp_path, "r"),
                         on_retry=lambda retry, exc, delay: retries_seen.append((retry, str(exc), delay)))
    assert out == [1, 2]
    assert ran == {"first": 1, "second": 2}, "the retry ran a finished task again"
    assert run_counts == [1, 2]
    assert retries_seen == [(1, "transient", 3.0)] and slept == [3.0]


def test_flow_parameters_that_do_not_validate_are_not_retried(tmp_path, slept):
    calls = []

    @flow(retries=3)
    def f(x: int) -> int:
        calls.append(x)
        return x

    with pytest.raises(pydantic.ValidationError):
        run_in_context(f, ResultCache(tmp_path, "r"), x="not a number")
    assert calls == [] and slept == []


def test_flow_raising_a_validation_error_of_its_own_is_retried(tmp_path, slept):
    class Row(pydantic.BaseModel):
        n: int

    calls = []

    @flow(retries=1)
    def f() -> int:
        calls.append(1)
        return Row(n="bad" if len(calls) == 1 else 5).n

    assert run_in_context(f, ResultCache(tmp_path, "r")) == 5


def test_local_flow_call_retries(slept):
    body, calls = failing(1)

    @flow(retries=1)
    def f() -> int:
        return body()

    assert f() == 2


def test_a_suspending_flow_is_not_retried(tmp_path, slept):
    """Under the runner, suspend_flow_run raises FlowSuspended out of the flow: the
    runner must see it at once (it exits so the operator can delete the Job)."""
    calls = []

    @flow(retries=2)
    def f() -> None:
        calls.append(1)
        raise FlowSuspended("suspend-1")

    with pytest.raises(FlowSuspended):
        run_in_context(f, ResultCache(tmp_path, "r"))
    assert calls == [1] and slept == []


@pytest.mark.parametrize("kwargs, message", [
    ({"retries": -1}, "retries must be a whole number"),
    ({"retries": 1.5}, "retries must be a whole number"),
    ({"retries": True}, "retries must be a whole number"),
    ({"retries": 1, "retry_delay_seconds": -1}, "finite and >= 0"),
    ({"retries": 1, "retry_delay_seconds": []}, "non-empty list"),
    ({"retries": 1, "retry_delay_seconds": "5"}, "must be a number"),
    ({"retries": 1, "retry_condition_fn": 5}, "must be callable"),
])
def test_bad_retry_options_fail_at_decoration(kwargs, message):
    with pytest.raises(ValueError, match=message):
        task(**kwargs)(lambda: None)


def test_delays_lists_repeat_their_last_entry_and_backoff_doubles():
    policy = RetryPolicy.build(4, [1, 10], None, owner="t")
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [1, 10, 10, 10]
    backoff = RetryPolicy.build(4, exponential_backoff(backoff_factor=2), None, owner="t")
    assert [backoff.delay(n) for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert RetryPolicy.build(0, None, None, owner="t").retries == 0
