"""Failpoints: a test hook that crashes the operator at a named point of a reconcile.

Crash tests need the operator to die at an exact place (for example between deleting a
suspended run's Job and recording the suspension), which a SIGKILL from outside cannot
hit deterministically. A call `failpoint("suspend-after-job-delete")` at such a place
does nothing unless the environment variable `FLOWRUN_FAILPOINTS` (comma-separated
names) lists that name; then it logs and ends the process at once with `os._exit(137)`
(the exit code of a SIGKILL: no cleanup, no finalizers, no kopf shutdown).

Never set FLOWRUN_FAILPOINTS in production: it exists only for tests
(tests/e2e/test_operator_crashes.py). Unset, a failpoint costs one set lookup.
"""
from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger("flowrun.controller")

ENV = "FLOWRUN_FAILPOINTS"
_ACTIVE = frozenset(filter(None, (n.strip() for n in os.environ.get(ENV, "").split(","))))


def failpoint(name: str) -> None:
    """Crash the process here (exit 137) if `name` is listed in $FLOWRUN_FAILPOINTS."""
    if name in _ACTIVE:
        log.critical("failpoint %r hit: exiting with 137 (%s is set; test hook)", name, ENV)
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(137)
