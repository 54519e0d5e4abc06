"""Scenario 1: pause after the first task, resume to deliver the punchline.

    kubectl apply -f examples/manifests/joke.yaml
    kubectl patch fr joke --type merge -p '{"spec":{"state":"Running"}}'
"""
from flowrun import flow, pause_flow_run, task


@task
def get_setup(topic: str) -> str:
    return f"Why did the {topic} cross the road?"


@task
def get_punchline(setup: str) -> str:
    return "To get to the other side!"


@flow
def tell_joke(topic: str = "chicken") -> dict:
    setup = get_setup(topic)
    print(setup, flush=True)
    pause_flow_run(timeout=600)
    punchline = get_punchline(setup)
    print(punchline, flush=True)
    return {"setup": setup, "punchline": punchline}
