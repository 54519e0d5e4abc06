import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pydantic
import pytest

from flowrun.sdk.cache import NotSerializable, ResultCache, atomic_write


class Point(pydantic.BaseModel):
    x: int
    y: int


def test_roundtrip_json_restores_declared_type(tmp_path):
    cache = ResultCache(tmp_path, "ns/run/uid")
    path = cache.task_path("make-1")
    cache.write(path, Point(x=1, y=2))
    assert json.loads(path.read_text())["value"] == {"x": 1, "y": 2}
    assert cache.read(path, return_type=Point).value == Point(x=1, y=2)
    assert cache.read(path).value == {"x": 1, "y": 2}


def test_missing_entry_is_a_miss(tmp_path):
    assert ResultCache(tmp_path, "r").read(tmp_path / "nope.json") is None


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"format": 99}', b"\x00\xff"])
def test_corrupt_entry_is_a_miss_with_a_warning(tmp_path, caplog, content):
    cache = ResultCache(tmp_path, "r")
    path = cache.task_path("t-1")
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    assert cache.read(path) is None
    assert "corrupt" in caplog.text


def test_expired_cross_run_entry_is_a_miss(tmp_path):
    cache = ResultCache(tmp_path, "r")
    path = cache.key_path("k")
    then = datetime(2026, 1, 1, tzinfo=timezone.utc)
    cache.write(path, 5, expiration=timedelta(minutes=1), now=then)
    assert cache.read(path, now=then + timedelta(seconds=30)).value == 5
    assert cache.read(path, now=then + timedelta(minutes=2)) is None


def test_json_refuses_what_it_cannot_store_and_pickle_takes_it(tmp_path):
    cache = ResultCache(tmp_path, "r")
    value = {1, 2, 3}.__class__  # a type object is not JSON
    with pytest.raises(NotSerializable, match="pickle"):
        cache.write(cache.task_path("a-1"), value)
    cache.write(cache.task_path("a-1"), complex(1, 2), serializer="pickle")
    assert cache.read(cache.task_path("a-1")).value == complex(1, 2)


def test_unsafe_keys_become_safe_file_names(tmp_path):
    cache = ResultCache(tmp_path, "r")
    path = cache.key_path("../../etc/passwd")
    assert path.parent == tmp_path / "keys"
    assert ".." not in path.name.split("-")[0] or not path.name.startswith(".")


def test_sigkill_during_writes_never_leaves_a_torn_entry(tmp_path):
    """A child process rewrites one entry with large values in a loop; we SIGKILL it at
    random moments; every time, the entry is absent or whole and valid."""
    target = tmp_path / "runs" / "r" / "tasks" / "big-1.json"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[3] / "operator")!r})
        from pathlib import Path
        from flowrun.sdk.cache import ResultCache
        cache = ResultCache({str(tmp_path)!r}, "r")
        i = 0
        print("ready", flush=True)
        while True:
            i += 1
            cache.write(cache.task_path("big-1"), {{"i": i, "blob": "x" * 2_000_000}})
    """)
    cache = ResultCache(tmp_path, "r")
    for delay in (0.05, 0.13, 0.21, 0.34, 0.55):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b"ready"
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            pass
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if target.exists():
            hit = cache.read(target)
            assert hit is not None, "a torn entry was left behind"
            assert len(hit.value["blob"]) == 2_000_000
    # Temp files of killed writers may remain; they are never read as entries.
    leftovers = [p.name for p in target.parent.iterdir() if p.name != target.name]
    assert all(name.startswith(".big-1.json.") and name.endswith(".tmp") for name in leftovers)


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "a" / "b.json"
    atomic_write(path, b"one")
    atomic_write(path, b"two")
    assert path.read_bytes() == b"two"
    assert os.listdir(path.parent) == ["b.json"]
