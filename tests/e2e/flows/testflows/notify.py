"""Flows of the notification tests (tests/e2e/test_notifications.py)."""
from flowrun import flow, pause_flow_run, task
from flowrun.input import RunInput


class Approval(RunInput):
    ok: bool


@task
def step(i: int) -> int:
    return i


@flow
def pauses_three_times() -> list[int]:
    done = []
    for i in range(1, 4):
        done.append(step(i))
        pause_flow_run(timeout=600, notify_message=f"step {i} of 3 needs a look")
    return done


@flow
def waits_for_approval(timeout: int = 600) -> bool:
    step(1)
    answer = pause_flow_run(wait_for_input=Approval, timeout=timeout, notify_message="Invoice 42 needs you")
    return answer.ok
