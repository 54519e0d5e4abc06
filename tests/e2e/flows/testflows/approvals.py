"""A pause only two people of finance may answer together."""
from flowrun import RunInput, flow, pause_flow_run


class Payment(RunInput):
    ok: bool


@flow
def two_finance_approvals() -> bool:
    answer = pause_flow_run(wait_for_input=Payment, timeout=600, approvers=["group:finance"], approvals=2)
    return answer.ok
