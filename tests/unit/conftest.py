"""Unit tests run in the same pytest process as end-to-end ones (a worker may take both),
so nothing an e2e fixture puts into the environment may reach them."""
import pytest


@pytest.fixture(autouse=True)
def _no_e2e_session_environment(monkeypatch):
    # The e2e fixtures label every run of their session with its operator instance
    # (tests/cluster/pytest_plugin.py); the CLI and SDK read it from the environment.
    monkeypatch.delenv("FLOWRUN_INSTANCE", raising=False)
