"""Retries, as in Prefect: `@task(retries=..., retry_delay_seconds=...)` and
`@flow(retries=...)`.

`upload_report` fetches a report, uploads it with a task that fails twice before it
succeeds (task retries), then publishes it with a task that fails the first time it is
called, which fails the flow (a flow retry). The retry runs the flow again from the top
in the same pod: the finished tasks return their stored results, so only `publish` runs
again. Each body counts its runs on the cache volume and the result shows the counts.
"""
from examples.suspending import count_body_run
from flowrun import flow, task
from flowrun.runtime import flow_run


@task
def fetch_report() -> dict:
    return {"rows": 128, "fetch_runs": count_body_run("fetch_report")}


@task(retries=2, retry_delay_seconds=[1, 2])
def upload(report: dict) -> dict:
    tries = count_body_run("upload")
    if tries < 3:
        raise ConnectionError(f"upload attempt {tries} failed: connection reset")
    return {"uploaded_rows": report["rows"], "upload_tries": tries}


@task
def publish(receipt: dict) -> int:
    calls = count_body_run("publish")
    if calls == 1:
        raise RuntimeError("search index not ready yet")
    return calls


@flow(retries=1, retry_delay_seconds=1)
def upload_report() -> dict:
    report = fetch_report()
    receipt = upload(report)
    publish_calls = publish(receipt)
    return {**report, **receipt, "publish_calls": publish_calls, "flow_run_count": flow_run.run_count}
