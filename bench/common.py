"""Shared by the benchmarks: a cluster, the CRD, images, an operator process, and the
table they print."""
from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from cluster import ensure_cluster, kubectl  # noqa: E402
from cluster.harness import IMAGE_TAG, OperatorProcess, build_flow_image, install_crd  # noqa: E402

# The benchmarks' operator is an instance of its own (its process inherits this), so an
# operator installed in the cluster without an instance id (`make deploy`, which `make
# test` also installs) leaves the benchmarks' runs alone, and they it.
os.environ.setdefault("FLOWRUN_INSTANCE", f"bench-{os.getpid()}")


def ours(manifest: dict) -> dict:
    """A FlowRun to create, labelled for the benchmark's operator instance."""
    from flowrun.contract.instances import labelled
    return labelled(manifest, os.environ["FLOWRUN_INSTANCE"])


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.node()}: {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {platform.system()} {platform.release()}"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def print_table(title: str, rows: list[tuple[str, list[float], str, str]]) -> None:
    """rows: (what, samples, unit, target)."""
    print(f"\n{title}\nmachine: {machine()}\n")
    print(f"| {'measure':<44} | {'n':>3} | {'median':>9} | {'p95':>9} | {'unit':<4} | target")
    print(f"|{'-' * 46}|{'-' * 5}|{'-' * 11}|{'-' * 11}|{'-' * 6}|--------")
    for what, samples, unit, target in rows:
        print(f"| {what:<44} | {len(samples):>3} | {statistics.median(samples):>9.1f} | "
              f"{percentile(samples, 0.95):>9.1f} | {unit:<4} | {target}")


class Setup:
    """Cluster + CRD + bench image + operator, for the duration of a `with` block."""

    def __enter__(self) -> "Setup":
        ensure_cluster()
        install_crd()
        self.image = build_flow_image(HERE / "flows", f"flowrun-runner-bench:{IMAGE_TAG}")
        self.tmp = tempfile.mkdtemp(prefix="flowrun-bench-")
        self.namespace = f"bench-{os.getpid()}"
        self.operator = OperatorProcess(Path(self.tmp) / "operator.log", self.image,
                                        namespaces=self.namespace)
        kubectl("create", "namespace", self.namespace)
        self.operator.start()
        return self

    def __exit__(self, *exc) -> None:
        # FlowRuns carry the operator's finalizer: delete them while it still runs.
        kubectl("delete", "fr", "--all", "--timeout=120s", namespace=self.namespace, check=False, timeout=130)
        self.operator.stop()
        kubectl("delete", "namespace", self.namespace, "--wait=false", check=False)
