"""Fixtures of the end-to-end tests: the CRD, the images in the cluster, and the
operator running on this machine as a real process (so tests can SIGKILL it)."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest
import yaml

from cluster import kubectl, wait_for
from cluster.harness import REPO, OperatorProcess, build_test_flows_image, install_crd


@pytest.fixture(scope="session")
def crd(kubeconfig) -> None:
    install_crd()


@pytest.fixture(scope="session")
def runner_image(kubeconfig) -> str:
    """The runner image plus the test flows and Prefect's documented examples, in the
    cluster's image store."""
    return build_test_flows_image()


@pytest.fixture(scope="session")
def operator(kubeconfig, crd, runner_image, tmp_path_factory) -> OperatorProcess:
    """The operator as a process on this machine with exactly the chart's rights: it
    authenticates with a token of a ServiceAccount bound to the RBAC `helm template`
    renders (harness.ChartRights). Only the set-up here (RBAC, webhook configurations)
    uses the admin kubeconfig."""
    from cluster import is_local_cluster
    from cluster.harness import (ChartRights, apiserver_host, free_port, records_policy, tenancy_policy,
                                  webhook_configurations)
    from cluster.pytest_plugin import SESSION_INSTANCE, SESSION_LABEL, SESSION_NAMESPACES, SESSION_PREFIX
    from flowrun.controller.certs import write_self_signed
    workdir = tmp_path_factory.mktemp("operator")
    rights = ChartRights(SESSION_PREFIX, SESSION_NAMESPACES, workdir)
    webhook, configurations, hooks = {}, [], []
    try:
        operator_kubeconfig = rights.create()
        # The chart's tenancy policy (it runs in the API server, webhook or not).
        policy = tenancy_policy(rights.release, SESSION_INSTANCE, SESSION_PREFIX)
        configurations.extend(policy)
        kubectl("apply", "-f", "-", input=yaml.safe_dump_all(policy))
        _wait_for_policy(rights.namespace, rights.username, SESSION_INSTANCE)
        # The chart's records policy (created-by and changed-by name only who writes them).
        records = records_policy(rights.release, SESSION_INSTANCE, SESSION_PREFIX)
        configurations.extend(records)
        kubectl("apply", "-f", "-", input=yaml.safe_dump_all(records))
        _wait_for_records_policy(rights.namespace, SESSION_INSTANCE)
        if is_local_cluster():
            # The API server runs on this machine: it calls the operator's webhook at the
            # address it listens on itself, with a self-signed certificate whose CA the
            # configurations made here (as admin, like Helm does) carry.
            host, port = apiserver_host(), free_port()
            certs = write_self_signed(workdir / "webhook-certs", [host])
            webhook = {"FLOWRUN_WEBHOOK_PORT": str(port), "FLOWRUN_WEBHOOK_ADDR": host,
                       "FLOWRUN_WEBHOOK_HOST": host, "FLOWRUN_WEBHOOK_CERT_DIR": str(certs)}
            hooks = webhook_configurations(f"{SESSION_PREFIX}flowrun.io", f"https://{host}:{port}",
                                           (certs / "ca.crt").read_bytes(), SESSION_LABEL, SESSION_INSTANCE)
            configurations.extend(hooks)
            kubectl("apply", "-f", "-", input=yaml.safe_dump_all(hooks))
        metrics_port = free_port()
        # In a pod the operator knows the `kubernetes` Service by KUBERNETES_SERVICE_HOST;
        # on this machine it is told, so notifications refuse it as in the cluster.
        service_ip = kubectl("get", "service", "kubernetes", "-n", "default", "-o",
                             "jsonpath={.spec.clusterIP}", check=False).stdout.strip()
        # A short grace for images that cannot be pulled, so the test of it fails fast; a
        # short retry after a refused Job; rights by verb on (the admin holds every verb,
        # the tests' people only those their Roles grant).
        op = OperatorProcess(workdir / "operator.log", runner_image, namespaces=SESSION_NAMESPACES,
                             KUBECONFIG=str(operator_kubeconfig), FLOWRUN_METRICS_PORT=str(metrics_port),
                             FLOWRUN_IMAGE_PULL_GRACE_SECONDS="5", FLOWRUN_JOB_RETRY_SECONDS="2",
                             FLOWRUN_ACTION_VERBS="true", FLOWRUN_OPERATOR_USER=rights.username,
                             FLOWRUN_NOTIFICATIONS="true", FLOWRUN_NOTIFY_API_ADDRESSES=service_ip,
                             FLOWRUN_NOTIFY_DEADLINE_SECONDS="20",
                             # inputs to runs that do not exist are dropped after 30 s, not 600
                             # (test_inputs.py::test_inputs_to_missing_or_deleted_runs_...)
                             FLOWRUN_INPUT_ORPHAN_SECONDS="30",
                             FLOWRUN_INSTANCE=SESSION_INSTANCE, FLOWRUN_LEASE_NAMESPACE=rights.namespace,
                             FLOWRUN_LEASE_IDENTITY="session-operator",
                             **webhook)
        op.username = rights.username
        op.rights, op.webhook_env, op.workdir = rights, webhook, workdir
        # For tests that take the webhook away: put its configurations back as Helm would.
        op.restore_webhooks = lambda: hooks and kubectl("apply", "-f", "-", input=yaml.safe_dump_all(hooks))
        op.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        launch = op.start

        def start() -> None:
            """Start, and with a webhook wait until it answers: nothing may be created
            before (failurePolicy Ignore would let it through unstamped: no creator, no
            audit, a notifier the operator will not use). Every restart by a test too:
            the next test may create at once."""
            launch()
            if webhook:
                import socket

                def answers() -> bool:
                    with socket.socket() as sock:
                        sock.settimeout(1)
                        return sock.connect_ex((host, port)) == 0
                wait_for(answers, timeout=60, interval=0.2, what="the operator's webhook to listen")
        op.start = start
        op.start()
        yield op
        op.stop()
    finally:
        for config in configurations:
            kubectl("delete", config["kind"].lower(), config["metadata"]["name"], "--ignore-not-found", check=False)
        rights.delete()


def _wait_for_policy(namespace: str, user: str, instance: str) -> None:
    """The API server enforces a new policy a moment after it is stored: wait until it
    refuses a probe (a server-side dry run, as the operator's account, which may create
    FlowRuns but not pods, of a run that turns on pickle on a shared claim)."""
    probe = {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun",
             "metadata": {"name": "policy-probe", "labels": {"flowrun.io/instance": instance}},
             "spec": {"flow": "a:b", "cache": {"claimName": "probe", "allowPickle": True}}}

    def refused() -> bool:
        out = kubectl("create", "--dry-run=server", "-f", "-", "--as", user, namespace=namespace,
                      input=yaml.safe_dump(probe), check=False)
        return out.returncode != 0 and "allowPickle" in out.stderr
    wait_for(refused, timeout=60, interval=0.5, what="the tenancy policy to be enforced")


def _wait_for_records_policy(namespace: str, instance: str) -> None:
    """As _wait_for_policy, for the records policy: a probe claiming another creator."""
    probe = {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun",
             "metadata": {"name": "records-probe", "labels": {"flowrun.io/instance": instance},
                          "annotations": {"flowrun.io/created-by": "somebody-else"}},
             "spec": {"flow": "a:b"}}

    def refused() -> bool:
        out = kubectl("create", "--dry-run=server", "-f", "-", namespace=namespace, input=yaml.safe_dump(probe),
                      check=False)
        return out.returncode != 0 and "flowrun.io/created-by" in out.stderr
    wait_for(refused, timeout=60, interval=0.5, what="the records policy to be enforced")


@pytest.fixture(autouse=True)
def _operator_log_on_failure(request):
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed and "operator" in request.fixturenames:
        op = request.getfixturevalue("operator")
        print("\n---- operator log (tail) ----\n" + op.tail(), file=sys.stderr)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
