"""The signing key ring: key ids, rotation with a grace period, and the file format."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from flowrun.contract.signing import NO_KEYS, KeyRing, KeyRingError, SigningKey, digest, parse_keyring, single

NOW = datetime(2026, 12, 2, 12, 0, 0, tzinfo=timezone.utc)
RECORD = ["approval", "ns", "r", "uid-1", "pause-1", 2, "alice", ["finance"], "t", digest({"ok": True})]


def ring(current: str, **keys: dict) -> KeyRing:
    return parse_keyring(json.dumps({"current": current, "keys": keys}))


def test_sign_with_the_old_key_rotate_verify_within_the_grace_not_after():
    before = ring("k1", k1={"key": "1" * 32})
    signature = before.sign(RECORD)
    assert signature.startswith("k1:") and before.verify(RECORD, signature, NOW)
    grace = NOW + timedelta(days=7)
    after = ring("k2", k2={"key": "2" * 32}, k1={"key": "1" * 32, "verifyUntil": grace.strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert after.sign(RECORD).startswith("k2:")
    assert after.verify(RECORD, signature, NOW + timedelta(days=6))
    assert not after.verify(RECORD, signature, grace)
    assert not after.verify(RECORD, signature, grace + timedelta(seconds=1))
    # Removed from the ring: never again.
    assert not ring("k2", k2={"key": "2" * 32}).verify(RECORD, signature, NOW)


@pytest.mark.parametrize("signature", [None, "", "deadbeef", "k1:", "k9:" + "0" * 64, 42, "k1:" + "0" * 64])
def test_what_does_not_verify(signature):
    assert not ring("k1", k1={"key": "1" * 32}).verify(RECORD, signature, NOW)


def test_a_signature_covers_every_part_of_the_record():
    keys = single(b"k" * 32)
    signature = keys.sign(RECORD)
    for i in range(len(RECORD)):
        changed = list(RECORD)
        changed[i] = "other"
        assert not keys.verify(changed, signature, NOW), i
    assert NO_KEYS.sign(RECORD) == "" and not NO_KEYS.verify(RECORD, signature, NOW) and not NO_KEYS


def test_the_current_key_has_no_end_whatever_the_file_says():
    keys = ring("k1", k1={"key": "1" * 32, "verifyUntil": "2000-01-01T00:00:00Z"})
    assert keys.verify(RECORD, keys.sign(RECORD), NOW)


@pytest.mark.parametrize("text,says", [
    ("not json", "not JSON"),
    ('{"keys": []}', "expected"),
    ('{"current": "k2", "keys": {"k1": {"key": "' + "1" * 32 + '"}}}', "not among the keys"),
    ('{"current": "k1", "keys": {"k1": {"key": "short"}}}', "at least 16"),
    ('{"current": "a b", "keys": {"a b": {"key": "' + "1" * 32 + '"}}}', "letters, digits"),
    ('{"current": "k1", "keys": {"k1": {"key": "' + "1" * 32 + '"}, "k0": {"key": "' + "0" * 32
     + '", "verifyUntil": "soon"}}}', "not a time"),
])
def test_a_bad_key_ring_says_what_is_wrong(text, says):
    with pytest.raises(KeyRingError, match=says):
        parse_keyring(text)


def test_rings_by_hand():
    keys = KeyRing(SigningKey("a", b"x" * 32), (SigningKey("b", b"y" * 32, NOW),))
    old = KeyRing(SigningKey("b", b"y" * 32)).sign(RECORD)
    assert keys.verify(RECORD, old, NOW - timedelta(seconds=1)) and not keys.verify(RECORD, old, NOW)
