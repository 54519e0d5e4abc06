"""Where a run's first second goes, stage by stage, in real pods on the local cluster
(issue 27, item 4: "start the flow sooner in the pod").

The same trivial flow (`benchflows.starts:staged`) as a bare Job (peers.py's: the bench
image, the runner's pod shape, the flow called by `python -c`) and as FlowRuns (a shared
claim; with `--variants`, the default per-run claim too), one run at a time, alternating.
Each pod carries PYTHONPATH=/app/benchstages (through spec.template's env, which any
FlowRun may set), so its interpreter loads bench/flows/benchstages/sitecustomize.py: a
stopwatch that only notes times (the process's start from /proc, 10 ms resolution; the
interpreter ready; the runner imported; the FlowRun read; the watch connected; the flow's
module imported; the `Running` write sent and answered); the flow returns them with the
time its code started. The benchmark's own watch notes when each pod object appears.
One clock: the cluster runs on this machine.

Stages (each: median and p95 over the runs, seconds from the previous stage):

  create -> pod object     the operator (its status write, the run's ServiceAccount,
                           Role, RoleBinding, Job) and the Job controller; a bare Job:
                           the Job controller only
  pod -> process start     the scheduler, the kubelet, the volumes, the container
  process -> interpreter   Python's own start (site)
  interpreter -> imported  `import flowrun.runner.main` (a bare Job: the flow's module)
  imported -> read         the runner's GET of its FlowRun
  read -> flow imported    the watch started (a thread), the cache, `spec.flow` imported
  flow imported -> code    the `Running` write (when it is on the critical path) and the
                           flow's call

Run (as root, on the local cluster):
  .venv/bin/python bench/runner_start.py [--runs 20] [--variants job,shared[,default]]
Not a test: nothing is asserted on time.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from common import machine, percentile  # noqa: E402
from peers import (BARE_LABEL, CLAIM, Audit, bare_job, client_of, delete_namespaces, flowrun, iso,  # noqa: E402
                   is_write, load, resource_of)

from cluster import ensure_cluster, is_local_cluster, kubectl, wait_for  # noqa: E402
from cluster.harness import IMAGE_TAG, ChartRights, OperatorProcess, build_flow_image, install_crd  # noqa: E402
from flowrun.kube import Kube  # noqa: E402

FLOW = "benchflows.starts:staged"
TEMPLATE = {"spec": {"containers": [{"env": [{"name": "PYTHONPATH", "value": "/app/benchstages"}]}]}}
BARE_CODE = ("import json\nfrom benchflows.starts import staged\n"
             "open('/dev/termination-log', 'w').write(json.dumps(staged(1)))\n")
POLL = 0.05

# (label, the stage it ends at, the stage it starts from); stamps missing in a variant
# (a bare Job has no runner) are skipped and the next stage counts from the last present.
STAGES = (
    ("create -> pod object", "pod"),
    ("pod -> process start", "proc"),
    ("process -> interpreter ready", "site"),
    ("interpreter -> flowrun.runner.main imported", "imported"),
    ("imported -> FlowRun read (GET; read while importing: waited for)", "read"),
    ("read -> flow's module imported", "flow_imported"),
    ("flow imported -> Running write sent", "running_sent"),
    ("Running write (sent -> answered)", "running"),
    ("-> flow code running", "code"),
)


def writes_to_pod(audit: Audit, namespace: str, runs: list[tuple[str, float]], known: dict[str, str],
                  end: float) -> dict[str, list[tuple[float, float]]]:
    """The API server's side of `create -> pod object` (its audit log, microseconds):
    every write on the run's objects from the user's create to the Job controller's
    create of the pod, as `client verb resource` -> [(received, after the create in
    ms; the request's own duration in ms)]. Runs go one at a time, so a write of the
    window whose object is named after the run (or unnamed: a pod's generateName) is
    the run's."""
    events = sorted((e for e in audit.events(f'"namespace":"{namespace}"', runs[0][1] - 1, end) if is_write(e)),
                    key=lambda e: iso(e["requestReceivedTimestamp"]))
    out: dict[str, list[tuple[float, float]]] = {}
    for i, (run, t0) in enumerate(runs):
        t_next = runs[i + 1][1] if i + 1 < len(runs) else end
        created = None
        for e in events:
            at = iso(e["requestReceivedTimestamp"])
            if not t0 - 0.5 <= at < t_next:
                continue
            name = (e.get("objectRef") or {}).get("name") or ""
            if name and not (name == run or name.startswith(run + "-") or name.startswith(run + ".")):
                continue
            who = client_of(e, namespace, known)
            what = f"{who} {e['verb']} {resource_of(e)}"
            if who == "user: create":
                created = at
                continue
            if created is None:
                continue
            took = iso(e["stageTimestamp"]) - at
            out.setdefault(what, []).append(((at - created) * 1000, took * 1000))
            if who == "job controller" and e["verb"] == "create" and resource_of(e) == "pods":
                break
    return out


class PodsSeen:
    """When each pod object first appeared (the benchmark's watch), by its Job's name."""

    def __init__(self, namespace: str):
        self.ns, self.seen, self._stop = namespace, {}, threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        from kubernetes import watch
        kube = Kube()
        while not self._stop.is_set():
            try:
                for event in watch.Watch().stream(kube.core.list_namespaced_pod, self.ns, timeout_seconds=60):
                    labels = event["object"].metadata.labels or {}
                    job = labels.get("batch.kubernetes.io/job-name") or labels.get("job-name")
                    if job:
                        self.seen.setdefault(job, time.time())
                    if self._stop.is_set():
                        return
            except Exception:  # noqa: BLE001 - watch again
                time.sleep(0.2)

    def stop(self) -> None:
        self._stop.set()


class Variant:
    def __init__(self, kube: Kube, namespace: str, name: str, image: str):
        self.kube, self.ns, self.name, self.image = kube, namespace, name, image
        self.pods = PodsSeen(namespace)

    def create(self, run: str) -> str:
        """Creates the run; returns its Job's name."""
        if self.name == "job":
            pull = "Never" if is_local_cluster() else "IfNotPresent"
            job = bare_job(run, self.ns, self.image, TEMPLATE, pull)
            job["spec"]["template"]["spec"]["containers"][0]["command"] = ["python", "-c", BARE_CODE]
            self.kube.create({**job, "metadata": {"name": run, "namespace": self.ns, "labels": {BARE_LABEL: "1"}}},
                             adopt_existing=False)
            return run
        self.kube.create_flowrun(self.ns, flowrun(run, self.name, TEMPLATE, FLOW))
        from flowrun.controller.resources import job_name
        return job_name(run, 1)

    def result(self, run: str) -> dict | None:
        if self.name == "job":
            import json
            for pod in self.kube.list("Pod", self.ns, f"job-name={run}"):
                for cs in (pod.get("status") or {}).get("containerStatuses") or []:
                    term = (cs.get("state") or {}).get("terminated") or {}
                    if term.get("exitCode") not in (None, 0):
                        raise RuntimeError(f"{run} failed: {term}")
                    if term.get("message"):
                        return json.loads(term["message"])
            return None
        st = (self.kube.get_flowrun(self.ns, run) or {}).get("status") or {}
        if st.get("phase") == "Failed":
            raise RuntimeError(f"FlowRun {run} failed: {st.get('message')}")
        return st.get("result") if st.get("phase") == "Completed" else None

    def one(self, run: str) -> dict[str, float]:
        """Each stamp, in seconds after the create call."""
        t0 = time.time()
        job = self.create(run)
        result = wait_for(lambda: self.result(run), timeout=300, interval=POLL, what=f"{run} done")
        wait_for(lambda: job in self.pods.seen or None, timeout=30, interval=POLL, what=f"{run}'s pod seen")
        stamps = {k: v for k, v in (result.get("stages") or {}).items() if v}
        stamps["code"] = result["started"]
        stamps["pod"] = self.pods.seen[job]
        return {k: v - t0 for k, v in stamps.items()}


def steps(stamps: dict[str, float]) -> dict[str, float]:
    """Each stage's duration: from the last stage present before it."""
    out, last = {}, 0.0
    for label, key in STAGES:
        if key in stamps:
            out[label] = stamps[key] - last
            last = stamps[key]
    if "watch" in stamps and "read" in stamps:
        out["(beside: read -> watch connected)"] = stamps["watch"] - stamps["read"]
    if "get_answered" in stamps and "site" in stamps:
        out["(beside: interpreter -> GET sent, read while importing)"] = stamps["read_sent"] - stamps["site"]
        out["(beside: GET sent -> answered, read while importing)"] = stamps["get_answered"] - stamps["read_sent"]
    out["create -> flow code running"] = stamps["code"]
    return out


def table(samples: dict[str, list[dict[str, float]]]) -> list[str]:
    variants = list(samples)
    labels = [label for label, _ in STAGES] + [
        "(beside: read -> watch connected)", "(beside: interpreter -> GET sent, read while importing)",
        "(beside: GET sent -> answered, read while importing)", "create -> flow code running"]
    out = ["| stage | " + " | ".join(f"{v}: median / p95 (ms)" for v in variants) + " |",
           "|---|" + "---|" * len(variants)]
    for label in labels:
        cells = []
        for v in variants:
            values = [s[label] * 1000 for s in samples[v] if label in s]
            cells.append(f"{statistics.median(values):.0f} / {percentile(values, .95):.0f}" if values else "-")
        if any(c != "-" for c in cells):
            bold = "**" if label.startswith("create -> flow") else ""
            out.append(f"| {bold}{label}{bold} | " + " | ".join(f"{bold}{c}{bold}" for c in cells) + " |")
    base = [s["create -> flow code running"] for s in samples.get("job", [])]
    if base:
        for v in variants:
            if v != "job":
                mine = [s["create -> flow code running"] for s in samples[v]]
                out.append(f"\n{v} / job, create -> flow code running: median "
                           f"{statistics.median(mine) / statistics.median(base):.2f}x, p95 "
                           f"{percentile(mine, .95) / percentile(base, .95):.2f}x")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="runs per variant, one at a time, alternating")
    parser.add_argument("--variants", default="job,shared", help="of job, shared, default")
    args = parser.parse_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]

    ensure_cluster()
    install_crd()
    report = [f"machine: {machine()}", f"nproc: {os.cpu_count()}",
              f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}"]
    print("\n".join(report), flush=True)
    image = build_flow_image(HERE / "flows", f"flowrun-runner-bench:{IMAGE_TAG}")
    prefix = f"starts-{os.getpid()}-"
    tmp = Path(tempfile.mkdtemp(prefix="flowrun-runner-start-"))
    rights = ChartRights(prefix, prefix + "*", tmp)
    op_config = rights.create()
    namespaces = {v: prefix + v for v in variants}
    for ns in namespaces.values():
        kubectl("create", "namespace", ns)
    if "shared" in namespaces:
        kubectl("apply", "-f", "-", namespace=namespaces["shared"], input=yaml.safe_dump({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": CLAIM},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}))
    for ns in namespaces.values():
        wait_for(lambda: kubectl("get", "serviceaccount", "default", namespace=ns, check=False).returncode == 0,
                 timeout=60, what=f"{ns}'s default ServiceAccount")
    op = OperatorProcess(tmp / "operator.log", image, namespaces=prefix + "*", KUBECONFIG=str(op_config),
                         FLOWRUN_OPERATOR_USER=rights.username, FLOWRUN_LEASE_NAMESPACE=rights.namespace,
                         FLOWRUN_LOG_LEVEL="WARNING")
    kube = Kube()
    clients = {v: Variant(kube, namespaces[v], v, image) for v in variants}
    print(f"logs: {tmp}", flush=True)
    samples: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    runs: dict[str, list[tuple[str, float]]] = {v: [] for v in variants}
    try:
        op.start()
        for v in variants:  # warm-up: the image in the page cache, the operator's watches open
            clients[v].one("warm-up")
        time.sleep(2)  # a pause for the machine after the warm-up, not a wait for anything
        before = load()
        for i in range(args.runs):
            k = i % len(variants)
            for v in variants[k:] + variants[:k]:
                runs[v].append((f"run-{i:02d}", time.time()))
                stamps = clients[v].one(f"run-{i:02d}")
                samples[v].append(steps(stamps))
            print(f"round {i}: " + ", ".join(f"{v} {samples[v][-1]['create -> flow code running']:.2f} s"
                                             for v in variants), flush=True)
        out = ["", f"### runner_start.py: {args.runs} runs per variant, one at a time, alternating "
                   f"(load average {before} before, {load()} after)", ""] + table(samples)
        print("\n".join(out), flush=True)
        report += out
        audit = Audit()
        if audit.available():
            audit.settle()  # every request of the runs above is in the log
            for v in variants:
                if v == "job":
                    continue
                path = writes_to_pod(audit, namespaces[v], runs[v], {rights.username: "operator"}, time.time())
                out = ["", f"{v}: the writes from the create to the pod's create (the API server's audit log; "
                           "ms after the create: median / p95; each request's own time: median)", "",
                       "| write | n | at (ms after the create) | took (ms) |", "|---|---|---|---|"]
                for what, xs in sorted(path.items(), key=lambda kv: statistics.median(x[0] for x in kv[1])):
                    at = [x[0] for x in xs]
                    out.append(f"| {what} | {len(xs)} | {statistics.median(at):.0f} / {percentile(at, .95):.0f} | "
                               f"{statistics.median(x[1] for x in xs):.1f} |")
                print("\n".join(out), flush=True)
                report += out
    finally:
        for c in clients.values():
            c.pods.stop()
        delete_namespaces(namespaces.values(), op, rights, timeout=600)
    print("\n\n# runner_start.py report\n" + "\n".join(report))


if __name__ == "__main__":
    main()
