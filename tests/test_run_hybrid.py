"""``assimilax run`` and ``sweep`` of a config with ``[hybrid]``: files, provenance, reuse, table.

One real ``iterative_emulation`` run (tiny: 200 steps, 2 iterations of a few epochs) made
through the command; ``emulator_4dvar`` runs with a stand-in for the hybrid method (its
numbers are tested in tests/test_emulator_4dvar.py), except in a ``slow`` test.
"""

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
import zarr
from rich.console import Console
from typer.testing import CliRunner

from assimilax import __version__
from assimilax.cli import app
from assimilax.cli._table import summary_table
from assimilax.experiments import (
    Config,
    DivergenceError,
    load_config,
    load_summary,
    load_sweep,
    run,
)
from assimilax.experiments import _run_hybrid as run_hybrid_module
from assimilax.experiments._summary import Summary
from assimilax.experiments._sweep import POINTS_DIR, STORE, sweep
from assimilax.experiments.hybrids import HybridOutcome, statistics_of
from assimilax.experiments.presets._brajard2020 import brajard_config
from assimilax.experiments.presets._nonnenmacher2021 import emulator_4dvar_config
from assimilax.hybrid import DivergedIterationError
from assimilax.io import dumps_toml, names, open_sweep, read_results, toml_value

runner = CliRunner()

HYBRID_FIGURES = (names.ERROR_SPREAD_FIGURE, names.HOVMOLLER_FIGURE, names.ITERATIONS_FIGURE,
                  names.SURROGATE_SKILL_FIGURE)


def tweak(config: Config, **changes) -> Config:
    data = config.to_dict()
    for name, value in changes.items():
        section, key = name.split("__")
        data[section][key] = value
    return Config.from_dict(data)


def iterative_config(**changes) -> Config:
    """The brajard2020 twin, tiny: 200 steps, 2 short iterations, 10 members."""
    return tweak(brajard_config(steps=200, iterations=2), hybrid__epochs_first=5,
                 ml__epochs=2, hybrid__forecast_cases=10, hybrid__skill_every=2,
                 method__ensemble_size=10, experiment__burn_in=20, **changes)


def fourdvar_config(**changes) -> Config:
    return tweak(emulator_4dvar_config(window=4, windows=3, trials=2, training_samples=100,
                                       epochs=1),
                 hybrid__max_iterations=10, hybrid__jacobian_states=10, **changes)


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def render(table) -> str:
    console = Console(record=True, width=140)
    console.print(table)
    return console.export_text()


# ----------------------------------------------------------------------------- iterative


@pytest.fixture(scope="module")
def iterative(tmp_path_factory):
    """A tiny iterative_emulation run made through the command (progress lines on)."""
    root = tmp_path_factory.mktemp("hybrid")
    config = root / "brajard_tiny.toml"
    config.write_text(iterative_config().to_toml())
    out = root / "out"
    result = invoke("run", config, "--out", out)
    return config, out, result


def test_run_writes_results_summary_and_figures(iterative):
    config_path, out, result = iterative
    assert result.exit_code == 0, result.output
    assert "iteration 2/2: analysis RMSE" in result.output  # the progress lines
    assert "analysis RMSE of the interpolation" in result.output  # the summary table
    for name in (names.RESULTS_FILE, names.SUMMARY_FILE, names.CONFIG_FILE, *HYBRID_FIGURES):
        assert (out / name).is_file(), name
    for name in HYBRID_FIGURES:
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert not (out / run_hybrid_module.CHECKPOINT_DIR).exists()

    config = Config.from_dict(json.loads((out / names.SUMMARY_FILE).read_text())["config"])
    assert config.to_dict() == iterative_config().to_dict()
    assert (out / names.CONFIG_FILE).read_text() == config_path.read_text()

    summary = json.loads((out / names.SUMMARY_FILE).read_text())
    hybrid = summary["hybrid"]
    assert hybrid["name"] == "iterative_emulation"
    assert list(hybrid["statistics"]) == list(statistics_of("iterative_emulation"))
    assert len(hybrid["notes"]) == 2 and len(hybrid["details"]["iterations"]) == 2
    assert summary["version"] == __version__ and summary["git_commit"]
    assert summary["seed"] == 0 and summary["versions"]["assimilax"] == __version__
    assert summary["rmse_forecast"] is None and summary["spread_forecast"] is None
    assert summary["diverged"] is False and summary["cycles"] == 200

    ds = read_results(out / names.RESULTS_FILE)
    assert ds.attrs["config"] == config_path.read_text()
    assert ds.attrs["git_commit"] == summary["git_commit"]
    assert ds.attrs["version"] == __version__ and ds.attrs["hybrid"] == "iterative_emulation"
    assert ds.sizes == {names.TIME: 200, names.STATE: 40, names.ITERATION: 2, names.LEAD: 120}
    assert list(ds[names.ITERATION].values) == [1, 2]
    assert ds[names.LEAD_TIME].values[0] == pytest.approx(0.05 * 1.67)
    # summary.json and results.nc tell the same story
    rmse = ds["rmse_analysis"].values
    assert summary["rmse_analysis"] == pytest.approx(rmse[20:].mean())
    assert summary["rmse_analysis_ci95"] > 0
    assert hybrid["ci95"]["rmse_analysis"] == summary["rmse_analysis_ci95"]
    assert summary["spread_analysis"] == pytest.approx(ds["spread_analysis"].values[20:].mean())
    assert hybrid["statistics"]["rmse_analysis"] == pytest.approx(summary["rmse_analysis"])
    assert ds["iteration_rmse_analysis"].values[-1] == pytest.approx(summary["rmse_analysis"])
    assert ds["iteration_rmse_analysis"].attrs["rmse_interpolation"] == pytest.approx(
        hybrid["statistics"]["rmse_interpolation"])
    assert np.isnan(ds["iteration_valid_time"].values[0])  # skill_every = 2
    skill = ds["surrogate_forecast_rmse"]
    assert skill.attrs["valid_time"] == pytest.approx(hybrid["statistics"]["valid_time"])
    assert skill.attrs["valid_threshold_rmse"] == pytest.approx(
        0.5 * hybrid["details"]["skill"]["sigma_clim"])
    np.testing.assert_allclose(ds["truth"].values[:, 0].std(), 3.6, rtol=0.3)


def test_finished_run_is_reused(iterative):
    config_path, out, _ = iterative
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    summary = run(iterative_config(), out, progress=False)
    assert summary.reused and summary.hybrid["name"] == "iterative_emulation"
    assert summary == load_summary(out)
    result = invoke("run", config_path, "--out", out)
    assert result.exit_code == 0, result.output
    assert "already holds a finished run of this configuration" in result.output
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps


def test_different_config_is_refused(iterative, tmp_path):
    _, out, _ = iterative
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    other = tmp_path / "other.toml"
    other.write_text(iterative_config(hybrid__iterations=3).to_toml())
    result = invoke("run", other, "--out", out)
    assert result.exit_code == 2
    assert "holds a run of a different configuration" in result.output
    assert "[hybrid] iterations: 2 there, 3 here" in result.output
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_summary_table_shows_the_hybrid(iterative):
    _, out, _ = iterative
    summary = load_summary(out)
    text = render(summary_table(summary))
    for label in ("iterative_emulation", "analysis RMSE of the interpolation",
                  "analysis RMSE, last iteration", "surrogate valid time",
                  "analysis RMSE from the interpolation through the 2 iterations",
                  "iterative DA-ML emulation (2 iterations) with EnKF-N"):
        assert label in text, label
    for absent in ("│ forecast RMSE", "│ forecast spread", "│ cycles per second"):
        assert absent not in text  # rows of None (a caption may speak of forecast RMSE)
    result = invoke("show", out)
    assert result.exit_code == 0 and "analysis RMSE, last iteration" in result.output


def test_summaries_without_hybrid_still_load(iterative, tmp_path):
    _, out, _ = iterative
    data = json.loads((out / names.SUMMARY_FILE).read_text())
    del data["hybrid"], data["versions"], data["resumed_at_cycle"]
    summary = Summary.from_dict(data)
    assert summary.hybrid is None
    assert "cycles per second" in render(summary_table(summary))


def test_sweep_over_a_hybrid_config(iterative, tmp_path):
    """Each point of a sweep over a [hybrid] config is `assimilax run` of its config in
    points/<point>: the point of the fixture's config has the fixture's numbers, bit for
    bit, and a resumed sweep reuses the point runs that finished."""
    _, fixture_out, _ = iterative
    seed = iterative_config().experiment.seed
    base = dumps_toml(iterative_config().to_dict())
    path = tmp_path / "sweep_hybrid.toml"
    path.write_text(f"{base}\n[sweep]\nseeds = {toml_value([seed, seed + 1])}\n")
    out = tmp_path / "out"
    result = invoke("sweep", path, "--out", out, "--scheduler", "synchronous")
    assert result.exit_code == 0, result.output
    ds = open_sweep(out)
    assert bool(ds["done"].all()) and not bool(ds["diverged"].any())
    assert ds.attrs["score"] == "rmse_analysis"
    expected = load_summary(fixture_out)
    point = ds.sel(seed=seed)
    assert float(point["rmse_analysis"]) == expected.rmse_analysis
    assert float(point["spread_analysis"]) == expected.spread_analysis
    for name in ("rmse_interpolation", "valid_time", "rmse_first_iteration"):
        assert float(point[name]) == expected.hybrid["statistics"][name], name
        assert ds[name].attrs["long_name"] == statistics_of("iterative_emulation")[name].description
    assert float(point["climatological_rms"]) == pytest.approx(
        read_results(fixture_out / names.RESULTS_FILE).attrs["climatological_rms"])
    other = ds.sel(seed=seed + 1)
    assert np.isfinite(float(other["rmse_analysis"]))
    assert float(other["rmse_analysis"]) != expected.rmse_analysis  # another twin
    for i in range(2):
        assert (out / POINTS_DIR / str(i) / names.SUMMARY_FILE).is_file()
    assert not (out / "rmse_vs_seed.png").exists()  # seeds alone are not charted

    # A sweep killed after its point runs finished, before the store recorded them:
    stamps = {p: p.stat().st_mtime_ns for p in (out / POINTS_DIR).rglob("*") if p.is_file()}
    zarr.open_group(str(out / STORE), mode="r+")["done"][...] = False
    again = sweep(load_sweep(path), out, scheduler="synchronous", progress=False)
    assert again.computed == 2 and not again.failed
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # the runs were reused
    redone = open_sweep(out)
    for name in ("rmse_analysis", "valid_time", "climatological_rms"):
        np.testing.assert_array_equal(redone[name].values, ds[name].values)

# ----------------------------------------------------------------------------- 4D-Var


def fake_4dvar(config, *, progress, log, checkpoint) -> HybridOutcome:
    """A stand-in for run_hybrid of emulator_4dvar: the shapes and keys of the real one."""
    h = config.hybrid
    rng = np.random.default_rng(0)
    shape = (h.trials, h.windows - h.burn_in_windows)
    arrays = {f"{s}_per_window": 0.5 + 0.1 * rng.random(shape)
              for s in ("rmse_true_adjoint", "rmse_emulator_gradient", "rmse_emulator")}
    statistics = dict.fromkeys(statistics_of("emulator_4dvar"), 1.0)
    statistics["one_step_rmse"] = None
    if log is not None:
        log("window 4: fake")
    return HybridOutcome(statistics, dict.fromkeys(statistics), ["window 4: fake"],
                         {"hybrid": "emulator_4dvar", "history": [0.1, float("nan")]}, arrays)


def test_emulator_4dvar_run_writes_the_window_figure(tmp_path, monkeypatch):
    monkeypatch.setattr(run_hybrid_module, "run_hybrid", fake_4dvar)
    out = tmp_path / "out"
    summary = run(fourdvar_config(), out, progress=False)
    assert summary.rmse_analysis is None and summary.spread_analysis is None
    assert summary.hybrid["statistics"]["one_step_rmse"] is None
    assert json.loads((out / names.SUMMARY_FILE).read_text())["hybrid"]["details"] == {
        "hybrid": "emulator_4dvar", "history": [0.1, None]}
    assert sorted(p.name for p in out.iterdir()) == sorted([
        names.CONFIG_FILE, names.RESULTS_FILE, names.SUMMARY_FILE, names.WINDOW_RMSE_FIGURE])
    ds = read_results(out / names.RESULTS_FILE)
    assert ds.sizes == {names.TRIAL: 2, names.WINDOW: 2}
    assert list(ds[names.WINDOW].values) == [1, 2]  # the first window is burn-in
    assert ds.attrs["hybrid"] == "emulator_4dvar" and ds.attrs["git_commit"]
    text = render(summary_table(summary))
    assert "RMSE ratio, emulator gradients / exact" in text and "window 4: fake" in text
    assert "one-step" not in text and "analysis RMSE (mean" not in text


def test_failed_iteration_keeps_the_directory_resumable(tmp_path, monkeypatch):
    def diverging(config, *, progress, log, checkpoint):
        Path(checkpoint).mkdir(parents=True)
        (Path(checkpoint) / "latest.json").write_text("{}")
        raise DivergedIterationError("iteration 2: training loss is nan.")

    out = tmp_path / "out"
    monkeypatch.setattr(run_hybrid_module, "run_hybrid", diverging)
    with pytest.raises(DivergenceError, match="iteration 2: training loss is nan"):
        run(fourdvar_config(), out, progress=False)
    assert (out / names.CONFIG_FILE).is_file() and not (out / names.SUMMARY_FILE).exists()
    assert (out / run_hybrid_module.CHECKPOINT_DIR / "latest.json").is_file()
    monkeypatch.setattr(run_hybrid_module, "run_hybrid", fake_4dvar)
    summary = run(fourdvar_config(), out, progress=False)  # the same config: resumed
    assert not summary.reused
    assert not (out / run_hybrid_module.CHECKPOINT_DIR).exists()
    with pytest.raises(Exception, match="different configuration"):
        run(fourdvar_config(hybrid__window=8), out, progress=False)


def test_sweep_over_emulator_4dvar_windows(tmp_path, monkeypatch):
    """A sweep over the window of emulator_4dvar charts its headline statistic; a point
    whose iteration diverges is recorded as diverged and the sweep goes on."""
    def sometimes_diverging(config, *, progress, log, checkpoint):
        if config.hybrid.window == 8:
            raise DivergedIterationError("window 8: the cost is nan.")
        return fake_4dvar(config, progress=progress, log=log, checkpoint=checkpoint)

    monkeypatch.setattr(run_hybrid_module, "run_hybrid", sometimes_diverging)
    base = dumps_toml(fourdvar_config().to_dict())
    path = tmp_path / "sweep_4dvar.toml"
    path.write_text(f'{base}\n[sweep]\n"hybrid.window" = [4, 8, 12]\n')
    out = tmp_path / "out"
    result = sweep(load_sweep(path), out, scheduler="synchronous", progress=False)
    assert not result.failed and result.batches == 3
    ds = open_sweep(out)
    assert ds.attrs["score"] == "rmse_emulator_gradient"
    assert list(ds["diverged"].values) == [False, True, False]
    assert list(ds["rmse_emulator_gradient"].values[[0, 2]]) == [1.0, 1.0]
    assert np.isnan(ds["rmse_emulator_gradient"].values[1])
    assert np.isnan(ds["one_step_rmse"].values).all()  # None: not finite
    assert np.isnan(ds["rmse_analysis"].values).all()  # no time series
    assert ds["ratio_emulator"].attrs["units"] == "1"
    assert [p.name for p in result.figures] == ["rmse_vs_window.png"]


@pytest.mark.slow
def test_emulator_4dvar_real_run(tmp_path):
    out = tmp_path / "out"
    summary = run(fourdvar_config(), out, progress=False)
    assert summary.hybrid["statistics"]["rmse_true_adjoint"] > 0
    ds = read_results(out / names.RESULTS_FILE)
    assert ds["rmse_emulator_per_window"].shape == (2, 2)
    assert (out / names.WINDOW_RMSE_FIGURE).is_file()


def test_example_config_is_the_quick_preset():
    path = Path(__file__).parents[1] / "examples" / "brajard2020_quick.toml"
    quick = brajard_config(steps=4000, iterations=15)
    assert load_config(path).to_dict() == quick.to_dict()


def test_the_trained_surrogate_is_saved_and_loads_from_the_run_directory(iterative):
    from assimilax.experiments import load_network
    from assimilax.ml import Emulator

    _, out, _ = iterative
    surrogate = load_network(out, "surrogate")
    assert isinstance(surrogate, Emulator)
    x = jnp.linspace(-3.0, 3.0, surrogate.state_size)
    assert jnp.all(jnp.isfinite(surrogate.step(x)))
    with pytest.raises(FileNotFoundError, match="no network"):
        load_network(out, "emulator")


def test_every_hybrid_section_has_a_recipe_and_its_score_is_a_statistic():
    """The runner knows a hybrid only by its recipe: one per ``[hybrid]`` section."""
    from assimilax.experiments.config._registry import registered
    from assimilax.experiments.hybrids import recipes

    assert set(recipes()) == set(registered("hybrid"))
    for name, found in recipes().items():
        assert found.name == name
        assert found.score in found.statistics
        assert all(s.description and s.units for s in found.statistics.values())
