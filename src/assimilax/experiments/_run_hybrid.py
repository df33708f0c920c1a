"""``assimilax run`` of a config with a ``[hybrid]`` section: the same run directory, files
and reuse rules as a plain run (:func:`assimilax.experiments.run`), for a DA+ML method.

:func:`run_hybrid_experiment` runs :func:`assimilax.experiments.hybrids.run_hybrid` with
its checkpoints in ``DIR/checkpoint`` (an interrupted ``iterative_emulation`` resumes
from its last finished iteration) and writes into ``DIR``:

- ``results.nc``: the dataset of the method's recipe
  (:meth:`~assimilax.experiments.hybrids.HybridRecipe.dataset`), with the run's
  provenance as global attributes;
- ``summary.json``: a :class:`~assimilax.experiments.Summary` whose ``hybrid`` holds the
  method's statistics, their labels, notes and details; its ``rmse_analysis`` and
  ``spread_analysis`` are the time means after burn-in of the outcome's 1-D
  ``rmse_analysis``/``spread_analysis`` arrays where it has them;
- the figures of :func:`assimilax.plotting.plot_run`.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
from rich.console import Console

from .. import __version__, plotting
from .. import io as rio
from ..hybrid import DivergedIterationError
from ..metrics import time_mean_ci
from ._divergence import DivergenceError
from ._provenance import git_commit, package_versions
from ._reduce import time_mean
from ._runtime import configure_runtime
from ._summary import Summary
from .config import Config, load_config
from .hybrids import network_skeletons, recipe, run_hybrid

_names = rio.names

CHECKPOINT_DIR = "checkpoint"
"""Subdirectory of the run directory holding a hybrid run's checkpoints until it ends."""


class HybridDivergenceError(DivergenceError):
    """An iteration of a hybrid method produced non-finite numbers; ``cycle`` is ``None``."""

    def __init__(self, reason: str, advice: str):
        self.cycle = None
        RuntimeError.__init__(self, f"diverged: {reason}\n{advice}")


def run_hybrid_experiment(
    config: Config,
    out_dir: str | Path,
    *,
    progress: bool = True,
    console: Console | None = None,
    t_start: float | None = None,
) -> Summary:
    """Run the ``[hybrid]`` method of ``config`` and write its files into ``out_dir``.

    Called by :func:`assimilax.experiments.run` once it has checked ``out_dir`` (a
    finished run of the same config is reused there, a different config refused).
    Float64 is switched on for the process.

    Args:
        config: a validated config with a ``[hybrid]`` section.
        out_dir: the run directory (created).
        progress: print a line per finished step (iteration) and show training progress.
        console: where those lines go (default: standard error).
        t_start: ``time.perf_counter()`` at the start of the run (default: now).

    Returns:
        The run's :class:`Summary`, with ``hybrid`` set.

    Raises:
        HybridDivergenceError: an iteration gave non-finite numbers (a
            :class:`~assimilax.experiments.DivergenceError`); the checkpoints of the
            iterations before it stay in ``out_dir/checkpoint``.
    """
    t_start = time.perf_counter() if t_start is None else t_start
    if config.hybrid is None:
        raise ValueError("run_hybrid_experiment: the config has no [hybrid] section.")
    out_dir = Path(out_dir)
    configure_runtime()
    out_dir.mkdir(parents=True, exist_ok=True)
    rio.write_text_atomic(out_dir / _names.CONFIG_FILE, config.to_toml())
    commit, versions = git_commit(), package_versions()
    console = console or Console(stderr=True)

    def log(line: str) -> None:
        console.print(line, markup=False, highlight=False)

    if progress:
        log(f"running {config.describe()}")
    checkpoint = out_dir / CHECKPOINT_DIR
    try:
        outcome = run_hybrid(config, progress=progress, log=log if progress else None,
                             checkpoint=checkpoint)
    except DivergedIterationError as err:
        raise HybridDivergenceError(
            str(err), f"The finished iterations are kept in {checkpoint}; a rerun of this "
            "config resumes after the last of them. Try more [ml] epochs, a lower [ml] "
            "learning_rate or more [hybrid] model_noise_std.") from None

    exp = config.experiment
    provenance = _provenance(config, commit, versions, time.perf_counter() - t_start)
    means: dict[str, float | None] = dict.fromkeys(("rmse_forecast", "spread_forecast",
                                                    "spread_analysis"))
    rmse_a = ci95 = None
    series = outcome.arrays.get("rmse_analysis")
    if series is not None and np.ndim(series) == 1:
        if time_mean(series, exp.burn_in) is not None:
            rmse_a, ci95 = time_mean_ci(series, burn_in=exp.burn_in)
            ci95 = ci95 if np.isfinite(ci95) else None
        spread = outcome.arrays.get("spread_analysis")
        if spread is not None and np.ndim(spread) == 1:
            means["spread_analysis"] = time_mean(spread, exp.burn_in)
        if outcome.ci95.get("rmse_analysis", "absent") is None:
            outcome.ci95["rmse_analysis"] = ci95
    method = recipe(config.hybrid.name)
    dataset = method.dataset(config, outcome, provenance)
    rio.write_results(out_dir / _names.RESULTS_FILE, dataset)
    for name, network in outcome.networks.items():  # load_network(out_dir, name) reads them
        rio.write_network(out_dir / rio.NETWORKS_DIR / f"{name}.eqx", network)
    plotting.plot_run(out_dir)

    wall = time.perf_counter() - t_start
    summary = Summary(
        rmse_analysis=rmse_a,
        rmse_analysis_ci95=ci95,
        **means,
        diverged=False,
        diverged_at_cycle=None,
        cycles=exp.cycles,
        wall_time_s=wall,
        cycles_per_second=exp.cycles / wall,
        config=config.to_dict(),
        seed=exp.seed,
        version=__version__,
        git_commit=commit,
        resumed_at_cycle=None,
        versions=versions,
        hybrid={
            "name": config.hybrid.name,
            "statistics": outcome.statistics,
            "labels": {k: v.label for k, v in method.statistics.items() if v.label},
            "ci95": outcome.ci95,
            "notes": outcome.notes,
            "details": outcome.details,
        },
        out_dir=out_dir,
    )
    rio.write_json(out_dir / _names.SUMMARY_FILE, summary.to_dict())
    shutil.rmtree(checkpoint, ignore_errors=True)
    return summary


def _provenance(config: Config, commit: str, versions: dict[str, str], wall: float) -> dict:
    obs = config.observations
    return {
        "title": config.describe(),
        "observations": f"{obs.describe()}, {obs.describe_schedule()}",
        "hybrid": config.hybrid.name,
        "config": config.to_toml(),
        "seed": config.experiment.seed,
        "version": __version__,
        "git_commit": commit,
        "versions": json.dumps(versions, sort_keys=True),
        "wall_time_s": wall,
        "diverged": False,
        "diverged_at_cycle": -1,
    }


def load_network(out_dir: str | Path, name: str):
    """A network trained by the hybrid run in ``out_dir`` (``"surrogate"`` of
    ``iterative_emulation``, ``"emulator"`` of ``emulator_4dvar``...).

    Its leaves come from ``out_dir/networks/<name>.eqx``; its skeleton is rebuilt from the
    run's ``config.toml`` (:func:`assimilax.experiments.hybrids.network_skeletons`).

    Raises:
        FileNotFoundError: the run saved no network of that name.
    """
    out_dir = Path(out_dir)
    path = out_dir / rio.NETWORKS_DIR / f"{name}.eqx"
    if not path.is_file():
        there = sorted(p.stem for p in (out_dir / rio.NETWORKS_DIR).glob("*.eqx"))
        raise FileNotFoundError(f"{out_dir} holds no network {name!r} (it has: "
                                f"{', '.join(there) or 'none'}).")
    config = load_config(out_dir / _names.CONFIG_FILE)
    return rio.read_network(path, network_skeletons(config)[name])
