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
- Reminders (`spec.remindEverySeconds`, `spec.maxReminders`): reminder n of the pause a
  run waits at is due at the pause's start (`status.pause.since`) + n intervals, once
  the notifier's announcement of that pause is recorded, while nobody has answered it.
  Each number has its own id (run uid, pause key, "Reminder:n"). Only the latest due
  number is sent (after downtime: no burst of the missed ones), never one at or below a
  recorded number; a reminder's record replaces the notifier's earlier reminder records
  of the same pause, so a pause keeps at most one.

What a delivery says, and how each sink is sent it, is notification_payloads.py.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping, Sequence

from .constants import NOTIFIER_KIND, NOTIFIER_PLURAL
from .lifecycle.view import RunView
from .objects import Condition, NotifierView
from .signing import KeyRing
from .status import clip, parse_timestamp, timestamp


# A run labelled `flowrun.io/notify: "false"` is never notified about.
LABEL_NOTIFY = "flowrun.io/notify"
# The webhook's signature over a notifier's Secret references (who may read them was
# checked): the operator reads no Secret for a notifier without it.
ANNOTATION_NOTIFIER_APPROVAL = "flowrun.io/notifier-approval"

PAUSE_EVENTS = ("AwaitingInput", "Paused", "Suspended")  # most specific first
END_EVENTS = ("Failed", "Cancelled", "Completed")
# What a notifier may list in spec.events (the CRD's enum).
LISTED_EVENTS = (*PAUSE_EVENTS, *END_EVENTS, "DeadlineNear", "Escalated")
# A reminder is not listed: spec.remindEverySeconds alone asks for reminders of the
# pauses the notifier announces.
REMINDER = "Reminder"
EVENTS = (*LISTED_EVENTS, REMINDER)  # every event a delivery may name
SINKS = ("webhook", "slack", "cloudevents")
DEFAULT_DEADLINE_NEAR_SECONDS = 600
MAX_RECORDS = 64
# Transient failures are retried with exponential backoff for this long.
RETRY_FOR_SECONDS = 3600
MAX_RETRY_DELAY_SECONDS = 300
# Reminders: at least this far apart (the CRD's minimum), this many when
# spec.maxReminders is not given, and never more than MAX_REMINDERS (the CRD's maximum).
MIN_REMIND_SECONDS = 300
DEFAULT_MAX_REMINDERS = 3
MAX_REMINDERS = 100


@dataclass(frozen=True)
class Reminder:
    """Which reminder a delivery is: `number` of `of`, after `waited_seconds` (number x
    the interval: the same for every attempt of the same reminder)."""
    number: int
    of: int
    waited_seconds: int

@dataclass(frozen=True)
class Delivery:
    """One message a notifier owes: `id` is stable per (run uid, pause key, kind)."""
    notifier: str
    id: str
    event: str  # the name sent: the most specific listed event the occurrence matches
    events: tuple[str, ...]  # every listed event it matches
    kind: str  # "pause", "DeadlineNear", "Escalated", "Reminder", or the end phase
    key: str  # the pause key ("" for an end)
    reminder: Reminder | None = None  # for kind "Reminder"


def delivery_id(uid: str, key: str, kind: str) -> str:
    """The Standard Webhooks `webhook-id` / CloudEvents `id`: the same for the same
    occurrence, whatever attempt, pod or operator process sends it."""
    return "msg_" + hashlib.sha256(f"{uid}\0{key}\0{kind}".encode()).hexdigest()[:32]


def reminder_id(uid: str, key: str, number: int) -> str:
    """The id of reminder `number` of the pause at `key`: stable per number."""
    return delivery_id(uid, key, f"{REMINDER}:{number}")


# ---- who is covered ------------------------------------------------------------------

def opted_out(obj: Mapping[str, Any] | RunView) -> bool:
    run = _run(obj)
    return str(run.labels.get(LABEL_NOTIFY, "")).strip().lower() == "false"


def _run(obj: Mapping[str, Any] | RunView) -> RunView:
    return obj if isinstance(obj, RunView) else RunView.of(obj)


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


def _notifier(notifier: Mapping[str, Any] | NotifierView) -> NotifierView:
    if isinstance(notifier, NotifierView):
        return notifier
    return NotifierView.of(notifier, ANNOTATION_NOTIFIER_APPROVAL)


def covers(notifier: Mapping[str, Any] | NotifierView, obj: Mapping[str, Any] | RunView) -> bool:
    """The notifier is about this run: same namespace, selected, not opted out."""
    run, view = _run(obj), _notifier(notifier)
    if view.meta.namespace != run.namespace:
        return False
    if opted_out(run):
        return False
    return selects(view.selector, run.labels)


# ---- what is due -----------------------------------------------------------------------

def _near_seconds(notifier: NotifierView) -> int:
    return notifier.deadline_near_seconds or DEFAULT_DEADLINE_NEAR_SECONDS


def _pause_events(run: RunView) -> frozenset[str]:
    """The events a run stopped at a pause is (Paused or Suspended, and AwaitingInput)."""
    pause = run.pause
    if run.phase is None or not run.stopped or pause is None or not pause.key:
        return frozenset()
    return frozenset({run.phase.value} | ({"AwaitingInput"} if pause.input_schema else set()))


def occurrences(obj: Mapping[str, Any] | RunView, now: datetime,
                near_seconds: int) -> list[tuple[str, str, frozenset[str]]]:
    """(kind, pause key, events) the run's state is now (reminders aside: reminder_due)."""
    run = _run(obj)
    pause = run.pause
    out: list[tuple[str, str, frozenset[str]]] = []
    events = _pause_events(run)
    if events and pause is not None:
        out.append(("pause", pause.key, events))
        deadline = pause.deadline
        if deadline is not None and deadline - timedelta(seconds=near_seconds) <= now < deadline:
            out.append(("DeadlineNear", pause.key, frozenset({"DeadlineNear"})))
        if pause.approval is not None and pause.approval.escalated:  # once per pause: its own id
            out.append(("Escalated", pause.key, frozenset({"Escalated"})))
    if run.phase is not None and run.phase.value in END_EVENTS:
        out.append((run.phase.value, "", frozenset({run.phase.value})))
    return out


def recorded(obj: Mapping[str, Any] | RunView) -> set[tuple[str, str]]:
    return {(r.get("notifier", ""), r.get("id", "")) for r in _run(obj).notifications}


def due(obj: Mapping[str, Any], notifier: Mapping[str, Any], now: datetime) -> list[Delivery]:
    """What `notifier` owes this run now, minus what its status says was done. An end
    that came before the notifier existed is not news: creating a notifier does not
    announce every finished run of the namespace (a pause still waiting is news)."""
    run, view = _run(obj), _notifier(notifier)
    if not covers(view, run):
        return []
    name = view.meta.name
    done = recorded(run)
    created = parse_timestamp(view.meta.created)
    out = []
    for kind, key, events in occurrences(run, now, _near_seconds(view)):
        matched = events & view.events
        if not matched:
            continue
        if kind in END_EVENTS and created is not None:
            ended = run.ended_at
            if ended is not None and ended < created:
                continue
        ident = delivery_id(run.uid, key, kind)
        if (name, ident) in done:
            continue
        ordered = tuple(e for e in EVENTS if e in matched)
        out.append(Delivery(notifier=name, id=ident, event=ordered[0], events=ordered, kind=kind, key=key))
    reminder = reminder_due(run, view, now)
    if reminder is not None:
        out.append(reminder)
    return out


# ---- reminders -------------------------------------------------------------------------

def remind_every(notifier: Mapping[str, Any] | NotifierView) -> int | None:
    """The notifier's reminder interval (never below MIN_REMIND_SECONDS), or None."""
    every = _notifier(notifier).remind_every_seconds
    return max(every, MIN_REMIND_SECONDS) if every else None


def max_reminders(notifier: Mapping[str, Any] | NotifierView) -> int:
    """How many reminders of one pause (DEFAULT_MAX_REMINDERS when not given)."""
    return max(1, min(_notifier(notifier).max_reminders or DEFAULT_MAX_REMINDERS, MAX_REMINDERS))


def _awaited(run: RunView, notifier: NotifierView) -> tuple[str, datetime, int, int] | None:
    """(pause key, its start, interval, most reminders) when this notifier reminds of the
    pause the run waits at: reminders asked for, the notifier covers the run and
    announces this pause (one of its events), and nobody answered it yet: the run is
    stopped at it, it is not resumed, no resume of it is asked (spec.state Running), and
    its deadline did not settle it."""
    every = remind_every(notifier)
    pause = run.pending
    if every is None or pause is None or pause.since is None or pause.timed_out is not None:
        return None
    if not (_pause_events(run) & notifier.events) or run.resumes(pause) or not covers(notifier, run):
        return None
    return pause.key, pause.since, every, max_reminders(notifier)


def reminder_due(obj: Mapping[str, Any] | RunView, notifier: Mapping[str, Any] | NotifierView,
                 now: datetime) -> Delivery | None:
    """The reminder the notifier owes now, if any: the latest number due (at the pause's
    start + number x interval, at most maxReminders), once the notifier's announcement of
    the pause is recorded, unless that number or a later one is recorded already."""
    run, view = _run(obj), _notifier(notifier)
    awaited = _awaited(run, view)
    if awaited is None:
        return None
    key, since, every, most = awaited
    number = min(int((now - since).total_seconds()) // every, most)
    done = recorded(run)
    name = view.meta.name
    if number < 1 or (name, delivery_id(run.uid, key, "pause")) not in done:
        return None
    if any((name, reminder_id(run.uid, key, m)) in done for m in range(number, most + 1)):
        return None
    events = (REMINDER, *(e for e in EVENTS if e in _pause_events(run) & view.events))
    return Delivery(notifier=name, id=reminder_id(run.uid, key, number), event=REMINDER, events=events,
                    kind=REMINDER, key=key, reminder=Reminder(number=number, of=most, waited_seconds=number * every))


def next_reminder(obj: Mapping[str, Any] | RunView, notifier: Mapping[str, Any] | NotifierView,
                  now: datetime) -> datetime | None:
    """When the notifier's next reminder of the pause the run waits at falls due (after
    now), if one is left."""
    run = _run(obj)
    awaited = _awaited(run, _notifier(notifier))
    if awaited is None:
        return None
    _key, since, every, most = awaited
    number = max(int((now - since).total_seconds()) // every, 0) + 1
    return since + timedelta(seconds=number * every) if number <= most else None


def next_due(obj: Mapping[str, Any], notifiers: Sequence[Mapping[str, Any]], now: datetime) -> datetime | None:
    """When a DeadlineNear or a reminder of the current pause becomes due for one of the
    notifiers (the operator looks again then), if later than now."""
    run = RunView.of(obj)
    if not run.stopped:
        return None
    views = [_notifier(n) for n in notifiers]
    deadline = run.pause.deadline if run.pause is not None else None
    times = [deadline - timedelta(seconds=_near_seconds(n)) for n in views
             if deadline is not None and "DeadlineNear" in n.events and covers(n, run)]
    times += [t for n in views if (t := next_reminder(run, n, now)) is not None]
    later = [t for t in times if t > now]
    return min(later, default=None)


def record_patch(obj: Mapping[str, Any], delivery: Delivery, outcome: str, now: datetime) -> dict[str, Any] | None:
    """The status patch that records a delivery (outcome Delivered or Failed), or None
    when it is recorded already. The last MAX_RECORDS are kept. A reminder's record
    (with its `reminder` number) replaces the notifier's records of earlier reminders of
    the same pause: the latest number is all reminder_due needs."""
    run = RunView.of(obj)
    if (delivery.notifier, delivery.id) in recorded(run):
        return None
    records = list(run.notifications)
    record: dict[str, Any] = {"notifier": delivery.notifier, "id": delivery.id, "event": delivery.event,
                              "time": timestamp(now), "outcome": outcome}
    if delivery.reminder is not None:
        number = delivery.reminder.number
        earlier = {reminder_id(run.uid, delivery.key, m) for m in range(1, number)}
        records = [r for r in records if not (r.get("notifier") == delivery.notifier and r.get("id") in earlier)]
        record["reminder"] = number
    records.append(record)
    return {"notifications": records[-MAX_RECORDS:]}


def still_due(obj: Mapping[str, Any] | None, notifier: Mapping[str, Any] | None, delivery: Delivery,
              now: datetime) -> bool:
    """Just before a send (or retry): the run still is what the delivery says, and it
    has not been recorded. A pause answered meanwhile is not announced any more."""
    if obj is None or notifier is None:
        return False
    return any(d.id == delivery.id for d in due(obj, notifier, now))


# ---- failures and retries ------------------------------------------------------------

def classify(status: int | None, error: str | None = None) -> str:
    """"delivered" (a 2xx answer) or "failed": retried with backoff for up to
    RETRY_FOR_SECONDS, whatever went wrong. One kind on purpose (issue 26): a notifier's
    owner must not learn from its records or its retries whether an address answered
    HTTP, refused, timed out or was refused by the egress policy (a port scanner)."""
    return "delivered" if status is not None and 200 <= status < 300 else "failed"


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
    old = next((c for c in map(Condition.of, current.get("conditions") or []) if c.type == "Ready"),
               Condition.of({}))
    value = "True" if ready else "False"
    condition = {"type": "Ready", "status": value, "reason": reason, "message": clip(message, 1024),
                 "lastTransitionTime": old.last_transition if old.status == value else timestamp(now)}
    patch: dict[str, Any] = {}
    if {k: old.doc.get(k) for k in condition} != condition:
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


def _approval_payload(notifier: NotifierView) -> list[Any]:
    refs = [notifier.url_secret, notifier.signing_secret]
    return ["notifier", notifier.meta.namespace, notifier.meta.name,
            [[r.name, r.key] if r is not None else ["", ""] for r in refs]]


def approval(keys: KeyRing, notifier: Mapping[str, Any]) -> str:
    """The webhook's signature over what a notifier may read: its namespace, name and
    Secret references (HMAC-SHA256 with the operator's current key, `<kid>:<hex>`)."""
    return keys.sign(_approval_payload(_notifier(notifier)))


def approved(keys: KeyRing, notifier: Mapping[str, Any], now: datetime) -> bool:
    view = _notifier(notifier)
    return bool(view.approval) and keys.verify(_approval_payload(view), view.approval, now)


def secret_names(notifier: Mapping[str, Any]) -> list[str]:
    view = _notifier(notifier)
    return sorted({ref.name for ref in (view.url_secret, view.signing_secret) if ref is not None and ref.name})


