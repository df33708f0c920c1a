"""Every example runs end to end through the real command, made short by
``examples/_test_overrides.toml``, and writes the files the README promises; a variational
run resumes after ``kill -9`` with the numbers of an uninterrupted one."""

import json
import math
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from _cli_helpers import cli, finish, kill_after_first_checkpoint, same_results
from assimilax.io import names, open_sweep, read_json, read_results, sweep_store, toml_value
from assimilax.plotting._hybrid import hybrid_figures

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
OVERRIDES_FILE = EXAMPLES / "_test_overrides.toml"
OVERRIDES = tomllib.loads(OVERRIDES_FILE.read_text(encoding="utf-8"))
FILES = sorted(p for p in EXAMPLES.glob("*.toml") if not p.name.startswith("_"))

SWEEP_AXES = "sweep"
"""The sub-table of an entry of the overrides file that replaces sweep axes."""
"""Methods without an ensemble: no spread, no rank histogram."""


def is_sweep(path: Path) -> bool:
    """A sweep file has a ``[sweep]`` table (and a base); a run config has none."""
    return SWEEP_AXES in tomllib.loads(path.read_text(encoding="utf-8"))


def set_options(entry: dict) -> list[str]:
    """``--set section.key=VALUE`` for every override, ``--set sweep.AXIS=VALUE`` for every
    replaced sweep axis (VALUE in TOML syntax)."""
    options = []
    for key, value in entry.items():
        if key == SWEEP_AXES:
            options += [o for axis, v in value.items()
                        for o in ("--set", f"{SWEEP_AXES}.{axis}={toml_value(v)}")]
        else:
            options += ["--set", f"{key}={toml_value(value)}"]
    return options


def assert_overridden(config: dict, entry: dict) -> None:
    """Every ``section.key`` override of ``entry`` is in the resolved ``config``."""
    for key, value in entry.items():
        if key == SWEEP_AXES:
            continue
        section, name = key.split(".", 1)
        assert config.get(section, {}).get(name) == value, (
            f"--set {key}={toml_value(value)} is not in the run's config: "
            f"[{section}] {name} = {config.get(section, {}).get(name)!r}")


def assert_figures(out: Path, expected: list[str]) -> None:
    missing = [f for f in expected if not (out / f).is_file()]
    assert not missing, f"figures missing in {out}: {missing}; there: " + ", ".join(
        sorted(p.name for p in out.glob("*.png")))


def test_every_example_has_overrides():
    """A new example needs a table in the overrides file; a removed one loses it."""
    missing = [p.name for p in FILES if p.name not in OVERRIDES]
    assert not missing, f"examples without a table in {OVERRIDES_FILE.name}: {missing}"
    stale = sorted(set(OVERRIDES) - {p.name for p in FILES})
    assert not stale, f"tables of {OVERRIDES_FILE.name} for no example: {stale}"
    for path in FILES:
        axes = OVERRIDES[path.name].get(SWEEP_AXES)
        assert axes is None or is_sweep(path), f"{path.name}: sweep axes for a run config"


def check_run(out: Path, entry: dict) -> None:
    summary = read_json(out / names.SUMMARY_FILE)
    assert (out / names.RESULTS_FILE).is_file()
    config = summary["config"]
    assert_overridden(config, entry)
    assert summary["cycles"] == config["experiment"]["cycles"]
    assert not summary["diverged"], summary.get("diverged_at_cycle")
    hybrid = (config.get("hybrid") or {}).get("name")
    method = (config.get("method") or {}).get("name")
    if hybrid != "emulator_4dvar":  # which has no per-cycle analyses
        assert summary["rmse_analysis"] is not None and math.isfinite(summary["rmse_analysis"])
    if method in ("enks", "ienks"):  # smoothers
        assert summary["rmse_smoothed"] is not None and math.isfinite(summary["rmse_smoothed"])
    figures = []
    ds = read_results(out / names.RESULTS_FILE)
    if hybrid is None or "rmse_analysis" in ds:  # a run's own analysis series
        figures.append(names.ERROR_SPREAD_FIGURE)
    if hybrid is None or {"truth", "analysis_mean"} <= set(ds.data_vars):
        figures.append(names.HOVMOLLER_FIGURE)
    # The rank histogram is drawn for the runs that record one: ensembles of equally
    # weighted members (not deterministic methods, not a particle filter's weighted ones).
    if hybrid is None:
        ensemble = summary["spread_analysis"] is not None
        assert ("rank_histogram" in ds) == (ensemble and method != "particle_filter")
        if "rank_histogram" in ds:
            figures.append(names.RANK_HISTOGRAM_FIGURE)
    if hybrid is not None:
        assert summary["hybrid"]["name"] == hybrid
        # every hybrid figure its results have data for (plotting.hybrid_figures), and
        # at least one: a hybrid run draws what it computed
        drawn = [name for name, _ in hybrid_figures(ds)]
        assert drawn, f"{hybrid}: results.nc has data for no hybrid figure"
        figures += drawn
    if hybrid == "iterative_emulation":
        assert {names.ITERATIONS_FIGURE, names.SURROGATE_SKILL_FIGURE, names.ERROR_SPREAD_FIGURE,
                names.HOVMOLLER_FIGURE} <= set(figures)
    if hybrid == "emulator_4dvar":
        assert names.WINDOW_RMSE_FIGURE in figures
    assert_figures(out, figures)


def check_sweep(out: Path, entry: dict) -> None:
    assert (out / sweep_store.STORE).is_dir()
    ds = open_sweep(out)
    base = tomllib.loads(ds.attrs["base_config"])
    assert_overridden(base, entry)
    rmse = ds["rmse_analysis"]
    for axis, values in entry.get(SWEEP_AXES, {}).items():
        dim = "seed" if axis == "seeds" else axis.split(".")[-1]
        np.testing.assert_array_equal(ds[dim].values, values, err_msg=axis)
    assert np.all(np.isfinite(rmse.values)), rmse
    dims = [d for d in rmse.dims if d != "seed" and ds.sizes[d] > 1]
    for i, x in enumerate(dims):
        for y in dims[i + 1:]:
            assert (out / f"heatmap_{x}_{y}.png").is_file() or (
                out / f"heatmap_{y}_{x}.png").is_file(), f"no heat map of {x} and {y}"
    if "ensemble_size" in dims:
        assert_figures(out, ["rmse_vs_ensemble_size.png"])


def command_of(path: Path, out: Path) -> list:
    """The ``assimilax`` arguments that run example ``path`` short into ``out``."""
    kind = ["sweep", path, "--out", out, "--scheduler", "synchronous"] if is_sweep(path) else [
        "run", path, "--out", out]
    return [*kind, "--no-progress", *set_options(OVERRIDES[path.name])]


class Launcher:
    """Runs the selected examples two at a time (the suite's 2 cores), in test order.

    Most of a short example is fixed cost in one process (imports, compilation, figures),
    so while one test checks its files and waits, the next example already runs. Each
    example is its own ``assimilax`` process, forked by ``_fork_server.py`` from one that
    has done the imports (the command's own entry point, argv, streams and exit status).
    """

    def __init__(self, paths: list[Path], root: Path, running: int = 2):
        self.order, self.root, self.running = paths, root, running
        self.started: set[Path] = set()
        self.done: dict[str, dict] = {}
        self.server = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("_fork_server.py"))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def out(self, path: Path) -> Path:
        return self.root / path.stem

    def _stderr(self, path: Path) -> Path:
        return self.root / f"{path.stem}.stderr"

    def _start(self, path: Path) -> None:
        if path in self.started or path.name not in OVERRIDES:  # never an example in full
            return
        request = {"id": path.name, "stderr": str(self._stderr(path)),
                   "args": list(map(str, command_of(path, self.out(path))))}
        self.server.stdin.write(json.dumps(request) + "\n")
        self.server.stdin.flush()
        self.started.add(path)

    def wait(self, path: Path) -> tuple[int, str, float, float]:
        """Exit status, standard error, wall and CPU seconds of example ``path``."""
        self._start(path)
        if path in self.order:  # start the next ones while this one finishes
            later = self.order[self.order.index(path) + 1:]
            for nxt in later[: self.running - 1]:
                self._start(nxt)
        while path.name not in self.done:
            line = self.server.stdout.readline()
            if not line:
                raise RuntimeError(f"the fork server ended (status {self.server.wait()})")
            reply = json.loads(line)
            self.done[reply["id"]] = reply
        reply = self.done[path.name]
        err = self._stderr(path).read_text(errors="replace")
        return reply["code"], err, reply["wall"], reply["cpu"]

    def close(self) -> None:
        self.server.stdin.close()  # the server kills the examples still running
        self.server.wait()


@pytest.fixture(scope="module")
def launcher(request, tmp_path_factory):
    selected = [item.callspec.params["path"] for item in request.session.items
                if getattr(item, "originalname", None) == "test_example_runs_end_to_end"]
    runs = Launcher(selected, tmp_path_factory.mktemp("examples"))
    yield runs
    runs.close()


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_example_runs_end_to_end(path, launcher):
    if path.name not in OVERRIDES:
        pytest.fail(f"{path.name} has no table in {OVERRIDES_FILE.name}: it would run in full")
    entry = OVERRIDES[path.name]
    code, err, wall, cpu = launcher.wait(path)
    print(f"{path.name}: {wall:.1f} s wall, {cpu:.1f} s CPU")
    assert code == 0, f"assimilax {' '.join(map(str, command_of(path, launcher.out(path))))}"\
        f" exited with {code}:\n{err}"
    if is_sweep(path):
        check_sweep(launcher.out(path), entry)
    else:
        check_run(launcher.out(path), entry)


@pytest.mark.slow  # a subprocess killed and resumed: the slow suite
def test_a_variational_run_resumes_after_kill_9(tmp_path):
    """``kill -9`` a 3D-Var run after its first checkpoint, then the same command: the
    numbers are those of an uninterrupted run, with nothing missing and nothing twice."""
    path = EXAMPLES / "var3d.toml"
    cycles, chunk = 600, 50
    options = set_options({"experiment.cycles": cycles, "experiment.burn_in": 100,
                           "experiment.chunk_cycles": chunk})
    out, reference = tmp_path / "killed", tmp_path / "reference"
    done = kill_after_first_checkpoint(
        cli("run", path, "--out", out, "--no-progress", "--flush-seconds", "0", *options), out)
    assert 0 < done < cycles and done % chunk == 0, done
    assert not (out / names.SUMMARY_FILE).exists()

    resumed = cli("run", path, "--out", out, "--no-progress", *options)
    uninterrupted = cli("run", path, "--out", reference, "--no-progress", *options)
    for proc in (resumed, uninterrupted):
        finish(proc)
    summary = read_json(out / names.SUMMARY_FILE)
    assert summary["resumed_at_cycle"] == done
    assert summary["rmse_analysis"] == read_json(reference / names.SUMMARY_FILE)["rmse_analysis"]
    ds = same_results(reference, out)
    assert ds.sizes["time"] == cycles
    assert np.array_equal(ds["cycle"].values, np.arange(cycles))  # no gaps, no duplicates
