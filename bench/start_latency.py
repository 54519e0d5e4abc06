"""Benchmark: how fast a new FlowRun starts and finishes, one at a time and in a burst.

1. One at a time (`--runs`, default 20): create a FlowRun of `benchflows.starts:quick`
   (one task) and time, from just before the create call:
   a. the operator's Job exists (polled every 50 ms);
   b. the flow's code starts (the flow returns its own `time.time()` at entry; the
      cluster is local, so it shares this clock);
   c. status.phase is Completed (polled).
2. A burst (`--burst`, default 20): create that many FlowRuns back to back, then time
   each one's create -> Completed, and the whole burst's makespan (first create -> last
   Completed), from which runs per minute follow.

Every run gets its own PVC, ServiceAccount, Role, RoleBinding and Job, as in production.
Not a test: nothing is asserted on time.

Run: .venv/bin/python bench/start_latency.py [--runs 20] [--burst 20]
"""
from __future__ import annotations

import argparse
import time

from common import Setup, ours, print_table

from cluster import wait_for
from flowrun.kube import Kube

POLL = 0.05
FLOW = "benchflows.starts:quick"


def body(name: str) -> dict:
    return {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun", "metadata": {"name": name},
            "spec": {"flow": FLOW, "parameters": {"x": 1}}}


def status(api: Kube, ns: str, name: str) -> dict:
    return (api.get_flowrun(ns, name) or {}).get("status") or {}


def finished(api: Kube, ns: str, name: str) -> dict | None:
    st = status(api, ns, name)
    if st.get("phase") == "Failed":
        raise RuntimeError(f"{name} failed: {st.get('message')}")
    return st if st.get("phase") == "Completed" else None


def one(api: Kube, ns: str, name: str) -> tuple[float, float, float]:
    t0 = time.time()
    api.create_flowrun(ns, ours(body(name)))
    wait_for(lambda: api.get("Job", ns, f"{name}-1"), timeout=60, interval=POLL, what=f"{name}'s Job")
    job = time.time() - t0
    st = wait_for(lambda: finished(api, ns, name), timeout=180, interval=POLL, what=f"{name} to complete")
    done = time.time() - t0
    return job, st["result"]["started"] - t0, done


def burst(api: Kube, ns: str, n: int) -> tuple[list[float], float]:
    names = [f"burst-{i}" for i in range(n)]
    created: dict[str, float] = {}
    for name in names:
        created[name] = time.time()
        api.create_flowrun(ns, ours(body(name)))
    done: dict[str, float] = {}
    deadline = time.monotonic() + 600
    while len(done) < n:
        for run in api.list_flowruns(ns):
            name, phase = run["metadata"]["name"], (run.get("status") or {}).get("phase")
            if name in created and name not in done:
                if phase == "Failed":
                    raise RuntimeError(f"{name} failed: {run['status'].get('message')}")
                if phase == "Completed":
                    done[name] = time.time()
        if time.monotonic() > deadline:
            raise RuntimeError(f"burst: only {len(done)}/{n} runs completed in 600 s")
        time.sleep(0.2)
    first = min(created.values())
    return [done[name] - created[name] for name in names], max(done.values()) - first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="sequential runs (measure 1)")
    parser.add_argument("--burst", type=int, default=20, help="FlowRuns created at once (measure 2)")
    args = parser.parse_args()
    with Setup() as env:
        ns, api = env.namespace, Kube()
        jobs, code, completed = [], [], []
        for i in range(args.runs):
            j, c, d = one(api, ns, f"one-{i}")
            jobs.append(j)
            code.append(c)
            completed.append(d)
            print(f"one-{i}: Job {j:.2f} s, flow code {c:.2f} s, Completed {d:.2f} s", flush=True)
            api.delete_flowrun(ns, f"one-{i}")
        wait_for(lambda: not api.list_flowruns(ns), timeout=120, what="the sequential runs to be deleted")

        per_run, makespan = burst(api, ns, args.burst)
        print(f"burst of {args.burst}: all Completed {makespan:.1f} s after the first create", flush=True)

        print_table("flowrun start latency", [
            ("1a. create -> Job exists", jobs, "s", ""),
            ("1b. create -> flow code running", code, "s", ""),
            ("1c. create -> Completed (one task)", completed, "s", ""),
            (f"2. burst of {args.burst}: create -> Completed", per_run, "s", ""),
        ])
        print(f"\n2. burst of {args.burst}: makespan {makespan:.1f} s "
              f"({args.burst / makespan * 60:.0f} runs per minute on this node)")


if __name__ == "__main__":
    main()
