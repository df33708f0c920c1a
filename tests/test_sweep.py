"""Sweeps: the sweep file, the plan of batches, the store, resume after kill -9, Dask
clusters, equality with ``assimilax run``, bad input, the table and the figures."""

import copy
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from assimilax import plotting
from assimilax.cli import app
from assimilax.experiments import (
    Config,
    Sweep,
    SweepDirError,
    SweepError,
    load_sweep,
    run,
    sweep,
)
from assimilax.experiments import _sweep as sweep_module
from assimilax.experiments._sweep import plan_sweep, worker_env
from assimilax.io import (
    dumps_toml,
    open_sweep,
    read_sweep_attrs,
    read_sweep_done,
    sweep_store,
    toml_value,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

BASE = {  # L96 (n=40), every variable observed every step, ETKF N=16, 300 cycles
    "model": {"name": "lorenz96", "n": 40},
    "observations": {"operator": "full", "noise_std": 1.0},
    "method": {"name": "etkf", "ensemble_size": 16, "inflation": 1.02},
    "experiment": {"cycles": 300, "burn_in": 100, "seed": 0},
}

AXES = {  # one group (the inflation is traced), 4 batches of 2; some seeds of 1.02 diverge
    "method.inflation": [1.02, 1.05],
    "seeds": [0, 1, 2, 3],
}

runner = CliRunner()


def sweep_text(base=BASE, axes=AXES, batch_size: int | None = 2, base_file: str | None = None):
    head = f"batch_size = {batch_size}\n" if batch_size is not None else ""
    if base_file is not None:
        head += f'base = "{base_file}"\n'
    body = dumps_toml(base) if base else ""
    lines = "\n".join(f'"{k}" = {toml_value(list(v))}' for k, v in axes.items())
    return f"{head}\n{body}\n[sweep]\n{lines}\n"


def write_sweep(path: Path, **kwargs) -> Path:
    path.write_text(sweep_text(**kwargs))
    return path


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def values(ds) -> dict[str, np.ndarray]:
    """The numbers of a store (not the wall times)."""
    return {k: ds[k].values for k in ds.data_vars if k != "wall_time_s"}


def assert_same_numbers(a, b):
    one, two = values(a), values(b)
    assert one.keys() == two.keys()
    for name in one:
        np.testing.assert_array_equal(one[name], two[name], err_msg=name)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The small sweep, uninterrupted, one batch after another in this process."""
    tmp = tmp_path_factory.mktemp("reference")
    spec = load_sweep(write_sweep(tmp / "small.toml"))
    result = sweep(spec, tmp / "out", scheduler="synchronous", progress=False)
    return spec, result, open_sweep(result.store)


# ----------------------------------------------------------------------------- the file


def test_example_sweep_file():
    spec = load_sweep(EXAMPLES / "sweep_etkf.toml")
    assert spec.dims == ("inflation", "ensemble_size", "seed")
    assert spec.shape == (5, 3, 8)
    base = spec.base_config
    assert base.method.name == "etkf" and base.experiment.cycles == 6000
    assert spec.point_config(0).method.inflation == 1.0
    quick = load_sweep(EXAMPLES / "sweep_quick.toml")  # inline [experiment] over the base
    assert quick.base_config.experiment.cycles == 1000
    assert quick.base_config.model.n == 40
    for path in EXAMPLES.glob("sweep_*.toml"):  # every sweep example, as the command reads it
        load_sweep(path)


def test_dimensions_named_after_the_last_part(tmp_path):
    axes = {"model.noise_std": [0.0, 0.1], "observations.noise_std": [1.0, 2.0],
            "method.ensemble_size": [10, 20], "seeds": [3]}
    spec = load_sweep(write_sweep(tmp_path / "s.toml", axes=axes))
    assert spec.dims == ("model_noise_std", "observations_noise_std", "ensemble_size", "seed")
    config = spec.point_config(int(np.ravel_multi_index((1, 0, 1, 0), spec.shape)))
    assert config.model.noise_std == 0.1 and config.observations.noise_std == 1.0
    assert config.method.ensemble_size == 20 and config.experiment.seed == 3


def test_sweep_file_round_trip(tmp_path):
    spec = load_sweep(write_sweep(tmp_path / "s.toml"))
    (tmp_path / "again.toml").write_text(spec.to_toml())
    again = load_sweep(tmp_path / "again.toml")
    assert again.identity() == spec.identity()
    assert again.axes == spec.axes and again.batch_size == 2


BAD = [
    # (axes, text the message must hold)
    ({"method.inflaton": [1.0, 1.02]}, ['[sweep] "method.inflaton"', "unknown key",
                                        "did you mean inflation?"]),
    ({"method.localization_radius": [2.0]}, ['"method.localization_radius"',
                                             'not a key for name = "etkf"']),
    ({"method.inflation": []}, ['[sweep] "method.inflation" = []', "empty axis"]),
    ({"methd.inflation": [1.0]}, ["unknown section 'methd'", "allowed sections"]),
    ({"inflation": [1.0]}, ['"inflation"', "must be seeds or section.key"]),
    ({"method.inflation": [1.0, 1.0]}, ["lists a value twice"]),
    ({"method.inflation": [-1.0]}, ['"method.inflation" = -1.0', "must be > 0"]),
    ({"method.ensemble_size": ["many"]}, ['"method.ensemble_size" = "many"',
                                          "must be an integer"]),
    ({"experiment.burn_in": [100, 400]}, ['"experiment.burn_in" = 400',
                                          "must be < cycles = 300"]),
    ({"seeds": [0], "experiment.seed": [1]}, ["the same key as 'seeds'"]),
]


@pytest.mark.parametrize(("axes", "expected"), BAD)
def test_bad_sweep_refused_with_nothing_written(tmp_path, axes, expected):
    path = write_sweep(tmp_path / "bad.toml", axes=axes)
    out = tmp_path / "out"
    result = invoke("sweep", path, "--out", out, "--scheduler", "synchronous")
    assert result.exit_code == 2, result.output
    for text in expected:
        assert text in result.output, result.output
    assert "Nothing was run or written." in result.output
    assert not out.exists()


def test_bad_sweep_files(tmp_path):
    with pytest.raises(SweepError, match="no such file"):
        load_sweep(write_sweep(tmp_path / "a.toml", base=None, base_file="missing.toml"))
    with pytest.raises(SweepError, match="no axes"):
        load_sweep(write_sweep(tmp_path / "b.toml", axes={}))
    (tmp_path / "c.toml").write_text(dumps_toml(BASE))
    with pytest.raises(SweepError, match=r"\[sweep\]: missing section"):
        load_sweep(tmp_path / "c.toml")
    (tmp_path / "d.toml").write_text("[sweep]\nmethod.inflation = [1.0]\n")
    with pytest.raises(SweepError, match="must be quoted"):
        load_sweep(tmp_path / "d.toml")
    with pytest.raises(SweepError, match="base config is invalid"):
        bad = copy.deepcopy(BASE)
        bad["method"]["ensemble_size"] = 1
        load_sweep(write_sweep(tmp_path / "e.toml", base=bad, axes={"seeds": [0]}))
    with pytest.raises(SweepError, match="batch_size"):
        load_sweep(write_sweep(tmp_path / "f.toml", batch_size=0))
    with pytest.raises(SweepError, match="unknown key at the top level"):
        (tmp_path / "g.toml").write_text(sweep_text() + "\n[extra]\na = 1\n")
        load_sweep(tmp_path / "g.toml")


def test_base_file_relative_to_the_sweep_file(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "base.toml").write_text(dumps_toml(BASE))
    spec = load_sweep(write_sweep(tmp_path / "configs" / "s.toml", base={
        "experiment": {"cycles": 200, "burn_in": 50}}, base_file="base.toml"))
    config = spec.point_config(0)
    assert config.experiment.cycles == 200 and config.experiment.seed == 0
    assert config.method.ensemble_size == 16


# ----------------------------------------------------------------------------- the plan


def test_plan_groups_by_shape_and_structure(tmp_path):
    axes = {"method.inflation": [1.0, 1.02, 1.04], "method.ensemble_size": [16, 28],
            "seeds": [0, 1, 2]}
    spec = load_sweep(write_sweep(tmp_path / "s.toml", axes=axes, batch_size=4))
    plan = plan_sweep(spec)
    groups: dict[int, set] = {}
    for batch in plan.batches:
        groups.setdefault(batch.group, set()).update(batch.points)
        assert len(batch.points) <= 4
    # ensemble sizes apart; inflation 1 (no inflation module) apart from the others
    assert len(groups) == 4
    for points in groups.values():
        coords = [spec.coords(p) for p in points]
        assert len({c["ensemble_size"] for c in coords}) == 1
        assert len({c["inflation"] == 1.0 for c in coords}) == 1
    sizes = sorted(len(b.points) for b in plan.batches)
    assert sizes == [3, 3, 3, 3, 3, 3]  # 3 and 6 points cut as evenly as possible
    traced = {b.group: b.traced for b in plan.batches}
    assert sorted(map(sorted, traced.values())) == [
        [], [], ["[0][1].inflation.factor"], ["[0][1].inflation.factor"]]
    assert sorted(p for b in plan.batches for p in b.points) == list(range(spec.size))
    assert plan.chunks == (1, 1, 3)
    assert plan_sweep(spec) == plan  # from the sweep file alone


def test_plan_localization_radius_is_batched(tmp_path):
    base = copy.deepcopy(BASE)
    base["method"] = {"name": "letkf", "ensemble_size": 10, "inflation": 1.04}
    axes = {"method.localization_radius": [2.0, 4.0], "method.rotate": [True, False]}
    plan = plan_sweep(load_sweep(write_sweep(tmp_path / "s.toml", base=base, axes=axes)))
    assert len(plan.batches) == 2  # rotate is static: two programs; the radius varies within
    # The taper is computed in jax.numpy from the radius, traced along the batch.
    assert all(b.traced == {"[0][1].localization.radius"} and len(b.points) == 2
               for b in plan.batches)


# ----------------------------------------------------------------------------- the store


def test_store_is_readable_by_xarray(reference):
    spec, result, _ = reference
    with xr.open_zarr(result.store) as ds:
        rmse = ds["rmse_analysis"].sel(inflation=1.05)
        assert rmse.dims == ("seed",) and rmse.shape == (4,)
        assert ds["rmse_analysis"].dims == ("inflation", "seed")
        assert list(ds["seed"].values) == [0, 1, 2, 3]
        for name in ("rmse_analysis", "rmse_forecast", "spread_analysis", "diverged", "done"):
            assert name in ds
        assert bool(ds["done"].all())
        assert (ds["n_cycles"] == 300).all() and (ds["wall_time_s"] > 0).all()
        assert "rmse_smoothed" not in ds
    assert result.computed == result.batches == 4 and not result.failed


def test_store_provenance(reference):
    spec, result, ds = reference
    attrs = read_sweep_attrs(result.store)
    for package in ("assimilax", "jax", "numpy", "xarray", "dask", "zarr"):
        assert attrs["versions"][package]
    assert attrs["git_commit"]
    assert attrs["axes"] == {"inflation": "method.inflation", "seed": "seeds"}
    base = Config.from_dict(tomllib.loads(attrs["base_config"]))
    assert base == spec.base_config
    (result.out_dir / "again.toml").write_text(attrs["sweep"])  # the sweep, base inlined
    assert load_sweep(result.out_dir / "again.toml").identity() == spec.identity()


def test_diverged_point_is_flagged_with_nan_errors(reference):
    """ETKF N=16 on 40 variables is marginal at inflation 1.02: some seeds diverge
    (which ones depends on rounding: the test reads them off), none at 1.05."""
    _, _, ds = reference
    diverged = ds["diverged"].values.astype(bool)
    assert diverged[ds.get_index("inflation").get_loc(1.02)].any()
    for point in (ds.isel(inflation=i, seed=j) for i, j in np.argwhere(diverged)):
        assert int(point["diverged_at_cycle"]) >= 100  # after the burn-in
        for name in sweep_store.ERRORS:
            if name in ds:
                assert np.isnan(float(point[name])), name
    for name in sweep_store.ERRORS:  # the others have numbers
        if name in ds:
            assert np.isfinite(ds[name].values[~diverged]).all(), name
    assert not ds["diverged"].sel(inflation=1.05).any()


def test_points_equal_assimilax_run(reference, tmp_path):
    """A point gives what ``assimilax run`` of its config gives: the same twin (simulated
    alone, by the runner's compiled function), the same keys and cycle.

    Here the inflation is traced along a vmapped batch of 2 and the numbers are equal bit
    for bit on the CPU where this was written. A batched program may order the
    arithmetic of its matrix products differently from the unbatched one (measured:
    relative 2e-13 for a batch of 64 seeds, ``benchmarks/bench_sweep.py``), so the test
    allows float64 round-off; the stable filter keeps it from growing over the cycles.
    """
    spec, _, ds = reference
    for inflation, seed in ((1.05, 1), (1.02, 0)):
        point = next(p for p in range(spec.size)
                     if spec.coords(p) == {"inflation": inflation, "seed": seed})
        config = spec.point_config(point)
        config.experiment.divergence_check = False
        summary = run(config, tmp_path / f"run{point}", progress=False)
        stored = ds.sel(inflation=inflation, seed=seed)
        assert bool(stored["diverged"]) == summary.diverged
        if summary.diverged:
            assert int(stored["diverged_at_cycle"]) == summary.diverged_at_cycle
            continue
        for name in ("rmse_analysis", "rmse_analysis_ci95", "rmse_forecast", "spread_analysis",
                     "spread_forecast"):
            np.testing.assert_allclose(float(stored[name]), getattr(summary, name),
                                       rtol=1e-12, err_msg=name)


def test_localization_radius_batch_matches_run(tmp_path):
    """LETKF points with different radii share a batch through per-point taper matrices.

    The matrices (and any traced float) are program inputs there and compile-time
    constants in ``assimilax run``: XLA may order the arithmetic differently, so the
    numbers agree to round-off, not bit for bit (measured: relative 1e-15 on 100-200
    cycles; the filter is stable, round-off does not grow).
    """
    base = {"model": {"name": "lorenz96", "n": 40},
            "observations": {"operator": "every", "stride": 2, "noise_std": 1.0},
            "method": {"name": "letkf", "ensemble_size": 10, "inflation": 1.04},
            "experiment": {"cycles": 150, "burn_in": 50, "seed": 3}}
    axes = {"method.localization_radius": [3.0, 5.0], "model.forcing": [8.0, 8.5]}
    spec = load_sweep(write_sweep(tmp_path / "s.toml", base=base, axes=axes, batch_size=None))
    result = sweep(spec, tmp_path / "out", scheduler="synchronous", progress=False, plots=False)
    ds = open_sweep(result.store)
    assert result.batches == 1
    config = spec.point_config(3)
    summary = run(config, tmp_path / "run", progress=False)
    stored = ds.sel(localization_radius=5.0, forcing=8.5)
    assert not bool(stored["diverged"])
    for name in ("rmse_analysis", "rmse_forecast", "spread_analysis", "spread_forecast"):
        np.testing.assert_allclose(float(stored[name]), getattr(summary, name), rtol=1e-12,
                                   err_msg=name)


# ----------------------------------------------------------------------------- resume


def test_finished_sweep_is_not_recomputed(reference):
    spec, result, ds = reference
    again = sweep(spec, result.out_dir, scheduler="synchronous", progress=False, plots=False)
    assert again.computed == 0 and not again.failed
    assert_same_numbers(open_sweep(result.store), ds)


def test_resume_recomputes_only_the_unfinished_batches(reference, tmp_path, monkeypatch):
    spec, _, ds = reference
    calls = []
    compute = sweep_module.compute_batch

    def failing(task):
        calls.append(task.batch.index)
        if task.batch.index == 1:
            raise RuntimeError("worker lost")
        return compute(task)

    monkeypatch.setattr(sweep_module, "compute_batch", failing)
    first = sweep(spec, tmp_path / "out", scheduler="synchronous", progress=False)
    assert first.failed == [(1, "RuntimeError: worker lost")] and first.computed == 3
    assert not first.figures
    done = read_sweep_done(first.store)
    assert done.sum() == spec.size - 2
    monkeypatch.setattr(sweep_module, "compute_batch", compute)
    calls.clear()
    second = sweep(spec, tmp_path / "out", scheduler="synchronous", progress=False)
    assert second.computed == 1 and not second.failed and second.figures
    assert_same_numbers(open_sweep(second.store), ds)


SLOW_SWEEP = textwrap.dedent("""\
    import sys, time
    from assimilax.experiments import _sweep
    compute = _sweep.compute_batch
    def slow(task):  # the test needs time to kill it between two batches
        time.sleep(1.5)
        return compute(task)
    _sweep.compute_batch = slow
    from assimilax.cli import main
    sys.argv = ["assimilax", "sweep", *sys.argv[1:]]
    main()
    """)


@pytest.mark.slow  # a subprocess killed and resumed: the slow suite
def test_kill_9_and_resume_gives_the_uninterrupted_numbers(reference, tmp_path):
    spec, _, ds = reference
    path = write_sweep(tmp_path / "small.toml")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_SWEEP, str(path), "--out", str(out),
         "--scheduler", "synchronous", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    store = out / sweep_store.STORE
    deadline = time.monotonic() + 240
    try:
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "the sweep did not start in time"
            if store.exists() and read_sweep_done(store).sum() >= 4:  # 2 of 4 batches
                break
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = read_sweep_done(store)
    assert 0 < done.sum() < spec.size, "killed mid-way"
    missing = sum(not done.ravel()[list(b.points)].all() for b in plan_sweep(spec).batches)
    result = sweep(spec, out, scheduler="synchronous", progress=False)
    assert result.computed == missing and not result.failed
    resumed = open_sweep(store)
    assert bool(resumed["done"].all())
    assert_same_numbers(resumed, ds)  # nothing missing, nothing twice, the same numbers


# ----------------------------------------------------------------------------- Dask


@pytest.mark.slow  # a cluster of worker processes: the slow suite
def test_local_cluster_with_two_workers(reference, tmp_path):
    spec, _, ds = reference
    result = sweep(spec, tmp_path / "out", scheduler="local", workers=2, progress=False)
    assert result.computed == 4 and not result.failed
    assert_same_numbers(open_sweep(result.store), ds)


@pytest.mark.slow  # a Dask cluster: the slow suite
def test_scheduler_address(reference, tmp_path):
    from dask.distributed import LocalCluster

    spec, _, ds = reference
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://",
                      dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"},
                      ) as cluster:
        result = sweep(spec, tmp_path / "out", scheduler=cluster.scheduler_address,
                       progress=False, plots=False)
    assert result.computed == 4
    assert_same_numbers(open_sweep(result.store), ds)


def test_worker_environment_pins_threads():
    env = worker_env()
    assert env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "1"
    assert "--xla_cpu_multi_thread_eigen=false" in env["XLA_FLAGS"]
    assert env["JAX_ENABLE_X64"] == "1"


def test_unreachable_scheduler_refused(tmp_path):
    path = write_sweep(tmp_path / "s.toml")
    out = tmp_path / "out"
    result = invoke("sweep", path, "--out", out, "--scheduler", "tcp://127.0.0.1:1")
    assert result.exit_code == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in result.output
    assert "Nothing was run or written." in result.output
    assert not out.exists()
    result = invoke("sweep", path, "--out", out, "--scheduler", "nowhere:port")
    assert result.exit_code == 2 and "not a Dask scheduler address" in result.output
    assert not out.exists()


# ----------------------------------------------------------------------------- directories


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_a_different_sweep_is_refused(reference, tmp_path):
    spec, result, _ = reference
    before = _snapshot(result.out_dir)
    axes = dict(AXES, **{"method.inflation": [1.02, 1.08]})
    path = write_sweep(tmp_path / "other.toml", axes=axes)
    out = invoke("sweep", path, "--out", result.out_dir, "--scheduler", "synchronous")
    assert out.exit_code == 2
    assert "holds a different sweep; nothing was changed" in out.output
    assert '[sweep] "method.inflation": [1.02, 1.05] there, [1.02, 1.08] here' in out.output
    bigger = write_sweep(tmp_path / "batch.toml", batch_size=4)
    out = invoke("sweep", bigger, "--out", result.out_dir, "--scheduler", "synchronous")
    assert out.exit_code == 2 and "batch_size: 2 there, 4 here" in out.output
    assert _snapshot(result.out_dir) == before


def test_a_run_directory_is_refused(tmp_path):
    spec = load_sweep(write_sweep(tmp_path / "s.toml"))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "summary.json").write_text("{}")
    with pytest.raises(SweepDirError, match="holds an assimilax run"):
        sweep(spec, tmp_path / "run", scheduler="synchronous")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(SweepDirError, match="not empty"):
        sweep(spec, tmp_path / "other", scheduler="synchronous")
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == ["notes.txt"]


# ----------------------------------------------------------------------------- show, plots


def test_show_prints_the_sweep_best_first(reference):
    _, result, ds = reference
    out = invoke("show", result.out_dir)
    assert out.exit_code == 0, out.output
    rows = [line for line in out.output.splitlines() if line.startswith("│")]
    assert rows[0].split("│")[1].strip() == "1.05" and rows[-1].split("│")[1].strip() == "1.02"
    best = ds["rmse_analysis"].sel(inflation=1.05).mean("seed")
    assert f"{float(best):.4g}" in rows[0]
    lost = int(ds["diverged"].sel(inflation=1.02).sum())  # seeds that diverged
    assert lost >= 1 and f"{lost}/4" in rows[-1]
    assert "8 of 8 points done" in out.output


def test_sweep_figures(reference):
    _, result, _ = reference
    assert [p.name for p in result.figures] == ["rmse_vs_inflation.png"]
    assert all(p.stat().st_size > 10_000 for p in result.figures)


def synthetic_sweep() -> xr.Dataset:
    """Two methods, three sizes, three inflations, two seeds: a valley, two divergences."""
    rng = np.random.default_rng(0)
    names, sizes, infl, seeds = ["etkf", "enkf"], [16, 28, 40], [1.0, 1.02, 1.04], [0, 1]
    shape = (2, 3, 3, 2)
    n, f = np.meshgrid(sizes, infl, indexing="ij")
    base = 0.18 + 2.0 / n + 4 * (f - 1.02) ** 2
    rmse = np.stack([base, base * 1.3])[..., None] + 0.01 * rng.random(shape)
    diverged = np.zeros(shape, bool)
    diverged[:, 0, 0, :] = True
    diverged[1, 0, 1, 1] = True
    rmse = np.where(diverged, np.nan, rmse)
    dims = ("name", "ensemble_size", "inflation", "seed")
    data = {k: (dims, rmse) for k in ("rmse_analysis", "rmse_forecast", "spread_analysis")}
    data["diverged"] = (dims, diverged)
    data["done"] = (dims, np.ones(shape, bool))
    return xr.Dataset(data, {"name": names, "ensemble_size": sizes, "inflation": infl,
                             "seed": seeds},
                      attrs={"axes": {"name": "method.name", "ensemble_size":
                                      "method.ensemble_size", "inflation": "method.inflation",
                                      "seed": "seeds"}})


def test_heatmap_on_a_dataset():
    from matplotlib.figure import Figure

    ds = synthetic_sweep()
    fig = Figure()
    ax = plotting.plot_sweep_heatmap(ds, "inflation", "ensemble_size", ax=fig.add_subplot())
    assert ax.figure is fig
    assert "best" in ax.get_title() and "name" in ax.get_title()  # best over the methods
    labels = [t.get_text() for t in ax.texts]
    assert "diverged" in labels  # N=16 without inflation
    best = np.nanmin(ds["rmse_analysis"].mean("seed", skipna=False).min("name").values)
    assert f"{best:.3g}" in labels
    with pytest.raises(ValueError, match="no dimension 'radius'"):
        plotting.plot_sweep_heatmap(ds, "radius", "inflation")


def test_rmse_against_ensemble_size_per_method():
    ds = synthetic_sweep()
    ax = plotting.plot_rmse_vs_ensemble_size(ds)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["etkf", "enkf"]
    assert "best over inflation" in ax.get_title()
    with pytest.raises(ValueError, match="no ensemble_size"):
        plotting.plot_rmse_vs_ensemble_size(ds.isel(ensemble_size=0, drop=True))


def test_plot_sweep_writes_the_pngs(tmp_path):
    ds = synthetic_sweep().drop_vars("name").isel(name=0)
    ds.attrs = {}
    ds.to_zarr(tmp_path / sweep_store.STORE, zarr_format=2)
    paths = plotting.plot_sweep(tmp_path)
    assert [p.name for p in paths] == ["heatmap_inflation_ensemble_size.png",
                                       "rmse_vs_ensemble_size.png"]
    assert all(p.stat().st_size > 10_000 for p in paths)


def test_sweep_spec_is_plain_data(reference):
    spec, _, _ = reference
    assert isinstance(spec, Sweep)
    batch = plan_sweep(spec).batches[0]
    task = sweep_module.BatchTask(batch, tuple(spec.point_data(p) for p in batch.points))
    assert pickle.loads(pickle.dumps(task)) == task  # cheap to send to a worker


@pytest.mark.slow
def test_etkf_sweep_example_shows_the_tuning_valley(tmp_path):
    """examples/sweep_etkf.toml on a local cluster: 120 runs of 6000 cycles (minutes)."""
    spec = load_sweep(EXAMPLES / "sweep_etkf.toml")
    result = sweep(spec, tmp_path / "etkf", scheduler="local", progress=False)
    assert not result.failed
    ds = xr.open_zarr(result.store)
    rmse = ds["rmse_analysis"].mean("seed", skipna=False)  # NaN where a seed diverged
    diverged = ds["diverged"].mean("seed")
    best = rmse.where(rmse == rmse.min())
    inflation = float(best.dropna("inflation", how="all")["inflation"][0])
    assert 0.16 < float(rmse.min()) < 0.19  # DAPPER: 0.18 at N = 28, inflation 1.02
    assert inflation in (1.01, 1.02)
    assert float(diverged.sel(inflation=1.0, ensemble_size=16)) == 1.0  # small N, no inflation
    assert float(diverged.sel(inflation=1.02, ensemble_size=16)) > 0.5
    assert float(diverged.sel(inflation=1.08).max()) == 0.0  # enough inflation tracks
    assert float(rmse.sel(inflation=1.08, ensemble_size=40)) > float(rmse.min()) + 0.03
    names = [p.name for p in result.figures]
    assert names == ["heatmap_inflation_ensemble_size.png", "rmse_vs_ensemble_size.png"]
