"""The ``assimilax`` command: ``run`` a config, ``show`` a finished run. Thin: it calls
:mod:`assimilax.experiments` and prints."""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from .. import experiments
from ._table import summary_table

EXIT_DIVERGED = 1
EXIT_BAD_INPUT = 2

app = typer.Typer(
    name="assimilax",
    help="Twin experiments of data assimilation on JAX.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _consoles() -> tuple[Console, Console]:
    out = Console(soft_wrap=True)
    err = Console(stderr=True, soft_wrap=True, highlight=False)
    return out, err


def _fail(err: Console, message: str, code: int) -> typer.Exit:
    err.print(message, markup=False, style="red")
    return typer.Exit(code)


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
) -> None:
    """Run a twin experiment and write results.nc, summary.json and figures into DIR.

    The same config in the same DIR is not recomputed, an interrupted run of it is
    resumed from its last checkpoint, and a different config is refused.
    """
    stdout, stderr = _consoles()
    try:
        cfg = experiments.Config.default() if config is None else experiments.load_config(config)
    except experiments.ConfigError as exc:
        raise _fail(stderr, f"error: {exc}\nNothing was run or written.", EXIT_BAD_INPUT) from None
    out_dir = out if out is not None else experiments.default_out_dir(config)
    try:
        summary = experiments.run(
            cfg, out_dir, progress=progress, console=stderr, flush_seconds=flush_seconds
        )
    except experiments.RunDirError as exc:
        raise _fail(stderr, f"error: {exc}", EXIT_BAD_INPUT) from None
    except experiments.DivergenceError as exc:
        raise _fail(
            stderr, f"error: {exc}\nThe cycles run so far are in {out_dir}.", EXIT_DIVERGED
        ) from None
    if summary.reused:
        stdout.print(
            f"{out_dir} already holds a finished run of this configuration: not recomputed.",
            markup=False,
        )
    stdout.print(summary_table(summary))
    if summary.diverged:
        stderr.print(
            f"warning: the filter diverged at cycle {summary.diverged_at_cycle} "
            "([experiment] divergence_check = false): its error numbers are meaningless.",
            markup=False, style="yellow",
        )


@app.command("show")
def show_command(
    run_dir: Annotated[Path, typer.Argument(metavar="DIR", help="A run directory.")],
) -> None:
    """Print the summary table of a finished run."""
    stdout, stderr = _consoles()
    try:
        summary = experiments.load_summary(run_dir)
    except (FileNotFoundError, ValueError) as exc:
        raise _fail(stderr, f"error: {exc}", EXIT_BAD_INPUT) from None
    stdout.print(summary_table(summary))


def main() -> None:
    """Console entry point of ``assimilax``."""
    from ..experiments._runtime import configure_runtime

    configure_runtime()  # before the first JAX computation of this process
    app()


from . import _plot as _plot  # noqa: E402  (registers `assimilax plot`)
from . import _reproduce as _reproduce  # noqa: E402  (registers `assimilax reproduce`)
from . import _sweep as _sweep  # noqa: E402  (registers `assimilax sweep`, extends `show`)
