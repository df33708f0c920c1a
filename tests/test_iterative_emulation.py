"""Iterative DA–ML emulation (Brajard et al. 2020): interpolation, loss, loop, resume.

The resume test goes through the ring's checkpoint files
(:func:`assimilax.experiments.hybrids._iterative_emulation.iteration_checkpoints`): the
core hands each iteration's state to a callback and continues from one read back.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from assimilax import hybrid
from assimilax.experiments import simulate_twin
from assimilax.experiments.hybrids._iterative_emulation import iteration_checkpoints
from assimilax.ml import Emulator, NonFiniteLossError
from assimilax.ml.nets import BrajardCNN
from assimilax.models import Lorenz96
from assimilax.observations import DiagonalNoise, Observations, RandomSubset

# ----------------------------------------------------------------------------- interpolation


def test_interpolation_is_exact_for_a_field_linear_in_time():
    t = np.arange(30)[:, None]
    field = np.broadcast_to(0.5 * t - 3.0, (30, 12)).astype(float)
    rng = np.random.default_rng(0)
    mask = rng.random((30, 12)) < 0.4
    mask[0] = mask[-1] = True  # the whole record inside the hull: no nearest fill
    y = np.where(mask, field, 0.0)
    out = hybrid.space_time_interpolation(y, mask, chunk=10, overlap=3)
    np.testing.assert_allclose(out, field, atol=1e-12)


def test_interpolation_wraps_around_the_periodic_grid():
    n = 10
    i = np.arange(n)
    field = np.tile(np.cos(2 * np.pi * i / n), (5, 1))
    mask = np.zeros((5, n), bool)
    mask[:, ::2] = True  # even points observed at every time
    out = hybrid.space_time_interpolation(np.where(mask, field, 0.0), mask)
    # odd points: the mean of their two neighbours; the last one's right neighbour is 0
    expected = 0.5 * (field[:, i[1::2] - 1] + field[:, (i[1::2] + 1) % n])
    np.testing.assert_allclose(out[:, 1::2], expected, atol=1e-12)
    np.testing.assert_allclose(out[:, ::2], field[:, ::2], atol=1e-12)


def test_interpolation_fills_the_edges_with_the_nearest_observation():
    mask = np.zeros((6, 8), bool)
    mask[2:4, :] = True
    y = np.where(mask, 1.0, 0.0)
    out = hybrid.space_time_interpolation(y, mask)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, 1.0)


@pytest.mark.parametrize("y, mask, match", [
    (np.zeros((4, 5)), np.ones((4, 6), bool), "one shape"),
    (np.zeros((4, 5)), np.zeros((4, 5), bool), "at least 3"),
])
def test_interpolation_refuses_bad_input(y, mask, match):
    with pytest.raises(ValueError, match=match):
        hybrid.space_time_interpolation(y, mask)


# ----------------------------------------------------------------------------- loss


class Scale(eqx.Module):
    """``net(x) = a * x`` with a trainable scalar and an ``output`` layer for the ridge."""

    a: jax.Array
    output: eqx.Module

    def __call__(self, x):
        return self.a * x


class Out(eqx.Module):
    weight: jax.Array


def test_surrogate_loss_by_hand():
    em = Emulator(Scale(jnp.asarray(0.5), Out(jnp.asarray([1.0, 2.0]))), 0.1,
                  mode="resolvent", state_size=2)
    x = jnp.asarray([[1.0, 2.0], [0.0, -2.0]])
    target = jnp.asarray([[1.0, 1.0], [1.0, -3.0]])
    w = jnp.asarray([[1.0, 0.0], [2.0, 1.0]])
    # pred = 1.5 x = [[1.5, 3], [0, -3]]; errors^2 = [[0.25, 4], [1, 0]]
    # weighted mean = (0.25 + 0 + 2 + 0) / 4 = 0.5625; ridge 0.1 * (1 + 4) = 0.5
    loss = hybrid.surrogate_loss(em, (x, target, w), ridge=0.1)
    assert float(loss) == pytest.approx(0.5625 + 0.5, rel=1e-12)
    assert float(hybrid.surrogate_loss(em, (x, target, w), ridge=0.0)) == pytest.approx(0.5625)


def test_train_surrogate_recovers_a_linear_resolvent():
    """States of x_{k+1} = 0.9 x_k: the scalar net learns a = -0.1."""
    states = 0.9 ** np.arange(40)[:, None] * np.linspace(1.0, 2.0, 3)[None]
    f32 = jnp.float32  # training casts the data to float32
    em = Emulator(Scale(jnp.asarray(0.0, f32), Out(jnp.zeros(1, f32))), 0.1,
                  mode="resolvent", state_size=3)
    trained, history = hybrid.train_surrogate(
        em, states, np.ones_like(states), key=jax.random.key(0), epochs=300, batch_size=13,
        learning_rate=0.01, ridge=0.0)
    assert float(trained.net.a) == pytest.approx(-0.1, abs=1e-3)
    assert history.train_loss[-1] < 1e-6


# ----------------------------------------------------------------------------- the loop


@pytest.fixture(scope="module")
def twin():
    model = Lorenz96(n=40, forcing=8.0, dt=0.05)
    tw = simulate_twin(model, RandomSubset(40, 0.5), DiagonalNoise(1.0), cycles=300,
                       every_steps=1, ensemble_size=10, key=jax.random.key(3),
                       spinup_steps=200)
    return model, tw


def _small_net(key):
    return BrajardCNN(key=key, bilinear_filters=4, hidden_filters=(6,))


def _run(twin, iterations, checkpoint=None, **kw):
    model, tw = twin
    method = hybrid.IterativeEmulation(iterations=iterations, ensemble_size=10,
                                       epochs_first=3, epochs=2, batch_size=32, **kw)
    args = dict(key=jax.random.key(7), dt=model.dt, net=_small_net(jax.random.key(1)),
                truth=tw.truth)
    on_iteration = resume = None
    if checkpoint is not None:
        on_iteration, read = iteration_checkpoints(checkpoint)
        resume = read(method.init(tw.observations, **args))
    return method.run(tw.observations, resume=resume, on_iteration=on_iteration, **args)


@pytest.fixture(scope="module")
def straight(twin):
    """Two uninterrupted iterations."""
    return _run(twin, 2)


def test_loop_records_every_iteration(twin, straight):
    """Mechanics on a tiny net (its skill is tested by the brajard2020 preset)."""
    model, tw = twin
    res = straight
    assert [r.iteration for r in res.iterations] == [1, 2]
    assert [r.epochs for r in res.iterations] == [3, 2]
    assert res.analysis.shape == res.variance.shape == (300, 40)
    assert np.all(res.variance > 0)
    err = np.sqrt(np.mean((res.analysis - np.asarray(tw.truth)) ** 2, axis=-1))
    assert res.iterations[-1].rmse_analysis == pytest.approx(err.mean(), rel=1e-12)
    spread = np.sqrt(np.mean(res.variance, axis=-1)).mean()
    assert res.iterations[-1].spread_analysis == pytest.approx(spread, rel=1e-12)
    assert 1.5 < res.rmse_interpolation < 3.5
    assert res.skill is None  # no true model given
    summary = res.summary()
    assert summary["iterations"][1]["iteration"] == 2


def test_resume_after_an_interruption_gives_the_uninterrupted_numbers(twin, straight,
                                                                     tmp_path):
    first = _run(twin, 1, checkpoint=tmp_path / "ckpt")
    assert first.resumed_from == 0
    resumed = _run(twin, 2, checkpoint=tmp_path / "ckpt")
    assert resumed.resumed_from == 1
    np.testing.assert_array_equal(resumed.analysis, straight.analysis)
    np.testing.assert_array_equal(resumed.variance, straight.variance)
    for a, b in zip(jax.tree.leaves(eqx.filter(resumed.surrogate, eqx.is_array)),
                    jax.tree.leaves(eqx.filter(straight.surrogate, eqx.is_array)), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert [r.rmse_analysis for r in resumed.iterations] == \
        [r.rmse_analysis for r in straight.iterations]


def test_an_exploding_surrogate_is_reported(twin):
    """A surrogate that blows up stops the loop with an error, not NaN analyses."""

    class Cubic(eqx.Module):
        a: jax.Array

        def __call__(self, x):
            return self.a * jnp.asarray(x, jnp.float32) ** 3

    model, tw = twin
    method = hybrid.IterativeEmulation(iterations=1, ensemble_size=10, epochs_first=1,
                                       batch_size=32, learning_rate=1e-12)
    with pytest.raises((hybrid.DivergedIterationError, NonFiniteLossError)):
        method.run(tw.observations, key=jax.random.key(0), dt=model.dt,
                   net=Cubic(jnp.asarray(1e3, jnp.float32)), truth=tw.truth)


@pytest.mark.parametrize("kwargs, match", [
    ({"iterations": 0}, "iterations"),
    ({"weighting": "bogus"}, "weighting"),
])
def test_loop_refuses_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        hybrid.IterativeEmulation(**kwargs)


def test_loop_refuses_a_record_not_one_row_per_step(twin):
    model, tw = twin
    obs = tw.observations
    every_other = Observations(obs.operator, obs.noise, obs.y, obs.mask, every_steps=2)
    with pytest.raises(ValueError, match="every_steps"):
        hybrid.IterativeEmulation().run(every_other, key=jax.random.key(0), dt=model.dt)


def test_surrogate_skill_of_the_true_model_is_long_and_its_climate_exact():
    """The true model as its own surrogate: valid up to the horizon, no climate error."""
    model = Lorenz96(n=40, forcing=8.0, dt=0.05)
    skill = hybrid.surrogate_skill(model, model, key=jax.random.key(0), n_cases=5,
                                   leads=30, climate_steps=500)
    assert skill.valid_time == pytest.approx(30 * 0.05 * hybrid.LYAPUNOV_EXPONENT_L96)
    assert max(skill.forecast_rmse) < 1e-12
    assert skill.climatology_error.std < 1e-12
    assert 3.0 < skill.sigma_clim < 4.2
