"""What the operator registers with kopf, and what that lets it skip."""
from __future__ import annotations

import kopf

import flowrun.controller.handlers as handlers


def test_no_handler_needs_kopfs_diff_base_or_a_finalizer():
    """handlers.NoDiffBase builds no essence, and the operator puts no finalizer on runs:
    both hold only while no on.create/update/delete/resume/field handler, timer or daemon
    is registered (kopf diffs the essence for the former, and adds a finalizer for both)."""
    registry = kopf.get_default_registry()
    assert handlers.FINALIZER  # the name kopf strips from runs an earlier version marked
    assert list(registry._changing.get_all_handlers()) == []
    assert list(registry._spawning.get_all_handlers()) == []
    watching = [h.fn.__name__ for h in registry._watching.get_all_handlers()]
    assert {"flowrun_changed", "job_changed", "pod_changed"} <= set(watching)
    assert [h.fn.__name__ for h in registry._indexing.get_all_handlers()] == ["run_jobs", "run_pods"]


def test_the_parts_are_made_at_startup_not_at_import():
    """Importing the registrations makes no client, cache, thread or election: the
    startup handler does (so a test, or `--help`, touches no cluster)."""
    assert handlers._parts is None
    try:
        handlers.parts()
    except RuntimeError:
        pass
    else:
        raise AssertionError("parts() before startup must say the operator has not started")
    startup = [h.fn.__name__ for h in kopf.get_default_registry()._activities.get_all_handlers()
               if h.activity.value == "startup"]
    assert startup == ["start", "elect"]  # the parts first, then the election that uses them


def test_the_diff_base_is_empty_and_stored_nowhere():
    storage = handlers.NoDiffBase()
    body = kopf.Body({"metadata": {"name": "r", "annotations": {}}, "spec": {"flow": "m:f"}})
    patch = kopf.Patch()
    assert storage.build(body=body) == {}
    assert storage.fetch(body=body) is None
    storage.store(body=body, patch=patch, essence={})
    assert not patch
