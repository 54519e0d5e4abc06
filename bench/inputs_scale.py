"""Benchmark: what thousands of inputs cost, and where they are kept (issue 24, "Scale").

1. One run receives `--inputs` (2,000) inputs, sent by `--senders` threads with
   send_input. The run is suspended (no pod: delivery does not need one; a resumed flow
   reads the same pages). Reported: how long until all are in the inbox, the FlowRun's
   size (it must not grow with inputs), each inbox page's size and entries, the
   FlowRunInputs left (0: delivered requests are deleted), the operator's RSS.
2. `--runs` (100) runs receive `--per-run` (20) inputs each, sent round-robin: the same
   figures, summed.
3. Every run is deleted: its pages go with it (owner references); the operator's RSS
   after (what it kept per run, a few integers, is dropped with the run; CPython keeps
   freed memory in its arenas, so RSS does not fall back to the start).

Run: .venv/bin/python bench/inputs_scale.py [--inputs 2000] [--runs 100] [--per-run 20]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

from common import Setup, machine, ours

from cluster import kubectl, wait_for
from flowrun.input.run_input import send_input


def rss_mib(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def get_json(*args: str, ns: str) -> dict:
    return json.loads(kubectl(*args, "-o", "json", namespace=ns).stdout)


def size(obj: dict) -> int:
    return len(json.dumps(obj, separators=(",", ":")).encode())


def suspended_run(ns: str, name: str) -> None:
    manifest = {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun", "metadata": {"name": name},
                "spec": {"flow": "benchflows.inputs:receive_many", "state": "Suspended",
                         "parameters": {"count": 1}}}
    kubectl("apply", "-f", "-", namespace=ns, input=json.dumps(ours(manifest)))


def pages(ns: str, selector: str | None = None) -> list[dict]:
    args = ["get", "flowruninboxes"] + (["-l", selector] if selector else [])
    return get_json(*args, ns=ns)["items"]


def entries(items: list[dict]) -> int:
    return sum(len(p["spec"].get("entries") or []) for p in items)


def send_all(ns: str, targets: list[str], senders: int) -> float:
    t0 = time.time()
    with ThreadPoolExecutor(max_workers=senders) as pool:
        for f in [pool.submit(send_input, f"v{i}", flow_run_id=t, namespace=ns) for i, t in enumerate(targets)]:
            f.result()
    return time.time() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--per-run", type=int, default=20)
    parser.add_argument("--senders", type=int, default=8)
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    with Setup() as env:
        ns = env.namespace
        assert env.operator.proc is not None
        pid = env.operator.proc.pid
        suspended_run(ns, "big")
        wait_for(lambda: (get_json("get", "fr", "big", ns=ns).get("status") or {}).get("phase") == "Suspended",
                 timeout=180, what="the run suspended")
        send_input("warm-up", flow_run_id="big", namespace=ns, key_prefix="warm")  # the client, made once
        wait_for(lambda: entries(pages(ns, "flowrun.io/run=big")) == 1, timeout=60, what="the first input")
        fr_before, rss0 = size(get_json("get", "fr", "big", ns=ns)), rss_mib(pid)
        rows.append(("operator RSS at the start (one run, one input)", f"{rss0:.1f} MiB"))
        load = os.getloadavg()

        # 1. thousands of inputs to one run
        took = send_all(ns, ["big"] * args.inputs, args.senders)
        t0 = time.time()
        wait_for(lambda: entries(pages(ns, "flowrun.io/run=big")) == args.inputs + 1, timeout=900, interval=1,
                 what=f"{args.inputs} inputs in the inbox")
        lag = time.time() - t0
        fr = get_json("get", "fr", "big", ns=ns)
        big = sorted(pages(ns, "flowrun.io/run=big"), key=lambda p: p["spec"]["page"])
        rows += [
            (f"{args.inputs} inputs sent ({args.senders} senders)", f"{took:.1f} s ({args.inputs / took:.0f}/s); "
             f"all in the inbox {lag:.1f} s after the last send returned"),
            ("FlowRun object before / after", f"{fr_before} / {size(fr)} bytes; status keys: "
             f"{', '.join(sorted(fr.get('status') or {}))}"),
            ("inbox pages", "; ".join(f"{p['metadata']['name']}: {len(p['spec']['entries'])} entries, "
                                      f"{size(p) / 1024:.0f} KiB, sealed={p['spec']['sealed']}" for p in big)),
            ("FlowRunInputs left", str(len(get_json("get", "flowruninputs", ns=ns)["items"]))),
            (f"operator RSS after {args.inputs} inputs", f"{rss_mib(pid):.1f} MiB"),
        ]

        # 2. hundreds of runs exchanging inputs
        names = [f"r{i:03d}" for i in range(args.runs)]
        for name in names:
            suspended_run(ns, name)
        wait_for(lambda: sum((f.get("status") or {}).get("phase") == "Suspended"
                             for f in get_json("get", "fr", ns=ns)["items"]) == args.runs + 1,
                 timeout=600, interval=1, what=f"{args.runs} runs suspended")
        rss_runs = rss_mib(pid)
        took = send_all(ns, [names[i % args.runs] for i in range(args.runs * args.per_run)], args.senders)
        t0 = time.time()
        total = args.inputs + 1 + args.runs * args.per_run
        wait_for(lambda: entries(pages(ns)) == total, timeout=900, interval=1, what="every input in its inbox")
        lag = time.time() - t0
        frs = [f for f in get_json("get", "fr", ns=ns)["items"] if f["metadata"]["name"] != "big"]
        small = [p for p in pages(ns) if p["spec"]["flowRun"] != "big"]
        rows += [
            (f"operator RSS with {args.runs} more runs (no input yet)", f"{rss_runs:.1f} MiB"),
            (f"{args.runs} runs x {args.per_run} inputs sent", f"{took:.1f} s "
             f"({args.runs * args.per_run / took:.0f}/s); all in their inboxes {lag:.1f} s after"),
            ("their FlowRun objects (max)", f"{max(size(f) for f in frs)} bytes"),
            ("their inbox pages", f"{len(small)} pages, max {max(size(p) for p in small) / 1024:.1f} KiB, "
                                  f"{entries(small)} entries"),
            (f"operator RSS after {args.runs * args.per_run} more inputs", f"{rss_mib(pid):.1f} MiB"),
        ]

        # 3. the runs go, and their inputs with them
        kubectl("delete", "fr", "--all", "--timeout=300s", namespace=ns, timeout=330)
        wait_for(lambda: not pages(ns), timeout=300, interval=1, what="the inbox pages deleted with their runs")
        rows.append(("after deleting every run: inbox pages / FlowRunInputs / operator RSS",
                     f"{len(pages(ns))} / {len(get_json('get', 'flowruninputs', ns=ns)['items'])} / "
                     f"{rss_mib(pid):.1f} MiB"))
    print(f"\nflowrun inputs at scale\nmachine: {machine()}\n"
          f"load average (1/5/15 min) when sending: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    print(f"| {'measure':<66} | result")
    print(f"|{'-' * 68}|-------")
    for what, result in rows:
        print(f"| {what:<66} | {result}")


if __name__ == "__main__":
    main()
