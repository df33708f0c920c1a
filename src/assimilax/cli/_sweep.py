"""``assimilax sweep SWEEP.toml``, and ``assimilax show DIR`` for a sweep directory."""

import functools
import inspect
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from .. import experiments
from ..io import open_sweep, sweep_store
from ._app import EXIT_BAD_INPUT, EXIT_DIVERGED, _consoles, _fail, app

EXIT_FAILED = EXIT_DIVERGED
"""Some batches raised: the others are written, the same command retries the rest."""

MAX_ROWS = 25
"""Rows of the sweep table (best first)."""


@app.command("sweep")
def sweep_command(
    sweep_file: Annotated[
        Path,
        typer.Argument(metavar="SWEEP", help="Sweep file (see examples/sweep_etkf.toml).",
                       exists=True, dir_okay=False, readable=True),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", metavar="DIR", help="Sweep directory.",
                     show_default="runs/<sweep name>"),
    ] = None,
    scheduler: Annotated[
        str,
        typer.Option("--scheduler", metavar="local|synchronous|ADDRESS",
                     help="local: a Dask LocalCluster on this machine; synchronous: one batch "
                     "after another in this process; or the address of a running Dask "
                     "scheduler (tcp://host:8786)."),
    ] = "local",
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, metavar="N",
                     help="Worker processes of the local cluster.", show_default="CPU count"),
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")
    ] = True,
) -> None:
    """Run a twin experiment at every point of a grid of config values into DIR/sweep.zarr.

    Points that share shapes run as one vmapped batch; batches are Dask tasks. Results
    are written as batches finish: the same command in the same DIR resumes an
    interrupted sweep, and a different sweep is refused.
    """
    stdout, stderr = _consoles()
    try:
        spec = experiments.load_sweep(sweep_file)
    except experiments.ConfigError as exc:
        raise _fail(stderr, f"error: {exc}\nNothing was run or written.", EXIT_BAD_INPUT) from None
    out_dir = out if out is not None else experiments.default_out_dir(sweep_file)
    try:
        result = experiments.sweep(spec, out_dir, scheduler=scheduler, workers=workers,
                                   progress=progress, console=stderr)
    except experiments.SweepDirError as exc:
        raise _fail(stderr, f"error: {exc}", EXIT_BAD_INPUT) from None
    except experiments.SchedulerError as exc:
        raise _fail(stderr, f"error: {exc}\nNothing was run or written.", EXIT_BAD_INPUT) from None
    if result.computed == 0 and not result.failed:
        stdout.print(f"{out_dir} already holds this finished sweep: not recomputed.",
                     markup=False)
    stdout.print(sweep_table(result.dataset()))
    for path in result.figures:
        stdout.print(str(path), markup=False, highlight=False)
    if result.failed:
        first, message = result.failed[0]
        raise _fail(
            stderr,
            f"error: {len(result.failed)} of {result.batches} batches failed (batch {first}: "
            f"{message}). The other results are in {result.store}; run the same command again "
            "to retry the failed batches.",
            EXIT_FAILED,
        )


def sweep_table(ds, max_rows: int = MAX_ROWS) -> Table:
    """The points of a sweep, best first: seeds pooled, fewest divergences, lowest RMSE."""
    seed = sweep_store.SEED
    dims = [d for d in ds["rmse_analysis"].dims if d != seed]
    seeds = ds.sizes.get(seed, 1)
    rows = []
    for index in np.ndindex(*(ds.sizes[d] for d in dims)):
        point = ds.isel(dict(zip(dims, index, strict=True)))
        done = np.atleast_1d(point["done"].values)
        diverged = np.atleast_1d(point["diverged"].values) & done
        ok = done & ~diverged
        stats = {}
        for name in ("rmse_analysis", "rmse_forecast", "spread_analysis"):
            values = np.atleast_1d(point[name].values)[ok]
            stats[name] = float(values.mean()) if values.size else np.nan
        spread = np.nan
        if ok.sum() > 1:
            spread = float(np.atleast_1d(point["rmse_analysis"].values)[ok].std(ddof=1)
                           / np.sqrt(ok.sum()))
        elif ok.sum() == 1 and seeds == 1:
            spread = float(np.atleast_1d(point["rmse_analysis_ci95"].values)[ok][0])
        labels = [_label(point[d].values) for d in dims]
        rank = (done.sum() == 0, int(diverged.sum()) + int((~done).sum()),
                stats["rmse_analysis"] if np.isfinite(stats["rmse_analysis"]) else np.inf)
        rows.append((rank, labels, stats, spread, int(diverged.sum()), int(done.sum())))
    rows.sort(key=lambda r: r[0])
    n_points = int(ds["done"].size)
    n_done = int(ds["done"].sum())
    table = Table(title=ds.attrs.get("title", "assimilax sweep"), title_justify="left",
                  header_style="bold")
    for d in dims:
        table.add_column(d, justify="right")
    for name in ("RMSE", "RMSE fc", "spread", "diverged"):
        table.add_column(name, justify="right", no_wrap=True)
    if n_done < n_points:
        table.add_column("done", justify="right")
    for _, labels, stats, spread, n_div, n_ok in rows[:max_rows]:
        rmse = _num(stats["rmse_analysis"])
        if np.isfinite(stats["rmse_analysis"]) and np.isfinite(spread):
            rmse += f" ± {spread:.2g}"
        cells = [*labels, rmse, _num(stats["rmse_forecast"]), _num(stats["spread_analysis"]),
                 f"{n_div}/{seeds}" if seeds > 1 else ("yes" if n_div else "no")]
        if n_done < n_points:
            cells.append(f"{n_ok}/{seeds}")
        table.add_row(*cells, style="red" if n_div else None)
    wall = float(np.nansum(ds["wall_time_s"].values))
    versions = ds.attrs.get("versions") or {}
    pooled = f"mean over {seeds} seeds ± standard error" if seeds > 1 else "± 95 % interval"
    caption = [
        f"RMSE: time-mean analysis RMSE ({pooled}); RMSE fc: forecast; spread: analysis "
        "spread; diverged seeds: NaN errors, left out of the means",
        f"{n_done} of {n_points} points done; best first",
    ]
    if len(rows) > max_rows:
        caption[1] += f"; {len(rows) - max_rows} more rows not shown"
    caption.append(f"compute time {wall:.1f} s; assimilax {versions.get('assimilax', '?')} "
                   f"({str(ds.attrs.get('git_commit', 'unknown'))[:12]}), jax "
                   f"{versions.get('jax', '?')}")
    table.caption = "\n".join(caption)
    table.caption_justify = "left"
    return table


def _num(value: float) -> str:
    return "-" if not np.isfinite(value) else f"{value:.4g}"


def _label(value) -> str:
    value = value.item() if hasattr(value, "item") else value
    return f"{value:g}" if isinstance(value, float) else str(value)


def _with_sweeps(show):
    """``show`` that prints the table of a sweep directory (DIR/sweep.zarr), best first."""

    @functools.wraps(show)
    def show_run_or_sweep(*args, **kwargs):
        bound = inspect.signature(show).bind(*args, **kwargs)
        directory = Path(next(iter(bound.arguments.values())))
        if not (directory / sweep_store.STORE).exists():
            return show(*args, **kwargs)
        stdout, stderr = _consoles()
        try:
            ds = open_sweep(directory)
        except Exception as exc:  # noqa: BLE001 - any unreadable store is reported alike
            raise _fail(stderr, f"error: cannot read the sweep in {directory}: {exc}",
                        EXIT_BAD_INPUT) from None
        stdout.print(sweep_table(ds))

    show_run_or_sweep.shows_sweeps = True
    show_run_or_sweep.__doc__ = (show.__doc__ or "").rstrip() + (
        "\n\nA sweep directory (DIR/sweep.zarr): the table of its points, best first.")
    return show_run_or_sweep


# ``show`` is defined with the run commands (cli/_app.py); its callback is wrapped here,
# keeping its parameters and help, so that this module alone knows sweep directories.
for _info in app.registered_commands:
    if _info.name == "show" and not getattr(_info.callback, "shows_sweeps", False):
        _info.callback = _with_sweeps(_info.callback)
