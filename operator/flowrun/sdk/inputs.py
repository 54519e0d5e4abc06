"""Typed input for paused and suspended runs (Prefect's RunInput, as a pydantic model).

`pause_flow_run(wait_for_input=M)` stores `M`'s JSON schema in the FlowRun, so the API
server (admission webhook), the operator and the CLI can all check a resume's input
before the flow sees it; the flow gets an `M` instance back.
"""
from __future__ import annotations

from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, create_model


class RunInput(BaseModel):
    """Base class of the data a paused or suspended run waits for. Unknown fields are
    rejected (`extra="forbid"`), so a typo in a resume never passes silently."""

    model_config = ConfigDict(extra="forbid")


class _WrappedInput(RunInput):
    """A RunInput made around a plain type: the resume data is {"value": ...}."""

    value: Any


_wrapped: dict[Any, type[RunInput]] = {}


def as_run_input(wait_for_input: Any) -> tuple[type[RunInput], bool]:
    """(the model to validate against, whether the caller wants `.value` back).

    A RunInput (or any pydantic model) is used as it is; a plain type such as `int` or
    `str` or `list[str]` is wrapped in a model with one field, `value`, as Prefect does.
    """
    if isinstance(wait_for_input, type) and issubclass(wait_for_input, BaseModel):
        return wait_for_input, False
    if wait_for_input not in _wrapped:
        name = getattr(wait_for_input, "__name__", None) or str(wait_for_input)
        _wrapped[wait_for_input] = create_model(
            f"{name.capitalize()}Input", __base__=_WrappedInput, value=(wait_for_input, ...))
    return _wrapped[wait_for_input], True


def input_schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


def validation_messages(exc: pydantic.ValidationError) -> list[str]:
    """Readable 'field: problem' lines of a pydantic validation error."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "(input)"
        lines.append(f"{where}: {err.get('msg')}")
    return lines
