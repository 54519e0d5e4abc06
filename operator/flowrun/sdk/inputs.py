"""Typed input for paused and suspended runs (Prefect's RunInput, as a pydantic model).

`pause_flow_run(wait_for_input=M)` stores `M`'s JSON schema in the FlowRun, so the API
server (admission webhook), the operator and the CLI can all check a resume's input
before the flow sees it; the flow gets an `M` instance back.

As in Prefect: a plain type (`int`, `str`, `list[str]`...) is wrapped in a model with
one field, `value`, and the flow gets the value back; a `pydantic.BaseModel` that is
not a RunInput is upgraded to one (a subclass that forbids unknown fields), and the
flow gets an instance of it (so also of the user's model).
"""
from __future__ import annotations

from typing import Any, ClassVar

import pydantic
from pydantic import BaseModel, ConfigDict, PrivateAttr, create_model
from pydantic.fields import FieldInfo

from ..contract import run_inputs as ri

# status.pause.description is for a prompt, not a document: longer ones are cut.
MAX_DESCRIPTION_CHARS = 4096


class RunInputMetadata(BaseModel):
    """Prefect's: the input's key, its sender (the API server's user name of whoever sent
    it) and receiver (the receiving run's uid); also the run that sent it, if a run did."""
    key: str
    sender: str | None = None
    receiver: Any = None
    sender_run: str | None = None
    namespace: str | None = None


class RunInput(BaseModel):
    """Base class of the data a paused or suspended run waits for, or that is sent to a
    running flow (send_input / receive_input). Unknown fields are rejected
    (`extra="forbid"`), so a typo in a resume never passes silently."""

    model_config = ConfigDict(extra="forbid")
    _metadata: RunInputMetadata | None = PrivateAttr(default=None)

    @property
    def metadata(self) -> RunInputMetadata | None:
        """Where a received input came from (None for one made here)."""
        return self._metadata

    @classmethod
    def receive(cls, timeout: float | None = 3600, poll_interval: float = 10,
                raise_timeout_error: bool = False, exclude_keys: Any = None,
                key_prefix: str | None = None, flow_run_id: Any = None, with_metadata: bool = False) -> Any:
        """Iterate over the inputs of this type sent to the run (Prefect's RunInput.receive)."""
        from .messages import receive_input
        return receive_input(cls, timeout=timeout, poll_interval=poll_interval,
                             raise_timeout_error=raise_timeout_error, exclude_keys=exclude_keys,
                             key_prefix=key_prefix, flow_run_id=flow_run_id, with_metadata=with_metadata)

    def send_to(self, flow_run_id: Any, sender: str | None = None, key_prefix: str | None = None) -> Any:
        """Send this input to a FlowRun (name or uid); awaitable in async code."""
        from .messages import send_input
        return send_input(self, flow_run_id, sender=sender, key_prefix=key_prefix)

    def respond(self, run_input: Any, sender: str | None = None, key_prefix: str | None = None) -> Any:
        """Send `run_input` to the run that sent this input (recorded by the system, never
        claimed); RuntimeError when no run sent it. Awaitable in async code."""
        from .messages import respond
        return respond(self, run_input, sender=sender, key_prefix=key_prefix)

    # The Markdown prompt shown above the expected fields (with_initial_data); a dunder
    # name so that a model may still have a field called `description`.
    __description__: ClassVar[str | None] = None

    @classmethod
    def with_initial_data(cls, description: str | None = None, **defaults: Any) -> type["RunInput"]:
        """This model with `defaults` as the fields' defaults (so they may be left out
        of a resume) and a Markdown `description` for the person resuming the run."""
        unknown = sorted(set(defaults) - set(cls.model_fields))
        if unknown:
            raise ValueError(f"{cls.__name__} has no field(s) {', '.join(unknown)}; "
                             f"its fields: {', '.join(cls.model_fields)}")
        fields: dict[str, Any] = {}
        for name, value in defaults.items():
            info = cls.model_fields[name]
            merged = FieldInfo.merge_field_infos(info, default=value)
            fields[name] = (info.annotation, merged)
        model = create_model(cls.__name__, __base__=cls, __module__=cls.__module__, **fields)
        model.__description__ = cut_description(description) if description is not None else cls.__description__
        return model


def cut_description(text: str) -> str:
    if len(text) <= MAX_DESCRIPTION_CHARS:
        return text
    return text[:MAX_DESCRIPTION_CHARS - 1] + "…"


class _WrappedInput(RunInput):
    """A RunInput made around a plain type: the resume data is {"value": ...}."""

    value: Any
    __type_name__: ClassVar[str] = ""


_wrapped: dict[Any, type[RunInput]] = {}
_upgraded: dict[type[BaseModel], type[RunInput]] = {}


def upgrade(model: type[BaseModel]) -> type[RunInput]:
    """A BaseModel that is not a RunInput, as one: same fields and validators, unknown
    fields forbidden (Prefect does the same upgrade)."""
    if issubclass(model, RunInput):
        return model
    if model not in _upgraded:
        config = ConfigDict(**{**model.model_config, "extra": "forbid"})
        _upgraded[model] = type(model.__name__, (model, RunInput),
                                {"model_config": config, "__module__": model.__module__,
                                 "__qualname__": model.__qualname__, "__doc__": model.__doc__})
    return _upgraded[model]


def as_run_input(wait_for_input: Any) -> tuple[type[RunInput], bool]:
    """(the model to validate against, whether the caller wants `.value` back)."""
    if isinstance(wait_for_input, type) and issubclass(wait_for_input, BaseModel):
        return upgrade(wait_for_input), False
    if wait_for_input not in _wrapped:
        name = getattr(wait_for_input, "__name__", None) or str(wait_for_input)
        made = create_model(
            f"{name.capitalize()}Input", __base__=_WrappedInput, value=(wait_for_input, ...))
        made.__type_name__ = _type_name(wait_for_input)
        _wrapped[wait_for_input] = made
    return _wrapped[wait_for_input], True


def _type_name(_type: Any) -> str:
    """Prefect's name of a plain type: `str`, `list` for list[int`]..."""
    return str(getattr(_type, "__name__", getattr(_type, "_name", "")) or "")


def key_prefix_for(input_type: Any) -> str:
    """The default key prefix of inputs of `input_type`, as Prefect makes it: a RunInput
    class's lowercased name + `-auto`; a BaseModel's as its RunInput subclass
    (`<name>runinput-auto`); a plain type's `<type>automaticruninput-auto`."""
    if isinstance(input_type, type) and issubclass(input_type, _WrappedInput):
        return ri.automatic_prefix(input_type.__type_name__)
    if isinstance(input_type, type) and issubclass(input_type, BaseModel):
        if input_type in _upgraded.values():
            original = next(k for k, v in _upgraded.items() if v is input_type)
            return ri.model_prefix(f"{original.__name__}RunInput")
        if issubclass(input_type, RunInput):
            return ri.model_prefix(input_type.__name__)
        return ri.model_prefix(f"{input_type.__name__}RunInput")
    return ri.automatic_prefix(_type_name(input_type))


def description_of(model: type[BaseModel] | None) -> str | None:
    return getattr(model, "__description__", None) if model is not None else None


def validation_messages(exc: pydantic.ValidationError) -> list[str]:
    """Readable 'field: problem' lines of a pydantic validation error."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "(input)"
        lines.append(f"{where}: {err.get('msg')}")
    return lines
