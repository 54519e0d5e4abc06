"""What the pages show, from FlowRun objects (no cluster)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from flowrun.contract.lifecycle.people import refusal_fields
from flowrun.ui import views

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


def run(name, phase="Running", created="2026-11-26T10:00:00Z", pause=None, state=None, **status):
    obj = {"metadata": {"name": name, "namespace": "ns", "creationTimestamp": created, "labels": {"team": "a"}},
           "spec": {"flow": "m:f", **({"state": state} if state else {})},
           "status": {"phase": phase, **status}}
    if pause:
        obj["status"]["pause"] = pause
    return obj


PAUSE = {"key": "pause-1", "kind": "Pause", "since": "2026-11-26T11:50:00Z", "deadline": "2026-11-26T12:30:00Z",
         "inputSchema": {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}}


def test_waiting_runs_first_newest_first_and_paged():
    items = [run(f"r{i:04d}", created=(NOW - timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ")) for i in range(120)]
    items.append(run("waits", "Paused", "2026-11-20T00:00:00Z", PAUSE, state="Paused"))
    items.append(run("outside", "Suspended", pause={**PAUSE, "requestedBy": "operator"}, state="Suspended"))
    got = views.listing(items, views.Filters(), NOW)
    assert [r["name"] for r in got.waiting] == ["waits"]  # an outside suspension is not a person's pause
    w = got.waiting[0]
    assert w["waited"] == "10m 0s" and w["deadline"] == "in 30m 0s" and w["waits_for"] == "input (ok*)"
    assert got.total == 122 and got.pages == 3 and got.runs[0]["name"] == "r0000"
    third = views.listing(items, views.Filters(page=3), NOW)
    assert [r["name"] for r in third.runs][-1] == "waits"  # the oldest, last
    assert views.listing(items, views.Filters(page=99), NOW).page == 3


def test_filters():
    items = [run("alpha"), run("beta", "Failed", status_message="x"), run("gamma", "Paused", pause=PAUSE)]
    items[1]["status"]["message"] = "disk full"
    keep = lambda **kw: [r["name"] for r in views.listing(items, views.Filters(**kw), NOW).runs]  # noqa: E731
    assert keep(phase="failed") == ["beta"]
    assert keep(text="disk") == ["beta"]
    assert keep(flow="m:") == ["alpha", "beta", "gamma"]
    assert keep(namespace="other") == []
    assert views.Filters(phase="Paused", page=2).query() == "phase=Paused&page=2"


def test_markdown_is_rendered_and_sanitised():
    html = views.markdown("## Hi\n\n**bold** <script>alert(1)</script> <img src=x onerror=alert(1)>\n"
                          "[x](javascript:alert(1)) [ok](https://example.com)")
    assert "<h2>Hi</h2>" in html and "<strong>bold</strong>" in html
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html
    assert 'href="https://example.com"' in html and "noopener" in html


def test_controls_follow_the_state_and_the_rights():
    paused = run("p", "Paused", pause=PAUSE, state="Paused")
    all_rights = {v: (True, "") for v in ("resume", "suspend", "pause", "cancel")}
    shown = {c.label: c for c in views.controls(paused, all_rights, None)}
    assert [k for k, c in shown.items() if c.shown] == ["Resume", "Suspend", "Cancel"]
    no_patch = {v: (False, "eve may not patch") for v in all_rights}
    assert all(not c.enabled and c.why == "eve may not patch" for c in views.controls(paused, no_patch, None))
    running = run("r", "Running")
    assert [c.label for c in views.controls(running, all_rights, None) if c.shown] == ["Suspend", "Pause", "Cancel"]
    done = run("d", "Completed")
    assert not [c for c in views.controls(done, all_rights, None) if c.shown]
    approval = {**PAUSE, "approval": {"approvers": ["group:finance"], "required": 1, "approvals": []}}
    guarded = run("g", "Paused", pause=approval, state="Paused")
    resume = views.controls(guarded, all_rights, {"username": "eve", "groups": ["sales"]})[0]
    assert not resume.enabled and "eve may not answer" in resume.why


def test_the_controls_signature_ignores_what_the_form_does_not_show():
    a = run("p", "Paused", pause=PAUSE, state="Paused")
    b = run("p", "Paused", pause=PAUSE, state="Paused", message="other words")
    assert views.controls_signature(a) == views.controls_signature(b)
    assert views.controls_signature(a) != views.controls_signature(run("p", "Suspended", pause=PAUSE, state="Suspended"))


def test_timeline_merges_history_and_events_once():
    obj = run("p", history=[{"time": "2026-11-26T10:00:01Z", "action": "paused", "by": "flow", "key": "pause-1",
                             "message": "Paused at pause-1"}])
    events = [{"lastTimestamp": "2026-11-26T10:00:01Z", "reason": "Paused", "message": "Paused at pause-1"},
              {"lastTimestamp": "2026-11-26T10:00:00Z", "reason": "Scheduled", "type": "Normal", "message": "pod on node"}]
    got = views.timeline(obj, events)
    assert [(t["what"], t["source"]) for t in got] == [("Scheduled", "Event"), ("paused", "history")]


def test_the_api_servers_refusal_names_the_fields():
    message = ('admission webhook "flowrun-validate" denied the request: input does not match what the run '
               "waits for: spec.input: 'name' is a required property; spec.input.address: 'city' is a required "
               "property; spec.input.tags.0: 1 is not of type 'string'")
    assert refusal_fields(message) == {"name": "'name' is a required property",
                                       "address.city": "'city' is a required property",
                                       "tags.0": "1 is not of type 'string'"}


def test_label_selectors_match_as_the_api_server_does():
    labels = {"team": "a", "env": "prod", "canary": ""}
    for selector, expected in [("team=a", True), ("team==b", False), ("team!=b", True), ("env in (prod, qa)", True),
                               ("env notin (prod)", False), ("canary", True), ("!legacy", True), ("!canary", False),
                               ("team=a,env in (qa,prod),!legacy", True), ("", True)]:
        assert views.selector_matcher(selector)(labels) is expected, selector
    assert views.selector_matcher("team=(") is None  # the API server says why


@pytest.mark.timeout(20)
def test_selector_parsing_is_linear():
    # The old regex split was quadratic (16 KB took 5 s holding the GIL); a megabyte of
    # commas and parentheses would take hours with it. The timeout is the guard.
    hostile = "a in (" + "x," * 500_000 + ")," + "b," * 500_000
    assert views._split_selector(hostile) is not None
    assert views.selector_matcher("a=b," * 2000) is None  # over MAX_SELECTOR_LENGTH: the API server says
    assert views.selector_matcher(" " * 4000 + "a") is not None
    match = views.selector_matcher("a in (x, y),b!=z,!c,d")
    assert match({"a": "x", "d": ""}) and not match({"a": "x", "d": "", "c": "1"})


@pytest.mark.parametrize("pause,says", [
    ({"onTimeout": "resume", "timeoutInput": {"amount": 0}},
     "if nobody answers by 2026-12-02 14:00:00 UTC: resumes with amount=0"),
    ({"onTimeout": "cancel"}, "if nobody answers by 2026-12-02 14:00:00 UTC: is cancelled"),
    ({"onTimeout": "resume", "until": "2026-12-02T14:00:00Z"},
     "continues by itself at 2026-12-02 14:00:00 UTC (unless resumed earlier)"),
    ({"onTimeout": "resume", "timedOut": {"outcome": "resume"}}, "nobody answered in time: the system resumes it"),
])
def test_the_run_page_says_what_the_deadline_does(pause, says):
    assert views.if_unanswered({"key": "k", "kind": "Pause", "deadline": "2026-12-02T14:00:00Z", **pause}) == says
