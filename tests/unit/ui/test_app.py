"""The app `create_app` assembles from the route modules: every page answers, with the
security headers, over a stand-in for the person's Kube (the real one: tests/e2e/test_ui_http.py)."""
from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from flowrun.kube import actions
from flowrun.ui.app import Settings, create_app
from flowrun.ui.security import SECURITY_HEADERS

RUN = {"metadata": {"name": "r1", "namespace": "ns", "creationTimestamp": "2026-01-01T00:00:00Z"},
       "spec": {"flow": "m:f"}, "status": {"phase": "Paused"}}


class OnePerson:
    def whoami(self) -> dict[str, Any]:
        return {"username": "ann", "groups": ["g"]}

    def list_flowruns(self, ns: str | None, selector: str | None = None) -> list[dict[str, Any]]:
        return [RUN]

    def get_flowrun(self, ns: str, name: str) -> dict[str, Any] | None:
        return RUN if name == "r1" else None

    def i_may(self, *_: Any) -> bool:
        return True

    def flowrun_events(self, ns: str, name: str) -> list[dict[str, Any]]:
        return []

    def flowrun_pods(self, ns: str, name: str) -> list[dict[str, Any]]:
        return []


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setattr(actions, "action_verbs_on", lambda kube: False)
    return TestClient(create_app(Settings(namespaces=["ns"]), OnePerson()))  # type: ignore[arg-type]


@pytest.mark.parametrize("path,status,text", [
    ("/healthz", 200, "ok"),
    ("/?namespace=ns", 200, "r1"),
    ("/fragments/runs?namespace=ns", 200, "r1"),
    ("/runs/ns/r1", 200, "r1"),
    ("/fragments/runs/ns/r1/controls", 200, ""),
    ("/runs/ns/gone", 404, "not found"),
    ("/?namespace=other", 403, "not served by this UI"),
    ("/signin", 303, ""),  # kubeconfig auth: nothing to sign in to
])
def test_every_page_answers_with_the_security_headers(client: TestClient, path: str, status: int, text: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == status
    assert text in response.text
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value


def test_an_action_without_the_forms_csrf_token_is_refused(client: TestClient) -> None:
    response = client.post("/runs/ns/r1/resume", data={"_csrf": "forged"})
    assert response.status_code == 403 and "CSRF" in response.text
