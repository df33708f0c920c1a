"""MkDocs hook: the configuration reference (``config.md``), generated from the pydantic
schema of :class:`assimilax.experiments.Config` at every build, so that it never drifts.

Every section, every key of every kind of a tagged section (``[model] name = ...``,
``[observations] operator = ...``, ``[method] name = ...``), with its type, default,
allowed values (literals and bounds) and description (the field's docstring). Also
writes ``config.schema.json``, the JSON schema of the same model.
"""

from __future__ import annotations

import inspect
import json
import math
import re
import types
import typing
from typing import Any

import annotated_types as at
from mkdocs.structure.files import File
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

PAGE = "config.md"
SCHEMA = "config.schema.json"


def on_files(files, config):
    """Add the generated pages (replacing any file of the same name)."""
    pages = {f.src_uri for f in files.documentation_pages()}
    for name, content in ((PAGE, render(pages)), (SCHEMA, json_schema())):
        existing = files.get_file_from_path(name)
        if existing is not None:
            files.remove(existing)
        files.append(File.generated(config, name, content=content))
    return files


# ----------------------------------------------------------------------------- schema


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models in an annotation (through unions, Optional and Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += [m for m in _models_in(arg) if m not in found]
    return found


def _is_optional(annotation: Any) -> bool:
    return type(None) in typing.get_args(annotation)


def _tag(models: list[type[BaseModel]]) -> str | None:
    """The discriminating key of a union of section models (``name`` or ``operator``)."""
    if len(models) < 2:
        return None
    common = set.intersection(*(set(m.model_fields) for m in models))
    for key in sorted(common):  # a single literal per model, different in each
        values = [typing.get_args(m.model_fields[key].annotation) for m in models]
        if all(len(v) == 1 for v in values) and len(set(values)) == len(models):
            return key
    return None


def _description(model: type[BaseModel], key: str) -> str:
    """The field's description; a redefinition without one inherits its base's."""
    for cls in model.__mro__:
        fields = getattr(cls, "model_fields", None) or {}
        if key in fields and fields[key].description:
            return " ".join(inspect.cleandoc(fields[key].description).split())
    return ""


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        kinds = {type(a) for a in args}
        return _type_name(kinds.pop()) if len(kinds) == 1 else "literal"
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(dict.fromkeys(names))
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (list, tuple):
        return f"list of {_type_name(args[0])}s" if args else "list"
    return {int: "integer", float: "float", bool: "boolean", str: "string"}.get(
        annotation, getattr(annotation, "__name__", str(annotation)))


def _literal_values(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) is typing.Literal:
        return list(typing.get_args(annotation))
    values: list[Any] = []
    for arg in typing.get_args(annotation):
        values += _literal_values(arg)
    return values


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float):
        if math.isinf(value):
            return "inf"
        return f"{value:.1f}" if value.is_integer() and abs(value) < 1e15 else f"{value:.10g}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


_BOUNDS = ((at.Gt, "gt", ">"), (at.Ge, "ge", "≥"), (at.Lt, "lt", "<"), (at.Le, "le", "≤"))


def _bound(value: Any) -> str:
    if isinstance(value, int) and value >= 2**31:
        exponent = math.log2(value)
        if exponent.is_integer():
            return f"2^{int(exponent)}"
    return _toml(value)


def _allowed(field) -> str:
    literals = _literal_values(field.annotation)
    if literals:
        return ", ".join(f"`{_toml(v)}`" for v in literals)
    rules = []
    for item in field.metadata:
        for cls, attr, sign in _BOUNDS:
            if isinstance(item, cls):
                rules.append(f"{sign} {_bound(getattr(item, attr))}")
        if isinstance(item, at.MinLen):
            rules.append(f"at least {item.min_length} item" + ("s" if item.min_length > 1 else ""))
        if isinstance(item, at.MaxLen):
            rules.append(f"at most {item.max_length} items")
    return ", ".join(rules)


def _default(field, *, tag: bool) -> str:
    if tag:
        return "required"
    if field.is_required():
        return "required"
    if field.default is PydanticUndefined:
        return "computed"
    if field.default is None:
        return "none (see description)"
    return f"`{_toml(field.default)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|") if text else "&nbsp;"


def _table(model: type[BaseModel], tag: str | None) -> list[str]:
    keys = list(model.model_fields)
    if tag is not None:
        keys = [tag] + [k for k in keys if k != tag]
    lines = ["| key | type | default | allowed | description |", "|---|---|---|---|---|"]
    for key in keys:
        field = model.model_fields[key]
        is_tag = key == tag
        lines.append(
            f"| `{key}` | {_type_name(field.annotation)} | {_default(field, tag=is_tag)} | "
            f"{_cell(_allowed(field))} | {_cell(_description(model, key))} |"
        )
    return lines


def _doc(model: type[BaseModel]) -> str:
    """The first paragraph of the model's docstring, without a leading ````key = ...``: ``."""
    text = inspect.cleandoc(model.__doc__ or "").split("\n\n")[0].replace("\n", " ")
    text = re.sub(r"^``[^`]*``:\s*", "", text)
    return text[:1].upper() + text[1:]


def render(pages: set[str] = frozenset()) -> str:
    """The markdown of the configuration reference.

    Args:
        pages: the site's markdown pages; a kind with a page ``methods/<name>.md`` links
            to it.
    """
    from assimilax.experiments import Config

    out = [
        "# Configuration reference",
        "",
        "A run is described by a TOML file of sections. This page is generated from the",
        "pydantic schema (`assimilax.experiments.Config`) each time the site is built; the",
        f"same schema as JSON is [config.schema.json]({SCHEMA}).",
        "",
        "Unknown sections and keys, wrong types (no string-to-number conversion; an integer",
        "is accepted where a float is expected) and values outside the allowed range are",
        "refused before anything runs, every problem listed with its section, key, value",
        "and what is allowed. Keys that belong to one kind of model, operator or method",
        "are accepted only with that kind.",
        "",
        '!!! example "The built-in default experiment (`assimilax run` with no config)"',
        "",
        "    ```toml",
        *[f"    {line}" if line else "" for line in Config.default().to_toml().splitlines()],
        "    ```",
        "",
    ]
    seen: dict[tuple, str] = {}
    for section, field in Config.model_fields.items():
        models = _models_in(field.annotation)
        required = field.is_required() and not _is_optional(field.annotation)
        out += [f"## `[{section}]`", ""]
        status = "Required." if required else "Optional."
        out += [f"{status} {_description(Config, section)}", ""]
        if tuple(models) in seen:
            first = seen[tuple(models)]
            out += [f"The same kinds and keys as [`[{first}]`](#{first}).", ""]
            continue
        seen[tuple(models)] = section
        tag = _tag(models)
        if tag is None:
            (model,) = models
            out += _table(model, None) + [""]
            continue
        kinds = ", ".join(f"`{_toml(m.model_fields[tag].default)}`" for m in models)
        out += [f"The key `{tag}` selects the kind ({kinds}); each kind has its own keys.", ""]
        for model in models:
            value = _toml(model.model_fields[tag].default)
            out += [f"### `{tag} = {value}`", "", _doc(model), ""]
            page = f"methods/{model.model_fields[tag].default}.md"
            if page in pages:
                name = getattr(model, "title", "") or value
                out += [f"Equations and references: the [{name} page]({page}).", ""]
            out += _table(model, tag) + [""]
    return "\n".join(out)


def json_schema() -> str:
    """The JSON schema of the config (pydantic's)."""
    from assimilax.experiments import Config

    return json.dumps(Config.model_json_schema(), indent=2) + "\n"
