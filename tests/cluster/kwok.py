"""Fake nodes for runs at scale: kwok (sigs.k8s.io/kwok, built from its Go module by
build-binaries.sh, never downloaded) against the test cluster's API server, and a fake
runner that makes a runner's API writes for many runs in one process.

- `KwokNodes`: N Nodes labelled `flowrun.io/kwok-node=<id>` and tainted
  `flowrun.io/kwok=fake:NoSchedule` (so no other pod lands there), played by one kwok
  process: their pods go Running at once, and Succeeded once the fake runner marks them
  done (annotation `flowrun.io/fake-exit`), as a real runner's pod exits after it has
  reported the end. Claims bind on their own (the cluster's host-path provisioner binds
  Immediate, docs/cluster.md).
- `FakeRunners`: watches the pods of runs in a namespace; for each Running pod it does
  what `python -m flowrun.runner` does against the API, through the SDK's own code
  (`LiveFlowRun`: the FlowRun watch, `started`, `pause`, `finished`), then marks the pod
  done. It authenticates as the admin, a different user from the operator, whose
  requests the operator counts itself (flowrun_api_requests_total).
- `run_template(id)`: the FlowRun `spec.template` that sends a run's pod to the nodes.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from . import kubectl, machine_lock, wait_for
from .harness import REPO

LABEL_NODE = "flowrun.io/kwok-node"
TAINT = "flowrun.io/kwok"
EXIT_ANNOTATION = "flowrun.io/fake-exit"

# Only the pod stages we need (kwok keeps its default node stages, with leases):
# Running at once; Succeeded when the fake runner says the runner exited; gone on delete.
POD_STAGES = f"""
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {{name: pod-ready}}
spec:
  resourceRef: {{apiGroup: v1, kind: Pod}}
  selector:
    matchExpressions:
    - {{key: '.metadata.deletionTimestamp', operator: DoesNotExist}}
    - {{key: '.status.podIP', operator: DoesNotExist}}
  next:
    statusTemplate: |
      {{{{ $now := Now }}}}
      conditions:
      - {{lastTransitionTime: {{{{ $now | Quote }}}}, status: "True", type: Initialized}}
      - {{lastTransitionTime: {{{{ $now | Quote }}}}, status: "True", type: Ready}}
      - {{lastTransitionTime: {{{{ $now | Quote }}}}, status: "True", type: ContainersReady}}
      containerStatuses:
      {{{{ range .spec.containers }}}}
      - image: {{{{ .image | Quote }}}}
        name: {{{{ .name | Quote }}}}
        ready: true
        restartCount: 0
        state: {{running: {{startedAt: {{{{ $now | Quote }}}}}}}}
      {{{{ end }}}}
      hostIP: {{{{ NodeIPWith .spec.nodeName | Quote }}}}
      podIP: {{{{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}}}
      phase: Running
      startTime: {{{{ $now | Quote }}}}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {{name: pod-exit}}
spec:
  resourceRef: {{apiGroup: v1, kind: Pod}}
  selector:
    matchExpressions:
    - {{key: '.metadata.deletionTimestamp', operator: DoesNotExist}}
    - {{key: '.status.phase', operator: In, values: [Running]}}
    - {{key: '.metadata.annotations["{EXIT_ANNOTATION}"]', operator: Exists}}
  next:
    statusTemplate: |
      {{{{ $now := Now }}}}
      containerStatuses:
      {{{{ range .spec.containers }}}}
      - image: {{{{ .image | Quote }}}}
        name: {{{{ .name | Quote }}}}
        ready: false
        restartCount: 0
        started: false
        state: {{terminated: {{exitCode: 0, reason: Completed, startedAt: {{{{ $now | Quote }}}}, finishedAt: {{{{ $now | Quote }}}}}}}}
      {{{{ end }}}}
      phase: Succeeded
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {{name: pod-delete}}
spec:
  resourceRef: {{apiGroup: v1, kind: Pod}}
  selector:
    matchExpressions:
    - {{key: '.metadata.deletionTimestamp', operator: Exists}}
  next:
    finalizers: {{empty: true}}
    delete: true
"""


def kwok_binary() -> Path:
    """The cached kwok binary, built on first use (a minute or two, once per machine)."""
    versions = {}
    for line in (REPO / "tests" / "cluster" / "versions.sh").read_text().splitlines():
        if line.startswith("KWOK_VERSION="):
            versions["kwok"] = line.split(":-", 1)[1].rstrip('}"')
    cache = Path(os.environ.get("FLOWRUN_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                 / "flowrun-operator")
    binary = cache / f"kwok-{versions['kwok']}" / "bin" / "kwok"
    with machine_lock("kwok"):
        if not binary.exists():
            subprocess.run(["bash", str(REPO / "tests" / "cluster" / "build-binaries.sh"), "kwok"], check=True,
                           stdout=sys.stderr)
    return binary


def operator_requests(url: str) -> "Counter[tuple[str, str, str]]":
    """(source, verb, resource) -> requests so far, from the operator's own count
    (flowrun_api_requests_total on its metrics endpoint)."""
    import urllib.request
    from collections import Counter
    out: Counter = Counter()
    for line in urllib.request.urlopen(url, timeout=10).read().decode().splitlines():
        if line.startswith("flowrun_api_requests_total{"):
            labels, value = line[len("flowrun_api_requests_total{"):].split("} ")
            fields = dict(part.split("=", 1) for part in labels.split(","))
            out[tuple(fields[k].strip('"') for k in ("source", "verb", "resource"))] = float(value)
    return out


def run_template(node_id: str) -> dict[str, Any]:
    """spec.template of a FlowRun whose pod goes to these fake nodes (allow-listed fields)."""
    return {"spec": {"nodeSelector": {LABEL_NODE: node_id},
                     "tolerations": [{"key": TAINT, "operator": "Exists", "effect": "NoSchedule"}]}}


class KwokNodes:
    def __init__(self, node_id: str, count: int, workdir: Path):
        self.id, self.count, self.workdir = node_id, count, workdir
        self.names = [f"kwok-{node_id}-{i}" for i in range(count)]
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "KwokNodes":
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "kwok.yaml"
        config.write_text(POD_STAGES)
        binary = kwok_binary()
        kubeconfig = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
        log = open(self.workdir / "kwok.log", "ab")
        self.proc = subprocess.Popen(
            [str(binary), "--kubeconfig", kubeconfig, "-c", str(config),
             "--manage-nodes-with-label-selector", f"{LABEL_NODE}={self.id}",
             "--node-lease-duration-seconds", "40", "--cidr", "100.64.0.1/10"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        import yaml
        nodes = [{"apiVersion": "v1", "kind": "Node",
                  "metadata": {"name": n, "labels": {LABEL_NODE: self.id, "type": "kwok"},
                               "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"}},
                  "spec": {"taints": [{"key": TAINT, "value": "fake", "effect": "NoSchedule"}]}}
                 for n in self.names]
        kubectl("apply", "-f", "-", input=yaml.safe_dump_all(nodes))
        wait_for(lambda: all(self._ready(n) for n in self.names), timeout=60, what="kwok nodes Ready")
        return self

    @staticmethod
    def _ready(name: str) -> bool:
        out = kubectl("get", "node", name, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
                      check=False).stdout.strip()
        return out == "True"

    def __exit__(self, *exc) -> None:
        kubectl("delete", "node", *self.names, "--wait=false", "--ignore-not-found", check=False)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class FakeRunners:
    """The runners of every run whose pod runs on a fake node, in this process.

    mode "complete": start, then report Completed. mode "pause": start, pause at
    `pause-1` (blocking on the FlowRun watch like a real paused runner), and when
    resumed report Completed; `resumed_at[name]` is when the pause returned."""

    def __init__(self, namespace: str, *, mode: str = "complete", workers: int = 32,
                 on_event: Callable[[str, str], None] | None = None):
        from flowrun.kube import Kube
        logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
        self.namespace, self.mode = namespace, mode
        self.kube = Kube()
        self.on_event = on_event or (lambda name, what: None)
        self.handled: set[str] = set()
        self.errors: list[str] = []
        self.paused: dict[str, float] = {}
        self.resumed_at: dict[str, float] = {}
        self.resume_seen: dict[str, float] = {}  # when the run's watch brought the resume
        self.completed: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # A paused runner blocks its thread, as a paused pod does: one thread per run then.
        self.pool = ThreadPoolExecutor(max_workers=workers if mode == "complete" else 10_000,
                                       thread_name_prefix="fake-runner")
        self._thread = threading.Thread(target=self._watch_pods, daemon=True, name="fake-runner-pods")

    def __enter__(self) -> "FakeRunners":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _watch_pods(self) -> None:
        from kubernetes import watch
        core = self.kube.core
        while not self._stop.is_set():
            try:
                for event in watch.Watch().stream(core.list_namespaced_pod, self.namespace,
                                                  label_selector="flowrun.io/run", timeout_seconds=60):
                    if self._stop.is_set():
                        return
                    pod = event["object"]
                    if event["type"] == "DELETED" or pod.status.phase != "Running" \
                            or pod.metadata.deletion_timestamp is not None:
                        continue
                    uid = pod.metadata.uid
                    with self._lock:
                        if uid in self.handled:
                            continue
                        self.handled.add(uid)
                    self.pool.submit(self._run, pod.metadata.name, dict(pod.metadata.labels))
            except Exception as exc:  # noqa: BLE001 - a watch that breaks is re-opened
                if not self._stop.is_set():
                    logging.getLogger(__name__).warning("pod watch: %s", exc)
                    time.sleep(0.5)

    def _time_resume(self, live: Any, name: str) -> None:
        """Note when the run's own watch first brings spec.state Running after its pause
        was recorded (the benchmark's breakdown of a resume)."""
        observe = live._observe

        def timed(obj: dict[str, Any]) -> None:
            if name not in self.resume_seen and (obj.get("status") or {}).get("pause") \
                    and (obj.get("spec") or {}).get("state") == "Running":
                self.resume_seen[name] = time.monotonic()
            observe(obj)
        live._observe = timed

    def _run(self, pod: str, labels: dict[str, str]) -> None:
        from flowrun.contract.constants import LABEL_ATTEMPT, LABEL_RUN
        from flowrun.contract.phases import PauseKind
        from flowrun.sdk.live import LiveFlowRun, RunStopped
        name, attempt = labels[LABEL_RUN], int(labels.get(LABEL_ATTEMPT) or 1)
        live = None
        try:
            obj = self.kube.get_flowrun(self.namespace, name)
            if obj is None:
                return
            live = LiveFlowRun(self.kube, self.namespace, name, obj, attempt=attempt)
            if self.mode == "pause":
                self._time_resume(live, name)
            live.start()
            live.started(f"Running (fake runner, attempt {attempt})")
            if self.mode == "pause":
                self.paused.setdefault(name, time.monotonic())
                self.on_event(name, "paused-call")
                live.pause("pause-1", kind=PauseKind.PAUSE, timeout=3600, model=None)
                self.resumed_at[name] = time.monotonic()
            live.finished(failed=False, message="Flow completed", result={"fake": True}, has_result=True)
            self.completed[name] = time.monotonic()
        except RunStopped:
            pass
        except Exception as exc:  # noqa: BLE001 - reported by the test or bench
            self.errors.append(f"{name}: {type(exc).__name__}: {exc}")
        finally:
            if live is not None:
                live.close()
        try:  # the runner process exits: kwok marks the pod Succeeded
            self.kube.core.patch_namespaced_pod(pod, self.namespace,
                                                {"metadata": {"annotations": {EXIT_ANNOTATION: "0"}}})
        except Exception as exc:  # noqa: BLE001
            self.errors.append(f"{pod}: exit: {exc}")
