import time

from flowrun import flow
from flowrun.input.run_input import receive_input


@flow
def receive_many(count: int = 50) -> int:
    """Receives `count` str inputs; prints the wall-clock time of each as soon as the loop
    yields it, so the benchmark can measure send -> flow code (bench/inputs_latency.py)."""
    got = 0
    for got_input in receive_input(str, timeout=600, with_metadata=True):
        print(f"RECEIVED {got_input.value} {time.time():.6f} {got_input.metadata.key}", flush=True)
        got += 1
        if got == count:
            break
    return got
