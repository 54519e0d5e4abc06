"""Notification payloads: what a delivery says (run, flow, phase, the pause's note,
expected input, deadline, approvers, the link to the UI and the command to resume) and
the HTTP request each sink type is sent (Standard Webhooks, Slack Block Kit,
CloudEvents). Pure functions, no I/O: controller/notify.py sends them.

It exists apart from notifications.py (which decides what is due) so each reads on its
own. The builders import `standardwebhooks` and `cloudevents` (the operator's extra)
only when called: nothing the runner image imports needs them, and only the operator
imports this module (pyproject's import-linter contract).
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Mapping

from .constants import API_VERSION, MAX_NOTIFY_MESSAGE_BYTES
from .lifecycle.view import RunView
from .notifications import Delivery
from .status import clip, timestamp

_TYPE_SUFFIX = {"Paused": "paused", "Suspended": "suspended", "AwaitingInput": "awaiting-input",
                "Failed": "failed", "Cancelled": "cancelled", "Completed": "completed",
                "DeadlineNear": "deadline-near", "Escalated": "escalated", "Reminder": "reminder"}


def event_type(event: str) -> str:
    """CloudEvents / Standard Webhooks `type`: io.flowrun.run.paused, ..."""
    return f"io.flowrun.run.{_TYPE_SUFFIX[event]}"


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


def resume_command(obj: Mapping[str, Any] | RunView) -> str:
    run = obj if isinstance(obj, RunView) else RunView.of(obj)
    command = f"flowrun resume {run.name} -n {run.namespace}"
    for field in input_fields(run.pause.input_schema if run.pause else None):
        if field["required"]:
            command += f" --input {field['name']}=<{field['name']}>"
    return command


def run_url(obj: Mapping[str, Any] | RunView, ui_base_url: str) -> str:
    run = obj if isinstance(obj, RunView) else RunView.of(obj)
    return f"{ui_base_url.rstrip('/')}/runs/{run.namespace}/{run.name}" if ui_base_url else ""


def payload(obj: Mapping[str, Any], delivery: Delivery, *, ui_base_url: str = "") -> dict[str, Any]:
    """What every sink says: run, namespace, flow, phase, message, pause (key,
    description, the flow's note, expected input, deadline, approvers), the link to the
    run in the UI (when the operator knows the UI's address) and the command to resume."""
    run = RunView.of(obj)
    data: dict[str, Any] = {
        "id": delivery.id, "event": delivery.event, "events": list(delivery.events),
        "run": run.name, "namespace": run.namespace, "uid": run.uid,
        "flow": run.flow, "phase": run.phase.value if run.phase else None, "message": run.message,
    }
    pause = run.pause
    if delivery.kind in ("pause", "DeadlineNear", "Escalated", "Reminder") and pause is not None:
        rule = pause.approval
        data["pause"] = {
            "key": pause.key, "kind": pause.kind.value if pause.kind else None,
            "description": pause.description,
            "notifyMessage": clip(pause.notify_message, MAX_NOTIFY_MESSAGE_BYTES),
            "inputFields": input_fields(pause.input_schema),
            "deadline": pause.deadline_text,
            "approvers": list(rule.approvers) if rule else [],
            "approvalsRequired": rule.required if rule else 0,
        }
        data["resumeCommand"] = resume_command(run)
    if delivery.reminder is not None:
        data["reminder"] = {"number": delivery.reminder.number, "of": delivery.reminder.of,
                            "waitedSeconds": delivery.reminder.waited_seconds}
    url = run_url(run, ui_base_url)
    if url:
        data["url"] = url
    return data


def waited(seconds: int) -> str:
    """A wait in words: "5 min", "2 h 30 min", "1 d 2 h"."""
    days, rest = divmod(max(int(seconds), 0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{value} {unit}" for value, unit in ((days, "d"), (hours, "h"), (minutes, "min")) if value]
    return " ".join(parts[:2]) or f"{max(int(seconds), 0)} s"


def _headline(data: Mapping[str, Any]) -> str:
    run = f"{data['namespace']}/{data['run']}"
    pause = data.get("pause") or {}
    reminder = data.get("reminder") or {}
    return {
        "AwaitingInput": f"FlowRun {run} waits for input at {pause.get('key')}",
        "Paused": f"FlowRun {run} is paused at {pause.get('key')}",
        "Suspended": f"FlowRun {run} is suspended at {pause.get('key')}",
        "DeadlineNear": f"FlowRun {run}: the pause {pause.get('key')} ends at {pause.get('deadline')}",
        "Escalated": f"FlowRun {run}: nobody answered {pause.get('key')} in time; now "
                     f"{', '.join(pause.get('approvers') or [])} may",
        "Reminder": f"Reminder {reminder.get('number')} of {reminder.get('of')}: FlowRun {run} has waited "
                    f"{waited(reminder.get('waitedSeconds') or 0)} at {pause.get('key')}",
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
