"""One body for a sync and an async call (tasks, flows, retries, timeouts).

What a task or a flow does around its function (hooks, retries, the cache, the task
runner) is written once, as a generator that yields what it needs done and is sent the
outcome: `Timed` (call the function under a timeout) and `Sleep` (wait between retries).
Two drivers carry such a body out: `run` in the calling thread (a sync function), and
`arun` on the event loop (a coroutine function: the call is awaited, the sleep is
asyncio's). An exception of the effect is thrown into the body at its `yield`, so the
body's try/except/finally read exactly as they would in straight-line code.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar, Union

from .timeouts import acall_with_timeout, call_with_timeout

T = TypeVar("T")


@dataclass(frozen=True)
class Timed:
    """Call `fn` (for an async body it returns an awaitable) and give back what it
    returns, failing with TimeoutError after `seconds` of running time (None: never)."""
    fn: Callable[[], Any]
    seconds: float | None
    what: str


@dataclass(frozen=True)
class Sleep:
    seconds: float


Effect = Union[Timed, Sleep]
Body = Generator[Effect, Any, T]


def timed(fn: Callable[[], Any], seconds: float | None, what: str) -> Body[Any]:
    """A body of one effect: the call, under its timeout."""
    return (yield Timed(fn, seconds, what))


def _advance(body: Body[T], sent: Any, thrown: BaseException | None) -> tuple[bool, Any]:
    """Resume the body with an outcome: (True, what it returned) or (False, its next effect)."""
    try:
        return False, (body.send(sent) if thrown is None else body.throw(thrown))
    except StopIteration as stop:
        return True, stop.value


def run(body: Body[T]) -> T:
    """Carry the body out in this thread."""
    done, got = _advance(body, None, None)
    while not done:
        sent, thrown = None, None
        try:
            if isinstance(got, Sleep):
                time.sleep(got.seconds)
            else:
                sent = call_with_timeout(got.fn, got.seconds, got.what)
        except BaseException as exc:  # noqa: BLE001 - thrown into the body, which decides
            thrown = exc
        done, got = _advance(body, sent, thrown)
    result: T = got
    return result


async def arun(body: Body[T]) -> T:
    """Carry the body out on the event loop."""
    done, got = _advance(body, None, None)
    while not done:
        sent, thrown = None, None
        try:
            if isinstance(got, Sleep):
                await asyncio.sleep(got.seconds)
            else:
                sent = await acall_with_timeout(got.fn, got.seconds, got.what)
        except BaseException as exc:  # noqa: BLE001 - thrown into the body, which decides
            thrown = exc
        done, got = _advance(body, sent, thrown)
    result: T = got
    return result
