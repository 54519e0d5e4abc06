"""Flows written the Prefect way (issue 12), for tests/e2e/test_prefect_compat.py."""
import asyncio
import os
import uuid
from pathlib import Path

from flowrun import flow, task
from flowrun.flow_runs import pause_flow_run, suspend_flow_run
from flowrun.input import RunInput
from flowrun.logging import get_run_logger
from flowrun.task_runners import ThreadPoolTaskRunner


class UserInput(RunInput):
    name: str
    age: int


@flow(log_prints=True)
async def async_greeting() -> dict:
    """Pauses with `await`; a coroutine keeps ticking while the run is paused."""
    ticks = 0
    stop = asyncio.Event()

    async def ticker():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.05)

    background = asyncio.create_task(ticker())
    user = await pause_flow_run(wait_for_input=UserInput, timeout=300)
    stop.set()
    await background
    print(f"Hello, {user.name}!")
    return {"greeting": f"Hello, {user.name} ({user.age})!", "ticks_while_paused": ticks}


@flow
async def described_pause() -> str:
    description = "**Welcome!**\n\nPlease enter your details below:\n- **Name**: what should we call you?"
    user = await pause_flow_run(
        wait_for_input=UserInput.with_initial_data(description=description, name="anonymous"), timeout=300)
    get_run_logger().info("got %s", user)
    return "Hello, stranger!" if user.name == "anonymous" else f"Hello, {user.name}!"


def _executions_dir() -> Path:
    path = Path(os.environ.get("FLOWRUN_CACHE_DIR", "/cache")) / "executions"
    path.mkdir(parents=True, exist_ok=True)
    return path


@task
def work(i: int) -> int:
    # One file per execution of the body, on the run's cache volume (kept across Jobs).
    (_executions_dir() / f"{i}-{uuid.uuid4().hex}").touch()
    return i * i


@flow(task_runner=ThreadPoolTaskRunner(max_workers=4))
def twenty_submitted() -> dict:
    first = [work.submit(i) for i in range(10)]
    suspend_flow_run(timeout=600)
    second = [work.submit(i) for i in range(10, 20)]
    results = [f.result() for f in first + second]
    executions: dict[str, int] = {}
    for marker in _executions_dir().iterdir():
        i = marker.name.split("-")[0]
        executions[i] = executions.get(i, 0) + 1
    return {"results": results, "executions": executions}
