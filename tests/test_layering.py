"""The core never depends on the application ring (DESIGN.md: layout and layering)."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "assimilax"
RING = ("experiments", "io", "plotting", "cli")
RING_LIBRARIES = ("xarray", "pydantic", "typer", "dask", "h5netcdf", "netCDF4", "zarr",
                  "matplotlib", "rich")
# Imports inside a function that the core may make on demand: the terminal progress bar of
# ``fit(..., progress=True)``. ``test_core_imports_no_ring_library`` still holds: importing
# the core never loads them.
LAZY_ALLOWED = {("ml/training.py", "rich.progress")}


def imported_after(code: str) -> list[str]:
    """Module names in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


def roots(modules: list[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


@pytest.fixture(scope="module")
def core_modules() -> list[str]:
    return imported_after(
        "import assimilax.models, assimilax.da, assimilax.observations, assimilax.metrics, "
        "assimilax.ml, assimilax.hybrid"
    )


def test_core_imports_no_ring_library(core_modules):
    assert roots(core_modules) & {"xarray", "pydantic", "typer", "dask"} == set()
    assert roots(core_modules) & set(RING_LIBRARIES) == set()


def test_core_imports_no_ring_package(core_modules):
    ring = {m for m in core_modules if m.split(".")[:2] in [["assimilax", r] for r in RING]}
    assert ring == set()


def test_import_assimilax_stays_in_the_core():
    modules = imported_after("import assimilax")
    assert not [m for m in modules if m.split(".")[:2] in [["assimilax", r] for r in RING]]
    assert roots(modules) & set(RING_LIBRARIES) == set()


def test_twin_simulation_needs_no_pydantic_or_xarray():
    modules = imported_after("import assimilax.experiments; assimilax.experiments.simulate_twin")
    assert roots(modules) & {"pydantic", "xarray", "typer", "matplotlib"} == set()


def test_ring_names_load_on_demand():
    modules = imported_after("from assimilax.experiments import Config, run")
    assert {"pydantic", "xarray"} <= roots(modules)


def _imports(path: Path) -> list[tuple[str, int]]:
    """Absolute module names imported anywhere in a file (also inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(SRC.parent).with_suffix("").parts[:-1])
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.append((module, node.lineno))
            names += [(f"{module}.{alias.name}", node.lineno) for alias in node.names]
    return names


def test_core_sources_never_import_the_ring():
    """Also catches imports hidden inside functions, which the import test cannot see."""
    core = [p for p in SRC.rglob("*.py")
            if p.relative_to(SRC).parts[0] not in RING and p.name != "__main__.py"]
    assert core, "no core sources found"
    offences = []
    for path in core:
        for module, line in _imports(path):
            parts = module.split(".")
            if (path.relative_to(SRC).as_posix(), ".".join(parts[:2])) in LAZY_ALLOWED:
                continue
            if parts[0] in RING_LIBRARIES or (parts[0] == "assimilax" and len(parts) > 1
                                              and parts[1] in RING):
                offences.append(f"{path.relative_to(SRC)}:{line} imports {module}")
    assert offences == []
