"""``assimilax sweep SWEEP.toml [--set section.key=value ...]``."""

from pathlib import Path
from typing import Annotated

import typer

from .. import experiments
from .. import io as rio
from ._app import (
    EXIT_BAD_INPUT,
    EXIT_DIVERGED,
    EXIT_WRITE_FAILED,
    RestartOption,
    SetOption,
    app,
    consoles,
    fail,
)
from ._table import sweep_table

EXIT_FAILED = EXIT_DIVERGED
"""Some batches raised: the others are written, the same command retries the rest."""


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
    set_: SetOption = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")
    ] = True,
    restart: RestartOption = False,
) -> None:
    """Run a twin experiment at every point of a grid of config values into DIR/sweep.zarr.

    Points that share shapes run as one vmapped batch; batches are Dask tasks. Results
    are written as batches finish: the same command in the same DIR resumes an
    interrupted sweep, and a different sweep is refused. ``--set`` overrides a key of
    the sweep's base config (a swept key keeps the values of its axis). --restart
    discards DIR/sweep.zarr (and DIR/points) of this sweep and computes every point
    again. Ctrl-C (SIGINT) or SIGTERM stops after the next batch is written and exits
    with 130 or 143; the same command resumes.
    """
    stdout, stderr = consoles()
    try:
        spec = experiments.load_sweep(sweep_file, overrides=set_ or [])
    except experiments.ConfigError as exc:
        raise fail(stderr, f"error: {exc}\nNothing was run or written.", EXIT_BAD_INPUT) from None
    out_dir = out if out is not None else experiments.default_out_dir(sweep_file)
    try:
        result = experiments.sweep(spec, out_dir, scheduler=scheduler, workers=workers,
                                   progress=progress, console=stderr, restart=restart)
    except (experiments.SweepDirError, rio.CorruptRunFileError) as exc:
        raise fail(stderr, f"error: {exc}", EXIT_BAD_INPUT) from None
    except rio.ProgressWriteError as exc:
        raise fail(stderr, f"error: {exc}", EXIT_WRITE_FAILED) from None
    except experiments.Interrupted as exc:
        raise fail(stderr, str(exc), exc.exit_code) from None
    except experiments.SchedulerError as exc:
        raise fail(stderr, f"error: {exc}\nNothing was run or written.", EXIT_BAD_INPUT) from None
    if result.computed == 0 and not result.failed:
        stdout.print(f"{out_dir} already holds this finished sweep: not recomputed.",
                     markup=False)
    stdout.print(sweep_table(result.dataset()))
    for path in result.figures:
        stdout.print(str(path), markup=False, highlight=False)
    if result.failed:
        first, message = result.failed[0]
        raise fail(
            stderr,
            f"error: {len(result.failed)} of {result.batches} batches failed (batch {first}: "
            f"{message}). The other results are in {result.store}; run the same command again "
            "to retry the failed batches.",
            EXIT_FAILED,
        )
