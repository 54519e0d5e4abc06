"""Choice buttons and bulk answers through the app (ui/routes/run.py, ui/routes/answer.py)
over the in-memory API (tests/fakeapi: the production compare-and-swap against a store
whose admission stands in for the webhook's approver rule). The real cluster and
browser: tests/e2e/test_ui_browser.py."""
from __future__ import annotations

import re
from typing import Any, Literal

import pytest
from pydantic import Field
from starlette.testclient import TestClient

from fakeapi import FakeKube, Store
from flowrun.input import RunInput
from flowrun.kube import actions
from flowrun.sdk.inputs import as_run_input
from flowrun.ui.app import Settings, create_app

CHOICE = as_run_input(Literal["approve", "reject"])[0].model_json_schema()


class Review(RunInput):
    verdict: Literal["approve", "reject"]
    comment: str = Field(description="why")


class Desk(FakeKube):
    """The person's Kube: the store, as "ann", who may do anything RBAC could grant."""

    def whoami(self) -> dict[str, Any]:
        return {"username": "ann", "groups": []}

    def i_may(self, *_: Any, **__: Any) -> bool:
        return True

    def flowrun_events(self, ns: str, name: str) -> list[dict[str, Any]]:
        return []

    def flowrun_pods(self, ns: str, name: str) -> list[dict[str, Any]]:
        return []


def paused(kube: FakeKube, name: str, schema: dict | None, ns: str = "ns") -> None:
    kube.create_flowrun(ns, {"metadata": {"name": name, "creationTimestamp": "2026-01-01T00:00:00Z"},
                             "spec": {"flow": "m:f", "state": "Paused"}})
    pause = {"key": "pause-1", "kind": "Pause", "since": "2026-01-01T00:00:01Z",
             **({"inputSchema": schema} if schema else {})}
    kube.patch_flowrun(ns, name, {"status": {"phase": "Paused", "attempt": 1, "pause": pause}}, status=True)


@pytest.fixture
def desk(monkeypatch: pytest.MonkeyPatch) -> tuple[Desk, TestClient]:
    monkeypatch.setattr(actions, "action_verbs_on", lambda kube: False)
    store = Store()
    # The webhook's approver rule, as it answers ann for a run whose pause names only bob.
    store.admission = lambda old, new, user: (
        [f"only bob may resume pause-1; {user} may not"]
        if new["metadata"]["name"].startswith("theirs") and new["spec"].get("state") == "Running" else [])
    kube = Desk(store, user="ann")
    # (a browser sends its page's Origin with every POST: ui/guard.py refuses changes without it)
    client = TestClient(create_app(Settings(namespaces=["ns"]), kube),  # type: ignore[arg-type]
                        headers={"Origin": "http://testserver"})
    return kube, client


def csrf(page: str) -> str:
    found = re.search(r'name="_csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def spec(kube: FakeKube, name: str) -> dict[str, Any]:
    return kube.get_flowrun("ns", name)["spec"]


def test_a_choice_is_one_button_per_option_and_no_enter_answers(desk) -> None:
    kube, client = desk
    paused(kube, "pick", CHOICE)
    page = client.get("/runs/ns/pick").text
    assert re.search(r'<button type="submit" name="value" value="approve" class="primary"\s*>approve</button>', page)
    assert re.search(r'<button type="submit" name="value" value="reject" class="danger"\s*>reject</button>', page)
    assert ">Resume</button>" not in page  # the options are the answer
    form = page[page.index('class="pause-form"'):]
    # the form's first submit button (the one Enter presses) is disabled
    assert form.index('class="implicit-stop" disabled') < form.index('value="approve"')
    assert '<select id="f-value"' not in page


def test_one_click_answers_and_a_destructive_one_asks_first(desk) -> None:
    kube, client = desk
    paused(kube, "pick", CHOICE)
    paused(kube, "other", CHOICE)
    token = csrf(client.get("/runs/ns/pick").text)
    asked = client.post("/runs/ns/pick/resume", data={"_csrf": token, "value": "reject"})
    assert asked.status_code == 200 and 'data-testid="confirm"' in asked.text, asked.text
    assert spec(kube, "pick")["state"] == "Paused" and "input" not in spec(kube, "pick")  # nothing sent yet
    assert '<input type="hidden" name="value" value="reject">' in asked.text
    assert '<input type="hidden" name="_confirmed" value="yes">' in asked.text
    done = client.post("/runs/ns/pick/resume", data={"_csrf": csrf(asked.text), "value": "reject",
                                                    "_confirmed": "yes"}, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert spec(kube, "pick")["state"] == "Running" and spec(kube, "pick")["input"] == {"value": "reject"}
    # a harmless option answers at once
    once = client.post("/runs/ns/other/resume", data={"_csrf": token, "value": "approve"}, follow_redirects=False)
    assert once.status_code == 303 and spec(kube, "other")["input"] == {"value": "approve"}


def test_a_value_that_is_not_an_option_is_refused_on_the_form(desk) -> None:
    kube, client = desk
    paused(kube, "pick", CHOICE)
    token = csrf(client.get("/runs/ns/pick").text)
    refused = client.post("/runs/ns/pick/resume", data={"_csrf": token, "value": "maybe"})
    assert refused.status_code == 422 and 'id="err-value"' in refused.text
    assert spec(kube, "pick")["state"] == "Paused"


def test_a_choice_with_free_fields_is_buttons_above_the_form(desk) -> None:
    kube, client = desk
    paused(kube, "review", Review.model_json_schema())
    page = client.get("/runs/ns/review").text
    assert page.index('data-testid="choice"') < page.index('name="comment"')
    assert "they are sent with your choice" in page
    token = csrf(page)
    missing = client.post("/runs/ns/review/resume", data={"_csrf": token, "verdict": "approve"})
    assert missing.status_code == 422 and spec(kube, "review")["state"] == "Paused"
    done = client.post("/runs/ns/review/resume", data={"_csrf": token, "verdict": "approve", "comment": "fine"},
                       follow_redirects=False)
    assert done.status_code == 303 and spec(kube, "review")["input"] == {"verdict": "approve", "comment": "fine"}


def test_the_list_offers_its_waiting_runs_to_tick(desk) -> None:
    kube, client = desk
    paused(kube, "a", CHOICE)
    page = client.get("/").text
    assert 'action="/answer"' in page
    box = re.search(r'<input type="checkbox" name="run" value="ns/a" id="(sel-[0-9a-f]+)" hx-preserve="true"', page)
    assert box, page


def test_several_runs_answered_at_once_each_on_its_own(desk) -> None:
    kube, client = desk
    for name in ("a", "b", "theirs"):
        paused(kube, name, CHOICE)
    page = client.get("/answer?run=ns/a&run=ns/b&run=ns/theirs")
    assert page.status_code == 200 and "One answer for the 3 runs" in page.text, page.text
    signature = re.search(r'name="_schema" value="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]
    assert page.text.count('<input type="hidden" name="_run"') == 3
    posted = client.post("/answer", data={"_csrf": csrf(page.text), "_schema": signature, "value": "approve",
                                          "_run": ["ns/a", "ns/b", "ns/theirs"]})
    assert posted.status_code == 200, posted.text
    summary = re.search(r'data-testid="summary">([^<]+)<', posted.text).group(1)  # type: ignore[union-attr]
    assert summary == ("2 resumed, 1 refused: theirs: The API server refused to resume theirs: admission "
                       "webhook denied the request: only bob may resume pause-1; ann may not")
    assert [spec(kube, n).get("input") for n in ("a", "b", "theirs")] == [{"value": "approve"}] * 2 + [None]
    # each change is the person's own, recorded on its own run (the webhook's stamp: contract/audit.py)
    assert all("ann" in str(kube.get_flowrun("ns", n)["metadata"]["annotations"]) for n in ("a", "b"))


def test_a_destructive_bulk_answer_asks_first_and_carries_the_selection(desk) -> None:
    kube, client = desk
    paused(kube, "a", CHOICE)
    paused(kube, "b", CHOICE)
    page = client.get("/answer?run=ns/a&run=ns/b").text
    signature = re.search(r'name="_schema" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]
    form = {"_csrf": csrf(page), "_schema": signature, "value": "reject", "_run": ["ns/a", "ns/b"]}
    asked = client.post("/answer", data=form)
    assert 'data-testid="confirm"' in asked.text and "Answer 2 runs with" in asked.text
    assert [spec(kube, n)["state"] for n in ("a", "b")] == ["Paused", "Paused"]
    carried = dict(re.findall(r'<input type="hidden" name="(value|_schema)" value="([^"]+)">', asked.text))
    assert carried == {"value": "reject", "_schema": signature}
    assert re.findall(r'<input type="hidden" name="_run" value="([^"]+)">', asked.text)[:2] == ["ns/a", "ns/b"]
    done = client.post("/answer", data={**form, "_confirmed": "yes"})
    assert "2 resumed" in done.text and [spec(kube, n)["input"] for n in ("a", "b")] == [{"value": "reject"}] * 2


def test_runs_waiting_for_different_inputs_are_not_answered_together(desk) -> None:
    kube, client = desk
    paused(kube, "a", CHOICE)
    paused(kube, "review", Review.model_json_schema())
    page = client.get("/answer?run=ns/a&run=ns/review").text
    assert 'data-testid="not-shared"' in page and "ns/a | ns/review" in page and 'action="/answer"' not in page


def test_a_selection_that_changed_meanwhile_sends_nothing(desk) -> None:
    kube, client = desk
    paused(kube, "a", CHOICE)
    paused(kube, "b", CHOICE)
    page = client.get("/answer?run=ns/a&run=ns/b").text
    stale = client.post("/answer", data={"_csrf": csrf(page), "_schema": "0" * 16, "value": "approve",
                                         "_run": ["ns/a", "ns/b"]})
    assert stale.status_code == 409 and [spec(kube, n)["state"] for n in ("a", "b")] == ["Paused", "Paused"]
    # b answered by someone else in between: a is resumed, b refused on its own
    signature = re.search(r'name="_schema" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]
    kube.patch_flowrun("ns", "b", {"spec": {"state": "Running", "input": {"value": "reject"}}})
    kube.patch_flowrun("ns", "b", {"status": {"phase": "Running", "pause": None}}, status=True)
    done = client.post("/answer", data={"_csrf": csrf(page), "_schema": signature, "value": "approve",
                                        "_run": ["ns/a", "ns/b"]})
    assert "1 resumed, 1 refused: b: does not wait for a person now" in done.text
    assert spec(kube, "a")["input"] == {"value": "approve"} and spec(kube, "b")["input"] == {"value": "reject"}


def test_a_bad_value_refuses_the_whole_bulk_answer_before_anything_is_sent(desk) -> None:
    kube, client = desk
    paused(kube, "a", CHOICE)
    page = client.get("/answer?run=ns/a").text
    signature = re.search(r'name="_schema" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]
    bad = client.post("/answer", data={"_csrf": csrf(page), "_schema": signature, "value": "maybe", "_run": "ns/a"})
    assert bad.status_code == 422 and 'id="err-value"' in bad.text and spec(kube, "a")["state"] == "Paused"


@pytest.mark.parametrize("query,status", [("run=other/a", 403), ("", 400), ("run=nonsense", 400)])
def test_a_selection_outside_the_ui_is_refused(desk, query: str, status: int) -> None:
    _, client = desk
    assert client.get(f"/answer?{query}").status_code == status


def test_a_forged_bulk_answer_is_refused(desk) -> None:
    kube, client = desk
    paused(kube, "a", CHOICE)
    response = client.post("/answer", data={"_csrf": "forged", "value": "approve", "_run": "ns/a"})
    assert response.status_code == 403 and spec(kube, "a")["state"] == "Paused"
