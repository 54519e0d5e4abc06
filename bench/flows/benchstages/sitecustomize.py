"""bench/runner_start.py's stopwatch inside a pod, for the runs that put this directory
on PYTHONPATH (the benchmark sets the env var through spec.template; every other run of
the bench image never imports it).

It stamps, on the machine's clock (the cluster is local): the process's start (from
/proc, 10 ms resolution), the interpreter ready (this module), the end of the import of
the runner (`flowrun.runner.main`) or, in a bare Job, of the flow's module, and in the
runner the first read of the FlowRun, the watch connected, and the `Running` write
begun and answered. The flow `benchflows.starts:staged` returns them with the time its
code started. Nothing here changes what the runner does: it only wraps functions to
note the time."""
import os
import sys
import time

STAMPS: dict = {"site": time.time()}


def _process_start() -> float | None:
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as f:
            btime = next(int(line.split()[1]) for line in f if line.startswith("btime"))
        return btime + ticks / os.sysconf("SC_CLK_TCK")
    except Exception:  # noqa: BLE001 - a stamp less
        return None


STAMPS["proc"] = _process_start()


def _first(key: str) -> None:
    STAMPS.setdefault(key, time.time())


def _instrument_runner() -> None:
    from flowrun.kube import Kube
    from flowrun.sdk import watching
    from flowrun.sdk.live import LiveFlowRun

    get = Kube.get_flowrun

    def get_flowrun(self, *args, **kwargs):
        _first("read_sent")
        try:
            return get(self, *args, **kwargs)
        finally:
            _first("read")
    Kube.get_flowrun = get_flowrun

    connect = watching.Watcher._on_connect

    def on_connect(self, resp):
        _first("watch")
        return connect(self, resp)
    watching.Watcher._on_connect = on_connect

    started = LiveFlowRun.started

    def started_(self, *args, **kwargs):
        _first("running_sent")
        try:
            return started(self, *args, **kwargs)
        finally:
            _first("running")
    LiveFlowRun.started = started_


def _instrument_first_read(module) -> None:
    """A runner that reads its FlowRun while it imports the SDK: `read` is when the
    runner has it (after its imports), `get_answered` when the GET came back."""
    read, result = module.FirstRead._read, module.FirstRead.result

    def read_(self):
        _first("read_sent")
        try:
            return read(self)
        finally:
            _first("get_answered")

    def result_(self):
        try:
            return result(self)
        finally:
            _first("read")
    module.FirstRead._read, module.FirstRead.result = read_, result_


class _Finder:
    """Notes when a module's import ends (and instruments the runner once it is in)."""

    targets = {"flowrun.runner.main": "imported", "benchflows.starts": "flow_imported",
               "flowrun.runner.early": "early_imported"}

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.targets:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_(module):
            exec_module(module)
            _first(self.targets[fullname])
            if fullname == "flowrun.runner.main":
                _instrument_runner()
            if fullname == "flowrun.runner.early":
                _instrument_first_read(module)
        loader.exec_module = exec_
        return spec


sys.meta_path.insert(0, _Finder())
