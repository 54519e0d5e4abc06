"""Pickle never crosses runs unasked: on a shared claim, pickle entries are neither read
nor written without spec.cache.allowPickle (loading a pickle runs code)."""
from __future__ import annotations

import pytest

from flowrun.sdk.cache import NotSerializable, ResultCache, pickle_allowed


class Exploit:
    def __reduce__(self):
        return (exec, ("import flowrun; flowrun.PWNED = True",))


@pytest.mark.parametrize("spec,allowed", [
    ({}, True),
    ({"cache": {"size": "1Gi"}}, True),
    ({"cache": {"claimName": "shared"}}, False),
    ({"cache": {"claimName": "shared", "allowPickle": False}}, False),
    ({"cache": {"claimName": "shared", "allowPickle": True}}, True),
    ({"cache": {"claimName": ""}}, True),
])
def test_pickle_is_allowed_on_a_shared_claim_only_with_the_opt_in(spec, allowed):
    assert pickle_allowed(spec) is allowed


def test_another_runs_pickle_entry_on_a_shared_claim_is_not_loaded(tmp_path, caplog):
    import flowrun
    attacker = ResultCache(tmp_path, "ns/attacker/u1", allow_pickle=True)
    victim = ResultCache(tmp_path, "ns/victim/u2", allow_pickle=False)
    # The attacker writes a pickle where the victim looks (a cross-run key, or its run dir).
    for path in (victim.key_path("shared-key"), victim.task_path("step-0")):
        attacker.write(path, Exploit(), serializer="pickle")
        assert victim.read(path) is None
    assert not hasattr(flowrun, "PWNED")
    assert "allowPickle" in caplog.text
    # With the opt-in the entry is loaded (proof the test above can fail).
    opted_in = ResultCache(tmp_path, "ns/victim/u2", allow_pickle=True)
    attacker.write(victim.key_path("ok"), {"a": 1}, serializer="pickle")
    assert opted_in.read(victim.key_path("ok")).value == {"a": 1}


def test_writing_pickle_on_a_shared_claim_without_the_opt_in_is_refused(tmp_path):
    cache = ResultCache(tmp_path, "ns/r/u", allow_pickle=False)
    with pytest.raises(NotSerializable, match="allowPickle"):
        cache.write(cache.task_path("t"), object(), serializer="pickle")
    cache.write(cache.task_path("t"), {"json": True})
    assert cache.read(cache.task_path("t")).value == {"json": True}
