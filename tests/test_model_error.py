"""Offline learning of a model correction from analyses (``hybrid.fit_correction``,
``analysis_pairs``, ``forecast_rmse``) and the ``model_error_correction`` section.

Oracles: a model error known in closed form (Lorenz-96 with forcing F = 7.5 against a
truth of F = 8: the missing tendency is the constant 0.5), which a tendency correction
trained on true pairs must recover; forecast RMSEs recomputed by a plain loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from _config_helpers import changed
from assimilax import hybrid, models
from assimilax.experiments import Config
from assimilax.experiments.config import ConfigError
from assimilax.experiments.hybrids._model_error_correction import correction_net
from assimilax.ml import Corrected
from assimilax.models import forecast, rollout

N = 8


class _ML:
    widths = (4,)


def test_analysis_pairs_are_the_ends_of_consecutive_windows():
    a = jnp.arange(20.0)[:, None] * jnp.ones((1, 3))
    x, y = hybrid.analysis_pairs(a, 4)
    np.testing.assert_array_equal(x[:, 0], [3, 7, 11, 15])
    np.testing.assert_array_equal(y[:, 0], [7, 11, 15, 19])
    with pytest.raises(ValueError, match="longer record"):
        hybrid.analysis_pairs(a[:6], 4)


def test_the_correction_starts_as_no_correction():
    net = correction_net(_ML, key=jax.random.key(0), mean=2.0, std=3.0, scale=0.5)
    x = jax.random.normal(jax.random.key(1), (N,), jnp.float64)
    np.testing.assert_array_equal(net(x), np.zeros(N))
    assert hybrid.parameter_vector(net).size > 3  # the network's weights, not only constants


@pytest.mark.parametrize("mode", ["tendency", "resolvent"])
def test_a_known_constant_forcing_error_is_learned(mode):
    """Truth F = 8, model F = 7.5: the correction must supply the missing forcing 0.5 (in
    tendency units; about dt x 0.5 per step for the resolvent)."""
    truth_model = models.Lorenz96(n=N, forcing=8.0, dt=0.05)
    model = models.Lorenz96(n=N, forcing=7.5, dt=0.05)
    x0 = forecast(truth_model, 3.0 + jax.random.normal(jax.random.key(0), (N,)), 400)
    traj = rollout(truth_model, x0, 201, every=2)
    inputs, targets = traj[:-1], traj[1:]
    scale = 0.5 if mode == "tendency" else 0.5 * model.dt
    net = correction_net(_ML, key=jax.random.key(2), mean=float(jnp.mean(traj)),
                         std=float(jnp.std(traj)), scale=scale)
    trained, history = hybrid.fit_correction(
        model, net, mode, inputs, targets, 2, key=jax.random.key(3), epochs=60,
        batch_size=25, learning_rate=1e-2, validation_fraction=0.0)
    assert history.train_loss[-1] < 0.05 * history.train_loss[0]
    out = jax.vmap(trained)(inputs)
    expected = 0.5 if mode == "tendency" else 0.5 * model.dt
    np.testing.assert_allclose(float(jnp.mean(out)), expected, rtol=0.1)
    physical = hybrid.forecast_rmse(model, inputs[:20], traj[1:21, None], 2)[0]
    corrected = hybrid.forecast_rmse(Corrected(model, trained, mode), inputs[:20],
                                     traj[1:21, None], 2)[0]
    assert float(corrected[0]) < 0.2 * float(physical[0])


def test_forecast_rmse_is_the_loop_it_stands_for():
    model = models.Lorenz96(n=N, forcing=8.0, dt=0.05)
    x0 = jax.random.normal(jax.random.key(0), (3, N), jnp.float64) + 3.0
    truth = jax.random.normal(jax.random.key(1), (3, 4, N), jnp.float64)
    mean, half = hybrid.forecast_rmse(model, x0, truth, 2)
    errs = np.empty((3, 4))
    for c in range(3):
        x = x0[c]
        for lead in range(4):
            x = forecast(model, x, 2)
            errs[c, lead] = np.sqrt(np.mean((np.asarray(x) - np.asarray(truth[c, lead])) ** 2))
    np.testing.assert_allclose(mean, errs.mean(0), rtol=1e-10)
    np.testing.assert_allclose(half, 1.96 * errs.std(0, ddof=1) / np.sqrt(3), rtol=1e-10)


def _config(**changes):
    data = {
        "truth": {"name": "two_scale_lorenz96"},
        "model": {"name": "lorenz96", "n": 36, "forcing": 10.0, "dt": 0.01},
        "observations": {"operator": "every", "stride": 2, "every_steps": 5,
                         "noise_std": 1.0},
        "method": {"name": "var4d", "scheme": "classic", "window": 8},
        "experiment": {"cycles": 80, "burn_in": 8},
        "hybrid": {"name": "model_error_correction", "test_cycles": 80},
    }
    return Config.from_dict(changed(data, **changes))


def test_the_section_accepts_the_truncated_twin_and_fills_the_network():
    cfg = _config()
    assert cfg.ml_resolved.network == "periodic_cnn" and cfg.ml_resolved.widths == [8]


@pytest.mark.parametrize("changes, message", [
    ({"truth": None}, r"\[truth\].*missing section"),
    ({"method.scheme": "sliding"}, 'scheme = "classic"'),
    ({"hybrid.score_lead": 5.0}, "score_lead"),
    ({"hybrid.test_cycles": 20}, "test_cycles"),
    ({"experiment.cycles": 16, "experiment.burn_in": 4}, "at least 3 windows"),
])
def test_the_section_names_what_is_wrong(changes, message):
    with pytest.raises(ConfigError, match=message):
        _config(**changes)


def test_free_forecasts_leave_out_the_models_noise():
    """A model with noise (the filter's model error) forecasts as its deterministic step."""
    noisy = models.Lorenz96(n=N, forcing=8.0, dt=0.05, noise_std=0.3)
    quiet = models.Lorenz96(n=N, forcing=8.0, dt=0.05)
    x0 = jax.random.normal(jax.random.key(0), (2, N), jnp.float64) + 3.0
    truth = jnp.zeros((2, 3, N))
    np.testing.assert_array_equal(hybrid.forecast_errors(noisy, x0, truth, 2),
                                  hybrid.forecast_errors(quiet, x0, truth, 2))
