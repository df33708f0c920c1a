"""MkDocs hook: the configuration reference (``config.md``), generated from the config
registry and the pydantic schema of :class:`assimilax.experiments.Config` at every
build, so that it never drifts.

Every section, every registered kind of a tagged section (``[model] name = ...``,
``[observations] operator = ...``, ``[method] name = ...``, ``[hybrid] name = ...``, in
the order of :func:`assimilax.experiments.config.registered`) with each of its keys: type,
default, allowed values (literals and bounds) and description (the field's docstring).
Also writes ``config.schema.json``, the JSON schema of the same model.
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
    from assimilax.experiments.config import (
        KINDS,
        Config,
        registered,
        section_classes,
        section_kind,
    )

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
        "Every key can also be given on the command line, `--set section.key=value`",
        "(repeatable, the last value of a key wins; the value is read as TOML, a bare word as",
        "a string): `assimilax run etkf.toml --set method.inflation=1.05 --set",
        "observations.indices=[0,5]`. `assimilax sweep` applies it to the base config",
        "(`--set sweep.KEY=[...]` replaces an axis), `assimilax reproduce` to every member's",
        "config. Overrides are validated exactly like the file and recorded in the run's",
        "`config.toml`.",
        "",
        '!!! example "The built-in default experiment (`assimilax run` with no config)"',
        "",
        "    ```toml",
        *[f"    {line}" if line else "" for line in Config.default().to_toml().splitlines()],
        "    ```",
        "",
    ]
    seen: dict[str, str] = {}
    for section, field in Config.model_fields.items():
        kind = section_kind(section)
        out += [f"## `[{section}]`", ""]
        status = "Required." if field.is_required() else "Optional."
        out += [f"{status} {_description(Config, section)}", ""]
        if kind in seen:
            first = seen[kind]
            out += [f"The same kinds and keys as [`[{first}]`](#{first}).", ""]
            continue
        if kind is None:
            (model,) = section_classes(section)
            out += _table(model, None) + [""]
            continue
        seen[kind] = section
        tag = KINDS[kind]
        kinds = registered(kind)
        names = ", ".join(f"`{_toml(name)}`" for name in kinds)
        out += [f"The key `{tag}` selects the kind ({names}); each kind has its own keys.", ""]
        for name, model in kinds.items():
            out += [f"### `{tag} = {_toml(name)}`", "", _doc(model), ""]
            page = f"methods/{name}.md"
            if page in pages:
                title = getattr(model, "title", "") or _toml(name)
                out += [f"Equations and references: the [{title} page]({page}).", ""]
            out += _table(model, tag) + [""]
    return "\n".join(out)


def json_schema() -> str:
    """The JSON schema of the config (pydantic's)."""
    from assimilax.experiments import Config

    return json.dumps(Config.model_json_schema(), indent=2) + "\n"
