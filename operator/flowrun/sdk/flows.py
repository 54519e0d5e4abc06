"""@flow: the function a FlowRun runs.

Under the operator, the runner enters the run's context and calls the flow with
`spec.parameters` (validated against the signature by pydantic). Called directly in
plain Python, a flow runs locally with an in-memory cache, so flows can be tried
without a cluster (pausing then explains that it needs a FlowRun).

With `retries`, a failed flow runs again from the top in the same process, with fresh
call counters: like a resume after a suspension, tasks that finished return their stored
results and pauses already resumed return at once, so a retry repeats only what failed.
Parameters that do not validate are not retried.
"""
from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, TypeVar, overload

import pydantic

from .cache import MemoryCache
from .context import RunContext, current_run, enter_run, exit_run
from .retries import OnRetry, RetryDelay, RetryPolicy, acall_with_retries, call_with_retries

log = logging.getLogger("flowrun.flow")

P = ParamSpec("P")
R = TypeVar("R")


class Flow(Generic[P, R]):
    def __init__(self, fn: Callable[P, R], *, name: str | None = None,
                 validate_parameters: bool = True, description: str | None = None,
                 retries: int = 0, retry_delay_seconds: RetryDelay = 0):
        self.fn = fn
        self.name = name or fn.__name__
        self.retry_policy = RetryPolicy.build(retries, retry_delay_seconds, self._retryable,
                                              owner=f"flow {self.name}")
        self.description = description or inspect.getdoc(fn) or ""
        self.validate_parameters = validate_parameters
        self.is_async = inspect.iscoroutinefunction(fn)
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"<Flow {self.name}>"

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

        def retrying(retry: int, exc: BaseException, delay: float) -> None:
            log.warning("flow %s failed (%s: %s); retry %d of %d in %g s", self.name,
                        type(exc).__name__, exc, retry, self.retry_policy.retries, delay)
            if ctx is not None:
                ctx.restart()
            if on_retry is not None:
                on_retry(retry, exc, delay)

        if self.is_async:
            return acall_with_retries(call, self.retry_policy, retrying)
        return call_with_retries(call, self.retry_policy, retrying)

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
def flow(*, name: str | None = None, validate_parameters: bool = True,
         description: str | None = None, retries: int = 0,
         retry_delay_seconds: RetryDelay = 0) -> Callable[[Callable[P, R]], Flow[P, R]]: ...


def flow(fn: Any = None, /, **options: Any) -> Any:
    """Decorate a function (sync or async) as a flow: `@flow` or `@flow(name=...,
    retries=2, retry_delay_seconds=30)`."""
    if fn is None:
        return lambda f: Flow(f, **options)
    return Flow(fn, **options)
