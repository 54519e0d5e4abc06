"""The run page's form for a flow waiting in receive_input (ui/routes/inputs.py), over a
stand-in for the person's Kube: shown with the fields of what the flow waits for,
checked before anything is sent, sent as the person, refused without the right."""
from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from flowrun.kube import actions
from flowrun.ui.app import Settings, create_app

SCHEMA = {"type": "object", "title": "Order", "additionalProperties": False, "required": ["item", "quantity"],
          "properties": {"item": {"type": "string", "title": "Item"},
                         "quantity": {"type": "integer", "title": "Quantity"}}}
RUN = {"metadata": {"name": "shop", "namespace": "ns", "uid": "u-1", "creationTimestamp": "2026-01-01T00:00:00Z"},
       "spec": {"flow": "m:f"},
       "status": {"phase": "Running", "receiving": {"keyPrefix": "order-auto", "type": "Order",
                                                    "inputSchema": SCHEMA, "since": "2026-01-01T00:00:01Z"}}}


class Person:
    def __init__(self, may_send: bool = True) -> None:
        self.may_send = may_send
        self.created: list[dict[str, Any]] = []

    def whoami(self) -> dict[str, Any]:
        return {"username": "ann", "groups": []}

    def list_flowruns(self, ns: str | None, selector: str | None = None) -> list[dict[str, Any]]:
        return [RUN]

    def get_flowrun(self, ns: str, name: str) -> dict[str, Any] | None:
        return RUN if name == "shop" else None

    def i_may(self, ns: str, verb: str, resource: str, *_: Any) -> bool:
        return self.may_send or resource != "flowruninputs"

    def flowrun_events(self, ns: str, name: str) -> list[dict[str, Any]]:
        return []

    def flowrun_pods(self, ns: str, name: str) -> list[dict[str, Any]]:
        return []

    def create_input(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.created.append(obj)
        return {**obj, "metadata": {**obj["metadata"], "name": "input-abc"}}


def client_for(person: Person, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setattr(actions, "action_verbs_on", lambda kube: False)
    # (a browser sends its page's Origin with every POST: ui/guard.py refuses changes without it)
    return TestClient(create_app(Settings(namespaces=["ns"]), person),  # type: ignore[arg-type]
                      headers={"Origin": "http://testserver"})


def csrf(page: str) -> str:
    found = re.search(r'name="_csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def test_the_form_sends_what_the_flow_waits_for_as_the_person(monkeypatch: pytest.MonkeyPatch) -> None:
    person = Person()
    client = client_for(person, monkeypatch)
    page = client.get("/runs/ns/shop").text
    assert 'data-testid="receiving"' in page and "Waiting for input: Order" in page
    assert 'action="/runs/ns/shop/send"' in page and 'name="quantity"' in page
    token = csrf(page)
    refused = client.post("/runs/ns/shop/send", data={"_csrf": token, "item": "towel", "quantity": "many"})
    assert refused.status_code == 422 and person.created == [], refused.text
    sent = client.post("/runs/ns/shop/send", data={"_csrf": token, "item": "towel", "quantity": "2"},
                       follow_redirects=False)
    assert sent.status_code == 303, sent.text
    (body,) = person.created
    assert body["spec"]["value"] == {"item": "towel", "quantity": 2}
    assert body["spec"]["key"].startswith("order-auto-") and body["spec"]["sender"] == "ann"
    assert body["metadata"]["labels"] == {"flowrun.io/run": "shop"}


def test_without_the_send_right_the_form_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    client = client_for(Person(may_send=False), monkeypatch)
    page = client.get("/runs/ns/shop").text
    assert 'data-testid="why-send"' in page and "may not send inputs" in page


def test_a_forged_form_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    person = Person()
    response = client_for(person, monkeypatch).post("/runs/ns/shop/send", data={"_csrf": "forged", "item": "x"})
    assert response.status_code == 403 and person.created == []
