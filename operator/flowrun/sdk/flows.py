"""@flow: the function a FlowRun runs.

Under the operator, the runner enters the run's context and calls the flow with
`spec.parameters` (validated against the signature by pydantic). Called directly in
plain Python, a flow runs locally with an in-memory cache, so flows can be tried
without a cluster (pausing then explains that it needs a FlowRun).
"""
from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, TypeVar, overload

import pydantic

from .cache import MemoryCache
from .context import RunContext, current_run, enter_run, exit_run

P = ParamSpec("P")
R = TypeVar("R")


class Flow(Generic[P, R]):
    def __init__(self, fn: Callable[P, R], *, name: str | None = None,
                 validate_parameters: bool = True, description: str | None = None):
        self.fn = fn
        self.name = name or fn.__name__
        self.description = description or inspect.getdoc(fn) or ""
        self.validate_parameters = validate_parameters
        self.is_async = inspect.iscoroutinefunction(fn)
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"<Flow {self.name}>"

    @functools.cached_property
    def _validated(self) -> Callable[..., Any]:
        return pydantic.validate_call(self.fn) if self.validate_parameters else self.fn

    def call_with_parameters(self, parameters: dict[str, Any]) -> Any:
        """Call the function (inside an already entered run) with keyword parameters,
        validated and coerced to the annotated types. May return a coroutine."""
        return self._validated(**parameters)

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
            return self.fn(*args, **kwargs)
        finally:
            exit_run(token)

    async def _local_async(self, ctx: RunContext, args: tuple, kwargs: dict) -> Any:
        token = enter_run(ctx)
        try:
            return await self.fn(*args, **kwargs)  # type: ignore[misc]
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
         description: str | None = None) -> Callable[[Callable[P, R]], Flow[P, R]]: ...


def flow(fn: Any = None, /, **options: Any) -> Any:
    """Decorate a function (sync or async) as a flow: `@flow` or `@flow(name=...)`."""
    if fn is None:
        return lambda f: Flow(f, **options)
    return Flow(fn, **options)
