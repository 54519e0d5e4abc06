"""Benchmark: how fast a suspension tears a run down, and how fast a resume brings it back.

1. Suspend -> Job and pod gone: a flow loops over many 0.1 s tasks; the benchmark patches
   spec.state=Suspended and times until no Job and no pod labelled flowrun.io/run=<name>
   is left. Target: median <= 3 s.
2. Resume -> flow code running again: the same run, once Suspended, is patched back to
   Running; its flow prints `STARTED <attempt> <time>` as its first line, and the
   attempt-2 line's time minus the patch time is the sample. Target: <= 5 s (local image).
3. Resume of a flow whose first task takes 10 s and then suspends itself: resume patch ->
   Completed, and the pod start part of it (patch -> the runner's first log line, by the
   container runtime's timestamp), so "Completed <= 3 s beyond pod start" can be read
   off. Also shown: patch -> the pod reported Running (or already Succeeded) by the API,
   polled; the kubelet reports late, often after the runner has already completed.
   The 10 s task must not run again: each result's body-run counter (kept on the cache
   volume) must be 1 and the total well under 10 s; both are printed.

Each sample is a fresh FlowRun. Patches go through flowrun.kube.Kube().patch_flowrun,
timed right before the call; Kubernetes is polled every 50 ms. The cluster is local, so
the flow's clock is the benchmark's clock. Not a test: nothing is asserted on time.

Run: .venv/bin/python bench/suspend_resume.py [--runs 10]
"""
from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from typing import Any, Callable

from common import Setup, ours, print_table

from cluster import kubectl, wait_for
from flowrun.kube import Kube

POLL = 0.05


def manifest(name: str, flow: str, **parameters: Any) -> str:
    return json.dumps(ours({"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun", "metadata": {"name": name},
                            "spec": {"flow": flow, "parameters": parameters}}))


def poll(fn: Callable[[], Any], *, timeout: float, what: str) -> Any:
    return wait_for(fn, timeout=timeout, interval=POLL, what=what)


class Run:
    def __init__(self, api: Kube, ns: str, name: str):
        self.api, self.ns, self.name = api, ns, name

    def fr(self) -> dict:
        return self.api.get_flowrun(self.ns, self.name) or {}

    def phase(self) -> str | None:
        return (self.fr().get("status") or {}).get("phase")

    def children(self) -> tuple[list[dict], list[dict]]:
        selector = f"flowrun.io/run={self.name}"
        return self.api.list("Job", self.ns, selector), self.api.list("Pod", self.ns, selector)

    def pods(self, attempt: int) -> list[dict]:
        return self.api.list("Pod", self.ns, f"flowrun.io/run={self.name},flowrun.io/attempt={attempt}")

    def log(self, pod: str, timestamps: bool = False) -> str:
        try:
            resp = self.api.core.read_namespaced_pod_log(pod, self.ns, timestamps=timestamps,
                                                         _preload_content=False, _request_timeout=10)
        except Exception:  # noqa: BLE001 - the API thinks the container has not started yet
            return ""
        return resp.data.decode("utf-8", errors="replace")

    def started_at(self, attempt: int) -> float | None:
        """The time the flow code printed in attempt `attempt`, once it has."""
        for pod in self.pods(attempt):
            for line in self.log(pod["metadata"]["name"]).splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[0] == "STARTED" and parts[1] == str(attempt):
                    return float(parts[2])
        return None

    def first_log_line_at(self, attempt: int) -> float | None:
        """The container runtime's timestamp of the runner's first log line."""
        for pod in self.pods(attempt):
            first = self.log(pod["metadata"]["name"], timestamps=True).split("\n", 1)[0]
            if first.strip():
                return _rfc3339(first.split(" ", 1)[0])
        return None

    def patch_state(self, state: str) -> float:
        t = time.time()
        self.api.patch_flowrun(self.ns, self.name, {"spec": {"state": state}})
        return t

    def delete(self) -> None:
        self.api.delete_flowrun(self.ns, self.name)


def _rfc3339(value: str) -> float:
    """2026-01-02T03:04:05.123456789Z -> unix time (nanoseconds cut to microseconds)."""
    head, _, frac = value.rstrip("Z").partition(".")
    return datetime.fromisoformat(head + "+00:00").timestamp() + float("0." + (frac or "0")[:6])


def suspend_and_resume(run: Run) -> tuple[float, float]:
    """(suspend patch -> Job and pod gone, resume patch -> flow code running) in s."""
    poll(lambda: run.started_at(1), timeout=120, what=f"{run.name} to start")
    time.sleep(1.0)  # a few tasks in
    t_suspend = run.patch_state("Suspended")
    poll(lambda: not any(run.children()), timeout=60, what=f"{run.name}'s Job and pod to go")
    gone = time.time() - t_suspend
    poll(lambda: run.phase() == "Suspended", timeout=30, what=f"{run.name} to be Suspended")
    time.sleep(0.2)
    t_resume = run.patch_state("Running")
    started = poll(lambda: run.started_at(2), timeout=120, what=f"{run.name} attempt 2 to start")
    return gone, started - t_resume


def resume_to_completion(run: Run) -> dict[str, Any]:
    """Resume a run suspended by its own code; time the way to Completed."""
    t0 = run.patch_state("Running")
    pod_running = completed = None
    deadline = time.monotonic() + 120
    while completed is None or pod_running is None:
        if pod_running is None and any((p.get("status") or {}).get("phase") in ("Running", "Succeeded")
                                       for p in run.pods(2)):
            pod_running = time.time()
        if completed is None and run.phase() in ("Completed", "Failed"):
            completed = time.time()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{run.name} did not complete after its resume")
        time.sleep(POLL)
    fr = run.fr()
    # The runner can report Completed before the kubelet reports its container started;
    # until it does, the API refuses the log: wait for it.
    first_line = poll(lambda: run.first_log_line_at(2), timeout=30, what=f"{run.name}'s log")
    started = poll(lambda: run.started_at(2), timeout=30, what=f"{run.name}'s STARTED line")
    status = fr["status"]
    return {
        "phase": status["phase"], "result": status.get("result"),
        "pod_running": pod_running - t0,
        "first_log": first_line - t0,
        "flow_code": started - t0,
        "completed": completed - t0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="samples per measure")
    parser.add_argument("--slow-seconds", type=float, default=10.0, help="length of the first task in measure 3")
    args = parser.parse_args()
    with Setup() as env:
        ns, api = env.namespace, Kube()
        # Measure 3's runs work through their slow first task meanwhile, all at once.
        slow = [Run(api, ns, f"slow-{i}") for i in range(args.runs)]
        for run in slow:
            kubectl("apply", "-f", "-", namespace=ns, input=manifest(
                run.name, "benchflows.suspends:slow_then_suspend", seconds=args.slow_seconds))
        for run in slow:
            poll(lambda: run.phase() in ("Suspended", "Failed", "Completed"), timeout=300,
                 what=f"{run.name} to suspend itself")
            poll(lambda: not any(run.children()), timeout=60, what=f"{run.name}'s Job and pod to go")
            if run.phase() != "Suspended":
                raise RuntimeError(f"{run.name}: {run.fr().get('status')}")

        gone, back = [], []
        for i in range(args.runs):
            run = Run(api, ns, f"loop-{i}")
            kubectl("apply", "-f", "-", namespace=ns, input=manifest(run.name, "benchflows.suspends:loop_steps"))
            g, b = suspend_and_resume(run)
            gone.append(g)
            back.append(b)
            print(f"loop-{i}: suspend -> gone {g:.2f} s, resume -> flow code {b:.2f} s", flush=True)
            run.delete()

        outcomes = []
        for run in slow:
            time.sleep(0.5)
            out = resume_to_completion(run)
            outcomes.append(out)
            print(f"{run.name}: {out['phase']}, pod Running {out['pod_running']:.2f} s, first log line "
                  f"{out['first_log']:.2f} s, flow code {out['flow_code']:.2f} s, Completed "
                  f"{out['completed']:.2f} s; result {json.dumps(out['result'])}", flush=True)
            run.delete()

        body_runs = [((o["result"] or {}).get("slow_first") or {}).get("body_runs") for o in outcomes]
        not_rerun = all(o["phase"] == "Completed" and r == 1 for o, r in zip(outcomes, body_runs))
        ok = [o for o in outcomes if o["phase"] == "Completed"]
        print_table("flowrun suspend and resume", [
            ("1. suspend patch -> no Job and no pod", gone, "s", "median <= 3"),
            ("2. resume patch -> flow code running again", back, "s", "<= 5 (local image)"),
            ("3a. resume -> pod Running per API (polled)", [o["pod_running"] for o in ok], "s", "(kubelet report)"),
            ("3b. resume -> runner's first log line", [o["first_log"] for o in ok], "s", "(pod start)"),
            ("3c. resume -> flow code running again", [o["flow_code"] for o in ok], "s", ""),
            ("3d. resume -> Completed", [o["completed"] for o in ok], "s",
             f"well under the {args.slow_seconds:g} s task"),
            ("3e. Completed - first log line", [o["completed"] - o["first_log"] for o in ok], "s",
             "<= 3 beyond pod start"),
        ])
        print(f"\n3. the {args.slow_seconds:g} s first task's body ran once per run (cached on resume): "
              f"{'yes' if not_rerun else 'NO'}; body_runs per run: {body_runs}; "
              f"{len(ok)}/{len(outcomes)} runs Completed")


if __name__ == "__main__":
    main()
