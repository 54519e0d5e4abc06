"""The chart's NetworkPolicies, enforced for real (issue 26, item 7).

The test cluster's network plugin (the CNI bridge) ignores NetworkPolicy. For this one
test, kube-router's network-policy controller (built from its Go module,
tests/cluster/netpol.py) enforces the policies of this test's namespaces only, then is
stopped and every rule and ipset it made is removed.

The chart's policies are rendered (`helm template`) into this test's namespace, as a
release named `netpol`: stand-in pods carry the operator's and the UI's pod labels and
listen on the webhook (9443), metrics (9090) and UI (8080) ports. The policies allow the
webhook only from one address (`networkPolicy.webhook.from`: the allowed pod's /32, where
a real cluster names the API server's source), the metrics port only from one namespace
and the UI only from that namespace's pods (`networkPolicy.ui.from`).

- Before enforcement, a tenant's pod (the intruder, in the policies' own namespace)
  reaches every port: the negatives below are the policies' doing.
- With enforcement: the allowed pod reaches all three ports; the intruder, and a pod of a
  namespace without policies, are refused on each (a real connection attempt: refused or
  timed out); this machine (where the API server and the kubelet run) still reaches the
  webhook port; pods that no policy selects are unaffected (the intruder reaches a server
  in a namespace without policies; the chart-deployed operator in flowrun-system, when
  present, is not policed: its policies and pods are kept from kube-router, which sees
  only this test's namespaces).
- After: no rule, chain or ipset of kube-router is left, and the intruder reaches every
  port again.
"""
from __future__ import annotations

import json
import socket
import subprocess

import pytest

from cluster import kubectl, wait_for
from cluster import netpol
from cluster.harness import helm_template
from cluster.pytest_plugin import _namespace_name, create_namespace

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

RELEASE = "netpol"
SERVER = r"""
import socket, sys, threading
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(64)
    while True:
        c, _ = s.accept(); c.close()
for p in sys.argv[1:]:
    threading.Thread(target=serve, args=(int(p),), daemon=True).start()
print("listening", sys.argv[1:], flush=True)
threading.Event().wait()
"""
# Prints what a TCP connection attempt met: open (connected), refused, timeout.
PROBE = r"""
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=4):
        print("open")
except ConnectionRefusedError:
    print("refused")
except (socket.timeout, TimeoutError):
    print("timeout")
except OSError as e:
    print("error", e.errno)
"""
SECURE = {"runAsNonRoot": True, "runAsUser": 1000, "allowPrivilegeEscalation": False,
          "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


def pod(namespace: str, name: str, image: str, labels: dict[str, str], ports: list[int]) -> str:
    """A pod accepting connections on `ports`; returns its IP once it listens."""
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
                "spec": {"automountServiceAccountToken": False, "terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "c", "image": image, "imagePullPolicy": "IfNotPresent",
                                         "command": ["python3", "-c", SERVER, *map(str, ports)],
                                         "securityContext": SECURE}]}}
    kubectl("apply", "-f", "-", namespace=namespace, input=json.dumps(manifest))

    def listening() -> str:
        phase, _, ip = kubectl("get", "pod", name, "-o", "jsonpath={.status.phase} {.status.podIP}",
                               namespace=namespace, check=False).stdout.strip().partition(" ")
        if phase != "Running" or not ip:
            return ""
        return ip if "listening" in kubectl("logs", name, namespace=namespace, check=False).stdout else ""
    return wait_for(listening, timeout=180, what=f"pod {namespace}/{name} running and listening")


def probe(namespace: str, client: str, ip: str, port: int) -> str:
    """What `client` meets connecting to ip:port (from inside its pod's network)."""
    out = kubectl("exec", client, "--", "python3", "-c", PROBE, ip, str(port), namespace=namespace,
                  timeout=60).stdout.strip()
    return out.split()[0] if out else out


def from_this_machine(ip: str, port: int) -> str:
    try:
        with socket.create_connection((ip, port), timeout=4):
            return "open"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "timeout"


def chart_policies(namespace: str, allowed_namespace: str, webhook_source: str) -> tuple[list[dict], dict, dict]:
    """The chart's NetworkPolicies for a release in `namespace`, and the pod labels of its
    operator and UI Deployments."""
    docs = helm_template("--set", "ui.enabled=true",
                         "--set", f"networkPolicy.webhook.from={{{webhook_source}/32}}",
                         "--set", f"networkPolicy.metrics.namespace={allowed_namespace}",
                         "--set-json", 'networkPolicy.ui.from=[{"namespaceSelector":{"matchLabels":'
                                       f'{{"kubernetes.io/metadata.name":"{allowed_namespace}"}}}}}}]',
                         release=RELEASE, namespace=namespace)
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    deployments = {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
                   for d in docs if d["kind"] == "Deployment"}
    ui = next(labels for name, labels in deployments.items() if name.endswith("-ui"))
    operator = next(labels for name, labels in deployments.items() if not name.endswith("-ui"))
    assert len(policies) == 2, [p["metadata"]["name"] for p in policies]
    return policies, operator, ui


def policed_names() -> set[str]:
    """The NetworkPolicies kube-router has rules for (its pod chains name them)."""
    out = subprocess.run(["iptables-save", "-t", "filter"], capture_output=True, text=True, check=True).stdout
    marker = "run through nw policy "
    return {line.split(marker, 1)[1].split('"')[0].strip() for line in out.splitlines() if marker in line}


def chained_namespaces() -> set[str]:
    """The namespaces of the pods kube-router made a firewall chain for."""
    out = subprocess.run(["iptables-save", "-t", "filter"], capture_output=True, text=True, check=True).stdout
    marker = "rule to REJECT traffic destined for POD name:"
    return {line.split(marker, 1)[1].split("namespace:", 1)[1].split('"')[0].strip()
            for line in out.splitlines() if marker in line}


def test_the_charts_policies_refuse_what_they_do_not_allow(namespace, base_image, kubeconfig, tmp_path):
    allowed_ns = _namespace_name("np-allowed")
    open_ns = _namespace_name("np-open")
    for ns in (allowed_ns, open_ns):
        create_namespace(ns)
    try:
        # The stand-ins, a tenant's pod beside them, the allowed pod, a bystander elsewhere.
        scraper = pod(allowed_ns, "scraper", base_image, {"role": "scraper"}, [8081])
        policies, operator_labels, ui_labels = chart_policies(namespace, allowed_ns, scraper)
        op_ip = pod(namespace, "operator", base_image, operator_labels, [9443, 9090])
        ui_ip = pod(namespace, "ui", base_image, ui_labels, [8080])
        pod(namespace, "intruder", base_image, {"role": "intruder"}, [8081])
        bystander = pod(open_ns, "bystander", base_image, {"role": "bystander"}, [8080])
        targets = {"webhook": (op_ip, 9443), "metrics": (op_ip, 9090), "ui": (ui_ip, 8080)}

        # Without enforcement every pod reaches every port.
        for what, (ip, port) in targets.items():
            assert probe(namespace, "intruder", ip, port) == "open", what
        for policy in policies:
            kubectl("apply", "-f", "-", namespace=namespace, input=json.dumps(policy))
        names = {p["metadata"]["name"] for p in policies}
        flowrun_system = set(kubectl("get", "networkpolicies", "-n", "flowrun-system", "-o",
                                     "jsonpath={.items[*].metadata.name}", check=False).stdout.split())
        system_pods = kubectl("get", "pods", "-n", "flowrun-system", "-l", "app.kubernetes.io/name=flowrun-operator",
                              "-o", "jsonpath={.items[?(@.status.phase==\"Running\")].status.podIP}",
                              check=False).stdout.split()
        # The chart-deployed operator's metrics port, reached by a tenant's pod now (its
        # own policy, were kube-router to see it, would refuse that).
        system_open = [ip for ip in system_pods if probe(namespace, "intruder", ip, 9090) == "open"]

        mine = {namespace, allowed_ns, open_ns}
        with netpol.enforcing(kubeconfig, mine, tmp_path / "kube-router") as proxy:
            wait_for(lambda: policed_names() >= names, timeout=180,
                     what=f"kube-router's rules for {sorted(names)} (log: {tmp_path / 'kube-router' / 'kube-router.log'})")
            # Allowed: the webhook's listed source, the metrics namespace, the UI's peers.
            for what, (ip, port) in targets.items():
                assert probe(allowed_ns, "scraper", ip, port) == "open", what
            # Refused: a tenant's pod in the same namespace, a pod of another namespace.
            for what, (ip, port) in targets.items():
                assert probe(namespace, "intruder", ip, port) in ("refused", "timeout"), what
                assert probe(open_ns, "bystander", ip, port) in ("refused", "timeout"), what
            # This machine (the API server calling the webhook, the kubelet's probes).
            assert from_this_machine(op_ip, 9443) == "open"
            # Pods no policy selects are unaffected.
            assert probe(namespace, "intruder", bystander, 8080) == "open"
            assert probe(allowed_ns, "scraper", bystander, 8080) == "open"
            # Only this test's policies and pods: the others were kept from kube-router.
            assert policed_names() == names, policed_names()
            chained = chained_namespaces()
            assert namespace in chained and chained <= mine, chained
            assert {f"flowrun-system/{n}" for n in flowrun_system} <= proxy.hidden, proxy.hidden
            for ip in system_open:
                assert probe(namespace, "intruder", ip, 9090) == "open", ip
            assert any(r.startswith(f"GET {netpol.POLICIES}") for r in proxy.requests)

        # After: nothing of kube-router is left, and all works as before.
        assert netpol.leftovers() == []
        for what, (ip, port) in targets.items():
            assert probe(namespace, "intruder", ip, port) == "open", what
            assert probe(open_ns, "bystander", ip, port) == "open", what
    finally:
        for ns in (allowed_ns, open_ns):
            kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)
