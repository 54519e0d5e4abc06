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
    input: dict[str, Any] | None = None
    cache: CacheSpec = Field(default_factory=CacheSpec)
    template: dict[str, Any] = Field(default_factory=dict)
    ttl_seconds_after_finished: int | None = None

    @property
    def module_name(self) -> str:
        return self.flow.split(":", 1)[0]

    @property
    def function_name(self) -> str:
        return self.flow.split(":", 1)[1]


class PauseInfo(_Model):
    key: str
    kind: PauseKind
    deadline: datetime | None = None
    timeout_seconds: int | None = None
    input_schema: dict[str, Any] | None = None
    since: datetime | None = None
    # "flow" when the flow's code asked, "user" when someone set spec.state.
    requested_by: str = "flow"


class HistoryEntry(_Model):
    time: datetime
    action: str
    by: str = ""
    key: str = ""
    message: str = ""


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


class FlowRun(_Model):
    """A FlowRun object as read from the API (metadata kept as a plain dict)."""

    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: FlowRunSpec
    status: FlowRunStatus = Field(default_factory=FlowRunStatus)

    @classmethod
    def from_body(cls, body: Any) -> "FlowRun":
        data = dict(body)
        return cls.model_validate({
            "metadata": dict(data.get("metadata") or {}),
            "spec": dict(data.get("spec") or {}),
            "status": dict(data.get("status") or {}),
        })

    @property
    def name(self) -> str:
        return self.metadata["name"]

    @property
    def namespace(self) -> str:
        return self.metadata.get("namespace", "default")

    @property
    def uid(self) -> str:
        return self.metadata.get("uid", "")

    @property
    def phase(self) -> Phase | None:
        return self.status.phase
