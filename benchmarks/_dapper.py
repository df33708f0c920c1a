"""Finding a Python interpreter with DAPPER installed, for the benchmarks that compare with it."""

import os
import sys


def find_dapper(arg: str | None) -> str | None:
    """The interpreter to run DAPPER with: ``arg``, else ``$DAPPER_PYTHON``, else this one
    when it can import ``dapper``, else ``None`` (DAPPER 1.8 needs Python >= 3.12, so it
    usually lives in its own venv)."""
    if arg:
        return arg
    if os.environ.get("DAPPER_PYTHON"):
        return os.environ["DAPPER_PYTHON"]
    try:
        import dapper  # noqa: F401

        return sys.executable
    except ImportError:
        return None
