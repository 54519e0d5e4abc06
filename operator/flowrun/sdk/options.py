"""Keyword checking for @flow and @task: an unknown keyword names the supported ones."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def check_keywords(what: str, given: dict[str, Any], supported: Iterable[str]) -> None:
    known = set(supported)
    unknown = sorted(set(given) - known)
    if unknown:
        raise TypeError(f"@{what} got unknown keyword argument(s) {', '.join(unknown)}; "
                        f"supported: {', '.join(sorted(known))}")


def with_changes(what: str, current: dict[str, Any], changes: dict[str, Any],
                 supported: Iterable[str]) -> dict[str, Any]:
    """`with_options`: the keywords to build the copy with (every current option, then
    the changes, which must be supported keywords)."""
    check_keywords(what, changes, supported)
    return {**current, **changes}


def format_run_name(template: Any, parameters: dict[str, Any]) -> str | None:
    """flow_run_name / task_run_name: a str.format template over the parameters, or a
    callable (no arguments, or the parameters as keywords ... Prefect calls it bare)."""
    if template is None:
        return None
    if callable(template):
        return str(template())
    try:
        return str(template).format(**parameters)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"run name {template!r} cannot be formatted with the parameters "
                         f"{sorted(parameters)}: {exc}") from None
