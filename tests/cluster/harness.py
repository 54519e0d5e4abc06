"""What the end-to-end tests and the benchmarks both need beside the cluster: the
operator running on this machine as a real process, and runner images with extra flows
(built the way a user builds theirs: FROM flowrun-runner + COPY)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from . import is_local_cluster, kubectl, load_image

REPO = Path(__file__).resolve().parents[2]
VERSION = next(line.split('"')[1] for line in (REPO / "pyproject.toml").read_text().splitlines()
               if line.startswith("version = "))
# The images' tag (see the Makefile): FLOWRUN_IMAGE_TAG, else the version.
IMAGE_TAG = os.environ.get("FLOWRUN_IMAGE_TAG") or VERSION
RUNNER_IMAGE = f"flowrun-runner:{IMAGE_TAG}"


def install_crd() -> None:
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds" / "flowrun.io_flowruns.yaml"))
    kubectl("wait", "--for=condition=Established", "crd/flowruns.flowrun.io", "--timeout=60s")


def build_runner_image() -> str:
    """`make images` on the local cluster (a foreign cluster must have the image)."""
    if is_local_cluster():
        subprocess.run(["make", "--no-print-directory", "images"], cwd=REPO, check=True, stdout=sys.stderr)
    return RUNNER_IMAGE


def build_flow_image(context: Path, tag: str) -> str:
    """The runner image plus the flows in `context` (its Dockerfile does the COPY)."""
    build_runner_image()
    subprocess.run(["docker", "build", "--quiet", "--build-arg", f"RUNNER_IMAGE={RUNNER_IMAGE}",
                    "-t", tag, str(context)], check=True, stdout=subprocess.DEVNULL)
    # A rebuild leaves the previous image untagged; our images carry this label (from FROM).
    subprocess.run(["docker", "image", "prune", "--force", "--filter",
                    "label=io.flowrun.project=flowrun-operator"], check=True, stdout=subprocess.DEVNULL)
    load_image(tag)
    return tag


def apiserver_host() -> str:
    """The host the API server is reached at (for the local cluster, an address of this
    machine, where the API server can also reach an operator's webhook)."""
    import urllib.parse

    import yaml
    path = os.path.expanduser(os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)[0])
    config = yaml.safe_load(Path(path).read_text())
    context = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
    server = next(c["cluster"]["server"] for c in config["clusters"] if c["name"] == context["cluster"])
    return urllib.parse.urlparse(server).hostname or "127.0.0.1"


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


class OperatorProcess:
    """`python -m flowrun.controller` on this machine, against the current cluster."""

    def __init__(self, log_path: Path, runner_image: str, *, namespaces: str, **env: str):
        """`namespaces`: a kopf namespace glob (e.g. the test session's prefix + '*')."""
        self.log_path = log_path
        self.namespaces = namespaces
        self.env = {**os.environ, "FLOWRUN_RUNNER_IMAGE": runner_image,
                    "FLOWRUN_IMAGE_PULL_POLICY": "Never" if is_local_cluster() else "IfNotPresent",
                    "PYTHONUNBUFFERED": "1", **env}
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "flowrun.controller", "--namespace", self.namespaces],
                cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup, exactly like a crashed or evicted operator."""
        if self.running:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.running:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""
