"""Turning command-line words into JSON: `-p key=value` parameters, `--input key=value`
resume input (coerced to the types the pause's stored schema asks for) and input files.

    -p count=3          3 (JSON when the value parses as JSON, else the string)
    -p cfg=@cfg.json    the parsed contents of cfg.json
    --input age=42      42 when the schema says `age` is an integer, "42" for a string
    --input tags:=[1,2] raw JSON, whatever the schema says
    --input note=@msg.txt   a file's contents (parsed as JSON where the type is not string)
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from ..contract import input_schema as schemas
from ..contract.input_schema import json_or_string
from .errors import INVALID_INPUT, CliError


class InputError(CliError):
    def __init__(self, message: str):
        super().__init__(message, INVALID_INPUT)


def read_text(path: str) -> str:
    """A file's text; `-` is standard input."""
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def split_assignment(text: str) -> tuple[str, str, str]:
    """`key=value` -> (key, "=", value); `key:=json` -> (key, ":=", json);
    `key=@file` -> (key, "@", file)."""
    eq = text.find("=")
    if eq <= 0:
        raise InputError(f"expected key=value, got {text!r}")
    key, value = text[:eq], text[eq + 1:]
    if key.endswith(":"):
        return key[:-1], ":=", value
    if value.startswith("@") and len(value) > 1:
        return key, "@", value[1:]
    return key, "=", value


def parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InputError(f"{what} is not valid JSON: {exc}") from None


def parse_parameters(pairs: list[str], read: Callable[[str], str] = read_text) -> dict[str, Any]:
    """`-p` values: JSON when they parse as JSON, else strings; `key=@file` reads a JSON
    file (or text, when it is not JSON); `key:=json` must be JSON."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, mode, value = split_assignment(pair)
        if mode == ":=":
            out[key] = parse_json(value, f"parameter {key}")
        elif mode == "@":
            out[key] = json_or_string(read(value))
        else:
            out[key] = json_or_string(value)
    return out


def load_object(text: str, what: str) -> dict[str, Any]:
    """A JSON (or YAML) object from a file's text."""
    try:
        data = json.loads(text)
    except ValueError:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InputError(f"{what} is neither JSON nor YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{what} must hold an object (key: value pairs), "
                         f"not {type(data).__name__}")
    return data


def coerce(name: str, raw: str, prop: dict[str, Any] | None, root: dict[str, Any]) -> Any:
    """The value of `--input name=raw` in the type the schema gives `name`
    (contract.input_schema.coerce, shared with the web UI's form)."""
    try:
        return schemas.coerce(name, raw, prop, root)
    except schemas.CoercionError as exc:
        raise InputError(str(exc)) from None


@dataclass(frozen=True)
class GivenInput:
    """`--input-file` and `--input` as the command line gave them, parsed once: the file's
    object and each assignment split (and its `@file` read). What each value becomes
    depends on the schema of the pause the run waits at, known only once the run is read:
    `build(schema)`."""
    file_data: dict[str, Any] | None
    assignments: tuple[tuple[str, str, str], ...]  # (key, mode, text): mode "=", ":=" or "@"

    def build(self, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        """The resume input: the file's object, then each `--input` on top, coerced with
        the schema. None when no input was given at all."""
        if not self.assignments and self.file_data is None:
            return None
        data: dict[str, Any] = dict(self.file_data or {})
        root = schema or {}
        for key, mode, text in self.assignments:
            prop = schemas.property_schema(schema, key)
            if mode == ":=":
                data[key] = parse_json(text, f"input {key}")
            elif mode == "@":
                types = schemas.json_types(prop, root) if prop is not None else []
                data[key] = text if types == ["string"] else coerce(key, text.strip(), prop, root) \
                    if types else json_or_string(text)
            else:
                data[key] = coerce(key, text, prop, root)
        return data


def parse_input(assignments: list[str], file_data: dict[str, Any] | None,
                read: Callable[[str], str] = read_text) -> GivenInput:
    """Parse `--input` once (a malformed one fails here, before anything is read)."""
    parsed = []
    for pair in assignments:
        key, mode, value = split_assignment(pair)
        parsed.append((key, mode, read(value) if mode == "@" else value))
    return GivenInput(file_data, tuple(parsed))


def build_input(
    assignments: list[str],
    file_data: dict[str, Any] | None,
    schema: dict[str, Any] | None,
    read: Callable[[str], str] = read_text,
) -> dict[str, Any] | None:
    """The resume input for `schema`, from the command line's words (parse, then build)."""
    return parse_input(assignments, file_data, read).build(schema)
