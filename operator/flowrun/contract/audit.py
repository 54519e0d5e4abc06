"""Who changed a FlowRun: read in one place, so every room credits the same person.

The admission webhook is the only writer: on every create and update it removes whatever
a client wrote into these annotations itself, and stamps the API server's userinfo of a
change to what the run should do (anything outside metadata and status, which is what
moves `metadata.generation`) together with the generation the change produces. A change
that does not move the generation keeps the previous stamp.

`actor()` trusts a stamp only for the generation it names: when the webhook was
unreachable (failurePolicy Ignore), the generation moved on without a stamp, and history
says "unknown" rather than crediting the previous changer. Nothing else may decide who
acted.

Residual risk, on purpose not hidden: while the webhook is unreachable, a client can write
a stamp for the generation its own change will produce. The rules that depend on who acted
(spec.template, children) therefore also rest on the webhook's signature
(contract/template_policy.py) or on ownership by uid (contract/children.py), not on this.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .objects import Meta

ANNOTATION_CHANGED_BY = "flowrun.io/changed-by"
ANNOTATION_CHANGED_GENERATION = "flowrun.io/changed-by-generation"
UNKNOWN = "unknown"


def actor(obj: Mapping[str, Any]) -> str:
    """The user who made the change that produced the FlowRun's current generation, as
    the webhook stamped it; "unknown" when no valid stamp is there."""
    meta = Meta.of(obj)
    user = str(meta.annotations.get(ANNOTATION_CHANGED_BY, ""))
    generation = "" if meta.generation is None else str(meta.generation)
    if user and meta.annotations.get(ANNOTATION_CHANGED_GENERATION) == generation:
        return user
    return UNKNOWN


def _desired(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def stamp(new: Mapping[str, Any], old: Mapping[str, Any] | None, user: str) -> dict[str, str | None]:
    """The annotations the mutating webhook sets (None: remove) for a CREATE (`old` None)
    or UPDATE by `user`. The generation the API server gives the result: 1 on create,
    the old one + 1 when anything but metadata and status changes, else unchanged."""
    if old is not None and _desired(new) == _desired(old):
        kept = Meta.of(old).annotations
        return {ANNOTATION_CHANGED_BY: kept.get(ANNOTATION_CHANGED_BY),
                ANNOTATION_CHANGED_GENERATION: kept.get(ANNOTATION_CHANGED_GENERATION)}
    if not user:
        return {ANNOTATION_CHANGED_BY: None, ANNOTATION_CHANGED_GENERATION: None}
    generation = 1 if old is None else (Meta.of(old).generation or 0) + 1
    return {ANNOTATION_CHANGED_BY: user, ANNOTATION_CHANGED_GENERATION: str(generation)}
