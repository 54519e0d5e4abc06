"""Checking resume input against the JSON schema a pause stored (status.pause.inputSchema).

One function, used by the admission webhook, the operator, the CLI and
resume_flow_run alike, so every door gives the same answer in the same words.
"""
from __future__ import annotations

from typing import Any


def input_problems(schema: dict[str, Any] | None, data: Any) -> list[tuple[str, str]]:
    """(field's JSON path, problem) for `data` against `schema`, empty when valid; the
    path is dotted (`address.city`, `tags.0`), "(input)" for the input as a whole.
    No schema means no input is expected, so anything passes."""
    if not schema:
        return []
    import jsonschema  # only where input is checked: keeps paused runner pods small
    validator = jsonschema.Draft202012Validator(schema)
    found = sorted(validator.iter_errors(data if data is not None else {}),
                   key=lambda e: [str(p) for p in e.absolute_path])
    return [(".".join(str(p) for p in err.absolute_path) or "(input)", err.message)
            for err in found]


def input_errors(schema: dict[str, Any] | None, data: Any) -> list[str]:
    """Readable 'field: problem' lines for `data` against `schema` (empty when valid)."""
    return [f"{where}: {message}" for where, message in input_problems(schema, data)]
