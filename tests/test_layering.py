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


# ----------------------------------------------------------------------------- structure
# DESIGN.md, convention 13: no import cycles, no private names imported across the ring's
# modules, no file I/O in the core. An AST walk over every module of src/assimilax.

CORE = ("models", "observations", "da", "ml", "metrics", "hybrid")


def _module_table() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (path, is a package ``__init__``), for every source file."""
    table = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        is_package = path.name == "__init__.py"
        table[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return table


MODULES = _module_table()
PACKAGES = {name for name, (_, is_package) in MODULES.items() if is_package}


def _part(module: str, index: int) -> str | None:
    parts = module.split(".")
    return parts[index] if len(parts) > index else None


def _in_ring(module: str) -> bool:
    return _part(module, 0) == "assimilax" and _part(module, 1) in RING


def _in_core(module: str) -> bool:
    return _part(module, 0) == "assimilax" and _part(module, 1) in CORE


def _from_target(module: str, is_package: bool, node: ast.ImportFrom) -> str | None:
    """The absolute module a ``from ... import`` reads from."""
    if node.level == 0:
        return node.module
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _import_facts():
    """The module import graph (edges to packages left out: an ``__init__`` re-export is
    not a dependency on the modules behind it) and the private names imported across
    modules of the ring, as ``"importer:line <- module.name"``."""
    edges: dict[str, set[str]] = {}
    private: list[str] = []
    for module, (path, is_package) in MODULES.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names if alias.name in MODULES)
            elif isinstance(node, ast.ImportFrom):
                target = _from_target(module, is_package, node)
                if not target:
                    continue
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    if full in MODULES:  # a submodule, not a name
                        deps.add(full)
                        continue
                    if target not in MODULES or target == module:
                        continue
                    deps.add(target)
                    name = alias.name
                    if (name.startswith("_") and not name.startswith("__")
                            and _in_ring(module) and _in_ring(target)):
                        private.append(f"{module}:{node.lineno} <- {target}.{name}")
        edges[module] = {d for d in deps if d != module and d not in PACKAGES}
    return edges, private


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    nodes = sorted(set(edges) - PACKAGES)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return sorted(components)


def test_the_module_graph_is_read():
    edges, _ = _import_facts()
    assert "assimilax.experiments._run" in edges
    assert "assimilax.experiments._build" in edges["assimilax.experiments._run"]
    assert "assimilax.da" not in edges["assimilax.experiments._run"]  # packages: no edges
    toy = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert _cycles(toy) == [["a", "b", "c"]]


def test_no_import_cycles():
    cycles = _cycles(_import_facts()[0])
    assert not cycles, "import cycles between modules:\n" + "\n".join(
        " <-> ".join(c) for c in cycles)


def test_the_ring_imports_no_private_names_across_modules():
    private = _import_facts()[1]
    assert not private, (
        "private names imported from another module of the ring (make them public in a "
        "module of their own):\n" + "\n".join(private))


# Calls that touch files, by the name called: builtin ``open``; any ``x.<method>`` below
# (``Path`` methods, ``np.save``, ``json.dump``, ``pickle.dump``...); ``os.<function>``
# below; everything in ``shutil``.
IO_METHODS = {"open", "write_text", "write_bytes", "mkdir", "unlink", "touch", "save",
              "savez", "savez_compressed", "dump"}
IO_OS = {"replace", "rename", "renames", "remove", "unlink", "makedirs", "mkdir", "rmdir",
         "removedirs"}
IO_BUILTINS = {"open", "builtins.open", "io.open"}


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> dotted origin, for ``import os as o`` and ``from os import replace``."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                names[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def _file_io_calls(source: str, label: str) -> list[str]:
    """``"label:line: call(...)"`` for every call in ``source`` that touches files."""
    tree = ast.parse(source)
    aliases = _aliases(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        dotted = _dotted(func)  # with the first name resolved through the imports
        if dotted is not None:
            head, _, rest = dotted.partition(".")
            dotted = aliases.get(head, head) + (f".{rest}" if rest else "")
        parts = dotted.split(".") if dotted else []
        method = func.attr if isinstance(func, ast.Attribute) else None
        if (dotted in IO_BUILTINS
                or method in IO_METHODS
                or (parts and parts[-1] == "tree_serialise_leaves")
                or (len(parts) == 2 and parts[0] == "os" and parts[1] in IO_OS)
                or (len(parts) >= 2 and parts[0] == "shutil")):
            found.append(f"{label}:{node.lineno}: {ast.unparse(func)}(...)")
    return found


def test_file_io_finder():
    code = (
        "import os, shutil, json, pickle\nimport numpy as np\nimport equinox as eqx\n"
        "from os import replace as swap\nfrom shutil import rmtree\nfrom pathlib import Path\n"
        "open('f')\nnp.savez('f', a=1)\nnp.save('f', 1)\njson.dump({}, f)\npickle.dump(1, f)\n"
        "eqx.tree_serialise_leaves('f', m)\nPath('f').write_text('')\np.mkdir()\np.unlink()\n"
        "p.touch()\np.open()\np.write_bytes(b'')\nos.replace('a', 'b')\nos.rename('a', 'b')\n"
        "os.remove('a')\nswap('a', 'b')\nshutil.copy('a', 'b')\nrmtree('a')\n"
        "'a'.replace('a', 'b')\nxs.remove(1)\nSave(x)\njnp.mean(x)\nsave = 1\nf(save=s)\n"
    )
    hits = _file_io_calls(code, "probe.py")
    assert sorted({int(h.split(":")[1]) for h in hits}) == list(range(7, 25)), hits


def test_no_file_io_in_the_core():
    """The core computes; the ring writes (checkpoints through callbacks)."""
    offenders = [hit for module, (path, _) in MODULES.items() if _in_core(module)
                 for hit in _file_io_calls(path.read_text(encoding="utf-8"),
                                           path.relative_to(SRC.parent).as_posix())]
    assert not offenders, "file I/O in the core packages:\n" + "\n".join(offenders)
