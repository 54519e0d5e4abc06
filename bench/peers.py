"""A FlowRun side by side with the bare Job it runs, in one run of this script.

The same trivial workload (`benchflows.starts:quick`: one task, returns the time its code
started) three ways, alternating so that the machine's load falls on all of them:

  job      a bare Job: the bench image, the runner's pod shape (security context, /tmp
           emptyDir, restartPolicy Never, backoffLimit 0), the flow called in-process by
           `python -c` (its result written to the termination message); no cache volume,
           the namespace's default ServiceAccount
  default  a FlowRun with its default cache: a claim of its own per run
  shared   a FlowRun on one shared claim (`spec.cache.claimName`)

Measures (each printed as median and p95 per variant, with the ratio to the bare Job):

  1. create -> code running, one run at a time (`--runs` per variant): the flow's own
     start time minus the time just before the create call (one clock: local cluster)
  2. a burst of `--burst` real pods created back to back -> all done (`--burst-rounds`
     rounds): makespan, and each run's create -> done. Done: the Job's Complete
     condition; the FlowRun's phase Completed (what the user waits for in each case)
  3. on kwok (fake nodes; tests/cluster/kwok.py): a burst of `--kwok` runs -> all done
     and create -> pod (p50, p95; the API server's timestamps, 1 s resolution), for the
     bare Job and the shared claim; the default claim with `--kwok-default` runs only
     (this cluster's host-path provisioner binds ~0.5 claims/s: 1,000 would take 30 min)
  4. every client's API requests per run, counted by the API server itself: its audit
     log (tests/cluster/audit-up.sh), by the namespace of each variant, attributed per
     client: the operator (its own ServiceAccount, the chart's rights), the runners (the
     run's ServiceAccount), the Job controller, the scheduler, the kubelet, other
     controllers (claims), kwok, the fake runner. The benchmark's own polling is shown
     apart and left out of the totals; its create of the Job or FlowRun is counted.

The benchmark's operator is a process on this machine, an instance of its own, with the
chart's rights (harness.ChartRights), watching only `peers-<pid>-*`; no admission webhook
(not in the API server's request count either way).

Run (as root, on the local cluster): .venv/bin/python bench/peers.py
  [--runs 20] [--burst 20] [--burst-rounds 3] [--kwok 1000] [--kwok-default 100] [--nodes 10]
Not a test: nothing is asserted on time.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from common import machine, ours, percentile  # noqa: E402

from cluster import ensure_cluster, is_local_cluster, kubectl, wait_for  # noqa: E402
from cluster.harness import IMAGE_TAG, ChartRights, OperatorProcess, build_flow_image, install_crd  # noqa: E402
from cluster.kwok import EXIT_ANNOTATION, FakeRunners, KwokNodes, run_template  # noqa: E402
from flowrun.kube import Kube  # noqa: E402

VARIANTS = ("job", "default", "shared")
KWOK_VARIANTS = ("job", "shared", "default")
FLOW = "benchflows.starts:quick"
CLAIM = "peers-cache"
BARE_LABEL = "peers.flowrun.io/bare"
POLL = 0.05
AUDIT_DIR = Path(os.environ.get("FLOWRUN_CLUSTER_STATE", "/var/lib/flowrun-cluster")) / "audit"
WRITES = {"create", "update", "patch", "delete", "deletecollection"}
# The bare Job's code: the same flow, called in-process (the SDK runs it locally), its
# result (with the time its code started) in the termination message.
BARE_CODE = ("import json\nfrom benchflows.starts import quick\n"
             "open('/dev/termination-log', 'w').write(json.dumps(quick(1)))\n")


# ---- the three workloads ------------------------------------------------------------------

def flowrun(name: str, variant: str, template: dict | None = None, flow: str = FLOW,
            parameters: dict | None = None) -> dict:
    spec: dict[str, Any] = {"flow": flow, "parameters": parameters or {"x": 1}}
    if variant == "shared":
        spec["cache"] = {"claimName": CLAIM}
    if template:
        spec["template"] = template
    return ours({"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun", "metadata": {"name": name}, "spec": spec})


def bare_job(name: str, namespace: str, image: str, template: dict | None = None, pull: str = "Never") -> dict:
    """The Job the operator would make for this run (controller/resources.py, same image
    and pod shape), as a user would write it without the operator: the namespace's
    default ServiceAccount, no cache volume, no runner, the flow called by `python -c`."""
    from flowrun.controller.resources import job, merge_template
    from flowrun.controller.settings import Settings
    stub = {"metadata": {"name": name, "namespace": namespace, "uid": "0"}, "spec": {"flow": FLOW}}
    out = job(stub, 1, Settings(runner_image=image, image_pull_policy=pull))
    out["metadata"] = {"name": name, "labels": {BARE_LABEL: "1"}}
    pod = out["spec"]["template"]
    pod["metadata"] = {"labels": {BARE_LABEL: "1"}}
    spec = pod["spec"]
    del spec["serviceAccountName"]
    spec["volumes"] = [v for v in spec["volumes"] if v["name"] != "cache"]
    container = spec["containers"][0]
    container["volumeMounts"] = [m for m in container["volumeMounts"] if m["name"] != "cache"]
    container["env"] = [e for e in container["env"] if not e["name"].startswith("FLOWRUN_")]
    container["command"] = ["python", "-c", BARE_CODE]
    if template:
        meta, spec = merge_template(pod["metadata"], spec, template)
        pod["metadata"], pod["spec"] = meta, spec
    return out


class Client:
    """Creates and watches runs of one variant in its namespace (as the admin)."""

    def __init__(self, kube: Kube, namespace: str, variant: str, image: str):
        self.kube, self.ns, self.variant, self.image = kube, namespace, variant, image
        self.count = 0  # runs created: one Job each

    def create(self, name: str, template: dict | None = None, flow: str = FLOW) -> None:
        self.count += 1
        if self.variant == "job":
            pull = "Never" if is_local_cluster() else "IfNotPresent"
            self.kube.create({**bare_job(name, self.ns, self.image, template, pull), "metadata": {
                "name": name, "namespace": self.ns, "labels": {BARE_LABEL: "1"}}}, adopt_existing=False)
        else:
            self.kube.create_flowrun(self.ns, flowrun(name, self.variant, template, flow))

    def done(self, name: str) -> dict | None:
        """The result (with `started`) once done, else None."""
        if self.variant == "job":
            job = self.kube.get("Job", self.ns, name) or {}
            st = job.get("status") or {}
            if st.get("failed"):
                raise RuntimeError(f"Job {name} failed: {st}")
            if not any(c.get("type") == "Complete" and c.get("status") == "True" for c in st.get("conditions") or []):
                return None
            return {"done": True}
        st = (self.kube.get_flowrun(self.ns, name) or {}).get("status") or {}
        if st.get("phase") == "Failed":
            raise RuntimeError(f"FlowRun {name} failed: {st.get('message')}")
        return st.get("result") if st.get("phase") == "Completed" else None

    def started(self, name: str, result: dict) -> float:
        if self.variant != "job":
            return float(result["started"])
        pods = self.kube.list("Pod", self.ns, f"job-name={name}")
        for pod in pods:
            for cs in (pod.get("status") or {}).get("containerStatuses") or []:
                message = ((cs.get("state") or {}).get("terminated") or {}).get("message")
                if message:
                    return float(json.loads(message)["started"])
        raise RuntimeError(f"no termination message in {name}'s pod")

    def all_done(self, names: set[str]) -> dict[str, bool]:
        """name -> done, one list call."""
        if self.variant == "job":
            items = self.kube.list("Job", self.ns, f"{BARE_LABEL}=1")
            out = {}
            for job in items:
                st = job.get("status") or {}
                if st.get("failed"):
                    raise RuntimeError(f"Job {job['metadata']['name']} failed")
                out[job["metadata"]["name"]] = any(c.get("type") == "Complete" and c.get("status") == "True"
                                                   for c in st.get("conditions") or [])
            return {n: out.get(n, False) for n in names}
        runs = {r["metadata"]["name"]: (r.get("status") or {}).get("phase") for r in self.kube.list_flowruns(self.ns)}
        failed = [n for n in names if runs.get(n) == "Failed"]
        if failed:
            raise RuntimeError(f"FlowRuns failed: {failed[:5]}")
        return {n: runs.get(n) == "Completed" for n in names}


# ---- 1. one at a time ---------------------------------------------------------------------

def one(client: Client, name: str) -> tuple[float, float]:
    t0 = time.time()
    client.create(name)
    result = wait_for(lambda: client.done(name), timeout=300, interval=POLL, what=f"{name} done")
    done = time.time() - t0
    return client.started(name, result) - t0, done


# ---- 2. a burst of real pods --------------------------------------------------------------

def jobs_complete(client: Any) -> int:
    return sum(1 for job in client.kube.list("Job", client.ns)
               if any(c.get("type") == "Complete" and c.get("status") == "True"
                      for c in (job.get("status") or {}).get("conditions") or []))


def burst(client: Any, prefix: str, n: int, timeout: float = 900) -> tuple[float, list[float], float]:
    names = [f"{prefix}-{i:02d}" for i in range(n)]
    created: dict[str, float] = {}
    for name in names:
        created[name] = time.time()
        client.create(name)
    done: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(done) < n:
        now = time.time()
        for name, ok in client.all_done(set(names) - set(done)).items():
            if ok:
                done[name] = now
        if time.monotonic() > deadline:
            raise RuntimeError(f"{prefix}: {len(done)}/{n} done after {timeout:g} s")
        time.sleep(0.2)
    # every Job of the namespace Complete (the pods exited, the Job controller saw it)
    while jobs_complete(client) < client.count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{prefix}: Jobs not Complete after {timeout:g} s")
        time.sleep(0.2)
    first = min(created.values())
    return max(done.values()) - first, [done[n_] - created[n_] for n_ in names], time.time() - first


# ---- 3. kwok ------------------------------------------------------------------------------

class BareExits:
    """For the bare Jobs on kwok: when a pod runs, its container 'exits' (the annotation
    kwok turns into Succeeded), as FakeRunners does for a runner that has reported."""

    def __init__(self, namespace: str):
        self.kube, self.ns, self.errors = Kube(), namespace, []
        self.handled: set[str] = set()
        self._stop = threading.Event()
        self.pool = ThreadPoolExecutor(16)
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        from kubernetes import watch
        while not self._stop.is_set():
            try:
                for event in watch.Watch().stream(self.kube.core.list_namespaced_pod, self.ns,
                                                  label_selector=BARE_LABEL, timeout_seconds=60):
                    pod = event["object"]
                    if self._stop.is_set():
                        return
                    if event["type"] == "DELETED" or pod.status.phase != "Running" or pod.metadata.uid in self.handled:
                        continue
                    self.handled.add(pod.metadata.uid)
                    self.pool.submit(self._exit, pod.metadata.name)
            except Exception:  # noqa: BLE001 - re-watch
                time.sleep(0.5)

    def _exit(self, pod: str) -> None:
        try:
            self.kube.core.patch_namespaced_pod(pod, self.ns, {"metadata": {"annotations": {EXIT_ANNOTATION: "0"}}})
        except Exception as exc:  # noqa: BLE001
            self.errors.append(f"{pod}: {exc}")

    def stop(self) -> None:
        self._stop.set()
        self.pool.shutdown(wait=False, cancel_futures=True)


def stamp(text: str | None) -> float | None:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp() if text else None


def kwok_done_count(client: Client) -> int:
    out = kubectl("get", "jobs" if client.variant == "job" else "fr", "-o",
                  "jsonpath={range .items[*]}{.status.completionTime}{'\\n'}{end}", namespace=client.ns,
                  timeout=120, check=False).stdout
    return sum(1 for line in out.splitlines() if line.strip())


def kwok_burst(client: Client, n: int, node_id: str, timeout: float) -> dict[str, Any]:
    names = [f"k{i:05d}" for i in range(n)]
    template = run_template(node_id)
    exits = BareExits(client.ns) if client.variant == "job" else None
    runners = FakeRunners(client.ns, workers=64).__enter__() if client.variant != "job" else None
    try:
        t0 = time.time()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda name: client.create(name, template, "bench.fake:flow"), names))
        created_all = time.time() - t0
        wait_for(lambda: kwok_done_count(client) >= n or None, timeout=timeout, interval=2,
                 what=f"{n} {client.variant} runs done on kwok")
        t_end = time.time()
        errors = (exits.errors if exits else runners.errors)[:3]
    finally:
        if exits:
            exits.stop()
        if runners:
            runners.__exit__(None, None, None)
    kind = "jobs" if client.variant == "job" else "fr"
    objs = json.loads(kubectl("get", kind, "-o", "json", namespace=client.ns, timeout=600).stdout)["items"]
    pods = json.loads(kubectl("get", "pods", "-o", "json", namespace=client.ns, timeout=600).stdout)["items"]
    born = {o["metadata"]["name"]: stamp(o["metadata"]["creationTimestamp"]) for o in objs}
    finished = [stamp((o.get("status") or {}).get("completionTime")) for o in objs]
    pod_at: dict[str, float] = {}
    for pod in pods:
        labels = pod["metadata"].get("labels") or {}
        run = labels.get("flowrun.io/run") or labels.get("job-name")
        at = stamp(pod["metadata"]["creationTimestamp"])
        if run and at is not None:
            pod_at[run] = min(pod_at.get(run, at), at)
    to_pod = [pod_at[r] - born[r] for r in names if r in pod_at and r in born]
    first = min(v for v in born.values() if v is not None)
    return {"n": n, "created_s": created_all, "makespan": max(f for f in finished if f) - first,
            "to_pod": to_pod, "window": (t0, t_end), "errors": errors}


# ---- 4. the API server's count ------------------------------------------------------------

def iso(text: str) -> float:
    return datetime.strptime(text[:26].rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp() \
        if "." in text else stamp(text)  # type: ignore[return-value]


class Audit:
    """Requests from the API server's audit log (tests/cluster/audit-up.sh)."""

    def __init__(self, directory: Path = AUDIT_DIR):
        self.dir = directory

    def available(self) -> bool:
        return (self.dir / "audit.log").exists()

    def settle(self, timeout: float = 60) -> None:
        """Wait until the log holds every request made before this call: the API server
        writes it in batches, so a marker request (a get of a ConfigMap that does not
        exist, with a name of its own) is made, and the log read until it shows it."""
        marker = f"flowrun-audit-mark-{secrets.token_hex(6)}"
        start = time.time() - 1
        kubectl("get", "configmap", marker, namespace="default", check=False)
        wait_for(lambda: self.events(marker, start, time.time() + 1) or None, timeout=timeout, interval=0.2,
                 what=f"the audit log to show the marker request {marker}")

    def events(self, needle: str, start: float, end: float) -> list[dict]:
        """Each request once (by auditID) received in [start, end] whose line has `needle`."""
        seen: set[str] = set()
        out = []
        for path in sorted(self.dir.glob("audit*.log")):
            with open(path, errors="replace") as handle:
                for line in handle:
                    if needle not in line:
                        continue
                    try:
                        event = json.loads(line)
                    except ValueError:
                        continue
                    if event.get("auditID") in seen:
                        continue
                    at = iso(event.get("requestReceivedTimestamp") or event.get("stageTimestamp"))
                    if at is None or not start <= at <= end:
                        continue
                    seen.add(event["auditID"])
                    out.append(event)
        return out


def client_of(event: dict, namespace: str, known: dict[str, str]) -> str:
    user = (event.get("user") or {}).get("username", "")
    agent = event.get("userAgent") or ""
    obj = event.get("objectRef") or {}
    if user in known:
        return known[user]
    if user.startswith(f"system:serviceaccount:{namespace}:"):
        return "runner"
    if user == "system:serviceaccount:kube-system:job-controller":
        return "job controller"
    if user.startswith("system:serviceaccount:kube-system:"):
        return "controller " + user.rsplit(":", 1)[1].replace("-controller", "")
    if user == "system:kube-scheduler":
        return "scheduler"
    if user.startswith("system:node:"):
        return "kubelet"
    if agent.startswith("kwok"):
        return "kwok"
    if user.startswith("system:"):
        return user
    # The admin: this benchmark (its create is the user's one request; the rest is its
    # polling) and, on kwok, the fake runners and the bare pods' exits.
    if event.get("verb") == "create" and obj.get("resource") in ("jobs", "flowruns") and not obj.get("subresource"):
        return "user: create"
    return "admin: bench/fake runner"


def is_write(event: dict) -> bool:
    return event.get("verb") in WRITES


def resource_of(event: dict) -> str:
    obj = event.get("objectRef") or {}
    res = obj.get("resource", "?")
    return f"{res}/{obj['subresource']}" if obj.get("subresource") else res


def api_counts(audit: Audit, namespace: str, start: float, end: float, known: dict[str, str],
               claims: set[str]) -> list[dict]:
    """Requests on objects of `namespace` (and the volumes of its claims) in the window."""
    events = audit.events(f'"namespace":"{namespace}"', start, end)
    if claims:
        events += [e for e in audit.events('"resource":"persistentvolumes"', start, end)
                   if (e.get("objectRef") or {}).get("name") in claims]
    for e in events:
        e["_client"] = client_of(e, namespace, known)
    return events


def claim_volumes(namespace: str) -> set[str]:
    out = kubectl("get", "pvc", "-o", "jsonpath={range .items[*]}{.metadata.uid}{'\\n'}{end}",
                  namespace=namespace, check=False).stdout
    return {f"pvc-{uid.strip()}" for uid in out.splitlines() if uid.strip()}


def counts_table(title: str, per_variant: dict[str, tuple[list[dict], int]], bench_apart: bool = True) -> list[str]:
    """Per client and variant: writes / reads per run; totals without the bench's polling."""
    lines = [f"\n{title}\n"]
    clients = sorted({e["_client"] for events, _ in per_variant.values() for e in events})
    head = "| client | " + " | ".join(f"{v} writes | {v} reads" for v in per_variant) + " |"
    lines += [head, "|" + "---|" * (1 + 2 * len(per_variant))]
    totals: dict[str, list[float]] = {v: [0.0, 0.0] for v in per_variant}
    for client in clients:
        row = [client]
        for v, (events, runs) in per_variant.items():
            mine = [e for e in events if e["_client"] == client]
            w = sum(1 for e in mine if is_write(e)) / runs
            r = sum(1 for e in mine if not is_write(e)) / runs
            row += [f"{w:.2f}", f"{r:.2f}"]
            if not (bench_apart and client == "admin: bench/fake runner"):
                totals[v][0] += w
                totals[v][1] += r
        lines.append("| " + " | ".join(row) + " |")
    label = "all clients" + (" but the bench's polling" if bench_apart else "")
    lines.append(f"| **{label}** | " + " | ".join(f"**{w:.2f}** | **{r:.2f}**" for w, r in totals.values()) + " |")
    base = totals.get("job")
    if base:
        lines.append("\nWrites per run beyond the bare Job's: " + ", ".join(
            f"{v} {w - base[0]:+.2f}" for v, (w, _r) in totals.items() if v != "job"))
    detail = []
    for v, (events, runs) in per_variant.items():
        spent = Counter((e["_client"], e["verb"], resource_of(e)) for e in events
                        if is_write(e) and not (bench_apart and e["_client"] == "admin: bench/fake runner"))
        detail.append(f"{v}: " + ", ".join(f"{c} {verb} {res} {k / runs:.2f}"
                                           for (c, verb, res), k in sorted(spent.items(), key=lambda kv: -kv[1])))
    lines += ["", "Writes per run by client, verb and resource:", *[f"- {d}" for d in detail]]
    return lines



# ---- Prefect 3 and its Kubernetes worker (--prefect VENV) -------------------------------

class PrefectPeer:
    """A local Prefect server (SQLite, in a temporary PREFECT_HOME) on this machine's
    node address (the pods reach it there), a Kubernetes work pool, a worker process
    (`prefect worker start`, Prefect's defaults: it polls for scheduled runs every 10 s)
    with a ServiceAccount's token of its own (so the audit log names it), and the
    deployments of bench/prefect/prefectflows/peers.py in an image built from the
    cluster's Python base image and the venv's packages. The flow pod runs
    `python3 -m prefect.engine` (what `prefect flow-run execute` does)."""

    def __init__(self, venv: Path, namespace: str, tmp: Path, prefix: str):
        self.venv, self.ns, self.tmp, self.prefix = venv, namespace, tmp, prefix
        self.procs: list[subprocess.Popen] = []
        self.retries = 0
        self.user = f"system:serviceaccount:{namespace}:prefect-worker"

    def start(self) -> "PrefectPeer":
        from cluster import ensure_base_image, load_image
        from cluster.harness import free_port
        base = ensure_base_image()
        site = self.venv.parent / "site"  # `pip install --target site prefect prefect-kubernetes`
        if not site.is_dir():
            raise RuntimeError(f"{site} missing: pip install --target {site} prefect prefect-kubernetes")
        ctx = self.tmp / "prefect-image"
        ctx.mkdir()
        subprocess.run(["cp", "-al", str(site), str(ctx / "site")], check=True)  # hard links: no copy
        subprocess.run(["cp", "-r", str(HERE / "prefect" / "prefectflows"), str(HERE / "prefect" / "Dockerfile"),
                        str(ctx)], check=True)
        self.image = f"flowrun-prefect-peers:{IMAGE_TAG}"
        subprocess.run(["docker", "build", "--quiet", "--build-arg", f"BASE={base}", "-t", self.image, str(ctx)],
                       check=True, stdout=subprocess.DEVNULL)
        load_image(self.image)
        host = os.environ.get("FLOWRUN_NODE_IP", "10.250.0.1")
        port = free_port()
        self.api = f"http://{host}:{port}/api"
        home = self.tmp / "prefect-home"
        home.mkdir()
        self.env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": self.api,
                    "PREFECT_UI_ENABLED": "false", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        self._spawn("prefect-server", [str(self.venv / "bin" / "prefect"), "server", "start", "--host", host,
                                       "--port", str(port)])
        wait_for(lambda: self._get("/health") is True, timeout=120, interval=1, what="the Prefect server")
        # the worker's identity: a ServiceAccount with cluster-admin (it needs jobs, pods,
        # events, the kube-system namespace's uid)
        kubectl("create", "serviceaccount", "prefect-worker", namespace=self.ns)
        kubectl("create", "clusterrolebinding", f"{self.prefix}prefect-worker", "--clusterrole=cluster-admin",
                f"--serviceaccount={self.ns}:prefect-worker")
        token = kubectl("create", "token", "prefect-worker", f"--duration={24 * 3600}s", namespace=self.ns).stdout.strip()
        admin = yaml.safe_load(kubectl("config", "view", "--raw", "--minify", "--flatten").stdout)
        config = self.tmp / "prefect-worker-kubeconfig.yaml"
        config.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "clusters": [admin["clusters"][0]],
            "users": [{"name": "prefect-worker", "user": {"token": token}}],
            "contexts": [{"name": "w", "context": {"cluster": admin["clusters"][0]["name"], "user": "prefect-worker"}}],
            "current-context": "w"}))
        pool = f"{self.prefix}pool"
        out = subprocess.run([str(self.venv / "bin" / "python"), "deploy.py", pool, self.ns, self.image, self.api],
                             cwd=HERE / "prefect", env=self.env, capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise RuntimeError(f"Prefect deployments: {out.stderr[-2000:]}")
        self.deployments = json.loads(out.stdout.strip().splitlines()[-1])
        self._spawn("prefect-worker", [str(self.venv / "bin" / "prefect"), "worker", "start", "--pool", pool,
                                       "--type", "kubernetes"], KUBECONFIG=str(config))
        return self

    def _spawn(self, name: str, cmd: list[str], **env: str) -> None:
        with open(self.tmp / f"{name}.log", "ab") as log:
            self.procs.append(subprocess.Popen(cmd, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT,
                                               start_new_session=True))

    def _get(self, path: str) -> Any:
        import urllib.error
        import urllib.request
        for attempt in range(20):
            try:
                with urllib.request.urlopen(self.api + path, timeout=10) as resp:
                    return json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                if exc.code != 503 or attempt == 19:
                    raise
                self.retries += 1
                time.sleep(0.5)

    def post(self, path: str, body: dict) -> Any:
        """POST; a 503 is retried (Prefect's server on SQLite answers 503 'database is
        locked' when its worker and flow pods write at once; counted in `self.retries`)."""
        import urllib.error
        import urllib.request
        for attempt in range(20):
            req = urllib.request.Request(self.api + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    text = resp.read()
                    return json.loads(text) if text else None
            except urllib.error.HTTPError as exc:
                if exc.code != 503 or attempt == 19:
                    raise
                self.retries += 1
                time.sleep(0.5)

    def flow_run(self, run_id: str) -> dict:
        return self._get(f"/flow_runs/{run_id}")

    def stop(self) -> None:
        import signal
        for proc in reversed(self.procs):  # each in a session of its own: its whole group
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
        kubectl("delete", "clusterrolebinding", f"{self.prefix}prefect-worker", "--ignore-not-found", check=False)


class PrefectClient:
    """The Client interface for Prefect flow runs of the `quick` deployment."""

    variant = "prefect"

    def __init__(self, peer: PrefectPeer, kube: Kube):
        self.peer, self.kube, self.ns = peer, kube, peer.ns
        self.ids: dict[str, str] = {}
        self.count = 0

    def create(self, name: str, template: dict | None = None, flow: str = FLOW) -> None:
        self.count += 1
        run = self.peer.post(f"/deployments/{self.peer.deployments['quick']}/create_flow_run", {"name": name})
        self.ids[name] = run["id"]

    def _check(self, name: str, run: dict) -> bool:
        kind = (run.get("state") or {}).get("type")
        if kind in ("FAILED", "CRASHED", "CANCELLED"):
            raise RuntimeError(f"Prefect flow run {name} {kind}: {(run.get('state') or {}).get('message')}")
        return kind == "COMPLETED"

    def done(self, name: str) -> dict | None:
        return {"id": self.ids[name]} if self._check(name, self.peer.flow_run(self.ids[name])) else None

    def started(self, name: str, result: dict) -> float:
        """From the pod's termination message (the run is COMPLETED before its process exits)."""
        def message() -> float | None:
            for pod in self.kube.list("Pod", self.ns, f"prefect.io/flow-run-id={self.ids[name]}"):
                for cs in (pod.get("status") or {}).get("containerStatuses") or []:
                    text = ((cs.get("state") or {}).get("terminated") or {}).get("message")
                    if text:
                        return float(json.loads(text)["started"])
            return None
        return wait_for(message, timeout=120, interval=0.5, what=f"the termination message of {name}'s Prefect pod")

    def all_done(self, names: set[str]) -> dict[str, bool]:
        by_id = {self.ids[n]: n for n in names}
        runs = self.peer.post("/flow_runs/filter", {"flow_runs": {"id": {"any_": list(by_id)}}, "limit": 200})
        return {by_id[r["id"]]: self._check(by_id[r["id"]], r) for r in runs}


def pause_resume(flowruns: Client, peer: PrefectPeer | None, kube: Kube, pauses: int) -> dict[str, list[float]]:
    """A flow pausing `pauses` times in each system; resumed alternately (the order flips
    every pause); resume call -> the line after the pause call, in ms."""
    name = "pauses"
    kube.create_flowrun(flowruns.ns, flowrun(name, "shared", flow="benchflows.pauses:pause_many",
                                             parameters={"count": pauses}))
    prefect_id = None
    if peer:
        prefect_id = peer.post(f"/deployments/{peer.deployments['pause_many']}/create_flow_run",
                               {"name": name, "parameters": {"count": pauses}})["id"]
    sent: dict[str, dict[str, float]] = {"shared": {}, "prefect": {}}
    last_state = None

    def flowrun_paused(key: str) -> bool:
        obj = kube.get_flowrun(flowruns.ns, name) or {}
        st = obj.get("status") or {}
        return st.get("phase") == "Paused" and (st.get("pause") or {}).get("key") == key \
            and obj["spec"].get("state") == "Paused"

    def prefect_paused() -> str | None:
        state = peer.flow_run(prefect_id).get("state") or {}  # type: ignore[union-attr]
        return state["id"] if state.get("type") == "PAUSED" and state["id"] != last_state else None

    for i in range(1, pauses + 1):
        key = f"pause-{i}"
        order = ["shared", "prefect"] if i % 2 else ["prefect", "shared"]
        for v in order:
            if v == "shared":
                wait_for(lambda: flowrun_paused(key), timeout=300, interval=POLL, what=f"FlowRun {key}")
                time.sleep(0.2)
                sent["shared"][key] = time.time()
                kube.patch_flowrun(flowruns.ns, name, {"spec": {"state": "Running"}})
            elif peer:
                last_state = wait_for(prefect_paused, timeout=300, interval=POLL, what=f"Prefect {key}")
                time.sleep(0.2)
                sent["prefect"][key] = time.time()
                peer.post(f"/flow_runs/{prefect_id}/resume", {})
    wait_for(lambda: flowruns.done(name), timeout=300, what="the FlowRun pause_many to complete")
    logs = {"shared": kubectl("logs", f"job/{name}-1", namespace=flowruns.ns).stdout}
    if peer:
        wait_for(lambda: (peer.flow_run(prefect_id).get("state") or {}).get("type") == "COMPLETED", timeout=300,
                 what="the Prefect pause_many to complete")
        logs["prefect"] = kubectl("logs", "-l", f"prefect.io/flow-run-id={prefect_id}", "--tail=-1",
                                  namespace=peer.ns).stdout
    out: dict[str, list[float]] = {}
    for v, text in logs.items():
        resumed = {p[1]: float(p[2]) for p in (line.split() for line in text.splitlines())
                   if len(p) == 3 and p[0] == "RESUMED"}
        out[v] = [1000 * (resumed[k] - t) for k, t in sent[v].items() if k in resumed]
    return out


# ---- the run ------------------------------------------------------------------------------

def row(what: str, per_variant: dict[str, list[float]], unit: str, target: str = "") -> str:
    cells = []
    base = per_variant.get("job")
    for v, values in per_variant.items():
        if not values:
            cells.append("-")
            continue
        med, p95 = statistics.median(values), percentile(values, 0.95)
        ratio = ""
        if base and v != "job":
            ratio = f" ({med / statistics.median(base):.2f}x / {p95 / percentile(base, 0.95):.2f}x)"
        cells.append(f"{med:.2f} / {p95:.2f}{ratio}")
    return f"| {what} | " + " | ".join(cells) + f" | {unit} | {target} |"


def table_head(variants: tuple[str, ...]) -> list[str]:
    return ["| measure | " + " | ".join(f"{v}: median / p95 (ratio to job)" for v in variants) + " | unit | target |",
            "|---|" + "---|" * len(variants) + "---|---|"]


def load() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])



def delete_namespaces(namespaces: Iterable[str], op: Any, rights: Any, *, timeout: float) -> None:
    """The benchmark's namespaces deleted, and, once their FlowRuns are gone (the
    operator removes its finalizers), the operator stopped and its rights removed."""
    namespaces = list(namespaces)
    for ns in namespaces:
        kubectl("delete", "namespace", ns, "--wait=false", check=False)
    try:
        wait_for(lambda: all(not kubectl("get", "fr", "-o", "name", namespace=ns, check=False).stdout.strip()
                             for ns in namespaces) or None,
                 timeout=timeout, interval=3, what="the runs deleted")
    finally:
        op.stop()
        rights.delete()

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="one-at-a-time runs per variant")
    parser.add_argument("--burst", type=int, default=20, help="real pods per burst")
    parser.add_argument("--burst-rounds", type=int, default=3, help="bursts per variant, alternating")
    parser.add_argument("--pauses", type=int, default=10, help="pause -> resume samples (0: none)")
    parser.add_argument("--kwok", type=int, default=1000, help="runs per kwok burst (job, shared); 0: none")
    parser.add_argument("--kwok-default", type=int, default=100, help="runs of the kwok burst with per-run claims")
    parser.add_argument("--nodes", type=int, default=10, help="kwok nodes")
    parser.add_argument("--timeout", type=float, default=1800, help="per kwok burst")
    parser.add_argument("--prefect", type=Path, default=None,
                        help="a venv with prefect and prefect-kubernetes (its parent holds site/, the same "
                             "packages installed with --target): adds Prefect 3's Kubernetes worker as a column")
    args = parser.parse_args()

    ensure_cluster()
    install_crd()
    audit = Audit()
    report = [f"machine: {machine()}", f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}",
              f"nproc: {os.cpu_count()}", f"audit log: {audit.dir if audit.available() else 'NOT available (API counts skipped)'}"]
    print("\n".join(report), flush=True)
    image = build_flow_image(HERE / "flows", f"flowrun-runner-bench:{IMAGE_TAG}")
    pid = os.getpid()
    prefix = f"peers-{pid}-"
    tmp = Path(tempfile.mkdtemp(prefix="flowrun-peers-"))
    rights = ChartRights(prefix, prefix + "*", tmp)
    op_config = rights.create()
    variants: tuple[str, ...] = VARIANTS + (("prefect",) if args.prefect else ())
    namespaces = {v: prefix + v for v in variants}
    kwok_ns = {v: prefix + "kwok-" + v for v in KWOK_VARIANTS} if args.kwok else {}
    all_ns = [*namespaces.values(), *kwok_ns.values()]
    for ns in all_ns:
        kubectl("create", "namespace", ns)
    for ns in (namespaces["shared"], kwok_ns.get("shared")):
        if ns:
            kubectl("apply", "-f", "-", namespace=ns, input=yaml.safe_dump({
                "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": CLAIM},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}))
    for ns in all_ns:
        wait_for(lambda: kubectl("get", "serviceaccount", "default", namespace=ns, check=False).returncode == 0,
                 timeout=60, what=f"{ns}'s default ServiceAccount")
    op = OperatorProcess(tmp / "operator.log", image, namespaces=prefix + "*", KUBECONFIG=str(op_config),
                         FLOWRUN_OPERATOR_USER=rights.username, FLOWRUN_LEASE_NAMESPACE=rights.namespace,
                         FLOWRUN_LOG_LEVEL="WARNING")
    kube = Kube()
    clients: dict[str, Any] = {v: Client(kube, namespaces[v], v, image) for v in VARIANTS}
    known = {rights.username: "operator"}
    peer: PrefectPeer | None = None
    print(f"logs: {tmp}", flush=True)
    try:
        if args.prefect:
            try:
                peer = PrefectPeer(args.prefect, namespaces["prefect"], tmp, prefix).start()
                clients["prefect"] = PrefectClient(peer, kube)
                known[peer.user] = "prefect worker"
            except Exception as exc:  # noqa: BLE001 - the column is left out, saying why
                report.append(f"Prefect: could not be set up: {type(exc).__name__}: {exc}")
                print(report[-1], flush=True)
                variants = VARIANTS
        op.start()
        # warm-up: one run of each (image in the page cache, the operator's watches open)
        for v in variants:
            one(clients[v], "warm-up")
        time.sleep(2)
        real_start = time.time()
        print(f"\nload before measuring: {load()}", flush=True)

        # 1. one at a time, alternating
        k = len(variants)
        start_code: dict[str, list[float]] = {v: [] for v in variants}
        start_done: dict[str, list[float]] = {v: [] for v in variants}
        for i in range(args.runs):
            for v in variants[i % k:] + variants[:i % k]:
                code, done = one(clients[v], f"one-{i:02d}")
                start_code[v].append(code)
                start_done[v].append(done)
            print(f"round {i}: " + ", ".join(f"{v} {start_code[v][-1]:.2f}/{start_done[v][-1]:.2f} s" for v in variants),
                  flush=True)
        load_1 = load()

        # 2. bursts of real pods, alternating
        makespans: dict[str, list[float]] = {v: [] for v in variants}
        burst_runs: dict[str, list[float]] = {v: [] for v in variants}
        job_spans: dict[str, list[float]] = {v: [] for v in variants}
        for r in range(args.burst_rounds):
            for v in variants[r % k:] + variants[:r % k]:
                span, each, jobs_span = burst(clients[v], f"burst{r}", args.burst)
                makespans[v].append(span)
                job_spans[v].append(jobs_span)
                burst_runs[v] += each
                print(f"burst {r} {v}: all {args.burst} done {span:.1f} s after the first create (load {load()})",
                      flush=True)
        load_2 = load()
        time.sleep(5)  # the last status writes and events
        real_end = time.time()
        runs_per_ns = args.runs + args.burst * args.burst_rounds

        # pause -> resume (FlowRun on the shared claim; Prefect), alternating
        resumes: dict[str, list[float]] = {}
        if args.pauses:
            resumes = pause_resume(clients["shared"], peer, kube, args.pauses)
        load_3 = load()

        out = ["", f"### Real pods ({args.runs} one at a time and {args.burst_rounds} bursts of {args.burst} per "
                   f"variant, alternating; load average {load_1} after the first part, {load_2} after the bursts, "
                   f"{load_3} after the pauses)", ""]
        out += table_head(variants)
        out += [row("create -> code running (one at a time)", start_code, "s", "<= 1.15x median"),
                row("create -> done (one at a time)", start_done, "s", ""),
                row(f"burst of {args.burst}: makespan, create -> all done", makespans, "s", "<= 1.2x"),
                row(f"burst of {args.burst}: each run's create -> done", burst_runs, "s", ""),
                row(f"burst of {args.burst}: makespan, create -> every Job Complete", job_spans, "s", "")]
        if resumes:
            out.append(row(f"resume -> code after the pause ({args.pauses})",
                           {v: [x / 1000 for x in resumes[v]] if v in resumes else [] for v in variants}, "s",
                           "as good as today (resume_latency.py)"))
        if peer:
            out.append(f"\nPrefect's server (SQLite) answered 503 'database is locked' {peer.retries} times "
                       "(each retried after 0.5 s)")
        print("\n".join(out), flush=True)
        report += out
        if audit.available():
            per_variant = {}
            for v in variants:
                events = api_counts(audit, namespaces[v], real_start, real_end, known,
                                    claim_volumes(namespaces[v]) if v == "default" else set())
                per_variant[v] = (events, runs_per_ns)
            out = counts_table(f"API requests per run, real pods ({runs_per_ns} runs per variant; the API "
                               "server's audit log; watches counted when they start)", per_variant)
            print("\n".join(out), flush=True)
            report += out

        # 3. kwok
        if args.kwok:
            node_id = f"peers-{secrets.token_hex(3)}"
            kclients = {v: Client(kube, kwok_ns[v], v, "flowrun-runner:kwok-never-pulled") for v in KWOK_VARIANTS}
            results = {}
            with KwokNodes(node_id, args.nodes, tmp / "kwok"):
                for v in KWOK_VARIANTS:
                    n = args.kwok_default if v == "default" else args.kwok
                    if not n:
                        continue
                    results[v] = kwok_burst(kclients[v], n, node_id, args.timeout)
                    print(f"kwok {v}: {n} runs, makespan {results[v]['makespan']:.0f} s, created in "
                          f"{results[v]['created_s']:.0f} s, errors {results[v]['errors']} (load {load()})", flush=True)
            out = ["", f"### kwok ({args.nodes} fake nodes; job and shared {args.kwok} runs each, default "
                       f"{args.kwok_default}; API server timestamps, 1 s resolution)", "",
                   "| measure | " + " | ".join(f"{v} (n)" for v in results) + " | target |",
                   "|---|" + "---|" * len(results) + "---|"]
            base = results.get("job")

            def ratio(v: str, value: float, ref: float | None) -> str:
                return f" ({value / ref:.2f}x)" if ref and v != "job" else ""
            out.append("| makespan, first create -> all done | " + " | ".join(
                f"{r['makespan']:.0f} s{ratio(v, r['makespan'], base and base['makespan'])} ({r['n']})"
                for v, r in results.items()) + " | <= 1.3x |")
            out.append("| runs per minute | " + " | ".join(
                f"{r['n'] / r['makespan'] * 60:.0f}" for r in results.values()) + " | |")
            out.append("| create -> pod, median / p95 | " + " | ".join(
                f"{percentile(r['to_pod'], .5):.0f} / {percentile(r['to_pod'], .95):.0f} s" for r in results.values())
                + " | |")
            print("\n".join(out), flush=True)
            report += out
            if audit.available():
                time.sleep(5)
                per_variant = {}
                for v, r in results.items():
                    start, end = r["window"]
                    events = api_counts(audit, kwok_ns[v], start - 1, end + 5, known,
                                        claim_volumes(kwok_ns[v]) if v == "default" else set())
                    per_variant[v] = (events, r["n"])
                out = counts_table("API requests per run on kwok (the admin row is the fake runner's requests "
                                   "and the pods' exits, plus the benchmark's one watch)", per_variant, bench_apart=False)
                print("\n".join(out), flush=True)
                report += out
    finally:
        if peer:
            peer.stop()
        delete_namespaces(all_ns, op, rights, timeout=900)
    print("\n\n# peers.py report\n" + "\n".join(report))


if __name__ == "__main__":
    main()
