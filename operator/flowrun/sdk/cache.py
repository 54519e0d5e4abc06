"""The result cache: finished task results on the run's volume.

Why it exists: a suspended run is torn down and later runs again from the top; every
task that already finished must return its stored result instead of running again.
Two kinds of entries live side by side:

- per-run entries, keyed by the task's identity in this FlowRun (task name + call index),
  under `runs/<namespace>/<name>/<uid>/tasks/`: found again by the re-execution;
- cross-run entries, keyed by a task's `cache_key_fn`, under `keys/`: found by any run
  that mounts the same claim, until `cache_expiration`.

Pickle never crosses runs unasked: loading a pickle runs code, and every run that mounts
a shared claim (`spec.cache.claimName`) can write any file on it. So on a shared claim
pickle entries are neither read nor written unless the FlowRun sets
`spec.cache.allowPickle: true`, which means "every run sharing this claim can run code
in the others".

What it must never do: leave a half-written entry (writes are temp file + fsync +
rename) or crash the flow on an unreadable one (that is a miss, with a warning).
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import pickle
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from pydantic_core import PydanticSerializationError

log = logging.getLogger("flowrun.cache")

FORMAT = 1
SERIALIZERS = ("json", "pickle")
_ANY = TypeAdapter(Any)


class NotSerializable(TypeError):
    """The value cannot be stored with the chosen serializer."""


@dataclass(frozen=True)
class Hit:
    value: Any


def _safe_name(key: str) -> str:
    """A file name for any key: readable when it is already safe, else hashed."""
    if re.fullmatch(r"[A-Za-z0-9_.-]{1,120}", key) and not key.startswith("."):
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    readable = re.sub(r"[^A-Za-z0-9_.-]", "_", key)[:60].lstrip(".")
    return f"{readable}-{digest}"


def encode(value: Any, serializer: str) -> Any:
    """The JSON-able payload for `value`."""
    if serializer == "json":
        try:
            return _ANY.dump_python(value, mode="json")
        except PydanticSerializationError as exc:
            raise NotSerializable(
                f"{type(value).__name__} is not JSON-serialisable ({exc}); "
                "use @task(result_serializer='pickle') to store it with pickle"
            ) from None
    if serializer == "pickle":
        return base64.b64encode(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)).decode()
    raise ValueError(f"unknown result serializer {serializer!r}; use one of {SERIALIZERS}")


def decode(payload: Any, serializer: str, return_type: Any = None) -> Any:
    if serializer == "pickle":
        return pickle.loads(base64.b64decode(payload))
    if return_type is not None:
        # Give back the declared type (a model, a datetime...), not its JSON form.
        return TypeAdapter(return_type).validate_python(payload)
    return payload


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a reader sees the old file or the whole new one,
    never a torn one, even if the process is SIGKILLed at any instruction."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def pickle_allowed(spec: dict[str, Any]) -> bool:
    """May this FlowRun (its `spec`) use pickle entries? Always on its own claim; on a
    shared claim only with `spec.cache.allowPickle: true`."""
    cache = spec.get("cache") or {}
    return not cache.get("claimName") or cache.get("allowPickle") is True


PICKLE_REFUSED = ("pickle entries are refused on a shared cache claim (spec.cache.claimName): "
                  "every run sharing it could run code in this one; set spec.cache.allowPickle: true "
                  "to opt in, or use result_serializer='json'")


class ResultCache:
    """Results of one FlowRun (and the cross-run keys) under `root`. With
    `allow_pickle=False` (a shared claim without the opt-in) pickle entries are misses
    and pickle writes raise NotSerializable."""

    def __init__(self, root: str | os.PathLike[str], run_scope: str, *, allow_pickle: bool = True):
        self.allow_pickle = allow_pickle
        self.root = Path(root)
        self.run_dir = self.root / "runs" / run_scope
        self.keys_dir = self.root / "keys"

    # ---- paths -----------------------------------------------------------------------

    def task_path(self, identity: str) -> Path:
        return self.run_dir / "tasks" / f"{_safe_name(identity)}.json"

    def key_path(self, cache_key: str) -> Path:
        return self.keys_dir / f"{_safe_name(cache_key)}.json"

    @property
    def flow_result_path(self) -> Path:
        return self.run_dir / "result.json"

    def input_path(self, pause_key: str) -> Path:
        """The input a pause was resumed with (it leaves the FlowRun's status once here)."""
        return self.run_dir / "inputs" / f"{_safe_name(pause_key)}.json"

    def subflow_path(self, child: str) -> Path:
        """A subflow's result, once the parent's runner received it."""
        return self.run_dir / "subflows" / f"{_safe_name(child)}.json"

    # ---- reading and writing ---------------------------------------------------------

    def read(self, path: Path, *, return_type: Any = None, now: datetime | None = None,
             fingerprint: str | None = None) -> Hit | None:
        """The stored value, or None on a miss. Unreadable or expired entries are misses,
        and so is an entry stored with another `fingerprint` (a different call)."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("result cache entry %s is unreadable (%s); running the task again", path, exc)
            return None
        try:
            entry = json.loads(raw)
            if not isinstance(entry, dict) or entry.get("format") != FORMAT:
                raise ValueError("not a flowrun cache entry")
            if entry.get("serializer") == "pickle" and not self.allow_pickle:
                log.warning("result cache entry %s not loaded: %s", path, PICKLE_REFUSED)
                return None
            expires = entry.get("expires")
            if expires:
                when = now or datetime.now(timezone.utc)
                if datetime.fromisoformat(expires) <= when:
                    return None
            if _other_call(path, entry.get("fingerprint"), fingerprint):
                return None
            return Hit(decode(entry["value"], entry.get("serializer", "json"), return_type))
        except Exception as exc:  # a corrupt entry must never crash the flow
            log.warning("result cache entry %s is corrupt (%s: %s); treating it as a miss",
                        path, type(exc).__name__, exc)
            return None

    def write(
        self, path: Path, value: Any, *, serializer: str = "json", task: str = "",
        expiration: timedelta | None = None, now: datetime | None = None,
        fingerprint: str | None = None,
    ) -> None:
        if serializer == "pickle" and not self.allow_pickle:
            raise NotSerializable(PICKLE_REFUSED)
        created = now or datetime.now(timezone.utc)
        entry = {
            "format": FORMAT,
            "fingerprint": fingerprint,
            "serializer": serializer,
            "task": task,
            "created": created.isoformat(),
            "expires": (created + expiration).isoformat() if expiration else None,
            "value": encode(value, serializer),
        }
        atomic_write(path, json.dumps(entry, separators=(",", ":")).encode())


def _other_call(path: Path, stored: str | None, wanted: str | None) -> bool:
    """Was the entry stored by a call with other inputs or code than this one?"""
    if stored and wanted and stored != wanted:
        log.info("result cache entry %s was stored by a call with other inputs or code; "
                 "running the task again", path.name)
        return True
    return False


class MemoryCache(ResultCache):
    """Used when a flow runs outside a FlowRun (plain `python my_flow.py`): tasks still
    go through the cache logic, nothing is written to disk."""

    def __init__(self) -> None:
        super().__init__("/nonexistent-flowrun-cache", "local")
        self._entries: dict[Path, tuple[Any, str, datetime | None, str | None]] = {}

    def read(self, path: Path, *, return_type: Any = None, now: datetime | None = None,
             fingerprint: str | None = None) -> Hit | None:
        if path not in self._entries:
            return None
        payload, serializer, expires, stored = self._entries[path]
        if expires and expires <= (now or datetime.now(timezone.utc)):
            return None
        if _other_call(path, stored, fingerprint):
            return None
        return Hit(decode(payload, serializer, return_type))

    def write(self, path: Path, value: Any, *, serializer: str = "json", task: str = "",
              expiration: timedelta | None = None, now: datetime | None = None,
              fingerprint: str | None = None) -> None:
        created = now or datetime.now(timezone.utc)
        self._entries[path] = (encode(value, serializer), serializer,
                               created + expiration if expiration else None, fingerprint)
