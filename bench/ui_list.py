"""The web UI's list page with 1,000 FlowRuns: server time, median and p95.

The runs are created as admin in a namespace no operator watches (`ui-bench-<pid>`), and
their statuses set through the status subresource: varied phases, one in ten waiting for
a person (Paused or Suspended at a pause with an input schema). The UI app runs
in-process (Starlette's test client: no network between client and server, so the time
is the server's). The first page starts the person's cache of the namespace (one list,
then a watch, as the person); every later page is filtered, sorted and rendered from it. Nothing here asserts a time; the table is printed.

    .venv/bin/python bench/ui_list.py            # [--runs 1000] [--samples 30]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.join(os.path.dirname(__file__)))
from common import ensure_cluster, install_crd, kubectl, ours, print_table  # noqa: E402

from flowrun.kube.client import Kube  # noqa: E402

PHASES = ["Completed"] * 5 + ["Running", "Failed", "Pending", "Cancelled"]
SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}, "amount": {"type": "integer"}},
          "required": ["ok"], "additionalProperties": False}


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def make(kube: Kube, namespace: str, i: int) -> None:
    name = f"run-{i:04d}"
    waiting = i % 10 == 0
    phase = ("Paused" if i % 20 == 0 else "Suspended") if waiting else PHASES[i % len(PHASES)]
    kube.create_flowrun(namespace, ours({
        "apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun",
        "metadata": {"name": name, "labels": {"team": ["a", "b", "c"][i % 3]}},
        "spec": {"flow": f"benchflows.many:flow_{i % 7}", "parameters": {"i": i},
                 **({"state": phase} if waiting else {})}}))
    now = datetime.now(timezone.utc)
    status = {"phase": phase, "attempt": 1, "message": f"{phase} run {i}",
              "history": [{"time": stamp(now), "action": "created", "by": "bench", "seq": 1}]}
    if waiting:
        status["pause"] = {"key": "pause-1", "kind": "Pause" if phase == "Paused" else "Suspend",
                           "since": stamp(now - timedelta(minutes=i % 60)),
                           "deadline": stamp(now + timedelta(hours=1)), "timeoutSeconds": 3600,
                           "inputSchema": SCHEMA, "description": "Approve **this**", "requestedBy": "flow"}
    if phase == "Completed":
        status["result"] = {"i": i, "ok": True}
    kube.patch_flowrun(namespace, name, {"status": status}, status=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    ensure_cluster()
    install_crd()
    from starlette.testclient import TestClient

    from flowrun.ui.app import Settings, create_app

    namespace = f"ui-bench-{os.getpid()}"
    kubectl("create", "namespace", namespace)
    try:
        kube = Kube()
        t0 = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda i: make(kube, namespace, i), range(args.runs)))
        print(f"created {args.runs} FlowRuns with statuses in {time.monotonic() - t0:.0f} s")
        app = create_app(Settings(auth="kubeconfig", namespaces=[namespace]), base=kube)
        rows = []
        api = []
        for _ in range(min(args.samples, 10)):
            t = time.perf_counter()
            assert len(kube.list_flowruns(namespace)) == args.runs
            api.append((time.perf_counter() - t) * 1000)
        rows.append((f"(for comparison) API list of the {args.runs} runs", api, "ms", "(information)"))
        with TestClient(app) as client:
            t = time.perf_counter()
            assert client.get("/").status_code == 200  # cold: the person's cache lists, then watches
            rows.append(("first list page (cold: the cache lists)", [(time.perf_counter() - t) * 1000], "ms",
                         "(information)"))
            for what, url in [("list page 1 (all runs, waiting first)", "/"),
                              ("list page 10", "/?page=10"),
                              ("list filtered: phase=Paused", "/?phase=Paused"),
                              ("list filtered: label team=a + text", "/?selector=team%3Da&q=run-01")]:
                samples = []
                for _ in range(args.samples):
                    t = time.perf_counter()
                    resp = client.get(url)
                    samples.append((time.perf_counter() - t) * 1000)
                    assert resp.status_code == 200 and "run-" in resp.text
                rows.append((what, samples, "ms", "< 300 ms"))
            body = client.get("/").text
            print(f"page 1: {len(body) // 1024} KiB, {body.count('data-run=')} rows "
                  f"({args.runs // 10} waiting + 50 of {args.runs})")
        print_table(f"UI list page, {args.runs} FlowRuns in one namespace, server time", rows)
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false")


if __name__ == "__main__":
    main()
