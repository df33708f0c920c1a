"""Bad input beyond the shape of a config: NaN and inf in a config or in arrays passed to
the Python API, and output directories that cannot be written. Each is refused with a
message naming the input, before anything is computed, and nothing is half-written.
The cases and messages are listed in docs/robustness.md."""

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

from assimilax.cli import app
from assimilax.da import ETKF, assimilate
from assimilax.experiments import build, load_sweep, run, simulate_twin, sweep
from assimilax.experiments import presets as P
from assimilax.experiments.config import Config
from assimilax.io import names
from assimilax.models import Lorenz96
from assimilax.observations import DiagonalNoise, Full

runner = CliRunner()

SMALL = {
    "model": {"name": "lorenz96", "n": 40},
    "observations": {"operator": "full", "noise_std": 1.0},
    "method": {"name": "etkf", "ensemble_size": 20, "inflation": 1.02},
    "experiment": {"cycles": 200, "burn_in": 50, "seed": 1},
}

TOML = """
[model]
name = "lorenz96"
n = 40
[observations]
operator = "full"
noise_std = 1.0
[method]
name = "etkf"
ensemble_size = 20
inflation = {inflation}
[experiment]
cycles = 200
burn_in = 50
"""


# ----------------------------------------------------------------------------- configs


@pytest.mark.parametrize(("value", "message"), [
    ("nan", "[method] inflation"),
    ("inf", "[method] inflation"),
    ('"high"', "[method] inflation"),
])
def test_a_non_finite_or_non_numeric_config_value_is_refused(value, message, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(TOML.format(inflation=value))
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists()


def test_a_non_finite_override_is_refused(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text(TOML.format(inflation=1.02))
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out"),
                                 "--set", "observations.noise_std=nan"])
    assert result.exit_code == 2 and "noise_std" in result.output
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- arrays


@pytest.fixture(scope="module")
def twin():
    xp = build(Config.from_dict(SMALL))
    s = xp.setup
    tw = simulate_twin(s.truth_model, s.operator, s.noise, cycles=20, every_steps=1,
                       ensemble_size=10, key=jax.random.key(0))
    return xp.setup.model, tw


def _assimilate(model, tw, **changes):
    args = {"observations": tw.observations, "initial": tw.ensemble0, "truth": tw.truth}
    args.update(changes)
    return assimilate(model, args["observations"], ETKF(), args["initial"],
                      key=jax.random.key(1), truth=args["truth"])


def test_nan_in_the_initial_ensemble_is_named_with_its_index(twin):
    model, tw = twin
    bad = tw.ensemble0.at[3, 7].set(jnp.nan)
    with pytest.raises(ValueError, match=r"assimilate: initial has 1 non-finite value "
                       r"\(the first: nan at index \(3, 7\), of shape \(10, 40\)\)"):
        _assimilate(model, tw, initial=bad)


def test_inf_in_the_truth_is_named(twin):
    model, tw = twin
    bad = tw.truth.at[5, 0].set(jnp.inf)
    with pytest.raises(ValueError, match=r"assimilate: truth has 1 non-finite value.*\(5, 0\)"):
        _assimilate(model, tw, truth=bad)


def test_nan_in_an_unmasked_observation_is_refused_and_a_masked_one_is_not(twin):
    model, tw = twin
    obs = tw.observations
    bad_y = obs.y.at[4, 2].set(jnp.nan)
    unmasked = type(obs)(obs.operator, obs.noise, bad_y, obs.mask, obs.every_steps)
    with pytest.raises(ValueError, match=r"observations.y has 1 non-finite value \(unmasked "
                       r"the first: nan at index \(4, 2\)"):
        _assimilate(model, tw, observations=unmasked)
    masked = type(obs)(obs.operator, obs.noise, bad_y, obs.mask.at[4, 2].set(False),
                       obs.every_steps)
    result = _assimilate(model, tw, observations=masked)
    assert np.isfinite(np.asarray(result.rmse_analysis)).all()


def test_inside_jit_the_arrays_are_not_inspected(twin):
    """Traced values cannot be read: the check is at the API's boundary, not in programs."""
    model, tw = twin
    f = jax.jit(lambda e: _assimilate(model, tw, initial=e).rmse_analysis)
    assert np.isfinite(np.asarray(f(tw.ensemble0))).all()


def test_simulate_twin_refuses_a_nan_model_parameter_and_spread():
    with pytest.raises(ValueError, match=r"simulate_twin: truth_model\.forcing is nan"):
        simulate_twin(Lorenz96(n=40, forcing=float("nan")), Full(40), DiagonalNoise(1.0),
                      cycles=5, every_steps=1, ensemble_size=4, key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"simulate_twin: initial_std is inf"):
        simulate_twin(Lorenz96(n=40), Full(40), DiagonalNoise(1.0), cycles=5, every_steps=1,
                      ensemble_size=4, key=jax.random.key(0), initial_std=float("inf"))


# ----------------------------------------------------------------------------- directories


def _unwritable(tmp_path: Path) -> Path:
    """A directory that cannot be created: its parent is a file (read-only modes do not
    stop root, so that case is checked separately below)."""
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    return blocker / "out"


def test_run_refuses_an_unwritable_directory_before_computing(tmp_path):
    out = _unwritable(tmp_path)
    with pytest.raises(Exception, match=r"cannot write the run into .*a_file/out: "
                       r".*nothing was computed"):
        run(Config.from_dict(SMALL), out, progress=False)
    path = tmp_path / "ok.toml"
    path.write_text(TOML.format(inflation=1.02))
    result = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert result.exit_code == 2 and "cannot write the run into" in result.output


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="file modes do not bind root")
def test_run_refuses_a_read_only_directory(tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        with pytest.raises(Exception, match="cannot write the run into"):
            run(Config.from_dict(SMALL), out, progress=False)
        assert list(out.iterdir()) == []
    finally:
        out.chmod(0o755)


def test_sweep_and_reproduce_refuse_an_unwritable_directory(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(TOML.format(inflation=1.02) + "\n[sweep]\nseeds = [0, 1]\n")
    with pytest.raises(Exception, match="cannot write the sweep into"):
        sweep(load_sweep(spec), _unwritable(tmp_path), scheduler="synchronous",
              progress=False)
    with pytest.raises(P.ReproduceDirError, match="cannot write the reproduction into"):
        P.reproduce("wilks2005", _unwritable(tmp_path), quick=True)
    assert not (tmp_path / names.SUMMARY_FILE).exists()
