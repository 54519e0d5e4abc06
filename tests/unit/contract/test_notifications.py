"""contract/notifications.py: what is due, the stable ids, the bookkeeping in the run's
status, retries, and the payloads of the three sinks (verified with the libraries that
receivers use: standardwebhooks' verifier, cloudevents' parser)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from flowrun.contract import notification_payloads as payloads
from flowrun.contract import notifications as n

T0 = datetime(2026, 11, 26, 12, 0, 0, tzinfo=timezone.utc)
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def ts(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def run(phase="Paused", *, key="pause-1", schema=None, labels=None, deadline=T0 + timedelta(hours=1), **status):
    pause = {"key": key, "kind": "Suspend" if phase == "Suspended" else "Pause", "deadline": ts(deadline),
             "since": ts(T0), "inputSchema": schema, "description": "Approve the **payment**",
             "notifyMessage": "Invoice 42 needs you", "approval": {"approvers": ["alice", "group:finance"],
                                                                    "required": 2}}
    return {"metadata": {"name": "pay", "namespace": "fin", "uid": "uid-1", "labels": labels or {"team": "finance"}},
            "spec": {"flow": "examples.approvals:pay", "state": phase if phase in ("Paused", "Suspended") else "Running"},
            "status": {"phase": phase, "message": "waiting", "pause": pause if phase in ("Paused", "Suspended") else None,
                       **status}}


def notifier(events=("Paused", "AwaitingInput", "Suspended"), name="hook", selector=None, created=T0 - timedelta(days=1),
             near=None):
    spec = {"events": list(events), "sink": {"type": "webhook", "urlSecretRef": {"name": "s", "key": "url"}}}
    if selector is not None:
        spec["selector"] = selector
    if near is not None:
        spec["deadlineNearSeconds"] = near
    return {"metadata": {"name": name, "namespace": "fin", "creationTimestamp": ts(created)}, "spec": spec}


SCHEMA = {"type": "object", "properties": {"amount": {"type": "integer", "description": "in cents"},
                                           "note": {"type": "string", "default": ""}},
          "required": ["amount"]}


# ---- what is due -------------------------------------------------------------------

def test_a_pause_for_input_is_one_delivery_naming_its_most_specific_event():
    (d,) = n.due(run(schema=SCHEMA), notifier(), T0)
    assert d.event == "AwaitingInput" and d.events == ("AwaitingInput", "Paused") and d.key == "pause-1"
    assert d.id == n.delivery_id("uid-1", "pause-1", "pause")


def test_the_same_pause_suspended_or_re_established_is_the_same_delivery():
    paused = n.due(run("Paused"), notifier(), T0)
    suspended = n.due(run("Suspended"), notifier(), T0)
    after_pod_loss = n.due(run("Paused", attempt=2, podLosses=1), notifier(), T0)
    assert {d.id for d in paused} == {d.id for d in suspended} == {d.id for d in after_pod_loss}
    assert len(paused) == 1
    # recorded once: due no more, whether it is paused or suspended now
    recorded = run("Suspended", notifications=n.record_patch(run(), paused[0], "Delivered", T0)["notifications"])
    assert n.due(recorded, notifier(), T0) == []


def test_another_pause_is_another_delivery():
    assert n.due(run(key="pause-2"), notifier(), T0)[0].id != n.due(run(key="pause-1"), notifier(), T0)[0].id
    # and another run (uid) too
    other = run()
    other["metadata"]["uid"] = "uid-2"
    assert n.due(other, notifier(), T0)[0].id != n.due(run(), notifier(), T0)[0].id


def test_events_the_notifier_does_not_list_are_not_due():
    assert n.due(run(), notifier(events=["Failed"]), T0) == []
    assert n.due(run("Suspended"), notifier(events=["Paused"]), T0) == []
    (d,) = n.due(run("Suspended"), notifier(events=["Suspended"]), T0)
    assert d.event == "Suspended"
    assert n.due(run(schema=None), notifier(events=["AwaitingInput"]), T0) == []


def test_selector_namespace_and_opt_out():
    assert n.due(run(), notifier(selector={"matchLabels": {"team": "ops"}}), T0) == []
    assert n.due(run(), notifier(selector={"matchLabels": {"team": "finance"}}), T0)
    assert n.due(run(), notifier(selector={"matchExpressions": [{"key": "team", "operator": "In",
                                                                  "values": ["finance", "hr"]}]}), T0)
    assert not n.due(run(), notifier(selector={"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}), T0)
    assert n.due(run(), notifier(selector={"matchExpressions": [{"key": "x", "operator": "NotIn", "values": ["a"]}]}), T0)
    assert n.due(run(labels={"team": "finance", n.LABEL_NOTIFY: "false"}), notifier(), T0) == []
    elsewhere = notifier()
    elsewhere["metadata"]["namespace"] = "other"
    assert n.due(run(), elsewhere, T0) == []


def test_ends_are_due_once_and_only_if_they_came_after_the_notifier():
    ends = ("Failed", "Cancelled", "Completed")
    for phase in ends:
        done = run(phase, completionTime=ts(T0))
        (d,) = n.due(done, notifier(events=ends), T0)
        assert d.event == phase and d.key == "" and d.id == n.delivery_id("uid-1", "", phase)
        assert n.due(done, notifier(events=ends, created=T0 + timedelta(seconds=1)), T0) == []
    assert n.due(run("Completed", completionTime=ts(T0)), notifier(events=["Failed"]), T0) == []


def test_deadline_near_is_due_inside_its_window_only_and_next_due_says_when():
    deadline = T0 + timedelta(seconds=100)
    obj = run(deadline=deadline)
    hook = notifier(events=["DeadlineNear"], near=30)
    assert n.due(obj, hook, T0) == []
    assert n.next_due(obj, [hook], T0) == deadline - timedelta(seconds=30)
    (d,) = n.due(obj, hook, deadline - timedelta(seconds=30))
    assert d.event == "DeadlineNear" and d.id == n.delivery_id("uid-1", "pause-1", "DeadlineNear")
    assert n.due(obj, hook, deadline) == []  # past: the run fails, which is another event
    assert n.next_due(obj, [notifier(events=["Paused"])], T0) is None
    # a pause and its DeadlineNear are two deliveries when both are listed
    both = n.due(obj, notifier(events=["Paused", "DeadlineNear"], near=200), T0)
    assert sorted(d.kind for d in both) == ["DeadlineNear", "pause"]


def test_still_due_before_a_send():
    (d,) = n.due(run(), notifier(), T0)
    assert n.still_due(run(), notifier(), d, T0)
    assert not n.still_due(run("Running"), notifier(), d, T0)  # answered meanwhile
    assert not n.still_due(None, notifier(), d, T0)
    assert not n.still_due(run(), None, d, T0)


# ---- bookkeeping -----------------------------------------------------------------

def test_records_are_bounded_and_never_duplicated():
    obj = run()
    for i in range(n.MAX_RECORDS + 10):
        d = n.Delivery("hook", f"msg_{i}", "Paused", ("Paused",), "pause", f"pause-{i}")
        obj["status"]["notifications"] = n.record_patch(obj, d, "Delivered", T0)["notifications"]
    records = obj["status"]["notifications"]
    assert len(records) == n.MAX_RECORDS and records[-1]["id"] == f"msg_{n.MAX_RECORDS + 9}"
    assert records[-1] == {"notifier": "hook", "id": f"msg_{n.MAX_RECORDS + 9}", "event": "Paused",
                           "time": ts(T0), "outcome": "Delivered"}
    assert n.record_patch(obj, d, "Delivered", T0) is None
    # the current pause's record is the newest: bounding never makes it due again
    assert (d.notifier, d.id) in n.recorded(obj)


# ---- failures ----------------------------------------------------------------------

@pytest.mark.parametrize("status,error,outcome", [
    (200, None, "delivered"), (204, None, "delivered"), (500, None, "failed"), (503, None, "failed"),
    (429, None, "failed"), (408, None, "failed"), (404, None, "failed"), (400, None, "failed"),
    (301, None, "failed"), (None, "timeout", "failed"), (None, "refused", "failed"),
    (None, "reset", "failed"), (None, "dns", "failed"), (None, "invalid-url", "failed"),
    (None, "tls", "failed"), (None, "egress", "failed")])
def test_classification(status, error, outcome):
    assert n.classify(status, error) == outcome


def test_backoff_doubles_caps_and_gives_up_after_an_hour():
    delays, at, failures = [], T0, 0
    while True:
        failures += 1
        nxt = n.retry_at(T0, failures, at)
        if nxt is None:
            break
        delays.append((nxt - at).total_seconds())
        at = nxt
    assert delays[:5] == [1, 2, 4, 8, 16] and max(delays) == n.MAX_RETRY_DELAY_SECONDS
    assert (at - T0).total_seconds() <= n.RETRY_FOR_SECONDS < (at - T0).total_seconds() + n.MAX_RETRY_DELAY_SECONDS


def test_check_url_never_repeats_the_url():
    assert n.check_url("https://hooks.example/abc") == ""
    for bad in ("ftp://x/secret-token", "not a url secret-token", "http:///secret-token"):
        problem = n.check_url(bad)
        assert problem and "secret-token" not in problem


def test_notifier_status_moves_transition_time_only_on_change():
    first = n.notifier_status(None, ready=True, reason="Valid", message="ok", now=T0, generation=1)
    assert first["conditions"][0]["lastTransitionTime"] == ts(T0) and first["observedGeneration"] == 1
    same = n.notifier_status(first, ready=True, reason="Valid", message="ok", now=T0 + timedelta(1), generation=1)
    assert same is None
    delivered = n.notifier_status(first, ready=True, reason="Delivered", message="x", now=T0 + timedelta(1),
                                  delivered={"id": "m"})
    assert delivered["conditions"][0]["lastTransitionTime"] == ts(T0) and delivered["lastDelivery"] == {"id": "m"}
    failing = n.notifier_status(first, ready=False, reason="DeliveryFailing", message="HTTP 500",
                                now=T0 + timedelta(1), error={"message": "HTTP 500", "time": "t"})
    assert failing["conditions"][0]["status"] == "False" and failing["lastError"]["message"] == "HTTP 500"


def test_the_webhooks_stamp_covers_the_secret_references():
    from flowrun.contract.signing import NO_KEYS, single
    key, now = single(b"k" * 32), T0
    hook = notifier()
    hook["metadata"]["annotations"] = {n.ANNOTATION_NOTIFIER_APPROVAL: n.approval(key, hook)}
    assert n.approved(key, hook, now)
    assert not n.approved(single(b"other" * 8), hook, now) and not n.approved(NO_KEYS, hook, now)
    hook["spec"]["sink"]["signingSecretRef"] = {"name": "payroll", "key": "k"}
    assert not n.approved(key, hook, now)  # changed to other Secrets since the webhook saw it
    assert n.secret_names(hook) == ["payroll", "s"]
    assert not n.approved(key, notifier(), now)  # no stamp at all


# ---- payloads ----------------------------------------------------------------------

def test_payload_says_everything_a_person_needs():
    obj = run(schema=SCHEMA)
    (d,) = n.due(obj, notifier(), T0)
    data = payloads.payload(obj, d, ui_base_url="https://flowrun.example/")
    assert data["run"] == "pay" and data["namespace"] == "fin" and data["flow"] == "examples.approvals:pay"
    assert data["phase"] == "Paused" and data["message"] == "waiting" and data["event"] == "AwaitingInput"
    pause = data["pause"]
    assert pause["key"] == "pause-1" and pause["notifyMessage"] == "Invoice 42 needs you"
    assert pause["description"] == "Approve the **payment**" and pause["deadline"] == ts(T0 + timedelta(hours=1))
    assert pause["approvers"] == ["alice", "group:finance"] and pause["approvalsRequired"] == 2
    assert pause["inputFields"] == [
        {"name": "amount", "type": "integer", "required": True, "description": "in cents"},
        {"name": "note", "type": "string", "required": False, "default": ""}]
    assert data["resumeCommand"] == "flowrun resume pay -n fin --input amount=<amount>"
    assert data["url"] == "https://flowrun.example/runs/fin/pay"
    assert "url" not in payloads.payload(obj, d)  # no UI address: no link
    (end,) = n.due(run("Failed", completionTime=ts(T0)), notifier(events=["Failed"]), T0)
    failed = payloads.payload(run("Failed"), end)
    assert "pause" not in failed and "resumeCommand" not in failed


def test_webhook_delivery_verifies_with_the_standardwebhooks_library():
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError
    obj = run(schema=SCHEMA)
    (d,) = n.due(obj, notifier(), T0)
    when = datetime.now(timezone.utc)
    headers, body = payloads.webhook_request(payloads.payload(obj, d), msg_id=d.id, when=when, signing_secret=SECRET)
    assert headers["webhook-id"] == d.id and headers["webhook-timestamp"] == str(int(when.timestamp()))
    got = Webhook(SECRET).verify(body, headers)
    assert got["type"] == "io.flowrun.run.awaiting-input" and got["data"]["run"] == "pay"
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 32).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace(b"pay", b"pax"), headers)
    unsigned, _ = payloads.webhook_request(payloads.payload(obj, d), msg_id=d.id, when=when, signing_secret=None)
    assert "webhook-signature" not in unsigned
    with pytest.raises(ValueError, match="whsec_"):
        payloads.webhook_request(payloads.payload(obj, d), msg_id=d.id, when=when, signing_secret="whsec_")


def test_slack_message_is_valid_block_kit():
    obj = run(schema=SCHEMA)
    (d,) = n.due(obj, notifier(), T0)
    headers, body = payloads.request("slack", payloads.payload(obj, d, ui_base_url="https://ui"), msg_id=d.id, when=T0)
    message = json.loads(body)
    assert headers["content-type"] == "application/json" and message["text"]
    blocks = message["blocks"]
    assert 1 <= len(blocks) <= 50
    known = {"header", "section", "context", "actions", "divider"}
    for block in blocks:
        assert block["type"] in known
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text" and 0 < len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert block["text"]["type"] == "mrkdwn" and 0 < len(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(f["type"] == "mrkdwn" and len(f["text"]) <= 2000 for f in block.get("fields", []))
        if block["type"] == "actions":
            for element in block["elements"]:
                assert element["type"] == "button" and len(element["text"]["text"]) <= 75
                assert element["url"] == "https://ui/runs/fin/pay" and len(element["action_id"]) <= 255
    text = json.dumps(blocks)
    assert "Invoice 42 needs you" in text and "`amount`" in text and "flowrun resume pay" in text
    no_ui = json.loads(payloads.request("slack", payloads.payload(obj, d), msg_id=d.id, when=T0)[1])
    assert not [b for b in no_ui["blocks"] if b["type"] == "actions"]


def test_cloudevent_is_structured_mode_with_our_attributes():
    from cloudevents.core.bindings.http import HTTPMessage, from_http_event
    obj = run("Suspended")
    (d,) = n.due(obj, notifier(), T0)
    headers, body = payloads.request("cloudevents", payloads.payload(obj, d), msg_id=d.id, when=T0)
    assert headers["content-type"].startswith("application/cloudevents+json")
    raw = json.loads(body)
    assert raw["specversion"] == "1.0" and raw["id"] == d.id and raw["type"] == "io.flowrun.run.suspended"
    event = from_http_event(HTTPMessage(headers=headers, body=body))
    assert event.get_id() == d.id and event.get_type() == "io.flowrun.run.suspended"
    assert event.get_source() == "/apis/flowrun.io/v1alpha1/namespaces/fin/flowruns/pay"
    assert event.get_subject() == "pay" and event.get_data()["pause"]["key"] == "pause-1"


def test_every_event_has_a_type_and_a_headline():
    for event in n.EVENTS:
        assert payloads.event_type(event).startswith("io.flowrun.run.")
        assert payloads._headline({"namespace": "a", "run": "b", "event": event, "pause": {"key": "k"}})
    with pytest.raises(ValueError):
        payloads.request("pager", {}, msg_id="x", when=T0)


def test_the_flows_note_is_recorded_with_the_pause_and_bounded():
    from flowrun.contract.constants import MAX_NOTIFY_MESSAGE_BYTES
    from flowrun.contract.phases import PauseKind
    from flowrun.contract.lifecycle.pausing import PauseRequest
    info = PauseRequest(key="pause-1", kind=PauseKind.PAUSE, timeout_seconds=60,
                        notify_message="Invoice 42 needs you").record(T0, 1, None)
    assert info["notifyMessage"] == "Invoice 42 needs you"
    long = PauseRequest(key="p", kind=PauseKind.PAUSE, timeout_seconds=60, notify_message="x" * 5000).record(T0, 1, None)
    assert len(long["notifyMessage"].encode()) <= MAX_NOTIFY_MESSAGE_BYTES
    assert "notifyMessage" not in PauseRequest(key="p", kind=PauseKind.PAUSE, timeout_seconds=60).record(T0, 1, None)


def test_pause_flow_run_hands_the_note_to_the_run(monkeypatch):
    import inspect

    from flowrun.sdk import pausing
    for fn in (pausing.pause_flow_run, pausing.suspend_flow_run):
        assert "notify_message" in inspect.signature(fn).parameters
    seen = {}

    def fake_pause(kind, what, wait_for_input, timeout, key, suspend_after=None, approval=None, notify_message=None, **_):
        seen[what] = notify_message
    monkeypatch.setattr(pausing, "_pause", fake_pause)
    pausing.pause_flow_run(timeout=5, notify_message="look")
    pausing.suspend_flow_run(notify_message="later")
    assert seen == {"pause_flow_run": "look", "suspend_flow_run": "later"}


@pytest.mark.parametrize("extra, clipped", [(0, False), (1, True)])
def test_a_slack_section_text_is_clipped_at_2900_bytes(extra, clipped):
    """Slack refuses a section text over 3,000 characters: the run's message is sent whole
    up to 2,900 bytes and cut (marked "...") one byte past."""
    obj = run()
    (d,) = n.due(obj, notifier(), T0)
    data = payloads.payload(obj, d)
    data["message"] = "m" * (2900 + extra)
    section = payloads.slack_message(data)["blocks"][1]["text"]["text"]
    assert section == ("m" * 2897 + "..." if clipped else "m" * 2900)


def test_secret_names_skip_a_reference_without_a_name():
    """Only named Secret references are read (and checked by the webhook): an empty
    or nameless reference names nothing."""
    hook = notifier()
    hook["spec"]["sink"]["signingSecretRef"] = {"key": "k"}
    assert n.secret_names(hook) == ["s"]
    hook["spec"]["sink"]["urlSecretRef"] = {}
    assert n.secret_names(hook) == []


def test_the_slack_message_of_a_pause_is_exactly_these_blocks():
    """The whole Block Kit message for a pause awaiting input, block by block: a header
    with the headline, the message with flow, phase, deadline and approvers, the flow's
    note, the description, the expected input (required ones said so), the resume
    command, and a button to the run in the UI."""
    data = {"event": "AwaitingInput", "run": "pay", "namespace": "fin", "flow": "f:pay", "phase": "Paused",
            "message": "waiting", "resumeCommand": "flowrun resume pay -n fin --input amount=<amount>",
            "url": "https://ui/runs/fin/pay",
            "pause": {"key": "pause-1", "deadline": "2026-11-26T13:00:00Z", "approvers": ["alice", "group:fin"],
                      "notifyMessage": "Invoice 42", "description": "Approve **it**",
                      "inputFields": [{"name": "amount", "type": "integer", "required": True},
                                      {"name": "note", "type": "string", "required": False}]}}
    md = lambda text: {"type": "mrkdwn", "text": text}  # noqa: E731
    assert payloads.slack_message(data) == {
        "text": "FlowRun fin/pay waits for input at pause-1",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "FlowRun fin/pay waits for input at pause-1",
                                        "emoji": True}},
            {"type": "section", "text": md("waiting"),
             "fields": [md("*Flow*\n`f:pay`"), md("*Phase*\nPaused"), md("*Deadline*\n2026-11-26T13:00:00Z"),
                        md("*Approvers*\nalice, group:fin")]},
            {"type": "section", "text": md("Invoice 42")},
            {"type": "section", "text": md("Approve **it**")},
            {"type": "section", "text": md("*Expected input*\n• `amount` (integer, required)\n• `note` (string)")},
            {"type": "context", "elements": [md("`flowrun resume pay -n fin --input amount=<amount>`")]},
            {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open the run"},
                                              "url": "https://ui/runs/fin/pay", "action_id": "open-run",
                                              "style": "primary"}]},
        ]}


def test_the_slack_message_of_an_end_says_the_headline_with_flow_and_phase_only():
    """An end without a message: the section says the headline; no deadline, approvers,
    note, input, command or button."""
    data = {"event": "Failed", "run": "pay", "namespace": "fin", "flow": "f:pay", "phase": "Failed", "message": ""}
    assert payloads.slack_message(data)["blocks"][1:] == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "FlowRun fin/pay failed"},
         "fields": [{"type": "mrkdwn", "text": "*Flow*\n`f:pay`"}, {"type": "mrkdwn", "text": "*Phase*\nFailed"}]}]


def test_slack_fields_header_and_input_list_are_bounded():
    """Slack's limits: a header of at most 150 bytes, each field at most 1,900 (Slack
    allows 2,000), at most 20 expected input lines."""
    long = "x" * 3000
    data = {"event": "Paused", "run": "r" * 200, "namespace": "fin", "flow": long, "phase": long, "message": "m",
            "pause": {"key": "k", "deadline": long, "approvers": [long],
                      "inputFields": [{"name": f"f{i}", "type": "string", "required": False} for i in range(25)]}}
    blocks = payloads.slack_message(data)["blocks"]
    header = blocks[0]["text"]["text"]
    assert len(header.encode()) == 150 and header.endswith("...")
    assert [len(f["text"].encode()) for f in blocks[1]["fields"]] == [1900] * 4
    lines = blocks[2]["text"]["text"].split("\n")
    assert lines[0] == "*Expected input*" and len(lines) == 21 and lines[-1] == "• `f19` (string)"


def test_retries_stop_at_the_hour_inclusive():
    """A retry that falls exactly RETRY_FOR_SECONDS after the first failure is still
    made; one a second later is not."""
    last = T0 + timedelta(seconds=n.RETRY_FOR_SECONDS - 1)
    assert n.retry_at(T0, 1, last) == T0 + timedelta(seconds=n.RETRY_FOR_SECONDS)
    assert n.retry_at(T0, 1, last + timedelta(seconds=1)) is None


def test_next_due_is_none_without_a_stopped_pause_or_a_deadline_and_only_for_covering_notifiers():
    """The operator looks again for a DeadlineNear only of a run stopped at a pause with a
    deadline, for a notifier that lists DeadlineNear AND covers the run, and only when
    that moment is still to come (strictly later than now)."""
    deadline = T0 + timedelta(seconds=100)
    hook = notifier(events=["DeadlineNear"], near=30)
    assert n.next_due(run("Running"), [hook], T0) is None
    assert n.next_due(run("Completed"), [hook], T0) is None
    no_deadline = run(deadline=deadline)
    no_deadline["status"]["pause"].pop("deadline")
    assert n.next_due(no_deadline, [hook], T0) is None
    elsewhere = notifier(events=["DeadlineNear"], near=30)
    elsewhere["metadata"]["namespace"] = "other"
    assert n.next_due(run(deadline=deadline), [elsewhere], T0) is None
    assert n.next_due(run(deadline=deadline), [notifier(events=["Paused"], near=30)], T0) is None
    at = deadline - timedelta(seconds=30)
    assert n.next_due(run(deadline=deadline), [hook], at - timedelta(seconds=1)) == at
    assert n.next_due(run(deadline=deadline), [hook], at) is None


@pytest.mark.parametrize("url, says", [
    ("http://[::1", "the URL in the Secret is not a valid URL"),
    ("ftp://example.com/x", "the URL in the Secret must start with http:// or https://"),
    ("https:///path", "the URL in the Secret has no host"),
    ("https://hooks.example.com/T0/B0/secret", ""),
])
def test_check_url_says_exactly_what_is_wrong(url, says):
    assert n.check_url(url) == says


def test_the_notifier_approval_is_an_hmac_over_exactly_its_namespace_name_and_secret_references():
    """The webhook's stamp on a notifier is `<kid>:<hmac>` over the canonical JSON of
    ["notifier", namespace, name, [[url Secret, key], [signing Secret, key]]] (a missing
    reference as ["", ""]): an operator of another version, or the webhook before a
    restart, computes the same stamp, and a stamp of another kind of record never passes."""
    import hashlib
    import hmac
    from flowrun.contract.signing import canonical, single
    secret = b"k" * 32
    hook = notifier()
    hook["spec"]["sink"]["signingSecretRef"] = {"name": "sig", "key": "whsec"}
    want = hmac.new(secret, canonical(["notifier", "fin", "hook", [["s", "url"], ["sig", "whsec"]]]),
                    hashlib.sha256).hexdigest()
    assert n.approval(single(secret, kid="k1"), hook) == f"k1:{want}"
    bare = {"spec": {"sink": {}}}
    empty = hmac.new(secret, canonical(["notifier", "", "", [["", ""], ["", ""]]]), hashlib.sha256).hexdigest()
    assert n.approval(single(secret, kid="k1"), bare) == f"k1:{empty}"
    assert n.approval(single(secret, kid="k1"), {}) == f"k1:{empty}"


@pytest.mark.parametrize("event, headline", [
    ("AwaitingInput", "FlowRun fin/pay waits for input at pause-1"),
    ("Paused", "FlowRun fin/pay is paused at pause-1"),
    ("Suspended", "FlowRun fin/pay is suspended at pause-1"),
    ("DeadlineNear", "FlowRun fin/pay: the pause pause-1 ends at 2026-11-26T13:00:00Z"),
    ("Failed", "FlowRun fin/pay failed"),
    ("Cancelled", "FlowRun fin/pay was cancelled"),
    ("Completed", "FlowRun fin/pay completed"),
])
def test_each_event_has_its_headline(event, headline):
    """The first line a person reads (Slack's text and header): the run, what happened,
    and for a pause its key (and deadline)."""
    data = {"event": event, "run": "pay", "namespace": "fin",
            "pause": {"key": "pause-1", "deadline": "2026-11-26T13:00:00Z"}}
    assert payloads.slack_message(data)["text"] == headline


def test_the_expected_input_names_each_fields_type_from_the_schema():
    """A field's type as a person reads it: its `type`, `object` for a reference to a
    model, the alternatives joined by `/` (an untyped one as `?`), else `any`."""
    schema = {"properties": {"a": {"type": "string"}, "b": {"$ref": "#/$defs/B"}, "c": {"allOf": [{}]},
                             "d": {"anyOf": [{"type": "integer"}, {"type": "null"}, {}]}, "e": {}, "f": None},
              "required": ["a"]}
    assert [(f["name"], f["type"], f["required"]) for f in payloads.input_fields(schema)] == [
        ("a", "string", True), ("b", "object", False), ("c", "object", False), ("d", "integer/null/?", False),
        ("e", "any", False), ("f", "any", False)]


def test_a_webhook_request_is_exactly_compact_sorted_json_with_the_standard_headers():
    """The body is signed byte for byte, so it is one canonical text: compact, keys
    sorted, the event's type and the time of `when` (not of the send). The headers are
    exactly the Standard Webhooks ones (lower-case, as the specification writes them)."""
    when = datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    data = {"z": 1, "event": "Completed", "a": [1, 2]}
    headers, body = payloads.webhook_request(data, msg_id="msg_1", when=when, signing_secret=None)
    assert body == (b'{"data":{"a":[1,2],"event":"Completed","z":1},"timestamp":"2020-01-02T03:04:05Z",'
                    b'"type":"io.flowrun.run.completed"}')
    assert headers == {"content-type": "application/json", "webhook-id": "msg_1",
                       "webhook-timestamp": str(int(when.timestamp()))}
    signed, _ = payloads.request("webhook", data, msg_id="msg_1", when=when, signing_secret=SECRET)
    assert set(signed) == {"content-type", "webhook-id", "webhook-timestamp", "webhook-signature"}
    with pytest.raises(ValueError) as info:
        payloads.webhook_request(data, msg_id="msg_1", when=when, signing_secret="whsec_")
    assert str(info.value) == "the signing secret is not a Standard Webhooks secret (whsec_<base64>)"
    with pytest.raises(ValueError, match="^unknown sink type 'pager'$"):
        payloads.request("pager", data, msg_id="x", when=when)


@pytest.mark.parametrize("status, outcome", [(199, "failed"), (200, "delivered"), (299, "delivered"),
                                             (300, "failed"), (None, "failed")])
def test_only_a_2xx_answer_is_a_delivery(status, outcome):
    assert n.classify(status) == outcome


def test_the_notifier_ready_condition_in_full():
    """Ready's condition is exactly type, status, reason, the message (clipped at 1,024
    bytes) and the transition time."""
    got = n.notifier_status({}, ready=False, reason="SecretMissing", message="x" * 2000, now=T0)
    assert got == {"conditions": [{"type": "Ready", "status": "False", "reason": "SecretMissing",
                                   "message": "x" * 1021 + "...", "lastTransitionTime": ts(T0)}]}


def test_a_notifier_stamped_with_a_retired_key_is_approved_within_its_grace_only():
    """The stamp verifies at the time asked: a key retired with a grace period vouches for
    the notifiers it stamped until then, not after."""
    from flowrun.contract.signing import KeyRing, SigningKey
    old = SigningKey("k1", b"1" * 32)
    hook = notifier()
    hook["metadata"]["annotations"] = {n.ANNOTATION_NOTIFIER_APPROVAL: n.approval(KeyRing(old), hook)}
    rotated = KeyRing(SigningKey("k2", b"2" * 32), (SigningKey("k1", b"1" * 32, T0),))
    assert n.approved(rotated, hook, T0 - timedelta(seconds=1))
    assert not n.approved(rotated, hook, T0)


def test_last_error_is_rewritten_only_when_more_than_its_time_changed():
    """The same error again (only its time differs) writes nothing; another message does."""
    current = {"conditions": [{"type": "Ready", "status": "False", "reason": "R", "message": "m",
                               "lastTransitionTime": ts(T0)}],
               "lastError": {"message": "HTTP 500", "time": "t0"}}
    same = n.notifier_status(current, ready=False, reason="R", message="m", now=T0 + timedelta(1),
                             error={"message": "HTTP 500", "time": "t1"})
    assert same is None
    other = n.notifier_status(current, ready=False, reason="R", message="m", now=T0 + timedelta(1),
                              error={"message": "HTTP 502", "time": "t1"})
    assert other == {"lastError": {"message": "HTTP 502", "time": "t1"}}
    first = n.notifier_status({"conditions": current["conditions"]}, ready=False, reason="R", message="m",
                              now=T0, error={"message": "HTTP 500", "time": "t1"})
    assert first == {"lastError": {"message": "HTTP 500", "time": "t1"}}


def test_a_delivery_id_is_msg_and_32_hex_digits_of_the_occurrence():
    """Receivers deduplicate by this id across operator versions: `msg_` and the first 32
    hex digits of sha256(uid NUL key NUL kind)."""
    import hashlib
    assert n.delivery_id("uid-1", "pause-1", "pause") == "msg_" + hashlib.sha256(
        b"uid-1\0pause-1\0pause").hexdigest()[:32]


def test_the_payload_of_a_pause_in_full():
    """Every field a receiver gets for a pause awaiting input, and for an end (no pause,
    no resume command): the id, the events, the run's identity, flow, phase, message."""
    obj = run(schema=SCHEMA)
    (d,) = n.due(obj, notifier(), T0)
    assert payloads.payload(obj, d) == {
        "id": d.id, "event": "AwaitingInput", "events": ["AwaitingInput", "Paused"], "run": "pay",
        "namespace": "fin", "uid": "uid-1", "flow": "examples.approvals:pay", "phase": "Paused",
        "message": "waiting",
        "pause": {"key": "pause-1", "kind": "Pause", "description": "Approve the **payment**",
                  "notifyMessage": "Invoice 42 needs you", "inputFields": payloads.input_fields(SCHEMA),
                  "deadline": ts(T0 + timedelta(hours=1)), "approvers": ["alice", "group:finance"],
                  "approvalsRequired": 2},
        "resumeCommand": "flowrun resume pay -n fin --input amount=<amount>"}
    plain = run()
    plain["status"]["pause"].pop("approval")
    (p,) = n.due(plain, notifier(), T0)
    got = payloads.payload(plain, p)["pause"]
    assert (got["approvers"], got["approvalsRequired"]) == ([], 0)
    near = run(deadline=T0 + timedelta(seconds=60))
    (dn,) = n.due(near, notifier(events=["DeadlineNear"]), T0)
    assert payloads.payload(near, dn)["pause"]["key"] == "pause-1" and "resumeCommand" in payloads.payload(near, dn)
    ended = run("Failed", completionTime=ts(T0))
    (e,) = n.due(ended, notifier(events=["Failed"]), T0)
    assert payloads.payload(ended, e) == {
        "id": e.id, "event": "Failed", "events": ["Failed"], "run": "pay", "namespace": "fin", "uid": "uid-1",
        "flow": "examples.approvals:pay", "phase": "Failed", "message": "waiting"}


def test_resume_command_and_url_from_a_plain_run():
    """Both read a FlowRun as it comes from the API (not only a view): a run without a
    pause resumes without inputs; the UI's address loses its trailing slash."""
    assert payloads.resume_command(run("Running")) == "flowrun resume pay -n fin"
    assert payloads.run_url(run(), "https://ui/base/") == "https://ui/base/runs/fin/pay"
    assert payloads.run_url(run(), "") == ""


@pytest.mark.parametrize("expr, labels, selected", [
    ({"key": "team", "operator": "In", "values": ["a", "b"]}, {"team": "a"}, True),
    ({"key": "team", "operator": "In", "values": ["a", "b"]}, {"team": "c"}, False),
    ({"key": "team", "operator": "In", "values": ["a"]}, {}, False),
    ({"key": "team", "operator": "NotIn", "values": ["a"]}, {"team": "a"}, False),
    ({"key": "team", "operator": "NotIn", "values": ["a"]}, {"team": "b"}, True),
    ({"key": "team", "operator": "NotIn", "values": ["a"]}, {}, True),
    ({"key": "team", "operator": "Exists"}, {"team": "x"}, True),
    ({"key": "team", "operator": "Exists"}, {}, False),
    ({"key": "team", "operator": "DoesNotExist"}, {}, True),
    ({"key": "team", "operator": "DoesNotExist"}, {"team": "x"}, False),
    ({"key": "team", "operator": "Gt", "values": ["1"]}, {"team": "2"}, False),
    ({"key": "team", "operator": "in", "values": ["a"]}, {"team": "a"}, False),
])
def test_match_expressions_follow_kubernetes_label_selectors(expr, labels, selected):
    """Each operator on both sides; an operator Kubernetes does not know (or spelled in
    another case) selects nothing rather than everything."""
    assert n.selects({"matchExpressions": [expr]}, labels) is selected


def test_a_running_run_with_a_pause_left_in_its_status_is_not_announced_as_paused():
    """Only a stopped run (Paused, Suspended) is at a pause, whatever its status still
    holds; its end is announced once it ends."""
    obj = run("Running")
    obj["status"]["pause"] = run()["status"]["pause"]
    assert n.occurrences(obj, T0, 600) == []


def test_a_notifier_without_a_creation_time_announces_every_end():
    hook = notifier(events=["Completed"])
    del hook["metadata"]["creationTimestamp"]
    (d,) = n.due(run("Completed", completionTime=ts(T0)), hook, T0)
    assert d.kind == "Completed" and d.notifier == "hook"


def test_an_end_at_the_very_second_the_notifier_was_created_is_news():
    """Only an end strictly before the notifier's creation is old news."""
    done = run("Completed", completionTime=ts(T0))
    assert len(n.due(done, notifier(events=["Completed"], created=T0), T0)) == 1
    assert n.due(done, notifier(events=["Completed"], created=T0 + timedelta(seconds=1)), T0) == []


def test_a_recorded_pause_does_not_hide_its_deadline_near():
    """What was recorded is skipped one by one: the pause sent already, its DeadlineNear
    still due."""
    obj = run(deadline=T0 + timedelta(seconds=60))
    hook = notifier(events=["Paused", "DeadlineNear"])
    sent = n.delivery_id("uid-1", "pause-1", "pause")
    obj["status"]["notifications"] = [{"notifier": "hook", "id": sent, "event": "Paused", "time": ts(T0),
                                       "outcome": "Delivered"}]
    assert [d.kind for d in n.due(obj, hook, T0)] == ["DeadlineNear"]


def test_input_fields_carry_description_default_and_enum_and_any_of_types():
    schema = {"properties": {"c": {"anyOf": [{"type": "string"}, {"enum": [1]}], "enum": ["r", "g"],
                                   "default": "r", "description": "colour"},
                             "u": {"anyOf": []}}}
    assert payloads.input_fields(schema) == [
        {"name": "c", "type": "string/?", "required": False, "description": "colour", "default": "r",
         "enum": ["r", "g"]},
        {"name": "u", "type": "any", "required": False}]



def test_the_end_of_a_run_stopped_at_a_pause_says_nothing_of_the_pause():
    """A run that failed at its pause's deadline still has the pause in its status; its
    end is announced without the pause or a resume command."""
    ended = run("Failed", completionTime=ts(T0))
    ended["status"]["pause"] = run()["status"]["pause"]
    (e,) = n.due(ended, notifier(events=["Failed"]), T0)
    data = payloads.payload(ended, e)
    assert "pause" not in data and "resumeCommand" not in data


# ---- reminders (issue 25) ------------------------------------------------------------

def reminding(every=300, most=None, events=("Paused", "AwaitingInput"), name="hook"):
    hook = notifier(events=events, name=name)
    hook["spec"]["remindEverySeconds"] = every
    if most is not None:
        hook["spec"]["maxReminders"] = most
    return hook


def announced(obj, numbers=(), notifier_name="hook", key="pause-1"):
    """The run with the notifier's announcement of the pause recorded, and reminders
    `numbers` (as reminder records)."""
    records = [{"notifier": notifier_name, "id": n.delivery_id("uid-1", key, "pause"), "event": "Paused",
                "time": ts(T0), "outcome": "Delivered"}]
    records += [{"notifier": notifier_name, "id": n.reminder_id("uid-1", key, m), "event": "Reminder",
                 "time": ts(T0), "outcome": "Delivered", "reminder": m} for m in numbers]
    obj["status"]["notifications"] = records
    return obj


# (seconds since the pause started, reminders recorded, maxReminders) -> the number due
@pytest.mark.parametrize("elapsed, numbers, most, due_number", [
    (0, (), None, None),
    (299, (), None, None),          # not yet: the first is one interval after the start
    (300, (), None, 1),
    (599, (), None, 1),
    (599, (1,), None, None),        # recorded: never resent
    (600, (1,), None, 2),
    (650, (), None, 2),             # 1 was missed (downtime): only the latest is sent
    (650, (2,), None, None),
    (650, (3,), None, None),        # a later number recorded: never an earlier one after it
    (900, (1,), None, 3),
    (5000, (), None, 3),            # long downtime: the last one, not a burst of 16
    (5000, (3,), None, None),       # all sent: the default is 3
    (5000, (3,), 10, 10),
    (5000, (), 1, 1),
], ids=lambda v: str(v))
def test_the_latest_reminder_due_and_only_once(elapsed, numbers, most, due_number):
    obj = announced(run(), numbers)
    got = n.reminder_due(obj, reminding(most=most), T0 + timedelta(seconds=elapsed))
    assert (got.reminder.number if got else None) == due_number
    # due() says the same (the announcement is recorded: the reminder is all it owes)
    assert [d.reminder.number for d in n.due(obj, reminding(most=most), T0 + timedelta(seconds=elapsed))
            if d.reminder] == ([due_number] if due_number else [])


def _answered(obj):
    obj["metadata"]["generation"] = 3
    obj["status"]["pause"]["generation"] = 2
    obj["spec"]["state"] = "Running"
    return obj


def _refused(obj):
    _answered(obj)["status"]["pause"]["rejectedGeneration"] = 3
    return obj


def _resumed_key(obj):
    obj["status"]["resumed"] = ["pause-1"]
    return obj


def _timed_out(obj):
    obj["status"]["pause"]["timedOut"] = {"outcome": "resume", "time": ts(T0), "generation": 1}
    return obj


def _unannounced(obj):
    obj["status"]["notifications"] = []
    return obj


def _announced_by_another(obj):
    return announced(obj, notifier_name="other")


def _no_since(obj):
    del obj["status"]["pause"]["since"]
    return obj


# whether reminder 1 is due 400 s into the pause (and next_due wakes the operator for
# reminder 2), by the run and the notifier
@pytest.mark.parametrize("case, phase, change, hook, reminds", [
    ("waiting", "Paused", None, reminding(), True),
    ("suspended, Suspended listed", "Suspended", None, reminding(events=["Suspended"]), True),
    ("suspended, only Paused listed", "Suspended", None, reminding(events=["Paused"]), False),
    ("the answer asked (spec.state Running)", "Paused", _answered, reminding(), False),
    ("an answer refused: still waiting", "Paused", _refused, reminding(), True),
    ("resumed (its key in status.resumed)", "Paused", _resumed_key, reminding(), False),
    ("settled by its deadline", "Paused", _timed_out, reminding(), False),
    ("running again", "Running", None, reminding(), False),
    ("ended", "Failed", None, reminding(), False),
    # not due before its announcement is recorded (whose write wakes the operator anyway)
    ("not announced yet", "Paused", _unannounced, reminding(), "wakes"),
    ("announced by another notifier only", "Paused", _announced_by_another, reminding(), "wakes"),
    ("no start recorded", "Paused", _no_since, reminding(), False),
    ("no remindEverySeconds", "Paused", None, notifier(), False),
    ("the notifier does not announce pauses", "Paused", None, reminding(events=["Failed"]), False),
    ("another namespace's notifier", "Paused", None,
     {**reminding(), "metadata": {"name": "hook", "namespace": "other"}}, False),
], ids=lambda v: v if isinstance(v, str) else "")
def test_reminders_only_while_nobody_answered_the_announced_pause(case, phase, change, hook, reminds):
    obj = run(phase)
    if obj["status"]["pause"] is None:
        obj["status"]["pause"] = run()["status"]["pause"]  # the pause left in the status
    obj = announced(obj)
    if change is not None:
        obj = change(obj)
    at = T0 + timedelta(seconds=400)
    assert (n.reminder_due(obj, hook, at) is not None) is (reminds is True), case
    assert n.next_reminder(obj, hook, at) == (T0 + timedelta(seconds=600) if reminds else None), case


def test_an_opted_out_run_is_not_reminded():
    obj = announced(run(labels={"team": "finance", n.LABEL_NOTIFY: "false"}))
    assert n.reminder_due(obj, reminding(), T0 + timedelta(seconds=400)) is None


def test_each_reminder_has_its_own_stable_id_and_names_the_pause_events():
    obj = announced(run(schema=SCHEMA))
    first = n.reminder_due(obj, reminding(), T0 + timedelta(seconds=300))
    again = n.reminder_due(obj, reminding(), T0 + timedelta(seconds=599))
    second = n.reminder_due(obj, reminding(), T0 + timedelta(seconds=600))
    assert first == again  # the same reminder, whoever computes it when
    assert first.id == n.reminder_id("uid-1", "pause-1", 1) == n.delivery_id("uid-1", "pause-1", "Reminder:1")
    assert second.id == n.reminder_id("uid-1", "pause-1", 2) != first.id
    assert n.delivery_id("uid-1", "pause-1", "pause") not in (first.id, second.id)
    assert first.event == "Reminder" and first.kind == "Reminder" and first.key == "pause-1"
    assert first.events == ("Reminder", "AwaitingInput", "Paused")
    assert first.reminder == n.Reminder(number=1, of=3, waited_seconds=300)
    assert second.reminder == n.Reminder(number=2, of=3, waited_seconds=600)
    # the same pause of another run: other ids
    other = announced(run(schema=SCHEMA))
    other["metadata"]["uid"] = "uid-2"
    other["status"]["notifications"][0]["id"] = n.delivery_id("uid-2", "pause-1", "pause")
    assert n.reminder_due(other, reminding(), T0 + timedelta(seconds=300)).id != first.id


@pytest.mark.parametrize("every, most, want_every, want_most", [
    (300, None, 300, n.DEFAULT_MAX_REMINDERS),
    (3600, 5, 3600, 5),
    (60, 1000, n.MIN_REMIND_SECONDS, n.MAX_REMINDERS),  # past the CRD's bounds: held to them
    (300, -5, 300, 1),
    (None, 5, None, 5),
])
def test_interval_and_count_are_held_to_their_bounds(every, most, want_every, want_most):
    hook = notifier()
    if every is not None:
        hook["spec"]["remindEverySeconds"] = every
    if most is not None:
        hook["spec"]["maxReminders"] = most
    assert n.remind_every(hook) == want_every and n.max_reminders(hook) == want_most


@pytest.mark.parametrize("elapsed, numbers, want", [
    (-10, (), 300),        # a start a little ahead of this clock: the first one
    (0, (), 300),
    (299, (), 300),
    (300, (), 600),        # 1 is due now (due() queues it); the next wake-up is 2's
    (300, (1,), 600),
    (899, (2,), 900),
    (900, (), None),       # the third (the last) is due: nothing after it
    (5000, (3,), None),
])
def test_next_due_wakes_the_operator_for_the_next_reminder(elapsed, numbers, want):
    obj = announced(run(deadline=T0 + timedelta(days=1)), numbers)
    got = n.next_due(obj, [reminding()], T0 + timedelta(seconds=elapsed))
    assert got == (T0 + timedelta(seconds=want) if want is not None else None)


def test_next_due_is_the_earlier_of_a_reminder_and_a_deadline_near():
    obj = announced(run(deadline=T0 + timedelta(seconds=1000)))
    near = notifier(events=["DeadlineNear"], near=100)  # at 900
    assert n.next_due(obj, [near, reminding(every=600)], T0) == T0 + timedelta(seconds=600)
    assert n.next_due(obj, [near, reminding(every=600)], T0 + timedelta(seconds=600)) == T0 + timedelta(seconds=900)
    assert n.next_due(obj, [near, reminding(every=600)], T0 + timedelta(seconds=900)) == T0 + timedelta(seconds=1200)
    assert n.next_due(_answered(obj), [reminding()], T0) is None
    # without a deadline, reminders still wake it
    no_deadline = announced(run())
    no_deadline["status"]["pause"]["deadline"] = None
    assert n.next_due(no_deadline, [reminding()], T0) == T0 + timedelta(seconds=300)
    assert n.next_due(no_deadline, [notifier()], T0) is None


def test_a_reminder_record_replaces_that_notifiers_earlier_reminders_of_the_pause():
    obj = announced(run(), numbers=(1,))
    other = announced(run(), numbers=(1,), notifier_name="other")["status"]["notifications"]
    obj["status"]["notifications"] += other
    second = n.reminder_due(obj, reminding(), T0 + timedelta(seconds=600))
    records = n.record_patch(obj, second, "Delivered", T0 + timedelta(seconds=601))["notifications"]
    assert [(r["notifier"], r["event"], r.get("reminder")) for r in records] == [
        ("hook", "Paused", None), ("other", "Paused", None), ("other", "Reminder", 1), ("hook", "Reminder", 2)]
    assert records[-1] == {"notifier": "hook", "id": second.id, "event": "Reminder",
                           "time": ts(T0 + timedelta(seconds=601)), "outcome": "Delivered", "reminder": 2}
    obj["status"]["notifications"] = records
    assert n.reminder_due(obj, reminding(), T0 + timedelta(seconds=899)) is None  # 2 is recorded
    assert n.reminder_due(obj, reminding(), T0 + timedelta(seconds=900)).reminder.number == 3
    assert n.record_patch(obj, second, "Delivered", T0) is None


def test_a_reminder_given_up_on_is_not_retried_but_the_next_one_comes():
    obj = announced(run())
    first = n.reminder_due(obj, reminding(), T0 + timedelta(seconds=300))
    obj["status"]["notifications"] = n.record_patch(obj, first, "Failed", T0)["notifications"]
    assert n.reminder_due(obj, reminding(), T0 + timedelta(seconds=599)) is None
    assert n.reminder_due(obj, reminding(), T0 + timedelta(seconds=600)).reminder.number == 2


def test_a_reminder_waiting_for_its_retry_is_dropped_once_a_later_one_is_due():
    obj = announced(run())
    first = n.reminder_due(obj, reminding(), T0 + timedelta(seconds=300))
    assert n.still_due(obj, reminding(), first, T0 + timedelta(seconds=599))
    assert not n.still_due(obj, reminding(), first, T0 + timedelta(seconds=600))  # 2 is due instead
    assert not n.still_due(_answered(obj), reminding(), first, T0 + timedelta(seconds=300))


def test_the_payload_of_a_reminder():
    obj = announced(run(schema=SCHEMA))
    d = n.reminder_due(obj, reminding(every=3600, most=5), T0 + timedelta(seconds=2 * 3600 + 5))
    data = payloads.payload(obj, d, ui_base_url="https://ui.example.com")
    assert data["event"] == "Reminder" and data["events"] == ["Reminder", "AwaitingInput", "Paused"]
    assert data["reminder"] == {"number": 2, "of": 5, "waitedSeconds": 7200}
    assert data["pause"]["key"] == "pause-1" and data["pause"]["inputFields"][0]["name"] == "amount"
    assert data["resumeCommand"] == "flowrun resume pay -n fin --input amount=<amount>"
    assert data["url"] == "https://ui.example.com/runs/fin/pay"
    assert payloads.event_type("Reminder") == "io.flowrun.run.reminder"
    assert payloads.slack_message(data)["text"] == "Reminder 2 of 5: FlowRun fin/pay has waited 2 h at pause-1"
    assert "reminder" not in payloads.payload(obj, n.due(run(), notifier(), T0)[0])  # only reminders say it


@pytest.mark.parametrize("seconds, words", [(0, "0 s"), (59, "59 s"), (300, "5 min"), (3600, "1 h"),
                                            (9000, "2 h 30 min"), (93784, "1 d 2 h"), (86400, "1 d")])
def test_a_wait_in_words(seconds, words):
    assert payloads.waited(seconds) == words


def test_the_crd_holds_the_reminder_bounds_and_the_listed_events():
    from pathlib import Path
    import yaml
    crd = yaml.safe_load((Path(__file__).resolve().parents[3] / "crds" / "flowrun.io_flowrunnotifiers.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    props = spec["properties"]
    assert tuple(sorted(props["events"]["items"]["enum"])) == tuple(sorted(n.LISTED_EVENTS))
    assert "Reminder" not in props["events"]["items"]["enum"]  # remindEverySeconds asks for reminders
    assert props["events"]["maxItems"] == len(n.LISTED_EVENTS)  # every event may be listed
    assert props["remindEverySeconds"]["minimum"] == n.MIN_REMIND_SECONDS
    assert props["maxReminders"]["minimum"] == 1 and props["maxReminders"]["maximum"] == n.MAX_REMINDERS
    assert "default" not in props["maxReminders"]  # the contract's default, only with an interval
    assert spec["x-kubernetes-validations"][0]["rule"] == "!has(self.maxReminders) || has(self.remindEverySeconds)"
