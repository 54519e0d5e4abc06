"""The chart's Grafana dashboard: off by default; when on, one ConfigMap with the
sidecar's label holding valid dashboard JSON, every query of which names a metric the
operator really serves (controller/metrics.py)."""
from __future__ import annotations

import json
import re

from cluster.harness import helm_template
from flowrun.controller import metrics



render = helm_template


def served_metric_names() -> set[str]:
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    names = set()
    for family in metrics.REGISTRY.collect():
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    names.add("flowrun_cache_objects")  # served once the operator has its watch cache
    return names


def test_the_dashboard_is_off_by_default():
    assert not [d for d in render() if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard")]


def test_the_dashboard_configmap_carries_the_sidecar_label_and_queries_served_metrics():
    docs = render("--set", "metrics.dashboard.enabled=true", "--set", "metrics.dashboard.namespace=monitoring")
    (cm,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard")]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1" and cm["metadata"]["namespace"] == "monitoring"
    dashboard = json.loads(cm["data"]["flowrun-operator.json"])
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\bflowrun_[a-z_]+", e)}
    assert used and used <= served_metric_names(), used - served_metric_names()
    for needed in ("flowrun_phase_seconds_bucket", "flowrun_resume_latency_seconds_bucket",
                   "flowrun_reconcile_seconds_bucket", "flowrun_workqueue_depth"):
        assert needed in used
