"""The chart's web UI (`ui.*` values), rendered with `helm template`: off by default; its
account may only impersonate (proxy) or do nothing (token); its pods are never selected
by the operator's Deployment or webhook Service."""
from __future__ import annotations

import subprocess

from cluster import HELM
from cluster.harness import CHART, helm_template


render = helm_template


def ui_objects(docs: list[dict]) -> dict[str, dict]:
    return {d["kind"]: d for d in docs if d["metadata"]["name"].endswith("-ui")}


def test_the_ui_is_off_by_default():
    assert ui_objects(render()) == {}


def test_proxy_mode_may_only_impersonate_and_can_be_restricted():
    docs = render("--set", "ui.enabled=true", "--set", "ui.auth=proxy", "--set", "ui.proxy.sharedSecret.secretName=proxy",
                  "--set", "ui.impersonation.groups={finance,qa}", "--set", "ui.namespaces={payments}")
    ui = ui_objects(docs)
    assert set(ui) >= {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment", "Service"}
    rules = ui["ClusterRole"]["rules"]
    assert {v for r in rules for v in r["verbs"]} == {"impersonate"}
    assert {res for r in rules for res in r["resources"]} == {"users", "groups"}
    groups = next(r for r in rules if r["resources"] == ["groups"])
    assert groups["resourceNames"] == ["finance", "qa"]
    assert "resourceNames" not in next(r for r in rules if r["resources"] == ["users"])
    assert ui["ClusterRoleBinding"]["subjects"][0]["name"] == ui["ServiceAccount"]["metadata"]["name"]
    # No other binding names the UI's account.
    sa = ui["ServiceAccount"]["metadata"]["name"]
    bindings = [d for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding")
                and any(s.get("name") == sa for s in d.get("subjects") or [])]
    assert [b["metadata"]["name"] for b in bindings] == [ui["ClusterRoleBinding"]["metadata"]["name"]]
    env = {e["name"]: e.get("value") for e in ui["Deployment"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["FLOWRUN_UI_AUTH"] == "proxy" and env["FLOWRUN_UI_NAMESPACES"] == "payments"


def test_token_mode_gives_the_ui_no_rights_and_its_pods_are_its_own():
    docs = render("--set", "ui.enabled=true", "--set", "ui.ingress.enabled=true",
                  "--set", "ui.ingress.host=flows.example.org", "--set", "ui.ingress.tlsSecretName=flows-tls")
    ui = ui_objects(docs)
    assert "ClusterRole" not in ui and "ClusterRoleBinding" not in ui
    pod_labels = ui["Deployment"]["spec"]["template"]["metadata"]["labels"]
    operator = next(d for d in docs if d["kind"] == "Deployment" and not d["metadata"]["name"].endswith("-ui"))
    selectors = [operator["spec"]["selector"]["matchLabels"]] + [
        d["spec"]["selector"] for d in docs if d["kind"] == "Service" and not d["metadata"]["name"].endswith("-ui")]
    for selector in selectors:
        assert not all(pod_labels.get(k) == v for k, v in selector.items()), selector
    assert ui["Service"]["spec"]["selector"].items() <= pod_labels.items()
    ingress = ui["Ingress"]["spec"]
    assert ingress["rules"][0]["host"] == "flows.example.org" and ingress["tls"][0]["secretName"] == "flows-tls"
    container = ui["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "flowrun.ui"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_invalid_ui_values_are_refused():
    proc = subprocess.run([str(HELM), "template", "ci", str(CHART), "--set", "ui.auth=basic"],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "/ui/auth" in proc.stderr


def _fails(*args: str) -> str:
    proc = subprocess.run([str(HELM), "template", "ci", str(CHART), "--kube-version", "1.33.0", *args],
                          capture_output=True, text=True)
    assert proc.returncode != 0, "rendered"
    return proc.stderr


def test_proxy_mode_without_a_proof_of_the_proxy_does_not_render():
    """Identity headers from anyone who reaches the Service would make them anyone: the
    chart refuses proxy mode without a shared secret or mTLS (issue 26)."""
    assert "proves itself" in _fails("--set", "ui.enabled=true", "--set", "ui.auth=proxy")


def test_system_users_and_groups_are_never_impersonated():
    for key in ("users", "groups"):
        err = _fails("--set", "ui.enabled=true", "--set", "ui.auth=proxy",
                     "--set", "ui.proxy.sharedSecret.secretName=proxy",
                     "--set", f"ui.impersonation.{key}={{alice,system:masters}}")
        assert "system:" in err or "not" in err, err


def test_proxy_groups_default_to_none_and_the_secret_is_mounted():
    docs = render("--set", "ui.enabled=true", "--set", "ui.auth=proxy", "--set", "ui.proxy.sharedSecret.secretName=proxy")
    ui = ui_objects(docs)
    rules = ui["ClusterRole"]["rules"]
    assert [r["resources"] for r in rules] == [["users"]]  # no group may be impersonated
    pod = ui["Deployment"]["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["FLOWRUN_UI_PROXY_SECRET_FILE"] == "/etc/flowrun-ui-proxy/secret"
    assert env["FLOWRUN_UI_IMPERSONATE_GROUPS"] == ""
    assert {"name": "proxy-secret", "secret": {"secretName": "proxy"}} in pod["volumes"]


def test_proxy_mtls_serves_tls_and_probes_the_port():
    docs = render("--set", "ui.enabled=true", "--set", "ui.auth=proxy", "--set", "ui.proxy.mtls.secretName=ui-tls")
    pod = ui_objects(docs)["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["FLOWRUN_UI_CLIENT_CA_FILE"] == "/etc/flowrun-ui-tls/ca.crt"
    assert "tcpSocket" in container["livenessProbe"] and "FLOWRUN_UI_PROXY_SECRET_FILE" not in env
