"""The runner reads its FlowRun while it imports the SDK (runner/early.py): the read is
the one it always made, only begun sooner."""
import subprocess
import sys
import threading

import pytest

from flowrun.kube import KubeError
from flowrun.runner.early import FirstRead, begin
from flowrun.runner.main import run


class Reads:
    """A Kube with one FlowRun (or none, or an error) that counts its reads."""

    def __init__(self, obj=None, error=None):
        self.obj, self.error, self.reads = obj, error, []
        self.gate = threading.Event()

    def get_flowrun(self, namespace, name):
        self.reads.append((namespace, name))
        self.gate.wait(5)
        if self.error is not None:
            raise self.error
        return self.obj


def test_the_read_is_made_once_and_waited_for():
    done = {"metadata": {"name": "r", "namespace": "ns", "uid": "u"}, "spec": {"flow": "json:dumps"},
            "status": {"phase": "Completed", "attempt": 1}}
    kube = Reads(done)
    first = FirstRead(kube, "ns", "r")
    kube.gate.set()
    assert run(kube, "ns", "r", attempt=1, cache_dir="/nonexistent", first=first) == 0  # finished: nothing to do
    assert kube.reads == [("ns", "r")]


def test_a_run_not_found_and_a_failed_read_end_as_before():
    kube = Reads(None)
    kube.gate.set()
    assert run(kube, "ns", "r", attempt=1, cache_dir="/x", first=FirstRead(kube, "ns", "r")) == 1
    broken = Reads(error=KubeError(403, "Forbidden", "no"))
    broken.gate.set()
    with pytest.raises(KubeError):  # main() reports it and exits 1, as for a read made there
        run(broken, "ns", "r", attempt=1, cache_dir="/x", first=FirstRead(broken, "ns", "r"))


def test_no_read_begins_without_a_run_named(monkeypatch):
    monkeypatch.delenv("FLOWRUN_NAME", raising=False)
    assert begin() is None


def test_the_package_and_the_kubernetes_door_do_not_import_the_sdk():
    """What lets the read begin early: `import flowrun.runner.early` loads no SDK."""
    code = ("import sys, flowrun, flowrun.runner.early; "
            "print(sorted(m for m in sys.modules if m.startswith('flowrun.sdk')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    code = "import flowrun; from flowrun import flow, unmapped, get_run_logger; print(flowrun.task.__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "flowrun.sdk.tasks"
