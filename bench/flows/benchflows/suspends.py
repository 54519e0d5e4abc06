"""Flows bench/suspend_resume.py runs.

Each prints `STARTED <attempt> <unix time>` as the first thing its code does, so the
benchmark can time "resume patch -> flow code running again" on the same clock. Task
bodies count their executions in a file on the run's cache volume, so a result can show
that a cached task did not run again after a resume.
"""
import time

from examples.suspending import count_body_run
from flowrun import flow, suspend_flow_run, task
from flowrun.runtime import flow_run


def _started() -> None:
    print(f"STARTED {flow_run.attempt} {time.time():.6f}", flush=True)


@task
def short_step(i: int, seconds: float) -> int:
    time.sleep(seconds)
    return i


@flow
def loop_steps(steps: int = 3000, seconds: float = 0.1) -> dict:
    """Many short tasks: something to suspend from outside at any moment."""
    _started()
    done = [short_step(i, seconds) for i in range(steps)]
    return {"steps": len(done), "attempt": flow_run.attempt}


@task
def slow_first(seconds: float) -> dict:
    runs = count_body_run("slow_first")
    time.sleep(seconds)
    return {"value": 42, "body_runs": runs}


@task
def quick_second(first: dict) -> int:
    return first["value"] + 1


@flow
def slow_then_suspend(seconds: float = 10.0) -> dict:
    """A 10 s first task, then suspends itself. Resumed, the task's stored result comes
    from the cache: `slow_first.body_runs` stays 1 and the resume costs no 10 s."""
    _started()
    first = slow_first(seconds)
    suspend_flow_run(timeout=3600)
    second = quick_second(first)
    return {"slow_first": first, "second": second, "attempt": flow_run.attempt}
