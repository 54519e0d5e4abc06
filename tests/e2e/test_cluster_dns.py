"""The test cluster's DNS (tests/cluster/dns-up.sh, docs/cluster.md): pods resolve Service
names as on every real cluster, through the `kube-dns` Service, with real lookups and
real answers compared with what the API says; and preparing the cluster again restarts
nothing (other test runs share the cluster).
"""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import urllib.request
from pathlib import Path

import pytest

import cluster
from cluster import kubectl, wait_for

pytestmark = pytest.mark.e2e

ECHO = """
import http.server, sys
token = sys.argv[1].encode()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("content-length", str(len(token))); self.end_headers()
        self.wfile.write(token)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), H).serve_forever()
"""

# Resolves each name (glibc, /etc/resolv.conf as the kubelet wrote it), then fetches from
# the echo Service by its short name. The fetch retries for a while: kube-proxy programs a
# new Service's rules a moment after it appears.
PROBE = """
import json, socket, sys, urllib.request
answers = {}
for name in sys.argv[1:]:
    try:
        answers[name] = sorted({i[4][0] for i in socket.getaddrinfo(name, 80, socket.AF_INET, socket.SOCK_STREAM)})
    except socket.gaierror as exc:
        answers[name] = "gaierror %d" % exc.errno
try:  # the test waited until the Service answers at its ClusterIP (kube-proxy's rules)
    body = urllib.request.urlopen("http://echo:8080/", timeout=5).read().decode()
except OSError as exc:
    body = "failed: %s" % exc
print(json.dumps({"answers": answers, "body": body, "resolv": open("/etc/resolv.conf").read()}))
"""


def pod(name: str, image: str, args: list[str], labels: dict | None = None, restart: str = "Never") -> str:
    return json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}},
        "spec": {"restartPolicy": restart, "terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "main", "image": image, "imagePullPolicy": "Never",
                                 "command": ["python3", "-c", *args],
                                 "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                                                     "allowPrivilegeEscalation": False,
                                                     "capabilities": {"drop": ["ALL"]},
                                                     "seccompProfile": {"type": "RuntimeDefault"}}}]}})


def _answers(url: str) -> str | None:
    try:
        return urllib.request.urlopen(url, timeout=2).read().decode()
    except OSError:
        return None


def cluster_ip(namespace: str, name: str) -> str:
    ip = kubectl("get", "service", name, "-o", "jsonpath={.spec.clusterIP}", namespace=namespace).stdout.strip()
    assert ip, f"service {namespace}/{name} has no ClusterIP"
    return ip


def test_a_pod_resolves_service_names_through_kube_dns(namespace, base_image):
    token = f"echo-{secrets.token_hex(4)}"
    kubectl("apply", "-f", "-", namespace=namespace, input=pod("echo", base_image, [ECHO, token],
                                                               labels={"app": "echo"}, restart="Always"))
    kubectl("apply", "-f", "-", namespace=namespace, input=json.dumps({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "echo"},
        "spec": {"selector": {"app": "echo"}, "ports": [{"port": 8080, "targetPort": 8080}]}}))
    wait_for(lambda: kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=echo", "-o",
                             "jsonpath={.items[*].endpoints[?(@.conditions.ready==true)].addresses[0]}",
                             namespace=namespace, check=False).stdout.strip(),
             timeout=180, what="a ready endpoint of Service echo")
    api_ip, echo_ip = cluster_ip("default", "kubernetes"), cluster_ip(namespace, "echo")
    dns_ip = cluster_ip("kube-system", "kube-dns")
    wait_for(lambda: _answers(f"http://{echo_ip}:8080/") == token, timeout=60,
             what="Service echo to answer at its ClusterIP")
    names = {
        "kubernetes.default.svc.cluster.local": [api_ip],
        "kubernetes.default.svc": [api_ip],
        "kubernetes.default": [api_ip],
        "echo": [echo_ip],  # the pod's own namespace, by the search list
        f"echo.{namespace}": [echo_ip],
        f"echo.{namespace}.svc.cluster.local": [echo_ip],
    }
    missing = f"no-such-service.{namespace}.svc.cluster.local"
    kubectl("apply", "-f", "-", namespace=namespace, input=pod("probe", base_image, [PROBE, *names, missing]))

    def finished() -> str | None:
        phase = kubectl("get", "pod", "probe", "-o", "jsonpath={.status.phase}", namespace=namespace).stdout
        return phase if phase in ("Succeeded", "Failed") else None

    phase = wait_for(finished, timeout=180, what="the probe pod to finish")
    log = kubectl("logs", "probe", namespace=namespace).stdout
    assert phase == "Succeeded", log
    result = json.loads(log.strip().splitlines()[-1])
    resolv = result["resolv"].splitlines()
    assert f"nameserver {dns_ip}" in resolv, result["resolv"]
    assert f"search {namespace}.svc.cluster.local svc.cluster.local cluster.local" in resolv, result["resolv"]
    for name, want in names.items():
        assert result["answers"][name] == want, (name, result)
    # a name the cluster does not have: NXDOMAIN, not some wildcard answer (EAI_NONAME)
    assert result["answers"][missing] == "gaierror -2", result
    assert result["body"] == token, result


STATE = Path(os.environ.get("FLOWRUN_CLUSTER_STATE", "/var/lib/flowrun-cluster"))


def running(name: str) -> str:
    """The PID of a component dns-up.sh started or restarted (its PID file), alive."""
    pid = (STATE / "run" / f"{name}.pid").read_text().strip()
    assert Path(f"/proc/{pid}").exists(), f"{name} (pid {pid}) is not running"
    return pid


def test_preparing_the_cluster_again_restarts_nothing(kubeconfig):
    """dns-up.sh runs for every test session: on a cluster that has its DNS it must change
    nothing (the kubelet and CoreDNS keep running, the kubelet's config stays)."""
    if not cluster.is_local_cluster():
        pytest.skip("dns-up.sh is for the local cluster (kind has its own CoreDNS)")
    before = {name: running(name) for name in ("kubelet", "coredns")}
    config = (STATE / "conf" / "kubelet.yaml").read_text()
    assert "clusterDNS: [10.96.0.10]" in config and "clusterDomain: cluster.local" in config, config
    with cluster.machine_lock("cluster-up"):
        out = subprocess.run(["bash", str(cluster.CLUSTER_DIR / "dns-up.sh")], capture_output=True,
                             text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "cluster DNS ready" in out.stderr, out.stderr
    assert "restarting" not in out.stderr and "starting CoreDNS" not in out.stderr, out.stderr
    assert {name: running(name) for name in ("kubelet", "coredns")} == before
    assert (STATE / "conf" / "kubelet.yaml").read_text() == config
