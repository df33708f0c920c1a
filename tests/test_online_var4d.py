"""Online learning of a model correction inside 4D-Var (``hybrid.OnlineVar4D``): its cost's
gradient in the network parameters against finite differences, and its two limits —
frozen parameters (strong-constraint 4D-Var with the corrected model) and a constant
"network" (weak-constraint 4D-Var in the forcing formulation)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from assimilax import models
from assimilax.da import assimilate
from assimilax.da import variational as var
from assimilax.experiments import simulate_twin
from assimilax.hybrid import OnlineVar4D, parameter_vector, with_parameters
from assimilax.ml import Corrected
from assimilax.ml.nets import MLP
from assimilax.observations import DiagonalNoise, Full

N = 8
WINDOW = 4
MODEL = models.Lorenz96(n=N, forcing=7.5)  # the physical model; the truth has F = 8
B = var.DiagonalCovariance(0.5, N)
SOLVER = var.GaussNewton(outer_loops=6, inner=var.DenseCholesky())


class Constant(eqx.Module):
    """A "network" returning its parameter whatever the state: a constant forcing."""

    eta: jax.Array

    def __call__(self, x):
        return self.eta


@pytest.fixture(scope="module")
def twin():
    truth = models.Lorenz96(n=N, forcing=8.0)
    return simulate_twin(truth, Full(truth.grid), DiagonalNoise(0.5), cycles=6 * WINDOW,
                         every_steps=2, ensemble_size=1, key=jax.random.key(0),
                         spinup_steps=200)


def _net():
    return MLP(N, N, widths=(6,), key=jax.random.key(3), activation=jnp.tanh,
               dtype=jnp.float64)


def _run(method, model, twin):
    return assimilate(model, twin.observations, method, twin.ensemble0,
                      key=jax.random.key(1), truth=twin.truth)


def test_parameters_round_trip():
    net = _net()
    theta = parameter_vector(net)
    assert theta.shape == (N * 6 + 6 + 6 * N + N,)
    again = with_parameters(net, theta + 1.0)
    np.testing.assert_array_equal(parameter_vector(again), theta + 1.0)


def test_gradient_in_the_parameters_passes_the_taylor_test(twin):
    """J(z + h d) - J(z) - h <grad J, d> = O(h^2) along a direction of the parameters only."""
    method = OnlineVar4D(_net(), B, 0.3, mode="tendency", window=WINDOW, solver=SOLVER)
    obs = twin.observations
    state = method.init_background(twin.truth[0] + 0.3)
    prob = method.problem(MODEL, state, obs.y[:WINDOW], obs.mask[:WINDOW], obs.operator,
                          obs.noise, obs.every_steps)
    keys = jax.random.split(jax.random.key(5), 3)
    v0 = jax.random.normal(keys[0], (N,), jnp.float64)
    w0 = jax.random.normal(keys[1], state[1].shape, jnp.float64)
    d = (jnp.zeros(N), jax.random.normal(keys[2], state[1].shape, jnp.float64))
    z0 = (v0, w0)
    cost = eqx.filter_jit(lambda z: prob.cost(z))
    J0 = cost(z0)
    g = eqx.filter_jit(jax.grad(lambda z: prob.cost(z)))(z0)
    slope = sum(jnp.vdot(a, b) for a, b in zip(g, d, strict=True))
    assert abs(float(slope)) > 1e-3  # the parameters do move the cost
    hs = np.array([1e-2, 5e-3, 2.5e-3, 1.25e-3])
    rem = np.array([abs(float(cost(jax.tree.map(lambda z, e, h=h: z + h * e, z0, d))
                              - J0 - h * slope)) for h in hs])
    orders = np.log(rem[:-1] / rem[1:]) / np.log(2.0)
    np.testing.assert_allclose(orders, 2.0, atol=0.1)
    # The Gauss-Newton adjoint gradient equals the reverse-mode one.
    r, jvp = jax.linearize(prob.residual, z0)
    (jtr,) = jax.linear_transpose(jvp, z0)(r)
    for a, b, z in zip(g, jtr, z0, strict=True):
        np.testing.assert_allclose(a, z + b, rtol=1e-10, atol=1e-10)


def test_frozen_parameters_are_strong_constraint_4dvar_with_the_corrected_model(twin):
    net = _net()
    online = _run(OnlineVar4D(net, B, 0.0, mode="tendency", window=WINDOW, solver=SOLVER),
                  MODEL, twin)
    strong = _run(var.Var4D(B, window=WINDOW, solver=SOLVER),
                  Corrected(MODEL, net, mode="tendency"), twin)
    np.testing.assert_allclose(online.mean_analysis, strong.mean_analysis, rtol=0, atol=1e-10)
    np.testing.assert_allclose(online.series["parameter_change"], 0.0, atol=0)


@pytest.mark.parametrize("q", [0.05, 0.3])
def test_a_constant_network_is_weak_constraint_4dvar(twin, q):
    """theta = eta, P_theta = q^2 I: the minimiser of weak 4D-Var with Q = q^2 I, one
    sub-window, the analysed forcing cycled as the next background."""
    online = _run(OnlineVar4D(Constant(jnp.zeros(N)), B, q, mode="tendency", window=WINDOW,
                              solver=SOLVER), MODEL, twin)
    weak = _run(var.WeakVar4D(B, var.DiagonalCovariance(q, N), window=WINDOW, subwindows=1,
                              solver=SOLVER), MODEL, twin)
    np.testing.assert_allclose(online.mean_analysis, weak.mean_analysis, rtol=0, atol=1e-8)
    np.testing.assert_allclose(online.mean_forecast, weak.mean_forecast, rtol=0, atol=1e-8)
    forcing = weak.series["forcing"]  # (time, state): the analysed forcing of each window
    change = np.sqrt(np.mean(np.asarray(forcing) ** 2, axis=-1))
    np.testing.assert_allclose(online.series["parameter_change"], change, rtol=0, atol=1e-8)


def test_online_learning_reduces_the_error_of_a_biased_model(twin):
    """The forcing error (7.5 against 8) is learned: the analysis beats strong 4D-Var with
    the biased model once the first windows are past."""
    online = _run(OnlineVar4D(Constant(jnp.zeros(N)), B, 0.3, window=WINDOW, solver=SOLVER),
                  MODEL, twin)
    strong = _run(var.Var4D(B, window=WINDOW, solver=SOLVER), MODEL, twin)
    late = slice(2 * WINDOW, None)
    assert float(online.rmse_analysis[late].mean()) < float(strong.rmse_analysis[late].mean())


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"sigma_theta": -1.0}, "finite and >= 0"),
    ({"sigma_theta": jnp.ones(3)}, "one value per network parameter"),
    ({"sigma_theta": 0.1, "window": 0}, "window >= 1"),
    ({"sigma_theta": 0.1, "mode": "both"}, "'tendency' or 'resolvent'"),
])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        OnlineVar4D(_net(), B, **kwargs)
