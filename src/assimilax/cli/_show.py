"""``assimilax show DIR``: the table of a finished run, or of a sweep directory."""

from pathlib import Path
from typing import Annotated

import typer

from .. import experiments
from ..io import open_sweep, sweep_store
from ._app import EXIT_BAD_INPUT, app, consoles, fail
from ._table import summary_table, sweep_table


@app.command("show")
def show_command(
    run_dir: Annotated[Path, typer.Argument(metavar="DIR", help="A run or sweep directory.")],
) -> None:
    """Print the summary table of a finished run.

    A sweep directory (DIR/sweep.zarr): the table of its points, best first.
    """
    stdout, stderr = consoles()
    if (run_dir / sweep_store.STORE).exists():
        try:
            ds = open_sweep(run_dir)
        except Exception as exc:  # noqa: BLE001 - any unreadable store is reported alike
            raise fail(stderr, f"error: cannot read the sweep in {run_dir}: {exc}",
                       EXIT_BAD_INPUT) from None
        stdout.print(sweep_table(ds))
        return
    try:
        summary = experiments.load_summary(run_dir)
    except (FileNotFoundError, ValueError) as exc:
        raise fail(stderr, f"error: {exc}", EXIT_BAD_INPUT) from None
    stdout.print(summary_table(summary))
