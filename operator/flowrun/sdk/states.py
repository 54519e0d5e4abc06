"""A small State, as Prefect's `return_state=True`, futures and hooks hand it out:
`is_completed()`, `is_failed()`, `is_cancelled()`, `result()`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

COMPLETED, FAILED, CANCELLED, RUNNING, PENDING = "COMPLETED", "FAILED", "CANCELLED", "RUNNING", "PENDING"


@dataclass(frozen=True)
class State:
    type: str
    message: str = ""
    data: Any = None  # the value when COMPLETED, the exception when FAILED / CANCELLED

    @property
    def name(self) -> str:
        return self.type.capitalize()

    def is_completed(self) -> bool:
        return self.type == COMPLETED

    def is_failed(self) -> bool:
        return self.type == FAILED

    def is_cancelled(self) -> bool:
        return self.type == CANCELLED

    def is_running(self) -> bool:
        return self.type == RUNNING

    def is_pending(self) -> bool:
        return self.type == PENDING

    def is_final(self) -> bool:
        return self.type in (COMPLETED, FAILED, CANCELLED)

    def result(self, raise_on_failure: bool = True) -> Any:
        """The value of a completed call; a failed one raises its exception (or, with
        `raise_on_failure=False`, returns it)."""
        if self.type in (FAILED, CANCELLED):
            if raise_on_failure and isinstance(self.data, BaseException):
                raise self.data
            return self.data
        if self.type != COMPLETED:
            raise RuntimeError(f"the call is {self.name}; it has no result yet")
        return self.data

    def __repr__(self) -> str:
        return f"{self.name}({self.message!r})" if self.message else f"{self.name}()"


def completed(value: Any) -> State:
    return State(COMPLETED, "", value)


def failed(exc: BaseException) -> State:
    return State(FAILED, f"{type(exc).__name__}: {exc}", exc)


def cancelled(exc: BaseException) -> State:
    return State(CANCELLED, str(exc) or "cancelled", exc)
