"""The ``assimilax`` command: bad input refused with nothing written, run, resume, show,
``--set`` overrides, the commands' registration."""

import ast
import copy
import json
import tomllib
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
    examples = [p for p in examples  # sweep files: test_sweep.py; _*.toml: not examples
                if not p.stem.startswith(("sweep_", "_"))]
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
    assert result.exit_code == 2 and "holds neither a run" in result.output


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


# ----------------------------------------------------------------------------- --set


SET_BAD = [
    (["method.ensemble_sise=20"], ["[method] ensemble_sise = 20", "did you mean ensemble_size?"]),
    (["method.inflation=high"], ['[method] inflation = "high"', "must be a number"]),
    (["experiment.cycles=2.5"], ["[experiment] cycles = 2.5", "must be an integer"]),
    (["method.localization_radius=2"], ['not a key for name = "etkf"']),
    (["metod.name=etkf"], ["[metod]: unknown section"]),
    (["method.inflation"], ["--set method.inflation: expected section.key=value"]),
    (["method.ensemble_size=1", "method.ensemble_size=0"], ["[method] ensemble_size = 0"]),
]


@pytest.mark.parametrize("sets, expected", SET_BAD, ids=[" ".join(s) for s, _ in SET_BAD])
def test_bad_set_is_refused_and_nothing_written(tmp_path, sets, expected):
    config = write(tmp_path / "good.toml", SMALL)
    out = tmp_path / "out"
    result = invoke("run", config, "--out", out, *[a for s in sets for a in ("--set", s)])
    assert result.exit_code == 2, result.output
    for text in expected:
        assert text in result.output
    assert "Nothing was run or written" in result.output
    assert not out.exists()


def test_bad_set_on_the_default_config_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("run", "--set", "method.ensemble_size=1")
    assert result.exit_code == 2
    assert "(built-in default) --set method.ensemble_size=1" in result.output
    assert "[method] ensemble_size = 1: must be >= 2" in result.output
    assert not (tmp_path / "runs").exists()


def test_set_is_recorded_in_the_run_and_part_of_its_identity(tmp_path):
    config = write(tmp_path / "small.toml", SMALL)
    out = tmp_path / "out"
    sets = ["--set", "experiment.seed=2", "--set", "method.inflation=1.5",
            "--set", "method.inflation=1.03"]  # the last value wins
    result = invoke("run", config, "--out", out, "--no-progress", *sets)
    assert result.exit_code == 0, result.output
    recorded = tomllib.loads((out / "config.toml").read_text())
    assert recorded["method"]["inflation"] == 1.03 and recorded["experiment"]["seed"] == 2
    assert recorded["method"]["ensemble_size"] == 20  # the file's
    summary = json.loads((out / names.SUMMARY_FILE).read_text())
    assert summary["config"] == recorded and summary["seed"] == 2
    again = invoke("run", config, "--out", out, *sets)
    assert again.exit_code == 0 and "not recomputed" in again.output
    plain = invoke("run", config, "--out", out)
    assert plain.exit_code == 2 and "holds a run of a different configuration" in plain.output


def sweep_file(tmp_path: Path) -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(dumps_toml(SMALL) + '\n[sweep]\n"method.ensemble_size" = [10, 12]\n')
    return path


def test_set_on_a_sweep_overrides_its_base_and_axes(tmp_path):
    from assimilax.experiments import load_sweep

    spec = load_sweep(sweep_file(tmp_path), overrides=[
        "method.inflation=1.1", "sweep.seeds=[0, 1]", "sweep.method.ensemble_size=[8]"])
    assert spec.base["method"]["inflation"] == 1.1
    assert spec.base_config.method.inflation == 1.1
    assert {a.key: a.values for a in spec.axes} == {"method.ensemble_size": (8,),
                                                    "seeds": (0, 1)}
    out = tmp_path / "out"
    result = invoke("sweep", sweep_file(tmp_path), "--out", out, "--scheduler", "synchronous",
                    "--set", "method.inflation=0")
    assert result.exit_code == 2, result.output
    assert "the base config is invalid: [method] inflation = 0.0: must be > 0" in result.output
    assert "Nothing was run or written" in result.output and not out.exists()


def test_set_on_reproduce_applies_to_every_member(tmp_path, monkeypatch):
    from assimilax.experiments import Config, presets

    out = tmp_path / "bad"
    result = invoke("reproduce", "sakov2008", "--quick", "--out", out,
                    "--set", "method.ensemble_sise=3")
    assert result.exit_code == 2, result.output
    assert "preset sakov2008, member" in result.output and "ensemble_sise = 3" in result.output
    assert "Nothing was run or written" in result.output and not out.exists()

    member = presets.Member("etkf", Config.from_dict(SMALL), (1,))
    claim = presets.Claim("ETKF N=20 analysis RMSE below 0.5", "etkf", 0.5, relation="below",
                          rel_tol=0.0, kind="target", source="a test")
    tiny = presets.Preset(name="tiny_set", reference="a test", description="L96, ETKF",
                          members=lambda quick: (member,), claims=(claim,))
    monkeypatch.setitem(presets.PRESETS, "tiny_set", tiny)
    out = tmp_path / "run"
    result = invoke("reproduce", "tiny_set", "--out", out, "--no-progress",
                    "--set", "experiment.cycles=100", "--set", "experiment.burn_in=20")
    assert result.exit_code == 0, result.output
    recorded = tomllib.loads((out / "members" / "etkf.toml").read_text())
    assert recorded["experiment"]["cycles"] == 100 and recorded["experiment"]["burn_in"] == 20


# ----------------------------------------------------------------------------- the app


def test_commands_register_themselves_and_the_app_imports_none():
    from assimilax.cli import _app

    assert sorted(c.name for c in app.registered_commands) == [
        "plot", "reproduce", "run", "show", "sweep"]
    tree = ast.parse(Path(_app.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not imported & {"_run", "_show", "_sweep", "_reproduce", "_plot"}
