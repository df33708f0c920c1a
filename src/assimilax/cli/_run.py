"""``assimilax run [CONFIG] [--out DIR] [--set section.key=value ...]``."""

from pathlib import Path
from typing import Annotated

import typer

from .. import experiments
from .. import io as rio
from ..experiments._runtime import process_age_s
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
from ._table import summary_table


@app.command("run")
def run_command(
    config: Annotated[
        Path | None,
        typer.Argument(
            metavar="CONFIG",
            help="TOML config (see examples/); none: the built-in default experiment.",
            exists=True, dir_okay=False, readable=True,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", metavar="DIR", help="Run directory.",
            show_default="runs/<config name>",
        ),
    ] = None,
    set_: SetOption = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")
    ] = True,
    flush_seconds: Annotated[
        float,
        typer.Option(
            "--flush-seconds", min=0.0, metavar="SECONDS",
            help="Longest wall time between two writes of the progress to DIR "
                 "(0: after every chunk); an interruption loses at most this much work.",
        ),
    ] = 30.0,
    restart: RestartOption = False,
) -> None:
    """Run a twin experiment and write results.nc, summary.json and figures into DIR.

    The same config in the same DIR is not recomputed, an interrupted run of it is
    resumed from its last checkpoint, and a different config is refused; --restart
    discards the earlier progress of this config in DIR and computes from cycle 0.
    Ctrl-C (SIGINT) or SIGTERM saves the progress after the current chunk and exits with
    130 or 143; the same command resumes (a second signal aborts at once).
    """
    imports = process_age_s()  # the interpreter, JAX and assimilax, before the run
    stdout, stderr = consoles()
    overrides = set_ or []
    try:
        cfg = (experiments.Config.default(overrides) if config is None
               else experiments.load_config(config, overrides))
    except experiments.ConfigError as exc:
        raise fail(stderr, f"error: {exc}\nNothing was run or written.", EXIT_BAD_INPUT) from None
    out_dir = out if out is not None else experiments.default_out_dir(config)
    try:
        summary = experiments.run(
            cfg, out_dir, progress=progress, console=stderr, flush_seconds=flush_seconds,
            restart=restart,
        )
    except (experiments.RunDirError, rio.CorruptRunFileError) as exc:
        raise fail(stderr, f"error: {exc}", EXIT_BAD_INPUT) from None
    except rio.ProgressWriteError as exc:
        raise fail(stderr, f"error: {exc}", EXIT_WRITE_FAILED) from None
    except experiments.Interrupted as exc:
        raise fail(stderr, str(exc), exc.exit_code) from None
    except experiments.DivergenceError as exc:
        raise fail(
            stderr, f"error: {exc}\nThe cycles run so far are in {out_dir}.", EXIT_DIVERGED
        ) from None
    if summary.reused:
        stdout.print(
            f"{out_dir} already holds a finished run of this configuration: not recomputed.",
            markup=False,
        )
    stdout.print(summary_table(summary, imports_s=None if summary.reused else imports))
    if summary.diverged:
        stderr.print(
            f"warning: the filter diverged at cycle {summary.diverged_at_cycle} "
            "([experiment] divergence_check = false): its error numbers are meaningless.",
            markup=False, style="yellow",
        )
