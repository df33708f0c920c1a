"""``assimilax run`` of a config with a ``[hybrid]`` section: the same run directory, files
and reuse rules as a plain run (:func:`assimilax.experiments.run`), for a DA+ML method.

:func:`run_hybrid_experiment` runs :func:`assimilax.experiments._hybrid.run_hybrid` with
its checkpoints in ``DIR/checkpoint`` (an interrupted ``iterative_emulation`` resumes
from its last finished iteration) and writes into ``DIR``:

- ``results.nc``: for ``iterative_emulation`` the usual per-cycle ``rmse_analysis`` and
  ``spread_analysis`` of the final analyses, ``analysis_mean`` and ``truth``, plus the
  per-iteration series (dimension ``iteration``) and the surrogate's forecast RMSE
  (dimension ``lead``, coordinate ``lead_time`` in Lyapunov times); for
  ``emulator_4dvar`` the per-window analysis RMSEs of the three 4D-Var variants
  (dimensions ``trial``, ``window``);
- ``summary.json``: a :class:`~assimilax.experiments.Summary` whose ``hybrid`` holds the
  method's statistics, notes and details;
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
from ._build import build
from ._divergence import DivergenceError
from ._hybrid import HybridOutcome, network_skeletons, run_hybrid
from ._provenance import git_commit, package_versions
from ._reduce import time_mean
from ._runtime import configure_runtime
from ._summary import Summary
from ._twin import climatological_rms
from .config import Config, IterativeEmulationConfig, load_config

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
    if isinstance(config.hybrid, IterativeEmulationConfig):
        series = outcome.arrays["rmse_analysis"]
        if time_mean(series, exp.burn_in) is not None:
            rmse_a, ci95 = time_mean_ci(series, burn_in=exp.burn_in)
            ci95 = ci95 if np.isfinite(ci95) else None
        means["spread_analysis"] = time_mean(outcome.arrays["spread_analysis"], exp.burn_in)
        dataset = _iterative_dataset(config, outcome, provenance)
        if outcome.ci95.get("rmse_analysis") is None:
            outcome.ci95["rmse_analysis"] = ci95
    else:
        dataset = _windows_dataset(config, outcome, provenance)
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


def _iterative_dataset(config: Config, outcome: HybridOutcome, provenance: dict):
    """The usual run dataset of the final analyses, plus iterations and surrogate skill."""
    setup = build(config).setup
    arrays, details = outcome.arrays, outcome.details
    truth = arrays["truth"]
    done = truth.shape[0]
    h = config.hybrid
    resumed = details.get("resumed_from") or 0
    dataset = rio.results_dataset(
        time=(np.arange(done) + 1) * setup.interval,
        cycle=np.arange(done),
        position=np.asarray(setup.model.grid.coords),
        series={k: arrays[k] for k in ("rmse_analysis", "spread_analysis")},
        fields={k: arrays[k] for k in ("analysis_mean", "truth")},
        attrs={
            **provenance,
            "burn_in": config.experiment.burn_in,
            "climatological_rms": float(climatological_rms(truth)),
            "resumed_at_cycle": -1,
            "resumed_at_iteration": resumed if resumed else -1,
        },
    )
    skill = details.get("skill") or {}
    sigma = skill.get("sigma_clim")
    variables = {k: arrays[k] for k in ("iteration_rmse_analysis", "iteration_spread_analysis",
                                        "iteration_train_loss", "iteration_valid_time")}
    coords = {}
    if arrays["surrogate_forecast_rmse"].size:
        variables["surrogate_forecast_rmse"] = arrays["surrogate_forecast_rmse"]
        coords[_names.LEAD_TIME] = arrays["lead_time"]
    return rio.add_variables(
        dataset, variables, coords=coords,
        attrs={
            "iteration_rmse_analysis": {
                "rmse_interpolation": outcome.statistics.get("rmse_interpolation")},
            "surrogate_forecast_rmse": {
                "valid_threshold": h.valid_threshold,
                "valid_threshold_rmse": (h.valid_threshold * sigma if sigma is not None
                                         else None),
                "sigma_clim": sigma,
                "valid_time": outcome.statistics.get("valid_time"),
            },
        },
    )


def _windows_dataset(config: Config, outcome: HybridOutcome, provenance: dict):
    """The per-window analysis RMSEs of the 4D-Var variants (no time series)."""
    h = config.hybrid
    variables = {k: v for k, v in outcome.arrays.items() if k.endswith("_per_window")}
    scored = next(iter(variables.values())).shape[1]
    return rio.add_variables(
        None, variables,
        coords={_names.WINDOW: h.burn_in_windows + np.arange(scored)},
        global_attrs={**provenance, "burn_in_windows": h.burn_in_windows, "window_steps": h.window},
    )


def load_network(out_dir: str | Path, name: str):
    """A network trained by the hybrid run in ``out_dir`` (``"surrogate"`` of
    ``iterative_emulation``, ``"emulator"`` of ``emulator_4dvar``).

    Its leaves come from ``out_dir/networks/<name>.eqx``; its skeleton is rebuilt from the
    run's ``config.toml`` (:func:`assimilax.experiments._hybrid.network_skeletons`).

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
