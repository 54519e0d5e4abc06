"""@task: a function whose finished result is kept in the run's result cache.

A task's identity in a FlowRun is its name plus its call index (`fetch-1`, `fetch-2`, ...
in call or submission order), so when a suspended run executes again from the top, the
n-th call finds the result the n-th call stored and the body does not run. The stored
entry carries a fingerprint of the call (its arguments and the task's source, per the
cache policy): a call whose inputs or code changed runs again instead of returning the
result of a different call. Failed calls store nothing. With `cache_key_fn` (or a cache
policy without RUN_ID), results are also shared across runs on the same claim.
With `retries`, a failed call runs again (same identity) before it counts as failed.

`.submit()` and `.map()` run calls concurrently on the flow's task runner (see futures).
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import json
import logging
import pickle
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Generic, ParamSpec, TypeVar, overload

from . import states
from .bodies import Body, arun, run, timed
from .cache import SERIALIZERS, NotSerializable, encode
from .cache_policies import DEFAULT, CachePolicy
from .context import RunContext, current_run, enter_task, exit_task, run_active_elsewhere
from .futures import (TaskFuture, TaskFutureList, ThreadPoolTaskRunner, resolve, unmapped,
                      wait_for_upstream)
from .logs import reset_log_prints, set_log_prints
from .options import check_keywords, format_run_name, with_changes
from .retries import RetryCondition, RetryDelay, RetryPolicy, retrying

log = logging.getLogger("flowrun.task")

P = ParamSpec("P")
R = TypeVar("R")

TASK_KEYWORDS = (
    "name", "description", "tags", "version", "cache_policy", "cache_key_fn", "cache_expiration",
    "refresh_cache", "result_serializer", "persist_result", "cache_result_in_memory",
    "cache_result_in_run", "retries", "retry_delay_seconds", "retry_jitter_factor",
    "retry_condition_fn", "timeout_seconds", "log_prints", "task_run_name",
    "on_completion", "on_failure",
)


@dataclass(frozen=True)
class TaskRunInfo:
    """Prefect's `task_run`, as hooks and get_run_context() see it."""

    id: str
    name: str
    task_name: str
    flow_run_name: str
    parameters: dict[str, Any] = field(default_factory=dict)


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


def _digest(value: Any) -> str | None:
    """A stable hash of `value` (JSON form, else pickle); None if it has neither."""
    try:
        data = json.dumps(encode(value, "json"), sort_keys=True, separators=(",", ":")).encode()
    except (NotSerializable, TypeError, ValueError):
        try:
            data = pickle.dumps(value, protocol=4)
        except Exception:  # noqa: BLE001 - unhashable inputs: no fingerprint
            return None
    return hashlib.sha256(data).hexdigest()


class Task(Generic[P, R]):
    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        tags: Iterable[str] | None = None,
        version: str | None = None,
        cache_policy: CachePolicy | None = None,
        cache_key_fn: Callable[[TaskRunContext, dict[str, Any]], str | None] | None = None,
        cache_expiration: timedelta | None = None,
        refresh_cache: bool | None = None,
        result_serializer: str = "json",
        persist_result: bool | None = None,
        cache_result_in_memory: bool = True,
        cache_result_in_run: bool = True,
        retries: int | None = 0,
        retry_delay_seconds: RetryDelay | None = 0,
        retry_jitter_factor: float | None = None,
        retry_condition_fn: RetryCondition | None = None,
        timeout_seconds: float | None = None,
        log_prints: bool | None = None,
        task_run_name: str | Callable[[], str] | None = None,
        on_completion: list[Callable[..., Any]] | None = None,
        on_failure: list[Callable[..., Any]] | None = None,
    ):
        if result_serializer not in SERIALIZERS:
            raise ValueError(f"result_serializer must be one of {SERIALIZERS}")
        if cache_policy is not None and not isinstance(cache_policy, CachePolicy):
            raise TypeError(f"cache_policy must be one of flowrun.cache_policies "
                            f"(INPUTS, TASK_SOURCE, FLOW_PARAMETERS, RUN_ID, NONE, DEFAULT or a sum), "
                            f"not {cache_policy!r}")
        if timeout_seconds is not None and not timeout_seconds > 0:
            raise ValueError(f"timeout_seconds must be > 0, not {timeout_seconds!r}")
        self.fn = fn
        self.name = name or fn.__name__
        self.description = description or inspect.getdoc(fn) or ""
        self.tags = set(tags or ())
        self.version = version
        self.cache_policy = DEFAULT if cache_policy is None else cache_policy
        self.cache_key_fn = cache_key_fn
        self.cache_expiration = cache_expiration
        self.refresh_cache = bool(refresh_cache)
        self.result_serializer = result_serializer
        self.persist_result = persist_result
        self.cache_result_in_memory = cache_result_in_memory
        self._cache_result_in_run_given = cache_result_in_run
        # persist_result=False or cache_policy=NONE: nothing stored, the call always runs.
        self.cache_result_in_run = (cache_result_in_run and persist_result is not False
                                    and not self.cache_policy.is_none)
        self.retry_policy = RetryPolicy.build(retries, retry_delay_seconds, retry_condition_fn,
                                              owner=f"task {self.name}",
                                              retry_jitter_factor=retry_jitter_factor)
        self.timeout_seconds = timeout_seconds
        self.log_prints = log_prints
        self.task_run_name = task_run_name
        self.on_completion_hooks = list(on_completion or [])
        self.on_failure_hooks = list(on_failure or [])
        self.is_async = inspect.iscoroutinefunction(fn)
        self._signature = inspect.signature(fn)
        functools.update_wrapper(self, fn)

    @functools.cached_property
    def return_type(self) -> Any:
        try:
            hint = typing.get_type_hints(self.fn).get("return")
        except Exception:  # unresolvable annotations: give back plain JSON
            return None
        return None if hint in (None, type(None), Any) else hint

    @functools.cached_property
    def source_hash(self) -> str:
        try:
            source = inspect.getsource(self.fn).encode()
        except (OSError, TypeError):
            code = getattr(self.fn, "__code__", None)
            source = code.co_code if code is not None else b""
        return hashlib.sha256(source).hexdigest()

    def __repr__(self) -> str:
        return f"<Task {self.name}>"

    def with_options(self, **options: Any) -> "Task[P, R]":
        """A copy of this task with some options changed (every other one kept)."""
        return Task(self.fn, **with_changes("task", self._options(), options, TASK_KEYWORDS))

    def _options(self) -> dict[str, Any]:
        """Every keyword of the constructor, as this task has it (what with_options starts
        from; tests/unit/sdk/test_with_options.py checks that none is missing)."""
        return dict(name=self.name, description=self.description, tags=self.tags, version=self.version,
                    cache_policy=self.cache_policy, cache_key_fn=self.cache_key_fn,
                    cache_expiration=self.cache_expiration, refresh_cache=self.refresh_cache,
                    result_serializer=self.result_serializer, persist_result=self.persist_result,
                    cache_result_in_memory=self.cache_result_in_memory,
                    cache_result_in_run=self._cache_result_in_run_given,
                    retries=self.retry_policy.retries, retry_delay_seconds=list(self.retry_policy.delays),
                    retry_jitter_factor=self.retry_policy.jitter,
                    retry_condition_fn=self.retry_policy.condition, timeout_seconds=self.timeout_seconds,
                    log_prints=self.log_prints, task_run_name=self.task_run_name,
                    on_completion=self.on_completion_hooks, on_failure=self.on_failure_hooks)

    # ---- calling ---------------------------------------------------------------------

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        wait_for = kwargs.pop("wait_for", None)
        return_state = bool(kwargs.pop("return_state", False))
        ctx = current_run()
        if self.is_async:
            # The identity now, in call order; an outside pause is waited for in a worker
            # thread when the coroutine runs, so the event loop is not blocked.
            identity = self._claim(ctx, checkpoint=False)
            return self._checked_async(ctx, identity, args, kwargs, wait_for, return_state)  # type: ignore[return-value]
        identity = self._claim(ctx)
        return self._call_sync(ctx, identity, args, kwargs, wait_for, return_state)

    async def _checked_async(self, ctx: RunContext | None, identity: str | None, args: tuple,
                             kwargs: dict, wait_for: Any, return_state: bool) -> Any:
        if ctx is not None and ctx.live is not None:
            await asyncio.to_thread(self._checkpoint, ctx)
        return await self._call_async(ctx, identity, args, kwargs, wait_for, return_state)

    def submit(self, *args: Any, wait_for: Iterable[Any] | None = None, **kwargs: Any) -> TaskFuture[R]:
        """Run this call on the flow's task runner; returns a future at once."""
        kwargs.pop("return_state", None)
        ctx = current_run()
        identity = self._claim(ctx)  # fixed now, in submission order
        runner = ctx.task_runner if ctx is not None and ctx.task_runner is not None else _local_runner()
        if self.is_async:
            def work() -> Any:
                return asyncio.run(self._call_async(ctx, identity, args, kwargs, wait_for, False))
        else:
            def work() -> Any:
                return self._call_sync(ctx, identity, args, kwargs, wait_for, False)
        return TaskFuture(runner.submit(work), identity or self.name)

    def map(self, *args: Any, wait_for: Iterable[Any] | None = None, **kwargs: Any) -> TaskFutureList:
        """One submitted call per element of the iterable arguments (the others, and
        those wrapped in `unmapped(...)`, are passed whole to every call)."""
        kwargs.pop("return_state", None)
        bound = self._signature.bind_partial(*args, **kwargs)
        mapped = {k: v for k, v in bound.arguments.items()
                  if not isinstance(v, (unmapped, str, bytes, dict)) and isinstance(v, Iterable)}
        static = {k: (v.value if isinstance(v, unmapped) else v) for k, v in bound.arguments.items()
                  if k not in mapped}
        if not mapped:
            raise ValueError(f"{self.name}.map() needs at least one iterable argument")
        lists = {k: list(v) for k, v in mapped.items()}
        lengths = {len(v) for v in lists.values()}
        if len(lengths) > 1:
            raise ValueError(f"{self.name}.map(): the iterable arguments have different lengths "
                             f"({', '.join(f'{k}={len(v)}' for k, v in lists.items())})")
        count = lengths.pop()
        return TaskFutureList(
            self.submit(**static, **{k: v[i] for k, v in lists.items()}, wait_for=wait_for)
            for i in range(count))

    def _claim(self, ctx: RunContext | None, checkpoint: bool = True) -> str | None:
        """This call's identity in the run (None outside a run); a pause or suspension
        requested from outside takes effect here, before the call is made."""
        if ctx is None:
            if run_active_elsewhere():
                log.warning("task %s called in a thread without the run's context: it runs "
                            "uncached and cannot pause; use %s.submit() (or copy the context "
                            "with contextvars.copy_context())", self.name, self.name)
            return None
        if checkpoint and ctx.live is not None:
            self._checkpoint(ctx)
        return f"{self.name}-{ctx.next_index('task:' + self.name)}"

    @staticmethod
    def _checkpoint(ctx: RunContext) -> None:
        ctx.pause_began()
        try:
            ctx.live.checkpoint(lambda: f"external-pause-{ctx.next_index('external-pause')}")  # type: ignore[union-attr]
        finally:
            ctx.pause_ended()

    # ---- one call --------------------------------------------------------------------

    def _arguments(self, args: tuple, kwargs: dict) -> dict[str, Any]:
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return dict(bound.arguments)

    def _fingerprint(self, ctx: RunContext, arguments: dict[str, Any]) -> str | None:
        parts = self.cache_policy.parts
        pieces: dict[str, Any] = {}
        if "INPUTS" in parts:
            pieces["inputs"] = _digest(arguments)
            if pieces["inputs"] is None:
                log.debug("task %s: its arguments cannot be hashed; not compared", self.name)
                del pieces["inputs"]
        if "TASK_SOURCE" in parts:
            pieces["source"] = self.source_hash
        if "FLOW_PARAMETERS" in parts:
            pieces["parameters"] = _digest(ctx.parameters)
        if not pieces:
            return None
        return hashlib.sha256(json.dumps(pieces, sort_keys=True).encode()).hexdigest()[:32]

    def _cross_run_key(self, identity: str, ctx: RunContext, arguments: dict[str, Any],
                       fingerprint: str | None) -> str | None:
        if self.cache_key_fn is not None:
            return self.cache_key_fn(TaskRunContext(self.name, identity, ctx.name, ctx.parameters), arguments)
        if self.cache_policy.per_run_only or self.cache_policy.is_none or fingerprint is None:
            return None
        return hashlib.sha256(f"{self.name}:{fingerprint}".encode()).hexdigest()

    def _lookup(self, ctx: RunContext, identity: str, arguments: dict[str, Any]):
        """(hit or None, cross-run key or None, fingerprint)."""
        fingerprint = self._fingerprint(ctx, arguments) if self.cache_result_in_run else None
        key = self._cross_run_key(identity, ctx, arguments, fingerprint)
        if self.refresh_cache:
            return None, key, fingerprint
        if self.cache_result_in_run:
            hit = ctx.cache.read(ctx.cache.task_path(identity), return_type=self.return_type,
                                 fingerprint=fingerprint)
            if hit is not None:
                log.info("task %s: result from the result cache (not run again)", identity)
                return hit, None, fingerprint
        if key:
            hit = ctx.cache.read(ctx.cache.key_path(key), return_type=self.return_type)
            if hit is not None:
                log.info("task %s: result from cache key %s", identity, key[:16])
                self._store(ctx, identity, hit.value, None, fingerprint)
                return hit, key, fingerprint
        return None, key, fingerprint

    def _store(self, ctx: RunContext, identity: str, value: Any, key: str | None,
               fingerprint: str | None) -> None:
        try:
            if self.cache_result_in_run:
                ctx.cache.write(ctx.cache.task_path(identity), value, serializer=self.result_serializer,
                                task=self.name, fingerprint=fingerprint)
            if key:
                ctx.cache.write(ctx.cache.key_path(key), value, serializer=self.result_serializer,
                                task=self.name, expiration=self.cache_expiration)
            log.info("task %s: result stored", identity)
        except NotSerializable as exc:
            log.warning("task %s: result not cached: %s", identity, exc)

    def _display(self, identity: str, arguments: dict[str, Any]) -> str:
        try:
            return format_run_name(self.task_run_name, arguments) or identity
        except ValueError as exc:
            log.warning("task %s: %s", identity, exc)
            return identity

    def _hooks(self, hooks: list[Callable[..., Any]], ctx: RunContext | None, identity: str,
               arguments: dict[str, Any], state: states.State) -> None:
        info = TaskRunInfo(identity, self._display(identity, arguments), self.name,
                           ctx.name if ctx else "", arguments)
        for hook in hooks:
            try:
                hook(self, info, state)
            except Exception:  # noqa: BLE001 - a hook never changes the outcome
                log.exception("task %s: hook %s failed", identity, getattr(hook, "__name__", hook))

    def _finish(self, ctx: RunContext | None, identity: str, arguments: dict[str, Any],
                value: Any = None, exc: BaseException | None = None, return_state: bool = False) -> Any:
        if exc is not None:
            state = states.failed(exc)
            self._hooks(self.on_failure_hooks, ctx, identity, arguments, state)
            if return_state:
                return state
            raise exc
        state = states.completed(value)
        self._hooks(self.on_completion_hooks, ctx, identity, arguments, state)
        return state if return_state else value

    def _call_sync(self, ctx: RunContext | None, identity: str | None, args: tuple, kwargs: dict,
                   wait_for: Any, return_state: bool) -> Any:
        return run(self._body(ctx, identity, args, kwargs, wait_for, return_state))

    async def _call_async(self, ctx: RunContext | None, identity: str | None, args: tuple, kwargs: dict,
                          wait_for: Any, return_state: bool) -> Any:
        return await arun(self._body(ctx, identity, args, kwargs, wait_for, return_state))

    def _body(self, ctx: RunContext | None, identity: str | None, args: tuple, kwargs: dict,
              wait_for: Any, return_state: bool) -> Body[Any]:
        """One call of the task, for both drivers (sdk/bodies.py): upstream futures, the
        cache, the tries under their timeout, the hooks and the state."""
        identity = identity or self.name
        arguments: dict[str, Any] = {}
        try:
            wait_for_upstream(wait_for)
            args, kwargs = resolve(args), resolve(kwargs)
            arguments = self._arguments(args, kwargs)
            if ctx is not None:
                hit, key, fingerprint = self._lookup(ctx, identity, arguments)
                if hit is not None:
                    return self._finish(ctx, identity, arguments, hit.value, return_state=return_state)
            display = self._display(identity, arguments)

            def attempt() -> Body[Any]:
                token = enter_task(identity, display)
                prints = set_log_prints(self.log_prints)
                try:
                    return (yield from timed(lambda: self.fn(*args, **kwargs), self.timeout_seconds,
                                             f"Task run {display}"))
                finally:
                    reset_log_prints(prints)
                    exit_task(token)

            value = yield from retrying(attempt, self.retry_policy, self._retrying(identity))
        except Exception as exc:  # noqa: BLE001 - hooks and states, then re-raised
            return self._finish(ctx, identity, arguments, exc=exc, return_state=return_state)
        if ctx is not None:
            self._store(ctx, identity, value, key, fingerprint)
        return self._finish(ctx, identity, arguments, value, return_state=return_state)

    def _retrying(self, identity: str):
        def on_retry(retry: int, exc: BaseException, delay: float) -> None:
            log.warning("task %s failed (%s: %s); retry %d of %d in %g s", identity,
                        type(exc).__name__, exc, retry, self.retry_policy.retries, delay)
        return on_retry


_local: ThreadPoolTaskRunner | None = None


def _local_runner() -> ThreadPoolTaskRunner:
    """Tasks submitted outside any flow share one pool."""
    global _local
    if _local is None:
        _local = ThreadPoolTaskRunner()
    return _local


@overload
def task(fn: Callable[P, R], /) -> Task[P, R]: ...


@overload
def task(**options: Any) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(fn: Any = None, /, **options: Any) -> Any:
    """Decorate a function (sync or async) as a task: `@task` or `@task(name=...,
    cache_key_fn=task_input_hash, cache_expiration=timedelta(hours=1),
    result_serializer="json"|"pickle", retries=3, retry_delay_seconds=[1, 10, 60],
    retry_condition_fn=lambda exc: isinstance(exc, ConnectionError))`; Prefect's other
    keywords are listed in TASK_KEYWORDS (see README, "Coming from Prefect")."""
    check_keywords("task", options, TASK_KEYWORDS)
    if fn is None:
        return lambda f: Task(f, **options)
    return Task(fn, **options)


__all__ = ["Task", "TaskRunContext", "TaskRunInfo", "task", "task_input_hash"]
