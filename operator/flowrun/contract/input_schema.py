"""Reading the JSON schema a pause stored (status.pause.inputSchema, as pydantic's
`model_json_schema()` writes it) for people: which fields, of which types, required or
not, with which defaults and allowed values, and turning a person's text into a value
of the type a field asks for (the CLI's `--input`, the web UI's form). Pure functions."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

_MISSING = object()
_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}


class CoercionError(ValueError):
    """A text that is not a value of the type the schema asks for."""


def json_or_string(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


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
        found = node.get(key)
        if isinstance(found, list):
            return found
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
    return schema is not None and bool(schema) and resolve(schema, schema).get("additionalProperties") is False


def coerce(name: str, raw: str, prop: dict[str, Any] | None, root: dict[str, Any]) -> Any:
    """The value of `--input name=raw` in the type the schema gives `name`. Unknown
    fields and untyped ones: JSON when it parses, else the string."""
    types = json_types(prop, root) if prop is not None else []
    if not types:
        return json_or_string(raw)
    for t in ("null", "boolean", "integer", "number", "array", "object"):
        if t not in types:
            continue
        ok, value = _convert(t, raw, prop or {}, root)
        if ok:
            return value
    if "string" in types:
        return raw
    wanted = " or ".join(types)
    raise CoercionError(f"{name}: {raw!r} is not a valid {wanted}")


def _convert(t: str, raw: str, prop: dict[str, Any], root: dict[str, Any]) -> tuple[bool, Any]:
    text = raw.strip()
    if t == "null":
        return (text in ("null", "None", "~"), None)
    if t == "boolean":
        low = text.lower()
        if low in _TRUE:
            return True, True
        if low in _FALSE:
            return True, False
        return False, None
    if t == "integer":
        try:
            return True, int(text)
        except ValueError:
            try:
                f = float(text)
                return (f.is_integer(), int(f)) if f == f else (False, None)
            except ValueError:
                return False, None
    if t == "number":
        try:
            return True, int(text)
        except ValueError:
            try:
                return True, float(text)
            except ValueError:
                return False, None
    if t in ("array", "object"):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if t == "array" and isinstance(value, list):
            return True, value
        if t == "object" and isinstance(value, dict):
            return True, value
        if t == "array" and value is None:
            # a,b,c -> a list, each item coerced to the items' type
            items = resolve(prop.get("items") or {}, root) if isinstance(prop, dict) else {}
            parts = [p.strip() for p in text.split(",")] if text else []
            try:
                return True, [coerce("item", p, items, root) for p in parts]
            except CoercionError:
                return False, None
        return False, None
    return False, None
