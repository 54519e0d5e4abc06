"""@flow: the function a FlowRun runs.

Under the operator, the runner enters the run's context and calls the flow with
`spec.parameters` (validated against the signature by pydantic). Called directly in
plain Python, a flow runs locally with an in-memory cache, so flows can be tried
without a cluster (pausing then explains that it needs a FlowRun).

With `retries`, a failed flow runs again from the top in the same process, with fresh
call counters: like a resume after a suspension, tasks that finished return their stored
results and pauses already resumed return at once, so a retry repeats only what failed.
Parameters that do not validate are not retried.

Around every execution: `timeout_seconds` (time paused does not count), `log_prints`,
the task runner of `.submit()` / `.map()` (the flow waits for its submitted tasks at
its end), and the hooks: `on_completion` and `on_failure` once the outcome is final
(after the retries), `on_cancellation` when RunCancelled (spec.state: Cancelled, raised
by the runner in the flow) propagates out of it. Hooks are called as
`hook(flow, flow_run, state)` and their failures are logged, never raised.
"""
from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, TypeVar, overload

import pydantic

from . import states
from .bodies import Body, arun, run, timed
from .cache import MemoryCache
from .context import RunContext, current_run, enter_run, exit_run
from .futures import ThreadPoolTaskRunner
from .live import FlowSuspended, RunCancelled, RunStopped
from .logs import reset_log_prints, set_log_prints
from .options import check_keywords, format_run_name, with_changes
from .retries import OnRetry, RetryDelay, RetryPolicy, retrying

log = logging.getLogger("flowrun.flow")

P = ParamSpec("P")
R = TypeVar("R")

FLOW_KEYWORDS = (
    "name", "description", "version", "tags", "validate_parameters", "retries",
    "retry_delay_seconds", "timeout_seconds", "log_prints", "persist_result",
    "cache_result_in_memory", "result_serializer", "flow_run_name", "task_runner",
    "on_completion", "on_failure", "on_cancellation", "on_crashed", "on_running",
)


@dataclass(frozen=True)
class FlowRunInfo:
    """Prefect's `flow_run`, as hooks and get_run_context() see it: `id` is the
    FlowRun's uid (resume_flow_run accepts it, or the name)."""

    id: str
    name: str
    namespace: str
    flow_name: str
    run_count: int = 1
    parameters: dict[str, Any] = field(default_factory=dict)
    display_name: str | None = None

    @classmethod
    def of(cls, ctx: RunContext, display_name: str | None = None) -> "FlowRunInfo":
        return cls(ctx.uid or ctx.name, ctx.name, ctx.namespace, ctx.flow_name, ctx.run_count,
                   dict(ctx.parameters), display_name)


class Flow(Generic[P, R]):
    def __init__(self, fn: Callable[P, R], *, name: str | None = None,
                 validate_parameters: bool = True, description: str | None = None,
                 retries: int | None = 0, retry_delay_seconds: RetryDelay | None = 0,
                 version: str | None = None, tags: Iterable[str] | None = None,
                 timeout_seconds: float | None = None, log_prints: bool | None = None,
                 persist_result: bool | None = None, cache_result_in_memory: bool = True,
                 result_serializer: Any = None, flow_run_name: str | Callable[[], str] | None = None,
                 task_runner: ThreadPoolTaskRunner | None = None,
                 on_completion: list[Callable[..., Any]] | None = None,
                 on_failure: list[Callable[..., Any]] | None = None,
                 on_cancellation: list[Callable[..., Any]] | None = None,
                 on_crashed: list[Callable[..., Any]] | None = None,
                 on_running: list[Callable[..., Any]] | None = None):
        if timeout_seconds is not None and not timeout_seconds > 0:
            raise ValueError(f"timeout_seconds must be > 0, not {timeout_seconds!r}")
        if task_runner is not None and not isinstance(task_runner, ThreadPoolTaskRunner):
            raise TypeError("task_runner must be a ThreadPoolTaskRunner (the only task runner here)")
        self.fn = fn
        self.name = name or fn.__name__
        self.retry_policy = RetryPolicy.build(retries, retry_delay_seconds, self._retryable,
                                              owner=f"flow {self.name}")
        self.description = description or inspect.getdoc(fn) or ""
        self.validate_parameters = validate_parameters
        self.version = version
        self.tags = set(tags or ())
        self.timeout_seconds = timeout_seconds
        self.log_prints = log_prints
        self.persist_result = persist_result
        self.cache_result_in_memory = cache_result_in_memory
        self.result_serializer = result_serializer
        self.flow_run_name = flow_run_name
        self.task_runner = task_runner or ThreadPoolTaskRunner()
        self.on_completion_hooks = list(on_completion or [])
        self.on_failure_hooks = list(on_failure or [])
        self.on_cancellation_hooks = list(on_cancellation or [])
        # A crash (the pod dies) leaves no process to run a hook in; Crashed is reported
        # by the operator. Accepted so Prefect code imports; see "Coming from Prefect".
        self.on_crashed_hooks = list(on_crashed or [])
        self.on_running_hooks = list(on_running or [])
        self.is_async = inspect.iscoroutinefunction(fn)
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<Flow {self.name}>"

    def with_options(self, **options: Any) -> "Flow[P, R]":
        """A copy of this flow with some options changed (every other one kept)."""
        return Flow(self.fn, **with_changes("flow", self._options(), options, FLOW_KEYWORDS))

    def _options(self) -> dict[str, Any]:
        """Every keyword of the constructor, as this flow has it (what with_options starts
        from; tests/unit/sdk/test_with_options.py checks that none is missing)."""
        return dict(name=self.name, description=self.description, version=self.version,
                    tags=self.tags, validate_parameters=self.validate_parameters,
                    retries=self.retry_policy.retries,
                    retry_delay_seconds=list(self.retry_policy.delays),
                    timeout_seconds=self.timeout_seconds, log_prints=self.log_prints,
                    persist_result=self.persist_result, cache_result_in_memory=self.cache_result_in_memory,
                    result_serializer=self.result_serializer, flow_run_name=self.flow_run_name,
                    task_runner=self.task_runner, on_completion=self.on_completion_hooks,
                    on_failure=self.on_failure_hooks, on_cancellation=self.on_cancellation_hooks,
                    on_crashed=self.on_crashed_hooks, on_running=self.on_running_hooks)

    @functools.cached_property
    def _validated(self) -> Callable[..., Any]:
        return pydantic.validate_call(self.fn) if self.validate_parameters else self.fn

    def _retryable(self, exc: BaseException) -> bool:
        # pydantic's validate_call titles its errors with the function's (qualified) name.
        return not (isinstance(exc, pydantic.ValidationError)
                    and exc.title in (self.fn.__name__, self.fn.__qualname__))

    def call_with_parameters(self, parameters: dict[str, Any], on_retry: OnRetry | None = None) -> Any:
        """Call the function (inside an already entered run) with keyword parameters,
        validated and coerced to the annotated types, retried as the flow says; each
        retry first calls `on_retry(retry, exception, delay)`. May return a coroutine."""
        return self._call(lambda: self._validated(**parameters), on_retry)

    def _call(self, call: Callable[[], Any], on_retry: OnRetry | None) -> Any:
        ctx = current_run()

        def retried(retry: int, exc: BaseException, delay: float) -> None:
            log.warning("flow %s failed (%s: %s); retry %d of %d in %g s", self.name,
                        type(exc).__name__, exc, retry, self.retry_policy.retries, delay)
            if ctx is not None:
                ctx.restart()
            if on_retry is not None:
                on_retry(retry, exc, delay)

        what = f"Flow run {self._display(ctx)}"
        body = self._body(ctx, retrying(lambda: timed(call, self.timeout_seconds, what), self.retry_policy,
                                        retried))
        return arun(body) if self.is_async else run(body)

    # ---- around one execution: task runner, log_prints, hooks ------------------------

    def _display(self, ctx: RunContext | None) -> str:
        if ctx is None:
            return self.name
        try:
            return format_run_name(self.flow_run_name, ctx.parameters) or ctx.name
        except ValueError as exc:
            log.warning("flow %s: %s", self.name, exc)
            return ctx.name

    def _enter(self, ctx: RunContext | None):
        runner = None
        if ctx is not None:
            runner, ctx.task_runner = ctx.task_runner, self.task_runner.duplicate()
            if self.flow_run_name is not None:
                log.info("flow run %s (flow_run_name: %s)", ctx.name, self._display(ctx))
            self._hooks(self.on_running_hooks, ctx, states.State(states.RUNNING))
        return runner, set_log_prints(self.log_prints)

    def _exit(self, ctx: RunContext | None, saved: Any, stopping: bool) -> None:
        runner, prints = saved
        reset_log_prints(prints)
        if ctx is not None and ctx.task_runner is not None:
            # The flow waits for the tasks it submitted (Prefect does too), unless it stops.
            ctx.task_runner.shutdown(wait=not stopping)
            ctx.task_runner = runner

    def _outcome(self, ctx: RunContext | None, exc: BaseException | None, value: Any = None) -> None:
        if exc is None:
            self._hooks(self.on_completion_hooks, ctx, states.completed(value))
        elif isinstance(exc, RunCancelled):
            self._hooks(self.on_cancellation_hooks, ctx, states.cancelled(exc))
        elif isinstance(exc, Exception):
            self._hooks(self.on_failure_hooks, ctx, states.failed(exc))

    def _hooks(self, hooks: list[Callable[..., Any]], ctx: RunContext | None, state: states.State) -> None:
        if not hooks:
            return
        info = FlowRunInfo.of(ctx, self._display(ctx)) if ctx is not None else None
        for hook in hooks:
            try:
                hook(self, info, state)
            except Exception:  # noqa: BLE001 - a hook never changes the outcome
                log.exception("flow %s: hook %s failed", self.name, getattr(hook, "__name__", hook))

    def _body(self, ctx: RunContext | None, tries: Body[Any]) -> Body[Any]:
        """One execution of the flow around its tries, for both drivers (sdk/bodies.py):
        the task runner and log_prints set up and put back, then the hooks of the outcome."""
        saved = self._enter(ctx)
        try:
            value = yield from tries
        except BaseException as exc:
            stopping = isinstance(exc, RunStopped) and not isinstance(exc, FlowSuspended)
            self._exit(ctx, saved, stopping)
            self._outcome(ctx, exc)
            raise
        self._exit(ctx, saved, False)
        self._outcome(ctx, None, value)
        return value

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        if current_run() is not None:  # a flow called from a flow: plain call
            return self.fn(*args, **kwargs)
        bound = inspect.signature(self.fn).bind(*args, **kwargs)
        ctx = RunContext(name=f"local-{self.name}", namespace="", attempt=1,
                         parameters=dict(bound.arguments), cache=MemoryCache(),
                         flow_name=self.name)
        if self.is_async:
            return self._local_async(ctx, args, kwargs)  # type: ignore[return-value]
        token = enter_run(ctx)
        try:
            return self._call(lambda: self.fn(*args, **kwargs), None)
        finally:
            exit_run(token)

    async def _local_async(self, ctx: RunContext, args: tuple, kwargs: dict) -> Any:
        token = enter_run(ctx)
        try:
            return await self._call(lambda: self.fn(*args, **kwargs), None)
        finally:
            exit_run(token)


def as_flow(obj: Any) -> Flow:
    """A Flow for whatever `spec.flow` points at: a @flow, or a plain function."""
    if isinstance(obj, Flow):
        return obj
    if callable(obj):
        return Flow(obj)
    raise TypeError(f"{obj!r} is not a flow or a function")


@overload
def flow(fn: Callable[P, R], /) -> Flow[P, R]: ...


@overload
def flow(**options: Any) -> Callable[[Callable[P, R]], Flow[P, R]]: ...


def flow(fn: Any = None, /, **options: Any) -> Any:
    """Decorate a function (sync or async) as a flow: `@flow` or `@flow(name=...,
    retries=2, retry_delay_seconds=30, timeout_seconds=600, log_prints=True,
    task_runner=ThreadPoolTaskRunner(max_workers=4), on_failure=[notify])`."""
    check_keywords("flow", options, FLOW_KEYWORDS)
    if fn is None:
        return lambda f: Flow(f, **options)
    return Flow(fn, **options)
