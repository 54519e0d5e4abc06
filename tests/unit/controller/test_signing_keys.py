"""The operator reads its key ring from the mounted Secret, and again when it changes (a
rotation reaches a running operator); a broken file keeps the last good ring."""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone

from flowrun.controller import template_gate
from flowrun.controller.settings import Settings

NOW = datetime(2026, 12, 2, 12, 0, 0, tzinfo=timezone.utc)


def write(path, current, **keys):
    path.write_text(json.dumps({"current": current, "keys": keys}))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a new mtime, as the kubelet's swap


def test_the_key_ring_file_is_read_again_when_it_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(template_gate, "_loaded", None)
    path = tmp_path / "keyring.json"
    write(path, "k1", k1={"key": "1" * 32})
    settings = Settings(signing_keys_file=str(path))
    first = template_gate.keys(settings)
    signature = first.sign(["x"])
    assert signature.startswith("k1:")
    write(path, "k2", k2={"key": "2" * 32}, k1={"key": "1" * 32, "verifyUntil": "2026-12-09T00:00:00Z"})
    rotated = template_gate.keys(settings)
    assert rotated.sign(["x"]).startswith("k2:") and rotated.verify(["x"], signature, NOW)
    path.write_text("{broken")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 2_000_000_000))
    assert template_gate.keys(settings) is rotated  # the last good ring


def test_without_a_key_ring_file_nothing_is_signed(tmp_path, monkeypatch):
    monkeypatch.setattr(template_gate, "_loaded", None)
    assert not template_gate.keys(Settings(signing_keys_file=str(tmp_path / "missing.json")))
