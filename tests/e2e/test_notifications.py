"""FlowRunNotifier end to end: a real HTTP receiver on this machine (the session's
operator runs here too, so 127.0.0.1 reaches it), real runs in the test image.

One namespace and one set of runs for the module (they run side by side):
- `three` pauses three times: exactly one signed message per pause (verified with the
  standardwebhooks library), carrying the flow's notify_message;
- `deadline` pauses with a 20 s timeout: DeadlineNear arrives before the deadline, then
  Failed after it;
- `flaky`'s receiver answers 500 twice, then 200: delivered once (three requests, one id);
- `wrong`'s URL does not resolve: a NotificationFailed Warning Event, Ready=False;
and, for the whole module, no Secret value in any operator log line or Event. Then: the
webhook refuses a notifier whose creator may not read its Secret, the operator
SIGKILLed between a pause and its delivery delivers it once after its restart, and
reminders of a pause arrive (the pause made to look older) and stop when it is answered.
"""
from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml

from cluster import kubectl, wait_for
from cluster.flowruns import apply, flowrun_manifest, get_fr, patch_fr, wait_phase
from cluster.flowruns import labelled as for_instance
from cluster.harness import OperatorProcess, apiserver_host

pytestmark = pytest.mark.e2e

SIGNING_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
TOKEN = secrets.token_hex(8)  # in every receiver URL: must never show up in a log or Event


class Receiver:
    """Records every POST; `script[path]` lists the statuses to answer in turn (then 200)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.script: dict[str, list[int]] = {}
        # refuse[path](data): answer 500 to the deliveries it picks (then the script, then 200)
        self.refuse: dict[str, Any] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with receiver.lock:
                    answers = receiver.script.get(self.path) or []
                    status = answers.pop(0) if answers else 200
                    refuse = receiver.refuse.get(self.path)
                    if refuse is not None and refuse(json.loads(body)["data"]):
                        status = 500
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers.items()),
                                              "body": body, "status": status, "time": time.time()})
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        # Not on loopback: the operator refuses loopback sinks (contract/egress.py). This
        # machine's node address is the API server's too, refused only at the API's port.
        self.host = apiserver_host()
        self.server = ThreadingHTTPServer((self.host, 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://{self.host}:{self.server.server_address[1]}/{name}-{TOKEN}"

    def got(self, name: str, run: str | None = None, ok_only: bool = True) -> list[dict]:
        with self.lock:
            out = []
            for r in self.requests:
                if r["path"] != f"/{name}-{TOKEN}" or (ok_only and r["status"] != 200):
                    continue
                data = json.loads(r["body"])["data"]
                if run is None or data["run"] == run:
                    out.append({**r, "data": data})
            return out


def secret(name: str, **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data}


def notifier(name: str, events: list[str], secret_name: str, *, signed: bool = False, near: int | None = None,
             **spec_fields: object) -> dict:
    sink = {"type": "webhook", "urlSecretRef": {"name": secret_name, "key": "url"}}
    if signed:
        sink["signingSecretRef"] = {"name": secret_name, "key": "signing"}
    spec = {"selector": {"matchLabels": {"notify-test": name}}, "events": events, "sink": sink, **spec_fields}
    if near:
        spec["deadlineNearSeconds"] = near
    return {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRunNotifier", "metadata": {"name": name}, "spec": spec}


def labelled(manifest: dict, who: str) -> dict:
    manifest["metadata"]["labels"] = {"notify-test": who}
    return manifest


def ready(namespace: str, name: str) -> dict:
    obj = json.loads(kubectl("get", "frn", name, "-o", "json", namespace=namespace).stdout)
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), {})


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture(scope="module")
def runs(kubeconfig, operator, receiver):
    """The module's namespace, notifiers and runs, all started at once."""
    from cluster.pytest_plugin import SESSION_PREFIX, create_namespace
    ns = f"{SESSION_PREFIX}notify-{secrets.token_hex(3)}"
    create_namespace(ns)
    wait_for(lambda: kubectl("get", "serviceaccount", "default", namespace=ns, check=False).returncode == 0,
             timeout=60, what="the namespace's default ServiceAccount")
    receiver.script[f"/flaky-{TOKEN}"] = [500, 500]
    docs = [secret("signed", url=receiver.url("signed"), signing=SIGNING_SECRET),
            secret("flaky", url=receiver.url("flaky")),
            secret("wrong", url=f"http://flowrun-receiver-{TOKEN}.invalid/hook"),
            notifier("signed", ["Paused", "AwaitingInput", "DeadlineNear", "Failed"], "signed", signed=True,
                     near=15),
            notifier("flaky", ["Paused"], "flaky"),
            notifier("wrong", ["Paused"], "wrong")]
    kubectl("apply", "-f", "-", namespace=ns, input=for_instance(yaml.safe_dump_all(docs)))
    for manifest in (labelled(flowrun_manifest("three", "testflows.notify:pauses_three_times"), "signed"),
                     labelled(flowrun_manifest("deadline", "testflows.notify:waits_for_approval",
                                               parameters={"timeout": 20}), "signed"),
                     labelled(flowrun_manifest("flaky", "testflows.notify:waits_for_approval"), "flaky"),
                     labelled(flowrun_manifest("wrong", "testflows.notify:waits_for_approval"), "wrong")):
        apply(ns, manifest)
    yield ns
    kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)


def test_one_signed_message_per_pause(runs, receiver):
    from standardwebhooks.webhooks import Webhook
    for i in range(1, 4):
        got = wait_for(lambda: [m for m in receiver.got("signed", "three") if m["data"]["pause"]["key"] == f"pause-{i}"],
                       timeout=240, what=f"the message of pause-{i}")
        assert got[0]["data"]["pause"]["notifyMessage"] == f"step {i} of 3 needs a look"
        patch_fr(runs, "three", {"spec": {"state": "Running"}})
    fr = wait_phase(runs, "three", "Completed", "Failed", timeout=180)
    assert fr["status"]["phase"] == "Completed", fr["status"]
    messages = receiver.got("signed", "three")
    assert [m["data"]["pause"]["key"] for m in messages] == ["pause-1", "pause-2", "pause-3"], messages
    assert len({m["headers"]["webhook-id"] for m in messages}) == 3
    for m in messages:
        # any Standard Webhooks library verifies it (the timestamp is within its 5 minutes)
        body = Webhook(SIGNING_SECRET).verify(m["body"], m["headers"])
        assert body["type"] == "io.flowrun.run.paused" and body["data"]["event"] == "Paused"
        assert m["data"]["resumeCommand"] == f"flowrun resume three -n {runs}"
    recorded = [r for r in fr["status"]["notifications"] if r["notifier"] == "signed"]
    assert [r["outcome"] for r in recorded] == ["Delivered"] * 3


def test_deadline_near_before_a_short_timeout(runs, receiver):
    near = wait_for(lambda: [m for m in receiver.got("signed", "deadline") if m["data"]["event"] == "DeadlineNear"],
                    timeout=240, what="DeadlineNear of the run with a 20 s timeout")
    pause = near[0]["data"]["pause"]
    assert pause["key"] == "pause-1" and pause["inputFields"][0]["name"] == "ok"
    fr = wait_phase(runs, "deadline", "Failed", timeout=60)
    from flowrun.contract.status import parse_timestamp
    assert near[0]["time"] < parse_timestamp(pause["deadline"]).timestamp()
    events = wait_for(lambda: [m["data"]["event"] for m in receiver.got("signed", "deadline")
                               if m["data"]["event"] == "Failed"] and receiver.got("signed", "deadline"),
                      timeout=30, what="Failed after the deadline")
    assert [m["data"]["event"] for m in events] == ["AwaitingInput", "DeadlineNear", "Failed"], events
    assert "never resumed" in fr["status"]["message"]


def test_500_twice_then_200_is_delivered_once(runs, receiver):
    wait_for(lambda: receiver.got("flaky", "flaky"), timeout=240, what="the flaky receiver to accept")
    attempts = [r for r in receiver.requests if r["path"] == f"/flaky-{TOKEN}"]
    assert [r["status"] for r in attempts] == [500, 500, 200], attempts
    assert len({r["headers"]["webhook-id"] for r in attempts}) == 1
    assert "webhook-signature" not in attempts[0]["headers"]  # no signingSecretRef: unsigned
    status = json.loads(kubectl("get", "frn", "flaky", "-o", "json", namespace=runs).stdout)["status"]
    assert status["lastDelivery"]["run"] == "flaky" and ready(runs, "flaky")["status"] == "True", status
    assert status["lastError"]["message"] == "delivery failed", status  # one kind: nothing about the network
    fr = get_fr(runs, "flaky")
    assert [r["outcome"] for r in fr["status"]["notifications"]] == ["Delivered"]
    time.sleep(3)  # negative check: nothing more comes
    assert len([r for r in receiver.requests if r["path"] == f"/flaky-{TOKEN}"]) == 3


def test_a_wrong_url_is_retried_and_says_only_delivery_failed(runs):
    """A host that does not resolve looks like any other failure to the notifier's owner
    (one kind, nothing about the network): retried, Ready=False "delivery failed"."""
    condition = wait_for(lambda: (c := ready(runs, "wrong")).get("status") == "False"
                         and c.get("reason") == "DeliveryFailing" and c,
                         timeout=240, what="Ready=False, DeliveryFailing")
    assert condition["message"] == "delivery failed; retrying", condition
    status = kubectl("get", "frn", "wrong", "-o", "json", namespace=runs).stdout
    last = json.loads(status)["status"]["lastError"]
    assert last["message"] == "delivery failed" and last["permanent"] is False
    assert "resolve" not in status and "refused" not in status and "HTTP" not in status
    for name in ("flaky", "wrong"):
        kubectl("patch", "fr", name, "--type", "merge", "-p", '{"spec":{"state":"Cancelled"}}', namespace=runs)


def test_no_secret_in_logs_or_events(runs, operator, receiver):
    assert receiver.got("signed"), "no delivery happened: nothing was checked"
    log = operator.log_path.read_text(errors="replace")
    events = kubectl("get", "events", "-o", "json", namespace=runs).stdout
    statuses = kubectl("get", "fr,frn", "-o", "json", namespace=runs).stdout
    for text in (log, events, statuses):
        assert TOKEN not in text and SIGNING_SECRET not in text and SIGNING_SECRET[6:] not in text


def test_the_webhook_refuses_a_notifier_whose_creator_may_not_read_its_secret(runs):
    kubectl("create", "role", "notifier-maker", "--verb=get,list,create,patch",
            "--resource=flowrunnotifiers.flowrun.io", namespace=runs)
    kubectl("create", "rolebinding", "notifier-maker", "--role=notifier-maker", "--user=eve", namespace=runs)
    manifest = for_instance(notifier("eves", ["Failed"], "signed", signed=True))
    proc = wait_for(lambda: (p := kubectl("--as=eve", "create", "-f", "-", namespace=runs, input=manifest,
                                          check=False)).returncode != 0 and "may not get Secret" in p.stderr and p,
                    timeout=30, what="eve's notifier to be refused")
    assert "eve may not get Secret 'signed'" in proc.stderr, proc.stderr
    # with the right to read it, the same notifier is admitted and stamped
    kubectl("create", "role", "reads-signed", "--verb=get", "--resource=secrets", "--resource-name=signed",
            namespace=runs)
    kubectl("create", "rolebinding", "reads-signed", "--role=reads-signed", "--user=eve", namespace=runs)
    wait_for(lambda: kubectl("--as=eve", "create", "-f", "-", namespace=runs, input=manifest,
                             check=False).returncode == 0, timeout=30, what="eve's notifier to be admitted")
    obj = json.loads(kubectl("get", "frn", "eves", "-o", "json", namespace=runs).stdout)
    assert obj["metadata"]["annotations"]["flowrun.io/notifier-approval"]


def test_killed_between_a_pause_and_its_delivery(operator, namespace, receiver, tmp_path):
    """The operator dies right before sending (failpoint notify-before-send); the
    restarted one delivers the pause once."""
    from cluster.pytest_plugin import SESSION_NAMESPACES
    docs = [secret("crash", url=receiver.url("crash")), notifier("crash", ["Paused"], "crash")]
    kubectl("apply", "-f", "-", namespace=namespace, input=for_instance(yaml.safe_dump_all(docs)))  # admitted by the webhook
    crashing = OperatorProcess(tmp_path / "operator-failpoint.log", operator.env["FLOWRUN_RUNNER_IMAGE"],
                               namespaces=SESSION_NAMESPACES, FLOWRUN_FAILPOINTS="notify-before-send",
                               FLOWRUN_NOTIFICATIONS="true", KUBECONFIG=operator.env["KUBECONFIG"],
                               FLOWRUN_APPROVAL_KEY_FILE=f"{operator.env['FLOWRUN_WEBHOOK_CERT_DIR']}/tls.key")
    for key in [k for k in crashing.env if k.startswith("FLOWRUN_WEBHOOK_")]:
        del crashing.env[key]
    try:
        operator.stop()
        crashing.start()
        apply(namespace, labelled(flowrun_manifest("crash", "testflows.notify:waits_for_approval"), "crash"))
        wait_for(lambda: not crashing.running, timeout=240, what="the operator to hit its failpoint")
        assert crashing.proc.returncode == 137 and "failpoint 'notify-before-send' hit" in crashing.tail()
        assert get_fr(namespace, "crash")["status"]["phase"] == "Paused"
        assert not receiver.got("crash", ok_only=False)
    finally:
        crashing.kill()
        operator.start()
    got = wait_for(lambda: receiver.got("crash", "crash"), timeout=180, what="the delivery after the restart")
    wait_for(lambda: get_fr(namespace, "crash")["status"].get("notifications"), timeout=30,
             what="the delivery recorded in the run's status")
    time.sleep(3)  # negative check: not sent twice
    assert len(receiver.got("crash", ok_only=False)) == 1, got
    patch_fr(namespace, "crash", {"spec": {"state": "Cancelled"}})


def backdate_pause(namespace: str, name: str, key: str, seconds: int) -> bool:
    """Make the pause at `key` look `seconds` old: its start (status.pause.since) moved
    back, as the cluster's admin may (the status subresource: no webhook, no policy).
    Only while that pause is in the status (a JSON patch `test`); False when it is not."""
    from datetime import datetime, timedelta, timezone
    from flowrun.contract.status import timestamp
    since = timestamp(datetime.now(timezone.utc) - timedelta(seconds=seconds))
    patch = [{"op": "test", "path": "/status/pause/key", "value": key},
             {"op": "replace", "path": "/status/pause/since", "value": since}]
    return kubectl("patch", "fr", name, "--subresource=status", "--type=json", "-p", json.dumps(patch),
                   namespace=namespace, check=False).returncode == 0


def test_reminders_arrive_while_a_pause_waits_and_stop_when_it_is_answered(operator, namespace, receiver):
    """remindEverySeconds 300: rather than wait 5 real minutes, the test moves the pause's
    start back (reminders are due from status.pause.since, as a restarted operator sees
    them). 5.5 min old: reminder 1; 10.5 min: reminder 2 (each once, with its own id).
    Then 15.5 min old while the receiver refuses reminders: reminder 3 is tried and
    retried until the pause is answered, then dropped (never delivered nor recorded);
    the run's Completed is delivered after it, and nothing else came."""
    from flowrun.contract import notifications as n
    for fields, says in (({"remindEverySeconds": 60}, "spec.remindEverySeconds"),
                         ({"remindEverySeconds": 300, "maxReminders": 101}, "spec.maxReminders"),
                         ({"maxReminders": 2}, "maxReminders needs remindEverySeconds")):
        refused = kubectl("apply", "-f", "-", namespace=namespace, check=False,
                          input=for_instance(yaml.safe_dump(notifier("refused", ["Paused"], "remind", **fields))))
        assert refused.returncode != 0 and says in refused.stderr, (fields, refused.stderr)
    docs = [secret("remind", url=receiver.url("remind")),
            notifier("remind", ["AwaitingInput", "Completed"], "remind", remindEverySeconds=300, maxReminders=3)]
    kubectl("apply", "-f", "-", namespace=namespace, input=for_instance(yaml.safe_dump_all(docs)))
    apply(namespace, labelled(flowrun_manifest("remind", "testflows.notify:waits_for_approval",
                                               parameters={"timeout": 3600}), "remind"))

    def events() -> list[str]:
        return [m["data"]["event"] for m in receiver.got("remind", "remind")]

    def recorded(event: str) -> list[dict]:
        return [r for r in get_fr(namespace, "remind")["status"].get("notifications") or [] if r["event"] == event]

    wait_for(lambda: recorded("AwaitingInput"), timeout=240, what="the pause announced and recorded")
    fr = get_fr(namespace, "remind")
    uid, key = fr["metadata"]["uid"], fr["status"]["pause"]["key"]
    assert events() == ["AwaitingInput"]

    for number, age in ((1, 330), (2, 630)):
        assert backdate_pause(namespace, "remind", key, age)
        got = wait_for(lambda: [m for m in receiver.got("remind", "remind") if m["data"]["event"] == "Reminder"
                                and m["data"]["reminder"]["number"] == number],
                       timeout=60, what=f"reminder {number}")
        assert got[0]["headers"]["webhook-id"] == n.reminder_id(uid, key, number)
        assert got[0]["data"]["reminder"] == {"number": number, "of": 3, "waitedSeconds": 300 * number}
        assert got[0]["data"]["events"] == ["Reminder", "AwaitingInput"]
        assert got[0]["data"]["pause"]["key"] == key and got[0]["data"]["resumeCommand"]
        assert json.loads(got[0]["body"])["type"] == "io.flowrun.run.reminder"
        wait_for(lambda: [r for r in recorded("Reminder") if r.get("reminder") == number], timeout=30,
                 what=f"reminder {number} recorded")
    # the record of reminder 2 replaced reminder 1's
    assert [r.get("reminder") for r in recorded("Reminder")] == [2]

    # Reminder 3 due while the receiver refuses reminders: it is retried ...
    receiver.refuse[f"/remind-{TOKEN}"] = lambda data: data["event"] == "Reminder"
    assert backdate_pause(namespace, "remind", key, 930)
    wait_for(lambda: [m for m in receiver.got("remind", "remind", ok_only=False)
                      if m["data"]["event"] == "Reminder" and m["data"]["reminder"]["number"] == 3],
             timeout=60, what="reminder 3 tried (and refused)")
    # ... until the pause is answered: then it is dropped, never delivered
    patch_fr(namespace, "remind", {"spec": {"state": "Running", "input": {"ok": True}}})
    third = n.reminder_id(uid, key, 3)
    wait_for(lambda: f"({third}): no longer due" in operator.log_path.read_text(errors="replace"), timeout=120,
             what="the retries of reminder 3 to stop")
    fr = wait_phase(namespace, "remind", "Completed", "Failed", timeout=180)
    assert fr["status"]["phase"] == "Completed", fr["status"]
    wait_for(lambda: recorded("Completed"), timeout=60, what="Completed delivered and recorded")
    assert events() == ["AwaitingInput", "Reminder", "Reminder", "Completed"], events()
    assert [m["data"]["reminder"]["number"] for m in receiver.got("remind", "remind")
            if m["data"]["event"] == "Reminder"] == [1, 2]
    assert [r.get("reminder") for r in recorded("Reminder")] == [2]  # 3: neither Delivered nor Failed
    delivered = [m["headers"]["webhook-id"] for m in receiver.got("remind")]
    assert len(delivered) == len(set(delivered)) == 4  # each once
