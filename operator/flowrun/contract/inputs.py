"""Checking resume input against the JSON schema a pause stored (status.pause.inputSchema).

One function, used by the admission webhook, the operator, the CLI and
resume_flow_run alike, so every door gives the same answer in the same words.

The schema is written by flow code, so it is hostile input too. Checking is bounded:
- `pattern` is evaluated with RE2 (google-re2, linear time in the text, no backtracking);
  a pattern RE2 cannot compile (backreferences, lookaround) or longer than
  MAX_PATTERN_LENGTH is refused with a message saying so, never handed to Python's `re`;
- keywords whose evaluation jsonschema does with Python's `re` or without bound
  (`patternProperties`, `unevaluatedProperties`, `unevaluatedItems`) are refused;
- schemas above MAX_SCHEMA_BYTES and inputs above MAX_INPUT_BYTES are refused unread;
- every keyword evaluation costs work units (its size: an enum's length, a text's
  length / 256...); one check stops after MAX_VALIDATION_WORK units and refuses the input
  ("too costly to check"), so nested anyOf/$ref chains cannot take exponential time.

Each process checks a given input against a given schema once: the answer is kept (a few
recent ones), since the same resume is judged again by every decision taken again on a
fresh read (compare-and-swap, watch events) and, in the operator, by the webhook and then
the reconcile.
"""
from __future__ import annotations

import contextvars
import functools
import json
from collections.abc import Callable, Iterator
from typing import Any

from .constants import MAX_INPUT_BYTES, MAX_SCHEMA_BYTES
from .status import json_size

MAX_PATTERN_LENGTH = 1024
MAX_PATTERNS = 100  # per schema: each is compiled (about 0.3 ms each)
# Enough for a 64 KiB input against a pydantic model's schema (measured: a list of 2,000
# objects of 5 fields, 50 KB, costs about 57,000 units); bench/README.md has the worst case.
MAX_VALIDATION_WORK = 60_000
REF_COST = 20
REFUSED_KEYWORDS = ("patternProperties", "unevaluatedProperties", "unevaluatedItems")
# Subtrees that hold values, not schemas: their keys are not keywords.
_VALUE_KEYWORDS = ("default", "const", "enum", "examples")


class TooCostly(Exception):
    """The check used up its work budget."""


_work: contextvars.ContextVar[list[int]] = contextvars.ContextVar("flowrun_validation_work")


def _spend(units: int) -> None:
    left = _work.get(None)
    if left is None:
        return
    left[0] -= units
    if left[0] < 0:
        raise TooCostly()


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> Any:
    import re2  # type: ignore[import-untyped]  # google-re2 (no stubs): only where input is checked
    options = re2.Options()
    options.log_errors = False
    options.max_mem = 8 << 20
    return re2.compile(pattern, options)


def pattern_problem(pattern: Any) -> str | None:
    """Why a JSON-schema `pattern` cannot be used (None: RE2 compiles it)."""
    if not isinstance(pattern, str):
        return "a pattern must be a string"
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"pattern of {len(pattern)} characters, more than the {MAX_PATTERN_LENGTH} allowed"
    try:
        _compiled(pattern)
    except Exception as exc:  # noqa: BLE001 - re2.error, and anything else it may raise
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        return (f"pattern {pattern[:80]!r} is not supported ({detail}): patterns are evaluated with RE2, "
                "which has no backreferences or lookaround")
    return None


def schema_problems(schema: Any) -> list[str]:
    """Why a pause's input schema cannot be used to check input (empty: it can): its
    size, its patterns, the keywords refused. Checked when a pause is written (the
    runner) and again by every reader (flow code may write the status itself)."""
    if not schema:
        return []
    if not isinstance(schema, dict):
        return ["the input schema is not an object"]
    try:
        size = json_size(schema)
    except (RecursionError, ValueError):
        return ["the input schema is nested too deeply"]
    if size > MAX_SCHEMA_BYTES:
        return [f"the input schema is {size} bytes, more than the {MAX_SCHEMA_BYTES} allowed"]
    problems: list[str] = []
    patterns: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if key in REFUSED_KEYWORDS:
                problems.append(f"the keyword {key} is not supported")
            elif key == "pattern" and isinstance(value, str):
                patterns.add(value)
                if len(patterns) > MAX_PATTERNS:
                    problems.append(f"more than {MAX_PATTERNS} different patterns")
                    return
                problem = pattern_problem(value)
                if problem:
                    problems.append(problem)
            elif key in ("properties", "$defs", "definitions", "dependentSchemas"):
                if isinstance(value, dict):
                    for sub in value.values():  # keys are names here, not keywords
                        walk(sub)
            elif key not in _VALUE_KEYWORDS:
                walk(value)

    try:
        walk(schema)
    except RecursionError:
        return ["the input schema is nested too deeply"]
    return list(dict.fromkeys(problems))


def _hashable(value: Any) -> Any:
    """A key equal for JSON-equal values (1 == 1.0, true != 1), for uniqueItems in one pass."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, (int, float)):
        return ("n", value)
    if isinstance(value, str):
        return ("s", value)
    if isinstance(value, list):
        return ("l", tuple(_hashable(v) for v in value))
    if isinstance(value, dict):
        return ("o", frozenset((k, _hashable(v)) for k, v in value.items()))
    return ("z", None)


@functools.lru_cache(maxsize=1)
def _validator_class() -> Any:
    import jsonschema  # only where input is checked: keeps paused runner pods small
    from jsonschema.exceptions import ValidationError

    base = jsonschema.Draft202012Validator

    def pattern(validator: Any, patrn: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if not validator.is_type(instance, "string"):
            return
        problem = pattern_problem(patrn)
        if problem:
            yield ValidationError(problem)
            return
        _spend(len(instance) // 256)
        if _compiled(patrn).search(instance) is None:
            yield ValidationError(f"{instance[:200]!r} does not match {patrn[:200]!r}")

    def unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if not unique or not validator.is_type(instance, "array"):
            return
        _spend(len(instance))
        seen: set[Any] = set()
        for item in instance:
            key = _hashable(item)
            if key in seen:
                yield ValidationError("the array has non-unique elements")
                return
            seen.add(key)

    def refused(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[Any]:
        yield ValidationError("this schema keyword is not supported (see schema_problems)")

    def metered(fn: Callable[..., Any], base_cost: int) -> Callable[..., Any]:
        def keyword(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
            _spend(base_cost + (len(value) if isinstance(value, (list, dict)) else 0))
            return fn(validator, value, instance, schema)
        return keyword

    keywords: dict[str, Callable[..., Any]] = dict(base.VALIDATORS)
    keywords.update(pattern=pattern, uniqueItems=unique_items,
                    **{name: refused for name in REFUSED_KEYWORDS})
    # A reference costs a resolution (the `referencing` library): several plain keywords' worth.
    costs = {"$ref": REF_COST, "$dynamicRef": REF_COST}
    return jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        base, {k: metered(v, costs.get(k, 1)) for k, v in keywords.items()})


KEPT_ANSWERS = 64


def input_problems(schema: dict[str, Any] | None, data: Any) -> list[tuple[str, str]]:
    """(field's JSON path, problem) for `data` against `schema`, empty when valid; the
    path is dotted (`address.city`, `tags.0`), "(input)" for the input as a whole.
    No schema means no input is expected, so anything passes. Bounded in time: see the
    module's docstring. Checked once per process (the answer is kept)."""
    if not schema:
        return []
    try:
        texts = json.dumps(schema), json.dumps(data if data is not None else {})
    except (TypeError, ValueError, RecursionError):  # not plain JSON: checked as it is, not kept
        return _check(schema, data)
    return list(_answer(*texts))


@functools.lru_cache(maxsize=KEPT_ANSWERS)
def _answer(schema: str, data: str) -> tuple[tuple[str, str], ...]:
    return tuple(_check(json.loads(schema), json.loads(data)))


def forget_answers() -> None:
    """Tests: check again what was checked before."""
    _answer.cache_clear()


def _check(schema: dict[str, Any], data: Any) -> list[tuple[str, str]]:
    unusable = schema_problems(schema)
    if unusable:
        return [("(input)", "the pause's input schema cannot be used to check input: " + "; ".join(unusable))]
    try:
        size = json_size(data) if data is not None else 0
    except (RecursionError, ValueError):
        return [("(input)", "the input is nested too deeply to check")]
    if size > MAX_INPUT_BYTES:
        return [("(input)", f"the input is {size} bytes, more than the {MAX_INPUT_BYTES} allowed")]
    validator = _validator_class()(schema)
    token = _work.set([MAX_VALIDATION_WORK])
    try:
        found = sorted(validator.iter_errors(data if data is not None else {}),
                       key=lambda e: [str(p) for p in e.absolute_path])
    except TooCostly:
        return [("(input)", f"checking this input against the pause's schema takes more than "
                            f"{MAX_VALIDATION_WORK} steps; the input is refused")]
    except RecursionError:
        return [("(input)", "the input or the pause's schema is nested too deeply to check")]
    except Exception as exc:  # noqa: BLE001 - a schema jsonschema cannot use (unknown type, $ref...)
        return [("(input)", f"the pause's input schema cannot be used to check input: {type(exc).__name__}")]
    finally:
        _work.reset(token)
    return [(".".join(str(p) for p in err.absolute_path) or "(input)", err.message)
            for err in found]


def input_errors(schema: dict[str, Any] | None, data: Any) -> list[str]:
    """Readable 'field: problem' lines for `data` against `schema` (empty when valid)."""
    return [f"{where}: {message}" for where, message in input_problems(schema, data)]
