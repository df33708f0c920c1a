"""A TOML writer for configs: tables of scalars and flat lists (``tomllib`` only reads)."""

import json
import math
from typing import Any


def toml_value(value: Any) -> str:
    """One value in TOML syntax: string, bool, int, finite float or flat list of those."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"toml_value: non-finite float {value} has no place in a config.")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"toml_value: cannot write {type(value).__name__} {value!r} as TOML.")


def dumps_toml(data: dict[str, dict[str, Any]]) -> str:
    """Tables of key/value pairs as TOML text; ``None`` values are left out.

    Args:
        data: ``{section: {key: value}}``, values as accepted by :func:`toml_value`.

    Returns:
        The TOML document, readable by ``tomllib.loads``.
    """
    blocks = []
    for section, table in data.items():
        if not isinstance(table, dict):
            raise TypeError(f"dumps_toml: section [{section}] must be a table, got {table!r}.")
        lines = [f"[{section}]"]
        lines += [f"{key} = {toml_value(v)}" for key, v in table.items() if v is not None]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
