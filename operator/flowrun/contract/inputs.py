"""Checking resume input against the JSON schema a pause stored (status.pause.inputSchema).

One function, used by the admission webhook, the operator, the CLI and
resume_flow_run alike, so every door gives the same answer in the same words.
"""
from __future__ import annotations

from typing import Any


def input_errors(schema: dict[str, Any] | None, data: Any) -> list[str]:
    """Readable 'field: problem' lines for `data` against `schema` (empty when valid).
    No schema means no input is expected, so anything passes."""
    if not schema:
        return []
    import jsonschema  # only where input is checked: keeps paused runner pods small
    validator = jsonschema.Draft202012Validator(schema)
    found = sorted(validator.iter_errors(data if data is not None else {}),
                   key=lambda e: [str(p) for p in e.absolute_path])
    lines = []
    for err in found:
        where = ".".join(str(p) for p in err.absolute_path) or "(input)"
        lines.append(f"{where}: {err.message}")
    return lines
