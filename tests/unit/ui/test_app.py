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
    response = client.post("/runs/ns/r1/resume", data={"_csrf": "forged"}, headers={"Origin": "http://testserver"})
    assert response.status_code == 403 and "CSRF" in response.text


def test_the_front_door_comes_first_with_the_security_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actions, "action_verbs_on", lambda kube: False)
    local = TestClient(create_app(Settings(namespaces=["ns"], allowed_hosts=["127.0.0.1", "localhost"]),
                                  OnePerson()), base_url="http://127.0.0.1:8080")  # type: ignore[arg-type]
    for response in (local.get("/runs/ns/r1", headers={"Host": "evil.example:8080"}),
                     local.post("/runs/ns/r1/resume", data={"_csrf": "x"}),  # no Origin
                     local.get("/runs/other/r1")):  # a namespace not served
        assert response.status_code in (403, 421)
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value
    assert local.get("/runs/ns/r1").status_code == 200


class Refusing(OnePerson):
    """The API server refuses every change, as our webhook would: its words led by a code."""

    def __init__(self, denied: str) -> None:
        self.denied = denied

    def update_flowrun(self, ns: str, name: str, decide: Any) -> dict[str, Any]:
        from flowrun.kube.errors import KubeError
        raise KubeError(403, "Forbidden", f'admission webhook "m" denied the request: {self.denied}')


@pytest.mark.parametrize("denied,status", [
    ("[InvalidInput] input does not match what the run waits for: spec.input.name: 1 is not of type 'string'", 422),
    ("[NotAllowed] ann may not resume FlowRun r1: that needs the `resume` verb", 403),
])
def test_the_webhooks_refusal_is_answered_by_its_code(monkeypatch: pytest.MonkeyPatch, denied: str,
                                                       status: int) -> None:
    import re
    monkeypatch.setattr(actions, "action_verbs_on", lambda kube: False)
    client = TestClient(create_app(Settings(namespaces=["ns"]), Refusing(denied)))  # type: ignore[arg-type]
    page = client.get("/runs/ns/r1")
    token = re.search(r'name="_csrf" value="([^"]+)"', page.text)
    assert token is not None, page.text
    response = client.post("/runs/ns/r1/resume", data={"_csrf": token.group(1)},
                           headers={"Origin": "http://testserver"})
    assert response.status_code == status, response.text
    code, words = denied[1:].split("] ", 1)
    assert words.split(":")[0] in response.text  # the API server's words, in the page's alert
    assert f"[{code}]" not in response.text  # ...without the code, which decided the status
