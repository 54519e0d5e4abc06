"""Retries of failed tasks and flows, as Prefect's `retries=` / `retry_delay_seconds=`.

A call that raises an Exception runs again, up to `retries` more times, after a delay:
`retry_delay_seconds` is one number for every retry, a list (the delay before the 1st,
2nd, ... retry; its last entry repeats), or a callable given `retries` that returns such
a list (`exponential_backoff(backoff_factor=...)`). `retry_condition_fn(exception)`
may decline a retry by returning False.

A pause, a suspension or the pod being stopped is control flow, not a failure: those
are BaseExceptions (flowrun.sdk.live.RunStopped) and are never retried, nor delayed.
"""
from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, Union

from .bodies import Body, Sleep

log = logging.getLogger("flowrun.retry")

T = TypeVar("T")

RetryDelay = Union[float, Sequence[float], Callable[[int], Sequence[float]]]
RetryCondition = Callable[[BaseException], bool]
# Told of every retry before its delay: (retry number from 1, the failure, the delay).
OnRetry = Callable[[int, BaseException, float], None]


def exponential_backoff(backoff_factor: float) -> Callable[[int], list[float]]:
    """For `retry_delay_seconds=`: delays of backoff_factor * 2**n before retry n+1
    (Prefect's `exponential_backoff`)."""
    if backoff_factor < 0:
        raise ValueError("backoff_factor must be >= 0")
    return lambda retries: [backoff_factor * 2 ** n for n in range(retries)]


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 0
    delays: tuple[float, ...] = (0.0,)
    condition: RetryCondition | None = None
    # Prefect's retry_jitter_factor: each delay is drawn from [d, d * (1 + factor)].
    jitter: float | None = None

    @classmethod
    def build(cls, retries: int | None, retry_delay_seconds: RetryDelay | None,
              retry_condition_fn: RetryCondition | None, *, owner: str,
              retry_jitter_factor: float | None = None) -> "RetryPolicy":
        """Checked at decoration time, so a typo fails when the module is imported, not
        on the first failure."""
        retries = 0 if retries is None else retries
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"{owner}: retries must be a whole number >= 0, not {retries!r}")
        value: Any = 0 if retry_delay_seconds is None else retry_delay_seconds
        if callable(value):
            value = value(retries)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            delays: tuple[float, ...] = (float(value),)
        elif isinstance(value, Sequence) and not isinstance(value, (str, bytes)) and value:
            delays = tuple(float(d) for d in value)
        else:
            raise ValueError(f"{owner}: retry_delay_seconds must be a number, a non-empty list "
                             f"of numbers or a callable returning one, not {value!r}")
        if any(d < 0 or math.isnan(d) or math.isinf(d) for d in delays):
            raise ValueError(f"{owner}: retry delays must be finite and >= 0, not {list(delays)}")
        if retry_condition_fn is not None and not callable(retry_condition_fn):
            raise ValueError(f"{owner}: retry_condition_fn must be callable")
        if retry_jitter_factor is not None and (isinstance(retry_jitter_factor, bool) or not isinstance(
                retry_jitter_factor, (int, float)) or not 0 <= retry_jitter_factor < math.inf):
            raise ValueError(f"{owner}: retry_jitter_factor must be a number >= 0, not {retry_jitter_factor!r}")
        return cls(retries, delays, retry_condition_fn, retry_jitter_factor)

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1, 2, ...)."""
        base = self.delays[min(retry, len(self.delays)) - 1]
        if self.jitter:
            return random.uniform(base, base * (1 + self.jitter))
        return base

    def wants_retry(self, retry: int, exc: BaseException) -> bool:
        """Should the failure `exc` be followed by retry number `retry`? (Only Exceptions
        get here: the loops below let BaseExceptions through untouched.)"""
        if retry > self.retries:
            return False
        if self.condition is None:
            return True
        try:
            return bool(self.condition(exc))
        except Exception:  # noqa: BLE001 - a broken condition must not hide the failure
            log.exception("retry_condition_fn raised; not retrying")
            return False


def retrying(attempt: Callable[[], Body[T]], policy: RetryPolicy, on_retry: OnRetry) -> Body[T]:
    """The body (sdk/bodies.py) of a call retried as `policy` says: `attempt()` is the body
    of one try; each retry is told to `on_retry` before its delay."""
    retry = 0
    while True:
        try:
            return (yield from attempt())
        except Exception as exc:
            retry += 1
            if not policy.wants_retry(retry, exc):
                raise
            delay = policy.delay(retry)
            on_retry(retry, exc, delay)
        yield Sleep(delay)
