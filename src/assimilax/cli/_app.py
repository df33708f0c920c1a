"""The ``assimilax`` typer app, its exit codes and what its commands share.

The commands live in their own modules (``_run.py``, ``_show.py``, ``_sweep.py``,
``_reproduce.py``, ``_plot.py``), each registering itself on :data:`app` with
``@app.command``; ``cli/__init__.py`` imports them. This module imports none of them.
"""

from typing import Annotated

import typer
from rich.console import Console

EXIT_DIVERGED = 1
EXIT_BAD_INPUT = 2
EXIT_WRITE_FAILED = 74
"""Writing the progress failed mid-run (a full disk): what was saved before is intact."""

app = typer.Typer(
    name="assimilax",
    help="Twin experiments of data assimilation on JAX.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set", metavar="SECTION.KEY=VALUE",
        help="Override a config key, e.g. --set method.inflation=1.05 (repeatable; a TOML "
             "value, or a bare word as a string).",
        show_default=False,
    ),
]
"""The ``--set`` option of ``run``, ``sweep`` and ``reproduce``."""

RestartOption = Annotated[
    bool,
    typer.Option(
        "--restart",
        help="Discard the earlier progress (and results) of this same configuration in DIR "
             "and compute from the start; a different configuration is still refused.",
    ),
]
"""The ``--restart`` option of ``run`` and ``sweep``."""


def consoles() -> tuple[Console, Console]:
    """``(stdout, stderr)`` consoles: soft-wrapped, stderr without highlighting."""
    out = Console(soft_wrap=True)
    err = Console(stderr=True, soft_wrap=True, highlight=False)
    return out, err


def fail(err: Console, message: str, code: int) -> typer.Exit:
    """Print ``message`` in red on ``err``; return the exit to raise with ``code``."""
    err.print(message, markup=False, style="red")
    return typer.Exit(code)


def main() -> None:
    """Console entry point of ``assimilax``."""
    from ..experiments import configure_runtime, enable_compilation_cache

    configure_runtime()  # before the first JAX computation of this process
    enable_compilation_cache()  # compiled programs kept on disk between runs
    app()
