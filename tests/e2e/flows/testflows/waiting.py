"""Flows for issue 25, "While a run waits": what a deadline nobody answered does
(on_timeout), and pauses until a time."""
from __future__ import annotations

from flowrun import flow, pause_flow_run, suspend_flow_run, task
from flowrun.input import RunInput


class Amount(RunInput):
    amount: int = 0
    note: str = "nobody answered"


class NoDefault(RunInput):
    amount: int


@task
def prepare() -> str:
    return "prepared"


@flow
def pause_on_timeout(timeout: int = 5, on_timeout: str = "resume") -> dict:
    prepare()
    got = pause_flow_run(wait_for_input=Amount, timeout=timeout, on_timeout=on_timeout)  # type: ignore[arg-type]
    return {"amount": got.amount, "note": got.note}


@flow
def suspend_on_timeout(timeout: int = 5, on_timeout: str = "resume") -> dict:
    prepare()
    got = suspend_flow_run(wait_for_input=Amount, timeout=timeout, on_timeout=on_timeout)  # type: ignore[arg-type]
    return {"amount": got.amount, "note": got.note}


@flow
def resume_without_defaults() -> None:
    prepare()
    pause_flow_run(wait_for_input=NoDefault, timeout=60, on_timeout="resume")



@flow
def until_a_time(seconds: float = 20, suspend: bool = False) -> str:
    prepare()
    wait = suspend_flow_run if suspend else pause_flow_run
    wait(until=seconds)
    return "continued"


class Payment(RunInput):
    ok: bool


@flow
def escalating(escalate_after: int = 15) -> bool:
    """Two of finance must approve; after `escalate_after` seconds, sales may too."""
    answer = pause_flow_run(wait_for_input=Payment, timeout=600, approvers=["group:finance"], approvals=2,
                            escalate_after=escalate_after, escalate_to=["group:sales"])
    return answer.ok
