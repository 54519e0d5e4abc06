"""The test cluster's audit log (tests/cluster/audit-up.sh, docs/cluster.md): the API
server records who made each request, at the Metadata level (no bodies), and preparing
the cluster again restarts nothing (other test runs share the cluster)."""
from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path

import pytest

import cluster
from cluster import kubectl, wait_for

pytestmark = pytest.mark.e2e

STATE = Path(os.environ.get("FLOWRUN_CLUSTER_STATE", "/var/lib/flowrun-cluster"))
AUDIT = STATE / "audit"


def local_only() -> None:
    if not cluster.is_local_cluster():
        pytest.skip("audit-up.sh is for the local cluster")


def apiserver_pid() -> str:
    pid = (STATE / "run" / "kube-apiserver.pid").read_text().strip()
    assert Path(f"/proc/{pid}").exists(), f"kube-apiserver (pid {pid}) is not running"
    return pid


def test_preparing_the_cluster_again_restarts_nothing(kubeconfig):
    """ensure_cluster() runs audit-up.sh for every test session: with the audit log on, it
    must leave the running API server alone."""
    local_only()
    before = apiserver_pid()
    with cluster.machine_lock("cluster-up"):
        out = subprocess.run(["bash", str(cluster.CLUSTER_DIR / "audit-up.sh")], capture_output=True,
                             text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "restarting" not in out.stderr, out.stderr
    assert apiserver_pid() == before
    args = Path(f"/proc/{before}/cmdline").read_bytes().split(b"\0")
    assert f"--audit-policy-file={AUDIT / 'policy.yaml'}".encode() in args
    assert b"--audit-log-maxsize=100" in args and b"--audit-log-maxbackup=3" in args


def test_the_log_names_who_made_a_request_without_its_body(kubeconfig, namespace):
    local_only()
    name, secret = f"audited-{secrets.token_hex(3)}", secrets.token_hex(8)
    kubectl("create", "configmap", name, f"--from-literal=v={secret}", namespace=namespace)
    me = kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout.strip()

    def created() -> dict | None:
        for path in sorted(AUDIT.glob("audit*.log")):
            with open(path, errors="replace") as lines:
                for line in lines:
                    if name in line:
                        event = json.loads(line)
                        ref = event.get("objectRef") or {}
                        if event["verb"] == "create" and ref.get("resource") == "configmaps" \
                                and ref.get("namespace") == namespace:
                            return event
        return None
    event = wait_for(created, timeout=30, interval=0.5, what=f"the create of {name} in the audit log")
    assert event["user"]["username"] == me
    assert event["stage"] == "ResponseComplete" and event["responseStatus"]["code"] == 201
    assert event["level"] == "Metadata" and "requestObject" not in event
    assert secret not in json.dumps(event)
