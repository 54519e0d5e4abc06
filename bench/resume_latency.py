"""Benchmark: how fast a resume reaches paused flow code, and what a paused runner costs.

1. Resume latency: a flow pauses 30 times; each time the benchmark patches
   spec.state=Running and notes the time; the flow prints the time on the line right
   after pause_flow_run returns. Same machine, same clock. Target: median <= 100 ms,
   p95 <= 300 ms.
2. Paused footprint: RSS and CPU time of the runner process while paused for 60 s,
   read from /proc on this node (the test cluster is a single local node).
   Target: <= 60 MB, ~0 CPU.

Run: .venv/bin/python bench/resume_latency.py [--pauses 30] [--idle 60]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from common import Setup, ours, print_table

from cluster import kubectl, wait_for
from flowrun.kube import Kube


def fr(ns: str, name: str) -> dict:
    return json.loads(kubectl("get", "fr", name, "-o", "json", namespace=ns).stdout)


def paused_at(ns: str, name: str, key: str) -> bool:
    status = fr(ns, name).get("status") or {}
    return (status.get("phase") == "Paused" and (status.get("pause") or {}).get("key") == key
            and fr(ns, name)["spec"]["state"] == "Paused")


def runner_pid(run: str) -> int:
    """The runner process of `run` on this node (its environment names the run)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if f"FLOWRUN_NAME={run}".encode() in env and b"flowrun.runner" in cmd:
            return int(pid)
    raise RuntimeError(f"no runner process for {run} on this node")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pauses", type=int, default=30)
    parser.add_argument("--idle", type=float, default=60.0, help="seconds to watch a paused runner")
    args = parser.parse_args()
    with Setup() as env:
        ns, name = env.namespace, "latency"
        manifest = {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun", "metadata": {"name": name},
                    "spec": {"flow": "benchflows.pauses:pause_many", "parameters": {"count": args.pauses}}}
        kubectl("apply", "-f", "-", namespace=ns, input=json.dumps(ours(manifest)))
        api = Kube()  # the patch is timed from just before the API call
        patched: dict[str, float] = {}
        rss, cpu = [], []
        for i in range(1, args.pauses + 1):
            key = f"pause-{i}"
            wait_for(lambda: paused_at(ns, name, key), timeout=120, interval=0.05, what=f"{key}")
            if i == 1:
                pid = runner_pid(name)
                cpu0, t0 = cpu_seconds(pid), time.time()
                for _ in range(int(args.idle)):
                    time.sleep(1)
                    rss.append(rss_mb(pid))
                cpu.append(100 * (cpu_seconds(pid) - cpu0) / (time.time() - t0))
            time.sleep(0.2)  # let the runner settle into its wait
            patched[key] = time.time()
            api.patch_flowrun(ns, name, {"spec": {"state": "Running"}})
        wait_for(lambda: (fr(ns, name).get("status") or {}).get("phase") == "Completed", timeout=120,
                 what="the flow to complete")
        log = kubectl("logs", f"job/{name}-1", namespace=ns).stdout
        resumed = {parts[1]: float(parts[2]) for parts in (l.split() for l in log.splitlines())
                   if len(parts) == 3 and parts[0] == "RESUMED"}
        latencies = [1000 * (resumed[k] - patched[k]) for k in patched if k in resumed]
        print_table("flowrun resume latency and paused footprint", [
            ("resume patch -> code after pause_flow_run", latencies, "ms", "median <= 100, p95 <= 300"),
            (f"paused runner RSS, sampled 1/s over {args.idle:.0f} s", rss, "MB", "<= 60"),
            (f"paused runner CPU over {args.idle:.0f} s", cpu, "%", "~0"),
        ])


if __name__ == "__main__":
    main()
