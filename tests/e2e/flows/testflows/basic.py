import time

from flowrun import flow, pause_flow_run, task
from flowrun.runtime import flow_run


@task
def echo(x):
    return x


@flow
def returns_value(x: int = 1) -> dict:
    return {"x": echo(x), "attempt": flow_run.attempt, "name": flow_run.name}


@flow
def raises(message: str = "boom") -> None:
    echo(1)
    raise ValueError(message)


@flow
def sleeps(seconds: float = 5.0) -> str:
    echo("before")
    time.sleep(seconds)
    return echo("slept")


def say_cancelled(flow, flow_run, state):
    print(f"on_cancellation ran for {flow_run.name}: {state.message}", flush=True)


@flow(on_cancellation=[say_cancelled])
def sleeps_until_cancelled(seconds: float = 600.0) -> str:
    echo("before")
    time.sleep(seconds)
    return "slept"


@flow(on_cancellation=[say_cancelled])
def pauses_until_cancelled() -> None:
    echo("before")
    pause_flow_run(timeout=600)


@flow
def sleeps_then_pauses(seconds: float = 8.0) -> str:
    """A task, a sleep (the test takes the webhook away meanwhile), then a pause."""
    echo("before")
    time.sleep(seconds)
    pause_flow_run(timeout=600)
    return echo("resumed")
