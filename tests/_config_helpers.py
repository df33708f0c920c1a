"""Config data for section tests: a base with some keys changed or removed."""

from __future__ import annotations

import copy
from typing import Any


def changed(data: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of config ``data`` with ``changes``: ``"section.key"`` -> value sets a key,
    -> None removes it; ``"section"`` -> None removes the section."""
    data = copy.deepcopy(data)
    for key, value in changes.items():
        section, _, name = key.partition(".")
        if value is None:
            data[section].pop(name) if name else data.pop(section)
        else:
            data[section][name] = value
    return data
