import time

from flowrun import flow, task
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
