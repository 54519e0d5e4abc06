"""Helpers the test fixtures use to get a real Kubernetes cluster.

``ensure_cluster()`` takes any cluster named by ``KUBECONFIG`` that answers (kind, a
user's cluster), and otherwise starts the local one with ``cluster-up.sh`` (host processes
built from Go modules; see docs/cluster.md); on the local cluster, ``dns-up.sh`` then adds
the cluster DNS (CoreDNS) if it is not there yet. Versions and paths are read from
``versions.sh`` so they are written down once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, TypeVar

__all__ = [
    "CACHE_ROOT",
    "CLUSTER_DIR",
    "K8S_VERSION",
    "KUBECTL",
    "ensure_base_image",
    "ensure_cluster",
    "is_local_cluster",
    "kubectl",
    "load_image",
    "machine_lock",
    "wait_for",
]

CLUSTER_DIR = Path(__file__).resolve().parent
T = TypeVar("T")


def _read_versions() -> dict:
    """Source versions.sh in bash (honouring its env overrides) and read the values."""
    names = ["K8S_VERSION", "ETCD_VERSION", "HELM_VERSION", "CACHE_ROOT", "K8S_BIN", "HELM_BIN",
             "KUBECONFORM_BIN", "PAUSE_IMAGE", "DEBIAN_SUITE"]
    script = '. "$1" && printf "%s\\n" ' + " ".join(f'"${n}"' for n in names)
    out = subprocess.run(["bash", "-c", script, "versions", str(CLUSTER_DIR / "versions.sh")],
                         check=True, capture_output=True, text=True).stdout.splitlines()
    return dict(zip(names, out))


_V = _read_versions()
K8S_VERSION: str = _V["K8S_VERSION"]
CACHE_ROOT = Path(_V["CACHE_ROOT"])
KUBECTL = Path(_V["K8S_BIN"]) / "kubectl"
HELM = Path(_V["HELM_BIN"]) / "helm"
KUBECONFORM = Path(_V["KUBECONFORM_BIN"]) / "kubeconform"

_kubeconfig: Optional[str] = None
_local: Optional[bool] = None


@contextlib.contextmanager
def machine_lock(name: str):
    """Hold a lock of this machine (a file under CACHE_ROOT) while building or starting
    something several pytest workers or trees need: the second waits, then finds it done."""
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    with open(CACHE_ROOT / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _log(msg: str) -> None:
    print(f"[flowrun-cluster] {msg}", file=sys.stderr, flush=True)


def wait_for(fn: Callable[[], T], *, timeout: float, interval: float = 0.2, what: str) -> T:
    """Poll ``fn()`` until it returns something truthy and return that.

    On timeout raise AssertionError naming ``what`` and the last value or exception seen.
    An AssertionError raised by ``fn`` itself ends the wait at once (a definite failure,
    such as a Job that failed, need not wait for the timeout).
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            value = fn()
            if value:
                return value
            last = value
        except AssertionError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported below if it persists
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


class KubectlFailed(subprocess.CalledProcessError):
    """A failed kubectl whose message carries its stderr, so a CI summary line says why."""

    def __str__(self) -> str:
        return f"{super().__str__()}\nstderr: {(self.stderr or '').strip()[-2000:]}"


def _kubectl_binary() -> str:
    if KUBECTL.exists():
        return str(KUBECTL)
    found = shutil.which("kubectl")
    if found is None:
        raise RuntimeError(f"no kubectl: neither {KUBECTL} (run tests/cluster/build-binaries.sh) nor on PATH")
    return found


def kubectl(*args: str, namespace: Optional[str] = None, input: Optional[str] = None,
            check: bool = True, timeout: float = 60,
            kubeconfig: Optional[str] = None) -> subprocess.CompletedProcess:
    """Run the pinned kubectl (kubectl on PATH if it has not been built) and capture text."""
    cmd = [_kubectl_binary()]
    cfg = kubeconfig or _kubeconfig or os.environ.get("KUBECONFIG")
    if cfg:
        cmd += ["--kubeconfig", cfg]
    if namespace:
        cmd += ["--namespace", namespace]
    cmd += list(args)
    proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise KubectlFailed(proc.returncode, cmd, proc.stdout, proc.stderr)
    return proc


def _api_answers(kubeconfig: str) -> bool:
    try:
        proc = kubectl("get", "--raw", "/readyz", kubeconfig=kubeconfig, check=False, timeout=15)
    except (subprocess.TimeoutExpired, RuntimeError):
        return False
    return proc.returncode == 0 and proc.stdout.strip() == "ok"


def _run_streaming(cmd: Sequence[str]) -> str:
    """Run cmd; its stdout and stderr go to our stderr line by line; return stdout's last line."""
    _log("running " + " ".join(cmd))
    proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, text=True, bufsize=1)
    last = ""
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stderr.write(line)
        sys.stderr.flush()
        if line.strip():
            last = line.strip()
    rc = proc.wait()
    if rc != 0:
        raise RuntimeError(f"{cmd[0]} failed with exit code {rc}")
    return last


def is_local_cluster() -> bool:
    """True when the cluster is the one cluster-up.sh runs on this machine."""
    ensure_cluster()
    assert _local is not None
    return _local


def ensure_cluster() -> str:
    """Return an admin kubeconfig path for a cluster that answers; start one if needed.

    A KUBECONFIG from the environment is used as it is when its API server answers, so the
    suite runs on kind or any cluster. Otherwise tests/cluster/cluster-up.sh starts (or
    reuses) the local cluster. The path is exported as os.environ["KUBECONFIG"].
    """
    global _kubeconfig, _local
    if _kubeconfig is not None:
        return _kubeconfig
    env = os.environ.get("KUBECONFIG")
    if env and _api_answers(env):
        path = env
    else:
        if env:
            _log(f"KUBECONFIG={env} does not answer; starting the local cluster")
        with machine_lock("cluster-up"):
            last = _run_streaming(["bash", str(CLUSTER_DIR / "cluster-up.sh")])
        prefix = "export KUBECONFIG="
        if not last.startswith(prefix):
            raise RuntimeError(f"cluster-up.sh did not end with '{prefix}...': {last!r}")
        path = last[len(prefix):]
        if not _api_answers(path):
            raise RuntimeError(f"cluster-up.sh finished but the API server behind {path} does not answer")
    _local = _is_our_kubeconfig(path)
    if _local:
        # Cluster DNS (CoreDNS, kube-dns), as every real cluster has: added to the running
        # cluster by a script of its own; a no-op when it is there (see dns-up.sh).
        with machine_lock("cluster-up"):
            _run_streaming(["bash", str(CLUSTER_DIR / "dns-up.sh")])
            # The API server's audit log (bench/peers.py counts every client's requests
            # from it): restarts kube-apiserver alone once, then a no-op (audit-up.sh).
            _run_streaming(["bash", str(CLUSTER_DIR / "audit-up.sh")])
    _kubeconfig = path
    os.environ["KUBECONFIG"] = path
    return path


def _is_our_kubeconfig(path: str) -> bool:
    state = os.environ.get("FLOWRUN_CLUSTER_STATE", "/var/lib/flowrun-cluster")
    try:
        return Path(path).resolve().is_relative_to(Path(state).resolve())
    except OSError:
        return False


def load_image(ref: str) -> None:
    """Make a Docker image visible to the cluster's kubelet (skipped when already there).

    Local cluster: load-image.sh (docker save | ctr import). kind: ``kind load docker-image``
    when KIND_CLUSTER is set. Any other cluster: assumed present (or pullable).
    """
    ensure_cluster()
    if _local:
        _run_streaming(["bash", str(CLUSTER_DIR / "load-image.sh"), ref])
    elif os.environ.get("KIND_CLUSTER"):
        cached = sorted(CACHE_ROOT.glob("kind-*/bin/kind"))  # installed by kind-up.sh
        kind = shutil.which("kind") or (str(cached[-1]) if cached else "kind")
        _run_streaming([kind, "load", "docker-image", "--name", os.environ["KIND_CLUSTER"], ref])
    else:
        _log(f"foreign cluster without KIND_CLUSTER: assuming {ref} is available to it")


def ensure_base_image() -> str:
    """Build (cached) the Python base image, load it into the cluster; return its reference.

    FLOWRUN_BASE_IMAGE (e.g. python:3.11-slim where a registry is reachable) replaces the
    locally built image.
    """
    ensure_cluster()
    if _local:
        _run_streaming(["bash", str(CLUSTER_DIR / "docker-up.sh")])
    ref = os.environ.get("FLOWRUN_BASE_IMAGE") or _run_streaming(["bash", str(CLUSTER_DIR / "base-image.sh")])
    load_image(ref)
    return ref
