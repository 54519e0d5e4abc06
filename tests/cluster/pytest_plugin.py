"""pytest fixtures for tests that need a real cluster (marked ``e2e``).

- ``kubeconfig`` (session): path of an admin kubeconfig; starts the local cluster if no
  KUBECONFIG answers (progress shown live: output capture is suspended meanwhile).
- ``namespace`` (function): a fresh namespace named after the test, ready once its
  default ServiceAccount exists; deleted afterwards without waiting.
- ``base_image`` (session): the locally built Python base image, loaded into the cluster.

Any test that uses one of these fixtures gets the ``e2e`` marker added at collection, so
``-m "not e2e"`` never starts a cluster.
"""

from __future__ import annotations

import contextlib
import re
import secrets

import pytest

import cluster

CLUSTER_FIXTURES = {"kubeconfig", "namespace", "base_image"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if CLUSTER_FIXTURES & set(getattr(item, "fixturenames", ())) and not item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.e2e)


@contextlib.contextmanager
def _live_output(request):
    capman = request.config.pluginmanager.getplugin("capturemanager")
    if capman is None:
        yield
        return
    with capman.global_and_fixture_disabled():
        yield


@pytest.fixture(scope="session")
def kubeconfig(request) -> str:
    import os
    os.environ["FLOWRUN_INSTANCE"] = SESSION_INSTANCE  # the CLI and kubectl helpers label runs with it
    with _live_output(request):
        return cluster.ensure_cluster()


@pytest.fixture(scope="session")
def base_image(request, kubeconfig) -> str:
    with _live_output(request):
        return cluster.ensure_base_image()


# Every namespace of this test session starts with this prefix, and the operators the
# session starts watch only `SESSION_NAMESPACES`: several sessions (CI, developers,
# benchmarks) can share one cluster without reconciling each other's FlowRuns.
SESSION_PREFIX = f"t{secrets.token_hex(2)}-"
SESSION_NAMESPACES = f"{SESSION_PREFIX}*"
# ...and carries this label, which the session operator's webhook configurations select
# (a namespaceSelector cannot match a name prefix).
SESSION_LABEL = ("flowrun.io/test-session", SESSION_PREFIX.rstrip("-"))
# ...and its own operator instance: the session's operators handle only FlowRuns labelled
# flowrun.io/instance=<this> (the tests' FlowRuns are: cluster.flowruns.labelled, the CLI
# and subflows read FLOWRUN_INSTANCE), so an operator installed in the cluster without an
# instance (`make deploy`) never touches them, nor they it.
SESSION_INSTANCE = f"test-{SESSION_PREFIX.rstrip('-')}"


def create_namespace(name: str) -> None:
    """Create a namespace of this session (labelled for its webhook)."""
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("label", "namespace", name, f"{SESSION_LABEL[0]}={SESSION_LABEL[1]}")


def _namespace_name(nodeid_name: str) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", nodeid_name.lower()).strip("-")
    base = re.sub(r"^test-?", "", base)[:40].strip("-") or "t"
    return f"{SESSION_PREFIX}{base}-{secrets.token_hex(3)}"


@pytest.fixture
def namespace(request, kubeconfig) -> str:
    name = _namespace_name(request.node.name)
    create_namespace(name)
    cluster.wait_for(
        lambda: cluster.kubectl("get", "serviceaccount", "default", namespace=name, check=False).returncode == 0,
        timeout=60, what=f"default ServiceAccount in namespace {name}")
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)
