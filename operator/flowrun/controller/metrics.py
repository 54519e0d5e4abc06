"""Prometheus metrics of the operator (kopf has none of its own), served on
FLOWRUN_METRICS_PORT at /metrics when that is set.

- flowrun_transitions_total{action}: transitions recorded in runs' status.history
  (created, started, paused, suspended, resumed, completed, failed, timed-out, ...),
  counted once each when the operator announces them as Events;
- flowrun_runs{phase}: FlowRuns this operator currently sees, by phase;
- flowrun_reconcile_errors_total: reconciles that ended in an unexpected error.
"""
from __future__ import annotations

import threading
from collections import Counter

from prometheus_client import CollectorRegistry, Counter as PromCounter, start_http_server
from prometheus_client.core import GaugeMetricFamily

REGISTRY = CollectorRegistry()
TRANSITIONS = PromCounter("flowrun_transitions", "FlowRun transitions, by history action",
                          ["action"], registry=REGISTRY)
RECONCILE_ERRORS = PromCounter("flowrun_reconcile_errors", "Reconciles that failed unexpectedly",
                               registry=REGISTRY)

_phases: dict[str, str] = {}
_lock = threading.Lock()


def observe_phase(namespace: str, name: str, phase: str | None) -> None:
    with _lock:
        if phase is None:
            _phases.pop(f"{namespace}/{name}", None)
        else:
            _phases[f"{namespace}/{name}"] = phase


class _RunsByPhase:
    def collect(self):
        with _lock:
            counts = Counter(_phases.values())
        family = GaugeMetricFamily("flowrun_runs", "FlowRuns seen by this operator, by phase",
                                   labels=["phase"])
        for phase in ("Pending", "Running", "Paused", "Suspended", "Completed", "Failed", "Cancelled"):
            family.add_metric([phase], counts.get(phase, 0))
        yield family


REGISTRY.register(_RunsByPhase())


def serve(port: int, addr: str = "0.0.0.0") -> None:
    start_http_server(port, addr=addr, registry=REGISTRY)
