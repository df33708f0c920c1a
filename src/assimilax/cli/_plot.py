"""``assimilax plot DIR``: the figures of a run or of a sweep, from the files on disk."""

from pathlib import Path
from typing import Annotated

import typer

from ..io import names, sweep_store
from ._app import EXIT_BAD_INPUT, app, consoles, fail
from ._dirs import Holds, NotAResultDirectory, what_it_holds

SWEEP_STORE = sweep_store.STORE
"""What marks a sweep directory (``sweep.zarr``)."""


@app.command("plot")
def plot_command(
    directory: Annotated[
        Path,
        typer.Argument(metavar="DIR", help="A run directory (results.nc) or a sweep "
                       f"directory ({SWEEP_STORE})."),
    ],
) -> None:
    """Write the PNG figures of a run or a sweep into DIR, from its results.

    A run: error_spread.png, hovmoller.png, rank_histogram.png (if the run recorded one).

    A sweep: heat maps of time-mean RMSE, RMSE against ensemble size per method.
    """
    stdout, stderr = consoles()
    try:
        holds = what_it_holds(directory)
    except NotAResultDirectory as exc:
        raise fail(stderr, f"error: {exc}; nothing to plot.", EXIT_BAD_INPUT) from None
    if holds is Holds.SWEEP:
        written = _plot_sweep(directory, stderr)
    elif holds is Holds.REPRODUCTION:
        raise fail(stderr, f"error: {directory} holds a reproduction, whose results are its "
                   "claims (`assimilax show` prints them); it has no figures of its own.",
                   EXIT_BAD_INPUT)
    elif (directory / names.RESULTS_FILE).is_file():
        from ..plotting import plot_run

        try:
            written = plot_run(directory)
        except (OSError, ValueError) as exc:
            raise fail(stderr, f"error: cannot plot {directory}: {exc}", EXIT_BAD_INPUT) from None
    else:
        raise fail(stderr, f"error: {directory} holds a run without {names.RESULTS_FILE} "
                   "(interrupted before its first write?); nothing to plot.", EXIT_BAD_INPUT)
    for path in written:
        stdout.print(str(path), markup=False, highlight=False)


def _plot_sweep(directory: Path, stderr) -> list[Path]:
    # Imported here: the sweep figures live in their own module, loaded only for sweeps.
    try:
        from ..plotting import plot_sweep
    except ImportError:
        raise fail(stderr, f"error: {directory} holds a sweep, but this assimilax cannot plot "
                   "sweeps (no assimilax.plotting.plot_sweep).", EXIT_BAD_INPUT) from None
    try:
        written = plot_sweep(directory)
    except (OSError, ValueError, KeyError) as exc:
        raise fail(stderr, f"error: cannot plot the sweep in {directory}: {exc}",
                   EXIT_BAD_INPUT) from None
    return [Path(p) for p in written] if written is not None else []
