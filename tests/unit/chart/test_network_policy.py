"""The chart's NetworkPolicies (networkPolicy.*), rendered with `helm template` (issue 26).
The test cluster's network plugin does not enforce NetworkPolicy, so these are render
tests: what the policies select and allow. They are enforced for real in one e2e test,
tests/e2e/adversarial/test_adv_network_policy.py (kube-router for its duration)."""
from __future__ import annotations

from cluster.harness import helm_template


def policies(*args: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in helm_template(*args) if d["kind"] == "NetworkPolicy"}


def pods(*args: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
            for d in helm_template(*args) if d["kind"] == "Deployment"}


def selects(policy: dict, labels: dict) -> bool:
    return policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()


def test_on_by_default_the_operator_takes_only_webhook_and_metrics():
    got = policies()
    (op,) = got.values()
    assert op["spec"]["policyTypes"] == ["Ingress"]
    operator_pods = pods()
    assert any(selects(op, labels) for labels in operator_pods.values())
    ports = [[p["port"] for p in rule["ports"]] for rule in op["spec"]["ingress"]]
    assert ports == [[9443], [9090]]  # nothing else: the kubelet's probes are not policed
    metrics = op["spec"]["ingress"][1]["from"]
    assert metrics == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]


def test_the_webhook_only_from_the_api_servers_source():
    op = next(iter(policies("--set", "networkPolicy.webhook.from={10.0.0.0/24,192.168.5.10/32}").values()))
    webhook = op["spec"]["ingress"][0]
    assert webhook["ports"][0]["port"] == 9443
    assert webhook["from"] == [{"ipBlock": {"cidr": "10.0.0.0/24"}}, {"ipBlock": {"cidr": "192.168.5.10/32"}}]


def test_metrics_from_a_configured_namespace_and_none_when_off():
    op = next(iter(policies("--set", "networkPolicy.metrics.namespace=prom").values()))
    assert op["spec"]["ingress"][1]["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "prom"}
    op = next(iter(policies("--set", "metrics.enabled=false").values()))
    assert [[p["port"] for p in r["ports"]] for r in op["spec"]["ingress"]] == [[9443]]


def test_the_ui_only_from_the_proxy_or_ingress():
    base = ("--set", "ui.enabled=true")
    got = policies(*base)
    ui = next(p for name, p in got.items() if name.endswith("-ui"))
    ui_pod = next(labels for name, labels in pods(*base).items() if name.endswith("-ui"))
    assert selects(ui, ui_pod) and ui["spec"]["ingress"] == []  # none by default: port-forward only
    operator_policy = next(p for name, p in got.items() if not name.endswith("-ui"))
    assert not selects(operator_policy, ui_pod)  # the UI's pods are not the operator's
    got = policies(*base, "--set-json",
                   'networkPolicy.ui.from=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"ingress"}}}]')
    ui = next(p for name, p in got.items() if name.endswith("-ui"))
    assert ui["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8080}], "from": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress"}}}]}]


def test_off_renders_none():
    assert policies("--set", "networkPolicy.enabled=false", "--set", "ui.enabled=true") == {}
