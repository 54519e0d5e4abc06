"""Scenario 2: a conditional pause. Only payments above the limit wait for a person."""
from flowrun import flow, pause_flow_run, task


@task
def needs_review(amount: int, limit: int) -> bool:
    return amount > limit


@task
def pay(amount: int) -> str:
    return f"paid {amount}"


@flow
def approve_payment(amount: int, limit: int = 100) -> dict:
    reviewed = needs_review(amount, limit)
    if reviewed:
        pause_flow_run(timeout=600)
    return {"amount": amount, "reviewed": reviewed, "receipt": pay(amount)}
