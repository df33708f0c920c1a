"""The ``assimilax`` command line (typer): ``assimilax run [CONFIG] [--out DIR]``,
``assimilax show DIR``."""

from ._app import app as app
from ._app import main as main

__all__ = ["app", "main"]
