"""Brajard et al. (2021): the model-error targets, the hybrid step, the relative forecast
RMSE and the network's training, each on its own oracle; the recipe's config checks and
(slow) its outcome and the quick preset."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from assimilax import hybrid
from assimilax.experiments.config import Config, ConfigError
from assimilax.experiments.presets import get_preset
from assimilax.ml.nets import ModelErrorCNN
from assimilax.models import Lorenz96, rollout


def _trajectory(model, steps_between, rows, key=0):
    x = 8.0 + jax.random.normal(jax.random.key(key), (model.state_size,))
    x = rollout(model, x, 1, every=500)[-1]  # onto the attractor
    return jnp.concatenate([x[None], rollout(model, x, rows - 1, every=steps_between)])


def test_targets_vanish_on_the_models_own_trajectory():
    model = Lorenz96(n=12, forcing=8.0, dt=0.01)
    states = _trajectory(model, 5, 20)
    xs, ys = hybrid.model_error_targets(model, states, 5, 0.05)
    np.testing.assert_array_equal(xs, states[:-1])
    assert float(jnp.max(jnp.abs(ys))) < 1e-10


def test_targets_recover_a_missing_forcing():
    """Truth with F = 9, model with F = 8: the error per unit time is the missing forcing,
    1, up to the O(dt_obs) response of the dynamics to it over one interval (under 5 % at
    dt_obs = 0.05, and five times less at 0.01)."""
    truth, model = Lorenz96(n=12, forcing=9.0, dt=0.01), Lorenz96(n=12, forcing=8.0, dt=0.01)
    states = _trajectory(truth, 5, 200)
    _, ys = hybrid.model_error_targets(model, states, 5, 0.05)
    assert float(jnp.mean(ys)) == pytest.approx(1.0, abs=0.05)
    # smaller intervals: closer to 1 (first order in dt_obs)
    _, ys1 = hybrid.model_error_targets(model, _trajectory(truth, 1, 200), 1, 0.01)
    assert abs(float(jnp.mean(ys1)) - 1.0) < 0.3 * abs(float(jnp.mean(ys)) - 1.0)


def test_targets_refuse_bad_input():
    model = Lorenz96(n=12)
    with pytest.raises(ValueError, match="time >= 2"):
        hybrid.model_error_targets(model, jnp.zeros((1, 12)), 5, 0.05)
    with pytest.raises(ValueError, match="dt_obs > 0"):
        hybrid.model_error_targets(model, jnp.zeros((3, 12)), 5, 0.0)


def test_hybrid_step_adds_dt_times_the_network():
    model = Lorenz96(n=12, forcing=8.0, dt=0.01)
    x = jnp.linspace(-2.0, 5.0, 12)
    shift = jnp.arange(12.0)
    corrected = hybrid.step_corrected(model, lambda z: shift + 0.5 * z)
    np.testing.assert_allclose(corrected.step(x), model.step(x) + 0.01 * (shift + 0.5 * x),
                               rtol=0, atol=1e-13)
    # the correction of a truth with F = 9 by the learned constant 1 is that truth's step
    # to first order: error O(dt^2)
    truth = Lorenz96(n=12, forcing=9.0, dt=0.01)
    fixed = hybrid.step_corrected(model, lambda z: jnp.ones_like(z))
    assert float(jnp.max(jnp.abs(fixed.step(x) - truth.step(x)))) < 1e-3


def test_relative_rmse_is_zero_for_the_truth_and_matches_its_formula():
    model = Lorenz96(n=12, forcing=8.0, dt=0.01)
    states = jnp.stack([_trajectory(model, 5, 7, key=k) for k in range(4)])  # (case, 7, n)
    initial, truth = states[:, 0], states[:, 1:]
    r, half = hybrid.relative_forecast_error(model, initial, truth, 5, 3.0)
    assert float(jnp.max(r)) < 1e-12
    other = Lorenz96(n=12, forcing=7.0, dt=0.01)
    r, half = hybrid.relative_forecast_error(other, initial, truth, 5, 3.0)
    forecasts = np.stack([np.asarray(rollout(other, x0, 6, every=5)) for x0 in initial])
    mse = ((forecasts - np.asarray(truth)) ** 2).mean(-1)  # (case, lead)
    np.testing.assert_allclose(r, np.sqrt(mse.mean(0) / (2 * 9.0)), rtol=1e-10)
    h_mse = 1.96 * mse.std(0, ddof=1) / 2.0
    np.testing.assert_allclose(half, np.asarray(r) * h_mse / (2 * mse.mean(0)), rtol=1e-10)


def test_network_learns_a_local_function_and_keeps_its_statistics():
    """The CNN fits a known local map x -> 0.5 x_{i-1} - x_i^2 / 10 (within its receptive
    field); inference with the population statistics matches training mode on the
    training set."""
    n = 12
    xs = 3.0 * jax.random.normal(jax.random.key(0), (600, n)) + 2.0
    ys = 0.5 * jnp.roll(xs, 1, axis=-1) - xs**2 / 10
    y32 = ys.astype(jnp.float32)  # the network computes in float32
    net = ModelErrorCNN(key=jax.random.key(1), filters=(16, 8))
    before = float(jnp.mean((net.train_apply(xs) - y32) ** 2))
    trained, history = hybrid.train_model_error(
        net, xs[:500], ys[:500], key=jax.random.key(2), validation=(xs[500:], ys[500:]),
        epochs=15, batch_size=32, learning_rate=3e-3, l2=1e-4)
    after = float(jnp.mean((jax.vmap(trained)(xs[500:]) - y32[500:]) ** 2))
    assert after < 0.1 * before and after < 0.25 * float(jnp.var(ys))
    assert len(history.val_loss) == 15
    # population statistics = those of the whole training set: inference = training mode
    np.testing.assert_allclose(jax.vmap(trained)(xs[:500]), trained.train_apply(xs[:500]),
                               rtol=1e-4, atol=1e-4)


def _config(**hybrid_keys):
    (member,) = get_preset("brajard2021").build(True)
    data = member.config.to_dict()
    data["hybrid"].update(hybrid_keys)
    return data


def test_the_config_names_what_is_wrong():
    data = _config(train_samples=5000)
    with pytest.raises(ConfigError, match=r"\[hybrid\] train_samples = 5000: "
                       "train_samples \\+ validation_samples = 5400 exceeds the 1899 pairs"):
        Config.from_dict(data)
    data = _config(score_time=2.02)
    with pytest.raises(ConfigError, match=r"score_time = 2.02: must be a multiple"):
        Config.from_dict(data)
    data = _config()
    del data["truth"]
    with pytest.raises(ConfigError, match=r"\[truth\]: missing section"):
        Config.from_dict(data)
    data = _config()
    data["method"] = {"name": "var3d"}
    with pytest.raises(ConfigError, match=r"\[method\] name = \"var3d\": brajard2021 needs "
                       "an ensemble filter"):
        Config.from_dict(data)


def test_the_preset_is_the_papers_setup():
    (quick,) = get_preset("brajard2021").build(True)
    (full,) = get_preset("brajard2021").build(False)
    c = full.config
    assert (c.truth.K, c.truth.J, c.truth.F, c.truth.h, c.truth.b, c.truth.c, c.truth.dt) == (
        36, 10, 10.0, 1.0, 10.0, 10.0, 0.005)
    assert (c.model.n, c.model.forcing, c.model.dt) == (36, 10.0, 0.01)
    assert c.observations.every_steps * c.model.dt == pytest.approx(0.05)
    assert c.observations.noise_std == 0.1
    assert (c.method.name, c.method.ensemble_size) == ("enkf_n", 50)
    assert (c.experiment.cycles - c.experiment.burn_in) * 0.05 == pytest.approx(1500)
    assert (c.hybrid.train_samples, c.hybrid.validation_samples) == (10_000, 1000)
    ml = c.ml_resolved
    assert (ml.network, ml.widths, ml.epochs, ml.batch_size) == ("model_error_cnn", [43, 28],
                                                                 100, 33)
    assert len(quick.seeds) >= 3 and len(full.seeds) >= 3


def _tiny():
    data = _config(train_samples=150, validation_samples=50, forecast_cases=3,
                   forecast_length=2.0, forecast_spinup=0.5)
    data["experiment"].update(cycles=240, burn_in=20)
    data["method"]["ensemble_size"] = 10
    data["ml"]["epochs"] = 2
    return Config.from_dict(data)


@pytest.mark.slow
def test_recipe_outcome_and_dataset():
    from assimilax.experiments.hybrids import run_hybrid
    from assimilax.experiments.hybrids._brajard2021 import VARIANTS, Brajard2021Recipe

    jax.config.update("jax_enable_x64", True)
    config = _tiny()
    out = run_hybrid(config)
    assert set(out.statistics) == set(Brajard2021Recipe.statistics)
    assert all(v is not None for v in out.statistics.values())
    assert out.arrays["variant_forecast_error"].shape == (3, 40)  # 2 time units / 0.05
    assert out.arrays["rmse_analysis"].shape == (240,)
    r = out.arrays["variant_forecast_error"]
    assert out.statistics["r_truncated"] == pytest.approx(r[0, -1])
    assert out.statistics["gap_truncated_analysis"] == pytest.approx(r[0, -1] - r[1, -1])
    half = out.arrays["variant_forecast_error_ci95"]
    assert out.ci95["gap_truncated_analysis"] == pytest.approx(half[0, -1] + half[1, -1])
    ds = Brajard2021Recipe().dataset(config, out, {"seed": 0})
    assert [str(v) for v in ds["variant"].values] == list(VARIANTS)
    assert ds["variant_forecast_error"].attrs["units"] == "1"
    assert "reference" in ds["variant_forecast_error"].attrs  # the paper's set-up
    assert np.isfinite(ds["variant_rmse_analysis"].sel(variant="truncated")).all()
    assert set(out.networks) == {"analysis", "perfect"}


@pytest.mark.slow
def test_quick_preset_comes_out_as_expected(tmp_path):
    from assimilax.experiments.presets import reproduce

    jax.config.update("jax_enable_x64", True)
    result = reproduce("brajard2021", tmp_path, quick=True)
    unexpected = [f"{c.claim}: {c.outcome}, expected {c.expected}; ours {c.ours} ± "
                  f"{c.ours_ci95}" for c in result.unexpected]
    assert result.as_expected, "\n".join(unexpected)
