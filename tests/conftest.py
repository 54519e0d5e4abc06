import os
import sys

# tests/ on sys.path, so the cluster helpers import as `cluster` however pytest is invoked.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cluster.pytest_plugin import (  # noqa: E402,F401  (fixtures and hooks of the plugin)
    base_image,
    kubeconfig,
    namespace,
    pytest_collection_modifyitems,
)


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: needs a real Kubernetes cluster (tests/cluster, docs/cluster.md)")
