"""Reading API objects: typed, read-only views of what the contract's decisions look at
in objects other than a run's own state (lifecycle/view.py's `RunView` is that).

One constructor per kind, called once at a decision's entry: `Meta.of` (any object's
metadata), `Object.of` (any object: metadata, spec, status), `PodTemplate.of` (a
FlowRun's spec.template), `Condition.of` (one status condition), `NotifierView.of`
(a FlowRunNotifier), `LeaseView.of` (the leader Lease), `InputRequestView.of` (a
FlowRunInput) and `InboxPageView.of` (a FlowRunInbox page). The decisions then read
typed fields, never walk the object's dicts: a missing (or null) part reads as empty,
the same way everywhere.

What this module must never do: decide anything, write anything, or import another
contract module (it sits just above the constants, below everything that reads
objects). Writers still build dict patches: `doc` fields keep a part as stored, for the
builders that copy and extend it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def doc(value: Any) -> dict[str, Any]:
    """A sub-document as a new dict: {} when it is missing (or null, or not a mapping)."""
    return dict(value) if isinstance(value, Mapping) else {}


def _str_map(value: Any) -> dict[str, str]:
    return {str(k): v for k, v in doc(value).items()}


def _int(value: Any) -> int:
    return int(value or 0)


@dataclass(frozen=True)
class OwnerRef:
    """One `metadata.ownerReferences` entry."""

    kind: str
    name: str
    uid: str
    controller: bool  # controller: true (exactly)

    @classmethod
    def of(cls, value: Any) -> OwnerRef:
        ref = doc(value)
        return cls(kind=str(ref.get("kind") or ""), name=str(ref.get("name") or ""),
                   uid=str(ref.get("uid") or ""), controller=ref.get("controller") is True)


@dataclass(frozen=True)
class Meta:
    """An object's `metadata`."""

    name: str
    namespace: str
    uid: str
    generation: int | None  # None: not there (a request before the API server set it)
    resource_version: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    owners: tuple[OwnerRef, ...]
    created: str | None  # creationTimestamp, as written
    deleting: bool
    doc: Mapping[str, Any]  # as stored (for writers that copy it)

    @classmethod
    def of(cls, obj: Mapping[str, Any] | None) -> Meta:
        meta = doc((obj or {}).get("metadata"))
        generation = meta.get("generation")
        return cls(
            name=str(meta.get("name") or ""),
            namespace=str(meta.get("namespace") or ""),
            uid=str(meta.get("uid") or ""),
            generation=int(generation) if generation is not None else None,
            resource_version=str(meta.get("resourceVersion") or ""),
            labels=_str_map(meta.get("labels")),
            annotations=_str_map(meta.get("annotations")),
            owners=tuple(OwnerRef.of(r) for r in meta.get("ownerReferences") or []),
            created=meta.get("creationTimestamp"),
            deleting=bool(meta.get("deletionTimestamp")),
            doc=meta,
        )

    def owner_uids(self, kind: str) -> list[str]:
        """The uids of the owners of `kind`."""
        return [ref.uid for ref in self.owners if ref.kind == kind]

    def controlled_by(self, uid: str) -> bool:
        """An ownerReference to `uid` with controller: true."""
        return bool(uid) and any(ref.uid == uid and ref.controller for ref in self.owners)


@dataclass(frozen=True)
class Object:
    """Any API object, split into its parts: `spec` and `status` as stored (empty when
    missing), for the kinds whose decisions read a field or two of them."""

    kind: str
    meta: Meta
    spec: Mapping[str, Any]
    status: Mapping[str, Any]

    @classmethod
    def of(cls, obj: Mapping[str, Any] | None) -> Object:
        obj = obj or {}
        return cls(kind=str(obj.get("kind") or ""), meta=Meta.of(obj),
                   spec=doc(obj.get("spec")), status=doc(obj.get("status")))


@dataclass(frozen=True)
class PodTemplate:
    """A FlowRun's `spec.template` (a pod template): its metadata and spec as stored, and
    whatever else it carries (which the allow-list refuses; so is a metadata or spec that
    is not a mapping, kept there rather than read as empty)."""

    metadata: Mapping[str, Any]
    spec: Mapping[str, Any]
    other: Mapping[str, Any]

    @classmethod
    def of(cls, template: Mapping[str, Any] | None) -> PodTemplate:
        template = template or {}
        parts = ("metadata", "spec")
        return cls(metadata=doc(template.get("metadata")), spec=doc(template.get("spec")),
                   other={k: v for k, v in template.items()
                          if k not in parts or not (v is None or isinstance(v, Mapping))})


@dataclass(frozen=True)
class Condition:
    """One `status.conditions` entry."""

    type: str | None
    status: str | None
    last_transition: str | None
    doc: Mapping[str, Any]

    @classmethod
    def of(cls, value: Any) -> Condition:
        cond = doc(value)
        return cls(type=cond.get("type"), status=cond.get("status"),
                   last_transition=cond.get("lastTransitionTime"), doc=cond)


@dataclass(frozen=True)
class SecretRef:
    name: str
    key: str

    @classmethod
    def of(cls, value: Any) -> SecretRef | None:
        ref = doc(value)
        return cls(str(ref.get("name", "")), str(ref.get("key", ""))) if ref else None


@dataclass(frozen=True)
class NotifierView:
    """A FlowRunNotifier: whom it tells about what, and which Secrets it reads."""

    meta: Meta
    selector: Mapping[str, Any] | None
    events: frozenset[str]
    deadline_near_seconds: int | None  # None: the default
    remind_every_seconds: int | None  # None: no reminders
    max_reminders: int | None  # None: the default
    url_secret: SecretRef | None
    signing_secret: SecretRef | None
    approval: str  # the webhook's signature annotation ("" when none)

    @classmethod
    def of(cls, notifier: Mapping[str, Any], approval_annotation: str) -> NotifierView:
        obj = Object.of(notifier)
        spec, sink = obj.spec, doc(obj.spec.get("sink"))
        selector = spec.get("selector")
        return cls(meta=obj.meta, selector=doc(selector) if isinstance(selector, Mapping) else None,
                   events=frozenset(str(e) for e in spec.get("events") or []),
                   deadline_near_seconds=_int(spec.get("deadlineNearSeconds")) or None,
                   remind_every_seconds=_int(spec.get("remindEverySeconds")) or None,
                   max_reminders=_int(spec.get("maxReminders")) or None,
                   url_secret=SecretRef.of(sink.get("urlSecretRef")),
                   signing_secret=SecretRef.of(sink.get("signingSecretRef")),
                   approval=str(obj.meta.annotations.get(approval_annotation) or ""))


@dataclass(frozen=True)
class LeaseView:
    """The leader Lease (coordination.k8s.io/v1)."""

    meta: Meta
    holder: str  # "" when nobody holds it
    renew_time: Any
    transitions: int
    spec: Mapping[str, Any]  # as stored (the writers copy it)

    @classmethod
    def of(cls, lease: Mapping[str, Any]) -> LeaseView:
        obj = Object.of(lease)
        return cls(meta=obj.meta, holder=str(obj.spec.get("holderIdentity") or ""),
                   renew_time=obj.spec.get("renewTime"), transitions=_int(obj.spec.get("leaseTransitions")),
                   spec=obj.spec)


def revision_of(meta: Meta) -> int:
    """An object's resourceVersion as a number (0 when it is not one): etcd's order."""
    return int(meta.resource_version) if meta.resource_version.isdigit() else 0


@dataclass(frozen=True)
class InputRequestView:
    """A FlowRunInput: a value sent to a run's inbox."""

    meta: Meta
    key: str
    value: Any
    sender: str
    claimed_sender: Any  # as the sender wrote it (falsy: none)
    revision: int
    flow_run: str = ""  # the run it is sent to (a name or a uid), as the sender wrote it

    @classmethod
    def of(cls, req: Mapping[str, Any]) -> InputRequestView:
        obj = Object.of(req)
        return cls(meta=obj.meta, key=str(obj.spec.get("key") or ""), value=obj.spec.get("value"),
                   sender=str(obj.spec.get("sender") or ""), claimed_sender=obj.spec.get("claimedSender"),
                   revision=revision_of(obj.meta), flow_run=str(obj.spec.get("flowRun") or ""))


@dataclass(frozen=True)
class InboxPageView:
    """A FlowRunInbox page: how full it is and what it delivered up to."""

    entries: int
    bytes: int
    last_revision: int

    @classmethod
    def of(cls, page: Mapping[str, Any]) -> InboxPageView:
        spec = Object.of(page).spec
        return cls(entries=len(spec.get("entries") or []), bytes=_int(spec.get("bytes")),
                   last_revision=_int(spec.get("lastRevision")))
