"""Prometheus metrics of the operator (kopf has none of its own), served on
FLOWRUN_METRICS_PORT at /metrics when that is set. The chart's Grafana dashboard
(charts/flowrun-operator/dashboards/flowrun.json) draws these.

- flowrun_transitions_total{action}: transitions recorded in runs' status.history
  (created, started, paused, suspended, resumed, completed, failed, timed-out, ...),
  counted once each when the operator announces them as Events;
  Every label value comes from a fixed set (contract/bounded.py): what flow code
  writes into its status (history actions, phases, pause kinds) that is not in the set is
  counted as `other`, so no run can create label values;
- flowrun_runs{phase}: FlowRuns this operator currently sees, by phase;
- flowrun_phase_seconds{phase}: how long runs stayed in a phase, observed when they
  leave it (as this operator saw the change; a restart forgets a phase in progress);
- flowrun_pause_wait_seconds{kind}: how long people took: from a pause's start
  (status.pause.since) to the resume request the operator first sees (spec.state back to
  Running); kind Pause or Suspend;
- flowrun_resume_latency_seconds{kind}: from that resume request to the run leaving the
  Paused or Suspended phase (the runner's or the operator's write of the resume);
- flowrun_reconcile_seconds: time of one reconcile (reading, deciding, writing);
- flowrun_workqueue_depth: runs being reconciled now (in a worker thread or waiting for
  one; further events of such a run are folded into one more pass);
- flowrun_cache_objects{kind}: FlowRuns, Jobs and pods in the operator's watch cache;
- flowrun_reconcile_errors_total: reconciles that ended in an unexpected error;
- flowrun_api_requests_total{source, verb, resource}: the requests this process sent to
  the API server, counted on the client side (the API server's own
  apiserver_request_total does not say who sent them): source `operator` for the
  operator's code (kube/), `kopf` for kopf's watches and its finalizer and event writes.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from prometheus_client import CollectorRegistry, Counter as PromCounter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily

from ..contract.bounded import PAUSE_KINDS, PHASES, bounded
from ..contract.phases import Phase

REGISTRY = CollectorRegistry()
TRANSITIONS = PromCounter("flowrun_transitions", "FlowRun transitions, by history action",
                          ["action"], registry=REGISTRY)
RECONCILE_ERRORS = PromCounter("flowrun_reconcile_errors", "Reconciles that failed unexpectedly",
                               registry=REGISTRY)
# People answer in seconds to days: buckets from a second to a week.
_HUMAN = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400, 259200, 604800)
PHASE_SECONDS = Histogram("flowrun_phase_seconds", "Time FlowRuns spent in a phase, observed on leaving it",
                          ["phase"], buckets=_HUMAN, registry=REGISTRY)
PAUSE_WAIT_SECONDS = Histogram("flowrun_pause_wait_seconds",
                               "From a pause's start to the resume request (how long people take)",
                               ["kind"], buckets=_HUMAN, registry=REGISTRY)
RESUME_LATENCY_SECONDS = Histogram(
    "flowrun_resume_latency_seconds", "From a resume request to the run leaving Paused or Suspended",
    ["kind"], buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300), registry=REGISTRY)
RECONCILE_SECONDS = Histogram("flowrun_reconcile_seconds", "Time of one reconcile of a FlowRun",
                              buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                              registry=REGISTRY)
WORKQUEUE_DEPTH = Gauge("flowrun_workqueue_depth", "Runs being reconciled now, in a worker thread or waiting for one",
                        registry=REGISTRY)

API_REQUESTS = PromCounter("flowrun_api_requests", "Requests this process sent to the API server",
                           ["source", "verb", "resource"], registry=REGISTRY)

_WAITING = tuple(p.value for p in Phase if p.stopped)


def count_requests() -> None:
    """Count every request of this process: ours through kube/'s observer hook; kopf's
    by wrapping its one request function (a private name of kopf's: if it moves, only
    kopf's share goes uncounted, with a log line)."""
    from ..kube import rest
    if not rest.REQUEST_OBSERVERS:
        rest.REQUEST_OBSERVERS.append(lambda verb, resource: API_REQUESTS.labels("operator", verb, resource).inc())
    try:
        from kopf._cogs.clients import api as kopf_api
    except ImportError:  # pragma: no cover - depends on kopf's layout
        import logging
        logging.getLogger("flowrun.controller").warning("cannot count kopf's API requests")
        return
    sent = kopf_api.request
    if getattr(sent, "_flowrun_counted", False):
        return

    async def request(method: str, url: str, **kwargs: Any) -> Any:
        verb, resource = rest.describe_request(method, url)
        API_REQUESTS.labels("kopf", verb, resource).inc()
        return await sent(method, url, **kwargs)
    request._flowrun_counted = True  # type: ignore[attr-defined]
    kopf_api.request = request


@dataclass
class _Seen:
    phase: str
    since: float  # time.monotonic() when this operator saw the phase begin
    resume_asked: float | None = None
    kind: str = ""


_runs: dict[str, _Seen] = {}
_phases: dict[str, str] = {}  # finished runs: only their phase is kept, for flowrun_runs
_lock = threading.Lock()
_cache_sizes: Callable[[], dict[str, int]] | None = None


def observe_phase(namespace: str, name: str, phase: str | None) -> None:
    """The run's phase (None: the run is gone)."""
    key = f"{namespace}/{name}"
    with _lock:
        if phase is None:
            _runs.pop(key, None)
            _phases.pop(key, None)
            return
        _enter(key, phase, time.monotonic())


def _enter(key: str, phase: str, at: float) -> _Seen | None:
    """Record `phase` for the run (lock held); returns what it was before."""
    seen = _runs.get(key)
    if seen is None or seen.phase != phase:
        if seen is not None:
            PHASE_SECONDS.labels(bounded(seen.phase, PHASES)).observe(max(at - seen.since, 0.0))
        _runs[key] = _Seen(phase, at)
    _phases[key] = phase
    return seen


def observe_run(obj: dict[str, Any], *, wall: datetime | None = None) -> None:
    """Everything the metrics learn from one look at a FlowRun: its phase, the time it
    spent in the previous one, a resume request and how long it took to act on it."""
    meta, status = obj["metadata"], obj.get("status") or {}
    key = f"{meta['namespace']}/{meta['name']}"
    phase = bounded(status.get("phase") or "Pending", PHASES)
    state = (obj.get("spec") or {}).get("state") or "Running"
    at = time.monotonic()
    with _lock:
        before = _runs.get(key)
        asked, kind = (before.resume_asked, before.kind) if before else (None, "")
        if before is not None and before.phase in _WAITING and phase != before.phase and asked is not None:
            RESUME_LATENCY_SECONDS.labels(bounded(kind, PAUSE_KINDS)).observe(max(at - asked, 0.0))
            asked = None
        seen_before = _enter(key, phase, at)
        seen = _runs[key]
        if seen_before is not None and seen_before.phase == phase:
            seen.resume_asked, seen.kind = asked, kind
        if phase in _WAITING and state == "Running" and seen.resume_asked is None:
            pause = status.get("pause") or {}
            # pause.kind is written by flow code: a label only from the fixed set
            seen.resume_asked, seen.kind = at, bounded(
                pause.get("kind") or ("Suspend" if phase == "Suspended" else "Pause"), PAUSE_KINDS)
            since = _timestamp(pause.get("since"))
            if since is not None:
                wall_now = wall or datetime.now(timezone.utc)
                PAUSE_WAIT_SECONDS.labels(seen.kind).observe(max((wall_now - since).total_seconds(), 0.0))
        if phase in ("Completed", "Failed", "Cancelled"):
            _runs.pop(key, None)  # only the phase of a finished run is kept


def _timestamp(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def watch_cache(sizes: Callable[[], dict[str, int]]) -> None:
    global _cache_sizes
    _cache_sizes = sizes


class _RunsByPhase:
    def collect(self):
        with _lock:
            counts = Counter(_phases.values())
        family = GaugeMetricFamily("flowrun_runs", "FlowRuns seen by this operator, by phase",
                                   labels=["phase"])
        for phase in (p.value for p in Phase):
            family.add_metric([phase], counts.get(phase, 0))
        yield family
        if _cache_sizes is not None:
            cache = GaugeMetricFamily("flowrun_cache_objects", "Objects in the operator's watch cache",
                                      labels=["kind"])
            for kind, count in _cache_sizes().items():
                cache.add_metric([kind], count)
            yield cache


REGISTRY.register(_RunsByPhase())


def serve(port: int, addr: str = "0.0.0.0") -> None:
    start_http_server(port, addr=addr, registry=REGISTRY)
