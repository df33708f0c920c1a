"""4D-Var with emulator gradients (Nonnenmacher & Greenberg 2021): pieces and the claim.

Fast: the rotating observation mask, the interpolated first guess, the emulator network,
the no-background cost and its adjoint gradient against finite differences, recovery of
the truth by a perfect model with tiny observation noise, and the three variants agreeing
when the "emulator" is the simulator itself. Slow: the quick experiment (trained CNN,
windows of 8 and 32 steps) meets the paper's claim that 4D-Var with emulator gradients is
as accurate as with the exact adjoint (analysis RMSE within 10 %).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from assimilax.hybrid._emulator_4dvar import (
    VARIANTS,
    DeepEmulatorCNN,
    cycle_4dvar,
    emulator_4dvar,
    first_guess_interpolation,
    lbfgs_minimise,
    observe,
    rotating_mask,
    train_emulator,
    training_pairs,
    twin_windows,
    window_cost,
    window_trajectory,
)
from assimilax.ml.correction import SurrogateGradient
from assimilax.ml.emulator import Emulator
from assimilax.models import Lorenz96

MODEL = Lorenz96(n=40, forcing=8.0, dt=0.0125)


@pytest.fixture(scope="module")
def window():
    """A window of 8 steps on the attractor: start state, observations, mask."""
    truth, y, mask, _ = twin_windows(MODEL, key=jax.random.key(3), length=8, n_windows=1)
    return truth[0, 0], y[0, 0], mask[0, 0]


def test_rotating_mask_observes_a_quarter_each_step_and_everything_in_four():
    m = np.asarray(rotating_mask(40, jnp.arange(1, 9)))
    assert m.shape == (8, 40)
    assert (m.sum(axis=1) == 10).all()
    assert (m[:4].sum(axis=0) == 1).all() and (m[4:].sum(axis=0) == 1).all()
    assert m[0, 1] and m[0, 5] and not m[0, 0]  # step 1 observes i = 1, 5, 9, ...


def test_first_guess_interpolates_periodically():
    y = jnp.array([1.0, 0, 0, 0, 5.0, 0, 0, 0])
    out = first_guess_interpolation(y, y != 0)
    np.testing.assert_allclose(out, [1, 2, 3, 4, 5, 4, 3, 2])
    # observed values are kept; a single observation gives a constant field
    one = first_guess_interpolation(jnp.array([0, 0, 3.0, 0]), jnp.array([0, 0, 1, 0]) > 0)
    np.testing.assert_allclose(one, [3, 3, 3, 3])


def test_observe_masks_and_noise():
    truth = jnp.ones((400, 40))
    y, mask = observe(truth, jnp.arange(400), key=jax.random.key(0), sigma=0.5)
    y, mask = np.asarray(y), np.asarray(mask)
    assert (y[~mask] == 0).all()
    err = y[mask] - 1.0
    # 4000 draws of N(0, 0.25): the sample std is 0.5 +- 0.006 (1 sd)
    assert abs(err.std() - 0.5) < 0.03 and abs(err.mean()) < 0.04


def test_network_is_shift_equivariant_with_the_authors_sizes():
    net = DeepEmulatorCNN(key=jax.random.key(0))
    n_params = sum(a.size for a in jax.tree.leaves(eqx.filter(net, eqx.is_array)))
    # 1->16 (k3), 16->32, 32->32, 32->32, 32->32 (k3), 32->128, 128->128 x2, 128->1
    assert n_params == 43_201
    x = 8 + 3 * jax.random.normal(jax.random.key(1), (40,))
    f = jax.jit(lambda z: net(z))
    out = f(x)
    assert out.shape == (40,) and out.dtype == jnp.float32
    np.testing.assert_allclose(f(jnp.roll(x, 5)), jnp.roll(out, 5), rtol=1e-5, atol=1e-5)


def test_window_cost_is_the_masked_misfit(window):
    x0, y, mask = window
    traj = window_trajectory(MODEL, x0, 8)
    expected = 0.5 * np.sum(np.where(mask, y - traj, 0.0) ** 2) / 0.25
    np.testing.assert_allclose(window_cost(MODEL, x0, y, mask, sigma=0.5), expected, rtol=1e-12)


def test_cost_gradient_matches_finite_differences(window):
    x0, y, mask = window
    x = x0 + 0.3 * jax.random.normal(jax.random.key(4), x0.shape)

    def cost(z):
        return window_cost(MODEL, z, y, mask)

    g = jax.grad(cost)(x)
    for k in range(3):
        d = jax.random.normal(jax.random.key(10 + k), x.shape)
        h = 1e-5
        fd = (cost(x + h * d) - cost(x - h * d)) / (2 * h)
        # central differences: error O(h^2 |J'''|) ~ 1e-8 relative here
        np.testing.assert_allclose(jnp.dot(g, d), fd, rtol=1e-6)
    # SurrogateGradient with the simulator as its own surrogate: the same gradient
    g_sg = jax.grad(lambda z: window_cost(SurrogateGradient(MODEL, MODEL), z, y, mask))(x)
    np.testing.assert_allclose(g_sg, g, rtol=1e-12, atol=1e-12)


def test_lbfgs_minimises_a_quadratic():
    A = jnp.diag(jnp.linspace(1.0, 50.0, 10))
    b = jnp.arange(10.0)
    x, value, n_iter = jax.jit(lambda x0: lbfgs_minimise(
        lambda x: 0.5 * x @ A @ x - b @ x, x0, max_iterations=100, ftol=1e-14))(jnp.zeros(10))
    np.testing.assert_allclose(x, jnp.linalg.solve(A, b), rtol=1e-6)
    assert 0 < int(n_iter) < 100


def test_perfect_model_tiny_noise_recovers_the_truth():
    """No background term: with sigma = 1e-3 the analysis is the truth to ~1e-3."""
    sigma = 1e-3
    truth, y, mask, _ = twin_windows(MODEL, key=jax.random.key(7), length=8, n_windows=3,
                                     sigma=sigma)
    guess = truth[0, 0] + 0.5 * jax.random.normal(jax.random.key(8), (40,))
    xa, traj, cost, n_iter = jax.jit(lambda g: cycle_4dvar(
        MODEL, y[0], mask[0], g, sigma=sigma, max_iterations=200))(guess)
    err = np.sqrt(np.mean((np.asarray(xa) - np.asarray(truth[0, :-1:8])) ** 2, axis=-1))
    assert (err < 5 * sigma).all(), err
    # at the minimum the cost is chi-square-like: E = (obs - state) / 2 = (80 - 40) / 2
    assert (np.asarray(cost) < 60).all(), cost
    assert (np.asarray(n_iter) < 200).all()


def test_variants_agree_when_the_emulator_is_the_simulator():
    exact = Emulator(MODEL.tendency, MODEL.dt, mode="tendency", state_size=40)
    res = emulator_4dvar(key=jax.random.key(0), emulator=exact, window_lengths=(8,),
                         n_windows=3, n_trials=2, burn_in=1, max_iterations=50,
                         n_jacobian_states=8)
    out = res["windows"][8]
    assert res["history"] is None
    assert res["jacobian_error"] < 1e-12
    for name in VARIANTS[1:]:
        np.testing.assert_allclose(out[name]["per_window"], out["true"]["per_window"],
                                   rtol=1e-9)
    assert out["ratio_emulator_gradient"] == pytest.approx(1.0, rel=1e-9)
    assert 0.3 < out["true"]["rmse"] < 1.0  # sigma = 1, a quarter observed per step


def test_training_lowers_the_one_step_error():
    xs, ys = training_pairs(MODEL, key=jax.random.key(0), n_samples=512, n_trajectories=2)
    assert xs.shape == ys.shape == (512, 40)
    np.testing.assert_allclose(ys, jax.vmap(MODEL.step)(xs), rtol=1e-12)
    net = DeepEmulatorCNN(key=jax.random.key(1), final_widths=(64,), inter_widths=(32,))
    untrained = Emulator(net, MODEL.dt, state_size=40)
    baseline = float(jnp.mean(((jax.vmap(untrained.step)(xs) - ys) / MODEL.dt) ** 2))
    em, history = train_emulator(xs, ys, key=jax.random.key(2), dt=MODEL.dt, net=net,
                                 epochs=5, batch_size=16, learning_rate=1e-2)
    assert isinstance(em, Emulator) and em.dt == MODEL.dt
    assert history.epochs_run == 5
    # the untrained net's error is the tendency's size (~19 per time unit); 5 short
    # epochs cut the squared error by more than 10x (measured ~35x)
    assert history.val_loss[-1] < 0.1 * baseline
    assert history.val_loss[-1] < history.val_loss[0]


@pytest.mark.slow
def test_quick_experiment_emulator_gradients_as_good_as_the_adjoint():
    """The paper's claim, quick setting (~2 min on 2 cores): ratio <= 1.10."""
    res = emulator_4dvar(key=jax.random.key(0))
    assert res["jacobian_error"] < 0.1
    for length, out in res["windows"].items():
        assert out["ratio_emulator_gradient"] <= 1.10, (length, out)
        assert out["true"]["rmse"] < 1.0  # better than the observation noise
    # longer windows constrain the start state better (paper, Fig. 3)
    assert res["windows"][32]["true"]["rmse"] < res["windows"][8]["true"]["rmse"]
