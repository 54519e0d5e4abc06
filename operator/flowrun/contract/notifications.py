"""Notifications: which FlowRunNotifier tells whom about which run, with which id and
which payload, and what the run's status keeps of it. Pure functions, no I/O (the
operator's shell, controller/notify.py, reads, sends and writes).

- A run's *occurrences* come from its status alone: a pause (Paused or Suspended, plus
  AwaitingInput when it has an input schema), DeadlineNear of that pause, or its end
  (Completed, Failed, Cancelled).
- One pause is one delivery per notifier whichever of its listed events it matches: the
  delivery id is a hash of (run uid, pause key, "pause"), so a pause re-established after
  a pod loss, or turned into a suspension, has the same id and is not sent again.
- What was sent (or given up on) is recorded in `status.notifications` (the last
  `MAX_RECORDS`), written only after the receiver answered, so a restart does not repeat
  a delivery (at least once: a crash between the answer and the write does) and a crash
  before the send does not lose it (it is still due on the next look).
- Only the current pause and the end are ever due, so forgetting older records never
  sends anything twice.

The payload builders import `standardwebhooks` and `cloudevents` (the operator's extra)
only when called: nothing the runner image imports needs them.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping, Sequence

from .constants import API_VERSION, MAX_NOTIFY_MESSAGE_BYTES, NOTIFIER_KIND, NOTIFIER_PLURAL
from .status import clip, parse_timestamp, timestamp


# A run labelled `flowrun.io/notify: "false"` is never notified about.
LABEL_NOTIFY = "flowrun.io/notify"
# The webhook's signature over a notifier's Secret references (who may read them was
# checked): the operator reads no Secret for a notifier without it.
ANNOTATION_NOTIFIER_APPROVAL = "flowrun.io/notifier-approval"

PAUSE_EVENTS = ("AwaitingInput", "Paused", "Suspended")  # most specific first
END_EVENTS = ("Failed", "Cancelled", "Completed")
EVENTS = (*PAUSE_EVENTS, *END_EVENTS, "DeadlineNear")
SINKS = ("webhook", "slack", "cloudevents")
DEFAULT_DEADLINE_NEAR_SECONDS = 600
MAX_RECORDS = 64
# Transient failures are retried with exponential backoff for this long.
RETRY_FOR_SECONDS = 3600
MAX_RETRY_DELAY_SECONDS = 300
_TYPE_SUFFIX = {"Paused": "paused", "Suspended": "suspended", "AwaitingInput": "awaiting-input",
                "Failed": "failed", "Cancelled": "cancelled", "Completed": "completed",
                "DeadlineNear": "deadline-near"}


@dataclass(frozen=True)
class Delivery:
    """One message a notifier owes: `id` is stable per (run uid, pause key, kind)."""
    notifier: str
    id: str
    event: str  # the name sent: the most specific listed event the occurrence matches
    events: tuple[str, ...]  # every listed event it matches
    kind: str  # "pause", "DeadlineNear", or the end phase
    key: str  # the pause key ("" for an end)


def delivery_id(uid: str, key: str, kind: str) -> str:
    """The Standard Webhooks `webhook-id` / CloudEvents `id`: the same for the same
    occurrence, whatever attempt, pod or operator process sends it."""
    return "msg_" + hashlib.sha256(f"{uid}\0{key}\0{kind}".encode()).hexdigest()[:32]


def event_type(event: str) -> str:
    """CloudEvents / Standard Webhooks `type`: io.flowrun.run.paused, ..."""
    return f"io.flowrun.run.{_TYPE_SUFFIX[event]}"


# ---- who is covered ------------------------------------------------------------------

def opted_out(obj: Mapping[str, Any]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return str(labels.get(LABEL_NOTIFY, "")).strip().lower() == "false"


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None) -> bool:
    """A Kubernetes label selector (matchLabels, matchExpressions); empty selects all."""
    labels = labels or {}
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), set(expr.get("values") or [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


def covers(notifier: Mapping[str, Any], obj: Mapping[str, Any]) -> bool:
    """The notifier is about this run: same namespace, selected, not opted out."""
    if (notifier.get("metadata") or {}).get("namespace") != (obj.get("metadata") or {}).get("namespace"):
        return False
    if opted_out(obj):
        return False
    return selects((notifier.get("spec") or {}).get("selector"), (obj.get("metadata") or {}).get("labels"))


# ---- what is due -----------------------------------------------------------------------

def _near_seconds(notifier: Mapping[str, Any]) -> int:
    return int((notifier.get("spec") or {}).get("deadlineNearSeconds") or DEFAULT_DEADLINE_NEAR_SECONDS)


def _ended_at(status: Mapping[str, Any]) -> datetime | None:
    history = status.get("history") or []
    return parse_timestamp(status.get("completionTime")) or (
        parse_timestamp(history[-1].get("time")) if history else None)


def occurrences(obj: Mapping[str, Any], now: datetime, near_seconds: int) -> list[tuple[str, str, frozenset[str]]]:
    """(kind, pause key, events) the run's state is now."""
    status = obj.get("status") or {}
    phase, pause = status.get("phase"), status.get("pause") or {}
    out: list[tuple[str, str, frozenset[str]]] = []
    if phase in ("Paused", "Suspended") and pause.get("key"):
        events = {phase} | ({"AwaitingInput"} if pause.get("inputSchema") else set())
        out.append(("pause", pause["key"], frozenset(events)))
        deadline = parse_timestamp(pause.get("deadline"))
        if deadline is not None and deadline - timedelta(seconds=near_seconds) <= now < deadline:
            out.append(("DeadlineNear", pause["key"], frozenset({"DeadlineNear"})))
    if phase in END_EVENTS:
        out.append((phase, "", frozenset({phase})))
    return out


def recorded(obj: Mapping[str, Any]) -> set[tuple[str, str]]:
    return {(r.get("notifier", ""), r.get("id", "")) for r in (obj.get("status") or {}).get("notifications") or []}


def due(obj: Mapping[str, Any], notifier: Mapping[str, Any], now: datetime) -> list[Delivery]:
    """What `notifier` owes this run now, minus what its status says was done. An end
    that came before the notifier existed is not news: creating a notifier does not
    announce every finished run of the namespace (a pause still waiting is news)."""
    if not covers(notifier, obj):
        return []
    meta = notifier.get("metadata") or {}
    name = meta.get("name", "")
    listed = set((notifier.get("spec") or {}).get("events") or [])
    done = recorded(obj)
    uid = (obj.get("metadata") or {}).get("uid", "")
    created = parse_timestamp(meta.get("creationTimestamp"))
    out = []
    for kind, key, events in occurrences(obj, now, _near_seconds(notifier)):
        matched = events & listed
        if not matched:
            continue
        if kind in END_EVENTS and created is not None:
            ended = _ended_at(obj.get("status") or {})
            if ended is not None and ended < created:
                continue
        ident = delivery_id(uid, key, kind)
        if (name, ident) in done:
            continue
        ordered = tuple(e for e in EVENTS if e in matched)
        out.append(Delivery(notifier=name, id=ident, event=ordered[0], events=ordered, kind=kind, key=key))
    return out


def next_due(obj: Mapping[str, Any], notifiers: Sequence[Mapping[str, Any]], now: datetime) -> datetime | None:
    """When a DeadlineNear of the current pause becomes due for one of the notifiers
    (the operator looks again then), if later than now."""
    status = obj.get("status") or {}
    pause = status.get("pause") or {}
    deadline = parse_timestamp(pause.get("deadline"))
    if status.get("phase") not in ("Paused", "Suspended") or deadline is None:
        return None
    times = [deadline - timedelta(seconds=_near_seconds(n)) for n in notifiers
             if "DeadlineNear" in ((n.get("spec") or {}).get("events") or []) and covers(n, obj)]
    later = [t for t in times if t > now]
    return min(later, default=None)


def record_patch(obj: Mapping[str, Any], delivery: Delivery, outcome: str, now: datetime) -> dict[str, Any] | None:
    """The status patch that records a delivery (outcome Delivered or Failed), or None
    when it is recorded already. The last MAX_RECORDS are kept."""
    if (delivery.notifier, delivery.id) in recorded(obj):
        return None
    records = list((obj.get("status") or {}).get("notifications") or [])
    records.append({"notifier": delivery.notifier, "id": delivery.id, "event": delivery.event,
                    "time": timestamp(now), "outcome": outcome})
    return {"notifications": records[-MAX_RECORDS:]}


def still_due(obj: Mapping[str, Any] | None, notifier: Mapping[str, Any] | None, delivery: Delivery,
              now: datetime) -> bool:
    """Just before a send (or retry): the run still is what the delivery says, and it
    has not been recorded. A pause answered meanwhile is not announced any more."""
    if obj is None or notifier is None:
        return False
    return any(d.id == delivery.id for d in due(obj, notifier, now))


# ---- failures and retries ------------------------------------------------------------

TRANSIENT_ERRORS = frozenset({"timeout", "refused", "reset", "unreachable"})


def classify(status: int | None, error: str | None = None) -> str:
    """"delivered", "transient" (retried: 5xx, 408, 425, 429, timeouts, refused or reset
    connections) or "permanent" (other answers, an invalid URL, a host that does not
    resolve, a bad signing secret)."""
    if status is not None:
        if 200 <= status < 300:
            return "delivered"
        if status >= 500 or status in (408, 425, 429):
            return "transient"
        return "permanent"
    return "transient" if error in TRANSIENT_ERRORS else "permanent"


def retry_at(first_failure: datetime, failures: int, now: datetime) -> datetime | None:
    """When to try again after the `failures`-th transient failure in a row: 1 s, 2 s,
    4 s... (at most 5 min apart), for up to RETRY_FOR_SECONDS from the first; None:
    give up."""
    delay = min(2.0 ** max(failures - 1, 0), MAX_RETRY_DELAY_SECONDS)
    when = now + timedelta(seconds=delay)
    if when > first_failure + timedelta(seconds=RETRY_FOR_SECONDS):
        return None
    return when


def check_url(url: str) -> str:
    """Why `url` cannot be a receiver ("" when it can). Never repeats the URL (it is a
    secret: Slack's incoming webhooks carry their token in it)."""
    from urllib.parse import urlsplit
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "the URL in the Secret is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "the URL in the Secret must start with http:// or https://"
    if not parts.hostname:
        return "the URL in the Secret has no host"
    return ""


# ---- the notifier's own status --------------------------------------------------------

def notifier_status(current: Mapping[str, Any] | None, *, ready: bool, reason: str, message: str,
                    now: datetime, generation: int | None = None, delivered: Mapping[str, Any] | None = None,
                    error: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The status patch of a notifier (Ready condition, lastDelivery, lastError), or None
    when nothing changes. lastTransitionTime moves only when Ready's status does."""
    current = current or {}
    old: Mapping[str, Any] = next((c for c in current.get("conditions") or [] if c.get("type") == "Ready"), {})
    value = "True" if ready else "False"
    condition = {"type": "Ready", "status": value, "reason": reason, "message": clip(message, 1024),
                 "lastTransitionTime": old.get("lastTransitionTime") if old.get("status") == value
                 else timestamp(now)}
    patch: dict[str, Any] = {}
    if {k: old.get(k) for k in condition} != condition:
        patch["conditions"] = [condition]
    if generation is not None and current.get("observedGeneration") != generation:
        patch["observedGeneration"] = generation
    if delivered is not None:
        patch["lastDelivery"] = dict(delivered)
    if error is not None:
        same = {k: v for k, v in (current.get("lastError") or {}).items() if k != "time"}
        if same != {k: v for k, v in error.items() if k != "time"}:
            patch["lastError"] = dict(error)
    return patch or None


def approval(key: bytes, notifier: Mapping[str, Any]) -> str:
    """The webhook's signature over what a notifier may read: its namespace, name and
    Secret references (HMAC-SHA256 with the operator's key)."""
    meta, sink = notifier.get("metadata") or {}, (notifier.get("spec") or {}).get("sink") or {}
    refs = [sink.get("urlSecretRef") or {}, sink.get("signingSecretRef") or {}]
    text = json.dumps([meta.get("namespace", ""), meta.get("name", ""),
                       [[r.get("name", ""), r.get("key", "")] for r in refs]], separators=(",", ":"))
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def approved(key: bytes | None, notifier: Mapping[str, Any]) -> bool:
    given = ((notifier.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_NOTIFIER_APPROVAL, "")
    return key is not None and bool(key) and bool(given) and hmac.compare_digest(given, approval(key, notifier))


def secret_names(notifier: Mapping[str, Any]) -> list[str]:
    sink = (notifier.get("spec") or {}).get("sink") or {}
    return sorted({ref["name"] for ref in (sink.get("urlSecretRef"), sink.get("signingSecretRef"))
                   if ref and ref.get("name")})


# ---- payloads --------------------------------------------------------------------------

def input_fields(schema: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The expected input, field by field, from a pause's JSON schema."""
    if not schema:
        return []
    required = set(schema.get("required") or [])
    out = []
    for name, prop in (schema.get("properties") or {}).items():
        prop = prop or {}
        kind = prop.get("type") or ("object" if "$ref" in prop or "allOf" in prop else
                                    "/".join(p.get("type", "?") for p in prop.get("anyOf") or []) or "any")
        field = {"name": name, "type": kind, "required": name in required}
        for extra in ("description", "default", "enum"):
            if extra in prop:
                field[extra] = prop[extra]
        out.append(field)
    return out


def resume_command(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    schema = ((obj.get("status") or {}).get("pause") or {}).get("inputSchema") or {}
    command = f"flowrun resume {meta.get('name')} -n {meta.get('namespace')}"
    for field in input_fields(schema):
        if field["required"]:
            command += f" --input {field['name']}=<{field['name']}>"
    return command


def run_url(obj: Mapping[str, Any], ui_base_url: str) -> str:
    meta = obj.get("metadata") or {}
    return f"{ui_base_url.rstrip('/')}/runs/{meta.get('namespace')}/{meta.get('name')}" if ui_base_url else ""


def payload(obj: Mapping[str, Any], delivery: Delivery, *, ui_base_url: str = "") -> dict[str, Any]:
    """What every sink says: run, namespace, flow, phase, message, pause (key,
    description, the flow's note, expected input, deadline, approvers), the link to the
    run in the UI (when the operator knows the UI's address) and the command to resume."""
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    data: dict[str, Any] = {
        "id": delivery.id, "event": delivery.event, "events": list(delivery.events),
        "run": meta.get("name"), "namespace": meta.get("namespace"), "uid": meta.get("uid"),
        "flow": spec.get("flow"), "phase": status.get("phase"), "message": status.get("message") or "",
    }
    pause = status.get("pause") or {}
    if delivery.kind in ("pause", "DeadlineNear") and pause:
        approval_rule = pause.get("approval") or {}
        data["pause"] = {
            "key": pause.get("key"), "kind": pause.get("kind"),
            "description": pause.get("description") or "",
            "notifyMessage": clip(pause.get("notifyMessage") or "", MAX_NOTIFY_MESSAGE_BYTES),
            "inputFields": input_fields(pause.get("inputSchema")),
            "deadline": pause.get("deadline"),
            "approvers": list(approval_rule.get("approvers") or []),
            "approvalsRequired": approval_rule.get("required") or (1 if approval_rule else 0),
        }
        data["resumeCommand"] = resume_command(obj)
    url = run_url(obj, ui_base_url)
    if url:
        data["url"] = url
    return data


def _headline(data: Mapping[str, Any]) -> str:
    run = f"{data['namespace']}/{data['run']}"
    pause = data.get("pause") or {}
    return {
        "AwaitingInput": f"FlowRun {run} waits for input at {pause.get('key')}",
        "Paused": f"FlowRun {run} is paused at {pause.get('key')}",
        "Suspended": f"FlowRun {run} is suspended at {pause.get('key')}",
        "DeadlineNear": f"FlowRun {run}: the pause {pause.get('key')} ends at {pause.get('deadline')}",
        "Failed": f"FlowRun {run} failed",
        "Cancelled": f"FlowRun {run} was cancelled",
        "Completed": f"FlowRun {run} completed",
    }[data["event"]]


def webhook_request(data: Mapping[str, Any], *, msg_id: str, when: datetime,
                    signing_secret: str | None) -> tuple[dict[str, str], bytes]:
    """A Standard Webhooks delivery: body {type, timestamp, data}; headers webhook-id,
    webhook-timestamp and, with a signing secret (`whsec_<base64>`), webhook-signature.
    Raises ValueError for a signing secret that is not one."""
    from standardwebhooks.webhooks import Webhook
    body = json.dumps({"type": event_type(data["event"]), "timestamp": timestamp(when), "data": data},
                      separators=(",", ":"), sort_keys=True)
    headers = {"content-type": "application/json", "webhook-id": msg_id,
               "webhook-timestamp": str(int(when.timestamp()))}
    if signing_secret:
        try:
            signer = Webhook(signing_secret.strip())
        except Exception as exc:  # noqa: BLE001 - the library raises several kinds
            raise ValueError("the signing secret is not a Standard Webhooks secret (whsec_<base64>)") from exc
        headers["webhook-signature"] = signer.sign(msg_id, when, body)
    return headers, body.encode()


def _mrkdwn(text: str, limit: int = 2900) -> dict[str, str]:
    return {"type": "mrkdwn", "text": clip(text, limit) or " "}


def slack_message(data: Mapping[str, Any]) -> dict[str, Any]:
    """A Block Kit message for a Slack incoming webhook: header, what happened, the
    pause's note, description and expected input, the resume command, and a button to
    the run in the UI (when its address is known)."""
    headline = _headline(data)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(headline, 150), "emoji": True}},
    ]
    fields = [_mrkdwn(f"*Flow*\n`{data.get('flow')}`", 1900), _mrkdwn(f"*Phase*\n{data.get('phase')}", 1900)]
    pause = data.get("pause") or {}
    if pause.get("deadline"):
        fields.append(_mrkdwn(f"*Deadline*\n{pause['deadline']}", 1900))
    if pause.get("approvers"):
        fields.append(_mrkdwn(f"*Approvers*\n{', '.join(pause['approvers'])}", 1900))
    blocks.append({"type": "section", "text": _mrkdwn(data.get("message") or headline), "fields": fields})
    if pause.get("notifyMessage"):
        blocks.append({"type": "section", "text": _mrkdwn(pause["notifyMessage"])})
    if pause.get("description"):
        blocks.append({"type": "section", "text": _mrkdwn(pause["description"])})
    if pause.get("inputFields"):
        lines = [f"• `{f['name']}` ({f['type']}{', required' if f['required'] else ''})"
                 for f in pause["inputFields"][:20]]
        blocks.append({"type": "section", "text": _mrkdwn("*Expected input*\n" + "\n".join(lines))})
    if data.get("resumeCommand"):
        blocks.append({"type": "context", "elements": [_mrkdwn(f"`{data['resumeCommand']}`")]})
    if data.get("url"):
        blocks.append({"type": "actions", "elements": [{
            "type": "button", "text": {"type": "plain_text", "text": "Open the run"},
            "url": data["url"], "action_id": "open-run", "style": "primary"}]})
    return {"text": headline, "blocks": blocks}


def slack_request(data: Mapping[str, Any]) -> tuple[dict[str, str], bytes]:
    return {"content-type": "application/json"}, json.dumps(slack_message(data)).encode()


def cloudevent_request(data: Mapping[str, Any], *, msg_id: str, when: datetime) -> tuple[dict[str, str], bytes]:
    """A CloudEvent in structured mode over HTTP (application/cloudevents+json), built
    with the `cloudevents` library: id = the delivery id, type io.flowrun.run.<event>,
    source the run's API path, subject the run's name."""
    from cloudevents.core.bindings.http import to_structured_event
    from cloudevents.core.v1.event import CloudEvent
    source = f"/apis/{API_VERSION}/namespaces/{data['namespace']}/flowruns/{data['run']}"
    event = CloudEvent({"id": msg_id, "source": source, "type": event_type(data["event"]),
                        "subject": str(data["run"]), "time": when, "datacontenttype": "application/json"},
                       dict(data))
    message = to_structured_event(event)
    return dict(message.headers), message.body


def request(sink_type: str, data: Mapping[str, Any], *, msg_id: str, when: datetime,
            signing_secret: str | None = None) -> tuple[dict[str, str], bytes]:
    """Headers and body of the HTTP POST for a sink type."""
    if sink_type == "webhook":
        return webhook_request(data, msg_id=msg_id, when=when, signing_secret=signing_secret)
    if sink_type == "slack":
        return slack_request(data)
    if sink_type == "cloudevents":
        return cloudevent_request(data, msg_id=msg_id, when=when)
    raise ValueError(f"unknown sink type {sink_type!r}")
