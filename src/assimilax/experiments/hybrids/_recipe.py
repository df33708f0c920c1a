"""What every hybrid method of the runner provides: :class:`HybridRecipe`, registered by name.

A hybrid (DA+ML) method of the literature is a core method (:mod:`assimilax.hybrid`), a
``[hybrid]`` config section (:mod:`assimilax.experiments.config`) and a recipe here that
turns a validated config into the core calls and reduces the outcome to named scalar
statistics (what preset claims and sweeps are about), readable notes, JSON details,
arrays and a ``results.nc`` dataset. The runner, the presets, the sweeps and the CLI know
a hybrid only through its recipe: a new one is a module of this package with a class
decorated ``@register_recipe("<name>")``, the same name as its config section.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import xarray as xr

    from ..config import Config


class Statistic(NamedTuple):
    """A scalar a hybrid method reports.

    Attributes:
        description: what it is (the long name in ``results.nc`` and sweep stores).
        units: its units (``"state units"``, ``"1"``, ``"Lyapunov times"``...).
        label: its row label in the run's summary table (default: the name, spaced).
    """

    description: str
    units: str
    label: str = ""


@dataclasses.dataclass
class HybridOutcome:
    """What a hybrid run produced.

    Attributes:
        statistics: the scalars of the recipe's :attr:`HybridRecipe.statistics` (None
            where not finite).
        ci95: 95 % half-widths of those that are time or window means (else None).
        notes: one-line readable results (per-iteration RMSEs, ...).
        details: JSON-able record of everything reported (per-iteration records, skill,
            per-window RMSEs, training histories).
        arrays: arrays for ``results.nc``. A 1-D ``rmse_analysis`` (and
            ``spread_analysis``) over analysis times gives the summary's time means.
        seconds: wall time of the run.
        networks: the trained networks by name (``"surrogate"``, ``"emulator"``...),
            saved in the run directory and rebuilt by :meth:`HybridRecipe.networks` +
            :func:`assimilax.experiments.load_network`.
    """

    statistics: dict[str, float | None]
    ci95: dict[str, float | None]
    notes: list[str]
    details: dict[str, Any]
    arrays: dict[str, np.ndarray]
    seconds: float = 0.0
    networks: dict[str, Any] = dataclasses.field(default_factory=dict)


Log = Callable[[str], None] | None


class HybridRecipe(abc.ABC):
    """A hybrid method as the runner sees it (one instance per registered name).

    Class attributes:
        name: the ``[hybrid] name`` it runs.
        statistics: the scalars it reports, in order: name -> :class:`Statistic`.
        score: the statistic a sweep over its settings charts (its headline error).
    """

    name: ClassVar[str]
    statistics: ClassVar[dict[str, Statistic]]
    score: ClassVar[str]

    @abc.abstractmethod
    def run(self, config: Config, *, progress: bool, log: Log,
            checkpoint: Path | None) -> HybridOutcome:
        """Run the method of ``config`` (float64 is on).

        Args:
            config: a validated config whose ``[hybrid]`` is this recipe's.
            progress: show training progress bars.
            log: called with one line per finished step (iteration, variant...).
            checkpoint: a directory for the method's intermediate states (resume after an
                interruption), or None.
        """

    @abc.abstractmethod
    def dataset(self, config: Config, outcome: HybridOutcome,
                attrs: Mapping[str, Any]) -> xr.Dataset:
        """The ``results.nc`` dataset of ``outcome``, with the run's provenance ``attrs``
        as global attributes."""

    def networks(self, config: Config) -> dict[str, Any]:
        """The untrained networks of ``config``, in the structure the run saves them
        (what :func:`assimilax.experiments.load_network` reads saved leaves into)."""
        return {}


_RECIPES: dict[str, HybridRecipe] = {}


def register_recipe(name: str):
    """Class decorator: register a :class:`HybridRecipe` subclass for ``[hybrid] name``."""

    def decorate(cls: type[HybridRecipe]) -> type[HybridRecipe]:
        if name in _RECIPES:
            raise ValueError(f"hybrid recipe {name!r} registered twice")
        cls.name = name
        missing = [s for s in (cls.score,) if s not in cls.statistics]
        if missing:
            raise ValueError(f"hybrid recipe {name!r}: score {cls.score!r} is not one of "
                             "its statistics")
        _RECIPES[name] = cls()
        return cls

    return decorate


def recipe(name: str) -> HybridRecipe:
    """The recipe of ``[hybrid] name``.

    Raises:
        KeyError: no recipe of that name (naming the registered ones).
    """
    try:
        return _RECIPES[name]
    except KeyError:
        raise KeyError(f"no hybrid recipe {name!r}; registered: "
                       f"{', '.join(sorted(_RECIPES))}") from None


def recipes() -> dict[str, HybridRecipe]:
    """Every registered recipe by name (a copy)."""
    return dict(_RECIPES)


def finite(value) -> float | None:
    """``float(value)``, or None when it is None or not finite."""
    value = None if value is None else float(value)
    return value if value is not None and math.isfinite(value) else None
