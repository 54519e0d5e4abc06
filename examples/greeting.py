"""Scenario 8: wait for typed input. Resume with {"name": "Marvin"}; anything else is
rejected and the run stays paused.

    flowrun resume greet --input name=Marvin
"""
from flowrun import RunInput, flow, pause_flow_run, task


class UserNameInput(RunInput):
    name: str


@task
def make_greeting(name: str) -> str:
    return f"Hello, {name}!"


@flow
def greet_user() -> str:
    user = pause_flow_run(wait_for_input=UserNameInput, timeout=600)
    greeting = make_greeting(user.name)
    print(greeting, flush=True)
    return greeting
