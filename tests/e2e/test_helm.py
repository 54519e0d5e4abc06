"""The Helm chart (charts/flowrun-operator), from lint to a real install.

- every ci/*-values.yaml scenario passes `helm lint --strict`, and its `helm template`
  output passes `kubeconform -strict` against the JSON schemas of this very cluster's
  API (its OpenAPI v3 document: no registry or internet is needed) plus the FlowRun
  schema made from crds/ (the examples under examples/manifests are validated with it);
- crds.install / crds.keep, RBAC modes and webhook selectors, read from `helm template`
  (the CRD is cluster-scoped and shared with concurrent test sessions, so installs in
  tests use crds.install=false and leave the suite's CRD alone);
- a real install from the local images: a paused run resumed with input, inputs sent to
  a running flow as the chart's personas (a viewer refused, an approver delivered, a
  forged sender refused by the chart's policy), a suspended run resumed, an upgrade that
  rolls the operator, and an uninstall that leaves nothing.

Release names and cluster-scoped names carry the session prefix and a random part, so
concurrent sessions on one cluster never collide.
"""
from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import subprocess
from pathlib import Path

import pytest
import yaml

from cluster import HELM, KUBECONFORM, K8S_VERSION, is_local_cluster, kubectl, wait_for
from cluster.flowruns import get_fr, names, patch_fr, wait_phase
from cluster.harness import IMAGE_TAG, REPO, VERSION, build_runner_image
from cluster.pytest_plugin import SESSION_PREFIX
from flowrun.contract.instances import labelled
from flowrun.contract.leases import lease_name

pytestmark = pytest.mark.e2e

CHART = REPO / "charts" / "flowrun-operator"
CI_VALUES = sorted(CHART.glob("ci/*-values.yaml"))
CRD_SOURCE = REPO / "crds" / "flowrun.io_flowruns.yaml"
KUBE_VERSION = K8S_VERSION.lstrip("v")
OPERATOR_IMAGE = f"flowrun-operator:{IMAGE_TAG}"


def helm(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ})
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def template(*args: str, release: str = "ci", namespace: str = "flowrun-system") -> list[dict]:
    out = helm("template", release, str(CHART), "--namespace", namespace,
               "--kube-version", KUBE_VERSION, *args).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def find(docs: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


# ---- lint and schema conformance ---------------------------------------------------

def test_ci_scenarios_exist():
    stems = {p.name for p in CI_VALUES}
    assert {"default-values.yaml", "namespaced-values.yaml", "no-webhook-values.yaml"} <= stems, stems


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name.removesuffix("-values.yaml"))
def test_lint_strict(values: Path):
    out = helm("lint", "--strict", str(CHART), "-f", str(values))
    assert "0 chart(s) failed" in out.stdout, out.stdout


def test_lint_rejects_unknown_values():
    """The schema refuses what the chart would silently ignore (a typo, a wrong type)."""
    typo = helm("lint", "--strict", str(CHART), "--set", "webhook.failurPolicy=Fail", check=False)
    assert typo.returncode != 0 and "failurPolicy" in typo.stdout + typo.stderr
    wrong = helm("lint", "--strict", str(CHART), "--set", "webhook.failurePolicy=Sometimes", check=False)
    assert wrong.returncode != 0


def _strict(schema):
    """JSON schema as kubeconform's -strict schemas are: unknown fields refused wherever
    the API defines the fields; int-or-string and quantities accept both forms."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("format") == "int-or-string" or schema.get("x-kubernetes-int-or-string") is True:
        return {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    out = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties", "definitions", "$defs", "schemas"):
            out[key] = {name: _strict(sub) for name, sub in value.items()}  # maps of schemas
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            out[key] = _strict(value)
        else:
            out[key] = value
    if ("properties" in out and "additionalProperties" not in out
            and out.get("x-kubernetes-preserve-unknown-fields") is not True):
        out["additionalProperties"] = False
    return out


def _kind_suffix(api_version: str) -> str:
    """kubeconform's {{ .KindSuffix }}: -<group's first label>-<version> (or -<version>)."""
    group, _, version = api_version.rpartition("/")
    return f"-{group.split('.')[0]}-{version}".lower() if group else f"-{version}".lower()


@pytest.fixture(scope="module")
def schema_dir(kubeconfig, tmp_path_factory) -> Path:
    """Standalone strict JSON schemas, one per kind, named as kubeconform looks them up."""
    out = tmp_path_factory.mktemp("schemas")
    paths = json.loads(kubectl("get", "--raw", "/openapi/v3").stdout)["paths"]
    wanted = {"api/v1", "apis/apps/v1", "apis/rbac.authorization.k8s.io/v1",
              "apis/admissionregistration.k8s.io/v1", "apis/apiextensions.k8s.io/v1", "apis/policy/v1",
              "apis/networking.k8s.io/v1"}
    for path in sorted(wanted):
        assert path in paths, f"the API server publishes no OpenAPI v3 document for {path}"
        doc = json.loads(kubectl("get", "--raw", "/openapi/v3/" + path, timeout=120).stdout)
        components = _strict(doc["components"])
        for name, schema in doc["components"]["schemas"].items():
            for gvk in schema.get("x-kubernetes-group-version-kind", []):
                api_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
                if path.endswith(api_version):
                    target = out / f"{gvk['kind'].lower()}{_kind_suffix(api_version)}.json"
                    target.write_text(json.dumps({"$ref": f"#/components/schemas/{name}",
                                                  "components": components}))
    # FlowRun and FlowRunNotifier: the CRDs' openAPIV3Schema (crds/ is the source of
    # truth), plus the object's envelope the CRD schema leaves to the API server.
    for crd, version in [(c, v) for c in (yaml.safe_load(p.read_text()) for p in sorted(CRD_SOURCE.parent.glob("*.yaml")))
                         for v in c["spec"]["versions"]]:
        schema = _strict(version["schema"]["openAPIV3Schema"])
        schema.setdefault("properties", {}).update({
            "apiVersion": {"type": "string", "enum": [f"{crd['spec']['group']}/{version['name']}"]},
            "kind": {"type": "string", "enum": [crd["spec"]["names"]["kind"]]},
            "metadata": {"type": "object"}})
        schema["additionalProperties"] = False
        api_version = f"{crd['spec']['group']}/{version['name']}"
        (out / f"{crd['spec']['names']['kind'].lower()}{_kind_suffix(api_version)}.json").write_text(json.dumps(schema))
    return out


def kubeconform(schema_dir: Path, *files: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    location = str(schema_dir) + "/{{ .ResourceKind }}{{ .KindSuffix }}.json"
    args = [str(KUBECONFORM), "-strict", "-summary", "-output", "text",
            "-kubernetes-version", KUBE_VERSION, "-schema-location", location]
    return subprocess.run(args + ([str(f) for f in files] or ["-"]), input=stdin,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name.removesuffix("-values.yaml"))
def test_template_conforms_to_the_api(values: Path, schema_dir: Path):
    rendered = helm("template", "ci", str(CHART), "-n", "flowrun-system", "--kube-version",
                    KUBE_VERSION, "-f", str(values)).stdout
    proc = kubeconform(schema_dir, stdin=rendered)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Invalid: 0, Errors: 0" in proc.stdout, proc.stdout
    assert "Skipped: 0" in proc.stdout, proc.stdout


def test_examples_conform_to_the_crd_schemas(schema_dir: Path):
    examples = sorted((REPO / "examples" / "manifests").glob("*.yaml")) + [
        REPO / "examples" / "custom-image" / "flowrun.yaml"]
    proc = kubeconform(schema_dir, *examples)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Valid: {len(examples)}, Invalid: 0" in proc.stdout, proc.stdout


def test_kubeconform_catches_what_the_api_refuses(schema_dir: Path):
    """The schemas are strict for real: an unknown field fails, in a FlowRun and a Deployment."""
    bad_run = "apiVersion: flowrun.io/v1alpha1\nkind: FlowRun\nmetadata: {name: x}\nspec: {flow: a:b, stat: Running}\n"
    assert kubeconform(schema_dir, stdin=bad_run).returncode != 0
    rendered = helm("template", "ci", str(CHART), "--kube-version", KUBE_VERSION,
                    "--show-only", "templates/deployment.yaml").stdout
    assert "replicas: 2" in rendered
    assert kubeconform(schema_dir, stdin=rendered.replace("replicas: 2", "replicas: 2\n  replica: 1")).returncode != 0


# ---- what the templates say --------------------------------------------------------

def test_crd_install_and_keep():
    sources = {d["metadata"]["name"]: d for d in (yaml.safe_load(p.read_text())
                                                  for p in sorted(CRD_SOURCE.parent.glob("*.yaml")))}
    assert set(sources) == {"flowruns.flowrun.io", "flowrunnotifiers.flowrun.io", "flowruninputs.flowrun.io",
                            "flowruninboxes.flowrun.io"}
    crds = find(template(), "CustomResourceDefinition")
    assert {c["metadata"]["name"] for c in crds} == set(sources)
    for crd in crds:
        assert crd["spec"] == sources[crd["metadata"]["name"]]["spec"], "the chart's CRDs must be crds/ unchanged"
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    for crd in find(template("--set", "crds.keep=false"), "CustomResourceDefinition"):
        assert "helm.sh/resource-policy" not in (crd["metadata"].get("annotations") or {})
    assert find(template("--set", "crds.install=false"), "CustomResourceDefinition") == []


def _rules(role: dict) -> dict[tuple[str, str], set[str]]:
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule.get("apiGroups", []):
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


def test_cluster_wide_rbac_covers_what_the_operator_does():
    """Exactly the declared rights (tests/unit/chart/test_operator_rights.py checks them
    against the code in detail); here the names and the escalation rule."""
    from flowrun.controller.resources import runner_account
    from flowrun.kube import calls
    docs = template()
    (role,) = find(docs, "ClusterRole", "ci-flowrun-operator")
    (reads,) = find(docs, "ClusterRole", "ci-flowrun-operator-cluster")
    granted = _rules(role)
    for key, verbs in _rules(reads).items():
        granted.setdefault(key, set()).update(verbs)
    (leader,) = find(docs, "Role", "ci-flowrun-operator-leader")
    assert leader["metadata"]["namespace"] == "flowrun-system"  # the Lease: in its own namespace only
    for key, verbs in _rules(leader).items():
        granted.setdefault(key, set()).update(verbs)
    assert {(g, r, v) for (g, r), vs in granted.items() for v in vs} == calls.granted(notifications=False)
    assert ("", "secrets") not in granted  # only with notifications.enabled
    assert granted[("flowrun.io", "flowruns")] >= {"delete"}  # TTL
    # RBAC escalation prevention: the operator can only create the run's Role when it holds
    # every verb that Role grants.
    run_role = next(o for o in runner_account({"metadata": {"name": "r", "namespace": "n", "uid": "u"}})
                    if o["kind"] == "Role")
    for key, verbs in _rules(run_role).items():
        assert granted.get(key, set()) >= verbs, key
    (deployment,) = find(docs, "Deployment")
    assert "--all-namespaces" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]


def operators(docs: list[dict], kind: str) -> list[dict]:
    """The operator's own Roles or RoleBindings (not the kube-public reader of the
    published settings, which every install has)."""
    return [d for d in find(docs, kind) if d["metadata"].get("namespace") != "kube-public"]


def test_namespaced_mode_uses_roles_and_limits_the_webhooks():
    docs = template("-f", str(CHART / "ci" / "namespaced-values.yaml"))
    assert find(docs, "ClusterRole", "ci-flowrun-operator") == []
    assert sorted(r["metadata"]["namespace"] for r in operators(docs, "Role")) == ["flowrun-system", "team-a", "team-b"]
    assert sorted(r["metadata"]["namespace"] for r in operators(docs, "RoleBinding")) == \
        ["flowrun-system", "team-a", "team-b"]
    for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        (config,) = find(docs, kind)
        (hook,) = config["webhooks"]
        assert hook["namespaceSelector"] == {"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["team-a", "team-b"]}]}
    (deployment,) = find(docs, "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=team-a" in args and "--namespace=team-b" in args and "--all-namespaces" not in args


def test_namespace_globs_make_rbac_cluster_wide_and_webhooks_unselective():
    docs = template("-f", str(CHART / "ci" / "glob-values.yaml"))
    assert [r["metadata"]["name"] for r in operators(docs, "Role")] == ["ci-flowrun-operator-leader"]
    assert len(find(docs, "ClusterRole", "ci-flowrun-operator")) == 1
    for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        (config,) = find(docs, kind)
        assert "namespaceSelector" not in config["webhooks"][0]


def test_personas_and_the_published_setting():
    docs = template("--set", "authorization.actionVerbs=true")
    names = {d["metadata"]["name"] for d in find(docs, "ClusterRole")}
    assert {"ci-flowrun-operator-viewer", "ci-flowrun-operator-approver", "ci-flowrun-operator-editor"} <= names
    (approver,) = find(docs, "ClusterRole", "ci-flowrun-operator-approver")
    verbs = {v for rule in approver["rules"] if "flowruns" in rule["resources"] for v in rule["verbs"]}
    assert {"resume", "patch"} <= verbs and not {"cancel", "suspend", "delete"} & verbs
    # Runtime inputs (issue 24): sending is its own resource, `create` on flowruninputs,
    # for approvers and editors, not viewers; everyone of them reads the inbox pages; no
    # person changes or deletes a sent input, nor writes an inbox (only the operator does).
    for persona, sends in (("viewer", False), ("approver", True), ("editor", True)):
        (role,) = find(docs, "ClusterRole", f"ci-flowrun-operator-{persona}")
        rights = _rules(role)
        assert rights.get(("flowrun.io", "flowruninputs"), set()) == ({"create"} if sends else set()), persona
        assert rights[("flowrun.io", "flowruninboxes")] == {"get", "list", "watch"}, persona
    (policy,) = find(docs, "ValidatingAdmissionPolicy", "ci-flowrun-operator-inputs.flowrun.io")
    assert policy["spec"]["matchConstraints"]["resourceRules"][0]["resources"] == ["flowruninputs"]
    assert any("request.userInfo.username" in v["expression"] for v in policy["spec"]["validations"])
    (binding,) = find(docs, "ValidatingAdmissionPolicyBinding", "ci-flowrun-operator-inputs.flowrun.io")
    assert binding["spec"]["validationActions"] == ["Deny"]
    (published,) = [d for d in find(docs, "ConfigMap") if d["metadata"].get("namespace") == "kube-public"]
    assert published["data"] == {"actionVerbs": "true"}
    (reader,) = [d for d in find(docs, "RoleBinding") if d["metadata"].get("namespace") == "kube-public"]
    assert reader["subjects"][0]["name"] == "system:authenticated"
    (deployment,) = find(docs, "Deployment")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["FLOWRUN_ACTION_VERBS"] == "true"
    assert env["FLOWRUN_OPERATOR_USER"].startswith("system:serviceaccount:")


def test_the_tenancy_policy_follows_the_watched_namespaces_and_the_instance():
    """The ValidatingAdmissionPolicy of docs/security.md ("Threat model"): FlowRuns of this
    instance in the watched namespaces; notifiers too with notifications; off on request."""
    docs = [d for d in template() if not d["metadata"]["name"].endswith(("-inputs.flowrun.io", "-records"))]  # their own
    (policy,) = find(docs, "ValidatingAdmissionPolicy")
    assert policy["spec"]["failurePolicy"] == "Fail"
    assert policy["spec"]["matchConstraints"]["resourceRules"][0]["resources"] == ["flowruns"]
    (binding,) = find(docs, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["policyName"] == policy["metadata"]["name"] and binding["spec"]["validationActions"] == ["Deny"]
    assert binding["spec"]["matchResources"] == {
        "objectSelector": {"matchExpressions": [{"key": "flowrun.io/instance", "operator": "DoesNotExist"}]}}
    scoped = template("-f", str(CHART / "ci" / "namespaced-values.yaml"), "--set", "instance=blue",
                      "--set", "notifications.enabled=true")
    bindings = [b for b in find(scoped, "ValidatingAdmissionPolicyBinding")
                if not b["metadata"]["name"].endswith(("-inputs.flowrun.io", "-records"))]
    assert sorted(b["metadata"]["name"] for b in bindings) == ["ci-flowrun-operator-notifiers",
                                                               "ci-flowrun-operator-tenancy"]
    for one in bindings:
        assert one["spec"]["matchResources"] == {
            "namespaceSelector": {"matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["team-a", "team-b"]}]},
            "objectSelector": {"matchLabels": {"flowrun.io/instance": "blue"}}}
    off = template("--set", "authorization.tenancyPolicy=false")
    assert [d["metadata"]["name"] for d in off if d["kind"] == "ValidatingAdmissionPolicy"] == [
        "ci-flowrun-operator-records", "ci-flowrun-operator-inputs.flowrun.io"], \
        "only the records and the inputs' sender policies, which are not tenancy's"


def test_the_records_policy_and_the_signing_key_ring():
    """docs/security.md ("Signed records"): created-by and changed-by name only the
    requesting user, for this instance's FlowRuns in the watched namespaces; the key ring
    is its own Secret, mounted into the operator (and one brought by the user instead)."""
    docs = template()
    (policy,) = find(docs, "ValidatingAdmissionPolicy", "ci-flowrun-operator-records")
    assert policy["spec"]["failurePolicy"] == "Fail"
    assert policy["spec"]["matchConstraints"]["resourceRules"][0]["resources"] == ["flowruns"]
    says = [v.get("messageExpression", v.get("message", "")) for v in policy["spec"]["validations"]]
    assert "flowrun.io/created-by records who created" in says[0] and "flowrun.io/root-created-by" in says[1]
    assert "flowrun.io/changed-by records who made a change" in says[2]
    assert "flowrun.io/approvals records who approved a pause" in says[3] and len(says) == 4
    (binding,) = find(docs, "ValidatingAdmissionPolicyBinding", "ci-flowrun-operator-records")
    assert binding["spec"]["policyName"] == "ci-flowrun-operator-records"
    assert binding["spec"]["validationActions"] == ["Deny"]
    scoped = template("-f", str(CHART / "ci" / "namespaced-values.yaml"), "--set", "instance=blue")
    (binding,) = find(scoped, "ValidatingAdmissionPolicyBinding", "ci-flowrun-operator-records")
    assert binding["spec"]["matchResources"]["objectSelector"] == {"matchLabels": {"flowrun.io/instance": "blue"}}
    assert not find(template("--set", "authorization.recordsPolicy=false"), "ValidatingAdmissionPolicy",
                    "ci-flowrun-operator-records")
    (ring,) = find(docs, "Secret", "ci-flowrun-operator-signing-keys")
    keyring = json.loads(base64.b64decode(ring["data"]["keyring.json"]))
    assert keyring["current"] in keyring["keys"] and len(keyring["keys"][keyring["current"]]["key"]) >= 32
    (deployment,) = find(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["FLOWRUN_SIGNING_KEYS_FILE"] == "/etc/flowrun/signing/keyring.json"
    assert {"name": "signing-keys", "secret": {"secretName": "ci-flowrun-operator-signing-keys",
                                               "defaultMode": 0o440}} in pod["volumes"]
    own = template("--set", "signing.existingSecret=my-ring")
    assert not find(own, "Secret", "ci-flowrun-operator-signing-keys")
    (deployment,) = find(own, "Deployment")
    assert {"name": "signing-keys", "secret": {"secretName": "my-ring", "defaultMode": 0o440}} in \
        deployment["spec"]["template"]["spec"]["volumes"]


def test_webhook_objects_and_contract():
    docs = template()
    (service,) = find(docs, "Service")
    assert service["spec"]["ports"] == [{"name": "webhook", "port": 443, "targetPort": "webhook", "protocol": "TCP"}]
    (secret,) = find(docs, "Secret", "ci-flowrun-operator-webhook-tls")
    ca = secret["data"]["ca.crt"]
    for kind, path in (("ValidatingWebhookConfiguration", "/flowrun-validate"),
                       ("MutatingWebhookConfiguration", "/flowrun-mutate")):
        (config,) = find(docs, kind)
        (hook,) = config["webhooks"]
        assert hook["clientConfig"]["service"]["path"] == path
        assert hook["clientConfig"]["caBundle"] == ca
        # two replicas by default: a webhook the runs need not do without (issue 16)
        assert hook["failurePolicy"] == "Fail" and hook["timeoutSeconds"] == 5 and hook["sideEffects"] == "None"
        assert hook["objectSelector"] == {"matchExpressions": [{"key": "flowrun.io/instance", "operator": "DoesNotExist"}]}
        assert hook["rules"] == [{"apiGroups": ["flowrun.io"], "apiVersions": ["v1alpha1"], "resources": ["flowruns"],
                                  "operations": ["CREATE", "UPDATE"], "scope": "Namespaced"}]
    (deployment,) = find(docs, "Deployment")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["FLOWRUN_WEBHOOK_PORT"] == "9443" and env["FLOWRUN_WEBHOOK_CERT_DIR"] == "/etc/flowrun/webhook"
    # notifications.enabled adds the notifier's webhook (refuses a notifier whose creator
    # may not read its Secrets) to the mutating configuration
    (config,) = find(template("--set", "notifications.enabled=true"), "MutatingWebhookConfiguration")
    assert [h["clientConfig"]["service"]["path"] for h in config["webhooks"]] == [
        "/flowrun-mutate", "/flowrunnotifier-mutate"]
    assert config["webhooks"][1]["rules"][0]["resources"] == ["flowrunnotifiers"]
    single = template("--set", "replicaCount=1", "--set", "instance=blue")
    for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        (hook,) = find(single, kind)[0]["webhooks"]
        assert hook["failurePolicy"] == "Ignore"
        assert hook["objectSelector"] == {"matchLabels": {"flowrun.io/instance": "blue"}}
    assert find(single, "PodDisruptionBudget") == []
    (deployment,) = find(single, "Deployment")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["FLOWRUN_INSTANCE"] == "blue"
    off = template("-f", str(CHART / "ci" / "no-webhook-values.yaml"))
    assert not {"Service", "Secret", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"} & {d["kind"] for d in off}
    (deployment,) = find(off, "Deployment")
    assert not [e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
                if e["name"].startswith("FLOWRUN_WEBHOOK")]


def test_deployment_is_locked_down():
    (deployment,) = find(template(), "Deployment")
    spec = deployment["spec"]
    # Replicas elect a leader; a rolling update never drops below the replicas there are
    # (so the webhook always has an endpoint); a PDB keeps one through drains; the
    # anti-affinity is preferred only (a one-node cluster runs both).
    assert spec["replicas"] == 2
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    (pdb,) = find(template(), "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    pod = spec["template"]["spec"]
    anti = pod["affinity"]["podAntiAffinity"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in anti
    assert anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]["topologyKey"] == \
        "kubernetes.io/hostname"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert container["image"] == f"flowrun-operator:{VERSION}"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["port"] == "healthz"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["FLOWRUN_RUNNER_IMAGE"] == f"flowrun-runner:{VERSION}"
    assert {"FLOWRUN_IMAGE_PULL_POLICY", "FLOWRUN_CACHE_SIZE", "FLOWRUN_CACHE_STORAGE_CLASS",
            "FLOWRUN_DEFAULT_TIMEOUT"} <= set(env)
    assert "FLOWRUN_TTL_SECONDS_AFTER_FINISHED" not in env  # null: finished runs are kept


def test_finished_run_ttl_setting_reaches_the_operator():
    (deployment,) = find(template("--set", "settings.ttlSecondsAfterFinished=0"), "Deployment")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["FLOWRUN_TTL_SECONDS_AFTER_FINISHED"] == "0"
    refused = helm("template", "ci", str(CHART), "--kube-version", KUBE_VERSION,
                   "--set", "settings.ttlSecondsAfterFinished=-5", check=False)
    assert refused.returncode != 0 and "ttlSecondsAfterFinished" in refused.stderr


# ---- a real install ----------------------------------------------------------------

@pytest.fixture(scope="module")
def images(kubeconfig) -> None:
    """`make images`: the runner and operator images, loaded into the cluster."""
    build_runner_image()


def _image_id(tag: str) -> str:
    return subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", tag],
                          check=True, capture_output=True, text=True).stdout.strip()


def test_image_rebuild_of_an_unchanged_tree_reuses_the_images(images):
    """`make images` again with nothing changed gives the very same images (reproducible
    wheels, Docker's cache), and no untagged flowrun images pile up in Docker."""
    if not is_local_cluster():
        pytest.skip("images are built by `make images` only for the local cluster")
    before = {tag: _image_id(tag) for tag in (f"flowrun-runner:{IMAGE_TAG}", OPERATOR_IMAGE)}
    build_runner_image()
    after = {tag: _image_id(tag) for tag in before}
    assert after == before
    dangling = subprocess.run(
        ["docker", "images", "--quiet", "--filter", "dangling=true",
         "--filter", "label=io.flowrun.project=flowrun-operator"],
        check=True, capture_output=True, text=True).stdout.split()
    assert dangling == [], f"untagged flowrun images left behind: {dangling}"


def _delete_flowruns(namespace: str) -> None:
    """Delete the namespace's FlowRuns while their operator still runs (it owns their
    finalizer); whatever is left (operator gone) loses the finalizer, so the namespace
    can never hang in Terminating on a shared cluster."""
    kubectl("delete", "fr", "--all", "--wait=true", "--timeout=60s", namespace=namespace, check=False, timeout=90)
    for name in names("fr", namespace):
        kubectl("patch", "fr", name, "--type", "merge", "-p", '{"metadata":{"finalizers":null}}',
                namespace=namespace, check=False)


@pytest.fixture
def runs_namespace(kubeconfig):
    # Not under the session prefix: only the Helm-installed operator may watch it (the
    # session's own operator watches "<prefix>*").
    name = f"helm-runs-{SESSION_PREFIX}{secrets.token_hex(3)}"
    kubectl("create", "namespace", name)
    wait_for(lambda: kubectl("get", "serviceaccount", "default", namespace=name, check=False).returncode == 0,
             timeout=60, what=f"default ServiceAccount in {name}")
    yield name
    _delete_flowruns(name)
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def _exists(kind: str, name: str, namespace: str | None = None) -> bool:
    return kubectl("get", kind, name, namespace=namespace, check=False).returncode == 0


def _operator_env(namespace: str, deployment: str) -> dict[str, str]:
    obj = json.loads(kubectl("get", "deployment", deployment, "-o", "json", namespace=namespace).stdout)
    return {e["name"]: e.get("value", "") for e in obj["spec"]["template"]["spec"]["containers"][0]["env"]}


def _operator_pods(namespace: str, release: str) -> list[dict]:
    out = kubectl("get", "pods", "-l", f"app.kubernetes.io/instance={release},app.kubernetes.io/name=flowrun-operator",
                  "-o", "json", namespace=namespace)
    return json.loads(out.stdout)["items"]


def _logs(namespace: str, release: str) -> str:
    """The logs of every operator replica (the Service spreads webhook calls over them)."""
    return "\n".join(kubectl("logs", p["metadata"]["name"], namespace=namespace, check=False).stdout
                     for p in _operator_pods(namespace, release))


@contextlib.contextmanager
def _port_forward(namespace: str, target: str, port: int):
    """`kubectl port-forward` to `target` on a free local port; yields the base URL."""
    import re
    from cluster import KUBECTL
    proc = subprocess.Popen([str(KUBECTL), "port-forward", "-n", namespace, target, f":{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert match, line
        yield f"http://127.0.0.1:{match.group(1)}"
    finally:
        proc.kill()
        proc.wait()


def _get(url: str, headers: dict[str, str]) -> tuple[int, str]:
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _diagnose(namespace: str, release: str) -> str:
    parts = [kubectl("get", "all", "-o", "wide", namespace=namespace, check=False).stdout]
    for pod in _operator_pods(namespace, release):
        parts.append(kubectl("logs", pod["metadata"]["name"], "--tail=80", namespace=namespace, check=False).stdout)
    return "\n".join(parts)


def test_install_run_upgrade_uninstall(namespace, runs_namespace, crd, images):
    release = f"{SESSION_PREFIX}op-{secrets.token_hex(3)}"
    fullname = f"{release}-flowrun-operator"
    # An instance of its own: the cluster also runs the chart's default (cluster-wide, no
    # instance) operator that `make deploy` installs, and each must handle only its own runs.
    instance = release

    def apply_run(manifest: dict | Path) -> None:
        doc = yaml.safe_load(manifest.read_text()) if isinstance(manifest, Path) else manifest
        kubectl("apply", "-f", "-", namespace=runs_namespace, input=yaml.safe_dump(labelled(doc, instance)))
    # crds.install stays on: the suite applied the CRD with `kubectl apply` first, as GitOps
    # users do, and the chart must leave it alone instead of failing (issue 16, item 8).
    crd_before = json.loads(kubectl("get", "crd", "flowruns.flowrun.io", "-o", "json").stdout)["metadata"]
    values = ["--set", f"watchNamespaces={{{runs_namespace}}}", "--set", f"instance={instance}",
              "--set", "image.repository=flowrun-operator", "--set", f"image.tag={IMAGE_TAG}",
              "--set", "image.pullPolicy=Never",
              "--set", "runner.image.repository=flowrun-runner", "--set", f"runner.image.tag={IMAGE_TAG}",
              "--set", "runner.image.pullPolicy=Never",
              # the web UI in the cluster, behind an (imagined) authenticating proxy: it
              # acts as the user the proxy names, by impersonation (docs/ui.md)
              "--set", "ui.enabled=true", "--set", "ui.auth=proxy",
              # the proxy proves itself with a shared secret (issue 26): headers from anyone
              # else are not believed
              "--set", "ui.proxy.sharedSecret.secretName=ui-proxy"]
    proxy_secret = secrets.token_urlsafe(24)
    kubectl("create", "secret", "generic", "ui-proxy", f"--from-literal=secret={proxy_secret}", namespace=namespace)
    proxy = {"X-Flowrun-Proxy-Secret": proxy_secret}
    installed = False
    try:
        # 1. install and wait for the operator to be ready
        proc = helm("install", release, str(CHART), "-n", namespace, *values, "--wait", "--timeout", "180s",
                    check=False)
        installed = proc.returncode == 0 or _exists("secret", f"sh.helm.release.v1.{release}.v1", namespace)
        assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}\n{_diagnose(namespace, release)}"
        assert "kubectl get fr" in proc.stdout, "NOTES.txt tells the next steps"
        assert "failurePolicy Fail." in proc.stdout, proc.stdout  # two replicas: Fail (the computed default)
        assert "existed already, outside this release" in proc.stdout and "skipped" in proc.stdout, proc.stdout
        crd_after = json.loads(kubectl("get", "crd", "flowruns.flowrun.io", "-o", "json").stdout)["metadata"]
        assert "meta.helm.sh/release-name" not in (crd_after.get("annotations") or {})
        assert crd_after["uid"] == crd_before["uid"]
        # two replicas: one holds the instance's Lease, the other stands by
        wait_for(lambda: len([p for p in _operator_pods(namespace, release)
                              if p["status"].get("phase") == "Running"]) == 2, timeout=120, what="two replicas")
        holder = wait_for(lambda: json.loads(kubectl("get", "lease", lease_name(instance), "-o", "json",
                                                     namespace=namespace, check=False).stdout or "{}")
                          .get("spec", {}).get("holderIdentity"), timeout=60, what="a leader")
        assert holder in {p["metadata"]["name"] for p in _operator_pods(namespace, release)}
        kubectl("rollout", "status", f"deployment/{fullname}", "--timeout=60s", namespace=namespace)
        for kind, name, ns in [("serviceaccount", fullname, namespace), ("service", f"{fullname}-webhook", namespace),
                               ("secret", f"{fullname}-webhook-tls", namespace),
                               ("role", fullname, runs_namespace), ("rolebinding", fullname, runs_namespace),
                               ("clusterrole", f"{fullname}-cluster", None),
                               ("clusterrolebinding", f"{fullname}-cluster", None),
                               ("validatingwebhookconfiguration", fullname, None),
                               ("mutatingwebhookconfiguration", fullname, None)]:
            assert _exists(kind, name, ns), f"{kind} {name} missing after install"
        assert not _exists("clusterrole", fullname), "a namespaced install makes no cluster-wide run rights"
        ca = json.loads(kubectl("get", "secret", f"{fullname}-webhook-tls", "-o", "json",
                                namespace=namespace).stdout)["data"]["ca.crt"]
        hook = json.loads(kubectl("get", "validatingwebhookconfiguration", fullname, "-o", "json").stdout)["webhooks"][0]
        assert hook["clientConfig"]["caBundle"] == ca
        assert hook["namespaceSelector"]["matchExpressions"][0]["values"] == [runs_namespace]
        assert hook["objectSelector"] == {"matchLabels": {"flowrun.io/instance": instance}}
        assert base64.b64decode(ca).startswith(b"-----BEGIN CERTIFICATE-----")
        first_pod = _operator_pods(namespace, release)[0]["metadata"]["uid"]

        # 2. a paused run, resumed with its input
        apply_run(REPO / "examples" / "manifests" / "greet.yaml")
        paused = wait_phase(runs_namespace, "greet", "Paused", "Failed", timeout=120)
        assert paused["status"]["phase"] == "Paused", paused["status"]
        patch_fr(runs_namespace, "greet", {"spec": {"state": "Running", "input": {"name": "Marvin"}}})
        done = wait_phase(runs_namespace, "greet", "Completed", "Failed", timeout=120)
        assert done["status"]["phase"] == "Completed", done["status"]
        assert done["status"]["result"] == "Hello, Marvin!"
        # the API server reached the operator's webhook through the Service with the
        # chart's certificates (rejections themselves are the webhook tests' business)
        log = _logs(namespace, release)
        assert "POST /flowrun-validate" in log and "POST /flowrun-mutate" in log, log[-3000:]

        # 2a. runtime inputs through the chart's operator, with the chart's personas and
        #     sender policy: a viewer may not send (refused, nothing stored), an approver
        #     may, in their own name only; the run's pod reads its inbox with its Role.
        apply_run(REPO / "examples" / "manifests" / "chat.yaml")
        wait_for(lambda: (get_fr(runs_namespace, "chat").get("status") or {}).get("receiving"), timeout=180,
                 what="the chat run waiting in receive_input")
        for who, persona in (("helm-vic", "viewer"), ("helm-ann", "approver")):
            kubectl("create", "rolebinding", who, f"--clusterrole={fullname}-{persona}", f"--user={who}",
                    namespace=runs_namespace)
        wait_for(lambda: kubectl("auth", "can-i", "create", "flowruninputs.flowrun.io", "--as=helm-ann",
                                 namespace=runs_namespace, check=False).returncode == 0,
                 timeout=30, what="the approver's right to take effect")

        def send_as(who: str, value: str, sender: str | None = None) -> subprocess.CompletedProcess:
            body = {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRunInput",
                    "metadata": {"generateName": "input-", "labels": {"flowrun.io/run": "chat"}},
                    "spec": {"flowRun": "chat", "key": f"strautomaticruninput-auto-{secrets.token_hex(8)}",
                             "value": {"value": value}, "sender": sender or who}}
            return kubectl("create", "-f", "-", f"--as={who}", namespace=runs_namespace, input=json.dumps(body),
                           check=False)

        def stored() -> tuple[list[str], list[str]]:
            entries = kubectl("get", "flowruninboxes", "-l", "flowrun.io/run=chat", "-o",
                              "jsonpath={.items[*].spec.entries[*].sender}", namespace=runs_namespace).stdout
            return names("flowruninputs", runs_namespace), entries.split()

        refused = send_as("helm-vic", "Vic")
        assert refused.returncode != 0 and "forbidden" in refused.stderr.lower(), refused.stderr
        forged = send_as("helm-ann", "Mallory", sender="helm-vic")
        assert forged.returncode != 0 and "spec.sender must be your own user name" in forged.stderr, forged.stderr
        assert stored() == ([], []), "a refused input is stored nowhere"
        assert send_as("helm-ann", "Ann").returncode == 0
        wait_for(lambda: stored() == ([], ["helm-ann"]), timeout=60, what="the chart's operator to deliver it")
        assert send_as("helm-ann", "bye").returncode == 0
        done = wait_phase(runs_namespace, "chat", "Completed", "Failed", timeout=120)
        assert done["status"]["result"] == ["Hello, Ann! (sent by helm-ann)"], done["status"]

        # 2b. the in-cluster UI shows that run to a person who may read it, and refuses
        #     one who may not: it acts as the person (impersonation), never as itself
        kubectl("rollout", "status", f"deployment/{fullname}-ui", "--timeout=120s", namespace=namespace)
        kubectl("create", "role", "reads-runs", "--verb=get,list,watch", "--resource=flowruns.flowrun.io",
                namespace=runs_namespace)
        kubectl("create", "rolebinding", "reads-runs", "--role=reads-runs", "--user=ui-reader",
                namespace=runs_namespace)
        with _port_forward(namespace, f"svc/{fullname}-ui", 80) as base:
            page = wait_for(lambda: (got := _get(f"{base}/runs/{runs_namespace}/greet",
                                                 {"X-Forwarded-User": "ui-reader", **proxy}))[0] == 200 and got,
                            timeout=60, what="the in-cluster UI to show the run")
            assert page[0] == 200 and "Completed" in page[1] and "Hello, Marvin!" in page[1], page
            status, body = _get(f"{base}/runs/{runs_namespace}/greet", {"X-Forwarded-User": "ui-stranger", **proxy})
            assert status == 403, (status, body[:500])
        # 2c. the proxy-header spoof from a pod (a tenant's run could do it): straight to the
        #     UI's Service, claiming to be someone who may read the run. Refused (401), and the
        #     same request with the proxy's secret is answered (so the refusal is the check's).
        ui_ip = kubectl("get", "service", f"{fullname}-ui", "-o", "jsonpath={.spec.clusterIP}",
                        namespace=namespace).stdout.strip()
        spoof = ("import urllib.request, urllib.error, sys\n"
                 f"url = 'http://{ui_ip}/runs/{runs_namespace}/greet'\n"
                 "for extra in ({}, {'X-Flowrun-Proxy-Secret': 'guess'}, {'X-Flowrun-Proxy-Secret': sys.argv[1]}):\n"
                 "    req = urllib.request.Request(url, headers={'X-Forwarded-User': 'ui-reader',\n"
                 "                                               'X-Forwarded-Groups': 'system:masters', **extra})\n"
                 "    try:\n"
                 "        with urllib.request.urlopen(req, timeout=20) as r: print('STATUS', r.status, 'Hello, Marvin!' in r.read().decode())\n"
                 "    except urllib.error.HTTPError as e: print('STATUS', e.code, False)\n")
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "spoof"},
               "spec": {"restartPolicy": "Never", "containers": [{
                   "name": "spoof", "image": f"flowrun-operator:{IMAGE_TAG}", "imagePullPolicy": "Never",
                   "command": ["python", "-c", spoof, proxy_secret],
                   "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "allowPrivilegeEscalation": False,
                                       "capabilities": {"drop": ["ALL"]},
                                       "seccompProfile": {"type": "RuntimeDefault"}}}]}}
        kubectl("apply", "-f", "-", namespace=runs_namespace, input=json.dumps(pod))
        wait_for(lambda: kubectl("get", "pod", "spoof", "-o", "jsonpath={.status.phase}", namespace=runs_namespace,
                                 check=False).stdout in ("Succeeded", "Failed"), timeout=180, what="the spoofing pod")
        answers = [line.split()[1:] for line in kubectl("logs", "spoof", namespace=runs_namespace).stdout.splitlines()
                   if line.startswith("STATUS")]
        assert answers == [["401", "False"], ["401", "False"], ["200", "True"]], answers
        assert kubectl("auth", "can-i", "list", "flowruns.flowrun.io", "-n", runs_namespace,
                       f"--as=system:serviceaccount:{namespace}:{fullname}-ui", check=False).stdout.strip() == "no"

        # 3. a run that suspends itself: no Job or pod left; resumed as attempt 2
        apply_run(REPO / "examples" / "manifests" / "suspend.yaml")
        suspended = wait_phase(runs_namespace, "suspend", "Suspended", "Failed", "Completed", timeout=120)
        assert suspended["status"]["phase"] == "Suspended", suspended["status"]
        wait_for(lambda: not names("jobs", runs_namespace, "flowrun.io/run=suspend")
                 and not names("pods", runs_namespace, "flowrun.io/run=suspend"),
                 timeout=60, what="the suspended run's Job and pods to be gone")
        patch_fr(runs_namespace, "suspend", {"spec": {"state": "Running"}})
        done = wait_phase(runs_namespace, "suspend", "Completed", "Failed", timeout=120)
        assert done["status"]["phase"] == "Completed", done["status"]
        assert done["status"]["attempt"] == 2

        # 3b. a finished run with a TTL is deleted by the chart-deployed operator (its
        #     rights include delete on flowruns), with an Expired Event
        apply_run({"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun", "metadata": {"name": "brief"},
                   "spec": {"flow": "examples.hello:hello", "parameters": {"name": "ttl"}, "ttlSecondsAfterFinished": 3}})
        done = wait_phase(runs_namespace, "brief", "Completed", "Failed", timeout=360)
        assert done["status"]["phase"] == "Completed", done["status"]
        wait_for(lambda: "brief" not in names("fr", runs_namespace), timeout=60,
                 what="the chart-deployed operator to delete the expired run")
        reasons = kubectl("get", "events", "--field-selector", "involvedObject.name=brief", "-o",
                          "jsonpath={.items[*].reason}", namespace=runs_namespace).stdout.split()
        assert "Expired" in reasons
        log = _logs(namespace, release)
        assert "forbidden" not in log.lower(), log[-3000:]  # no API call refused for want of a right

        # 4. an upgrade with a changed setting rolls the operator; the certificates stay
        proc = helm("upgrade", release, str(CHART), "-n", namespace, *values,
                    "--set", "settings.defaultTimeout=1234", "--wait", "--timeout", "180s", check=False)
        assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}\n{_diagnose(namespace, release)}"
        kubectl("rollout", "status", f"deployment/{fullname}", "--timeout=60s", namespace=namespace)
        assert _operator_env(namespace, fullname)["FLOWRUN_DEFAULT_TIMEOUT"] == "1234"
        pods = wait_for(lambda: [p for p in _operator_pods(namespace, release)
                                 if p["metadata"].get("deletionTimestamp") is None] or None,
                        timeout=60, what="the upgraded operator pod")
        assert first_pod not in [p["metadata"]["uid"] for p in pods], "the Deployment did not roll"
        pod = pods[0]
        live_env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
        assert live_env["FLOWRUN_DEFAULT_TIMEOUT"] == "1234"
        assert json.loads(kubectl("get", "secret", f"{fullname}-webhook-tls", "-o", "json",
                                  namespace=namespace).stdout)["data"]["ca.crt"] == ca, "certificates churned"
        # the upgraded operator still runs flows
        apply_run(REPO / "examples" / "manifests" / "hello.yaml")
        hello = get_fr(runs_namespace, "hello")["metadata"]["name"]
        done = wait_phase(runs_namespace, hello, "Completed", "Failed", timeout=120)
        assert done["status"]["phase"] == "Completed", done["status"]

        # 5. uninstall leaves no operator object; the CRD stays. The runs go first, while
        #    the operator that holds their finalizer is still there.
        _delete_flowruns(runs_namespace)
        assert names("fr", runs_namespace) == []
        helm("uninstall", release, "-n", namespace, "--wait", "--timeout", "120s")
        installed = False
        wait_for(lambda: not _operator_pods(namespace, release), timeout=60, what="operator pods to go")
        leftovers = [(kind, name) for kind, name, ns in [
            ("deployment", fullname, namespace), ("serviceaccount", fullname, namespace),
            ("service", f"{fullname}-webhook", namespace), ("secret", f"{fullname}-webhook-tls", namespace),
            ("role", fullname, runs_namespace), ("rolebinding", fullname, runs_namespace),
            ("clusterrole", f"{fullname}-cluster", None), ("clusterrolebinding", f"{fullname}-cluster", None),
            ("validatingwebhookconfiguration", fullname, None), ("mutatingwebhookconfiguration", fullname, None),
        ] if _exists(kind, name, ns)]
        assert leftovers == [], f"left behind by helm uninstall: {leftovers}"
        assert _exists("crd", "flowruns.flowrun.io"), "the CRD must outlive the release"
    finally:
        if installed:
            _delete_flowruns(runs_namespace)
            helm("uninstall", release, "-n", namespace, "--wait", "--timeout", "120s", check=False)
