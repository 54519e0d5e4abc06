"""Notifier sinks as an SSRF and a stall (issue 26), against the session's operator.

- SSRF: sinks at loopback (by address and by a name that resolves to it), the cloud
  metadata address, the API server's endpoint and the `kubernetes` Service (by its
  ClusterIP and by the names a user would write, `kubernetes.default.svc` and its full
  name, resolved by the cluster DNS) are refused after DNS, at connect time: the receiver
  behind loopback never gets a request; each notifier's status says only "delivery
  failed" (nothing about the network), while the operator's own log names the egress
  policy (for the names: the API server, so they did resolve). A control sink on an
  allowed address is delivered, so the refusals are the policy's.
- Stall: a receiver pod behind a Service that trickles one byte a second gets several
  deliveries from one namespace; a fast receiver pod gets one from another namespace. Both
  are reached by their Service names, as in-cluster receivers are. The fast one is
  delivered while the slow ones are still in flight (the per-namespace limit and the
  worker pool), and the slow ones end at the total deadline.

The session's operator runs on this machine but resolves names as the chart's operator
does in its pod: through the cluster DNS (harness.OperatorProcess, cluster-dns.sh).
"""
from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cluster import kubectl, wait_for
from cluster.flowruns import apply, flowrun_manifest, wait_phase
from cluster.harness import apiserver_host
from cluster.pytest_plugin import _namespace_name, create_namespace

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def secret(name: str, url: str) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "data": {"url": base64.b64encode(url.encode()).decode()}}


def notifier(name: str, who: str) -> dict:
    return {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRunNotifier", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"notify-test": who}}, "events": ["Paused"],
                     "sink": {"type": "webhook", "urlSecretRef": {"name": name, "key": "url"}}}}


def paused_run(namespace: str, name: str, who: str) -> None:
    run = flowrun_manifest(name, "testflows.basic:pauses_until_cancelled")
    run["metadata"]["labels"] = {"notify-test": who}
    apply(namespace, run)


def ready(namespace: str, name: str) -> dict:
    obj = json.loads(kubectl("get", "frn", name, "-o", "json", namespace=namespace).stdout)
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), {})


class HostReceiver:
    """Listens on every address of this machine: reachable as 127.0.0.1 (refused) and as
    the node address (allowed)."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        me = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                me.paths.append(self.path)
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass
        self.server = ThreadingHTTPServer(("0.0.0.0", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_sinks_at_loopback_metadata_and_the_api_server_are_refused(operator, namespace):
    receiver = HostReceiver()
    node = apiserver_host()
    service_ip = kubectl("get", "service", "kubernetes", "-n", "default", "-o",
                         "jsonpath={.spec.clusterIP}").stdout.strip()
    sinks = {
        "loop": f"http://127.0.0.1:{receiver.port}/loop",
        "name": f"http://localhost:{receiver.port}/name",  # a name resolving to loopback
        "meta": "http://169.254.169.254/latest/meta-data/",
        "api": f"https://{node}:6443/api",
        "svc": f"https://{service_ip}:443/api",
        # the names users write for it, resolved by the cluster DNS to that ClusterIP
        "svcname": "https://kubernetes.default.svc/api",
        "svcfqdn": "https://kubernetes.default.svc.cluster.local:443/api",
        "ok": f"http://{node}:{receiver.port}/ok",  # the control: allowed
    }
    for name, url in sinks.items():
        apply(namespace, secret(name, url))
        apply(namespace, notifier(name, name))
        paused_run(namespace, f"run-{name}", name)
    wait_for(lambda: "/ok" in receiver.paths, timeout=300, what="the control delivery")
    for name in sinks:
        if name == "ok":
            continue
        condition = wait_for(lambda n=name: (c := ready(namespace, n)).get("reason") == "DeliveryFailing" and c,
                             timeout=120, what=f"notifier {name} failing")
        assert condition["message"] == "delivery failed; retrying", condition
        status = kubectl("get", "frn", name, "-o", "json", namespace=namespace).stdout
        for word in ("egress", "loopback", "link-local", "API server", "refused", "HTTP", "resolve"):
            assert word not in json.loads(status)["status"]["lastError"]["message"]
    assert "/loop" not in receiver.paths and "/name" not in receiver.paths
    log = operator.log_path.read_text(errors="replace")
    for name in ("loop", "name", "meta", "api", "svc", "svcname", "svcfqdn"):
        said = [line for line in log.splitlines() if f"notifier {namespace}/{name}, run run-{name}," in line]
        assert any("refused by the egress policy" in line for line in said), (name, said)
        assert not any("does not resolve" in line for line in said), (name, said)
        if name.startswith("svc"):  # by address and by name: the API server's Service
            assert any("an address of the Kubernetes API server" in line for line in said), (name, said)
    for name in sinks:
        kubectl("patch", "fr", f"run-{name}", "--type", "merge", "-p", '{"spec":{"state":"Cancelled"}}',
                namespace=namespace)


RECEIVER = r"""
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
SLOW = sys.argv[1] == "slow"
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        print("START", self.path, flush=True)
        if SLOW:
            try:
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                for _ in range(600):
                    self.wfile.write(b"X"); self.wfile.flush(); time.sleep(1)
            except OSError:
                pass
            print("END", self.path, flush=True)
            return
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
        print("DONE", self.path, flush=True)
    def log_message(self, *a): pass
ThreadingHTTPServer(("0.0.0.0", 8080), H).serve_forever()
"""


def receiver_pod(namespace: str, name: str, mode: str, image: str) -> str:
    """A receiver pod behind a Service of the same name; returns the Service's DNS name
    once the Service has the pod as a ready endpoint."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"receiver": name}},
           "spec": {"containers": [{"name": "r", "image": image, "imagePullPolicy": "IfNotPresent",
                                    "command": ["python3", "-c", RECEIVER, mode],
                                    "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                                                        "allowPrivilegeEscalation": False,
                                                        "capabilities": {"drop": ["ALL"]},
                                                        "seccompProfile": {"type": "RuntimeDefault"}}}]}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
               "spec": {"selector": {"receiver": name}, "ports": [{"port": 8080, "targetPort": 8080}]}}
    kubectl("apply", "-f", "-", namespace=namespace, input=json.dumps(pod))
    kubectl("apply", "-f", "-", namespace=namespace, input=json.dumps(service))
    wait_for(lambda: kubectl("get", "endpointslices", "-l", f"kubernetes.io/service-name={name}", "-o",
                             "jsonpath={.items[*].endpoints[?(@.conditions.ready==true)].addresses[0]}",
                             namespace=namespace, check=False).stdout.strip(),
             timeout=180, what=f"receiver pod {name} ready behind its Service")
    return f"{name}.{namespace}.svc"


def pod_log(namespace: str, name: str) -> str:
    return kubectl("logs", name, namespace=namespace, check=False).stdout


def test_a_trickling_receiver_does_not_delay_another_namespace(operator, namespace, runner_image):
    other = _namespace_name("adv-fast")
    create_namespace(other)
    try:
        wait_for(lambda: kubectl("get", "serviceaccount", "default", namespace=other, check=False).returncode == 0,
                 timeout=60, what="the default ServiceAccount")
        slow_host = receiver_pod(namespace, "slow-receiver", "slow", runner_image)
        fast_host = receiver_pod(other, "fast-receiver", "fast", runner_image)
        apply(namespace, secret("slow", f"http://{slow_host}:8080/slow"))
        apply(namespace, notifier("slow", "slow"))
        apply(other, secret("fast", f"http://{fast_host}.cluster.local:8080/fast"))
        apply(other, notifier("fast", "fast"))
        for i in range(4):  # more slow deliveries than the old two workers for the whole cluster
            paused_run(namespace, f"slow-{i}", "slow")
        wait_for(lambda: pod_log(namespace, "slow-receiver").count("START") >= 2, timeout=300,
                 what="the slow receiver holding deliveries")
        paused_run(other, "fast-0", "fast")
        wait_phase(other, "fast-0", "Paused", timeout=300)
        wait_for(lambda: "DONE /fast" in pod_log(other, "fast-receiver"), timeout=120, what="the fast delivery")
        # ... while the slow deliveries are still in flight (started, not ended)
        slow = pod_log(namespace, "slow-receiver")
        assert slow.count("START") > slow.count("END"), slow
        # The per-namespace limit: never more than two of the slow namespace at once, and
        # each ends at the total deadline (its record: delivery failed).
        condition = wait_for(lambda: (c := ready(namespace, "slow")).get("reason") == "DeliveryFailing" and c,
                             timeout=120, what="the slow deliveries to fail at their deadline")
        assert condition["message"] == "delivery failed; retrying"
        # the receiver sees the operator hang up (its next write fails: a second or two later)
        wait_for(lambda: "END /slow" in pod_log(namespace, "slow-receiver"), timeout=60,
                 what="the slow receiver to see the connection closed")
    finally:
        for i in range(4):
            kubectl("patch", "fr", f"slow-{i}", "--type", "merge", "-p", '{"spec":{"state":"Cancelled"}}',
                    namespace=namespace, check=False)
        kubectl("delete", "namespace", other, "--wait=false", "--ignore-not-found", check=False)
