"""Inputs sent to a running flow (Prefect's send_input / receive_input): the pure rules.

How an input travels (docs/design.md, "Runtime inputs"):

1. The sender creates a `FlowRunInput` (a send request) in the run's namespace: the
   target (`spec.flowRun`, the run's name or uid, also the label `flowrun.io/run`), the
   `key` (`<key_prefix>-<uuid>`), the JSON `value` and `sender`, which the chart's
   ValidatingAdmissionPolicy requires to be the API server's user name of the request.
   A create response returns only what the sender created, so no sender reads another's.
2. The operator lists the pending requests of the run (`flowrun.io/run in (name, uid)`),
   oldest revision first, appends them to the run's inbox (`FlowRunInbox` pages owned by
   the FlowRun) and deletes the requests. Ordering is etcd's: a list is a snapshot, so a
   request older than one delivered was delivered with it or before; `lastRevision`
   of the inbox is the mark of what was delivered (requests are never updated).
3. The run's pod may `get`/`watch` only its own inbox pages (its Role names them), and
   yields entries in order, filtered by key prefix and excluded keys.

Everything here is a pure function of plain data.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .constants import MAX_INPUT_BYTES
from .objects import InboxPageView, InputRequestView, Meta, revision_of

INPUT_KIND = "FlowRunInput"
INPUT_PLURAL = "flowruninputs"
INBOX_KIND = "FlowRunInbox"
INBOX_PLURAL = "flowruninboxes"

# A page of an inbox holds at most this many entries or bytes of entries; a run has at
# most MAX_PAGES pages (the run's Role names each), so at most 32,000 inputs and 16 MiB.
PAGE_MAX_ENTRIES = 1000
PAGE_MAX_BYTES = 512 * 1024
MAX_PAGES = 32
MAX_VALUE_BYTES = MAX_INPUT_BYTES  # one input's value, as for a resume's input
MAX_KEY_CHARS = 253
# An input to a run that does not exist waits this long for it (it may be sent just
# before the run is created), then is dropped with a Warning Event (the operator's
# setting FLOWRUN_INPUT_ORPHAN_SECONDS).
ORPHAN_GRACE_SECONDS = 600.0
_KEY = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
UID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
RUNNER_ACCOUNT_SUFFIX = "-runner"


def page_name(run: str, index: int) -> str:
    """The name of page `index` (0, 1, ...) of a run's inbox."""
    return f"{run}-inbox-{index}"


def page_names(run: str) -> list[str]:
    """Every page a run may ever have (its Role grants these by name)."""
    return [page_name(run, i) for i in range(MAX_PAGES)]


# ---- keys ---------------------------------------------------------------------------

def automatic_prefix(type_name: str) -> str:
    """The key prefix of a plain type's input (Prefect's `<type>automaticruninput-auto`)."""
    return f"{type_name.lower()}automaticruninput-auto"


def model_prefix(class_name: str) -> str:
    """The key prefix of a RunInput class's input (Prefect's `<class>-auto`)."""
    return f"{class_name.lower()}-auto"


def new_key(prefix: str, suffix: str) -> str:
    return f"{prefix}-{suffix}"


def key_problems(key: str) -> list[str]:
    if not key:
        return ["key: must not be empty"]
    if len(key) > MAX_KEY_CHARS:
        return [f"key: longer than {MAX_KEY_CHARS} characters"]
    if not _KEY.match(key):
        return ["key: only letters, digits, '-', '_' and '.', starting and ending with a letter or digit"]
    return []


def value_bytes(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), sort_keys=True).encode())


def value_problems(value: Any) -> list[str]:
    try:
        size = value_bytes(value)
    except (TypeError, ValueError) as exc:
        return [f"value: not JSON: {exc}"]
    if size > MAX_VALUE_BYTES:
        return [f"value: {size} bytes, more than the {MAX_VALUE_BYTES} an input may have"]
    return []


# ---- the send request ------------------------------------------------------------------

def request(namespace: str, target: str, key: str, value: Any, sender: str,
            claimed_sender: str | None = None, label_run: str = "flowrun.io/run") -> dict[str, Any]:
    """The FlowRunInput a sender creates (`target`: the run's name or uid; `sender`: the
    sender's own user name, as the API server knows it: the admission policy checks)."""
    spec: dict[str, Any] = {"flowRun": target, "key": key, "value": value, "sender": sender}
    if claimed_sender:
        spec["claimedSender"] = claimed_sender[:253]
    return {"apiVersion": "flowrun.io/v1alpha1", "kind": INPUT_KIND,
            "metadata": {"generateName": "input-", "namespace": namespace, "labels": {label_run: target}},
            "spec": spec}


def sender_run(username: str, namespace: str) -> str | None:
    """The FlowRun whose own runner account `username` is (its pod sent the input), else
    None. The operator gives each run the account `<run>-runner` (controller/resources.py)."""
    prefix = f"system:serviceaccount:{namespace}:"
    if not username.startswith(prefix):
        return None
    account = username[len(prefix):]
    if not account.endswith(RUNNER_ACCOUNT_SUFFIX) or account == RUNNER_ACCOUNT_SUFFIX:
        return None
    return account[:-len(RUNNER_ACCOUNT_SUFFIX)]


def revision(obj: dict[str, Any]) -> int:
    return revision_of(Meta.of(obj))


def entry_of(req: dict[str, Any]) -> dict[str, Any]:
    """The inbox entry of a send request: what the receiving flow sees."""
    view = InputRequestView.of(req)
    entry: dict[str, Any] = {
        "name": view.meta.name, "key": view.key, "value": view.value,
        "sender": view.sender, "sentAt": view.meta.created or "", "revision": str(view.revision),
    }
    run = sender_run(view.sender, view.meta.namespace)
    if run:
        entry["senderRun"] = run
    if view.claimed_sender:
        entry["claimedSender"] = view.claimed_sender
    return entry


def sent_at(req: dict[str, Any]) -> datetime | None:
    """When the request was created (its creationTimestamp), or None if it does not say."""
    text = str(InputRequestView.of(req).meta.created or "")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


def orphans(requests: Iterable[dict[str, Any]], now: datetime, grace_seconds: float) -> list[dict[str, Any]]:
    """Of the requests for a run that does not exist (the caller found neither its name
    nor its uid), those that waited longer than `grace_seconds`: they are dropped, each
    with a Warning Event about it (an input may be sent shortly before its run is
    created; past the grace, to a run that never came or was deleted, it is refused)."""
    old = []
    for req in requests:
        when = sent_at(req)
        if when is None or (now - when).total_seconds() >= grace_seconds:
            old.append(req)
    return old


def orphan_message(req: dict[str, Any], namespace: str, grace_seconds: float) -> str:
    view = InputRequestView.of(req)
    return (f"input {view.meta.name} (key {view.key}) from {view.sender} "
            f"dropped: FlowRun {view.flow_run} does not exist in namespace {namespace} "
            f"(an input waits {grace_seconds:.0f} s for its run to be created)")


def request_problems(req: dict[str, Any]) -> list[str]:
    view = InputRequestView.of(req)
    return key_problems(view.key) + value_problems(view.value)


def pending(requests: Iterable[dict[str, Any]], last_revision: int) -> list[dict[str, Any]]:
    """The requests not delivered yet, oldest first (etcd's order)."""
    return sorted((r for r in requests if revision(r) > last_revision), key=revision)


# ---- pages ----------------------------------------------------------------------------

@dataclass
class PageState:
    """What the operator knows of a run's last inbox page (never the entries themselves)."""
    index: int = 0
    entries: int = 0
    bytes: int = 0
    last_revision: int = 0
    exists: bool = False


@dataclass
class PageWrite:
    """One write of a delivery: `seal` the page `index` (no more entries), or append
    `entries` to it (creating it first when `create`)."""
    index: int
    entries: list[dict[str, Any]] = field(default_factory=list)
    create: bool = False
    seal: bool = False
    last_revision: int = 0
    bytes: int = 0


class InboxFull(Exception):
    """The run's inbox has MAX_PAGES full pages: the first `taken` entries fit (with
    `writes`, leaving `after`), the rest do not."""

    def __init__(self, message: str, writes: list["PageWrite"], after: PageState, taken: int) -> None:
        super().__init__(message)
        self.writes, self.after, self.taken = writes, after, taken


def entry_bytes(entry: dict[str, Any]) -> int:
    return len(json.dumps(entry, separators=(",", ":"), sort_keys=True).encode())


def plan(state: PageState, entries: Sequence[dict[str, Any]]) -> tuple[list[PageWrite], PageState]:
    """The writes that append `entries` (in order) to the inbox whose last page is
    `state`, and the state after them. A page that cannot take the next entry is sealed
    (a write of its own, before the next page is created), so a reader that sees a sealed
    page knows every entry of it. Raises InboxFull when the last page is full before
    every entry is in (it carries the writes of those that fit)."""
    writes: list[PageWrite] = []
    cur = PageState(**vars(state))
    write: PageWrite | None = None
    for taken, entry in enumerate(entries):
        size = entry_bytes(entry)
        if cur.entries + 1 > PAGE_MAX_ENTRIES or (cur.entries and cur.bytes + size > PAGE_MAX_BYTES):
            if cur.index + 1 >= MAX_PAGES:
                raise InboxFull(f"inbox: full ({MAX_PAGES} pages of at most {PAGE_MAX_ENTRIES} inputs or "
                                f"{PAGE_MAX_BYTES // 1024} KiB each); no more inputs are taken", writes, cur, taken)
            writes.append(PageWrite(cur.index, seal=True, last_revision=cur.last_revision, bytes=cur.bytes))
            cur = PageState(index=cur.index + 1)
            write = None
        if write is None:
            write = PageWrite(cur.index, create=not cur.exists)
            writes.append(write)
            cur.exists = True
        write.entries.append(entry)
        cur.entries += 1
        cur.bytes += size
        cur.last_revision = max(cur.last_revision, int(entry.get("revision") or 0))
        write.last_revision = cur.last_revision
        write.bytes = cur.bytes
    return writes, cur


def state_of(page: dict[str, Any] | None, index: int) -> PageState:
    if page is None:
        return PageState(index=index)
    view = InboxPageView.of(page)
    return PageState(index=index, entries=view.entries, bytes=view.bytes, last_revision=view.last_revision,
                     exists=True)


def page_object(namespace: str, run: str, owner: dict[str, Any], write: PageWrite) -> dict[str, Any]:
    """A new page, with `write`'s entries."""
    return {"apiVersion": "flowrun.io/v1alpha1", "kind": INBOX_KIND,
            "metadata": {"name": page_name(run, write.index), "namespace": namespace,
                         "labels": {"flowrun.io/run": run}, "ownerReferences": [owner]},
            "spec": {"flowRun": run, "page": write.index, "entries": list(write.entries),
                     "lastRevision": str(write.last_revision), "bytes": write.bytes, "sealed": False}}


def page_patch(mark: int, write: PageWrite) -> list[dict[str, Any]]:
    """A JSON patch appending `write`'s entries to (or sealing) an existing page, guarded
    by the page's delivery mark `mark` (a `test` of lastRevision): a stale state makes it
    fail, never doubles an entry."""
    ops: list[dict[str, Any]] = [{"op": "test", "path": "/spec/lastRevision", "value": str(mark)}]
    if write.seal:
        return ops + [{"op": "replace", "path": "/spec/sealed", "value": True}]
    ops += [{"op": "add", "path": "/spec/entries/-", "value": e} for e in write.entries]
    return ops + [{"op": "replace", "path": "/spec/lastRevision", "value": str(write.last_revision)},
                  {"op": "replace", "path": "/spec/bytes", "value": write.bytes}]


# ---- the receiving side ---------------------------------------------------------------------

def matches(entry: dict[str, Any], key_prefix: str | None, exclude_keys: Iterable[str] = ()) -> bool:
    key = str(entry.get("key") or "")
    if key_prefix is not None and not key.startswith(key_prefix):
        return False
    return key not in set(exclude_keys)


def next_match(entries: Sequence[dict[str, Any]], start: int, key_prefix: str | None,
               exclude_keys: Iterable[str] = ()) -> int | None:
    """The index of the first entry at or after `start` that the receiver wants."""
    excluded = set(exclude_keys)
    for i in range(start, len(entries)):
        if matches(entries[i], key_prefix, excluded):
            return i
    return None


def filter_entries(entries: Sequence[dict[str, Any]], key_prefix: str, limit: int = 1,
                   exclude_keys: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Prefect's filter_flow_run_input: the first `limit` entries with the prefix, in order."""
    excluded = set(exclude_keys)
    return [e for e in entries if matches(e, key_prefix, excluded)][:max(limit, 0)]


def find_key(entries: Sequence[dict[str, Any]], key: str) -> dict[str, Any] | None:
    """The last entry with exactly `key` (Prefect's read_flow_run_input)."""
    found = None
    for entry in entries:
        if entry.get("key") == key:
            found = entry
    return found


def metadata(entry: dict[str, Any], receiver: str) -> dict[str, Any]:
    """Prefect's RunInputMetadata fields (key, sender, receiver), plus the sending run."""
    return {"key": entry.get("key", ""), "sender": entry.get("sender") or None, "receiver": receiver,
            "sender_run": entry.get("senderRun") or None}


def target_of(flow_run_id: str) -> tuple[str, bool]:
    """(the target as the label carries it, whether it is a uid)."""
    text = str(flow_run_id)
    return text, bool(UID.match(text))


# ---- what the flow waits for (status.receiving) ------------------------------------------

MAX_RECEIVING_SCHEMA_BYTES = 32 * 1024  # as status.pause.inputSchema


def receiving(status: dict[str, Any], key_prefix: str, type_name: str, schema: dict[str, Any] | None,
              description: str | None, now_iso: str) -> dict[str, Any] | None:
    """The `status.receiving` a flow publishes when it waits in receive_input, or None
    when the status says so already (one write per kind of wait, not per input). A schema
    larger than the bound is left out (the sender is then not checked at the door)."""
    if schema is not None and value_bytes(schema) > MAX_RECEIVING_SCHEMA_BYTES:
        schema = None
    current = status.get("receiving") or {}
    if current.get("keyPrefix") == key_prefix and current.get("inputSchema") == schema \
            and current.get("type") == type_name:
        return None
    out: dict[str, Any] = {"keyPrefix": key_prefix, "type": type_name, "inputSchema": schema, "since": now_iso}
    out["description"] = description[:8192] if description else None
    return out


def inbox_full(now_iso: str) -> dict[str, Any]:
    """`status.inbox` once the run's inbox is full: the one write the operator makes to
    the FlowRun about inputs, so that senders who may read the run are refused at the door."""
    return {"full": True, "pages": MAX_PAGES, "entries": MAX_PAGES * PAGE_MAX_ENTRIES, "since": now_iso}


def door_problems(status: dict[str, Any], key: str, value: Any) -> list[str]:
    """Why the run would not take this input: its inbox is full (`status.inbox.full`), or
    it publishes what it waits for and the value does not fit the schema of that key
    prefix; empty when it fits or nothing is known. Inputs of other key prefixes are not
    judged by the schema: they wait for their own receive_input."""
    from .inputs import input_errors
    if (status.get("inbox") or {}).get("full"):
        return [f"inbox: full ({MAX_PAGES} pages of at most {PAGE_MAX_ENTRIES} inputs or "
                f"{PAGE_MAX_BYTES // 1024} KiB each); no more inputs are taken"]
    current = status.get("receiving") or {}
    prefix = current.get("keyPrefix")
    if not prefix or not key.startswith(str(prefix)) or not current.get("inputSchema"):
        return []
    return input_errors(current["inputSchema"], value)
