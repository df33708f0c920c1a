"""Run one twin experiment from a config: simulate, assimilate chunk by chunk, write files.

The assimilation runs as compiled chunks of ``[experiment] chunk_cycles`` cycles; between
chunks the runner advances the progress bar and checks for divergence. The numbers do
not depend on the chunking: the randomness of cycle ``k`` is ``fold_in(key, k)``.

Progress is written to disk as it goes (``partial.zarr`` and ``checkpoint.npz``, see
:mod:`assimilax.io._partial_run`), at least every ``flush_seconds``; an interrupted run
resumes from its last checkpoint, with the same chunks and therefore the same numbers
as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import time
import tomllib
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from .. import __version__, plotting
from .. import io as rio
from ..da import assimilate
from ..io import _partial_run as partial_run
from ..metrics import time_mean_ci
from ..observations import Observations
from ._build import Setup, build
from ._config import Config, EnKSConfig, LETKFConfig
from ._provenance import git_commit, package_versions
from ._runtime import configure_runtime
from ._twin import climatological_rms, simulate_twin, twin_keys

DIVERGENCE_WINDOW = 100
"""Cycles over which the analysis RMSE is averaged by the divergence check."""

FLUSH_SECONDS = 30.0
"""Default longest wall time between two writes of a run's progress to disk."""

_names = rio.names


class DivergenceError(RuntimeError):
    """The filter lost the truth: the run stopped at ``cycle``.

    Attributes:
        cycle: the analysis cycle (from 0) at which divergence was detected.
    """

    def __init__(self, cycle: int, reason: str, advice: str):
        self.cycle = cycle
        super().__init__(f"diverged at cycle {cycle}: {reason}.\n{advice}")


class RunDirError(RuntimeError):
    """The output directory holds something else than a run of this config."""


@dataclasses.dataclass
class Summary:
    """What ``summary.json`` holds: time means after burn-in and the run's provenance.

    Attributes:
        rmse_analysis, rmse_forecast: time-mean RMSE of the analysis and forecast means.
        rmse_analysis_ci95: half-width of the 95 % interval of ``rmse_analysis``
            (autocorrelation-corrected, :func:`assimilax.metrics.time_mean_ci`).
        spread_analysis, spread_forecast: time-mean ensemble spread.
        rmse_smoothed: time-mean RMSE of the smoothed mean (smoothers; else ``None``).
        diverged: whether the divergence criterion was met (also when the check is off).
        diverged_at_cycle: the cycle where it was first met, else ``None``.
        cycles: analysis cycles run.
        wall_time_s: seconds from config to files (simulation, compilation, assimilation,
            writing).
        cycles_per_second: ``cycles / wall_time_s``.
        config: the resolved config (every default written out).
        seed, version, git_commit: provenance.
        versions: versions of assimilax and of the packages its numbers depend on
            (:func:`assimilax.experiments.package_versions`; ``None`` in older summaries).
        resumed_at_cycle: the cycle this process resumed an interrupted run at, else
            ``None`` (``wall_time_s`` then counts this process only).
        hybrid: for a config with ``[hybrid]``, what its method reported: ``{"name",
            "statistics", "ci95", "notes", "details"}`` (see
            :class:`assimilax.experiments._hybrid.HybridOutcome`); else ``None``. The
            per-cycle means above are then those of the final analyses
            (``iterative_emulation``) or ``None`` (``emulator_4dvar``).
        out_dir: the run directory (not stored).
        reused: ``True`` when the run was found finished on disk, not recomputed.
    """

    rmse_analysis: float | None
    rmse_analysis_ci95: float | None
    rmse_forecast: float | None
    spread_analysis: float | None
    spread_forecast: float | None
    rmse_smoothed: float | None
    diverged: bool
    diverged_at_cycle: int | None
    cycles: int
    wall_time_s: float
    cycles_per_second: float
    config: dict[str, Any]
    seed: int
    version: str
    git_commit: str
    resumed_at_cycle: int | None = None
    versions: dict[str, str] | None = None
    hybrid: dict[str, Any] | None = None
    out_dir: Path | None = dataclasses.field(default=None, compare=False)
    reused: bool = dataclasses.field(default=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The ``summary.json`` content."""
        data = dataclasses.asdict(self)
        del data["out_dir"], data["reused"]
        if data["hybrid"] is None:  # plain runs keep the summary of the DESIGN contract
            del data["hybrid"]
        return data

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], *, out_dir: Path | None = None, reused: bool = False
    ) -> Summary:
        fields = {f.name for f in dataclasses.fields(cls)} - {"out_dir", "reused"}
        optional = {"resumed_at_cycle", "versions", "hybrid"}
        missing = fields - optional - set(data)
        if missing:
            raise ValueError(f"summary is missing {sorted(missing)}")
        return cls(**{k: data[k] for k in fields if k in data}, out_dir=out_dir, reused=reused)


def default_out_dir(config_path: str | Path | None) -> Path:
    """``runs/<config file stem>``, or ``runs/default`` for the built-in config."""
    return Path("runs") / ("default" if config_path is None else Path(config_path).stem)


def load_summary(out_dir: str | Path) -> Summary:
    """The summary of a finished run in ``out_dir``.

    Raises:
        FileNotFoundError: ``out_dir`` holds no finished run.
    """
    out_dir = Path(out_dir)
    path = out_dir / _names.SUMMARY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{out_dir} holds no finished run (no {_names.SUMMARY_FILE}).")
    return Summary.from_dict(rio.read_json(path), out_dir=out_dir)


# ----------------------------------------------------------------------------- the run


@eqx.filter_jit
def _simulate(truth_model, operator, noise, **kwargs):
    return simulate_twin(truth_model, operator, noise, **kwargs)


@eqx.filter_jit
def _assimilate_chunk(model, method, observations, ensemble, state, truth, key, start):
    return assimilate(
        model, observations, method, ensemble,
        key=key, truth=truth, state=state, start_cycle=start, finish=False,
    )


def run(
    config: Config,
    out_dir: str | Path,
    *,
    progress: bool = True,
    console: Console | None = None,
    flush_seconds: float = FLUSH_SECONDS,
) -> Summary:
    """Run a twin experiment and write ``results.nc``, ``summary.json`` and figures.

    A finished run of the same config in ``out_dir`` is not recomputed: its summary is
    returned (``reused=True``); an interrupted one is resumed from its last checkpoint.
    Float64 is switched on for the process. A config with ``[hybrid]`` runs its hybrid
    method instead (:func:`assimilax.experiments._run_hybrid.run_hybrid_experiment`: no
    chunks; an interrupted run resumes from its last finished iteration).

    Args:
        config: a validated config.
        out_dir: the run directory (created).
        progress: show a progress bar.
        console: where the progress bar goes (default: standard error).
        flush_seconds: longest wall time between two writes of the progress to disk
            (``0``: after every chunk); an interruption loses at most this much work.

    Returns:
        The run's :class:`Summary`.

    Raises:
        RunDirError: ``out_dir`` holds a different run or is not a run directory; nothing
            is written.
        DivergenceError: the filter diverged and ``[experiment] divergence_check`` is on;
            the files of the cycles run so far are written first.
    """
    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    previous = _previous_run(config, out_dir)
    if previous is not None:
        if previous.diverged and config.experiment.divergence_check:
            raise DivergenceError(
                previous.diverged_at_cycle,
                f"as recorded in {out_dir / _names.SUMMARY_FILE}",
                _advice(config),
            )
        return previous
    if config.hybrid is not None:
        from ._run_hybrid import run_hybrid_experiment

        return run_hybrid_experiment(config, out_dir, progress=progress, console=console,
                                     t_start=t_start)

    configure_runtime()
    setup = build(config)
    exp = config.experiment
    out_dir.mkdir(parents=True, exist_ok=True)
    rio.write_text_atomic(out_dir / _names.CONFIG_FILE, config.to_toml())

    commit, versions = git_commit(), package_versions()
    console = console or Console(stderr=True)
    with _progress_bar(console, progress) as bar:
        task = bar.add_task("simulating the twin", total=None)
        twin, observations = _twin(setup, config)
        clim = float(climatological_rms(twin.truth))
        bar.update(task, total=1, completed=1)
        record, state, done, divergence, resumed = _assimilate_all(
            setup, config, twin, observations, clim, bar, out_dir, commit, flush_seconds
        )
    if divergence is None:
        divergence = _find_divergence(record["rmse_analysis"], exp.burn_in, clim,
                                      _window(config))
    truth = np.asarray(twin.truth[:done])
    if isinstance(config.method, EnKSConfig):
        finish = np.asarray(setup.method.finish(state))
        lagged = record.pop("lagged_mean")
        lag = config.method.lag
        record["smoothed_mean"] = np.concatenate([lagged[lag:], finish], axis=0)[-done:]
        record["rmse_smoothed"] = np.sqrt(np.mean((record["smoothed_mean"] - truth) ** 2, -1))
    else:
        record.pop("lagged_mean", None)

    _write_results(out_dir, config, setup, record, truth, clim, divergence, commit, resumed,
                   versions, time.perf_counter() - t_start)
    means = {
        key: _time_mean(record.get(key), exp.burn_in)
        for key in ("rmse_forecast", "spread_analysis", "spread_forecast", "rmse_smoothed")
    }
    rmse_a, ci95 = None, None
    if _time_mean(record["rmse_analysis"], exp.burn_in) is not None:
        rmse_a, ci95 = time_mean_ci(record["rmse_analysis"], burn_in=exp.burn_in)
    wall = time.perf_counter() - t_start
    summary = Summary(
        rmse_analysis=rmse_a,
        rmse_analysis_ci95=ci95,
        **means,
        diverged=divergence is not None,
        diverged_at_cycle=None if divergence is None else divergence[0],
        cycles=done,
        wall_time_s=wall,
        cycles_per_second=done / wall,
        config=config.to_dict(),
        seed=exp.seed,
        version=__version__,
        git_commit=commit,
        resumed_at_cycle=resumed,
        versions=versions,
        out_dir=out_dir,
    )
    rio.write_json(out_dir / _names.SUMMARY_FILE, summary.to_dict())
    partial_run.remove_partial(out_dir)
    if divergence is not None and exp.divergence_check:
        raise DivergenceError(divergence[0], divergence[1], _advice(config))
    return summary


def _twin(setup: Setup, config: Config):
    exp = config.experiment
    twin = _simulate(
        setup.truth_model,
        setup.operator,
        setup.noise,
        cycles=exp.cycles,
        every_steps=setup.truth_every_steps,
        ensemble_size=config.method.ensemble_size,
        key=jax.random.key(exp.seed),
        spinup_steps=setup.spinup_steps,
        initial_std=exp.initial_std,
    )
    twin = jax.block_until_ready(twin)
    # The forecast model's steps per interval (they differ from the truth's with [truth]).
    obs = twin.observations
    observations = Observations(obs.operator, obs.noise, obs.y, obs.mask, setup.every_steps)
    return twin, observations


def _assimilate_all(setup, config, twin, observations, clim, bar, out_dir, commit,
                    flush_seconds):
    """Chunk by chunk, resuming from a checkpoint in ``out_dir`` if there is one.

    Returns the host record, the method state, cycles done, the divergence (or ``None``)
    and the cycle resumed at (or ``None``).
    """
    exp = config.experiment
    cycles, chunk = exp.cycles, exp.chunk_cycles
    key = twin_keys(jax.random.key(exp.seed))["assimilation"]
    ensemble0 = twin.ensemble0
    carry = (ensemble0, setup.method.init(ensemble0))
    checkpoint, pieces = _resume(out_dir, carry, cycles, chunk)
    if checkpoint is None:
        start, pieces = 0, {}
        _create_partial(out_dir, config, carry, commit)
    else:
        start, carry = checkpoint
    ensemble, state = carry
    resumed = start if start > 0 else None
    task = bar.add_task("assimilating (compiling)", total=cycles, completed=start)
    done, divergence = start, None
    pending: dict[str, list[np.ndarray]] = {}
    flushed, last_flush = start, time.perf_counter()
    for a in range(start, cycles, chunk):
        b = min(a + chunk, cycles)
        result = _assimilate_chunk(
            setup.model, setup.method, observations[a:b], ensemble, state,
            twin.truth[a:b], key, jnp.asarray(a),
        )
        ensemble, state = result.final_ensemble, result.final_state
        host = jax.device_get({
            "rmse_analysis": result.rmse_analysis,
            "rmse_forecast": result.rmse_forecast,
            "spread_analysis": result.spread_analysis,
            "spread_forecast": result.spread_forecast,
            "analysis_mean": result.mean_analysis,
            "lagged_mean": result.lagged_mean,
            "rank_counts": result.rank_counts,
        })
        for name, value in host.items():
            if value is not None:
                pieces.setdefault(name, []).append(np.asarray(value))
                pending.setdefault(name, []).append(np.asarray(value))
        done = b
        bar.update(task, completed=done, description="assimilating")
        if exp.divergence_check:
            rmse_so_far = np.concatenate(pieces["rmse_analysis"])
            divergence = _find_divergence(rmse_so_far, exp.burn_in, clim, _window(config))
            if divergence is not None:
                break
        # The last chunk is not flushed: results.nc follows at once, and a run killed
        # before it is written resumes from the previous flush.
        if done < cycles and time.perf_counter() - last_flush >= flush_seconds:
            partial_run.write_partial(
                out_dir, flushed, {k: np.concatenate(v) for k, v in pending.items()}
            )
            partial_run.save_checkpoint(
                out_dir, done, [np.asarray(x) for x in jax.tree.leaves((ensemble, state))]
            )
            pending, flushed, last_flush = {}, done, time.perf_counter()
    record = {name: np.concatenate(parts) for name, parts in pieces.items()}
    return record, state, done, divergence, resumed


def _record_arrays(config: Config, carry) -> dict:
    """Name -> (shape, dims, dtype) of every per-cycle record of this run."""
    cycles = config.experiment.cycles
    members, n = carry[0].shape
    arrays = {name: ((cycles,), (_names.TIME,), np.float64) for name in (
        "rmse_analysis", "rmse_forecast", "spread_analysis", "spread_forecast")}
    arrays["analysis_mean"] = ((cycles, n), (_names.TIME, _names.STATE), np.float64)
    arrays["rank_counts"] = ((cycles, members + 1), (_names.TIME, _names.RANK), np.int32)
    if isinstance(config.method, EnKSConfig):
        arrays["lagged_mean"] = ((cycles, n), (_names.TIME, _names.STATE), np.float64)
    return arrays


def _create_partial(out_dir: Path, config: Config, carry, commit: str) -> None:
    partial_run.create_partial_store(
        out_dir,
        _record_arrays(config, carry),
        chunk_cycles=config.experiment.chunk_cycles,
        attrs={"config": config.to_toml(), "seed": config.experiment.seed,
               "version": __version__, "git_commit": commit},
    )


def _resume(out_dir: Path, carry, cycles: int, chunk: int):
    """``((done, carry), pieces)`` from a usable checkpoint in ``out_dir``, else
    ``(None, None)``. A checkpoint is used only if its carried arrays have the shapes of
    this run's and it ends on a chunk boundary, so resumed chunks are the same programs
    on the same inputs as in an uninterrupted run."""
    found = partial_run.load_checkpoint(out_dir)
    if found is None:
        return None, None
    done, leaves = found
    reference = jax.tree.leaves(carry)
    fits = len(leaves) == len(reference) and all(
        leaf.shape == ref.shape and leaf.dtype == ref.dtype
        for leaf, ref in zip(leaves, reference, strict=True)
    )
    if not fits or not 0 < done <= cycles or (done % chunk and done != cycles):
        return None, None
    restored = jax.tree.unflatten(jax.tree.structure(carry), [jnp.asarray(x) for x in leaves])
    pieces = {name: [values] for name, values in partial_run.read_partial(out_dir, done).items()}
    return (done, restored), pieces


def _window(config: Config) -> int:
    exp = config.experiment
    return min(DIVERGENCE_WINDOW, exp.cycles - exp.burn_in)


def _find_divergence(
    rmse: np.ndarray, burn_in: int, threshold: float, window: int
) -> tuple[int, str] | None:
    """First cycle where the analysis is non-finite, or where the RMSE averaged over the
    ``window`` cycles ending there (all after burn-in) exceeds ``threshold``.

    Returns:
        ``(cycle, reason)``, or ``None`` when the filter kept track.
    """
    rmse = np.asarray(rmse, float)
    bad = ~np.isfinite(rmse)
    if bad.any():
        return int(np.argmax(bad)), "the analysis is not finite (NaN or infinity)"
    after = rmse[burn_in:]
    if window < 1 or after.size < window:
        return None
    sums = np.cumsum(np.concatenate([[0.0], after]))
    means = (sums[window:] - sums[:-window]) / window
    over = np.flatnonzero(means > threshold)
    if over.size == 0:
        return None
    j = int(over[0])
    first, last = burn_in + j, burn_in + j + window - 1
    return last, (
        f"the analysis RMSE averaged over cycles {first}-{last} is {means[j]:.3g}, above the "
        f"truth's climatological RMS {threshold:.3g}: the filter has lost the truth"
    )


def _advice(config: Config) -> str:
    m = config.method
    tips = []
    if m.inflation_kind == "multiplicative":
        tips.append(f"raise [method] inflation (now {m.inflation:g}, e.g. {m.inflation + 0.02:g})")
    else:
        tips.append(f"raise [method] inflation, the {m.inflation_kind.upper()} alpha "
                    f"(now {m.inflation:g})")
    tips.append(f"use more members ([method] ensemble_size, now {m.ensemble_size})")
    if isinstance(m, LETKFConfig):
        tips.append(f"shrink [method] localization_radius (now {m.localization_radius:g})")
    return (
        "Try to " + "; ".join(tips) + ". Or set [experiment] divergence_check = false to run "
        "on and record the numbers anyway."
    )


def _time_mean(series: np.ndarray | None, burn_in: int) -> float | None:
    """Mean after burn-in; ``None`` when there is nothing after it or a value is not finite."""
    if series is None or series.size <= burn_in:
        return None
    mean = float(np.mean(series[burn_in:]))
    return mean if np.isfinite(mean) else None


# ----------------------------------------------------------------------------- files


def _previous_run(config: Config, out_dir: Path) -> Summary | None:
    """A finished run of ``config`` in ``out_dir``; ``None`` if there is nothing to reuse.

    Raises:
        RunDirError: ``out_dir`` holds a run of another config, or is not a run directory.
    """
    if not out_dir.exists():
        return None
    if not out_dir.is_dir():
        raise RunDirError(f"{out_dir} exists and is not a directory.")
    summary_path = out_dir / _names.SUMMARY_FILE
    config_path = out_dir / _names.CONFIG_FILE
    if summary_path.is_file():
        data = rio.read_json(summary_path)
        _same_config(config, data.get("config"), out_dir)
        return Summary.from_dict(data, out_dir=out_dir, reused=True)
    if config_path.is_file():  # an unfinished run: resumed from scratch if it is ours
        _same_config(config, tomllib.loads(config_path.read_text(encoding="utf-8")), out_dir)
        return None
    if any(out_dir.iterdir()):
        raise RunDirError(
            f"{out_dir} is not empty and holds no assimilax run; choose another --out."
        )
    return None


def _same_config(config: Config, stored: Any, out_dir: Path) -> None:
    ours = config.to_dict()
    if stored == ours:
        return
    stored = stored if isinstance(stored, dict) else {}
    diffs = []
    for section in dict.fromkeys([*stored, *ours]):
        there, here = stored.get(section) or {}, ours.get(section) or {}
        for key in dict.fromkeys([*there, *here]):
            if there.get(key) != here.get(key):
                diffs.append(f"  [{section}] {key}: {_fmt(there.get(key))} there, "
                             f"{_fmt(here.get(key))} here")
    raise RunDirError(
        f"{out_dir} holds a run of a different configuration; nothing was changed. "
        "Choose another --out, or delete that directory to replace it.\n" + "\n".join(diffs)
    )


def _fmt(value: Any) -> str:
    if value is None:
        return "(absent)"
    try:
        return rio.toml_value(value)
    except (TypeError, ValueError):
        return repr(value)


def _write_results(out_dir, config, setup, record, truth, clim, divergence, commit,
                   resumed, versions, wall_time_s) -> None:
    done = truth.shape[0]
    time_ = (np.arange(done) + 1) * setup.interval
    series = {k: record[k] for k in _names.SERIES if k in record}
    fields = {"analysis_mean": record["analysis_mean"], "truth": truth}
    if "smoothed_mean" in record:
        fields["smoothed_mean"] = record["smoothed_mean"]
    title = config.describe()
    obs = config.observations
    attrs = {
        "title": title,
        "observations": f"{obs.describe()}, {obs.describe_schedule()}",
        "config": config.to_toml(),
        "seed": config.experiment.seed,
        "version": __version__,
        "git_commit": commit,
        "versions": json.dumps(versions, sort_keys=True),
        "wall_time_s": wall_time_s,
        "burn_in": config.experiment.burn_in,
        "climatological_rms": clim,
        "diverged": divergence is not None,
        "diverged_at_cycle": -1 if divergence is None else divergence[0],
        "resumed_at_cycle": -1 if resumed is None else resumed,
    }
    histograms = {}
    if "rank_counts" in record and done > config.experiment.burn_in:
        histograms["rank_histogram"] = record["rank_counts"][config.experiment.burn_in:].sum(0)
    dataset = rio.results_dataset(
        time=time_,
        cycle=np.arange(done),
        position=np.asarray(setup.model.grid.coords),
        series=series,
        fields=fields,
        attrs=attrs,
        histograms=histograms,
    )
    rio.write_results(out_dir / _names.RESULTS_FILE, dataset)
    plotting.plot_run(out_dir)


class _RateColumn(ProgressColumn):
    """Cycles per second (recent rate, or the overall one when too few samples)."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None and task.elapsed and task.completed and task.total is not None:
            speed = task.completed / task.elapsed
        if not speed or not task.total or task.total <= 1:
            return Text("")
        return Text(f"{speed:,.0f} cycles/s", style="progress.data.speed")


def _progress_bar(console: Console, enabled: bool) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    )
