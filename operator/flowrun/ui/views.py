"""What the pages show, computed from FlowRuns, Events and pods: pure functions (no I/O),
so the list's filters, the waiting section, the timeline and the controls are tested
without a server."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping

import markdown_it
import nh3

from ..contract import approvals
from ..contract.lifecycle import vocabulary
from ..contract import input_schema as schemas
from ..contract.lifecycle.people import allowed, phase_of, state_of
from ..contract.phases import Phase, State
from ..contract.status import parse_timestamp
from ..contract.lifecycle.view import PauseView, pending_pause, waits_for_a_person

PAGE_SIZE = 50
_MD = markdown_it.MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def markdown(text: str) -> str:
    """A pause's Markdown description as safe HTML: raw HTML is not rendered (it shows
    as text), and the result is sanitised (no scripts, event handlers, javascript: URLs)."""
    return nh3.clean(_MD.render(text or ""), link_rel="noopener noreferrer nofollow")


def ago(when: datetime | None, now: datetime) -> str:
    """`3m 12s`, `2h 5m`, `4d 1h`."""
    if when is None:
        return ""
    seconds = int(max(0.0, (now - when).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60}s"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600}h"


def until(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "none"
    left = (when - now).total_seconds()
    return f"in {ago(now, when)}" if left > 0 else "passed"


def created(obj: Mapping[str, Any]) -> str:
    return (obj.get("metadata") or {}).get("creationTimestamp") or ""


def waits_for(obj: Mapping[str, Any]) -> str:
    """What a waiting run waits for, in words."""
    pause = pending_pause(obj) or {}
    parts = []
    schema = pause.get("inputSchema")
    if schema:
        names = [f.name + ("*" if f.required else "") for f in schemas.fields(schema)]
        shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
        parts.append(f"input ({shown})" if names else "input")
    rule = pause.get("approval") or {}
    if rule.get("approvers"):
        got = len(rule.get("approvals") or [])
        parts.append(f"approval by {', '.join(rule['approvers'])} ({got} of {rule.get('required', 1)})")
    return "; ".join(parts) or "a resume"


def is_waiting(obj: Mapping[str, Any]) -> bool:
    """Waiting for a person: Paused or Suspended at a pause its flow asked for."""
    return Phase(phase_of(obj)).stopped and waits_for_a_person(obj)


_KEY = re.compile(r"[\w./-]+")
_VALUE = re.compile(r"[\w.-]*")
MAX_SELECTOR_LENGTH = 4096


def _split_selector(selector: str) -> list[str] | None:
    """The requirements of a selector: split at commas outside parentheses, in one pass."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(selector):
        if ch == "(":
            depth += 1
            if depth > 1:
                return None
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return None
        elif ch == "," and depth == 0:
            parts.append(selector[start:i])
            start = i + 1
    if depth:
        return None
    parts.append(selector[start:])
    return parts


def _requirement(part: str) -> Callable[[Mapping[str, str]], bool] | None:
    """One requirement (`k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a)`, `k`, `!k`),
    parsed without backtracking: linear in its length."""
    part = part.strip()
    if "(" in part:
        head, _, rest = part.partition("(")
        if not rest.endswith(")"):
            return None
        words = head.split()
        if len(words) != 2 or words[1] not in ("in", "notin") or not _KEY.fullmatch(words[0]):
            return None
        options = {v.strip() for v in rest[:-1].split(",") if v.strip()}
        if not all(_VALUE.fullmatch(v) for v in options):
            return None
        return _label_in(words[0], options, negate=words[1] == "notin")
    for op in ("!=", "==", "="):
        if op in part:
            key, _, value = (x.strip() for x in part.partition(op))
            if not _KEY.fullmatch(key) or not _VALUE.fullmatch(value):
                return None
            return _label_in(key, {value}, negate=op == "!=")
    neg = part.startswith("!")
    key = part[1:].strip() if neg else part
    if not _KEY.fullmatch(key):
        return None
    return _label_present(key, negate=neg)


def _label_in(key: str, values: set[str], *, negate: bool = False) -> Callable[[Mapping[str, str]], bool]:
    """`key=value`, `key!=value`, `key in (...)`, `key notin (...)` (a missing label is
    not in any set)."""
    return lambda labels: (labels.get(key) in values) != negate


def _label_present(key: str, *, negate: bool = False) -> Callable[[Mapping[str, str]], bool]:
    """`key` or `!key`."""
    return lambda labels: (key in labels) != negate


def selector_matcher(selector: str) -> Callable[[Mapping[str, str]], bool] | None:
    """A Kubernetes label selector (`team=a,tier!=web,env in (x,y),!legacy,canary`) as a
    predicate over labels, as the API server applies it; None when it does not parse or
    is longer than MAX_SELECTOR_LENGTH (the API server is then asked, and says why).
    Linear in the selector's length (no backtracking regular expression)."""
    selector = selector.strip()
    if len(selector) > MAX_SELECTOR_LENGTH:
        return None
    parts = _split_selector(selector) if selector else []
    if parts is None:
        return None
    checks = []
    for part in parts:
        check = _requirement(part)
        if check is None:
            return None
        checks.append(check)
    return lambda labels: all(check(labels) for check in checks)


@dataclass
class Filters:
    namespace: str = ""
    phase: str = ""
    selector: str = ""
    flow: str = ""
    text: str = ""
    page: int = 1

    @classmethod
    def from_query(cls, q: Mapping[str, str]) -> "Filters":
        try:
            page = max(1, int(q.get("page") or 1))
        except ValueError:
            page = 1
        return cls(namespace=(q.get("namespace") or "").strip(), phase=(q.get("phase") or "").strip(),
                   selector=(q.get("selector") or "").strip(), flow=(q.get("flow") or "").strip(),
                   text=(q.get("q") or "").strip(), page=page)

    def query(self, **override: Any) -> str:
        from urllib.parse import urlencode
        values = {"namespace": self.namespace, "phase": self.phase, "selector": self.selector,
                  "flow": self.flow, "q": self.text, "page": self.page, **override}
        return urlencode({k: v for k, v in values.items() if v not in ("", None, 1)})

    def keep(self, obj: Mapping[str, Any]) -> bool:
        meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
        if self.namespace and meta.get("namespace") != self.namespace:
            return False
        if self.phase and phase_of(obj).lower() != self.phase.lower():
            return False
        if self.flow and self.flow.lower() not in (spec.get("flow") or "").lower():
            return False
        if self.text:
            hay = " ".join([meta.get("name", ""), spec.get("flow") or "", status.get("message") or "",
                            json.dumps(meta.get("labels") or {})]).lower()
            if self.text.lower() not in hay:
                return False
        return True


@dataclass
class Listing:
    waiting: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    total: int
    page: int
    pages: int


def listing(items: list[dict[str, Any]], filters: Filters, now: datetime) -> Listing:
    """Newest first; those waiting for a person in their own section (all of them, the
    longest waiting first); the rest paged."""
    kept = sorted((o for o in items if filters.keep(o)), key=created, reverse=True)
    waiting = [o for o in kept if is_waiting(o)]
    waiting.sort(key=lambda o: (pending_pause(o) or {}).get("since") or "")
    rest = kept
    pages = max(1, -(-len(rest) // PAGE_SIZE))
    page = min(filters.page, pages)
    return Listing([row(o, now) for o in waiting],
                   [row(o, now) for o in rest[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]],
                   len(kept), page, pages)


def if_unanswered(pause: Mapping[str, Any]) -> str:
    """What the deadline does, in the contract's words ("if nobody answers by ...: ...")."""
    view = PauseView.of(pause)
    if view is None:
        return ""
    if view.timed_out is not None:
        return "nobody answered in time: the system resumes it"
    return view.if_unanswered()


def row(obj: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    pause = pending_pause(obj) or {}
    return {
        "namespace": meta.get("namespace", ""), "name": meta.get("name", ""),
        "phase": phase_of(obj), "flow": spec.get("flow", ""), "attempt": status.get("attempt", ""),
        "age": ago(parse_timestamp(meta.get("creationTimestamp")), now),
        "message": (status.get("message") or "")[:200],
        "waited": ago(parse_timestamp(pause.get("since")), now),
        "deadline": until(parse_timestamp(pause.get("deadline")), now) if pause else "",
        "deadline_at": pause.get("deadline") or "",
        "if_unanswered": if_unanswered(pause),
        "waits_for": waits_for(obj) if pause else "",
        "key": pause.get("key", ""),
        "select_id": select_id(meta.get("namespace", ""), meta.get("name", "")),
    }


def select_id(namespace: str, name: str) -> str:
    """The id of a waiting run's checkbox in the list: stable across redraws (htmx keeps
    a checked box through a live redraw by its id) and safe in a CSS selector."""
    return "sel-" + hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()[:16]


#: How many runs one bulk answer may name (one request's work stays bounded).
MAX_SELECTED = 100


class Selection(ValueError):
    """A bulk answer's selection that names no run, too many, a malformed one, or a
    namespace this UI does not serve (`status`: the page's answer)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def selected_runs(values: list[str], served: list[str] | None) -> list[tuple[str, str]]:
    """The runs a bulk answer names (`namespace/name`, as the list's checkboxes post
    them), each once, in the order given; Selection when one cannot be answered here."""
    out: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for value in values:
        if len(out) > MAX_SELECTED:
            break
        ns, sep, name = value.strip().partition("/")
        if not sep or not _NAME.fullmatch(ns) or not _NAME.fullmatch(name):
            raise Selection(f"{value[:80]!r} is not a run (namespace/name)")
        if served is not None and ns not in served:
            raise Selection(f"namespace {ns[:63]!r} is not served by this UI", 403)
        if (ns, name) not in seen:
            seen.add((ns, name))
            out.append((ns, name))
    if not out:
        raise Selection("no run selected: tick the waiting runs to answer together")
    if len(out) > MAX_SELECTED:
        raise Selection(f"{len(out)} runs selected; at most {MAX_SELECTED} are answered at once")
    return out


_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


def bulk_summary(outcomes: list[tuple[str, bool, str]]) -> str:
    """One line for a bulk answer's outcomes (run, answered, why not): `3 resumed, 1
    refused: you are not an approver of run x`; every refusal named with its reason."""
    done = sum(1 for _, ok, _ in outcomes if ok)
    refused = [(run, why) for run, ok, why in outcomes if not ok]
    line = f"{done} resumed"
    if refused:
        line += f", {len(refused)} refused: " + "; ".join(f"{run}: {why}" for run, why in refused)
    return line


def timeline(obj: Mapping[str, Any], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """status.history merged with the run's Events, by time. An Event that repeats a
    history entry (the operator posts one per entry) is folded into it."""
    out = []
    for h in (obj.get("status") or {}).get("history") or []:
        out.append({"time": h.get("time") or "", "what": h.get("action", ""), "by": h.get("by", ""),
                    "groups": ", ".join(h.get("groups") or []), "key": h.get("key", ""),
                    "message": h.get("message", ""), "source": "history", "warning": False})
    seen = {(e["time"][:19], e["message"]) for e in out}
    for e in events:
        when = e.get("lastTimestamp") or e.get("eventTime") or (e.get("metadata") or {}).get("creationTimestamp") or ""
        message = e.get("message", "")
        if (when[:19], message) in seen or any(message and message == x["message"] for x in out):
            continue
        out.append({"time": when, "what": e.get("reason", ""), "by": (e.get("source") or {}).get("component", "")
                    or e.get("reportingComponent", ""), "groups": "", "key": "", "message": message,
                    "source": "Event", "warning": e.get("type") == "Warning"})
    out.sort(key=lambda x: x["time"])
    return out


@dataclass
class Control:
    target: str  # Running | Suspended | Paused | Cancelled
    label: str  # the button's text: Resume, Suspend, Pause, Cancel
    shown: bool
    enabled: bool
    why: str = ""


LABELS = {State.RUNNING: "Resume", State.SUSPENDED: "Suspend", State.PAUSED: "Pause",
          State.CANCELLED: "Cancel"}


def controls(obj: Mapping[str, Any], rights: Mapping[str, tuple[bool, str]],
             me: Mapping[str, Any] | None) -> list[Control]:
    """The buttons the run's state allows, each enabled only when the person's rights
    (and a pause's approvers) allow it, else disabled with the reason."""
    can = allowed(obj)
    out = []
    for target, label in LABELS.items():
        ok, why = rights.get(vocabulary.ACTIONS[target].verb, (True, ""))
        if ok and target is State.RUNNING and me is not None and (pending_pause(obj) or {}).get("approval"):
            user, groups = me.get("username", ""), list(me.get("groups") or [])
            if not approvals.may_answer_now(obj, user, groups):
                ok, why = False, f"{user or 'you'} may not answer this pause ({waits_for(obj)})"
        out.append(Control(target.value, label, can[target], ok, "" if ok else why))
    return out


def controls_signature(obj: Mapping[str, Any]) -> str:
    """What the pause panel and the buttons depend on: when it changes, they are
    redrawn (and not on every change, so a form being filled in is left alone)."""
    status = obj.get("status") or {}
    pause = status.get("pause") or {}
    parts = [phase_of(obj), state_of(obj), pause.get("key"), pause.get("kind"),
             len((pause.get("approval") or {}).get("approvals") or []),
             pause.get("rejectedGeneration"), bool(pending_pause(obj))]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def subflows(obj: Mapping[str, Any], children: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Child runs (linked or started by this one), with their phase."""
    out = {c["metadata"]["name"]: {"name": c["metadata"]["name"], "phase": phase_of(c)} for c in children}
    for child, mirror in ((obj.get("status") or {}).get("subflows") or {}).items():
        if child not in out and isinstance(mirror, dict):
            out[child] = {"name": child, "phase": mirror.get("phase", "")}
    return sorted(out.values(), key=lambda c: c["name"])


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def utcnow() -> datetime:
    """The contract's one clock."""
    return vocabulary.now()


__all__ = ["Control", "Filters", "Listing", "controls", "controls_signature", "listing",
           "markdown", "pretty", "row", "subflows", "timeline", "utcnow"]
