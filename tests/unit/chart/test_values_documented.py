"""Every key of the chart's values.yaml carries a `# --` comment (argo-helm's convention;
the README's values table is made from them), and values.schema.json describes exactly the
keys values.yaml has, refusing unknown ones at every level the chart defines."""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

CHART = Path(__file__).resolve().parents[3] / "charts" / "flowrun-operator"
KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.\-/]+):(?:\s|$)")


def undocumented_keys(text: str) -> list[str]:
    """Keys without a `# --` comment block right above them. A key under a documented key
    is part of that key's default value (e.g. resources.requests.cpu) and needs none."""
    missing: list[str] = []
    stack: list[tuple[int, str, bool]] = []  # (indent, key, documented)
    comment: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped)
            continue
        match = KEY.match(line)
        if not stripped or not match:
            comment = [] if not stripped else comment
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        documented = any(c.startswith("# --") for c in comment)
        inside_documented = any(doc for _, _, doc in stack)
        path = ".".join([k for _, k, _ in stack] + [match["key"]])
        if not documented and not inside_documented and not _is_section(line):
            missing.append(path)
        stack.append((indent, match["key"], documented))
        comment = []
    return missing


def _is_section(line: str) -> bool:
    """A key with nothing after the colon opens a section of documented keys."""
    return line.rstrip().endswith(":")


def test_every_value_has_a_doc_comment():
    assert undocumented_keys((CHART / "values.yaml").read_text()) == []


def test_the_checker_finds_a_missing_comment():
    assert undocumented_keys("a:\n  # -- doc\n  b: 1\n  c: 2\n") == ["a.c"]


def _schema_keys(schema: dict, prefix: str = "") -> set[str]:
    keys = set()
    for name, sub in schema.get("properties", {}).items():
        keys.add(prefix + name)
        keys |= _schema_keys(sub, f"{prefix}{name}.")
    return keys


def _strict_everywhere(schema: dict, path: str = "$") -> list[str]:
    loose = []
    if "properties" in schema and schema.get("additionalProperties") is not False:
        loose.append(path)
    for name, sub in schema.get("properties", {}).items():
        loose += _strict_everywhere(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        loose += _strict_everywhere(schema["items"], f"{path}[]")
    return loose


def test_schema_is_strict_and_covers_every_value():
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert _strict_everywhere(schema) == []
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema_keys = _schema_keys(schema)

    def value_keys(node, prefix=""):
        for k, v in node.items():
            yield prefix + k
            if isinstance(v, dict) and v and prefix + k not in {"resources", "podSecurityContext", "securityContext", "ui.resources"}:
                yield from value_keys(v, f"{prefix}{k}.")

    missing = [k for k in value_keys(values) if k not in schema_keys]
    assert missing == [], f"values without a schema entry: {missing}"
