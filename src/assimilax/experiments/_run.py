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

import errno
import json
import shutil
import signal
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from rich.console import Console

from .. import __version__, plotting
from .. import io as rio
from ..da import assimilate, complete_series, series_specs
from ..io import ProgressWriteError
from ..io import _partial_run as partial_run
from ._build import build
from ._divergence import (
    DivergenceError,
    divergence_threshold,
    divergence_window,
    find_divergence,
)
from ._progress import progress_bar
from ._provenance import git_commit, package_versions
from ._reduce import reduce
from ._rundir import check_writable, previous_run
from ._runtime import CompileClock, configure_runtime
from ._signals import Interrupted, deferred_signals, interrupt_now
from ._simulate import simulate_setup
from ._summary import Summary
from ._twin import climatological_rms, twin_keys
from .config import Config

FLUSH_SECONDS = 30.0
"""Default longest wall time between two writes of a run's progress to disk."""

_names = rio.names


# ----------------------------------------------------------------------------- the run


@eqx.filter_jit
def _assimilate_chunk(model, method, observations, initial, carry, truth, key, start):
    return assimilate(
        model, observations, method, initial,
        key=key, truth=truth, carry=carry, start_cycle=start, finish=False,
    )


def run(
    config: Config,
    out_dir: str | Path,
    *,
    progress: bool = True,
    console: Console | None = None,
    flush_seconds: float = FLUSH_SECONDS,
    restart: bool = False,
) -> Summary:
    """Run a twin experiment and write ``results.nc``, ``summary.json`` and figures.

    A finished run of the same config in ``out_dir`` is not recomputed: its summary is
    returned (``reused=True``); an interrupted one is resumed from its last checkpoint.
    With ``restart=True`` the earlier files of this config in ``out_dir`` (checkpoint,
    partial store, a hybrid run's checkpoints, a finished run's results) are discarded
    and the run computes from cycle 0; a different config is still refused.

    SIGINT or SIGTERM (main thread only) stops the run after its current chunk: the
    progress is written (whatever ``flush_seconds``) and :class:`Interrupted` is raised;
    the same call resumes. A second signal aborts at once.
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
        restart: discard the earlier progress (or results) of this config in ``out_dir``
            and compute from the start.

    Returns:
        The run's :class:`Summary`.

    Raises:
        RunDirError: ``out_dir`` holds a different run, is not a run directory, or cannot
            be written; nothing is written.
        DivergenceError: the filter diverged and ``[experiment] divergence_check`` is on;
            the files of the cycles run so far are written first.
        CorruptRunFileError: ``checkpoint.npz`` or ``partial.zarr`` (or a hybrid
            checkpoint) of the interrupted run cannot be read; nothing is changed
            (``restart=True`` discards them).
        ProgressWriteError: writing the progress failed (a full disk): the last
            checkpoint is intact and the same call resumes from it.
        Interrupted: SIGINT or SIGTERM; the progress is saved.
    """
    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    previous = previous_run(config, out_dir)  # a different config is refused, even to restart
    if restart:
        check_writable(out_dir)
        discard_run(out_dir)
        previous = None
    if previous is not None:
        if previous.diverged and config.experiment.divergence_check:
            raise DivergenceError(
                previous.diverged_at_cycle,
                f"as recorded in {out_dir / _names.SUMMARY_FILE}",
                _advice(config),
            )
        return previous
    check_writable(out_dir)
    if config.hybrid is not None:
        from ._run_hybrid import run_hybrid_experiment

        # No chunks to stop after: a signal stops a hybrid run at once, and the same
        # command resumes it from its last finished iteration (DIR/checkpoint).
        with interrupt_now(out_dir, _hybrid_interrupted):
            return run_hybrid_experiment(config, out_dir, progress=progress, console=console,
                                         t_start=t_start)

    configure_runtime()
    xp = build(config)
    setup, method = xp.setup, xp.method
    exp = config.experiment
    out_dir.mkdir(parents=True, exist_ok=True)
    rio.write_text_atomic(out_dir / _names.CONFIG_FILE, config.to_toml())

    commit, versions = git_commit(), package_versions()
    console = console or Console(stderr=True)
    with (CompileClock() as clock, deferred_signals() as flag,
          progress_bar(console, progress) as bar):
        task = bar.add_task("simulating the twin", total=None)
        twin, observations = simulate_setup(setup)
        clim = float(climatological_rms(twin.truth))
        threshold = divergence_threshold(config, clim)
        bar.update(task, total=1, completed=1)
        record, carry, done, divergence, resumed, saved, first = _assimilate_all(
            xp, config, twin, observations, threshold, bar, out_dir, commit, flush_seconds,
            flag, clock,
        )
    # Before the first cycle computes: set-up, the twin, and every compilation (or load
    # from the on-disk cache) up to the first chunk's.
    startup = None if first is None else first[0] - t_start + first[1]
    truth = np.asarray(twin.truth[:done])
    record = jax.device_get(complete_series(method, record, carry, truth))
    specs = dict(zip(record, series_specs(method, record), strict=True))
    reduction = reduce(record, exp.burn_in, threshold=threshold, window=divergence_window(config),
                       divergence=divergence)
    divergence = reduction.divergence
    try:
        _write_results(out_dir, config, setup, record, specs, truth, clim, reduction, commit,
                       resumed, versions, time.perf_counter() - t_start)
    except OSError as err:
        raise _write_error(err, out_dir / _names.RESULTS_FILE, done, saved) from None
    means = dict(reduction.means)
    standard = {key: means.pop(key, None) for key in
                ("rmse_analysis", "rmse_forecast", "spread_analysis", "spread_forecast")}
    wall = time.perf_counter() - t_start
    summary = Summary(
        **standard,
        rmse_analysis_ci95=reduction.rmse_analysis_ci95,
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
        means=means,
        startup_s=startup,
        compile_s=None if first is None else first[2],
        programs_from_cache=clock.cache_hits,
        out_dir=out_dir,
    )
    try:
        rio.write_json(out_dir / _names.SUMMARY_FILE, summary.to_dict())
    except OSError as err:
        raise _write_error(err, out_dir / _names.SUMMARY_FILE, done, saved) from None
    partial_run.remove_partial(out_dir)
    if divergence is not None and exp.divergence_check:
        raise DivergenceError(divergence[0], divergence[1], _advice(config))
    return summary


def _assimilate_all(xp, config, twin, observations, threshold, bar, out_dir, commit,
                    flush_seconds, interrupted=None, clock=None):
    """Chunk by chunk, resuming from a checkpoint in ``out_dir`` if there is one.

    Whatever the method, the record is the driver's series (``Result.series``); lagged
    series hold the rows as emitted (assembled afterwards by
    :func:`assimilax.da.complete_series`).

    Returns the host record, the method's carry, cycles done, the divergence (or
    ``None``), the cycle resumed at (or ``None``), the cycles of the last checkpoint
    written (0: none) and, for the first chunk, ``(perf_counter at its call, seconds
    compiling within it, seconds compiling up to its end)`` read from ``clock``
    (``None`` without a clock or chunk).

    After a chunk, a set ``interrupted`` flag (:func:`deferred_signals`) writes the
    progress at once and raises :class:`Interrupted`.
    """
    exp = config.experiment
    model, method = xp.setup.model, xp.method
    cycles, chunk = exp.cycles, _chunk(config, method)
    key = twin_keys(jax.random.key(exp.seed))["assimilation"]
    initial = twin.ensemble0
    carry = method.init(initial)
    checkpoint, pieces = _resume(out_dir, carry, cycles, chunk)
    if checkpoint is None:
        start, pieces = 0, {}
        shapes = eqx.filter_eval_shape(
            _assimilate_chunk, model, method, observations[:chunk], initial,
            carry, twin.truth[:chunk], key, jnp.asarray(0),
        ).series
        _create_partial(out_dir, config, shapes, chunk, commit)
    else:
        start, carry = checkpoint
    resumed = start if start > 0 else None
    task = bar.add_task("assimilating (compiling)", total=cycles, completed=start)
    done, divergence = start, None
    pending: dict[str, list[np.ndarray]] = {}
    flushed, last_flush = start, time.perf_counter()
    store = out_dir / partial_run.PARTIAL_STORE
    first = None
    for a in range(start, cycles, chunk):
        b = min(a + chunk, cycles)
        called, compiled = time.perf_counter(), clock.seconds if clock is not None else 0.0
        result = _assimilate_chunk(
            model, method, observations[a:b], initial, carry,
            twin.truth[a:b], key, jnp.asarray(a // method.times_per_cycle),
        )
        if first is None and clock is not None:
            first = (called, clock.seconds - compiled, clock.seconds)
        carry = result.carry
        for name, value in jax.device_get(result.series).items():
            pieces.setdefault(name, []).append(np.asarray(value))
            pending.setdefault(name, []).append(np.asarray(value))
        done = b
        bar.update(task, completed=done, description="assimilating")
        if exp.divergence_check:
            rmse_so_far = np.concatenate(pieces["rmse_analysis"])
            divergence = find_divergence(rmse_so_far, exp.burn_in, threshold,
                                         divergence_window(config))
            if divergence is not None:
                break
        # The last chunk is not flushed: results.nc follows at once, and a run killed
        # before it is written resumes from the previous flush.
        stop = done < cycles and bool(interrupted)
        if done < cycles and (stop or time.perf_counter() - last_flush >= flush_seconds):
            # The records first, beyond the checkpoint (ignored until it vouches for
            # them), then the checkpoint, atomically: a failure of either leaves the
            # previous checkpoint and its records intact.
            where = store
            try:
                partial_run.write_partial(
                    out_dir, flushed, {k: np.concatenate(v) for k, v in pending.items()}
                )
                leaves = [np.asarray(x) for x in jax.tree.leaves(carry)]
                where = out_dir / partial_run.CHECKPOINT_FILE
                partial_run.save_checkpoint(out_dir, done, leaves)
            except OSError as err:
                raise _write_error(err, where, done, flushed) from None
            pending, flushed, last_flush = {}, done, time.perf_counter()
        if stop:
            name = signal.Signals(interrupted.signum).name
            raise Interrupted(
                interrupted.signum,
                f"interrupted by {name} at cycle {done} of {cycles}; progress saved in "
                f"{out_dir}; run the same command to resume.", out_dir, done)
    record = {name: np.concatenate(parts) for name, parts in pieces.items()}
    return record, carry, done, divergence, resumed, flushed, first


def _write_error(err: OSError, path: Path, cycle: int, saved: int) -> ProgressWriteError:
    """The message of a failed write of a run's progress or files (a full disk, ...)."""
    reason = ("no space left on device" if err.errno == errno.ENOSPC
              else (err.strerror or str(err)))
    kept = (f"the checkpoint of cycle {saved} is intact" if saved
            else "no checkpoint was written yet (the same command starts from cycle 0)")
    return ProgressWriteError(
        f"{reason} writing {path} at cycle {cycle}: {kept}; free space and run the same "
        "command to resume.")


def discard_run(out_dir: Path) -> None:
    """Remove the files of an earlier run in ``out_dir`` (``restart=True``): its summary
    first (so that no half-removed run passes for a finished one), results, networks,
    checkpoint and partial store, and a hybrid run's checkpoints.

    Raises:
        RunDirError: a file cannot be removed.
    """
    from ._run_hybrid import CHECKPOINT_DIR
    from ._rundir import RunDirError

    try:
        for name in (_names.SUMMARY_FILE, _names.RESULTS_FILE, partial_run.CHECKPOINT_FILE):
            (out_dir / name).unlink(missing_ok=True)
        for name in (partial_run.PARTIAL_STORE, CHECKPOINT_DIR, rio.NETWORKS_DIR):
            if (out_dir / name).exists():
                shutil.rmtree(out_dir / name)
    except OSError as err:
        raise RunDirError(f"cannot discard the earlier run in {out_dir} (--restart): "
                          f"{err.strerror or err}; nothing was computed.") from None


def _hybrid_interrupted(name: str, out_dir: Path) -> str:
    from ._run_hybrid import CHECKPOINT_DIR

    return (f"interrupted by {name}; the finished iterations of this hybrid run are kept in "
            f"{out_dir / CHECKPOINT_DIR} (iterative_emulation; emulator_4dvar keeps none); "
            "run the same command to resume from the last of them.")


def _chunk(config: Config, method) -> int:
    """Cycles per compiled chunk: ``[experiment] chunk_cycles`` rounded up to whole
    windows of the method (so chunks of a windowed method are whole windows)."""
    per = method.times_per_cycle
    return -(-config.experiment.chunk_cycles // per) * per


def _create_partial(out_dir: Path, config: Config, shapes, chunk: int, commit: str) -> None:
    """The store of the per-cycle record: every series the driver returns, full length."""
    cycles = config.experiment.cycles
    arrays = {}
    for name, shape in shapes.items():
        dims = (_names.TIME,) + tuple(f"{name}_{i}" for i in range(1, len(shape.shape)))
        arrays[name] = ((cycles,) + tuple(shape.shape[1:]), dims, np.dtype(shape.dtype))
    partial_run.create_partial_store(
        out_dir, arrays, chunk_cycles=chunk,
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


def _advice(config: Config) -> str:
    tips = config.method.divergence_advice()
    return (
        "Try to " + "; ".join(tips) + ". Or set [experiment] divergence_check = false to run "
        "on and record the numbers anyway."
    )


# ----------------------------------------------------------------------------- files


def _write_results(out_dir, config, setup, record, specs, truth, clim, reduction, commit,
                   resumed, versions, wall_time_s) -> None:
    done = truth.shape[0]
    divergence = reduction.divergence
    time_ = (np.arange(done) + 1) * setup.interval
    obs = config.observations
    attrs = {
        "title": config.describe(),
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
    # Rank counts are written as their histogram after burn-in (below), not per cycle.
    series = {k: v for k, v in record.items() if k != "rank_counts"}
    histograms = {}
    if reduction.rank_histogram is not None:
        histograms["rank_histogram"] = reduction.rank_histogram
    dataset = rio.results_dataset(
        time=time_,
        cycle=np.arange(done),
        position=np.asarray(setup.model.grid.coords),
        fields={"truth": truth},
        variables=rio.series_variables(series, specs),
        attrs=attrs,
        histograms=histograms,
    )
    rio.write_results(out_dir / _names.RESULTS_FILE, dataset)
    plotting.plot_run(out_dir)
