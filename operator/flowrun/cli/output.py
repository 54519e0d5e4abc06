"""Everything the `flowrun` command prints: tables (phase in colour on a terminal, plain
when piped), ages, the detail view of one run with its expected input, and -o json/yaml/name.
Pure functions of plain values; the commands decide what to print where."""
from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence, TextIO

import yaml

from ..contract import input_schema as schemas
from ..contract.phases import Phase
from ..contract.lifecycle.view import PauseView
from ..contract.lifecycle.vocabulary import OnTimeout

PHASE_COLOURS = {
    "Pending": "2",        # dim
    "Running": "36",       # cyan
    "Paused": "33",        # yellow
    "Suspended": "35",     # magenta
    "Completed": "32",     # green
    "Failed": "31;1",      # bold red
    "Cancelled": "31",     # red
}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
OUTPUT_FORMATS = ("json", "yaml", "name")


def use_colour(stream: TextIO, mode: str = "auto") -> bool:
    """`always`/`never`, or (auto) a terminal without NO_COLOR and not TERM=dumb."""
    if mode == "always":
        return True
    if mode == "never":
        return False
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def paint(text: str, code: str | None, enabled: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if enabled and code and text else text


def phase(text: str | None, enabled: bool) -> str:
    text = text or ""
    return paint(text, PHASE_COLOURS.get(text), enabled)


def bold(text: str, enabled: bool) -> str:
    return paint(text, "1", enabled)


def visible_len(text: str) -> int:
    return len(_ANSI.sub("", text))


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, colour: bool = False,
          max_last: int | None = None) -> str:
    """Columns separated by three spaces, as kubectl prints them. Cells may carry
    colour codes (widths count visible characters). The last column is not padded and is
    cut to `max_last` characters."""
    body = [[str(c) for c in r] for r in rows]
    if max_last:
        body = [r[:-1] + [_cut(r[-1], max_last)] for r in body]
    widths = [visible_len(h) for h in headers]
    for row in body:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], visible_len(cell))
    lines = []
    for row, is_header in [(list(headers), True)] + [(r, False) for r in body]:
        cells = []
        for i, cell in enumerate(row):
            pad = "" if i == len(row) - 1 else " " * (widths[i] - visible_len(cell))
            cells.append(cell + pad)
        line = "   ".join(cells).rstrip()
        lines.append(bold(line, colour) if is_header else line)
    return "\n".join(lines)


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def duration(seconds: float) -> str:
    """kubectl's short human durations: 45s, 3m12s, 5h3m, 2d4h, 400d."""
    s = int(max(seconds, 0))
    if s < 120:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 10:
        return f"{m}m{s}s" if s else f"{m}m"
    if m < 60:
        return f"{m}m"
    h, m = divmod(m, 60)
    if h < 8:
        return f"{h}h{m}m" if m else f"{h}h"
    if h < 48:
        return f"{h}h"
    d, h = divmod(h, 24)
    if d < 8:
        return f"{d}d{h}h" if h else f"{d}d"
    return f"{d}d"


def age(timestamp: Any, now: datetime) -> str:
    when = parse_time(timestamp)
    return duration((now - when).total_seconds()) if when else "<unknown>"


# ---- lists ----------------------------------------------------------------------------

def list_rows(items: Sequence[dict[str, Any]], now: datetime, *, all_namespaces: bool,
              colour: bool) -> tuple[list[str], list[list[str]]]:
    headers = ["NAME", "PHASE", "FLOW", "ATTEMPT", "AGE", "MESSAGE"]
    if all_namespaces:
        headers.insert(0, "NAMESPACE")
    rows = []
    for obj in items:
        meta, spec, status = obj.get("metadata", {}), obj.get("spec") or {}, obj.get("status") or {}
        row = [meta.get("name", ""), phase(status.get("phase") or "", colour),
               spec.get("flow", ""), str(status.get("attempt", "") or ""),
               age(meta.get("creationTimestamp"), now),
               " ".join(str(status.get("message") or "").split())]
        if all_namespaces:
            row.insert(0, meta.get("namespace", ""))
        rows.append(row)
    return headers, rows


def sort_key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata", {})
    return meta.get("namespace", ""), meta.get("name", "")


# ---- machine formats --------------------------------------------------------------

def _clean(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without managedFields (noise for a person and for most scripts)."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return {**obj, "metadata": meta}


def dump(objs: dict[str, Any] | list[dict[str, Any]], fmt: str) -> str:
    """-o json|yaml|name for one object or a list (a `List` as kubectl prints it)."""
    if fmt == "name":
        items = objs if isinstance(objs, list) else [objs]
        return "\n".join(o.get("metadata", {}).get("name", "") for o in items)
    if isinstance(objs, list):
        data: Any = {"apiVersion": "v1", "kind": "List", "items": [_clean(o) for o in objs]}
    else:
        data = _clean(objs)
    if fmt == "json":
        return json.dumps(data, indent=2, sort_keys=False)
    if fmt == "yaml":
        return yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip("\n")
    raise ValueError(f"unknown output format {fmt!r}")


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False)


# ---- one run, in detail -------------------------------------------------------------

def input_fields_table(schema: dict[str, Any] | None) -> str:
    """The expected input as a table: FIELD TYPE REQUIRED DEFAULT DESCRIPTION."""
    rows = []
    for f in schemas.fields(schema):
        notes = [f.description] if f.description else []
        if f.enum:
            notes.append("one of: " + ", ".join(compact_json(v) if not isinstance(v, str) else v
                                                for v in f.enum))
        notes.extend(f.constraints)
        rows.append([f.name, f.type, "yes" if f.required else "no",
                     f.default_text() if f.has_default else "-", "; ".join(notes)])
    if not rows:
        return ""
    return table(["FIELD", "TYPE", "REQUIRED", "DEFAULT", "DESCRIPTION"], rows)


def resume_hint(name: str, namespace: str | None, schema: dict[str, Any] | None) -> str:
    """The command that resumes this run, with placeholders for required fields."""
    ns = f" -n {namespace}" if namespace else ""
    args = "".join(f" --input {f.name}=<{f.type.split(' ')[0]}>"
                   for f in schemas.fields(schema) if f.required)
    return f"flowrun resume {name}{ns}{args}"


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())


def describe(obj: dict[str, Any], now: datetime, *, colour: bool = False,
             namespace_hint: str | None = None) -> str:
    """The `flowrun get NAME` view."""
    meta, spec, status = obj.get("metadata", {}), obj.get("spec") or {}, obj.get("status") or {}
    name = meta.get("name", "")
    ph = status.get("phase") or "Pending"
    lines: list[tuple[str, str]] = [
        ("Name", name),
        ("Namespace", meta.get("namespace", "")),
        ("Flow", spec.get("flow", "")),
    ]
    if spec.get("parameters"):
        lines.append(("Parameters", compact_json(spec["parameters"])))
    state = spec.get("state") or "Running"
    state_note = f"   (desired: {state})" if state not in (ph, "Running") or \
        (state == "Running" and Phase(ph).stopped) else ""
    lines.append(("Phase", phase(ph, colour) + state_note))
    lines.append(("Attempt", str(status.get("attempt", 0))))
    lines.append(("Job", status.get("jobName") or "-"))
    if spec.get("image"):
        lines.append(("Image", spec["image"]))
    if meta.get("labels"):
        lines.append(("Labels", ", ".join(f"{k}={v}" for k, v in sorted(meta["labels"].items()))))
    lines.append(("Created", f"{meta.get('creationTimestamp', '')} ({age(meta.get('creationTimestamp'), now)} ago)"))
    if status.get("completionTime"):
        lines.append(("Finished", status["completionTime"]))
    if status.get("message"):
        lines.append(("Message", " ".join(str(status["message"]).split())))
    width = max(len(k) for k, _ in lines) + 2
    out = [f"{k + ':':<{width}}{v}" for k, v in lines]

    pause = status.get("pause") or {}
    if pause and Phase(ph).stopped:
        out.append("")
        out.append(bold("Pause:", colour))
        by = pause.get("requestedBy")
        pause_lines = [("Key", pause.get("key", "")),
                       ("Kind", pause.get("kind", "") + (f" (requested by {by})" if by else ""))]
        if pause.get("since"):
            pause_lines.append(("Since", f"{pause['since']} ({age(pause['since'], now)} ago)"))
        deadline = parse_time(pause.get("deadline"))
        if deadline:
            left = (deadline - now).total_seconds()
            when = f"{duration(left)} left" if left > 0 else "expired"
            pause_lines.append(("Deadline", f"{pause['deadline']} ({when})"))
            view = PauseView.of(pause)
            if view is not None and view.timed_out is not None:
                pause_lines.append(("On timeout", "nobody answered in time: the system resumes it"))
            elif view is not None and view.on_timeout is not OnTimeout.FAIL:
                pause_lines.append(("On timeout", view.if_unanswered()))
        else:
            pause_lines.append(("Deadline", "none (waits until resumed)"))
        approval = pause.get("approval") or {}
        if approval.get("approvers") or int(approval.get("required") or 1) > 1:
            given = approval.get("approvals") or []
            pause_lines.append(("Approvers", ", ".join(approval.get("approvers") or []) or "anyone allowed to resume"))
            pause_lines.append(("Approvals", f"{len(given)} of {approval.get('required', 1)}"
                                + (f" ({', '.join(a.get('by', '?') for a in given)})" if given else "")
                                + ("" if approval.get("allowCreator") else "; the run's creator may not approve")))
        pw = max(len(k) for k, _ in pause_lines) + 2
        out.extend(f"  {k + ':':<{pw}}{v}" for k, v in pause_lines)
        schema = pause.get("inputSchema")
        out.append("")
        if pause.get("description"):
            # The flow's prompt (Markdown, shown as written), above what it expects.
            out.append(bold("Description:", colour))
            out.append(_indent(str(pause["description"]).strip("\n")))
            out.append("")
        if schema:
            title = schema.get("title")
            out.append(bold("Expected input" + (f" ({title})" if title else "") + ":", colour))
            fields_text = input_fields_table(schema)
            out.append(_indent(fields_text) if fields_text else "  (an object with no fields)")
            if schema.get("description"):
                out.append(_indent(" ".join(str(schema["description"]).split())))
        else:
            out.append(bold("Expected input:", colour) + " none")
        out.append(f"  Resume with: {resume_hint(name, namespace_hint, schema)}")

    if ph == "Completed" and "result" in status:
        out.append("")
        out.append(bold("Result:", colour))
        result = status["result"]
        text = json.dumps(result, indent=2, ensure_ascii=False) if not isinstance(result, str) \
            else json.dumps(result, ensure_ascii=False)
        out.append(_indent(text))

    received = {h.get("key", ""): h["input"] for h in status.get("history") or []
                if h.get("action") == "resumed" and h.get("input")}
    received.update({key: compact_json(value) for key, value in (status.get("inputs") or {}).items()})
    if received:
        out.append("")
        out.append(bold("Inputs received:", colour))
        for key, value in received.items():
            out.append(f"  {key}: {value}")

    history = status.get("history") or []
    if history:
        out.append("")
        out.append(bold("History:", colour))
        rows = [[h.get("time", ""), h.get("action", ""), h.get("by", "") or "-",
                 h.get("key", "") or "-", " ".join(str(h.get("message", "")).split())]
                for h in history]
        out.append(_indent(table(["TIME", "ACTION", "BY", "KEY", "MESSAGE"], rows, max_last=100)))
    return "\n".join(out)
