"""NetworkPolicy enforcement for one e2e test at a time (issue 26): kube-router's
network-policy controller only (`--run-firewall`, no router, no service proxy), built from
its Go module by build-kube-router.sh, run as a host process for the duration of a test
and then stopped, with every iptables rule and ipset it made removed.

The cluster is shared (other test runs use it at the same time), so the enforcement must
not reach their pods. kube-router polices a pod only when some NetworkPolicy selects it
(other pods pass its default chain, which accepts early in FORWARD), but it reads every
NetworkPolicy and pod of the cluster: other tests' chart installs have policies too. So
kube-router talks to the API server through `ScopedApiProxy`, a small proxy on loopback
that shows it only the NetworkPolicies and pods of the test's own namespaces (list and
watch answers filtered): other pods get no chain of kube-router at all. All other
requests pass unchanged. See docs/cluster.md#networkpolicy-enforcement-one-test.
"""
from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import secrets
import signal
import ssl
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from . import CACHE_ROOT, CLUSTER_DIR, machine_lock, wait_for

KUBE_ROUTER_VERSION = "v2.1.0"
KUBE_ROUTER = CACHE_ROOT / f"kube-router-{KUBE_ROUTER_VERSION}" / "bin" / "kube-router"
NODE_NAME = "flowrun-node"
SERVICE_CIDR = "10.96.0.0/12"
POLICIES = "/apis/networking.k8s.io/v1/networkpolicies"
PODS = "/api/v1/pods"
# What kube-router's network-policy controller adds (filter table) and its ipsets.
CHAIN_PREFIXES = ("KUBE-ROUTER-", "KUBE-POD-FW-", "KUBE-NWPLCY-")
IPSET_PREFIXES = ("KUBE-SRC-", "KUBE-DST-")
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding",
        "accept-encoding", "authorization", "host", "upgrade", "proxy-connection", "te", "trailer"}


def build() -> Path:
    """The binary, built once per machine (cold: minutes, niced; docs/cluster.md)."""
    with machine_lock("kube-router"):
        if not KUBE_ROUTER.exists():
            subprocess.run([str(CLUSTER_DIR / "build-kube-router.sh")], check=True)
    return KUBE_ROUTER


class ScopedApiProxy:
    """HTTP on 127.0.0.1 (a random path prefix required: client-go sends no bearer token
    over plain HTTP) in front of the API server (as
    the admin kubeconfig's user): cluster-wide NetworkPolicy and pod lists and watches
    answer only the objects of `namespaces`; everything else passes unchanged, streamed."""

    def __init__(self, kubeconfig: str, namespaces: set[str], workdir: Path):
        import yaml
        config = yaml.safe_load(Path(kubeconfig).read_text())
        context = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
        server = urllib.parse.urlparse(cluster["server"])
        self.upstream = (server.hostname or "127.0.0.1", server.port or 443)
        workdir.mkdir(parents=True, exist_ok=True)
        ca, cert, key = workdir / "ca.crt", workdir / "client.crt", workdir / "client.key"
        for path, field in ((ca, cluster.get("certificate-authority-data")),
                            (cert, user.get("client-certificate-data")), (key, user.get("client-key-data"))):
            assert field, f"{kubeconfig}: no {path.name} data (an admin kubeconfig with a client certificate)"
            path.write_bytes(base64.b64decode(field))
            path.chmod(0o600)
        self.ssl = ssl.create_default_context(cafile=str(ca))
        self.ssl.load_cert_chain(str(cert), str(key))
        self.namespaces = set(namespaces)
        self.token = secrets.token_urlsafe(24)
        self.requests: list[str] = []
        self.hidden: set[str] = set()  # namespace/name of the policies and pods kept from kube-router
        self._open: set[http.client.HTTPSConnection] = set()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.kubeconfig = workdir / "kube-router.kubeconfig"
        self.kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "scoped",
            "clusters": [{"name": "scoped", "cluster": {"server": f"http://127.0.0.1:{self.port}/{self.token}"}}],
            "users": [{"name": "scoped", "user": {}}],
            "contexts": [{"name": "scoped", "context": {"cluster": "scoped", "user": "scoped"}}]}))
        self.kubeconfig.chmod(0o600)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def keep(self, obj: dict[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        if meta.get("namespace") in self.namespaces:
            return True
        with self._lock:
            self.hidden.add(f"{meta.get('namespace')}/{meta.get('name')}")
        return False

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                self.forward()

            def do_POST(self) -> None:  # noqa: N802
                self.forward()

            def do_PUT(self) -> None:  # noqa: N802
                self.forward()

            def do_PATCH(self) -> None:  # noqa: N802
                self.forward()

            def do_DELETE(self) -> None:  # noqa: N802
                self.forward()

            def log_message(self, *args: Any) -> None:
                pass

            def chunk(self, data: bytes) -> None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def forward(self) -> None:
                prefix = f"/{proxy.token}/"
                if not self.path.startswith(prefix):
                    self.send_error(404)
                    return
                path = self.path[len(prefix) - 1:]
                url = urllib.parse.urlsplit(path)
                scoped = url.path in (POLICIES, PODS)
                watch = scoped and urllib.parse.parse_qs(url.query).get("watch", [""])[0] in ("true", "1")
                with proxy._lock:
                    proxy.requests.append(f"{self.command} {path}")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                if scoped:
                    headers["Accept"] = "application/json"
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPSConnection(*proxy.upstream, context=proxy.ssl)
                with proxy._lock:
                    proxy._open.add(conn)
                try:
                    conn.request(self.command, path, body=body, headers=headers)
                    resp = conn.getresponse()
                    self.send_response(resp.status)
                    for k, v in resp.getheaders():
                        if k.lower() not in _HOP:
                            self.send_header(k, v)
                    if scoped and resp.status == 200 and not watch:
                        listed = json.loads(resp.read())
                        listed["items"] = [i for i in listed.get("items") or [] if proxy.keep(i)]
                        out = json.dumps(listed).encode()
                        self.send_header("Content-Length", str(len(out)))
                        self.end_headers()
                        self.wfile.write(out)
                        return
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    if scoped and resp.status == 200:
                        while line := resp.readline():
                            event = json.loads(line)
                            if event.get("type") in ("ADDED", "MODIFIED", "DELETED") and not proxy.keep(event["object"]):
                                continue
                            self.chunk(line)
                    else:
                        while data := resp.read1(65536):
                            self.chunk(data)
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (OSError, http.client.HTTPException, ValueError):
                    self.close_connection = True
                finally:
                    conn.close()
                    with proxy._lock:
                        proxy._open.discard(conn)
        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        with self._lock:
            conns = list(self._open)
        for conn in conns:  # the watches still streaming
            with contextlib.suppress(OSError):
                if conn.sock is not None:
                    conn.sock.shutdown(2)


def _iptables_save() -> str:
    return subprocess.run(["iptables-save", "-t", "filter"], capture_output=True, text=True, check=True).stdout


def leftovers() -> list[str]:
    """kube-router's iptables rules and chains, and ipsets, present now ([] when clean)."""
    found = [line for line in _iptables_save().splitlines()
             if any(p in line for p in CHAIN_PREFIXES) or "kube-router netpol" in line]
    sets = subprocess.run(["ipset", "list", "-n"], capture_output=True, text=True, check=False).stdout.split()
    return found + [f"ipset {s}" for s in sets if s.startswith(IPSET_PREFIXES)]


def cleanup() -> None:
    """Remove every rule, chain and ipset kube-router's network-policy controller makes:
    the jumps from INPUT/FORWARD/OUTPUT first (traffic then never enters its chains), then
    its chains, then its ipsets. (`kube-router --cleanup-config` of v2.1.0 builds an empty
    controller whose clean-up finds no iptables handler, and also tears down what its
    router and service proxy would have made; so done here, by name.)"""
    rules = _iptables_save().splitlines()
    for line in rules:
        if line.startswith("-A ") and "kube-router netpol" in line and " -j KUBE-ROUTER-" in line:
            subprocess.run(["iptables", "-w", "-t", "filter", "-D", *_split(line[3:])], check=False)
    chains = [line[1:].split()[0] for line in rules if line.startswith(":") and line[1:].startswith(CHAIN_PREFIXES)]
    for chain in chains:
        subprocess.run(["iptables", "-w", "-t", "filter", "-F", chain], check=False)
    for chain in chains:
        subprocess.run(["iptables", "-w", "-t", "filter", "-X", chain], check=False)
    sets = subprocess.run(["ipset", "list", "-n"], capture_output=True, text=True, check=False).stdout.split()
    for name in sets:
        if name.startswith(IPSET_PREFIXES):
            subprocess.run(["ipset", "destroy", name], check=False)


def _split(rule: str) -> list[str]:
    import shlex
    return shlex.split(rule)


@contextlib.contextmanager
def enforcing(kubeconfig: str, namespaces: set[str], workdir: Path) -> Iterator[ScopedApiProxy]:
    """kube-router's firewall for the NetworkPolicies and pods of `namespaces` only, while
    the block runs; stopped and cleaned (every rule, chain and ipset) however the block ends. Yields
    the proxy (its `hidden` names the policies and pods of other namespaces it never saw)."""
    assert os.geteuid() == 0, "kube-router changes iptables: run the e2e tests as root, as the cluster is"
    binary = build()
    assert not leftovers(), f"kube-router rules are present before the test (another run?): {leftovers()}"
    proxy = ScopedApiProxy(kubeconfig, namespaces, workdir)
    log = (workdir / "kube-router.log").open("wb")
    proc: subprocess.Popen[bytes] | None = None
    try:
        proc = subprocess.Popen(
            [str(binary), f"--kubeconfig={proxy.kubeconfig}", "--run-firewall=true", "--run-router=false",
             "--run-service-proxy=false", "--enable-cni=false", f"--hostname-override={NODE_NAME}",
             "--health-port=0", "--metrics-port=0", f"--service-cluster-ip-range={SERVICE_CIDR}", "--v=1"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        yield proxy
    finally:
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        proxy.close()
        log.close()
        cleanup()
        wait_for(lambda: not leftovers(), timeout=30, what="kube-router's rules and ipsets removed")
