"""The resolvent correction of Farchi et al. (2021, QJRMS) on the QG channel: the
``field_cnn`` network (shapes, channel padding, equivariance in x, fixed channels, zero
start), the two ways of fitting it on analysis pairs (each recovers a known correction),
the DA-ML iteration, the ``[hybrid]`` section's checks, and (slow) the quick preset."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from _config_helpers import changed
from assimilax import hybrid, models
from assimilax.experiments.config import Config, ConfigError
from assimilax.experiments.hybrids._resolvent_correction import (
    better_until,
    correction_net,
    fit_resolvent,
    resolvent_correction_experiment,
)
from assimilax.ml import Corrected
from assimilax.ml.nets import FieldCNN
from assimilax.ml.nets._field_cnn import channel_pad

jax.config.update("jax_enable_x64", True)
QG = models.QG(nx=16, ny=8)


def test_channel_pad_is_periodic_in_x_and_repeats_the_wall_rows():
    x = jnp.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4)
    p = channel_pad(x, 1)
    assert p.shape == (2, 5, 6)
    np.testing.assert_array_equal(p[:, 1:-1, 0], x[:, :, -1])   # wraps in x
    np.testing.assert_array_equal(p[:, 1:-1, -1], x[:, :, 0])
    np.testing.assert_array_equal(p[:, 0, 1:-1], x[:, 0])       # repeats the wall rows
    np.testing.assert_array_equal(p[:, -1, 1:-1], x[:, -1])


def test_field_cnn_maps_the_state_and_commutes_with_zonal_shifts():
    shape = (2, 8, 16)
    net = FieldCNN(shape, 4, key=jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (2 * 8 * 16,))
    y = net(x)
    assert y.shape == x.shape and bool(jnp.all(jnp.isfinite(y)))
    shift = lambda v: jnp.roll(v.reshape(shape), 3, axis=2).reshape(-1)  # noqa: E731
    np.testing.assert_allclose(net(shift(x)), shift(y), atol=1e-12)
    # fixed channels that vary in x break that symmetry, and are not trained
    static = jnp.broadcast_to(jnp.linspace(-1, 1, 16), (1, 8, 16))
    with_static = FieldCNN(shape, 4, key=jax.random.key(0), static=static)
    assert float(jnp.max(jnp.abs(with_static(shift(x)) - shift(with_static(x))))) > 1e-6
    grads = jax.grad(lambda n: jnp.sum(n(x) ** 2))(with_static)
    assert float(jnp.max(jnp.abs(grads.static))) == 0.0
    assert float(jnp.max(jnp.abs(FieldCNN(shape, 4, key=jax.random.key(0),
                                          zero_output=True)(x)))) == 0.0


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"shape": (16, 8)}, "shape must be"), ({"kernel_size": 4}, "kernel_size must be odd"),
    ({"static": jnp.zeros((1, 4, 4))}, "static channels must be")])
def test_field_cnn_refuses_bad_shapes(kwargs, match):
    args = {"shape": (2, 8, 16), "width": 4, "key": jax.random.key(0), **kwargs}
    with pytest.raises(ValueError, match=match):
        FieldCNN(**args)
    with pytest.raises(ValueError, match="Batch with jax.vmap"):
        FieldCNN((2, 8, 16), 4, key=jax.random.key(0))(jnp.zeros((3, 256)))


def _pairs(cases=48, steps=2):
    """QG states and their ``steps``-step forecasts by the model corrected with a known
    network (a fresh ``correction_net`` with a small random output layer)."""
    net = correction_net(QG, 4, key=jax.random.key(3), mean=0.0, std=1.0, scale=1.0)
    last = net.net.layers[-1]
    weight = 0.02 * jax.random.normal(jax.random.key(4), last.weight.shape)
    target = eqx.tree_at(lambda n: n.net.layers[-1].weight, net, weight)
    x0 = jax.vmap(QG.initial_condition)(jax.random.split(jax.random.key(5), cases))
    x0 = hybrid.free_forecasts(QG, x0, 1, 200)[:, 0]
    x1 = hybrid.free_forecasts(Corrected(QG, target, mode="resolvent"), x0, 1, steps)[:, 0]
    return target, x0, x1


class _ML:
    epochs, batch_size, learning_rate, validation_fraction = 60, 8, 3e-3, 0.0


@pytest.mark.parametrize("training", ["unrolled", "increments"])
def test_each_fit_recovers_a_known_resolvent_correction(training):
    target_net, x0, x1 = _pairs()
    steps = 2
    error = x1 - hybrid.free_forecasts(QG, x0, 1, steps)[:, 0]
    start = correction_net(QG, 4, key=jax.random.key(3), mean=0.0, std=1.0, scale=1.0)
    fitted, history = fit_resolvent(QG, start, x0, x1, steps, training,
                                    key=jax.random.key(6), ml=_ML)
    assert history.train_loss[-1] < 0.2 * history.train_loss[0]
    corrected = hybrid.free_forecasts(Corrected(QG, fitted, mode="resolvent"), x0, 1,
                                      steps)[:, 0]
    # the fitted correction removes most of the resolvent error of the physical model
    assert float(jnp.sqrt(jnp.mean((corrected - x1) ** 2))) < 0.3 * float(
        jnp.sqrt(jnp.mean(error ** 2)))


def test_better_until_is_the_end_of_the_first_run_of_significant_leads():
    lead = np.array([1.0, 2.0, 3.0, 4.0])
    assert better_until(lead, np.array([1, 1, 1, 1.0]), np.full(4, 0.5)) == 4.0
    assert better_until(lead, np.array([1, 1, 0.2, 1.0]), np.full(4, 0.5)) == 2.0
    assert better_until(lead, np.array([0.2, 1, 1, 1.0]), np.full(4, 0.5)) == 0.0


def _config(**changes):
    qg = {"name": "qg", "nx": 16, "ny": 8, "dt": 0.036}
    data = {
        "truth": {**qg, "depth1": 6000.0, "depth2": 4000.0},
        "model": {**qg, "depth1": 5700.0, "depth2": 4300.0},
        "observations": {"operator": "every", "stride": 2, "every_steps": 6,
                         "noise_std": 0.2},
        "method": {"name": "letkf", "ensemble_size": 8, "inflation": 1.1,
                   "localization_radius": 2.0},
        "experiment": {"cycles": 40, "burn_in": 10, "spinup_steps": 240,
                       "initial_std": 0.2},
        "ml": {"epochs": 2},
        "hybrid": {"name": "resolvent_correction", "test_cycles": 30, "burn_in": 10,
                   "forecast_cases": 4, "forecast_time": 0.432, "score_lead": 0.216,
                   "forecast_cycles": 40},
    }
    return changed(data, **changes)


def test_the_section_resolves_the_network():
    cfg = Config.from_dict(_config())
    assert cfg.ml_resolved.network == "field_cnn" and cfg.ml_resolved.widths == [8]
    assert cfg.hybrid.iterations == 1 and cfg.hybrid.training == "unrolled"


@pytest.mark.parametrize(("changes", "where", "match"), [
    ({"experiment.cycles": 15}, ("experiment", "cycles"), "at least 10 training pairs"),
    ({"hybrid.test_cycles": 11}, ("hybrid", "test_cycles"), "must be > burn_in"),
    ({"hybrid.score_lead": 1.0}, ("hybrid", "score_lead"), "<= forecast_time"),
    ({"hybrid.forecast_cycles": 2}, ("hybrid", "forecast_cycles"), "more than one forecast"),
    ({"ml.network": "mlp"}, ("ml", "network"), "field_cnn"),
    ({"ml.widths": [4, 4]}, ("ml", "widths"), "one width"),
    ({"hybrid.training": "online"}, ("hybrid", "training"), ""),
    ({"hybrid.iterations": 0}, ("hybrid", "iterations"), ""),
])
def test_bad_settings_are_refused_with_the_key_named(changes, where, match):
    with pytest.raises(ConfigError, match=match) as info:
        Config.from_dict(_config(**changes))
    assert where in [(i.section, i.key) for i in info.value.issues]


def test_the_experiment_end_to_end_with_an_iteration():
    cfg = Config.from_dict(_config(**{"hybrid.iterations": 2}))
    out = resolvent_correction_experiment(cfg)
    s = out["statistics"]
    assert out["forecast"].shape == (2, 2) and out["rmse_analysis"].shape == (2, 30)
    assert len(out["history"]) == 2 and len(out["rmse_analysis_iterations"]) == 2
    assert all(np.isfinite(v) for k, v in s.items() if k != "hybrid_better_until")
    np.testing.assert_allclose(s["analysis_gain"],
                               s["rmse_analysis_physical"] - s["rmse_analysis_hybrid"],
                               atol=1e-12)
    np.testing.assert_allclose(s["forecast_gain"],
                               s["forecast_error_physical"] - s["forecast_error_hybrid"],
                               atol=1e-12)
    again = resolvent_correction_experiment(cfg)  # same config and seed: same numbers
    assert again["statistics"] == s


@pytest.mark.slow
def test_the_quick_preset(tmp_path):
    from assimilax.experiments.presets import reproduce

    result = reproduce("farchi2021qg", tmp_path, quick=True)
    unexpected = [f"{c.claim}: {c.outcome}, expected {c.expected}; ours {c.ours} ± "
                  f"{c.ours_ci95}" for c in result.unexpected]
    assert result.as_expected, "\n".join(unexpected)
