"""Flows of the web UI's tests: a pause whose input model has every kind of field the
form generates, with a Markdown description that tries to run script; and a plain flow
that pauses twice (suspended and resumed from the page)."""
import time
from typing import Literal, Optional

from pydantic import BaseModel, Field

from flowrun import RunInput, flow, pause_flow_run, task

DESCRIPTION = """## Approve the payment

Check **the amount** against the [policy](https://example.com/policy).

<script>window.__pwned = "script"</script>
<img src="x" onerror="window.__pwned = 'onerror'">
[click me](javascript:window.__pwned='link')
"""


class Address(BaseModel):
    city: str = Field(title="City", description="where the invoice goes")
    zip: Optional[str] = None


class Approval(RunInput):
    approver: str = Field(title="Approver", description="who approves")
    amount: int = Field(gt=0, description="in euros, more than 0")
    rate: float = 1.5
    urgent: bool = False
    colour: Literal["red", "green"] = "green"
    address: Address
    tags: list[str] = []
    note: Optional[str] = None


@task
def prepare(amount: int) -> int:
    return amount


@flow
def approve_payment(amount: int = 100) -> dict:
    prepare(amount)
    answer = pause_flow_run(wait_for_input=Approval.with_initial_data(description=DESCRIPTION, amount=amount),
                            timeout=900)
    time.sleep(3)  # a moment of work after the answer: the page sees Running, then Completed
    return {"approver": answer.approver, "amount": answer.amount, "city": answer.address.city,
            "tags": answer.tags, "urgent": answer.urgent, "colour": answer.colour}


@flow
def pauses_twice() -> str:
    prepare(1)
    pause_flow_run(timeout=900)
    prepare(2)
    pause_flow_run(timeout=900)
    return "done"
