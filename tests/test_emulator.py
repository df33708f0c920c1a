"""Learned models: Emulator, Corrected, SurrogateGradient.

They must pass the tests of the physical models (shapes, jit, vmap, tangent-linear/adjoint
consistency), reproduce the physical model when the net is the exact physics, and run in
the filters unchanged. Oracles: Lorenz-96 itself, the dot-product and Taylor tests, explicit
Jacobian products for the surrogate adjoint.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from assimilax.da import ETKF, Multiplicative, assimilate
from assimilax.da import variational as var
from assimilax.experiments import simulate_twin
from assimilax.ml.correction import Corrected, SurrogateGradient
from assimilax.ml.emulator import Emulator
from assimilax.models import (
    Euler,
    LinearModel,
    Lorenz96,
    forecast,
    forecast_ensemble,
    rollout,
)
from assimilax.models._lorenz96 import l96_advection
from assimilax.observations import DiagonalNoise, Every, Full

N = 8  # small ring: the point of these tests is the wrapping, not the physics


class L96Tendency(eqx.Module):
    """The exact Lorenz-96 right-hand side, as a 'net'."""

    forcing: float = 8.0

    def __call__(self, x, *, key=None):
        return l96_advection(x) - x + self.forcing


class Constant(eqx.Module):
    value: float

    def __call__(self, x, *, key=None):
        return jnp.full_like(x, self.value)


class LinearNet(eqx.Module):
    W: jax.Array

    def __call__(self, x, *, key=None):
        return self.W @ x


class Float32Net(eqx.Module):
    """A float32 network (as the package's nets): casts its input, returns float32."""

    layer: eqx.nn.Linear

    def __call__(self, x, *, key=None):
        return self.layer(x.astype(jnp.float32))


def mlp(key, scale=1.0):
    """A smooth (tanh) float64 MLP ``(N,) -> (N,)``, one hidden layer, output times ``scale``."""
    net = eqx.nn.MLP(N, N, 16, 1, activation=jnp.tanh, dtype=jnp.float64, key=key)
    return eqx.tree_at(lambda m: m.layers[-1].weight, net, scale * net.layers[-1].weight)


KEYS = jax.random.split(jax.random.PRNGKey(42), 4)
L96 = Lorenz96(n=N)

MODELS = {
    # Tendency of order L96's (|dx/dt| ~ 10) so the dynamics are non-trivial.
    "emulator_tendency": Emulator(mlp(KEYS[0], 5.0), 0.05, state_size=N),
    "emulator_resolvent": Emulator(mlp(KEYS[1], 0.3), 0.05, mode="resolvent", state_size=N),
    "corrected_tendency": Corrected(L96, mlp(KEYS[2], 0.5)),
    "corrected_resolvent": Corrected(L96, mlp(KEYS[3], 0.05), mode="resolvent"),
    # Consistent surrogate (same map): then the Taylor test must hold as for any model.
    "surrogate_gradient": SurrogateGradient(L96, Emulator(L96Tendency(), 0.05, state_size=N)),
}


EPS = np.logspace(-2, -5, 7)
X_ATTRACTOR = forecast(L96, L96.initial_condition(jax.random.PRNGKey(0)), 300)


@pytest.fixture(scope="module", params=list(MODELS))
def checks(request):
    """Everything the model tests look at, from one jitted program per model."""
    model = MODELS[request.param]
    x = X_ATTRACTOR
    E = x[None] + 0.1 * jax.random.normal(jax.random.PRNGKey(1), (4, N))
    U = jax.random.normal(jax.random.PRNGKey(2), (3, N))
    V = jax.random.normal(jax.random.PRNGKey(3), (3, N))
    u = U[0] / jnp.linalg.norm(U[0])
    # The derivative checks run on a 3-step forecast: it composes the one-step tangent
    # and adjoint maps (and the scan around them), so a wrong one-step map shows there.
    maps = {"forecast": lambda m, x: forecast(m, x, 3)}

    # Several small programs compile faster than one big one (XLA compile time is
    # superlinear in program size).
    basic = eqx.filter_jit(lambda m, x, E: {
        "step": m.step(x),
        "vmap": jax.vmap(m.step)(E),
        "loop": jax.lax.map(m.step, E),  # a scan over members: no batching rules
        "forecast_ensemble": forecast_ensemble(m, E, 2),
        "rollout": rollout(m, x, 6, every=2),
        "initial_condition": m.initial_condition(jax.random.PRNGKey(2)),
    })
    out = basic(model, x, E)
    # f at x + eps u (Taylor) and at x -+ 1e-4 u (centred difference).
    steps = jnp.concatenate([jnp.asarray(EPS), jnp.array([1e-4, -1e-4])])
    for name, g in maps.items():
        values = eqx.filter_jit(lambda m, X, g=g: jax.vmap(lambda x: g(m, x))(X))

        @eqx.filter_jit
        def derivatives(m, x, T, W, g=g):
            _, lin = jax.linearize(lambda x: g(m, x), x)
            adjoint = jax.linear_transpose(lin, x)
            return jax.vmap(lin)(T), jax.vmap(lambda w: adjoint(w)[0])(W)

        f_eps = values(model, jnp.concatenate([x[None], x + steps[:, None] * u]))
        Ju, JTv = derivatives(model, x, jnp.concatenate([U, u[None]]), V)
        out[name] = {
            "JuV": jnp.sum(Ju[:-1] * V, axis=1),
            "uJTv": jnp.sum(U * JTv, axis=1),
            "scale": jnp.linalg.norm(Ju[:-1], axis=1) * jnp.linalg.norm(V, axis=1),
            "fx": f_eps[0],
            "Ju": Ju[-1],
            "fd": (f_eps[-2] - f_eps[-1]) / 2e-4,
            "f_eps": f_eps[1:-2],
        }
    return request.param, model, x, jax.tree.map(np.asarray, out)


def test_shapes_jit_vmap(checks):
    _, model, x, out = checks
    assert model.state_size == N and model.grid.size == N
    assert model.dt == 0.05 and model.noise_std == 0.0
    y = out["step"]
    assert y.shape == x.shape and y.dtype == x.dtype and np.all(np.isfinite(y))
    # vmap over members is the member-wise step.
    np.testing.assert_allclose(out["vmap"], out["loop"], rtol=1e-13, atol=1e-13)
    assert out["forecast_ensemble"].shape == (4, N)
    assert out["rollout"].shape == (6, N) and np.all(np.isfinite(out["rollout"]))
    assert out["initial_condition"].shape == (N,)


def test_adjoint_dot_product(checks):
    """<J u, v> == <u, J^T v> for a 3-step forecast (3 pairs u, v)."""
    _, _, _, out = checks
    for name in ("forecast",):
        o = out[name]
        assert np.all(np.abs(o["JuV"] - o["uJTv"]) <= 1e-12 * o["scale"]), (name, o)


def test_tangent_linear_taylor(checks):
    """|f(x + eps u) - f(x) - eps J u| = O(eps^2) and J u matches a centred difference."""
    _, _, _, out = checks
    for name in ("forecast",):
        o = out[name]
        Ju = o["Ju"]
        np.testing.assert_allclose(o["fd"], Ju, rtol=0, atol=1e-6 * np.linalg.norm(Ju))
        res = np.linalg.norm(o["f_eps"] - o["fx"] - EPS[:, None] * Ju, axis=1)
        slope = np.polyfit(np.log(EPS), np.log(res), 1)[0]
        assert 1.9 <= slope <= 2.1, (name, slope, res)


def test_parameter_gradient_flows_through_forecast():
    """d/dtheta of a forecast loss (what training uses) matches a centred difference."""
    model = MODELS["emulator_tendency"]
    x = jnp.linspace(-1.0, 2.0, N)
    d = jax.tree.map(lambda a: jnp.ones_like(a) if eqx.is_inexact_array(a) else None, model)

    def loss(m):
        return jnp.sum(forecast(m, x, 4) ** 2)

    @eqx.filter_jit
    def both(m, h):
        g = eqx.filter_grad(loss)(m)
        directional = sum(jnp.vdot(a, b) for a, b in
                          zip(jax.tree.leaves(g), jax.tree.leaves(d), strict=True))
        plus = loss(eqx.apply_updates(m, jax.tree.map(lambda a: h * a, d)))
        minus = loss(eqx.apply_updates(m, jax.tree.map(lambda a: -h * a, d)))
        return directional, (plus - minus) / (2 * h)

    directional, fd = (float(v) for v in both(model, 1e-5))
    assert directional != 0.0
    assert abs(directional - fd) <= 1e-6 * abs(fd), (directional, fd)


# ---------------------------------------------------------------------------------------------
# Exact physics as the net
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def l96_start():
    model = Lorenz96(n=40)
    return model, forecast(model, model.initial_condition(jax.random.PRNGKey(3)), 200)


def test_emulator_with_exact_tendency_reproduces_lorenz96(l96_start):
    model, x = l96_start
    em = Emulator(L96Tendency(), model.dt, state_size=40)
    # Another integrator is honoured.
    eu = Emulator(L96Tendency(), model.dt, integrator=Euler(), state_size=40)

    @eqx.filter_jit
    def pairs(em, eu, model, x):
        return {
            "step": (em.step(x), model.step(x)),
            "tendency": (em.tendency(x), model.tendency(x)),
            "rollout": (rollout(em, x, 20), rollout(model, x, 20)),
            "euler": (eu.step(x), x + model.dt * model.tendency(x)),
        }

    for name, (got, want) in pairs(em, eu, model, x).items():
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12, err_msg=name)


def test_resolvent_emulator_is_x_plus_net(l96_start):
    model, x = l96_start
    W = 0.01 * jax.random.normal(jax.random.PRNGKey(4), (40, 40))
    em = Emulator(LinearNet(W), 0.05, mode="resolvent", state_size=40)
    np.testing.assert_allclose(em.step(x), x + W @ x, rtol=0, atol=1e-13)
    # A net equal to the exact increment reproduces the model.
    exact = Emulator(lambda z: model.step(z) - z, 0.05, mode="resolvent", state_size=40)
    np.testing.assert_allclose(exact.step(x), model.step(x), atol=1e-12)
    with pytest.raises(NotImplementedError, match="tendency"):
        em.tendency(x)


def test_corrected_tendency_with_constant_is_a_different_forcing(l96_start):
    _, x = l96_start
    corrected = Corrected(Lorenz96(n=40, forcing=7.5), Constant(0.5))
    target = Lorenz96(n=40, forcing=8.0)
    np.testing.assert_allclose(corrected.tendency(x), target.tendency(x), rtol=0, atol=1e-12)
    np.testing.assert_allclose(rollout(corrected, x, 20), rollout(target, x, 20), rtol=0,
                               atol=1e-12)
    # Corrections nest: two halves of 0.25.
    nested = Corrected(Corrected(Lorenz96(n=40, forcing=7.5), Constant(0.25)), Constant(0.25))
    np.testing.assert_allclose(nested.step(x), target.step(x), rtol=0, atol=1e-12)


def test_corrected_resolvent_adds_to_the_step(l96_start):
    model, x = l96_start
    W = 0.01 * jax.random.normal(jax.random.PRNGKey(5), (40, 40))
    c = Corrected(model, LinearNet(W), mode="resolvent")
    np.testing.assert_allclose(c.step(x), model.step(x) + W @ x, rtol=0, atol=1e-12)
    # Any model can be corrected in resolvent mode, also one without a tendency.
    lin = LinearModel(jnp.eye(3) * 0.5, dt=0.2)
    c2 = Corrected(lin, Constant(1.0), mode="resolvent")
    np.testing.assert_allclose(c2.step(jnp.ones(3)), jnp.full(3, 1.5), atol=1e-15)
    assert c2.dt == 0.2 and c2.state_size == 3


def test_delegation_to_the_wrapped_model():
    base = Lorenz96(n=12, dt=0.01, noise_std=0.3)
    c = Corrected(base, Constant(0.0))
    assert (c.dt, c.noise_std, c.state_size, c.grid) == (0.01, 0.3, 12, base.grid)
    k = jax.random.PRNGKey(0)
    np.testing.assert_array_equal(c.initial_condition(k), base.initial_condition(k))
    s = SurrogateGradient(base, Lorenz96(n=12, dt=0.01, forcing=5.0))
    assert (s.dt, s.noise_std, s.state_size, s.grid) == (0.01, 0.3, 12, base.grid)
    np.testing.assert_array_equal(s.initial_condition(k), base.initial_condition(k))


def test_float32_net_keeps_float64_state(l96_start):
    _, x = l96_start
    net = Float32Net(eqx.nn.Linear(40, 40, dtype=jnp.float32, key=jax.random.PRNGKey(6)))
    for model in (Emulator(net, 0.05, state_size=40),
                  Emulator(net, 0.05, mode="resolvent", state_size=40),
                  Corrected(Lorenz96(n=40), net),
                  Corrected(Lorenz96(n=40), net, mode="resolvent")):
        y = jax.eval_shape(lambda x, model=model: forecast(model, x, 3), x)  # traces all
        assert y.dtype == jnp.float64, type(model)


def test_noise_is_the_model_noise():
    em = Emulator(Constant(0.0), 0.25, mode="resolvent", noise_std=0.5, state_size=N)
    x = jnp.zeros(N)
    with pytest.raises(ValueError, match="key"):
        forecast(em, x, 2)
    keys = jax.random.split(jax.random.PRNGKey(0), 2000)
    out = np.asarray(jax.vmap(lambda k: forecast(em, x, 4, key=k))(keys))
    # Variance 4 * dt * q^2 = 0.25; the sample variance of 16000 normals is within 5 % (
    # relative standard error sqrt(2 / 16000) = 1.1 %).
    assert abs(out.var() / 0.25 - 1.0) < 0.05, out.var()


def test_validation_messages():
    with pytest.raises(ValueError, match="mode must be one of"):
        Emulator(Constant(0.0), 0.1, mode="residual", state_size=3)
    with pytest.raises(ValueError, match="mode must be one of"):
        Corrected(Lorenz96(n=4), Constant(0.0), mode="tendencies")
    with pytest.raises(ValueError, match="state_size"):
        Emulator(Constant(0.0), 0.1, state_size=0)
    with pytest.raises(ValueError, match="dt"):
        Emulator(Constant(0.0), 0.0, state_size=3)
    with pytest.raises(ValueError, match="no integrator"):
        Corrected(LinearModel(jnp.eye(3)), Constant(0.0))
    resolvent = Emulator(Constant(0.0), 0.1, mode="resolvent", state_size=4)
    with pytest.raises(ValueError, match="tendency"):
        Corrected(resolvent, Constant(0.0))
    with pytest.raises(ValueError, match="state sizes"):
        SurrogateGradient(Lorenz96(n=4), Lorenz96(n=5))
    with pytest.raises(ValueError, match="dt"):
        SurrogateGradient(Lorenz96(n=4), Lorenz96(n=4, dt=0.01))


# ---------------------------------------------------------------------------------------------
# SurrogateGradient
# ---------------------------------------------------------------------------------------------


def test_surrogate_gradient_values_and_derivatives():
    model = L96
    x = MODELS["surrogate_gradient"].model.initial_condition(jax.random.PRNGKey(7))
    surrogate = Lorenz96(n=N, forcing=6.0, integrator=Euler())  # a different Jacobian
    sg = SurrogateGradient(model, surrogate)
    u = jax.random.normal(jax.random.PRNGKey(7), (N,))

    @jax.jit
    def everything(x, u):
        y, Ju = jax.jvp(sg.step, (x,), (u,))
        _, lin = jax.linearize(sg.step, x)
        return {
            "step": sg.step(x),
            "y": y,
            "Ju": Ju,
            "vjp": jax.vjp(sg.step, x)[1](u)[0],
            "transpose": jax.linear_transpose(lin, x)(u)[0],
            "jacrev": jax.jacrev(sg.step)(x),
            "jacfwd": jax.jacfwd(sg.step)(x),
            "J_sur": jax.jacfwd(surrogate.step)(x),
            "J_model": jax.jacfwd(model.step)(x),
            "model": model.step(x),
        }

    out = everything(x, u)
    np.testing.assert_array_equal(out["step"], out["model"])
    np.testing.assert_array_equal(out["y"], out["model"])
    J_sur = out["J_sur"]
    np.testing.assert_allclose(out["Ju"], J_sur @ u, rtol=0, atol=1e-12)
    assert not np.allclose(out["Ju"], out["J_model"] @ u)
    np.testing.assert_allclose(out["vjp"], J_sur.T @ u, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out["transpose"], J_sur.T @ u, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out["jacrev"], J_sur, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out["jacfwd"], J_sur, rtol=0, atol=1e-12)
    # Under vmap over members.
    E = x[None] + jax.random.normal(jax.random.PRNGKey(8), (3, N))
    np.testing.assert_allclose(jax.jit(jax.vmap(sg.step))(E), jax.vmap(model.step)(E),
                               rtol=1e-14, atol=1e-14)


def test_surrogate_gradient_in_a_4dvar_window():
    """Cost on the true trajectory, gradient through the surrogate's Jacobians along it.

    Oracle: explicit products of the surrogate's one-step Jacobians at the true states,
    $g = v + \\sum_i (P_i B^{1/2})^T (-r_i / \\sigma)$, $P_i = J_{s}(x_{k_i - 1})\\cdots J_s(x_0)$.
    """
    model = L96
    x = forecast(model, model.initial_condition(jax.random.PRNGKey(10)), 100)
    surrogate = Lorenz96(n=N, forcing=7.0, integrator=Euler())
    sg = SurrogateGradient(model, surrogate)
    every, window, sigma = 2, 3, 0.7
    y = rollout(model, x, window, every=every) + 0.5
    mask = jnp.ones(y.shape, bool)
    B = var.DiagonalCovariance(0.4, N)
    xb = x - 0.2
    v = 0.3 * jax.random.normal(jax.random.PRNGKey(9), (N,))

    @eqx.filter_jit
    def cost_and_gradient(m, v):
        prob = var.Var4D(B, window=window).problem(m, xb, y, mask, Full(N),
                                                   DiagonalNoise(sigma), every)
        return prob.cost(v), prob.gradient(v)

    cost, grad = cost_and_gradient(sg, v)
    # The cost is that of the true model (an L96 trajectory), ...
    np.testing.assert_allclose(cost, cost_and_gradient(model, v)[0], rtol=1e-14)
    # Gradient by hand, with the surrogate's and (for contrast) the model's Jacobians.
    Bh = 0.4 * np.eye(N)  # DiagonalCovariance takes the standard deviation
    states = np.asarray(rollout(model, xb + Bh @ v, window * every))
    states = np.concatenate([np.asarray(xb + Bh @ v)[None], states])
    jacobians = jax.jit(jax.vmap(lambda x: (jax.jacfwd(surrogate.step)(x),
                                            jax.jacfwd(model.step)(x))))
    g = []
    for jac in jax.tree.map(np.asarray, jacobians(jnp.asarray(states))):
        gj, P = np.asarray(v).copy(), np.eye(N)
        for k in range(window * every):
            P = jac[k] @ P
            if (k + 1) % every == 0:
                r = (np.asarray(y[(k + 1) // every - 1]) - states[k + 1]) / sigma
                gj += (P @ Bh).T @ (-r / sigma)
        g.append(gj)
    # ... the gradient that of the surrogate's adjoint along it.
    np.testing.assert_allclose(grad, g[0], rtol=1e-10, atol=1e-10)
    assert np.linalg.norm(grad - g[1]) > 0.01 * np.linalg.norm(g[1])


# ---------------------------------------------------------------------------------------------
# In the filters
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def twin():
    model = Lorenz96(n=12)
    tw = simulate_twin(model, Every(12, 2), DiagonalNoise(1.0), cycles=12, every_steps=3,
                       ensemble_size=8, key=jax.random.PRNGKey(0), spinup_steps=200)
    return model, tw


def test_a_filter_cannot_tell_an_exact_emulator_from_the_model(twin):
    """ETKF, same keys: the same numbers (to round-off), the filter sees only ``step``.

    (A corrected model reproducing L96 step by step is tested above; the filter only ever
    calls ``forecast_ensemble``.)
    """
    model, tw = twin
    method = ETKF(inflation=Multiplicative(1.05))
    run = eqx.filter_jit(lambda m: assimilate(m, tw.observations, method, tw.ensemble0,
                                              key=jax.random.PRNGKey(1), truth=tw.truth))
    ref, res = run(model), run(Emulator(L96Tendency(), 0.05, state_size=12))
    np.testing.assert_allclose(res.mean_analysis, ref.mean_analysis, rtol=0, atol=1e-10)
    np.testing.assert_allclose(res.rmse_analysis, ref.rmse_analysis, rtol=0, atol=1e-10)
    assert bool(jnp.all(jnp.isfinite(ref.rmse_analysis)))
    assert float(jnp.mean(ref.rmse_analysis)) < 1.0  # the filter works (obs noise std 1)
