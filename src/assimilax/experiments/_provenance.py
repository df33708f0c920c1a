"""Provenance of a result: the package versions and the git commit that produced it."""

from __future__ import annotations

import importlib.metadata
import subprocess
from pathlib import Path

from .. import __version__

_PACKAGES = (
    "jax", "jaxlib", "equinox", "optax", "numpy", "scipy", "xarray", "h5netcdf", "dask",
    "distributed", "zarr",
)
"""The packages whose versions can change a result's numbers or files."""


def package_versions() -> dict[str, str]:
    """Versions of assimilax and the packages its numbers and files depend on.

    Returns:
        ``{package: version}``, ``"absent"`` for a package that is not installed.
    """
    versions = {"assimilax": __version__}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def git_commit() -> str:
    """The commit of the assimilax source tree, or ``"unknown"`` (not a git checkout)."""
    here = Path(__file__).resolve().parent
    try:
        tracked = subprocess.run(
            ["git", "ls-files", "--error-unmatch", Path(__file__).name],
            cwd=here, capture_output=True, text=True, timeout=10,
        )
        if tracked.returncode != 0:
            return "unknown"
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = head.stdout.strip()
    return commit if head.returncode == 0 and commit else "unknown"
