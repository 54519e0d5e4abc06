"""The operator's signing keys: a key ring with key ids, so keys can be rotated.

Every record the admission webhook signs (a template's approval, a pause's approvals, the
root creator of a subflow) is an HMAC-SHA256 with the ring's current key over the
canonical JSON of what it vouches for, always including the object it is about (its
namespace, name and uid, or, where the API server has not given a uid yet, its creation).
A signature is written `<kid>:<hex>`; it verifies with the key of that id while the key is
in the ring and, for a retired key, until its `verifyUntil` (the rotation's grace period).

The ring comes from the Secret `<release>-signing-keys` (key `keyring.json`, mounted into
the operator's pod; docs/security.md "Rotating the signing key"):

    {"current": "k2",
     "keys": {"k2": {"key": "<random>"},
              "k1": {"key": "<random>", "verifyUntil": "2026-12-09T00:00:00Z"}}}

Pure functions, no I/O: the controller reads the file (controller/template_gate.py).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .status import parse_timestamp

KID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class SigningKey:
    kid: str
    secret: bytes
    # A retired key: its signatures verify until then (None: the current key, or no limit).
    verify_until: datetime | None = None


@dataclass(frozen=True)
class KeyRing:
    current: SigningKey | None
    retired: tuple[SigningKey, ...] = field(default=())

    def sign(self, payload: Sequence[Any]) -> str:
        """`<kid>:<hex>` over the canonical JSON of `payload`; "" without a current key."""
        if self.current is None:
            return ""
        return f"{self.current.kid}:{_mac(self.current.secret, payload)}"

    def verify(self, payload: Sequence[Any], signature: object, now: datetime) -> bool:
        """True when `signature` is a signature of `payload` by a key of this ring that
        may still vouch for it (the current key, or a retired one within its grace)."""
        if not isinstance(signature, str) or ":" not in signature:
            return False
        kid, _, mac = signature.partition(":")
        for key in ([self.current] if self.current else []) + list(self.retired):
            if key.kid != kid:
                continue
            if key.verify_until is not None and now >= key.verify_until:
                return False
            return hmac.compare_digest(mac, _mac(key.secret, payload))
        return False

    def __bool__(self) -> bool:
        return self.current is not None


NO_KEYS = KeyRing(None)


def canonical(value: Any) -> bytes:
    """One byte string per JSON value (keys sorted, no spaces): what is signed and hashed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(value: Any) -> str:
    """sha256 of a JSON value's canonical form (what an approval of an input names)."""
    return hashlib.sha256(canonical(value)).hexdigest()


def _mac(secret: bytes, payload: Sequence[Any]) -> str:
    return hmac.new(secret, canonical(list(payload)), hashlib.sha256).hexdigest()


def single(secret: bytes | None, kid: str = "tls") -> KeyRing:
    """A ring of one key (the webhook's TLS key when no key ring is configured)."""
    return KeyRing(SigningKey(kid, secret)) if secret else NO_KEYS


class KeyRingError(ValueError):
    """A key ring file that cannot be used (said in the operator's log)."""


def parse_keyring(text: str) -> KeyRing:
    """The ring of a `keyring.json` (format above); KeyRingError saying what is wrong."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise KeyRingError(f"not JSON: {exc}") from None
    if not isinstance(doc, Mapping) or not isinstance(doc.get("keys"), Mapping):
        raise KeyRingError('expected {"current": KID, "keys": {KID: {"key": ..., "verifyUntil": ...}}}')
    current_kid = doc.get("current")
    keys: dict[str, SigningKey] = {}
    for kid, entry in doc["keys"].items():
        if not isinstance(kid, str) or not KID.match(kid):
            raise KeyRingError(f"key id {kid!r}: letters, digits, '.', '_' and '-' only")
        if not isinstance(entry, Mapping) or not isinstance(entry.get("key"), str) or len(entry["key"]) < 16:
            raise KeyRingError(f"key {kid}: needs a \"key\" of at least 16 characters")
        until = entry.get("verifyUntil")
        try:
            when = parse_timestamp(until) if isinstance(until, str) else None
        except ValueError:
            when = None
        if until and when is None:
            raise KeyRingError(f"key {kid}: verifyUntil {until!r} is not a time like 2026-12-09T00:00:00Z")
        keys[kid] = SigningKey(kid, entry["key"].encode(), None if kid == current_kid else when)
    if current_kid not in keys:
        raise KeyRingError(f"the current key {current_kid!r} is not among the keys")
    return KeyRing(keys[current_kid], tuple(k for kid, k in sorted(keys.items()) if kid != current_kid))
