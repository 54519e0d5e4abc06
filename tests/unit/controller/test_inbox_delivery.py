"""The operator's delivery of inputs (controller/inbox.py) over a stand-in for the API
that applies the JSON patches (with their `test` guards) as the API server does: what
happens at the inbox's bound (nothing lost silently: those that fit go in, the rest are
refused with Events to the run and to each request, and the FlowRun says the inbox is
full, so senders are refused at the door), and the sweep of inputs to runs that do not
exist."""
from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from flowrun.contract import run_inputs as ri
from flowrun.controller.inbox import Deliveries
from flowrun.kube import Conflict, KubeError

NS = "ns"


def stamp(ago: float = 0) -> str:
    return (datetime.now(timezone.utc) - timedelta(seconds=ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeApi:
    def __init__(self) -> None:
        self.rv = 100
        self.inputs: dict[str, dict[str, Any]] = {}
        self.pages: dict[str, dict[str, Any]] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        self.events: list[tuple[str, str, str, str]] = []  # (kind, name, reason, message)
        self.status_patches: list[dict[str, Any]] = []
        self.lists: list[str | None] = []

    def send(self, target: str, value: str, ago: float = 0) -> dict[str, Any]:
        self.rv += 1
        body = ri.request(NS, target, f"strautomaticruninput-auto-{value}", {"value": value}, "ann")
        body["metadata"].update(name=f"input-{value}", resourceVersion=str(self.rv), creationTimestamp=stamp(ago))
        self.inputs[body["metadata"]["name"]] = body
        return body

    # ---- the Kube calls Deliveries makes
    def list_inputs(self, namespace: str, selector: str | None = None,
                    not_older_than: str | None = None) -> list[dict[str, Any]]:
        assert selector is not None
        self.lists.append(not_older_than)
        if not_older_than and int(not_older_than) > self.rv:
            raise KubeError(504, "Timeout", "Too large resource version")
        targets = selector.split(" in (")[1].rstrip(")").split(",") if " in (" in selector else [selector.split("=")[1]]
        return [copy.deepcopy(i) for i in self.inputs.values() if i["spec"]["flowRun"] in targets]

    def delete_input(self, namespace: str, name: str) -> bool:
        return self.inputs.pop(name, None) is not None

    def get_inbox(self, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.pages.get(name))

    def create_inbox(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.pages[obj["metadata"]["name"]] = copy.deepcopy(obj)
        return obj

    def patch_inbox(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
        spec = self.pages[name]["spec"]
        for op in ops:
            field = op["path"].split("/")[2]
            if op["op"] == "test" and spec[field] != op["value"]:
                raise Conflict(409, "Conflict", "test failed")
            if op["op"] == "add":
                spec["entries"].append(op["value"])
            elif op["op"] == "replace":
                spec[field] = op["value"]
        return self.pages[name]

    def emit_event(self, involved: dict[str, Any], reason: str, message: str, *, type_: str = "Normal") -> None:
        self.events.append((involved.get("kind", ""), involved["metadata"]["name"], reason, message))

    def patch_flowrun(self, namespace: str, name: str, patch: dict[str, Any], *, status: bool = False) -> dict:
        assert status
        self.status_patches.append(patch)
        self.runs[name].setdefault("status", {}).update(patch["status"])
        return self.runs[name]

    def get_flowrun(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.runs.get(name)

    def list_flowruns(self, namespace: str | None = None, selector: str | None = None) -> list[dict[str, Any]]:
        return list(self.runs.values())


def a_run(api: FakeApi, name: str = "r", instance: str = "") -> dict[str, Any]:
    labels = {"flowrun.io/instance": instance} if instance else {}
    api.runs[name] = {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun",
                      "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}", "labels": labels},
                      "status": {"phase": "Running"}}
    return api.runs[name]


def delivered(api: FakeApi) -> list[str]:
    pages = sorted(api.pages.values(), key=lambda p: p["spec"]["page"])
    return [e["value"]["value"] for p in pages for e in p["spec"]["entries"]]


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    """An inbox of 2 pages of 3 entries (the rules are the same at 32 x 1000)."""
    monkeypatch.setattr(ri, "MAX_PAGES", 2)
    monkeypatch.setattr(ri, "PAGE_MAX_ENTRIES", 3)


def test_at_the_bound_nothing_is_lost_silently(small: None) -> None:
    api = FakeApi()
    run = a_run(api)
    deliveries = Deliveries(api)  # type: ignore[arg-type]
    for i in range(5):
        api.send("r", f"m{i}")
    assert deliveries.deliver(run) == 5
    for i in range(5, 8):
        api.send("r", f"m{i}")
    assert deliveries.deliver(run) == 1, "the one that fits goes in"
    assert delivered(api) == [f"m{i}" for i in range(6)]
    assert api.pages["r-inbox-0"]["spec"]["sealed"] and not api.pages["r-inbox-1"]["spec"]["sealed"]
    # the two that do not fit: refused, to the run and on each request, and not kept
    refused = [e for e in api.events if e[2] == "InputRefused"]
    assert sorted((kind, name) for kind, name, _, _ in refused) == [
        ("FlowRun", "r"), ("FlowRun", "r"), ("FlowRunInput", "input-m6"), ("FlowRunInput", "input-m7")]
    assert all("inbox: full" in message for *_, message in refused)
    assert api.inputs == {}
    # the FlowRun says so, once: a sender who reads it is refused at the door
    assert [p["status"]["inbox"]["full"] for p in api.status_patches] == [True]
    assert ri.door_problems(run["status"], "strautomaticruninput-auto-x", {"value": "x"})

    api.send("r", "late")
    assert deliveries.deliver(run) == 0
    assert api.inputs == {} and len(api.status_patches) == 1
    assert api.events[-1][:3] == ("FlowRunInput", "input-late", "InputRefused")
    assert delivered(api) == [f"m{i}" for i in range(6)], "a page never changes once full"


def test_an_input_that_does_not_fit_what_the_flow_waits_for_is_refused_at_delivery() -> None:
    """A FlowRunInput created directly (kubectl create, a run's pod) passes no door: the
    operator judges it against status.receiving when it delivers, as the CLI would have."""
    api = FakeApi()
    run = a_run(api)
    run["status"]["receiving"] = {"keyPrefix": "strautomaticruninput-auto", "type": "str",
                                  "inputSchema": {"type": "object", "required": ["value"],
                                                  "properties": {"value": {"type": "string"}}}}
    api.send("r", "ok")
    bad = api.send("r", "3")
    bad["spec"]["value"] = {"value": 3}
    other = api.send("r", "other channel")
    other["spec"]["key"] = "chat-1"
    other["spec"]["value"] = {"value": 4}  # another key prefix: not judged by this schema
    assert Deliveries(api).deliver(run) == 2  # type: ignore[arg-type]
    assert delivered(api) == ["ok", 4]
    refused = [e for e in api.events if e[2] == "InputRefused"]
    assert sorted((kind, name) for kind, name, _, _ in refused) == [("FlowRun", "r"), ("FlowRunInput", "input-3")]
    assert all("3 is not of type 'string'" in message for *_, message in refused)
    assert api.inputs == {}, "the refused request is deleted too"


def test_a_fresh_operator_finds_the_last_page_and_its_mark(small: None) -> None:
    api = FakeApi()
    run = a_run(api)
    for i in range(4):
        api.send("r", f"m{i}")
    Deliveries(api).deliver(run)  # type: ignore[arg-type]
    api.send("r", "m4")
    again = Deliveries(api)  # type: ignore[arg-type]  # a restarted operator: nothing in memory
    assert again.deliver(run) == 1
    assert delivered(api) == ["m0", "m1", "m2", "m3", "m4"]


def test_inputs_to_a_run_that_does_not_exist_are_dropped_after_the_grace_with_an_event() -> None:
    api = FakeApi()
    deliveries = Deliveries(api)  # type: ignore[arg-type]
    api.send("ghost", "old", ago=120)
    api.send("ghost", "new", ago=1)
    assert deliveries.sweep(NS, "ghost", 60, "") is True, "one still waits for its run"
    assert list(api.inputs) == ["input-new"]
    (event,) = api.events
    assert event[:3] == ("FlowRunInput", "input-old", "InputDropped")
    assert "FlowRun ghost does not exist in namespace ns" in event[3]
    api.inputs["input-new"]["metadata"]["creationTimestamp"] = stamp(120)
    assert deliveries.sweep(NS, "ghost", 60, "") is False, "nothing waits any more: forgotten"
    assert api.inputs == {}


def test_the_sweep_leaves_existing_runs_alone() -> None:
    api = FakeApi()
    deliveries = Deliveries(api)  # type: ignore[arg-type]
    a_run(api, "mine", instance="a")
    a_run(api, "theirs", instance="b")
    api.send("mine", "x", ago=3600)
    api.send("theirs", "y", ago=3600)
    api.send("uid-theirs", "z", ago=3600)
    assert deliveries.sweep(NS, "mine", 60, "a") is True
    assert deliveries.sweep(NS, "theirs", 60, "a") is None, "another instance's run: its operator delivers"
    assert len(api.inputs) == 3 and api.events == []
    # a uid that is no run's
    api.send("0f0e0d0c-0b0a-0908-0706-050403020100", "w", ago=3600)
    assert deliveries.sweep(NS, "0f0e0d0c-0b0a-0908-0706-050403020100", 60, "a") is False
    assert "input-w" not in api.inputs and api.events[-1][2] == "InputDropped"


def test_delivered_requests_are_deleted_before_the_next_delivery_lists_again() -> None:
    api = FakeApi()
    run = a_run(api)
    deliveries = Deliveries(api)  # type: ignore[arg-type]
    api.send("r", "a")
    assert deliveries.deliver(run, seen=str(api.rv)) == 1
    assert api.inputs == {}
    api.send("r", "b")
    assert deliveries.deliver(run, seen=str(api.rv)) == 1
    assert delivered(api) == ["a", "b"] and api.inputs == {}
    assert api.lists == [str(api.rv - 1), str(api.rv)]


def test_a_cache_behind_the_watch_falls_back_to_a_plain_list() -> None:
    api = FakeApi()
    run = a_run(api)
    api.send("r", "a")
    assert Deliveries(api).deliver(run, seen=str(api.rv + 5)) == 1  # type: ignore[arg-type]
    assert api.lists == [str(api.rv + 5), None] and delivered(api) == ["a"]
