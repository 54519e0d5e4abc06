"""A tiny extract-transform-load flow with a human approval step before the load."""
from flowrun import RunInput, flow, pause_flow_run, task


class Approval(RunInput):
    approve: bool
    comment: str = ""


@task
def extract(rows: int) -> list[dict]:
    return [{"id": i, "amount": i * 10} for i in range(rows)]


@task
def transform(records: list[dict]) -> dict:
    return {"count": len(records), "total": sum(r["amount"] for r in records)}


@flow
def nightly(rows: int = 5, ask: bool = False) -> dict:
    summary = transform(extract(rows))
    if ask:
        decision = pause_flow_run(wait_for_input=Approval, timeout=3600)
        if not decision.approve:
            return {**summary, "loaded": False, "comment": decision.comment}
    return {**summary, "loaded": True}
