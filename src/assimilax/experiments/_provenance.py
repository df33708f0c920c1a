"""Provenance of a result: the package versions and the git commit that produced it."""

from __future__ import annotations

import hashlib
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


FINGERPRINT_PACKAGES = ("jax", "jaxlib", "numpy", "equinox", "optax")
"""The packages whose versions a code fingerprint records (they compute the numbers); all
are among those of :func:`package_versions`."""


def source_state() -> str:
    """What the package's source is beyond its commit.

    In a git checkout: ``"clean"``, or ``"diff:<sha256[:16]>"`` of the uncommitted changes
    to the package's files (``git diff HEAD`` plus the untracked files, by name and
    content). Elsewhere (an installed package): ``"files:<sha256[:16]>"`` of every file of
    the installed package.
    """
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    if git_commit() != "unknown":
        try:
            diff = subprocess.run(["git", "diff", "HEAD", "--binary", "--", "."], cwd=package,
                                  capture_output=True, timeout=30, check=True).stdout
            untracked = subprocess.run(
                ["git", "ls-files", "--others", "--exclude-standard", "-z", "--", "."],
                cwd=package, capture_output=True, timeout=30, check=True).stdout
        except (OSError, subprocess.SubprocessError):
            pass
        else:
            names = sorted(n for n in untracked.decode().split("\0") if n)
            if not diff and not names:
                return "clean"
            digest.update(diff)
            for name in names:
                digest.update(name.encode() + b"\0" + (package / name).read_bytes())
            return f"diff:{digest.hexdigest()[:16]}"
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return f"files:{digest.hexdigest()[:16]}"


def backend() -> str:
    """The JAX backend and its device, e.g. ``"cpu (cpu)"``, ``"gpu (NVIDIA H200)"``."""
    import jax

    return f"{jax.default_backend()} ({jax.devices()[0].device_kind})"


def code_fingerprint() -> dict[str, str]:
    """What computed a result, for deciding whether a stored one may be reused: the
    package version, git commit and :func:`source_state`, the :func:`backend`, and the
    versions of :data:`FINGERPRINT_PACKAGES`. Two results with equal fingerprints (and
    equal configs and seeds) are the same computation."""
    versions = package_versions()
    return {
        "version": __version__,
        "git_commit": git_commit(),
        "source": source_state(),
        "backend": backend(),
        **{name: versions[name] for name in FINGERPRINT_PACKAGES},
    }
