"""What every config section shares: the strict pydantic base, issues, errors, messages."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from pydantic import BaseModel, ConfigDict

from ...io import toml_value

NO_VALUE: Any = object()
"""The ``value`` of an :class:`Issue` that names no value (left out of its message)."""


@dataclasses.dataclass(frozen=True)
class Issue:
    """One thing wrong with a config.

    Attributes:
        section: the section (``"method"``), or ``None`` for the top level of the file.
        key: the key within the section, or ``None`` for the section itself.
        message: what is wrong and what is allowed.
        value: the offending value as given (left out of the message when absent).
    """

    section: str | None
    key: str | None
    message: str
    value: Any = NO_VALUE

    def __str__(self) -> str:
        where = f"[{self.section}]" if self.section is not None else "(top level)"
        if self.key is not None:
            where += f" {self.key}"
        if self.value is not NO_VALUE:
            where += f" = {show_value(self.value)}"
        return f"{where}: {self.message}"


class ConfigError(ValueError):
    """A config that cannot run; ``issues`` lists every violation found.

    Attributes:
        issues: the violations, each naming section, key, value and what is allowed.
        source: where the config came from (a path), if known.
    """

    def __init__(self, issues: list[Issue], source: str | None = None):
        self.issues = list(issues)
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        head = "invalid configuration" + (f" {self.source}" if self.source else "")
        return head + ":\n" + "\n".join(f"  {issue}" for issue in self.issues)


def show_value(value: Any) -> str:
    """A value as it would be written in TOML (best effort for tables), for messages.

    Args:
        value: a parsed TOML value, or anything else (shown with ``repr``).

    Returns:
        E.g. ``"etkf"`` (with the quotes), ``1.05``, ``[0, 5]``, ``{n = 40}``, ``inf``.
    """
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {show_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show_value(v) for v in value) + "]"
    try:
        return toml_value(value)
    except (TypeError, ValueError):
        if isinstance(value, float):
            return {math.inf: "inf", -math.inf: "-inf"}.get(value, "nan")
        return repr(value)


def one_of(values) -> str:
    """``a, b, c``: allowed values in a message."""
    return ", ".join(str(v) for v in values)


def refuse(*issues: Issue) -> None:
    """Raise a :class:`ConfigError` of ``issues``, if there are any.

    Inside a section's model validator, give ``section=None``: the section is filled in
    from where pydantic reports the error.

    Raises:
        ConfigError: when ``issues`` is not empty.
    """
    if issues:
        raise ConfigError(list(issues))


class Section(BaseModel):
    """A config section: strict types (no string-to-number coercion), no unknown keys,
    finite floats; each key's description is the docstring under it."""

    model_config = ConfigDict(
        extra="forbid", strict=True, allow_inf_nan=False, use_attribute_docstrings=True
    )
