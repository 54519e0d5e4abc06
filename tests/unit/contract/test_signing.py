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


@pytest.mark.parametrize("length, ok", [(15, False), (16, True)])
def test_a_key_needs_at_least_16_characters(length, ok):
    text = json.dumps({"current": "k1", "keys": {"k1": {"key": "k" * length}}})
    if ok:
        assert parse_keyring(text).current == SigningKey("k1", b"k" * 16)
    else:
        with pytest.raises(KeyRingError, match='^key k1: needs a "key" of at least 16 characters$'):
            parse_keyring(text)


@pytest.mark.parametrize("entry", ["a string", {"key": 1234567890123456789}, {}])
def test_a_key_entry_that_is_not_an_object_with_a_text_key_is_refused(entry):
    with pytest.raises(KeyRingError, match='^key k1: needs a "key" of at least 16 characters$'):
        parse_keyring(json.dumps({"current": "k1", "keys": {"k1": entry}}))


def test_a_ring_file_of_the_wrong_shape_shows_the_expected_one():
    with pytest.raises(KeyRingError) as info:
        parse_keyring('{"keys": []}')
    assert str(info.value) == 'expected {"current": KID, "keys": {KID: {"key": ..., "verifyUntil": ...}}}'


def test_a_verify_until_that_is_not_text_is_refused():
    """`verifyUntil: 20261209` (a number) is no time: refused, not read as no limit."""
    with pytest.raises(KeyRingError, match="verifyUntil 20261209 is not a time"):
        ring("k1", k1={"key": "1" * 32}, k0={"key": "0" * 32, "verifyUntil": 20261209})


def test_no_secret_is_no_ring():
    """Without a TLS key (or with an empty one) nothing is signed and nothing verifies."""
    for secret in (None, b""):
        assert single(secret) is NO_KEYS and single(secret).sign(RECORD) == ""


def test_the_canonical_form_is_fixed_to_the_byte():
    """Signatures outlive the operator that wrote them: the canonical JSON they are over
    (sorted keys, no spaces, UTF-8 as it is) must not change."""
    from flowrun.contract.signing import canonical
    assert canonical({"b": "Zoë", "a": [1, {"c": None}]}) == '{"a":[1,{"c":null}],"b":"Zoë"}'.encode()
