"""Pydantic models of the FlowRun resource: what `spec` may say and what `status` holds.

The CRD schema in crds/ is what the API server enforces; these models are how Python
code in every room reads a FlowRun. Field names follow the resource (camelCase).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from .phases import PauseKind, Phase, State
from .objects import Object


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class CacheSpec(_Model):
    claim_name: str = ""
    size: str = "1Gi"
    storage_class_name: str = ""


class FlowRunSpec(_Model):
    flow: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    image: str = ""
    state: State = State.RUNNING
    reason: str = ""
    input: dict[str, Any] | None = None
    cache: CacheSpec = Field(default_factory=CacheSpec)
    template: dict[str, Any] = Field(default_factory=dict)
    ttl_seconds_after_finished: int | None = None
    max_pod_losses: int | None = None
    suspend_after_seconds: int | None = None


class PauseInfo(_Model):
    key: str
    kind: PauseKind
    deadline: datetime | None = None
    timeout_seconds: int | None = None
    input_schema: dict[str, Any] | None = None
    description: str | None = None
    since: datetime | None = None
    # "flow" when the flow's code asked, "user" when someone set spec.state.
    requested_by: str = "flow"
    # The metadata.generation from which a spec.state of Running is a resume of this
    # pause (the generation of the write that armed it).
    generation: int = 0
    # A generation whose resume was refused (input invalid): not judged again.
    rejected_generation: int | None = None
    # A pause that has waited this long becomes a suspension of the same pause.
    suspend_after_seconds: int | None = None
    approval: dict[str, Any] | None = None


class HistoryEntry(_Model):
    time: datetime
    action: str
    by: str = ""
    key: str = ""
    message: str = ""
    seq: int = 0


class FlowRunStatus(_Model):
    phase: Phase | None = None
    message: str = ""
    conditions: list[dict[str, Any]] = Field(default_factory=list)
    attempt: int = 0
    job_name: str = ""
    pause: PauseInfo | None = None
    resumed: list[str] = Field(default_factory=list)
    inputs: dict[str, Any] = Field(default_factory=dict)
    result: Any = None
    history: list[HistoryEntry] = Field(default_factory=list)
    start_time: datetime | None = None
    completion_time: datetime | None = None
    job_uid: str = ""
    # Why a run ended Failed or Cancelled: one of contract.lifecycle.vocabulary.END_REASONS.
    reason: str = ""
    # Runner pods lost (deleted, evicted, drained, node gone) and survived so far.
    pod_losses: int = 0
    # Results of subflows mirrored by the operator, until the parent's runner has them.
    subflows: dict[str, Any] = Field(default_factory=dict)
    subflows_received: list[str] = Field(default_factory=list)
    evented_seq: int = 0


class FlowRun(_Model):
    """A FlowRun object as read from the API (metadata kept as a plain dict)."""

    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: FlowRunSpec
    status: FlowRunStatus = Field(default_factory=FlowRunStatus)

    @classmethod
    def from_body(cls, body: Any) -> "FlowRun":
        obj = Object.of(dict(body))
        return cls.model_validate({"metadata": dict(obj.meta.doc), "spec": dict(obj.spec), "status": dict(obj.status)})

    @property
    def name(self) -> str:
        return str(self.metadata["name"])

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace", "default"))

    @property
    def uid(self) -> str:
        return str(self.metadata.get("uid", ""))

    @property
    def phase(self) -> Phase | None:
        return self.status.phase

    @property
    def generation(self) -> int:
        return int(self.metadata.get("generation") or 0)

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.metadata.get("labels") or {})

    @property
    def deleting(self) -> bool:
        return bool(self.metadata.get("deletionTimestamp"))
