"""Benchmark: how fast an input sent to a running flow reaches its receive_input loop.

A flow loops over receive_input(str); the benchmark sends N inputs one at a time with
send_input (noting the time just before the API call), letting the flow settle back
into its wait between sends; the flow prints the time each value is yielded. Same
machine, same clock. The path measured: the sender's create of the FlowRunInput -> the
operator's watch -> the operator's list of the run's pending inputs and its append to
the run's inbox page -> the runner's watch of that page -> the loop. Target: median
<= 50 ms, p95 <= 150 ms. Also the runner's CPU while it waits (a watch, no polling).
The path is split where the operator's page write returns (its log line names the keys
it delivered; the flow prints the key it got), to see which half the tail is in.

Run: .venv/bin/python bench/inputs_latency.py [--inputs 50] [--idle 20]
"""
from __future__ import annotations

import argparse
import json
import os
import time

from common import Setup, ours, print_table
from resume_latency import cpu_seconds, runner_pid

from cluster import kubectl, wait_for
from flowrun.input.run_input import send_input


def delivered_at(operator_log: str) -> dict[str, float]:
    """key -> when the operator's page write returned (its log line, in ms; the
    operator logs the keys it delivered, never the values)."""
    out: dict[str, float] = {}
    for line in operator_log.splitlines():
        if " input(s) delivered to page " not in line:
            continue
        stamp, rest = line[:23], line.rsplit(": ", 1)[-1]
        when = time.mktime(time.strptime(stamp[:19], "%Y-%m-%d %H:%M:%S")) + int(stamp[20:23]) / 1000
        for key in rest.split():
            out.setdefault(key, when)
    return out


def fr(ns: str, name: str) -> dict:
    return json.loads(kubectl("get", "fr", name, "-o", "json", namespace=ns).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=50)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds to watch the waiting runner's CPU")
    parser.add_argument("--gap", type=float, default=0.2, help="seconds between sends (the flow settles)")
    args = parser.parse_args()
    with Setup() as env:
        ns, name = env.namespace, "inputs"
        manifest = {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun", "metadata": {"name": name},
                    "spec": {"flow": "benchflows.inputs:receive_many", "parameters": {"count": args.inputs}}}
        kubectl("apply", "-f", "-", namespace=ns, input=json.dumps(ours(manifest)))
        wait_for(lambda: (fr(ns, name).get("status") or {}).get("receiving"), timeout=180, interval=0.05,
                 what="the flow waiting in receive_input")
        pid = runner_pid(name)
        cpu0, t0 = cpu_seconds(pid), time.time()
        time.sleep(args.idle)
        cpu = [100 * (cpu_seconds(pid) - cpu0) / (time.time() - t0)]
        load_before = os.getloadavg()
        sent: dict[str, float] = {}
        acked: list[float] = []
        send_input("warm-up", flow_run_id=name, namespace=ns, key_prefix="warm")  # the client, made once
        for i in range(args.inputs):
            value = f"m{i}"
            sent[value] = time.time()
            send_input(value, flow_run_id=name, namespace=ns)
            acked.append(1000 * (time.time() - sent[value]))
            time.sleep(args.gap)
        wait_for(lambda: (fr(ns, name).get("status") or {}).get("phase") == "Completed", timeout=180,
                 what="the flow to complete")
        log = kubectl("logs", f"job/{name}-1", namespace=ns).stdout
        received = {p[1]: (float(p[2]), p[3]) for p in (line.split() for line in log.splitlines())
                    if len(p) == 4 and p[0] == "RECEIVED"}
        written = delivered_at(env.operator.log_path.read_text(errors="replace"))
        latencies = [1000 * (received[v][0] - sent[v]) for v in sent if v in received]
        to_page = [1000 * (written[received[v][1]] - sent[v]) for v in sent
                   if v in received and received[v][1] in written]
        to_flow = [1000 * (received[v][0] - written[received[v][1]]) for v in sent
                   if v in received and received[v][1] in written]
        print_table("flowrun send_input -> receive_input latency", [
            ("send_input -> the flow's loop yields it", latencies, "ms", "median <= 50, p95 <= 150"),
            ("send_input returns (the input is stored)", acked, "ms", ""),
            ("send_input -> the operator wrote the page", to_page, "ms", ""),
            ("the page written -> the flow's loop yields it", to_flow, "ms", ""),
            (f"waiting runner CPU over {args.idle:.0f} s", cpu, "%", "~0"),
        ])
        print(f"load average (1/5/15 min) when sending: {load_before[0]:.2f} {load_before[1]:.2f} "
              f"{load_before[2]:.2f}; received {len(latencies)}/{args.inputs}")


if __name__ == "__main__":
    main()
