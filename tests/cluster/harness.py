"""What the end-to-end tests and the benchmarks both need beside the cluster: the
operator running on this machine as a real process, and runner images with extra flows
(built the way a user builds theirs: FROM flowrun-runner + COPY)."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from . import CACHE_ROOT, CLUSTER_DIR, HELM, is_local_cluster, kubectl, load_image, machine_lock

REPO = Path(__file__).resolve().parents[2]
VERSION = next(line.split('"')[1] for line in (REPO / "pyproject.toml").read_text().splitlines()
               if line.startswith("version = "))
# The images' tag (see the Makefile): FLOWRUN_IMAGE_TAG, else the version.
IMAGE_TAG = os.environ.get("FLOWRUN_IMAGE_TAG") or VERSION
RUNNER_IMAGE = f"flowrun-runner:{IMAGE_TAG}"


def install_crd() -> None:
    """Every CRD of crds/ (FlowRun, FlowRunNotifier, FlowRunInput, FlowRunInbox), and the
    chart's admission policy of sent inputs (cluster-wide, as `helm install` makes it)."""
    import yaml
    for path in sorted((REPO / "crds").glob("*.yaml")):
        kubectl("apply", "--server-side", "--force-conflicts", "-f", str(path))
    kubectl("wait", "--for=condition=Established", "crd/flowruns.flowrun.io",
            "crd/flowrunnotifiers.flowrun.io", "crd/flowruninputs.flowrun.io",
            "crd/flowruninboxes.flowrun.io", "--timeout=60s")
    policy = helm_template("--show-only", "templates/inputs-policy.yaml")
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=yaml.safe_dump_all(policy))


def build_runner_image() -> str:
    """`make images` on the local cluster (a foreign cluster must have the image)."""
    if is_local_cluster():
        with machine_lock(f"images-{IMAGE_TAG}"):
            subprocess.run(["make", "--no-print-directory", "images"], cwd=REPO, check=True, stdout=sys.stderr)
    return RUNNER_IMAGE


# The operator a user installs with `make deploy`: the chart's default, cluster-wide and
# without an instance id. `make test` runs beside it (issue 16): the suite's operators
# have instance ids of their own, so each side handles only its own runs.
DEPLOYED_RELEASE = "flowrun-operator"
DEPLOYED_NAMESPACE = "flowrun-system"
_DEPLOY_USERS = CACHE_ROOT / "cluster-wide-operator.users"


def deploy_cluster_wide() -> None:
    """`make deploy` (helm upgrade --install with this tree's images) on the local cluster,
    after the CRDs were applied outside Helm, as GitOps users do. A no-op change when the
    release already runs these images. When the release was not there, the suite
    installed it for itself: `release_cluster_wide` removes it again once the last suite
    using it ends (a count under CACHE_ROOT), so benchmarks measure without it."""
    if not is_local_cluster():
        return
    install_crd()
    with machine_lock("deploy"):
        users = _deploy_users()
        existed = subprocess.run([str(HELM), "status", DEPLOYED_RELEASE, "-n", DEPLOYED_NAMESPACE],
                                 capture_output=True).returncode == 0
        subprocess.run(["make", "--no-print-directory", "deploy", f"DEPLOY_NAMESPACE={DEPLOYED_NAMESPACE}"],
                       cwd=REPO, check=True, stdout=sys.stderr)
        if users or not existed:
            _DEPLOY_USERS.write_text(str(users + 1))


def release_cluster_wide() -> None:
    """The end of a suite: uninstall the cluster-wide operator if the suites installed it
    and no other suite still uses it; leave one that somebody deployed themselves."""
    if not is_local_cluster():
        return
    with machine_lock("deploy"):
        users = _deploy_users()
        if users > 1:
            _DEPLOY_USERS.write_text(str(users - 1))
        elif users == 1:
            subprocess.run([str(HELM), "uninstall", DEPLOYED_RELEASE, "-n", DEPLOYED_NAMESPACE, "--wait",
                            "--timeout", "120s"], check=False, stdout=sys.stderr)
            _DEPLOY_USERS.unlink()


def _deploy_users() -> int:
    try:
        return int(_DEPLOY_USERS.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def build_flow_image(context: Path, tag: str) -> str:
    """The runner image plus the flows in `context` (its Dockerfile does the COPY)."""
    build_runner_image()
    with machine_lock(f"flow-image-{IMAGE_TAG}"):
        subprocess.run(["docker", "build", "--quiet", "--build-arg", f"RUNNER_IMAGE={RUNNER_IMAGE}",
                        "-t", tag, str(context)], check=True, stdout=subprocess.DEVNULL)
        # A rebuild leaves the previous image untagged; our images carry this label (from FROM).
        subprocess.run(["docker", "image", "prune", "--force", "--filter",
                        "label=io.flowrun.project=flowrun-operator"], check=True, stdout=subprocess.DEVNULL)
        load_image(tag)
    return tag


E2E = REPO / "tests" / "e2e"
TEST_FLOWS_IMAGE = f"flowrun-runner-tests:{IMAGE_TAG}"


def swap_imports(source: str) -> str:
    """What a Prefect user does: `prefect` becomes `flowrun` in the import lines, and
    nothing else changes."""
    return re.sub(r"^(\s*(?:from|import)\s+)prefect\b", r"\1flowrun", source, flags=re.M)


def build_test_flows_image() -> str:
    """The one image of the e2e tests: the runner image plus tests/e2e/flows (package
    `testflows`) and Prefect's documented examples (tests/e2e/prefect_docs, package
    `prefect_docs`) with only their imports swapped, as a user would."""
    with tempfile.TemporaryDirectory(prefix="flowrun-test-flows-") as tmp:
        context = Path(tmp)
        shutil.copytree(E2E / "flows", context, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
        package = context / "prefect_docs"
        package.mkdir()
        (package / "__init__.py").write_text("")
        for example in sorted((E2E / "prefect_docs").glob("*.py")):
            swapped = swap_imports(example.read_text())
            assert "import prefect" not in swapped and "from prefect" not in swapped, example
            (package / example.name).write_text(swapped)
        return build_flow_image(context, TEST_FLOWS_IMAGE)


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
        cmd = [sys.executable, "-m", "flowrun.controller", "--namespace", self.namespaces]
        env = self.env
        if is_local_cluster():
            # In a cluster the operator runs in a pod and resolves names with the cluster
            # DNS (sinks by Service name, `kubernetes.default.svc`): so it does here, as a
            # pod of its namespace would (cluster-dns.sh; the same process, exec'd).
            cmd = ["bash", str(CLUSTER_DIR / "cluster-dns.sh"), *cmd]
            env = {"FLOWRUN_DNS_NAMESPACE": env.get("FLOWRUN_LEASE_NAMESPACE", "default"), **env}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)

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


# ---- the operator with exactly the chart's rights ------------------------------------

CHART = REPO / "charts" / "flowrun-operator"


def helm_template(*args: str, release: str = "ci", namespace: str = "flowrun-system") -> list[dict]:
    """The chart as `helm template` renders it with `args` (no cluster needed), as objects."""
    import pytest
    import yaml

    from . import HELM, K8S_VERSION
    if not HELM.exists():
        pytest.fail(f"helm is not built ({HELM}); `make cluster-up` builds it (tests/cluster/build-binaries.sh)")
    proc = subprocess.run([str(HELM), "template", release, str(CHART), "-n", namespace,
                           "--kube-version", K8S_VERSION.lstrip("v"), *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


class ChartRights:
    """A ServiceAccount bound to the RBAC the chart renders (`helm template` of
    templates/rbac.yaml and serviceaccount.yaml), and a kubeconfig with a token of it.

    The operator of the tests runs on this machine (so tests can SIGKILL it and use
    failpoints) but authenticates as this account: it has exactly the rights a
    `helm install` gives it, no more. Only test set-up uses the admin kubeconfig.
    `watch` is the namespace glob the operator watches (a glob makes the chart's RBAC
    cluster-wide, as for a user who sets such a `watchNamespaces`)."""

    def __init__(self, prefix: str, watch: str, directory: Path):
        self.release = f"{prefix}op"
        self.namespace = f"{prefix}operator"
        self.watch = watch
        self.kubeconfig = directory / "operator-kubeconfig.yaml"
        self.account = ""

    def render(self) -> list[dict]:
        import yaml

        from . import HELM, K8S_VERSION
        proc = subprocess.run(
            [str(HELM), "template", self.release, str(CHART), "-n", self.namespace,
             "--kube-version", K8S_VERSION.lstrip("v"), "--set", f"watchNamespaces={{{self.watch}}}", "--set", "notifications.enabled=true",
             "--show-only", "templates/rbac.yaml", "--show-only", "templates/serviceaccount.yaml"],
            capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"helm template failed: {proc.stderr}")
        return [d for d in yaml.safe_load_all(proc.stdout) if d]

    def create(self, token_seconds: int = 24 * 3600) -> Path:
        import yaml
        docs = self.render()
        (account,) = [d for d in docs if d["kind"] == "ServiceAccount"]
        self.account = account["metadata"]["name"]
        kubectl("create", "namespace", self.namespace)
        kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
        token = kubectl("create", "token", self.account, "-n", self.namespace,
                        f"--duration={token_seconds}s").stdout.strip()
        admin = yaml.safe_load(kubectl("config", "view", "--raw", "--minify", "--flatten").stdout)
        cluster = admin["clusters"][0]
        self.kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [cluster],
            "users": [{"name": self.account, "user": {"token": token}}],
            "contexts": [{"name": "operator", "context": {"cluster": cluster["name"], "user": self.account}}],
            "current-context": "operator",
        }))
        self.kubeconfig.chmod(0o600)
        return self.kubeconfig

    @property
    def username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.account}"

    def delete(self) -> None:
        selector = f"app.kubernetes.io/instance={self.release}"
        kubectl("delete", "clusterrolebinding,clusterrole", "-l", selector, "--ignore-not-found", check=False)
        kubectl("delete", "namespace", self.namespace, "--wait=false", "--ignore-not-found", check=False)


def webhook_configurations(name: str, url: str, ca_pem: bytes, session_label: tuple[str, str],
                           instance: str = "") -> list[dict]:
    """The validating and mutating webhook configurations the chart makes, pointing at an
    operator on this machine (`url` without the handler path) and limited to namespaces
    carrying `session_label`, so other sessions' runs on the same cluster never reach it,
    and to the FlowRuns of `instance` (an objectSelector, as the chart makes).
    Made by the tests as admin: the operator holds no admissionregistration rights."""
    import base64
    key, value = session_label

    def hook(name_: str, path: str, resource: str) -> dict:
        return {
            "name": name_,
            "admissionReviewVersions": ["v1"],
            "clientConfig": {"url": f"{url.rstrip('/')}/{path}", "caBundle": base64.b64encode(ca_pem).decode()},
            "rules": [{"apiGroups": ["flowrun.io"], "apiVersions": ["v1alpha1"], "resources": [resource],
                       "operations": ["CREATE", "UPDATE"], "scope": "Namespaced"}],
            "failurePolicy": "Ignore", "matchPolicy": "Equivalent", "sideEffects": "None",
            "timeoutSeconds": 10,
            "namespaceSelector": {"matchLabels": {key: value}},
        }
    out = []
    for kind, verb in (("Validating", "validate"), ("Mutating", "mutate")):
        hooks = [hook(f"{verb}.flowruns.flowrun.io", f"flowrun-{verb}", "flowruns")]
        if verb == "mutate":  # a notifier is checked and stamped (controller/handlers.py)
            hooks.append(hook("mutate.flowrunnotifiers.flowrun.io", "flowrunnotifier-mutate", "flowrunnotifiers"))
        for one in hooks:  # the session instance's objects only, as the chart does
            one["objectSelector"] = (
                {"matchLabels": {"flowrun.io/instance": instance}} if instance else
                {"matchExpressions": [{"key": "flowrun.io/instance", "operator": "DoesNotExist"}]})
        out.append({"apiVersion": "admissionregistration.k8s.io/v1", "kind": f"{kind}WebhookConfiguration",
                    "metadata": {"name": name}, "webhooks": hooks})
    return out


def tenancy_policy(release: str, instance: str, namespace_prefix: str) -> list[dict]:
    """The chart's ValidatingAdmissionPolicy and binding (templates/admission-policy.yaml,
    as `helm template` renders it for `release` and `instance`), limited to namespaces
    named with `namespace_prefix` (a matchCondition: a selector cannot match a prefix), so
    other sessions on the same cluster never meet it. Applied by the tests as admin, as
    Helm would; the operator holds no admissionregistration rights."""
    import subprocess

    import yaml

    from . import HELM, K8S_VERSION
    proc = subprocess.run(
        [str(HELM), "template", release, str(CHART), "--kube-version", K8S_VERSION.lstrip("v"),
         "--set", f"instance={instance}", "--set", "notifications.enabled=true",
         "--show-only", "templates/admission-policy.yaml"],
        capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"helm template failed: {proc.stderr}")
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    for doc in docs:  # the FlowRun and FlowRunNotifier policies
        if doc["kind"] == "ValidatingAdmissionPolicy":
            doc["spec"]["matchConditions"] = [
                {"name": "test-session", "expression": f"request.namespace.startsWith('{namespace_prefix}')"}]
    return docs


def records_policy(release: str, instance: str, namespace_prefix: str) -> list[dict]:
    """The chart's records policy and binding (templates/admission-policy-records.yaml:
    created-by and changed-by name only the user who writes them), as `helm template`
    renders it for `release` and `instance`, limited to namespaces named with
    `namespace_prefix` (a matchCondition), as tenancy_policy. Applied by the tests as
    admin, as Helm would."""
    import subprocess

    import yaml

    from . import HELM, K8S_VERSION
    proc = subprocess.run(
        [str(HELM), "template", release, str(CHART), "--kube-version", K8S_VERSION.lstrip("v"),
         "--set", f"instance={instance}", "--show-only", "templates/admission-policy-records.yaml"],
        capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"helm template failed: {proc.stderr}")
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    for doc in docs:
        if doc["kind"] == "ValidatingAdmissionPolicy":
            doc["spec"]["matchConditions"] = [
                {"name": "test-session", "expression": f"request.namespace.startsWith('{namespace_prefix}')"}]
    return docs
