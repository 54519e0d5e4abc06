"""The top-level crds/ is the single source of truth for the FlowRun CRD; the chart ships
a verbatim copy (files/crds/, made by `make chart-crds`). These tests fail when the copy
drifts, so a schema change can never reach users of the chart half-done."""
from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
SOURCE = REPO / "crds"
CHART_COPY = REPO / "charts" / "flowrun-operator" / "files" / "crds"


def test_every_crd_is_copied_into_the_chart():
    sources = sorted(p.name for p in SOURCE.glob("*.yaml"))
    copies = sorted(p.name for p in CHART_COPY.glob("*.yaml"))
    assert sources, f"no CRD under {SOURCE}"
    assert copies == sources, f"chart copies {copies} != sources {sources}: run `make chart-crds`"


def test_chart_copy_is_identical_to_the_source():
    for source in sorted(SOURCE.glob("*.yaml")):
        copy = CHART_COPY / source.name
        assert copy.exists(), f"{copy} is missing: run `make chart-crds`"
        assert copy.read_bytes() == source.read_bytes(), (
            f"{copy.relative_to(REPO)} differs from {source.relative_to(REPO)}: run `make chart-crds`")


def test_chart_copy_is_the_flowrun_crd():
    crd = yaml.safe_load((CHART_COPY / "flowrun.io_flowruns.yaml").read_text())
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"]["name"] == "flowruns.flowrun.io"
    assert [v["name"] for v in crd["spec"]["versions"]] == ["v1alpha1"]
