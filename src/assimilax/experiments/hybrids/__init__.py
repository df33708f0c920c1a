"""The hybrid (DA+ML) methods as the runner sees them: one :class:`HybridRecipe` each.

:func:`run_hybrid` turns a validated config with a ``[hybrid]`` section into the core calls
of its method through the recipe registered under its name; ``assimilax run``,
``assimilax reproduce`` and ``assimilax sweep`` all go through it. The core writes no
file: a recipe hands intermediate states to :mod:`assimilax.io`.

A new hybrid method: its core in :mod:`assimilax.hybrid`, its ``[hybrid]`` section
(``@register("hybrid", "<name>")`` in :mod:`assimilax.experiments.config`), and a module
here with a :class:`HybridRecipe` decorated ``@register_recipe("<name>")``, imported below.
Nothing in the runner, the sweeps, the presets or the CLI changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

# The recipes, registered on import.
from . import (  # noqa: F401
    _bonavita2020,
    _brajard2021,
    _emulator_4dvar,
    _iterative_emulation,
    _model_error_correction,
    _resolvent_correction,
)
from ._recipe import HybridOutcome as HybridOutcome
from ._recipe import HybridRecipe as HybridRecipe
from ._recipe import Statistic as Statistic
from ._recipe import finite as finite
from ._recipe import recipe as recipe
from ._recipe import recipes as recipes
from ._recipe import register_recipe as register_recipe

if TYPE_CHECKING:
    from ..config import Config


def run_hybrid(
    config: Config,
    *,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    checkpoint: str | Path | None = None,
) -> HybridOutcome:
    """Run the ``[hybrid]`` method of ``config`` (float64 must be on).

    Args:
        config: a validated config with a ``[hybrid]`` section.
        progress: training progress bars.
        log: called with one line per finished step (iteration, variant, window length).
        checkpoint: a directory for the method's intermediate states: a run with the same
            directory resumes after the last one written (methods that checkpoint).

    Returns:
        :class:`HybridOutcome`.
    """
    if config.hybrid is None:
        raise ValueError("run_hybrid: the config has no [hybrid] section.")
    t0 = time.perf_counter()
    out = recipe(config.hybrid.name).run(
        config, progress=progress, log=log,
        checkpoint=None if checkpoint is None else Path(checkpoint))
    out.seconds = time.perf_counter() - t0
    return out


def network_skeletons(config: Config) -> dict[str, Any]:
    """The untrained networks of a hybrid config, in the structure its run saves them
    (:meth:`HybridRecipe.networks`; ``{}`` without ``[hybrid]``)."""
    if config.hybrid is None:
        return {}
    return recipe(config.hybrid.name).networks(config)


def statistics_of(name: str) -> dict[str, Statistic]:
    """The statistics ``[hybrid] name`` reports, in order."""
    return dict(recipe(name).statistics)


def all_statistics() -> dict[str, Statistic]:
    """The statistics of every registered hybrid (first description of a shared name)."""
    found: dict[str, Statistic] = {}
    for r in recipes().values():
        for key, stat in r.statistics.items():
            found.setdefault(key, stat)
    return found
