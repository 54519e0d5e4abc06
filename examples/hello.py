"""The smallest flow: no pauses, returns a value."""
from flowrun import flow, task


@task
def shout(text: str) -> str:
    return text.upper()


@flow
def hello(name: str = "world") -> dict:
    return {"greeting": shout(f"hello, {name}"), "length": len(name)}
