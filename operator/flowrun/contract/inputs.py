"""Checking resume input against the JSON schema a pause stored (status.pause.inputSchema).

One function, used by the admission webhook, the operator, the CLI and
resume_flow_run alike, so every door gives the same answer in the same words.

Each process checks a given input against a given schema once: the answer is kept
(a few recent ones), since the same resume is judged again by every decision taken
again on a fresh read (compare-and-swap, watch events) and, in the operator, by the
webhook and then the reconcile.
"""
from __future__ import annotations

import functools
import json
from typing import Any

KEPT_ANSWERS = 64


def input_problems(schema: dict[str, Any] | None, data: Any) -> list[tuple[str, str]]:
    """(field's JSON path, problem) for `data` against `schema`, empty when valid; the
    path is dotted (`address.city`, `tags.0`), "(input)" for the input as a whole.
    No schema means no input is expected, so anything passes."""
    if not schema:
        return []
    try:
        texts = json.dumps(schema), json.dumps(data if data is not None else {})
    except (TypeError, ValueError):  # not JSON (a caller's own object): checked as it is
        return _check(schema, data)
    return list(_answer(*texts))


@functools.lru_cache(maxsize=KEPT_ANSWERS)
def _answer(schema: str, data: str) -> tuple[tuple[str, str], ...]:
    return tuple(_check(json.loads(schema), json.loads(data)))


def _check(schema: dict[str, Any], data: Any) -> list[tuple[str, str]]:
    import jsonschema  # only where input is checked: keeps paused runner pods small
    validator = jsonschema.Draft202012Validator(schema)
    found = sorted(validator.iter_errors(data if data is not None else {}),
                   key=lambda e: [str(p) for p in e.absolute_path])
    return [(".".join(str(p) for p in err.absolute_path) or "(input)", err.message)
            for err in found]


def forget_answers() -> None:
    """Tests: check again what was checked before."""
    _answer.cache_clear()


def input_errors(schema: dict[str, Any] | None, data: Any) -> list[str]:
    """Readable 'field: problem' lines for `data` against `schema` (empty when valid)."""
    return [f"{where}: {message}" for where, message in input_problems(schema, data)]
