"""@task: a function whose finished result is kept in the run's result cache.

A task's identity in a FlowRun is its name plus its call index (`fetch-1`, `fetch-2`, ...
in execution order), so when a suspended run executes again from the top, the n-th call
finds the result the n-th call stored and the body does not run. Failed calls store
nothing. With `cache_key_fn`, results are also shared across runs on the same claim.
With `retries`, a failed call runs again (same identity) before it counts as failed.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import json
import logging
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, ParamSpec, TypeVar, overload

from .cache import SERIALIZERS, NotSerializable, encode
from .context import RunContext, current_run, enter_task, exit_task
from .retries import RetryCondition, RetryDelay, RetryPolicy, acall_with_retries, call_with_retries

log = logging.getLogger("flowrun.task")

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class TaskRunContext:
    """What a `cache_key_fn` is given as its first argument."""

    task_name: str
    identity: str
    flow_run_name: str
    parameters: dict[str, Any]


def task_input_hash(context: TaskRunContext, arguments: dict[str, Any]) -> str | None:
    """A cache key from the task's name and its arguments (Prefect's task_input_hash).
    None (no cross-run caching) when an argument cannot be serialised."""
    try:
        payload = json.dumps(
            {"task": context.task_name, "arguments": encode(arguments, "json")},
            sort_keys=True, separators=(",", ":"))
    except (NotSerializable, TypeError, ValueError):
        return None
    return hashlib.sha256(payload.encode()).hexdigest()


class Task(Generic[P, R]):
    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        cache_key_fn: Callable[[TaskRunContext, dict[str, Any]], str | None] | None = None,
        cache_expiration: timedelta | None = None,
        result_serializer: str = "json",
        cache_result_in_run: bool = True,
        retries: int = 0,
        retry_delay_seconds: RetryDelay = 0,
        retry_condition_fn: RetryCondition | None = None,
    ):
        if result_serializer not in SERIALIZERS:
            raise ValueError(f"result_serializer must be one of {SERIALIZERS}")
        self.fn = fn
        self.name = name or fn.__name__
        self.cache_key_fn = cache_key_fn
        self.cache_expiration = cache_expiration
        self.result_serializer = result_serializer
        self.cache_result_in_run = cache_result_in_run
        self.retry_policy = RetryPolicy.build(retries, retry_delay_seconds, retry_condition_fn,
                                              owner=f"task {self.name}")
        self.is_async = inspect.iscoroutinefunction(fn)
        self._signature = inspect.signature(fn)
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    @functools.cached_property
    def return_type(self) -> Any:
        try:
            hint = typing.get_type_hints(self.fn).get("return")
        except Exception:  # unresolvable annotations: give back plain JSON
            return None
        return None if hint in (None, type(None), Any) else hint

    def __repr__(self) -> str:
        return f"<Task {self.name}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        ctx = current_run()
        if ctx is None:  # outside any flow: the function with its retries, nothing cached
            if self.is_async:
                return acall_with_retries(lambda: self.fn(*args, **kwargs), self.retry_policy,  # type: ignore[return-value]
                                          self._retrying(self.name))
            return call_with_retries(lambda: self.fn(*args, **kwargs), self.retry_policy,
                                     self._retrying(self.name))
        if ctx.live is not None:
            # A pause or suspension requested from outside takes effect here.
            ctx.live.checkpoint(lambda: f"external-pause-{ctx.next_index('external-pause')}")
        identity = f"{self.name}-{ctx.next_index('task:' + self.name)}"
        if self.is_async:
            return self._run_async(ctx, identity, args, kwargs)  # type: ignore[return-value]
        return self._run_sync(ctx, identity, args, kwargs)

    # ---- one call --------------------------------------------------------------------

    def _arguments(self, args: tuple, kwargs: dict) -> dict[str, Any]:
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return dict(bound.arguments)

    def _lookup(self, ctx: RunContext, identity: str, args: tuple, kwargs: dict):
        """(hit or None, cross-run key or None)."""
        if self.cache_result_in_run:
            hit = ctx.cache.read(ctx.cache.task_path(identity), return_type=self.return_type)
            if hit is not None:
                log.info("task %s: result from the result cache (not run again)", identity)
                return hit, None
        key = None
        if self.cache_key_fn is not None:
            tctx = TaskRunContext(self.name, identity, ctx.name, ctx.parameters)
            key = self.cache_key_fn(tctx, self._arguments(args, kwargs))
            if key:
                hit = ctx.cache.read(ctx.cache.key_path(key), return_type=self.return_type)
                if hit is not None:
                    log.info("task %s: result from cache key %s", identity, key[:16])
                    self._store(ctx, identity, hit.value, None)
                    return hit, key
        return None, key

    def _store(self, ctx: RunContext, identity: str, value: Any, key: str | None) -> None:
        try:
            if self.cache_result_in_run:
                ctx.cache.write(ctx.cache.task_path(identity), value,
                                serializer=self.result_serializer, task=self.name)
            if key:
                ctx.cache.write(ctx.cache.key_path(key), value, serializer=self.result_serializer,
                                task=self.name, expiration=self.cache_expiration)
            log.info("task %s: result stored", identity)
        except NotSerializable as exc:
            log.warning("task %s: result not cached: %s", identity, exc)

    def _run_sync(self, ctx: RunContext, identity: str, args: tuple, kwargs: dict) -> R:
        hit, key = self._lookup(ctx, identity, args, kwargs)
        if hit is not None:
            return hit.value

        def attempt() -> R:
            token = enter_task(identity)
            try:
                return self.fn(*args, **kwargs)
            finally:
                exit_task(token)

        value = call_with_retries(attempt, self.retry_policy, self._retrying(identity))
        self._store(ctx, identity, value, key)
        return value

    async def _run_async(self, ctx: RunContext, identity: str, args: tuple, kwargs: dict) -> R:
        hit, key = self._lookup(ctx, identity, args, kwargs)
        if hit is not None:
            return hit.value

        async def attempt() -> R:
            token = enter_task(identity)
            try:
                return await self.fn(*args, **kwargs)  # type: ignore[misc]
            finally:
                exit_task(token)

        value = await acall_with_retries(attempt, self.retry_policy, self._retrying(identity))
        self._store(ctx, identity, value, key)
        return value

    def _retrying(self, identity: str):
        def on_retry(retry: int, exc: BaseException, delay: float) -> None:
            log.warning("task %s failed (%s: %s); retry %d of %d in %g s", identity,
                        type(exc).__name__, exc, retry, self.retry_policy.retries, delay)
        return on_retry


@overload
def task(fn: Callable[P, R], /) -> Task[P, R]: ...


@overload
def task(
    *,
    name: str | None = None,
    cache_key_fn: Callable[[TaskRunContext, dict[str, Any]], str | None] | None = None,
    cache_expiration: timedelta | None = None,
    result_serializer: str = "json",
    cache_result_in_run: bool = True,
    retries: int = 0,
    retry_delay_seconds: RetryDelay = 0,
    retry_condition_fn: RetryCondition | None = None,
) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(fn: Any = None, /, **options: Any) -> Any:
    """Decorate a function (sync or async) as a task: `@task` or `@task(name=...,
    cache_key_fn=task_input_hash, cache_expiration=timedelta(hours=1),
    result_serializer="json"|"pickle", retries=3, retry_delay_seconds=[1, 10, 60],
    retry_condition_fn=lambda exc: isinstance(exc, ConnectionError))`."""
    if fn is None:
        return lambda f: Task(f, **options)
    return Task(fn, **options)
