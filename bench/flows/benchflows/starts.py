"""Flows bench/start_latency.py runs: as little as a flow can do, so the numbers are the
platform's (operator, Job, pod, runner start), not the flow's."""
import time

from flowrun import flow, task


@task
def one_task(x: int) -> int:
    return x + 1


@flow
def quick(x: int = 1) -> dict:
    """Returns the time its code started, on the benchmark's clock (same machine)."""
    started = time.time()
    return {"started": started, "value": one_task(x)}


@flow
def staged(x: int = 1) -> dict:
    """`quick`, and the stamps bench/runner_start.py's sitecustomize took in this
    process before the code started (empty without it)."""
    started = time.time()
    import sys
    stamps = dict(getattr(sys.modules.get("sitecustomize"), "STAMPS", None) or {})
    return {"started": started, "stages": stamps, "value": one_task(x)}
