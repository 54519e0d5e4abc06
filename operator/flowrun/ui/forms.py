"""The pause panel's form, generated from `status.pause.inputSchema`, and the way back
from the submitted form to the JSON input. Pure functions (no I/O), tested alone.

Each input's `name` is the field's JSON path (`name`, `address.city`, `tags.0`); the
form's own fields start with an underscore (`_reason`, `_json`, `_csrf`), which no
pydantic field name can (pydantic treats such names as private), so they never collide.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..contract import input_schema as schemas

#: How many more array items the form offers beyond the default's.
SPARE_ITEMS = 2
MAX_DEPTH = 6


@dataclass
class FormField:
    path: str  # the JSON path, the input's name
    label: str
    kind: str  # string | text | integer | number | boolean | enum | object | array | json
    required: bool = False
    description: str = ""
    value: str = ""  # what the input shows (the default, or what was submitted)
    options: list[tuple[str, str]] = field(default_factory=list)  # (value, label) for enum/boolean
    choices: dict[str, Any] = field(default_factory=dict)  # option value -> the JSON value
    children: list["FormField"] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    error: str = ""
    input_type: str = "text"


def _types(node: dict[str, Any], root: dict[str, Any]) -> list[str]:
    return [t for t in schemas.json_types(node, root) if t != "null"]


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _leaf_schema(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """A nullable field (anyOf [T, null], as pydantic writes Optional[T]) as T."""
    node = schemas.resolve(node, root)
    for key in ("anyOf", "oneOf"):
        alts = node.get(key)
        if isinstance(alts, list):
            real = [schemas.resolve(a, root) for a in alts if schemas.resolve(a, root).get("type") != "null"]
            if len(real) == 1:
                return {**real[0], **{k: v for k, v in node.items() if k not in (key,)}}
    return node


def build(schema: dict[str, Any] | None, submitted: Mapping[str, str] | None = None,
          errors: Mapping[str, str] | None = None) -> list[FormField]:
    """The form's fields for a schema (defaults prefilled, or what was `submitted`),
    with `errors` (path -> problem) put next to the fields they name."""
    if not schema:
        return []
    root = schemas.resolve(schema, schema)
    return _object_fields(root, schema, "", set(root.get("required") or []), submitted or {},
                          errors or {}, None, 0)


def _object_fields(node: dict[str, Any], root: dict[str, Any], prefix: str, required: set[str],
                   submitted: Mapping[str, str], errors: Mapping[str, str], defaults: Any,
                   depth: int) -> list[FormField]:
    out = []
    props = node.get("properties") or {}
    names = [n for n in props if n in required] + [n for n in props if n not in required]
    for name in names:
        prop = _leaf_schema(props[name], root)
        default = prop.get("default")
        if isinstance(defaults, dict) and name in defaults:
            default = defaults[name]
        out.append(_field(prop, root, f"{prefix}{name}", name in required, submitted, errors,
                          default, depth))
    return out


def _field(node: dict[str, Any], root: dict[str, Any], path: str, required: bool,
           submitted: Mapping[str, str], errors: Mapping[str, str], default: Any,
           depth: int) -> FormField:
    types = _types(node, root)
    label = str(node.get("title") or path.rsplit(".", 1)[-1])
    f = FormField(path=path, label=label, kind="json", required=required,
                  description=str(node.get("description") or ""), error=errors.get(path, ""),
                  constraints=schemas.constraints(node, root))
    enum = [v for v in schemas.enum_values(node, root) if v is not None]
    if enum:
        f.kind = "enum"
        f.options = [(_show(v), _show(v)) for v in enum]
        f.choices = {_show(v): v for v in enum}
    elif types == ["boolean"]:
        f.kind = "boolean"
        f.options = [("true", "yes (true)"), ("false", "no (false)")]
        f.choices = {"true": True, "false": False}
    elif types in (["integer"], ["number"]):
        f.kind = types[0]
        f.input_type = "number"
    elif types == ["string"]:
        f.kind = "text" if (node.get("maxLength") or 0) > 200 or node.get("format") == "textarea" else "string"
    elif types == ["object"] and node.get("properties") and depth < MAX_DEPTH:
        f.kind = "object"
        f.children = _object_fields(node, root, f"{path}.", set(node.get("required") or []),
                                    submitted, errors, default if isinstance(default, dict) else None,
                                    depth + 1)
        return f
    elif types == ["array"] and depth < MAX_DEPTH and isinstance(node.get("items"), dict):
        items = _leaf_schema(node["items"], root)
        if _types(items, root) and _types(items, root)[0] != "array":
            f.kind = "array"
            given = default if isinstance(default, list) else []
            count = max(len(given) + SPARE_ITEMS, _submitted_items(submitted, path))
            for i in range(count):
                child = _field(items, root, f"{path}.{i}", False, submitted, errors,
                               given[i] if i < len(given) else None, depth + 1)
                child.label = f"{label} {i + 1}"
                f.children.append(child)
            return f
    if path in submitted:
        f.value = submitted[path]
    elif default is not None:
        f.value = _show(default)
    return f


def _submitted_items(submitted: Mapping[str, str], path: str) -> int:
    """How many items of the array at `path` the submitted form had."""
    most = 0
    for key in submitted:
        if key.startswith(path + "."):
            head = key[len(path) + 1:].split(".", 1)[0]
            if head.isdigit():
                most = max(most, int(head) + 1)
    return most


class FormError(ValueError):
    def __init__(self, message: str, fields: dict[str, str]):
        super().__init__(message)
        self.fields = fields


def parse(schema: dict[str, Any] | None, form: Mapping[str, str]) -> Any:
    """The input a submitted form means: each non-empty field converted to the type its
    schema asks for, set at its JSON path; then the `_json` box's object merged on top.
    None when the form gave nothing at all. FormError names the fields it cannot read."""
    data: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for f in _leaves(build(schema)):
        raw = form.get(f.path, "")
        if raw == "" or raw is None:
            continue
        try:
            value = _convert(f, raw, schema or {})
        except (ValueError, schemas.CoercionError) as exc:
            problems[f.path] = str(exc)
            continue
        _set(data, f.path.split("."), value)
    raw_json = (form.get("_json") or "").strip()
    if raw_json:
        try:
            extra = json.loads(raw_json)
        except ValueError as exc:
            problems["_json"] = f"not valid JSON: {exc}"
        else:
            if not isinstance(extra, dict):
                problems["_json"] = "must be a JSON object"
            else:
                data = _merge(data, extra)
    if problems:
        raise FormError("; ".join(f"{k}: {v}" for k, v in problems.items()), problems)
    _compact(data)
    return data if (data or raw_json or schema) else None


def _leaves(fields: list[FormField]) -> list[FormField]:
    out = []
    for f in fields:
        if f.kind in ("object", "array"):
            out.extend(_leaves(f.children))
        else:
            out.append(f)
    return out


def _convert(f: FormField, raw: str, root: dict[str, Any]) -> Any:
    if f.kind in ("string", "text"):
        return raw
    if f.kind == "json":
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    if f.kind in ("enum", "boolean"):
        if raw not in f.choices:
            raise ValueError(f"{raw!r} is not one of the choices")
        return f.choices[raw]
    return schemas.coerce(f.path, raw, {"type": f.kind}, root)


def _set(data: dict[str, Any], parts: list[str], value: Any) -> None:
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        nxt_is_index = not last and parts[i + 1].isdigit()
        if isinstance(node, list):
            index = int(part)
            while len(node) <= index:
                node.append(None)
            if last:
                node[index] = value
            else:
                if node[index] is None:
                    node[index] = [] if nxt_is_index else {}
                node = node[index]
        else:
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, [] if nxt_is_index else {})


def _compact(node: Any) -> Any:
    """Array slots left empty (spare items) are dropped, keeping the others' order."""
    if isinstance(node, dict):
        for k in list(node):
            _compact(node[k])
    elif isinstance(node, list):
        node[:] = [x for x in node if x is not None]
        for x in node:
            _compact(x)
    return node


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


# --- Choices: a pause that waits for one of a few values, answered in one click ---------

#: More options than this stay a select (a row of forty buttons helps nobody).
MAX_CHOICE_BUTTONS = 8

#: Word stems of answers that stop, undo or destroy something: such a button asks for a
#: confirmation first. Matched against the option's words (`reject`, `Rejected`,
#: `DELETE_ALL`, `roll-back`), never inside another word (`cancelled` yes, `scancel` no).
DESTRUCTIVE_STEMS = ("reject", "deny", "denied", "declin", "cancel", "abort", "delet", "remov",
                     "destroy", "drop", "kill", "terminat", "refus", "revok", "purg", "wipe",
                     "discard", "veto", "rollback", "erase", "fail", "stop", "halt", "disapprov")


@dataclass(frozen=True)
class Option:
    value: str  # what the button posts (the form's text for the JSON value)
    label: str
    destructive: bool


@dataclass(frozen=True)
class Choice:
    """A required field of the input that takes one of a few values (a `Literal[...]` or
    an `Enum`): shown as one button per option, each of which answers the pause."""
    path: str
    label: str
    options: tuple[Option, ...]
    alone: bool  # no other required field: a click is the whole answer


def _words(text: str) -> list[str]:
    """`DELETE_ALL` -> [delete, all]; `rollBack` -> [roll, back]; `roll-back` -> [roll, back]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def looks_destructive(option: str) -> bool:
    """Whether an answer reads as stopping, undoing or destroying something (ask first)."""
    words = _words(option)
    candidates = [*words, "".join(words)]  # `roll back` as rollback too
    return any(w.startswith(stem) for w in candidates for stem in DESTRUCTIVE_STEMS)


def choice(schema: dict[str, Any] | None) -> Choice | None:
    """The input's choice, if it has one: the first required top-level field whose values
    are an enumeration of 1 to MAX_CHOICE_BUTTONS options (a plain `Literal`/`Enum`
    wait_for_input is the one field `value`). None: the pause has no such field (the form
    as it is). `alone` when no other field is required."""
    if not schema:
        return None
    fields = build(schema)
    required = [f for f in fields if f.required]
    for f in required:
        if f.kind == "enum" and 1 <= len(f.options) <= MAX_CHOICE_BUTTONS:
            options = tuple(Option(v, label, looks_destructive(v)) for v, label in f.options)
            # (a plain Literal/Enum is the field `value`, titled "Value" by pydantic)
            label = "Your answer" if f.path == "value" and f.label == "Value" else f.label
            return Choice(f.path, label, options, alone=len(required) == 1)
    return None


def without(fields: list[FormField], path: str) -> list[FormField]:
    """The form's fields less the one at `path` (the choice, shown as buttons instead)."""
    return [f for f in fields if f.path != path]


def needs_confirmation(found: Choice | None, submitted: Mapping[str, str], confirmed: bool) -> Option | None:
    """The destructive option a post chose and did not confirm yet (the page then asks
    first); None when there is nothing to confirm."""
    if found is None or confirmed:
        return None
    picked = submitted.get(found.path, "")
    return next((o for o in found.options if o.value == picked and o.destructive), None)


def schema_signature(schema: dict[str, Any] | None) -> str:
    """What identifies an input schema: equal for equal schemas whatever their keys'
    order (the API server may sort them), short enough for a hidden field."""
    text = json.dumps(schema or None, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Shared:
    """Whether runs selected together can be answered with one form: `schema` (None: they
    wait for no input) when they all wait for the same one, else `why` says which differ."""
    same: bool
    schema: dict[str, Any] | None
    signature: str
    why: str = ""


def shared_schema(schemas_by_run: Mapping[str, dict[str, Any] | None]) -> Shared:
    """One answer for several runs needs one schema: the runs' (name -> the schema its
    pause waits for) all equal. Otherwise the runs grouped by schema, to answer apart."""
    if not schemas_by_run:
        return Shared(False, None, "", "no run selected")
    groups: dict[str, list[str]] = {}
    for run, schema in schemas_by_run.items():
        groups.setdefault(schema_signature(schema), []).append(run)
    if len(groups) == 1:
        (signature,) = groups
        return Shared(True, next(iter(schemas_by_run.values())), signature)
    parts = [", ".join(sorted(runs)) for runs in sorted(groups.values(), key=lambda r: sorted(r))]
    return Shared(False, None, "", "the selected runs wait for different inputs; answer each group "
                  "apart: " + " | ".join(parts))
