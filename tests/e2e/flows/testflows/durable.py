"""Flows for the durability tests: many pauses with sizeable inputs, many subflows with
large results, then a suspension, so the FlowRun's size bound is proven on a cluster."""
from flowrun import RunInput, flow, pause_flow_run, run_flow, suspend_flow_run, task
from flowrun.runtime import flow_run


class Blob(RunInput):
    data: str


@task
def step(x):
    return x


@flow
def big_result(i: int = 0) -> str:
    return f"{i:04d}" + "x" * (64000 - 4)


@flow
def many_pauses_and_subflows(pauses: int = 200, subflows: int = 50) -> dict:
    inputs = []
    for _ in range(pauses):
        inputs.append(pause_flow_run(wait_for_input=Blob, timeout=900).data)
    results = [run_flow(big_result, {"i": i}, as_subflow=True) for i in range(subflows)]
    suspend_flow_run(timeout=900)
    return {
        "attempt": flow_run.attempt,
        "inputs": len(inputs),
        "inputs_ok": all(len(d) == 10240 and d.startswith(f"{i:04d}") for i, d in enumerate(inputs)),
        "subflows": len(results),
        "subflows_ok": all(len(r) == 64000 and r.startswith(f"{i:04d}") for i, r in enumerate(results)),
    }
