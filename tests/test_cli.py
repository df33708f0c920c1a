"""The ``assimilax`` command: bad input refused with nothing written, run, resume, show."""

import copy
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assimilax.cli import app
from assimilax.experiments import default_out_dir
from assimilax.io import dumps_toml, names

runner = CliRunner()

SMALL = {  # the same experiment as tests/test_runner.py, so compilations are shared
    "model": {"name": "lorenz96", "n": 40},
    "observations": {"operator": "full", "noise_std": 1.0},
    "method": {"name": "etkf", "ensemble_size": 20, "inflation": 1.02},
    "experiment": {"cycles": 200, "burn_in": 50, "seed": 1},
}

DIVERGING = {  # 3 members and no inflation cannot track Lorenz-96
    "model": {"name": "lorenz96", "n": 40},
    "observations": {"operator": "full", "noise_std": 1.0},
    "method": {"name": "etkf", "ensemble_size": 3},
    "experiment": {"cycles": 300, "burn_in": 50, "seed": 0, "chunk_cycles": 100},
}


def write(path: Path, data: dict) -> Path:
    path.write_text(dumps_toml(data))
    return path


def changed(data: dict, **changes) -> dict:
    data = copy.deepcopy(data)
    for name, value in changes.items():
        section, key = name.split("__")
        data.setdefault(section, {})[key] = value
    return data


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


# ----------------------------------------------------------------------------- bad input


BAD = [
    # (changes, key and value the message must name)
    ({"model__name": "lorenz97"}, ['[model] name = "lorenz97"', "lorenz63, lorenz96"]),
    ({"method__name": "kalman"}, ['[method] name = "kalman"', "etkf, enkf, enkf_n, letkf"]),
    ({"observations__noise_std": 0.0}, ["[observations] noise_std = 0.0", "must be > 0"]),
    ({"observations__noise_std": -1.0}, ["[observations] noise_std = -1.0", "must be > 0"]),
    ({"model__noise_std": -0.5}, ["[model] noise_std = -0.5", "must be >= 0"]),
    ({"method__ensemble_size": 1}, ["[method] ensemble_size = 1", "must be >= 2"]),
    ({"method__name": "letkf", "method__localization_radius": 0.0},
     ["[method] localization_radius = 0.0", "must be > 0"]),
    ({"method__name": "letkf", "method__localization_radius": -1.0},
     ["[method] localization_radius = -1.0", "must be > 0"]),
    ({"observations__operator": "random", "observations__fraction": 0.0},
     ["[observations] fraction = 0.0", "must be > 0"]),
    ({"observations__operator": "random", "observations__fraction": 1.2},
     ["[observations] fraction = 1.2", "must be <= 1"]),
    ({"experiment__burn_in": 200}, ["[experiment] burn_in = 200", "must be < cycles = 200"]),
    ({"experiment__burn_in": 500}, ["[experiment] burn_in = 500", "must be < cycles = 200"]),
    ({"observations__operator": "subset", "observations__indices": [0, 39, 40]},
     ["[observations] indices = [0, 39, 40]", "outside the state", "0 to 39"]),
    ({"observations__operator": "every", "observations__stride": 80},
     ["[observations] stride = 80", "state size 40"]),
    ({"truth__name": "lorenz63"}, ['[truth] name = "lorenz63"', "forecast model has 40"]),
    ({"method__ensemble_sise": 20}, ["[method] ensemble_sise = 20", "unknown key",
                                     "did you mean ensemble_size?"]),
    ({"method__localization_radius": 4.0},
     ["[method] localization_radius = 4.0", 'not a key for name = "etkf"']),
    ({"model__n": "40"}, ['[model] n = "40"', "must be an integer"]),
]


@pytest.mark.parametrize("changes, expected", BAD, ids=[str(c) for c, _ in BAD])
def test_bad_config_is_refused_and_nothing_written(tmp_path, changes, expected):
    config = write(tmp_path / "bad.toml", changed(SMALL, **changes))
    out = tmp_path / "out"
    result = invoke("run", config, "--out", out)
    assert result.exit_code == 2, result.output
    for text in expected:
        assert text in result.output
    assert "Nothing was run or written" in result.output
    assert not out.exists()


def test_bad_config_writes_no_default_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = write(tmp_path / "bad.toml", changed(SMALL, method__ensemble_size=0))
    result = invoke("run", config)
    assert result.exit_code == 2
    assert "[method] ensemble_size = 0" in result.output
    assert not (tmp_path / "runs").exists()


def test_unknown_section_and_broken_toml(tmp_path):
    data = copy.deepcopy(SMALL)
    data["experiments"] = {"cycles": 3}
    result = invoke("run", write(tmp_path / "a.toml", data), "--out", tmp_path / "o")
    assert result.exit_code == 2 and "[experiments]: unknown section" in result.output
    (tmp_path / "b.toml").write_text("[model]\nname = ")
    result = invoke("run", tmp_path / "b.toml", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "not valid TOML" in result.output
    assert not (tmp_path / "o").exists()


def test_missing_config_file(tmp_path):
    result = invoke("run", tmp_path / "nope.toml", "--out", tmp_path / "o")
    assert result.exit_code != 0
    assert not (tmp_path / "o").exists()


def test_every_example_is_accepted_by_the_command(tmp_path):
    """Validation only: the examples are too long to run here (each has its own run)."""
    from assimilax.experiments import load_config

    examples = sorted((Path(__file__).parents[1] / "examples").glob("*.toml"))
    examples = [p for p in examples if not p.stem.startswith("sweep_")]  # test_sweep.py
    assert len(examples) >= 6
    for path in examples:
        load_config(path)  # exactly what `assimilax run` does first
        assert default_out_dir(path) == Path("runs") / path.stem
    assert default_out_dir(None) == Path("runs/default")


# ----------------------------------------------------------------------------- runs


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A small run made through the command, in the default directory runs/<stem>."""
    root = tmp_path_factory.mktemp("cli")
    config = write(root / "tiny.toml", SMALL)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        result = invoke("run", config, "--no-progress")
    return root, config, root / "runs" / "tiny", result


def test_run_prints_the_summary_and_writes_the_files(finished):
    _, _, out, result = finished
    assert result.exit_code == 0, result.output
    assert "analysis RMSE" in result.output and "cycles per second" in result.output
    for name in (names.RESULTS_FILE, names.SUMMARY_FILE, names.ERROR_SPREAD_FIGURE,
                 names.HOVMOLLER_FIGURE):
        assert (out / name).is_file()


def test_same_config_resumes_without_recomputing(finished):
    _, config, out, _ = finished
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    result = invoke("run", config, "--out", out)
    assert result.exit_code == 0, result.output
    assert "already holds a finished run of this configuration" in result.output
    assert "analysis RMSE" in result.output
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps


def test_different_config_in_the_same_directory_is_refused(finished):
    root, _, out, _ = finished
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    other = write(root / "other.toml", changed(SMALL, method__ensemble_size=25))
    result = invoke("run", other, "--out", out)
    assert result.exit_code == 2
    assert "holds a run of a different configuration" in result.output
    assert "[method] ensemble_size: 20 there, 25 here" in result.output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_show(finished, tmp_path):
    _, _, out, _ = finished
    result = invoke("show", out)
    assert result.exit_code == 0
    assert "ETKF (N=20, infl 1.02) on Lorenz-96" in result.output
    assert "analysis RMSE" in result.output
    result = invoke("show", tmp_path)
    assert result.exit_code == 2 and "holds no finished run" in result.output


@pytest.fixture(scope="module")
def diverged(tmp_path_factory):
    root = tmp_path_factory.mktemp("diverging")
    config = write(root / "diverging.toml", DIVERGING)
    out = root / "out"
    return out, invoke("run", config, "--out", out, "--no-progress")


def test_divergence_stops_the_run_with_an_error(diverged):
    out, result = diverged
    assert result.exit_code == 1, result.output
    assert "diverged at cycle" in result.output
    assert "[method] inflation" in result.output and "ensemble_size" in result.output
    summary = json.loads((out / names.SUMMARY_FILE).read_text())
    assert summary["diverged"] is True
    assert summary["diverged_at_cycle"] < 300
    assert summary["cycles"] < 300  # stopped early: the last chunk never ran
    assert (out / names.RESULTS_FILE).is_file()


def test_divergence_is_reported_again_on_resume(diverged):
    out, _ = diverged
    result = invoke("run", out.parent / "diverging.toml", "--out", out)
    assert result.exit_code == 1 and "diverged at cycle" in result.output


def test_divergence_check_off_runs_to_the_end(tmp_path):
    config = write(tmp_path / "off.toml",
                   changed(DIVERGING, experiment__divergence_check=False))
    out = tmp_path / "out"
    result = invoke("run", config, "--out", out, "--no-progress")
    assert result.exit_code == 0, result.output
    assert "warning: the filter diverged at cycle" in result.output
    summary = json.loads((out / names.SUMMARY_FILE).read_text())
    assert summary["diverged"] is True and summary["cycles"] == 300
    assert summary["rmse_analysis"] > 3
