"""``assimilax show DIR``: the table of a finished run, a sweep or a reproduction."""

from pathlib import Path
from typing import Annotated

import typer

from .. import experiments
from ..experiments import presets
from ..io import open_sweep
from ._app import EXIT_BAD_INPUT, app, consoles, fail
from ._dirs import Holds, NotAResultDirectory, what_it_holds
from ._table import claims_table, summary_table, sweep_table


@app.command("show")
def show_command(
    run_dir: Annotated[Path, typer.Argument(
        metavar="DIR", help="A run, sweep or reproduction directory.")],
) -> None:
    """Print the summary table of a finished run.

    A sweep directory (DIR/sweep.zarr): the table of its points, best first. A
    reproduction directory (DIR/preset.json, from `assimilax reproduce`): its claims.
    """
    stdout, stderr = consoles()
    try:
        holds = what_it_holds(run_dir)
    except NotAResultDirectory as exc:
        raise fail(stderr, f"error: {exc}; nothing to show.", EXIT_BAD_INPUT) from None
    try:
        if holds is Holds.SWEEP:
            table = sweep_table(open_sweep(run_dir))
        elif holds is Holds.REPRODUCTION:
            table = claims_table(presets.load_reproduction(run_dir))
        else:
            table = summary_table(experiments.load_summary(run_dir))
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported alike
        raise fail(stderr, f"error: cannot read the {holds.value} in {run_dir}: {exc}",
                   EXIT_BAD_INPUT) from None
    stdout.print(table)
