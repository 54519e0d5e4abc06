"""The delivery shell (controller/notify.py) against the in-memory API and a real HTTP
receiver on 127.0.0.1: retries, the record in the run's status, the notifier's status,
the Warning Event, and no URL in what it says."""
from __future__ import annotations

import base64
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fakeapi import FakeKube
from flowrun.contract import notifications as n
from flowrun.contract.signing import single
from flowrun.controller import notify
from flowrun.controller.settings import Settings

KEY = b"operator-key"


class Receiver:
    def __init__(self, answers: list[int]):
        self.answers, self.got = list(answers), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                receiver.got.append((self.path, dict(self.headers.items()),
                                     self.rfile.read(int(self.headers["content-length"]))))
                self.send_response(receiver.answers.pop(0) if receiver.answers else 200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook-token-123"


@pytest.fixture
def kube(monkeypatch):
    monkeypatch.setattr(notify.template_gate, "keys", lambda settings: single(KEY))
    return FakeKube()


def setup(kube: FakeKube, url: str, *, stamped: bool = True) -> notify.Notifications:
    kube.put({"kind": "Secret", "metadata": {"name": "hook", "namespace": "ns"},
              "data": {"url": base64.b64encode(url.encode()).decode()}})
    notifier = {"kind": "FlowRunNotifier", "metadata": {"name": "tell", "namespace": "ns", "generation": 1,
                                                        "creationTimestamp": "2026-01-01T00:00:00Z"},
                "spec": {"events": ["Paused"], "sink": {"type": "webhook", "urlSecretRef": {"name": "hook", "key": "url"}}}}
    if stamped:
        notifier["metadata"]["annotations"] = {n.ANNOTATION_NOTIFIER_APPROVAL: n.approval(single(KEY), notifier)}
    kube.put(notifier)
    kube.put({"kind": "FlowRun", "metadata": {"name": "run", "namespace": "ns", "uid": "u1"},
              "spec": {"flow": "a:b", "state": "Paused"},
              "status": {"phase": "Paused", "pause": {"key": "pause-1", "kind": "Pause"}}})
    # the receiver is on this machine's loopback: allowed by name (contract/egress.py)
    return notify.Notifications(kube, Settings(notify_allow="127.0.0.1/32"))


def pending(kube: FakeKube, notes: notify.Notifications) -> notify.Pending:
    run = kube.get_flowrun("ns", "run")
    (delivery,) = n.due(run, kube.get_notifier("ns", "tell"), n.parse_timestamp("2026-06-01T00:00:00Z"))
    return notify.Pending("ns", "run", delivery)


def test_500_twice_then_200_is_recorded_once(kube):
    receiver = Receiver([500, 500])
    notes = setup(kube, receiver.url)
    p = pending(kube, notes)
    assert notes.attempt(p) is not None and p.failures == 1
    status = kube.get_notifier("ns", "tell")["status"]
    assert status["conditions"][0]["reason"] == "DeliveryFailing"
    assert status["lastError"]["message"] == "delivery failed"
    assert notes.attempt(p) is not None and p.failures == 2
    assert notes.attempt(p) is None
    assert len(receiver.got) == 3 and len({h["webhook-id"] for _, h, _ in receiver.got}) == 1
    records = kube.get_flowrun("ns", "run")["status"]["notifications"]
    assert [(r["notifier"], r["outcome"]) for r in records] == [("tell", "Delivered")]
    status = kube.get_notifier("ns", "tell")["status"]
    assert status["conditions"][0]["status"] == "True" and status["lastDelivery"]["run"] == "run"
    # recorded: no longer due, so a second attempt sends nothing
    assert notes.attempt(p) is None and len(receiver.got) == 3


def test_a_refused_connection_and_a_404_look_the_same_and_are_given_up_with_an_event(kube):
    """One kind of failure (issue 26): the owner cannot tell a closed port from an HTTP
    answer; both are retried, and given up on with an Event when the retry window ends."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    notes = setup(kube, f"http://127.0.0.1:{port}/hook-token-123")
    p = pending(kube, notes)
    assert notes.attempt(p) is not None
    refused = kube.get_notifier("ns", "tell")["status"]["lastError"]
    receiver = Receiver([404, 404])
    kube.put({"kind": "Secret", "metadata": {"name": "hook", "namespace": "ns"},
              "data": {"url": base64.b64encode(receiver.url.encode()).decode()}})
    assert notes.attempt(p) is not None
    answered = kube.get_notifier("ns", "tell")["status"]["lastError"]
    assert refused["message"] == answered["message"] == "delivery failed"
    assert refused["permanent"] == answered["permanent"] is False
    p.first_failure = n.parse_timestamp("2020-01-01T00:00:00Z")  # the retry window is over
    assert notes.attempt(p) is None
    (event,) = kube.store.events
    assert event["reason"] == "NotificationFailed" and event["type"] == "Warning"
    assert "delivery failed" in event["message"] and "404" not in event["message"]
    assert "token-123" not in event["message"]
    assert kube.get_flowrun("ns", "run")["status"]["notifications"][0]["outcome"] == "Failed"
    status = kube.get_notifier("ns", "tell")["status"]
    assert status["conditions"][0]["reason"] == "DeliveryFailed" and status["lastError"]["permanent"]
    assert "token-123" not in str(status)


def test_an_unstamped_notifier_reads_no_secret_and_sends_nothing(kube):
    receiver = Receiver([])
    notes = setup(kube, receiver.url, stamped=False)
    p = pending(kube, notes)
    assert notes.attempt(p) is None
    assert receiver.got == []
    assert kube.get_notifier("ns", "tell")["status"]["conditions"][0]["reason"] == "NotApproved"


def test_a_pause_answered_before_the_send_is_not_sent(kube):
    receiver = Receiver([])
    notes = setup(kube, receiver.url)
    p = pending(kube, notes)
    kube.patch_flowrun("ns", "run", {"status": {"phase": "Running", "pause": None}}, status=True)
    assert notes.attempt(p) is None and receiver.got == []


def test_the_queue_sends_in_the_background(kube):
    receiver = Receiver([])
    notes = setup(kube, receiver.url)
    notes.notifier_changed(kube.get_notifier("ns", "tell"))
    from cluster import wait_for
    wait_for(lambda: (kube.get_flowrun("ns", "run")["status"].get("notifications")), timeout=10,
             what="the background delivery")
    assert len(receiver.got) == 1
    assert kube.get_notifier("ns", "tell")["status"]["conditions"][0]["status"] == "True"


def reminding_setup(kube: FakeKube, url: str, since: str) -> notify.Notifications:
    """setup(), the notifier reminding every 5 min (3 at most), the pause started at `since`."""
    notes = setup(kube, url)
    hook = kube.get_notifier("ns", "tell")
    hook["spec"].update(remindEverySeconds=300, maxReminders=3)
    kube.put(hook)
    run = kube.get_flowrun("ns", "run")
    run["status"]["pause"]["since"] = since
    kube.put(run)
    return notes


def test_a_reminder_is_sent_once_after_the_announcement_and_after_a_restart_not_again(kube, monkeypatch):
    """Queued by the shell as the contract says: the announcement first; then, the pause
    11 minutes old, reminder 2 only (not 1 and 2), once, with its own id, recorded; a
    new shell (a restarted operator) sends neither again; the next wake-up is reminder 3's."""
    from datetime import timedelta
    receiver = Receiver([])
    at = n.parse_timestamp("2026-06-01T00:11:00Z")
    monkeypatch.setattr(notify, "now", lambda: at)
    notes = reminding_setup(kube, receiver.url, "2026-06-01T00:00:00Z")
    run = kube.get_flowrun("ns", "run")
    (announcement,) = n.due(run, kube.get_notifier("ns", "tell"), at)  # no reminder before it
    assert announcement.kind == "pause"
    assert notes.attempt(notify.Pending("ns", "run", announcement)) is None
    (reminder,) = n.due(kube.get_flowrun("ns", "run"), kube.get_notifier("ns", "tell"), at)
    assert reminder.reminder.number == 2 and reminder.id == n.reminder_id("u1", "pause-1", 2)
    assert notes.attempt(notify.Pending("ns", "run", reminder)) is None
    assert notes.attempt(notify.Pending("ns", "run", reminder)) is None  # recorded: not sent again
    assert [h["webhook-id"] for _, h, _ in receiver.got] == [announcement.id, reminder.id]
    import json
    body = json.loads(receiver.got[1][2])
    assert body["type"] == "io.flowrun.run.reminder"
    assert body["data"]["reminder"] == {"number": 2, "of": 3, "waitedSeconds": 600}
    records = kube.get_flowrun("ns", "run")["status"]["notifications"]
    assert [(r["event"], r.get("reminder")) for r in records] == [("Paused", None), ("Reminder", 2)]
    restarted = notify.Notifications(kube, Settings(notify_allow="127.0.0.1/32"))
    restarted.notifier_changed(kube.get_notifier("ns", "tell"))  # looks at its runs: nothing due
    assert n.due(kube.get_flowrun("ns", "run"), kube.get_notifier("ns", "tell"), at) == []
    assert restarted.queue_due(kube.get_flowrun("ns", "run")) == at + timedelta(minutes=4)  # reminder 3
    assert len(receiver.got) == 2


def test_a_reminder_of_a_pause_answered_before_the_send_is_not_sent(kube, monkeypatch, caplog):
    receiver = Receiver([])
    at = n.parse_timestamp("2026-06-01T00:06:00Z")
    monkeypatch.setattr(notify, "now", lambda: at)
    notes = reminding_setup(kube, receiver.url, "2026-06-01T00:00:00Z")
    (announcement,) = n.due(kube.get_flowrun("ns", "run"), kube.get_notifier("ns", "tell"), at)
    assert notes.attempt(notify.Pending("ns", "run", announcement)) is None
    (reminder,) = n.due(kube.get_flowrun("ns", "run"), kube.get_notifier("ns", "tell"), at)
    kube.patch_flowrun("ns", "run", {"spec": {"state": "Running"}, "metadata": {"generation": 2}})
    retried = notify.Pending("ns", "run", reminder, failures=2)  # it was being retried
    with caplog.at_level("INFO", logger="flowrun.controller.notify"):
        assert notes.attempt(retried) is None
    assert len(receiver.got) == 1  # the announcement only
    assert f"run run, Reminder ({reminder.id}): no longer due" in caplog.text  # and its retries stop
    assert [r["event"] for r in kube.get_flowrun("ns", "run")["status"]["notifications"]] == ["Paused"]
