"""Figures from results.nc: notebook entry points, plot_run, and ``assimilax plot DIR``."""

import shutil
import struct
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure
from typer.testing import CliRunner

from assimilax import plotting
from assimilax.cli import app
from assimilax.experiments import Config, run
from assimilax.io import names, read_results, results_dataset, write_results
from assimilax.metrics import rank_histogram
from assimilax.plotting._results import _burn_in_index

DPI = 130  # plotting._style.save
SIZES = {  # figure size in inches of each figure: the PNG is exactly size * DPI pixels
    names.ERROR_SPREAD_FIGURE: (12, 4.8),
    names.HOVMOLLER_FIGURE: (13, 5.2),
    names.RANK_HISTOGRAM_FIGURE: (8, 5),
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path) -> tuple[int, int]:
    """(width, height) in pixels, from the IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_MAGIC and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def assert_png(path, size_inches) -> None:
    assert path.is_file() and path.stat().st_size > 10_000
    width, height = size_inches
    assert png_size(path) == (round(width * DPI), round(height * DPI))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 50-cycle ETKF run on Lorenz-96 (n=40), 10 cycles of burn-in."""
    cfg = Config.from_dict({
        "model": {"name": "lorenz96", "n": 40},
        "observations": {"operator": "full", "noise_std": 1.0},
        "method": {"name": "etkf", "ensemble_size": 10, "inflation": 1.05},
        "experiment": {"cycles": 50, "burn_in": 10, "seed": 3},
    })
    out = tmp_path_factory.mktemp("tiny")
    run(cfg, out, progress=False)
    return out


def with_rank_histogram(ds, n_members=10, seed=0):
    """``ds`` with a rank histogram of a reliable ensemble (truth drawn like the members)."""
    rng = np.random.default_rng(seed)
    draws = rng.standard_normal((40, n_members + 1, 8))
    counts = np.asarray(rank_histogram(draws[:, 1:], draws[:, 0]))
    ds = ds.drop_vars(names.RANK_HISTOGRAM, errors="ignore")
    ds[names.RANK_HISTOGRAM] = (names.RANK, counts, {"long_name": "rank of the truth"})
    return ds


def copy_run(src, dst, *, rank: bool):
    shutil.copytree(src, dst)
    ds = read_results(dst / names.RESULTS_FILE)
    ds = with_rank_histogram(ds) if rank else ds.drop_vars(names.RANK_HISTOGRAM, errors="ignore")
    write_results(dst / names.RESULTS_FILE, ds)
    for figure in SIZES:
        (dst / figure).unlink(missing_ok=True)
    return dst


# ----------------------------------------------------------------------------- plot_run


def test_plot_run_writes_the_figures(tiny_run, tmp_path):
    run_dir = copy_run(tiny_run, tmp_path / "run", rank=True)
    written = plotting.plot_run(run_dir)
    assert [p.name for p in written] == list(SIZES)
    for path in written:
        assert path.parent == run_dir
        assert_png(path, SIZES[path.name])


def test_plot_run_without_rank_histogram(tiny_run, tmp_path):
    run_dir = copy_run(tiny_run, tmp_path / "run", rank=False)
    written = plotting.plot_run(run_dir)
    assert [p.name for p in written] == [names.ERROR_SPREAD_FIGURE, names.HOVMOLLER_FIGURE]
    assert not (run_dir / names.RANK_HISTOGRAM_FIGURE).exists()


def test_plot_run_needs_results(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results.nc"):
        plotting.plot_run(tmp_path)


# ----------------------------------------------------------------------------- on datasets


def test_dataset_figures_leave_pyplot_alone(tiny_run):
    ds = with_rank_histogram(read_results(tiny_run / names.RESULTS_FILE))
    figures = [plotting.plot_run_error_spread(ds), plotting.plot_run_hovmoller(ds),
               plotting.plot_rank_histogram(ds)]
    assert all(isinstance(f, Figure) for f in figures)
    assert figures[0].axes[0].get_title().startswith("ETKF (N=10, infl 1.05) on Lorenz-96")
    pyplot = sys.modules.get("matplotlib.pyplot")
    assert pyplot is None or pyplot.get_fignums() == []


def test_dataset_figures_draw_on_given_axes(tiny_run):
    ds = with_rank_histogram(read_results(tiny_run / names.RESULTS_FILE))
    fig = Figure()
    left, right = fig.subplots(1, 2)
    assert plotting.plot_run_error_spread(ds, ax=left) is fig
    assert plotting.plot_rank_histogram(ds, ax=right) is fig
    assert len(fig.axes) == 2  # nothing added
    labels = [line.get_label() for line in left.get_lines()]
    assert any(label.startswith("analysis RMSE (mean") for label in labels)
    assert "ETKF (N=10, infl 1.05) on Lorenz-96" in left.get_title()
    assert "[model time units]" in left.get_xlabel() and "[state units]" in left.get_ylabel()
    assert len(right.patches) == 11  # N + 1 bars
    np.testing.assert_allclose(sum(p.get_height() for p in right.patches), 1.0)


def test_rank_histogram_absent_is_a_clear_error(tiny_run):
    ds = read_results(tiny_run / names.RESULTS_FILE).drop_vars(
        names.RANK_HISTOGRAM, errors="ignore")
    with pytest.raises(ValueError, match="no 'rank_histogram' variable"):
        plotting.plot_rank_histogram(ds)


def test_burn_in_follows_the_cycle_coordinate(tiny_run):
    ds = read_results(tiny_run / names.RESULTS_FILE)
    assert ds.attrs["burn_in"] == 10
    assert _burn_in_index(ds) == 10
    assert _burn_in_index(ds.isel(time=slice(4, None))) == 6
    assert _burn_in_index(ds.isel(time=slice(20, None))) == 0


def test_rank_statistics_against_scipy():
    from scipy.stats import chisquare

    counts = np.array([30, 12, 9, 11, 8, 10, 25])
    stats = plotting.rank_statistics(counts)
    assert stats["chi2"] == pytest.approx(chisquare(counts).statistic, rel=1e-12)
    assert stats["dof"] == 6 and stats["total"] == counts.sum()
    assert stats["outside"] == pytest.approx(55 / 105)
    assert stats["outside_flat"] == pytest.approx(2 / 7)
    assert plotting.rank_statistics(np.full(5, 40))["chi2"] == 0.0


def small_state_dataset(n_state=3, n_times=150, burn_in=80):
    rng = np.random.default_rng(5)
    truth = rng.standard_normal((n_times, n_state)).cumsum(0)
    analysis = truth + 0.1 * rng.standard_normal(truth.shape)
    err = np.sqrt(np.mean((analysis - truth) ** 2, -1))
    return results_dataset(
        time=0.01 * np.arange(1, n_times + 1), cycle=np.arange(n_times),
        position=np.arange(float(n_state)),
        series={"rmse_analysis": err, "spread_analysis": err * 1.1},
        fields={"truth": truth, "analysis_mean": analysis},
        attrs={"title": "ETKF on Lorenz-63", "burn_in": burn_in},
    )


def test_small_state_hovmoller_marks_the_burn_in(tmp_path):
    ds = small_state_dataset()
    fig = plotting.plot_run_hovmoller(ds)
    assert len(fig.axes) == 4  # one panel per variable, and the errors
    assert any(line.get_label() == "burn-in" for line in fig.axes[-1].get_lines())
    plotting.plot_run_error_spread(ds).savefig(tmp_path / "e.png")
    assert (tmp_path / "e.png").stat().st_size > 10_000


def test_missing_fields_are_clear_errors():
    ds = small_state_dataset()
    with pytest.raises(ValueError, match="no truth"):
        plotting.plot_run_hovmoller(ds.drop_vars("truth"))
    with pytest.raises(ValueError, match="no per-cycle scores"):
        plotting.plot_run_error_spread(ds.drop_vars(["rmse_analysis", "spread_analysis"]))


# ----------------------------------------------------------------------------- the command

cli = CliRunner()


def test_cli_plots_a_run(tiny_run, tmp_path):
    run_dir = copy_run(tiny_run, tmp_path / "run", rank=True)
    result = cli.invoke(app, ["plot", str(run_dir)])
    assert result.exit_code == 0, result.output
    for name, size in SIZES.items():
        assert str(run_dir / name) in result.output
        assert_png(run_dir / name, size)


@pytest.mark.parametrize("kind", ["empty", "missing", "file"])
def test_cli_refuses_what_is_neither_run_nor_sweep(tmp_path, kind):
    target = tmp_path / "x"
    if kind == "empty":
        target.mkdir()
    elif kind == "file":
        target.write_text("not a run")
    result = cli.invoke(app, ["plot", str(target)])
    assert result.exit_code == 2
    assert "nothing to plot" in result.output
    if kind == "empty":
        assert ("neither a run (summary.json, results.nc), a sweep (sweep.zarr) nor a "
                "reproduction (preset.json)") in result.output
        assert list(target.iterdir()) == []


def test_cli_sends_a_sweep_directory_to_plot_sweep(tmp_path, monkeypatch):
    (tmp_path / "sweep.zarr").mkdir()
    calls = []

    def fake_plot_sweep(directory):
        calls.append(directory)
        return [directory / "rmse_heatmap.png"]

    monkeypatch.setattr(plotting, "plot_sweep", fake_plot_sweep, raising=False)
    result = cli.invoke(app, ["plot", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert calls == [tmp_path]
    assert str(tmp_path / "rmse_heatmap.png") in result.output


@pytest.mark.skipif(not hasattr(plotting, "plot_sweep"),
                    reason="assimilax.plotting.plot_sweep (the sweep figures) is not available")
def test_cli_plots_a_sweep(tmp_path):
    """A sweep store on (ensemble_size, inflation, seed): the command writes its figures."""
    import xarray as xr

    sizes, infl, seeds = [16, 28, 40], [1.0, 1.02, 1.04], [0, 1]
    n, f, _ = np.meshgrid(sizes, infl, seeds, indexing="ij")
    rmse = 0.18 + 2.0 / n + 4 * (f - 1.02) ** 2
    dims = ("ensemble_size", "inflation", "seed")
    ds = xr.Dataset(
        {"rmse_analysis": (dims, rmse), "diverged": (dims, np.zeros(rmse.shape, bool)),
         "done": (dims, np.ones(rmse.shape, bool))},
        {"ensemble_size": sizes, "inflation": infl, "seed": seeds},
    )
    ds.to_zarr(tmp_path / "sweep.zarr")
    result = cli.invoke(app, ["plot", str(tmp_path)])
    assert result.exit_code == 0, result.output
    pngs = sorted(tmp_path.glob("*.png"))
    assert pngs and all(p.stat().st_size > 10_000 for p in pngs)
    assert all(str(p) in result.output for p in pngs)
