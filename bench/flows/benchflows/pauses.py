import time

from flowrun import flow, pause_flow_run


@flow
def pause_many(count: int = 30) -> int:
    """Pauses `count` times; after each resume prints the wall-clock time at once, so the
    benchmark can measure patch -> flow code running again."""
    for i in range(1, count + 1):
        pause_flow_run(timeout=600)
        print(f"RESUMED pause-{i} {time.time():.6f}", flush=True)
    return count


@flow
def pause_once(timeout: int = 3600) -> str:
    """Pauses once, for as long as the caller likes (bench/token_rotation.py)."""
    pause_flow_run(timeout=timeout)
    return "resumed"
