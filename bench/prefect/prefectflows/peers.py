"""The peers benchmark's workload for Prefect 3 (bench/peers.py --prefect): the same
trivial flow as benchflows.starts:quick and benchflows.pauses:pause_many."""
import json
import time

from prefect import flow, pause_flow_run, task


@task
def one_task(x: int) -> int:
    return x + 1


@flow
def quick(x: int = 1) -> dict:
    """Returns (and leaves in the pod's termination message) the time its code started."""
    started = time.time()
    result = {"started": started, "value": one_task(x)}
    try:
        with open("/dev/termination-log", "w") as handle:
            handle.write(json.dumps(result))
    except OSError:
        pass
    return result


@flow
def pause_many(count: int = 10) -> int:
    """Pauses `count` times (Prefect's default: the flow's process waits, polling the
    server); after each resume prints the wall-clock time at once."""
    for i in range(1, count + 1):
        pause_flow_run(timeout=600)
        print(f"RESUMED pause-{i} {time.time():.6f}", flush=True)
    return count
