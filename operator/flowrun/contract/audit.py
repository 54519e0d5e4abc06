"""Who changed a FlowRun: read in one place, so every room credits the same person.

The admission webhook stamps the API server's userinfo of the last change to what a run
should do into an annotation; history entries and Events name that user. Nothing else
may decide who acted.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ANNOTATION_CHANGED_BY = "flowrun.io/changed-by"


def actor(obj: Mapping[str, Any]) -> str:
    """The user who made the FlowRun's latest change of spec.state or spec.input, as the
    webhook recorded it ("" when unknown)."""
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_CHANGED_BY, "")
