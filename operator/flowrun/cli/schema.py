"""Reading the JSON schema a pause stored (status.pause.inputSchema, as pydantic's
`model_json_schema()` writes it) for people: which fields, of which types, required or
not, with which defaults and allowed values. Pure functions, no I/O."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_MISSING = object()


def resolve(node: Any, root: dict[str, Any], _depth: int = 0) -> dict[str, Any]:
    """Follow a local `$ref` (#/$defs/X or #/definitions/X); other nodes as they are."""
    if not isinstance(node, dict):
        return {}
    ref = node.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/") or _depth > 20:
        return node
    target: Any = root
    for part in ref[2:].split("/"):
        target = target.get(part) if isinstance(target, dict) else None
    if not isinstance(target, dict):
        return node
    # Siblings of $ref (description, default) win over the target's.
    merged = {**resolve(target, root, _depth + 1),
              **{k: v for k, v in node.items() if k != "$ref"}}
    return merged


def _alternatives(node: dict[str, Any]) -> list[Any] | None:
    for key in ("anyOf", "oneOf"):
        if isinstance(node.get(key), list):
            return node[key]
    return None


def json_types(node: Any, root: dict[str, Any]) -> list[str]:
    """The JSON types a value may have, most specific first ([] when anything goes)."""
    node = resolve(node, root)
    alts = _alternatives(node)
    if alts is not None:
        out: list[str] = []
        for alt in alts:
            for t in json_types(alt, root):
                if t not in out:
                    out.append(t)
        return out
    if "const" in node:
        return [_type_of(node["const"])]
    if isinstance(node.get("enum"), list) and "type" not in node:
        return list(dict.fromkeys(_type_of(v) for v in node["enum"]))
    t = node.get("type")
    if isinstance(t, list):
        return [str(x) for x in t]
    if isinstance(t, str):
        return [t]
    return []


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def type_name(node: Any, root: dict[str, Any]) -> str:
    """A short readable type: `string`, `integer | null`, `array of string`,
    `object (Address)`, `any`."""
    node = resolve(node, root)
    alts = _alternatives(node)
    if alts is not None:
        names = list(dict.fromkeys(type_name(a, root) for a in alts))
        return " | ".join(names) or "any"
    if "const" in node:
        return f"{_type_of(node['const'])} (= {_show(node['const'])})"
    types = json_types(node, root)
    if not types:
        return "any"
    parts = []
    for t in types:
        if t == "array":
            items = node.get("items")
            parts.append(f"array of {type_name(items, root)}" if items else "array")
        elif t == "object" and node.get("title") and node.get("properties") is not None:
            parts.append(f"object ({node['title']})")
        else:
            parts.append(t)
    return " | ".join(parts)


def _show(value: Any) -> str:
    import json
    return value if isinstance(value, str) else json.dumps(value)


def enum_values(node: Any, root: dict[str, Any]) -> list[Any]:
    node = resolve(node, root)
    if isinstance(node.get("enum"), list):
        return list(node["enum"])
    alts = _alternatives(node)
    if alts is not None:
        out: list[Any] = []
        for alt in alts:
            out.extend(v for v in enum_values(alt, root) if v not in out)
        return out
    return []


_CONSTRAINTS = (
    ("minimum", ">= {}"), ("exclusiveMinimum", "> {}"), ("maximum", "<= {}"),
    ("exclusiveMaximum", "< {}"), ("minLength", "min length {}"),
    ("maxLength", "max length {}"), ("pattern", "pattern {}"), ("format", "format {}"),
    ("minItems", "min items {}"), ("maxItems", "max items {}"),
)


def constraints(node: Any, root: dict[str, Any]) -> list[str]:
    node = resolve(node, root)
    return [fmt.format(node[key]) for key, fmt in _CONSTRAINTS if key in node]


@dataclass
class Field:
    name: str
    type: str
    required: bool
    default: Any = _MISSING
    description: str = ""
    enum: list[Any] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)

    @property
    def has_default(self) -> bool:
        return self.default is not _MISSING

    def default_text(self) -> str:
        return _show(self.default) if self.has_default else ""


def fields(schema: dict[str, Any] | None) -> list[Field]:
    """The top-level fields of an input schema: required ones first, then the others,
    each group in the schema's order (the API server may have sorted it by name)."""
    if not schema:
        return []
    root = resolve(schema, schema)
    required = set(root.get("required") or [])
    out = []
    for name, prop in (root.get("properties") or {}).items():
        node = resolve(prop, schema)
        out.append(Field(
            name=name,
            type=type_name(prop, schema),
            required=name in required,
            default=node["default"] if "default" in node else _MISSING,
            description=str(node.get("description") or ""),
            enum=enum_values(prop, schema),
            constraints=constraints(prop, schema),
        ))
    return [f for f in out if f.required] + [f for f in out if not f.required]


def property_schema(schema: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    """The (resolved) schema of the top-level property `name`, None when unknown."""
    if not schema:
        return None
    root = resolve(schema, schema)
    prop = (root.get("properties") or {}).get(name)
    return resolve(prop, schema) if prop is not None else None


def closed(schema: dict[str, Any] | None) -> bool:
    """True when the schema allows no properties beyond those it names."""
    return bool(schema) and resolve(schema, schema).get("additionalProperties") is False
