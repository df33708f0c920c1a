"""The whole run configuration: :class:`Config`, loading, ``--set`` overrides, messages.

``Config`` is assembled when this module is imported, from the section classes
registered by then (the package ``__init__`` imports every section module first): the
tagged unions of ``[model]``/``[truth]``, ``[observations]``, ``[method]`` and
``[hybrid]`` are :func:`~._registry.union` of their kind. Pydantic's errors are
translated into :class:`Issue` s naming section, key, value and what is allowed; the
allowed names and "did you mean" suggestions come from the registry too.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import os
import re
import tomllib
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError, model_validator

from ...io import dumps_toml
from . import _registry
from ._base import NO_VALUE, ConfigError, Issue, Section, one_of, refuse
from ._experiment import SPINUP_TIME, ExperimentConfig
from ._ml import MLConfig
from ._model import ModelSection
from ._registry import KINDS, registered, union

ModelConfig = union("model")
"""A ``[model]`` or ``[truth]`` section: the registered models, tagged by ``name``."""
ObservationsConfig = union("observations")
"""An ``[observations]`` section: the registered operators, tagged by ``operator``."""
MethodConfig = union("method")
"""A ``[method]`` section: the registered methods, tagged by ``name``."""
HybridConfig = union("hybrid")
"""A ``[hybrid]`` section: the registered hybrid methods, tagged by ``name``."""
_registry.close()

_DEFAULT: dict[str, dict[str, Any]] = {
    "model": {"name": "lorenz96", "n": 40, "forcing": 8.0, "dt": 0.05},
    "observations": {"operator": "full", "every_steps": 1, "noise_std": 1.0},
    "method": {"name": "letkf", "ensemble_size": 20, "inflation": 1.02,
               "localization_radius": 4.0},
    "experiment": {"cycles": 2000, "burn_in": 200, "seed": 0},
}


class Config(Section):
    """A validated run configuration; every default resolved.

    Build one with :func:`load_config` (a TOML file), :meth:`from_dict` or
    :meth:`default`; invalid input raises :class:`ConfigError`.
    """

    model: ModelConfig
    """The forecast model (and the truth's, unless ``[truth]`` is given)."""
    truth: ModelConfig | None = None
    """A different model for the truth (model-error studies), ``dt`` dividing the
    observation interval: the same state size, or a finer model that resolves the forecast
    model's variables (``two_scale_lorenz96`` for a truncated ``lorenz96`` of ``n = K``:
    the truth's slow variables are observed and scored)."""
    observations: ObservationsConfig
    """What is observed, how often and how noisily."""
    method: MethodConfig | None = None
    """The data assimilation method (required, except for ``[hybrid] name =
    "emulator_4dvar"``, which brings its own 4D-Var)."""
    experiment: ExperimentConfig
    """Length, burn-in, seed and run-time settings."""
    ml: MLConfig | None = None
    """The network and its training, for a ``[hybrid]`` method (defaults: the paper's)."""
    hybrid: HybridConfig | None = None
    """A DA+ML method of the literature run on this twin (None: plain data assimilation)."""

    @model_validator(mode="after")
    def _consistent(self):
        issues = self._hybrid_issues()
        n = self.model.state_size
        truth = self.truth
        if truth is not None and not truth.resolves(n):
            issues.append(Issue("truth", "name", f"{truth.describe()} has {truth.state_size} "
                                f"state variables but the forecast model has {n}; the truth "
                                "and the forecast model must share the state (or the truth "
                                "resolve it: two_scale_lorenz96 for a lorenz96 of n = K)",
                                truth.name))
        obs = self.observations
        issues += obs.issues(n)
        if truth is not None and not issues:
            interval = obs.every_steps * self.model.dt
            ratio = interval / truth.dt
            if round(ratio) < 1 or not math.isclose(ratio, round(ratio), rel_tol=1e-9):
                issues.append(Issue("truth", "dt", f"the observation interval every_steps x "
                                    f"[model] dt = {interval:g} must be a whole number of truth "
                                    "steps", truth.dt))
        refuse(*issues)
        if self.experiment.spinup_steps is None:
            self.experiment.spinup_steps = round(SPINUP_TIME / self.truth_model.dt)
        return self

    def _hybrid_issues(self) -> list[Issue]:
        if self.hybrid is not None:
            return self.hybrid.issues(self)
        issues = [] if self.method is not None else [Issue("method", None, "missing section")]
        if self.ml is not None:
            issues.append(Issue("ml", None, "only used by a [hybrid] method; add [hybrid] "
                                "or remove [ml]"))
        return issues

    @property
    def ml_resolved(self) -> MLConfig | None:
        """``[ml]`` with the hybrid's defaults filled in (None without ``[hybrid]``)."""
        if self.hybrid is None:
            return None
        return (self.ml or MLConfig()).resolved(self.hybrid.name)

    @property
    def truth_model(self) -> ModelSection:
        """The model that makes the truth: ``[truth]`` if given, else ``[model]``."""
        return self.model if self.truth is None else self.truth

    @property
    def state_size(self) -> int:
        return self.model.state_size

    @property
    def truth_every_steps(self) -> int:
        """Truth-model steps per observation interval."""
        interval = self.observations.every_steps * self.model.dt
        return round(interval / self.truth_model.dt)

    def describe(self) -> str:
        """One line: method on model, e.g. ``LETKF (N=20, infl 1.02, r=4) on Lorenz-96``."""
        if self.hybrid is not None:
            text = self.hybrid.describe()
            if self.method is not None:
                text += f" with {self.method.describe()}"
            text += f" on {self.model.describe()}"
        else:
            text = f"{self.method.describe()} on {self.model.describe()}"
        if self.truth is not None:
            text += f", truth from {self.truth.describe()}"
        return text

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The config as plain data, defaults written out: it identifies a run."""
        data = self.model_dump(mode="json", exclude_none=True)
        for name, section in data.items():
            tag = getattr(getattr(self, name), "tag", None)
            if tag is not None:  # the tag first, as a reader expects
                data[name] = {tag: section.pop(tag), **section}
        return data

    def to_toml(self) -> str:
        """The config as TOML; :func:`load_config` reads it back to an equal config."""
        return dumps_toml(self.to_dict())

    def with_overrides(self, overrides: Sequence[str]) -> Config:
        """This config with ``--set section.key=value`` overrides (see :func:`apply_overrides`).

        The overrides act on :meth:`to_dict`, where every default is written out: a
        derived default such as ``[experiment] spinup_steps`` keeps its value.

        Args:
            overrides: ``"section.key=value"`` strings, applied in order.

        Raises:
            ConfigError: a malformed override, or an invalid result.
        """
        if not overrides:
            return self
        return Config.from_dict(apply_overrides(self.to_dict(), overrides),
                                source=_with_overrides(None, overrides))

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str | None = None) -> Config:
        """Validate plain data (as parsed from TOML).

        Raises:
            ConfigError: with every violation found.
        """
        if not isinstance(data, dict):
            raise ConfigError([Issue(None, None, "a config must be a table of sections")], source)
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            issues = _issues(err)
            hybrid = data.get("hybrid")
            name = hybrid.get("name") if isinstance(hybrid, dict) else None
            own = registered("hybrid").get(name) if isinstance(name, str) else None
            if "method" not in data and (own is None or own.needs_method):
                issues.append(Issue("method", None, "missing section"))  # optional for pydantic
            raise ConfigError(issues, source) from None

    @classmethod
    def default(cls, overrides: Sequence[str] = ()) -> Config:
        """The built-in experiment: LETKF on Lorenz-96 (n=40, F=8), all variables observed.

        DAPPER's ``sakov2008`` set-up (dt = 0.05, every step, R = I) with a 20-member LETKF,
        2000 cycles; it runs in seconds on a laptop CPU.

        Args:
            overrides: ``"section.key=value"`` strings applied to it (:func:`apply_overrides`).

        Raises:
            ConfigError: a malformed or invalid override.
        """
        data = apply_overrides(_DEFAULT, overrides)
        return cls.from_dict(data, source=_with_overrides("(built-in default)", overrides))


SECTIONS: tuple[str, ...] = tuple(Config.model_fields)
"""The sections of a config file, in the order of the reference."""


def _models_in(annotation: Any) -> tuple[type[Section], ...]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return (annotation,)
    found: list[type[Section]] = []
    for arg in typing.get_args(annotation):
        found += [m for m in _models_in(arg) if m not in found]
    return tuple(found)


_SECTION_MODELS = {name: _models_in(f.annotation) for name, f in Config.model_fields.items()}
_SECTION_KINDS = {name: _registry.kind_of(models[0])
                  for name, models in _SECTION_MODELS.items()
                  if _registry.kind_of(models[0]) is not None}


def section_kind(section: str) -> str | None:
    """The registry kind of a tagged section (``"truth"`` -> ``"model"``), else ``None``.

    Args:
        section: a section name of :data:`SECTIONS`.
    """
    return _SECTION_KINDS.get(section)


def section_classes(section: str) -> tuple[type[Section], ...]:
    """The section classes a section can hold: its registered kinds, or its one class.

    Args:
        section: a section name of :data:`SECTIONS`.

    Raises:
        KeyError: not a section.
    """
    kind = section_kind(section)
    return tuple(registered(kind).values()) if kind else _SECTION_MODELS[section]


# ----------------------------------------------------------------------------- loading


def load_config(path: str | os.PathLike, overrides: Sequence[str] = ()) -> Config:
    """Read and validate a TOML config file, with ``--set`` overrides on top.

    Args:
        path: the TOML file.
        overrides: ``"section.key=value"`` strings (:func:`apply_overrides`), validated
            with the file, in order (a key given twice: the last wins).

    Raises:
        ConfigError: the file is not TOML, an override is malformed, or the config is
            invalid (every issue listed).
        FileNotFoundError: there is no such file.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    source = _with_overrides(str(path), overrides)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError([Issue(None, None, f"not valid TOML: {err}")], str(path)) from None
    return Config.from_dict(apply_overrides(data, overrides, source=source), source=source)


def parse_override(text: str) -> tuple[tuple[str, ...], Any]:
    """``"section.key=value"`` as ``(("section", "key"), value)``.

    The value is read as a TOML value (``1.05``, ``200``, ``true``, ``[0, 5]``,
    ``"etkf"``); anything that is not one is the string as written (``etkf``, a bare
    word). Spaces around the key, the parts of the key and the value are ignored.

    Args:
        text: one ``--set`` argument.

    Returns:
        The key's dotted parts and the value.

    Raises:
        ConfigError: no ``=``, or an empty part of the key.
    """
    key, sep, raw = text.partition("=")
    parts = tuple(p.strip() for p in key.split("."))
    if not sep or not all(parts):
        raise ConfigError([Issue(None, None, f"--set {text}: expected section.key=value, "
                                 "e.g. --set method.inflation=1.05")])
    raw = raw.strip()
    try:
        parsed = tomllib.loads(f"value = {raw}")
    except tomllib.TOMLDecodeError:
        return parts, raw
    return parts, parsed["value"] if list(parsed) == ["value"] else raw


def apply_overrides(
    data: dict[str, Any], overrides: Sequence[str], *, source: str | None = None
) -> dict[str, Any]:
    """Plain config data (as parsed from TOML) with ``--set`` overrides on top.

    Each override ``section.key=value`` sets ``data[section][key]`` (see
    :func:`parse_override` for the value); in order, so a key given twice takes the
    last value. Nothing is validated here: validate the result like a file
    (:meth:`Config.from_dict`), which names an unknown section or key, or a wrong type,
    exactly as it would in the file.

    Args:
        data: the parsed config; not modified.
        overrides: the ``"section.key=value"`` strings.
        source: where the config came from, for the error.

    Returns:
        A new dict.

    Raises:
        ConfigError: a malformed override (all of them listed).
    """
    data = copy.deepcopy(data)
    issues: list[Issue] = []
    for text in overrides:
        try:
            parts, value = parse_override(text)
        except ConfigError as err:
            issues += err.issues
            continue
        table = data
        for part in parts[:-1]:
            inner = table.setdefault(part, {})
            if not isinstance(inner, dict):  # e.g. `model = "x"`: validation reports it
                break
            table = inner
        else:
            table[parts[-1]] = value
    if issues:
        raise ConfigError(issues, source)
    return data


def _with_overrides(source: str | None, overrides: Sequence[str]) -> str | None:
    if not overrides:
        return source
    flags = " ".join(f"--set {o}" for o in overrides)
    return f"{source} {flags}" if source else flags


# ----------------------------------------------------------------------------- messages


def _did_you_mean(value: Any, allowed) -> str:
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, [str(a) for a in allowed], n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _keys(cls) -> list[str]:
    tag = getattr(cls, "tag", None)
    keys = list(cls.model_fields)
    return ([tag] + [k for k in keys if k != tag]) if tag else keys


def _scope(section: str, cls) -> str:
    if section_kind(section) is None:
        return ""
    return f' for {cls.tag} = "{cls.model_fields[cls.tag].default}"'


def _unknown_key(section: str, key: str, cls) -> str:
    if cls is None:
        return "unknown key"
    allowed = _keys(cls)
    scope = _scope(section, cls)
    owners = [name for name, c in registered(section_kind(section)).items()
              if key in c.model_fields] if section_kind(section) else []
    if owners:
        return (f"not a key{scope} (only for {cls.tag} = {one_of(owners)}); "
                f"allowed keys: {one_of(allowed)}")
    return f"unknown key{scope}; allowed keys: {one_of(allowed)}" + _did_you_mean(key, allowed)


_TYPES = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "missing": "required",
}

_BOUNDS = {
    "greater_than_equal": ">=",
    "greater_than": ">",
    "less_than_equal": "<=",
    "less_than": "<",
}


def _message(err: dict[str, Any]) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind in _TYPES:
        return _TYPES[kind]
    if kind in _BOUNDS:
        bound = next(iter(ctx.values()))
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"must be {_BOUNDS[kind]} {bound}"
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", ctx.get("expected", ""))
        return f"unknown; allowed: {one_of(allowed)}"
    if kind == "too_short":
        return "must not be empty"
    return err["msg"]


def _issues(error: ValidationError) -> list[Issue]:
    """Translate pydantic's errors into :class:`Issue` s naming section, key and value."""
    issues: list[Issue] = []
    for err in error.errors():
        loc, kind, value = err["loc"], err["type"], err.get("input", NO_VALUE)
        inner = (err.get("ctx") or {}).get("error")
        if isinstance(inner, ConfigError):  # raised by a model validator
            section = loc[0] if loc else None
            issues += [dataclasses.replace(i, section=i.section or section) for i in inner.issues]
            continue
        if not loc:
            issues.append(Issue(None, None, err["msg"]))
            continue
        section = str(loc[0])
        if len(loc) == 1:
            issues.append(_section_issue(section, kind, value, err))
            continue
        rest = [str(part) for part in loc[1:]]
        kind_of_section = section_kind(section)
        if kind_of_section is not None and rest[0] in registered(kind_of_section):
            cls = registered(kind_of_section)[rest.pop(0)]
        elif kind_of_section is None and section in _SECTION_MODELS:
            (cls,) = _SECTION_MODELS[section]
        else:
            cls = None
        key = rest[0] if rest else None
        key_text = key + "".join(f"[{i}]" for i in rest[1:]) if key else None
        if kind == "extra_forbidden":
            issues.append(Issue(section, key, _unknown_key(section, key, cls), value))
        elif kind == "missing":
            issues.append(Issue(section, key_text, "required"))
        else:
            issues.append(Issue(section, key_text, _message(err), value))
    return issues


def _section_issue(section: str, kind: str, value: Any, err: dict[str, Any]) -> Issue:
    if section not in SECTIONS:
        if isinstance(value, dict):
            return Issue(section, None, f"unknown section; allowed sections: {one_of(SECTIONS)}")
        return Issue(None, section, f"unknown key at the top level; keys belong in a section: "
                     f"{one_of(SECTIONS)}", value)
    if kind == "missing":
        return Issue(section, None, "missing section")
    registry_kind = section_kind(section)
    if registry_kind is not None:
        tag_key = KINDS[registry_kind]
        names = list(registered(registry_kind))
        if kind == "union_tag_invalid":
            given = value.get(tag_key, NO_VALUE)
            return Issue(section, tag_key, f"unknown; allowed: {one_of(names)}"
                         + _did_you_mean(given, names), given)
        if kind == "union_tag_not_found":
            return Issue(section, tag_key, f"required; allowed: {one_of(names)}")
    if kind in ("model_attributes_type", "dict_type", "model_type"):
        return Issue(section, None, "must be a table (a [section] with keys)", value)
    return Issue(section, None, _message(err), value)

