"""Flows of the web UI's tests: a pause whose input model has every kind of field the
form generates, with a Markdown description that tries to run script; a plain flow
that pauses twice (suspended and resumed from the page); and pauses for a choice (a
plain Literal or Enum, or a model with a choice and a free field) that branch on it."""
import time
from enum import Enum
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


class Verdict(str, Enum):
    APPROVE = "approve"
    REJECT = "reject"


class Review(RunInput):
    verdict: Verdict
    comment: str = Field(description="why, recorded with the answer")


@flow
def choose(as_enum: bool = False, approvers: Optional[list[str]] = None) -> dict:
    """Waits for a plain Literal["approve", "reject"] (or the Enum Verdict) and branches on it."""
    prepare(1)
    wanted = Verdict if as_enum else Literal["approve", "reject"]
    answer = pause_flow_run(wait_for_input=wanted, timeout=900, approvers=approvers)
    value = answer.value if isinstance(answer, Verdict) else answer
    if value == "approve":
        branch = "shipped"
    else:
        branch = "stopped"
    return {"decision": value, "member": isinstance(answer, Verdict), "branch": branch}


@flow
def review() -> dict:
    prepare(1)
    answer = pause_flow_run(wait_for_input=Review, timeout=900)
    return {"verdict": answer.verdict.name, "member": isinstance(answer.verdict, Verdict),
            "comment": answer.comment}
