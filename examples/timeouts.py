"""Scenarios 3 and 6: pauses and suspensions nobody resumes.

`pause_and_wait(timeout=5)` fails after 5 s with "paused and never resumed";
`suspend_and_wait(timeout=5)` fails with "suspended and never resumed";
`suspend_without_timeout()` stays suspended until someone resumes it.
"""
from flowrun import flow, pause_flow_run, suspend_flow_run, task


@task
def prepare() -> str:
    return "prepared"


@flow
def pause_and_wait(timeout: int = 5) -> str:
    prepare()
    pause_flow_run(timeout=timeout)
    return "resumed in time"


@flow
def suspend_and_wait(timeout: int | None = 5) -> str:
    prepare()
    suspend_flow_run(timeout=timeout)
    return "resumed in time"


@flow
def suspend_without_timeout() -> str:
    prepare()
    suspend_flow_run(timeout=None)
    return "resumed in time"
