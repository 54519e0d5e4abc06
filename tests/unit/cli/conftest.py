import pytest


@pytest.fixture(autouse=True)
def _no_resume_watch(monkeypatch):
    """The fake API server has no runner that would accept or refuse a resume: do not
    wait for one (test_resume_reports_a_refusal sets its own)."""
    from flowrun.cli import actions
    monkeypatch.setattr(actions, "RESUME_WATCH_SECONDS", 0)
