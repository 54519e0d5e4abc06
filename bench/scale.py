"""Thousands of FlowRuns on one operator: kwok plays the nodes and pods, a fake runner
process plays the runners (tests/cluster/kwok.py), the operator is the real one.

    .venv/bin/python bench/scale.py                       # bursts of 1000 and 5000, 1000 paused
    .venv/bin/python bench/scale.py --bursts 1000 --paused 0

For each burst of N FlowRuns created at once (16 client threads): create -> Job p50/p95,
makespan until every run is Completed, the operator's peak RSS and CPU, and the
operator's API requests per run by verb and resource (its own client-side count,
flowrun_api_requests_total: the API server's metrics do not say who sent a request, and
this cluster has no audit log). Then `--paused` runs that each block in the runner's own
pause code (LiveFlowRun.pause, one FlowRun watch per run, all in this process): the cost
of the operator's 60 s resync with that many live runs (requests and CPU in one idle
minute), and resume latency for `--resumes` random resumes (patch spec.state -> the
pause call returns in the fake runner).

Prints the tables with the machine, like the other benchmarks (bench/README.md).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent / "operator"))

from common import machine, ours, percentile  # noqa: E402

from cluster import ensure_cluster, kubectl, wait_for  # noqa: E402
from cluster.harness import OperatorProcess, free_port, install_crd  # noqa: E402
from cluster.kwok import FakeRunners, KwokNodes, operator_requests, run_template  # noqa: E402

EXCLUDED = ("jobs", "persistentvolumeclaims", "serviceaccounts", "roles", "rolebindings")
# With a shared claim the operator creates no claim: 4 objects per run, not 5.


class Sampler:
    """The operator process's RSS (peak) and CPU seconds, sampled every second."""

    def __init__(self, pid: int):
        self.pid, self.peak_rss, self._stop = pid, 0, threading.Event()
        self.cpu0 = self.cpu()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def cpu(self) -> float:
        fields = open(f"/proc/{self.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss(self) -> int:
        for line in open(f"/proc/{self.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.peak_rss = max(self.peak_rss, self.rss())

    def stop(self) -> tuple[float, int]:
        self._stop.set()
        self.peak_rss = max(self.peak_rss, self.rss())
        return self.cpu() - self.cpu0, self.peak_rss


class Watcher:
    """When each run first reaches a phase (an admin watch of the FlowRuns, raw JSON): progress."""

    def __init__(self, namespace: str):
        from flowrun.kube import Kube
        self.kube, self.namespace = Kube(), namespace
        self.phase_at: dict[str, dict[str, float]] = {}
        self._stop = threading.Event()
        threading.Thread(target=self._runs, daemon=True).start()

    def _runs(self) -> None:
        rv = None
        while not self._stop.is_set():
            try:
                for obj in self._stream(rv):
                    rv = obj["metadata"]["resourceVersion"]
                    phase = (obj.get("status") or {}).get("phase")
                    if phase:
                        self.phase_at.setdefault(obj["metadata"]["name"], {}).setdefault(phase, time.monotonic())
            except Exception:  # noqa: BLE001 - re-watch
                rv = None
                time.sleep(0.2)

    def _stream(self, rv):
        from flowrun.kube.rest import lines
        query = {"watch": "true", "allowWatchBookmarks": "false", "timeoutSeconds": "120"}
        if rv:
            query["resourceVersion"] = rv
        resp = self.kube.rest.stream(self.kube._path(self.namespace), query=query, read_timeout=150)
        for line in lines(resp):
            if line.strip():
                event = json.loads(line)
                if event.get("type") == "ERROR":  # e.g. 410 Gone: list again from now
                    raise RuntimeError(str(event.get("object")))
                if event.get("type") in ("ADDED", "MODIFIED"):
                    yield event["object"]

    def count(self, phase: str) -> int:
        return sum(1 for p in list(self.phase_at.values()) if phase in p)


SHARED_CLAIM = "scale-cache"
CLAIM = {"shared": True}  # --claim: one claim for every run (spec.cache.claimName), or one per run


def create_runs(namespace: str, names: list[str], node_id: str) -> dict[str, float]:
    from flowrun.kube import Kube
    kube, created = Kube(), {}
    cache = {"cache": {"claimName": SHARED_CLAIM}} if CLAIM["shared"] else {}

    def one(name: str) -> None:
        kube.create_flowrun(namespace, ours({"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun",
                                             "metadata": {"name": name},
                                             "spec": {"flow": "bench.fake:flow", "template": run_template(node_id),
                                                      **cache}}))
        created[name] = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, names))
    return created


def server_times(namespace: str) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Per run, from the objects themselves (the API server's clock, 1 s resolution): its
    creation, its first Job's creation, and its completionTime. A client-side watch of
    5,000 Jobs fell minutes behind (it decodes every object), so latencies come from here."""
    from datetime import datetime, timezone

    def stamp(text: str | None) -> float | None:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp() if text else None
    runs = json.loads(kubectl("get", "fr", "-o", "json", namespace=namespace, timeout=600).stdout)["items"]
    jobs = json.loads(kubectl("get", "jobs", "-l", "flowrun.io/run", "-o", "json", namespace=namespace,
                              timeout=600).stdout)["items"]
    created = {r["metadata"]["name"]: stamp(r["metadata"]["creationTimestamp"]) for r in runs}
    completed = {r["metadata"]["name"]: stamp((r.get("status") or {}).get("completionTime")) for r in runs
                 if (r.get("status") or {}).get("phase") == "Completed"}
    job_at: dict[str, float] = {}
    for job in jobs:
        run, at = job["metadata"]["labels"]["flowrun.io/run"], stamp(job["metadata"]["creationTimestamp"])
        job_at[run] = min(job_at.get(run, at), at)
    return created, job_at, completed


def reconcile_stats(url: str) -> tuple[float, float]:
    """(reconciles, seconds spent in them) so far, from flowrun_reconcile_seconds."""
    import urllib.request
    count = total = 0.0
    for line in urllib.request.urlopen(url, timeout=10).read().decode().splitlines():
        if line.startswith("flowrun_reconcile_seconds_count"):
            count = float(line.split()[-1])
        elif line.startswith("flowrun_reconcile_seconds_sum"):
            total = float(line.split()[-1])
    return count, total


def per_run(spent: Counter, n: int) -> list[str]:
    rows = []
    for (source, verb, resource), count in sorted(spent.items(), key=lambda kv: -kv[1]):
        if verb == "watch":
            continue
        rows.append(f"| {source} | {verb} | {resource} | {count / n:.2f} |")
    return rows


def apiserver_requests() -> "Counter[str]":
    """verb -> requests so far, all clients together (the API server's own
    apiserver_request_total; it does not say who sent them)."""
    out: Counter = Counter()
    for line in kubectl("get", "--raw", "/metrics", timeout=60).stdout.splitlines():
        if line.startswith("apiserver_request_total{"):
            labels, value = line[len("apiserver_request_total{"):].rsplit("} ", 1)
            verb = dict(part.split("=", 1) for part in labels.split('",') if "=" in part).get("verb", "").strip('"')
            out[verb] += float(value)
    return out


def burst(op: OperatorProcess, namespace: str, node_id: str, n: int, timeout: float) -> list[str]:
    out = [f"\n### Burst of {n} FlowRuns\n"]
    names = [f"b{n}-{i:05d}" for i in range(n)]
    watcher = Watcher(namespace)
    with FakeRunners(namespace, workers=64) as runners:
        before, everyone = operator_requests(op.metrics_url), apiserver_requests()
        rec_before = reconcile_stats(op.metrics_url)
        sampler = Sampler(op.proc.pid)
        start = time.monotonic()
        create_runs(namespace, names, node_id)
        created_all = time.monotonic() - start
        done = None
        try:
            wait_for(lambda: watcher.count("Completed") >= n or None, timeout=timeout, interval=1,
                     what=f"{n} runs Completed")
            done = time.monotonic()
        except Exception as exc:  # noqa: BLE001 - report what was measured
            out.append(f"NOT all Completed within {timeout:g} s: {watcher.count('Completed')} of {n} ({exc})\n")
        cpu, rss = sampler.stop()
        spent = operator_requests(op.metrics_url) - before
        everyone = apiserver_requests() - everyone
        rec_after = reconcile_stats(op.metrics_url)
        errors = list(runners.errors)
    reconciles, rec_seconds = rec_after[0] - rec_before[0], rec_after[1] - rec_before[1]
    born, job_at, done_at = server_times(namespace)
    first = min(born.values())
    to_job = [job_at[r] - born[r] for r in names if r in job_at and r in born]
    last_job = max(job_at.values(), default=first) - first
    completed = [done_at[r] for r in names if r in done_at]
    makespan = (max(completed) - first) if completed else float("nan")
    # the most runs live at once (created, not yet Completed): what the peak RSS was held at
    marks = sorted([(t, 1) for t in born.values()] + [(t, -1) for t in completed])
    live = peak_live = 0
    for _, step in marks:
        live += step
        peak_live = max(peak_live, live)
    total = sum(v for k, v in spent.items() if k[1] != "watch")
    excluded = sum(v for k, v in spent.items() if k[1] == "create" and k[2] in EXCLUDED)
    elapsed = (done or time.monotonic()) - start
    out += ["| measure | value |", "| --- | --- |",
            f"| all {n} created (16 client threads) | {created_all:.1f} s |",
            f"| create -> Job p50 / p95 (API server timestamps, 1 s) | {percentile(to_job, .5):.0f} s / "
            f"{percentile(to_job, .95):.0f} s (n={len(to_job)}) |",
            f"| last Job created after the first create | {last_job:.1f} s |",
            f"| makespan (first create -> all Completed) | {makespan:.1f} s ({len(completed)} Completed, "
            f"{len(completed) / makespan * 60 if completed else 0:.0f} runs/min) |",
            f"| operator peak RSS | {rss / 2**20:.0f} MB (at most {peak_live} runs live at once) |",
            f"| operator CPU | {cpu:.1f} s ({cpu / elapsed * 100:.0f} % of one core over {elapsed:.0f} s) |",
            f"| operator API requests per run (watches aside) | {total / n:.2f}, of which {excluded / n:.2f} create "
            f"the Job, (claim,) account, role, binding: {(total - excluded) / n:.2f} besides |",
            f"| every client's requests per run (the API server's count: operator, fake runners, Job "
            f"controller, scheduler, kwok, this benchmark) | {sum(everyone.values()) / n:.1f}: "
            + ", ".join(f"{verb} {count / n:.1f}" for verb, count in everyone.most_common() if count / n >= 0.05) + " |",
            f"| reconciles | {reconciles:.0f} ({reconciles / n:.1f} per run), mean {rec_seconds / max(reconciles, 1) * 1000:.0f} ms |",
            f"| fake runner errors | {len(errors)} {errors[:3]} |", "",
            "| source | verb | resource | per run |", "| --- | --- | --- | --- |", *per_run(spent, n)]
    return out


def paused(op: OperatorProcess, namespace: str, node_id: str, n: int, resumes: int, resync: float,
           timeout: float) -> list[str]:
    out = [f"\n### {n} paused runs, each held by a watch in the runner's pause code\n"]
    from flowrun.kube import Kube
    admin = Kube()
    names = [f"p{n}-{i:05d}" for i in range(n)]
    watcher = Watcher(namespace)
    with FakeRunners(namespace, mode="pause") as runners:
        created = create_runs(namespace, names, node_id)
        wait_for(lambda: watcher.count("Paused") >= n or None, timeout=timeout, interval=1, what=f"{n} runs Paused")
        time.sleep(5)  # let the pause's own events settle before the idle window
        before, sampler = operator_requests(op.metrics_url), Sampler(op.proc.pid)
        window = resync + 5
        time.sleep(window)  # an idle window that holds one whole resync of every live run
        cpu, rss = sampler.stop()
        idle = operator_requests(op.metrics_url) - before
        latencies, patched, seen, recorded = [], [], [], []
        before_resumes = operator_requests(op.metrics_url)
        for name in random.Random(1).sample(names, resumes):
            sent = time.monotonic()
            admin.patch_flowrun(namespace, name, {"spec": {"state": "Running"}})
            answered = time.monotonic()
            wait_for(lambda: name in runners.resumed_at or None, timeout=30, interval=0.005,
                     what=f"{name} resumed")
            latencies.append((runners.resumed_at[name] - sent) * 1000)
            patched.append((answered - sent) * 1000)
            seen.append((runners.resume_seen[name] - sent) * 1000)
            recorded.append((runners.resumed_at[name] - runners.resume_seen[name]) * 1000)
        during = operator_requests(op.metrics_url) - before_resumes
        errors = list(runners.errors)
    resumes_spent = ", ".join(f"{verb} {resource} {count / resumes:.2f}"
                              for (_source, verb, resource), count in sorted(during.items()) if verb != "watch")
    idle_total = sum(v for k, v in idle.items() if k[1] != "watch")
    out += ["| measure | value |", "| --- | --- |",
            f"| runs paused | {watcher.count('Paused')} of {n} (created in {max(created.values()) - min(created.values()):.0f} s) |",
            f"| resume -> pause call returns, p50 / p95 ({resumes} random) | {percentile(latencies, .5):.0f} ms / "
            f"{percentile(latencies, .95):.0f} ms |",
            f"| of which: the resume patch answered (admission webhooks included) | "
            f"{percentile(patched, .5):.0f} ms / {percentile(patched, .95):.0f} ms |",
            f"| of which: patch sent -> the run's watch brings it | "
            f"{percentile(seen, .5):.0f} ms / {percentile(seen, .95):.0f} ms |",
            f"| of which: watch event -> the resume recorded, the pause call returns | "
            f"{percentile(recorded, .5):.0f} ms / {percentile(recorded, .95):.0f} ms |",
            f"| operator requests per resume (verb, resource) | {resumes_spent or 'none'} |",
            f"| idle {window:.0f} s with {n} live runs (resync every {resync:g} s): operator requests | "
            f"{idle_total:.0f} ({idle_total / n:.2f} per run) |",
            f"| same window: operator CPU | {cpu:.1f} s ({cpu / window * 100:.0f} % of one core) |",
            f"| operator RSS | {rss / 2**20:.0f} MB |",
            f"| fake runner errors | {len(errors)} {errors[:3]} |"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", type=int, nargs="*", default=[1000, 5000])
    parser.add_argument("--paused", type=int, default=1000)
    parser.add_argument("--resumes", type=int, default=100)
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--resync", type=float, default=60.0)
    parser.add_argument("--timeout", type=float, default=900.0, help="per phase")
    parser.add_argument("--claim", choices=["shared", "per-run"], default="shared",
                        help="shared: every run on one claim (spec.cache.claimName); per-run: the "
                             "default of a FlowRun, one claim each (here bound by the cluster's "
                             "host-path provisioner, about 0.5 claims/s, which then dominates)")
    args = parser.parse_args()
    CLAIM["shared"] = args.claim == "shared"
    ensure_cluster()
    install_crd()
    tmp = Path(tempfile.mkdtemp(prefix="flowrun-scale-"))
    namespace, node_id = f"scale-{os.getpid()}", f"bench-{secrets.token_hex(3)}"
    port = free_port()
    op = OperatorProcess(tmp / "operator.log", "flowrun-runner:kwok-never-pulled", namespaces=namespace,
                         FLOWRUN_METRICS_PORT=str(port), FLOWRUN_RESYNC_SECONDS=str(args.resync),
                         FLOWRUN_LOG_LEVEL="WARNING")
    op.metrics_url = f"http://127.0.0.1:{port}/metrics"
    load = open("/proc/loadavg").read().split()[:3]
    report = [f"machine: {machine()}", f"load average at start: {' '.join(load)}", f"operator log: {tmp / 'operator.log'}"]
    kubectl("create", "namespace", namespace)
    if CLAIM["shared"]:
        import yaml
        kubectl("apply", "-f", "-", namespace=namespace, input=yaml.safe_dump({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": SHARED_CLAIM},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}))
    report.append(f"claims: {args.claim}")
    try:
        with KwokNodes(node_id, args.nodes, tmp / "kwok"):
            op.start()
            wait_for(lambda: _answers(op.metrics_url), timeout=60, what="operator metrics")
            _warm_up(namespace, node_id)  # the operator watches and has its client library loaded
            for n in args.bursts:
                report += burst(op, namespace, node_id, n, args.timeout)
                print("\n".join(report), flush=True)
                _clean(namespace)
            if args.paused:
                report += paused(op, namespace, node_id, args.paused, args.resumes, args.resync, args.timeout)
                _clean(namespace)
    finally:
        # The runs carry the operator's finalizer: it must still run while they go.
        kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        try:
            wait_for(lambda: not kubectl("get", "fr", "-o", "name", namespace=namespace, check=False).stdout.strip()
                     or None, timeout=600, interval=2, what="runs deleted")
        finally:
            op.stop()
    print("\n".join(report))


def _warm_up(namespace: str, node_id: str) -> None:
    watcher = Watcher(namespace)
    with FakeRunners(namespace):
        create_runs(namespace, ["warm-up"], node_id)
        wait_for(lambda: watcher.count("Completed") >= 1 or None, timeout=120, what="the warm-up run Completed")
    _clean(namespace)


def _answers(url: str) -> bool:
    try:
        operator_requests(url)
        return True
    except OSError:
        return False


def _clean(namespace: str) -> None:
    """Delete the runs while the operator still runs (its finalizer), and wait."""
    kubectl("delete", "fr", "--all", "--wait=false", namespace=namespace, check=False, timeout=600)
    wait_for(lambda: not json.loads(kubectl("get", "fr", "-o", "json", namespace=namespace).stdout)["items"] or None,
             timeout=900, interval=2, what="runs deleted")


if __name__ == "__main__":
    main()
