"""Scenarios 4 and 5: suspension tears the Job down; resume reruns the flow from the top
and finished tasks come from the result cache.

Each task body counts its executions in a file on the cache volume, so a test (or you)
can see that a cached task did not run again.
"""
import os
import time
from pathlib import Path

from flowrun import flow, suspend_flow_run, task
from flowrun.runtime import flow_run


def count_body_run(what: str) -> int:
    """Add one to the counter `what` on the run's volume; return the new value."""
    path = Path(os.environ.get("FLOWRUN_CACHE_DIR", "/tmp")) / "counters" / f"{flow_run.name}-{what}"
    path.parent.mkdir(parents=True, exist_ok=True)
    count = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(count))
    return count


@task
def expensive_step(seconds: float = 0.0) -> dict:
    runs = count_body_run("expensive_step")
    time.sleep(seconds)
    return {"value": 42, "body_runs": runs}


@task
def finish(first: dict) -> dict:
    return {"value": first["value"] + 1, "body_runs": count_body_run("finish")}


@flow
def suspend_after_one_task(seconds: float = 0.0) -> dict:
    first = expensive_step(seconds)
    suspend_flow_run(timeout=600)
    second = finish(first)
    return {"first": first, "second": second}


@task
def step(i: int, seconds: float) -> int:
    """Returns how many times this step's body has run (1 unless it ran again)."""
    runs = count_body_run(f"step-{i}")
    time.sleep(seconds)
    return runs


@flow
def many_steps(steps: int = 20, seconds: float = 1.0) -> dict:
    """Runs `steps` slow tasks: something to suspend (or pause) from outside. The
    result lists, per step, how many times its body ran before it was cached."""
    runs = [step(i, seconds) for i in range(steps)]
    return {"steps": len(runs), "body_runs": runs, "attempt": flow_run.attempt}
