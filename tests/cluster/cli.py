"""Running the `flowrun` CLI as a user would, for the end-to-end tests."""
from __future__ import annotations

import os
import subprocess
import sys

from .harness import REPO


def flowrun(*args: str, namespace: str | None = None, timeout: float = 180,
            env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "flowrun.cli.main", *args]
    if namespace:
        cmd += ["-n", namespace]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=REPO)


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def fails(proc: subprocess.CompletedProcess, code: int, *words: str) -> str:
    """An expected error: the exit code, one line `flowrun: error: ...`, no traceback."""
    assert proc.returncode == code, \
        f"exit {proc.returncode}, wanted {code}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("flowrun: error: ")]
    assert len(errors) == 1, proc.stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]
