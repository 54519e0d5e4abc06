"""`with_options` keeps every option of `@task` / `@flow`: the constructor's keywords,
the keywords the decorator accepts and what with_options carries over are one set, and a
task or flow with every option set to something not the default keeps each of them."""
from __future__ import annotations

import inspect
from datetime import timedelta
from typing import Any

import pytest

from flowrun.sdk.cache_policies import INPUTS
from flowrun.sdk.flows import FLOW_KEYWORDS, Flow
from flowrun.sdk.futures import ThreadPoolTaskRunner
from flowrun.sdk.tasks import TASK_KEYWORDS, Task


def fn(x: int) -> int:
    return x


def hook(*_: Any) -> None:
    pass


def key_fn(*_: Any) -> str:
    return "k"


def condition(exc: BaseException) -> bool:
    return True


# Every option, set to a value that is not its default.
TASK_OPTIONS: dict[str, Any] = dict(
    name="t", description="d", tags={"a"}, version="2", cache_policy=INPUTS, cache_key_fn=key_fn,
    cache_expiration=timedelta(hours=1), refresh_cache=True, result_serializer="pickle",
    persist_result=True, cache_result_in_memory=False, cache_result_in_run=False, retries=3,
    retry_delay_seconds=[1.0, 2.0], retry_jitter_factor=0.5, retry_condition_fn=condition,
    timeout_seconds=9.0, log_prints=True, task_run_name="run-{x}", on_completion=[hook], on_failure=[hook])
FLOW_OPTIONS: dict[str, Any] = dict(
    name="f", description="d", version="2", tags={"a"}, validate_parameters=False, retries=2,
    retry_delay_seconds=[3.0], timeout_seconds=5.0, log_prints=True, persist_result=True,
    cache_result_in_memory=False, result_serializer="pickle", flow_run_name="r-{x}",
    task_runner=ThreadPoolTaskRunner(max_workers=2), on_completion=[hook], on_failure=[hook],
    on_cancellation=[hook], on_crashed=[hook], on_running=[hook])


def keywords(cls: type) -> set[str]:
    return {name for name, p in inspect.signature(cls.__init__).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY}


@pytest.mark.parametrize("cls,decorator_keywords,options", [
    (Task, TASK_KEYWORDS, TASK_OPTIONS), (Flow, FLOW_KEYWORDS, FLOW_OPTIONS)])
def test_the_constructor_the_decorator_and_with_options_know_the_same_options(cls, decorator_keywords, options):
    constructor = keywords(cls)
    assert set(decorator_keywords) == constructor, "the decorator accepts what the constructor takes"
    carried = set(cls(fn)._options())
    assert constructor - carried == set(), "options with_options would drop"
    assert carried - constructor == set(), "options with_options passes that the constructor lacks"
    assert set(options) == constructor  # this test sets every one of them


@pytest.mark.parametrize("cls,options", [(Task, TASK_OPTIONS), (Flow, FLOW_OPTIONS)])
def test_with_options_keeps_every_option_it_does_not_change(cls, options):
    made = cls(fn, **options)
    defaults = cls(fn)._options()
    kept = made.with_options()._options()
    for name, value in made._options().items():
        assert kept[name] == value, name
        assert value != defaults[name], f"{name}: the test must set it to something not the default"
    changed = made.with_options(name="other")._options()
    assert changed["name"] == "other" and {k: v for k, v in changed.items() if k != "name"} == \
        {k: v for k, v in kept.items() if k != "name"}
