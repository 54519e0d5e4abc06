"""What this cluster's API server sustains on its own: the floor under bench/scale.py.

    .venv/bin/python bench/api_floor.py        # [--objects 3000] [--threads 16]

No operator runs. `--threads` client threads (as scale.py creates its runs) make, one
kind at a time, `--objects` writes of each kind a run's life is made of, against
objects of its own namespace `floor-<pid>` (deleted at the end):

- create ConfigMap      (the cheapest object: the API server and etcd alone)
- create FlowRun        (our CRD: JSON, its OpenAPI schema; no webhook, none is set up here)
- patch FlowRun status  (a merge patch of the status subresource, as the operator and
                         the runner write it)
- create Event          (as the operator announces a run's history)

and prints the writes per second each sustained, with the load average and the machine.
Divided into the requests a burst costs per run (scale.py's "every client's requests
per run"), it says how fast this API server could take a burst if nothing else ran.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent / "operator"))

from common import machine, ours, percentile  # noqa: E402

from cluster import ensure_cluster, kubectl  # noqa: E402
from cluster.harness import install_crd  # noqa: E402


def timed(threads: int, items: list, fn) -> tuple[float, list[float]]:
    """(wall seconds for all, per-request seconds)."""
    each: list[float] = []

    def one(item) -> None:
        t0 = time.monotonic()
        fn(item)
        each.append(time.monotonic() - t0)
    start = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, items))
    return time.monotonic() - start, each


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    ensure_cluster()
    install_crd()
    from flowrun.kube import Kube
    kube = Kube()
    namespace, n = f"floor-{os.getpid()}", args.objects
    kubectl("create", "namespace", namespace)
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    rows = []
    try:
        def configmap(i: int) -> None:
            kube.core.create_namespaced_config_map(namespace, {"metadata": {"name": f"c{i:05d}"},
                                                               "data": {"k": "v"}})

        def flowrun(i: int) -> None:
            kube.create_flowrun(namespace, ours({"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun",
                                                 "metadata": {"name": f"f{i:05d}"},
                                                 "spec": {"flow": "bench.floor:flow"}}))

        def status(i: int) -> None:
            kube.patch_flowrun(namespace, f"f{i:05d}", {"status": {"phase": "Pending", "message": f"write {i}"}},
                               status=True)

        def event(i: int) -> None:
            kube.core.create_namespaced_event(namespace, {
                "metadata": {"generateName": f"f{i:05d}."},
                "involvedObject": {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun", "namespace": namespace,
                                   "name": f"f{i:05d}"},
                "reason": "Floor", "message": "a write the API server must take", "type": "Normal",
                "source": {"component": "api-floor"}})
        for what, fn in (("create ConfigMap", configmap), ("create FlowRun", flowrun),
                         ("patch FlowRun status", status), ("create Event", event)):
            wall, each = timed(args.threads, list(range(n)), fn)
            rows.append((what, n / wall, percentile(each, .5) * 1000, percentile(each, .95) * 1000))
            print(f"{what}: {n / wall:.0f}/s", flush=True)
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false", check=False)
    print(f"\nmachine: {machine()}\nload average at start: {load}\n{args.threads} client threads, "
          f"{n} writes of each kind\n")
    print("| write | per second | request p50 | request p95 |\n| --- | --- | --- | --- |")
    for what, rate, p50, p95 in rows:
        print(f"| {what} | {rate:.0f} | {p50:.0f} ms | {p95:.0f} ms |")


if __name__ == "__main__":
    main()
