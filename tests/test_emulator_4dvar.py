"""4D-Var with emulator gradients (Nonnenmacher & Greenberg 2021): pieces and the claim.

Fast (the rotating observation operator is tested in tests/test_observations.py, the
network in tests/test_ml_nets.py): the interpolated first guess, the no-background cost
(``da.variational.NoBackgroundWindow``) and its adjoint gradient against finite
differences, L-BFGS (``da.variational.LBFGS``), recovery of the truth by a perfect model
with tiny observation noise, and the three variants agreeing when the "emulator" is the
simulator itself. Slow: the quick experiment (trained CNN,
windows of 8 and 32 steps) meets the paper's claim that 4D-Var with emulator gradients is
as accurate as with the exact adjoint (analysis RMSE within 10 %).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from assimilax.da.variational import LBFGS, NoBackgroundWindow, Var4D
from assimilax.experiments import Config
from assimilax.experiments.hybrids._emulator_4dvar import emulator_4dvar_experiment, rotating_twins
from assimilax.experiments.presets._nonnenmacher2021 import emulator_4dvar_config
from assimilax.hybrid import (
    VARIANTS,
    Emulator4DVar,
    first_guess_interpolation,
    train_emulator,
    training_pairs,
)
from assimilax.ml.correction import SurrogateGradient
from assimilax.ml.emulator import Emulator
from assimilax.ml.nets import DeepEmulatorCNN
from assimilax.models import Lorenz96
from assimilax.observations import DiagonalNoise, Full, Observations, RotatingSubset

MODEL = Lorenz96(n=40, forcing=8.0, dt=0.0125)


def twin_windows(model, *, key, length, n_windows, n_trials=1, sigma=1.0):
    """The shared twin on the rotating quarter: truth, windows of observations, guesses."""
    tw = rotating_twins(model, key=key, steps=length * n_windows, trials=n_trials,
                        sigma=sigma)
    shape = (n_trials, n_windows, length, model.state_size)
    obs = tw.observations
    return tw.truth, obs.y.reshape(shape), obs.mask.reshape(shape), tw.first_guess


def window_cost(model, x0, y, mask, sigma=1.0):
    window = NoBackgroundWindow(model, y, mask, RotatingSubset(40), DiagonalNoise(sigma))
    return window.cost(x0)


def window_trajectory(model, x0, length):
    y = jnp.zeros((length, 40))
    return NoBackgroundWindow(model, y, y > 0, Full(40), DiagonalNoise(1.0)).trajectory(x0)


def lbfgs_minimise(fun, x0, **options):
    return LBFGS(**options).solve(fun, x0)


def cycle_4dvar(model, y, mask, first_guess, *, sigma=1.0, max_iterations=100):
    method = Emulator4DVar(window=y.shape[1], solver=LBFGS(max_iterations=max_iterations))
    obs = Observations(RotatingSubset(40), DiagonalNoise(sigma), y.reshape(-1, 40),
                       mask.reshape(-1, 40))
    return method.cycle(model, obs, first_guess)


def experiment_config(**hybrid):
    """The nonnenmacher2021 member of one window length, with [hybrid] overrides."""
    config = emulator_4dvar_config(window=hybrid.pop("window", 8),
                                   windows=hybrid.pop("windows", 6),
                                   trials=hybrid.pop("trials", 4),
                                   training_samples=4000, epochs=10)
    data = config.to_dict()
    data["hybrid"].update(hybrid)
    return Config.from_dict(data)


@pytest.fixture(scope="module")
def window():
    """A window of 8 steps on the attractor: start state, observations, mask."""
    truth, y, mask, _ = twin_windows(MODEL, key=jax.random.key(3), length=8, n_windows=1)
    return truth[0, 0], y[0, 0], mask[0, 0]


def test_first_guess_interpolates_periodically():
    y = jnp.array([1.0, 0, 0, 0, 5.0, 0, 0, 0])
    out = first_guess_interpolation(y, y != 0)
    np.testing.assert_allclose(out, [1, 2, 3, 4, 5, 4, 3, 2])
    # observed values are kept; a single observation gives a constant field
    one = first_guess_interpolation(jnp.array([0, 0, 3.0, 0]), jnp.array([0, 0, 1, 0]) > 0)
    np.testing.assert_allclose(one, [3, 3, 3, 3])


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


def test_lbfgs_minimises_a_pytree_and_is_a_solver_of_var4d():
    """On a pytree control, and as the solver of an incremental 4D-Var (cost
    1/2|v|^2 + 1/2|r(v)|^2): the same minimum as Gauss-Newton for a linear residual."""
    A = jnp.diag(jnp.linspace(1.0, 5.0, 4))

    def residual(z):
        return (A @ z["a"] - 1.0, 2.0 * z["b"] + 3.0)

    z0 = {"a": jnp.zeros(4), "b": jnp.zeros(2)}
    z = jax.jit(lambda z0: LBFGS(ftol=1e-14).minimise(residual, z0))(z0)
    np.testing.assert_allclose(z["a"], jnp.linalg.solve(jnp.eye(4) + A.T @ A, A.T @ jnp.ones(4)),
                               rtol=1e-6)
    np.testing.assert_allclose(z["b"], -6.0 / 5.0, rtol=1e-6)
    from assimilax.da.variational import DiagonalCovariance
    from assimilax.da.variational import GaussNewton as GN
    B = DiagonalCovariance(jnp.ones(40))
    steps = jnp.zeros((4, 40))
    x = MODEL.initial_condition(jax.random.key(0))
    prob_gn = Var4D(background=B, window=4).problem(
        MODEL, x, steps, steps > -1, Full(40), DiagonalNoise(1.0), 1)
    v_gn = GN().minimise(prob_gn.residual, prob_gn.zero())
    v_lb = LBFGS(ftol=1e-14, max_iterations=500).minimise(prob_gn.residual, prob_gn.zero())
    np.testing.assert_allclose(prob_gn.cost(v_lb), prob_gn.cost(v_gn), rtol=1e-6)


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
    config = experiment_config(window=8, windows=3, trials=2, burn_in_windows=1,
                               max_iterations=50, jacobian_states=8)
    res = emulator_4dvar_experiment(config, emulator=exact)
    out = res.result
    assert res.history is None
    assert res.errors.jacobian_error < 1e-12
    for name in VARIANTS[1:]:
        np.testing.assert_allclose(out.variant(name).per_window, out.true.per_window,
                                   rtol=1e-9)
    assert out.ratio_emulator_gradient == pytest.approx(1.0, rel=1e-9)
    assert 0.3 < out.true.rmse < 1.0  # sigma = 1, a quarter observed per step


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
    first = emulator_4dvar_experiment(experiment_config(window=8))
    res = {8: first, 32: emulator_4dvar_experiment(experiment_config(window=32),
                                                   emulator=first.emulator)}
    assert first.errors.jacobian_error < 0.1
    for length, out in ((k, v.result) for k, v in res.items()):
        assert out.ratio_emulator_gradient <= 1.10, (length, out)
        assert out.true.rmse < 1.0  # better than the observation noise
    # longer windows constrain the start state better (paper, Fig. 3)
    assert res[32].result.true.rmse < res[8].result.true.rmse
