"""Foundation tests of the test cluster itself: if these fail, no operator test can pass.

Each runs in its own namespace against the real cluster (tests/cluster, docs/cluster.md)
and polls with wait_for; none sleeps.
"""

from __future__ import annotations

import json
import secrets

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

import cluster
from cluster import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def api(kubeconfig) -> client.ApiClient:
    return config.new_client_from_config(config_file=kubeconfig)


@pytest.fixture(scope="module")
def core(api) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture(scope="module")
def batch(api) -> client.BatchV1Api:
    return client.BatchV1Api(api)


def _python_pod_spec(image: str, code: str, **extra) -> dict:
    spec = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 1,
        "containers": [{
            "name": "main",
            "image": image,
            "imagePullPolicy": "Never",
            "command": ["python3", "-c", code],
        }],
    }
    spec.update(extra)
    return spec


def _pod_phase(core, namespace, name):
    return core.read_namespaced_pod(name, namespace).status.phase


def _job_pods(core, namespace, job):
    return core.list_namespaced_pod(namespace, label_selector=f"job-name={job}").items


# 1 -----------------------------------------------------------------------------------------
def test_node_ready_and_server_version(core, kubeconfig):
    nodes = wait_for(lambda: core.list_node().items, timeout=30, what="a node")

    def ready():
        conds = {c.type: c.status for n in core.list_node().items for c in (n.status.conditions or [])}
        return conds.get("Ready") == "True" and conds

    wait_for(ready, timeout=60, what=f"node Ready ({[n.metadata.name for n in nodes]})")

    out = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    git_version = out["serverVersion"]["gitVersion"]
    assert git_version != "v0.0.0"
    if cluster.is_local_cluster():
        assert git_version == cluster.K8S_VERSION
    else:  # kind and other clusters: same minor version is what the suite is built for
        assert git_version.split(".")[:2] == cluster.K8S_VERSION.split(".")[:2], git_version


# 2 -----------------------------------------------------------------------------------------
def test_job_with_local_base_image_runs_and_logs(core, batch, namespace, base_image):
    token = secrets.token_hex(4)
    code = f"import platform; print('flowrun-job-ok', '{token}', platform.python_version())"
    batch.create_namespaced_job(namespace, {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "hello"},
        "spec": {"backoffLimit": 0, "template": {"spec": _python_pod_spec(base_image, code)}},
    })

    def succeeded():
        st = batch.read_namespaced_job_status("hello", namespace).status
        if st.failed:
            raise AssertionError(f"job failed: {st}")
        return st.succeeded == 1

    wait_for(succeeded, timeout=120, what="job hello to succeed")
    pods = _job_pods(core, namespace, "hello")
    assert len(pods) == 1
    log = core.read_namespaced_pod_log(pods[0].metadata.name, namespace)
    assert f"flowrun-job-ok {token} 3." in log, log


# 3 -----------------------------------------------------------------------------------------
IN_CLUSTER_READER = r"""
import json, os, ssl, sys, urllib.request, urllib.error
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
ns = open(sa + "/namespace").read().strip()
token = open(sa + "/token").read().strip()
ctx = ssl.create_default_context(cafile=sa + "/ca.crt")
url = f"https://{host}:{port}/api/v1/namespaces/{ns}/configmaps/flowrun-probe"
print("service", host, port, flush=True)
try:  # the test waited until the authorizer grants this read (auth can-i)
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        print("configmap-data", json.dumps(json.load(resp)["data"], sort_keys=True), flush=True)
except urllib.error.HTTPError as e:
    print("refused", e.code, flush=True)
    sys.exit(1)
"""


def test_pod_reads_api_through_kubernetes_service(core, api, namespace, base_image):
    value = f"hello-{secrets.token_hex(4)}"
    core.create_namespaced_config_map(namespace, {
        "metadata": {"name": "flowrun-probe"}, "data": {"greeting": value}})
    rbac = client.RbacAuthorizationV1Api(api)
    rbac.create_namespaced_role(namespace, {
        "metadata": {"name": "probe-reader"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"],
                   "resourceNames": ["flowrun-probe"], "verbs": ["get"]}]})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "probe-reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "probe-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": namespace}]})
    wait_for(lambda: cluster.kubectl("auth", "can-i", "get", "configmap/flowrun-probe",
                             f"--as=system:serviceaccount:{namespace}:default", namespace=namespace,
                             check=False).returncode == 0,
             timeout=60, what="the authorizer to grant the pod's account its read")
    core.create_namespaced_pod(namespace, {
        "metadata": {"name": "reader"},
        "spec": _python_pod_spec(base_image, IN_CLUSTER_READER)})

    def finished():
        phase = _pod_phase(core, namespace, "reader")
        return phase if phase in ("Succeeded", "Failed") else None

    phase = wait_for(finished, timeout=120, what="pod reader to finish")
    log = core.read_namespaced_pod_log("reader", namespace)
    assert phase == "Succeeded", log
    service_ip = core.read_namespaced_service("kubernetes", "default").spec.cluster_ip
    assert f"service {service_ip} 443" in log, log
    assert f'configmap-data {{"greeting": "{value}"}}' in log, log


# 4 -----------------------------------------------------------------------------------------
def _non_root_pod(name: str, image: str, code: str, claim: str, read_only: bool) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "securityContext": {"runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000,
                                "runAsNonRoot": True},
            "containers": [{
                "name": "main", "image": image, "imagePullPolicy": "Never",
                "command": ["python3", "-c", code],
                "securityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                                    "capabilities": {"drop": ["ALL"]}},
                "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": read_only}],
            }],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
        },
    }


def test_pvc_binds_and_keeps_data_across_non_root_pods(core, namespace, base_image):
    core.create_namespaced_persistent_volume_claim(namespace, {
        "metadata": {"name": "cache"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "16Mi"}}}})
    wait_for(lambda: core.read_namespaced_persistent_volume_claim("cache", namespace).status.phase == "Bound",
             timeout=60, what="PVC cache to bind (default StorageClass)")

    content = f"written-by-uid-1000-{secrets.token_hex(4)}"
    writer = ("import os; open('/data/result.txt', 'w').write(%r); "
              "print('wrote as uid', os.getuid())" % content)
    core.create_namespaced_pod(namespace, _non_root_pod("writer", base_image, writer, "cache", False))

    def done(name):
        phase = _pod_phase(core, namespace, name)
        return phase if phase in ("Succeeded", "Failed") else None

    phase = wait_for(lambda: done("writer"), timeout=120, what="writer pod to finish")
    assert phase == "Succeeded", core.read_namespaced_pod_log("writer", namespace)
    assert "wrote as uid 1000" in core.read_namespaced_pod_log("writer", namespace)

    core.delete_namespaced_pod("writer", namespace)

    def writer_gone():
        try:
            core.read_namespaced_pod("writer", namespace)
            return False
        except ApiException as e:
            return e.status == 404

    wait_for(writer_gone, timeout=60, what="writer pod to be deleted")

    reader = "print('read:', open('/data/result.txt').read())"
    core.create_namespaced_pod(namespace, _non_root_pod("reader", base_image, reader, "cache", True))
    phase = wait_for(lambda: done("reader"), timeout=120, what="reader pod to finish")
    log = core.read_namespaced_pod_log("reader", namespace)
    assert phase == "Succeeded", log
    assert f"read: {content}" in log, log


# 5 -----------------------------------------------------------------------------------------
def test_background_deletion_of_job_removes_its_pods(core, batch, namespace, base_image):
    code = ("import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); "
            "print('running', flush=True); time.sleep(3600)")
    batch.create_namespaced_job(namespace, {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "long"},
        "spec": {"backoffLimit": 0, "template": {"spec": _python_pod_spec(base_image, code)}},
    })

    def running():
        pods = _job_pods(core, namespace, "long")
        return pods if pods and all(p.status.phase == "Running" for p in pods) else None

    pods = wait_for(running, timeout=120, what="the job's pod to run")
    assert len(pods) == 1

    batch.delete_namespaced_job("long", namespace, propagation_policy="Background")

    def job_gone():
        try:
            batch.read_namespaced_job("long", namespace)
            return False
        except ApiException as e:
            return e.status == 404

    wait_for(job_gone, timeout=30, what="job long to be deleted")
    wait_for(lambda: not _job_pods(core, namespace, "long") or None, timeout=90,
             what="the job's pods to be garbage-collected")
