"""The ``assimilax`` command line (typer): ``assimilax run [CONFIG] [--out DIR]``,
``assimilax show DIR``, ``assimilax sweep SWEEP``, ``assimilax reproduce NAME``,
``assimilax plot DIR``.

Each command module registers its command on the app when imported here.
"""

from . import _plot, _reproduce, _run, _show, _sweep  # noqa: F401  (register the commands)
from ._app import app as app
from ._app import main as main

__all__ = ["app", "main"]
