"""Models: integrator order, tangent-linear/adjoint consistency, tendencies, climate, noise.

Oracles: closed-form ODE solutions, the dot-product test, Taylor remainders, direct NumPy
implementations of the tendencies, published Lorenz-96 climatology and chi-square bounds.
"""

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from assimilax.models import (
    QG,
    RK4,
    AbstractIntegrator,
    AbstractModel,
    AbstractODEModel,
    Euler,
    LinearModel,
    Lorenz63,
    Lorenz96,
    TwoScaleLorenz96,
    forecast,
    forecast_ensemble,
    rollout,
)

# ---------------------------------------------------------------------------------------------
# Closed-form ODEs for the integrator order
# ---------------------------------------------------------------------------------------------


class Oscillator(AbstractODEModel):
    """Harmonic oscillator ``x' = omega * (x2, -x1)``: a rotation, ``x(t) = R(omega t) x0``."""

    omega: float = 2.0
    dt: float = 0.1
    noise_std: float = 0.0
    integrator: AbstractIntegrator = RK4()

    @property
    def state_size(self):
        return 2

    def tendency(self, x):
        return self.omega * jnp.stack([x[1], -x[0]])


def oscillator_exact(x0, omega, t):
    c, s = np.cos(omega * t), np.sin(omega * t)
    return np.array([c * x0[0] + s * x0[1], -s * x0[0] + c * x0[1]])


class Logistic(AbstractODEModel):
    """Logistic growth ``x' = x(1 - x)`` (nonlinear), ``x(t) = 1 / (1 + (1/x0 - 1) e^{-t})``."""

    dt: float = 0.1
    noise_std: float = 0.0
    integrator: AbstractIntegrator = RK4()

    @property
    def state_size(self):
        return 3

    def tendency(self, x):
        return x * (1.0 - x)


def logistic_exact(x0, t):
    return 1.0 / (1.0 + (1.0 / x0 - 1.0) * np.exp(-t))


def observed_order(errors, dts):
    """Slope of log(error) against log(dt) (least squares)."""
    return np.polyfit(np.log(dts), np.log(errors), 1)[0]


@pytest.mark.parametrize(
    ("integrator", "steps", "lo", "hi"),
    [
        (RK4(), (16, 32, 64, 128), 3.8, 4.2),
        (Euler(), (400, 800, 1600, 3200), 0.95, 1.05),
    ],
    ids=["rk4", "euler"],
)
def test_integrator_order_on_oscillator(integrator, steps, lo, hi):
    T, omega = 2.0, 2.0
    x0 = np.array([1.0, 0.5])
    exact = oscillator_exact(x0, omega, T)
    errors, dts = [], []
    for n in steps:
        model = Oscillator(omega=omega, dt=T / n, integrator=integrator)
        x = forecast(model, jnp.asarray(x0), n)
        errors.append(np.linalg.norm(np.asarray(x) - exact))
        dts.append(T / n)
    order = observed_order(errors, dts)
    assert lo <= order <= hi, (order, errors)
    assert integrator.order == round(order)


@pytest.mark.parametrize(
    ("integrator", "steps", "lo", "hi"),
    [
        (RK4(), (8, 16, 32, 64), 3.8, 4.2),
        (Euler(), (200, 400, 800, 1600), 0.95, 1.05),
    ],
    ids=["rk4", "euler"],
)
def test_integrator_order_on_nonlinear_logistic(integrator, steps, lo, hi):
    T = 3.0
    x0 = np.array([0.1, 0.5, 2.0])
    exact = logistic_exact(x0, T)
    errors, dts = [], []
    for n in steps:
        model = Logistic(dt=T / n, integrator=integrator)
        x = forecast(model, jnp.asarray(x0), n)
        errors.append(np.linalg.norm(np.asarray(x) - exact))
        dts.append(T / n)
    order = observed_order(errors, dts)
    assert lo <= order <= hi, (order, errors)


def test_rk4_single_step_matches_taylor_of_linear_flow():
    # For x' = A x one RK4 step is exactly the 4th-order Taylor polynomial of exp(dt A).
    A = np.array([[-0.3, 1.2], [-0.7, 0.1]])
    dt = 0.37
    x0 = np.array([0.4, -1.3])
    f = lambda x: jnp.asarray(A) @ x  # noqa: E731
    got = np.asarray(RK4().step(f, jnp.asarray(x0), dt))
    B = dt * A
    taylor = np.eye(2) + B + B @ B / 2 + B @ B @ B / 6 + B @ B @ B @ B / 24
    np.testing.assert_allclose(got, taylor @ x0, rtol=1e-14, atol=1e-14)


# ---------------------------------------------------------------------------------------------
# Tangent linear and adjoint for every model
# ---------------------------------------------------------------------------------------------


def _random_linear_model():
    rng = np.random.default_rng(3)
    M = rng.standard_normal((7, 7)) / np.sqrt(7)
    return LinearModel(jnp.asarray(M))


MODELS = {
    "lorenz63": (Lorenz63(), 10),
    "lorenz96": (Lorenz96(n=40), 10),
    "two_scale": (TwoScaleLorenz96(K=4, J=3), 10),
    "linear": (_random_linear_model(), 10),
    "qg": (QG(nx=16, ny=8), 10),  # two-layer QG channel, 256 variables, 10 hourly steps
}
SLOW_MODELS = {"qg"}
"""Entries whose derivative programs take tens of seconds to compile: the slow suite (the
default suite checks the QG's one-step adjoint and Taylor test in tests/test_qg.py)."""


@pytest.fixture(scope="module", params=[
    pytest.param(name, marks=pytest.mark.slow) if name in SLOW_MODELS else name
    for name in MODELS
])
def model_point(request):
    """A model, a point on (or near) its attractor, and the multi-step length."""
    model, n_steps = MODELS[request.param]
    x = model.initial_condition(jax.random.PRNGKey(0))
    if not isinstance(model, LinearModel):
        x = forecast(model, x, 500)  # onto the attractor
    maps = {
        "one_step": jax.jit(lambda x: model.step(x)),
        "forecast": jax.jit(lambda x: forecast(model, x, n_steps)),
    }
    return request.param, model, x, maps


def test_adjoint_dot_product(model_point):
    """<J u, v> == <u, J^T v> for the one-step map and a multi-step forecast."""
    _, _, x, maps = model_point
    keys = jax.random.split(jax.random.PRNGKey(1), 6)
    for name, f in maps.items():
        y, vjp = jax.vjp(f, x)
        for i in range(3):
            u = jax.random.normal(keys[2 * i], x.shape)
            v = jax.random.normal(keys[2 * i + 1], y.shape)
            _, Ju = jax.jvp(f, (x,), (u,))
            (JTv,) = vjp(v)
            lhs, rhs = float(jnp.vdot(Ju, v)), float(jnp.vdot(u, JTv))
            scale = float(jnp.linalg.norm(Ju) * jnp.linalg.norm(v))
            assert abs(lhs - rhs) <= 1e-12 * scale, (name, lhs, rhs)


def test_adjoint_against_finite_differences(model_point):
    """J^T v against finite differences of the forward model itself: component i of the
    adjoint is d<v, f(x)>/dx_i, a centred difference along e_i (no derivative of JAX's
    involved on the reference side)."""
    _, _, x, maps = model_point
    v = jax.random.normal(jax.random.PRNGKey(3), x.shape)
    h = 1e-5 * max(1.0, float(jnp.max(jnp.abs(x))))
    basis = jnp.eye(x.size, dtype=x.dtype).reshape((x.size, *x.shape))
    for name, f in maps.items():
        (JTv,) = jax.vjp(f, x)[1](v)
        g = jax.jit(jax.vmap(lambda e, f=f: jnp.vdot(v, f(x + h * e) - f(x - h * e)) / (2 * h)))
        fd = g(basis).reshape(x.shape)
        np.testing.assert_allclose(JTv, fd, rtol=0, atol=1e-6 * float(jnp.linalg.norm(JTv)),
                                   err_msg=name)


def test_tangent_linear_taylor(model_point):
    """|f(x + eps u) - f(x) - eps J u| = O(eps^2): log-log slope ~ 2 over eps = 1e-2 .. 1e-5."""
    label, _, x, maps = model_point
    u = jax.random.normal(jax.random.PRNGKey(2), x.shape)
    u = u / jnp.linalg.norm(u)
    eps = np.logspace(-2, -5, 7)
    for name, f in maps.items():
        fx, Ju = jax.jvp(f, (x,), (u,))
        # The first-order term must match a centred finite difference to O(eps^2).
        fd = (f(x + 1e-4 * u) - f(x - 1e-4 * u)) / 2e-4
        np.testing.assert_allclose(fd, Ju, rtol=0, atol=1e-6 * float(jnp.linalg.norm(Ju)))
        res = np.array([float(jnp.linalg.norm(f(x + e * u) - fx - e * Ju)) for e in eps])
        if label == "linear":
            # Exactly linear: the remainder is round-off only.
            assert np.all(res <= 1e-13 * float(jnp.linalg.norm(fx))), res
            continue
        slope = observed_order(res, eps)
        assert 1.9 <= slope <= 2.1, (name, slope, res)


# ---------------------------------------------------------------------------------------------
# Tendencies against direct implementations
# ---------------------------------------------------------------------------------------------


def l96_numpy(x, F):
    return (np.roll(x, -1) - np.roll(x, 2)) * np.roll(x, 1) - x + F


@pytest.mark.parametrize("n", [4, 5, 40])
def test_lorenz96_tendency_matches_numpy_roll(n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n) * 3 + 2
    model = Lorenz96(n=n, forcing=8.5)
    np.testing.assert_allclose(model.tendency(jnp.asarray(x)), l96_numpy(x, 8.5), rtol=1e-14,
                               atol=1e-13)
    # Batched along leading axes too.
    X = rng.standard_normal((3, n))
    got = np.asarray(model.tendency(jnp.asarray(X)))
    np.testing.assert_allclose(got, np.stack([l96_numpy(r, 8.5) for r in X]), atol=1e-13)


def two_scale_loops(x, K, J, F, h, b, c):
    """Direct transcription of the docstring equations, element by element."""
    X = x[:K]
    Y = x[K:]  # Y_{j,k} at K*... index k*J + j; one ring of length K*J.
    KJ = K * J
    dX = np.zeros(K)
    for k in range(K):
        ysum = sum(Y[k * J + j] for j in range(J))
        dX[k] = X[(k - 1) % K] * (X[(k + 1) % K] - X[(k - 2) % K]) - X[k] + F - h * c / b * ysum
    dY = np.zeros(KJ)
    for k in range(K):
        for j in range(J):
            g = k * J + j
            dY[g] = (
                -c * b * Y[(g + 1) % KJ] * (Y[(g + 2) % KJ] - Y[(g - 1) % KJ])
                - c * Y[g]
                + h * c / b * X[k]
            )
    return np.concatenate([dX, dY])


@pytest.mark.parametrize(("K", "J"), [(4, 3), (6, 5), (36, 10)])
def test_two_scale_tendency_matches_loops(K, J):
    rng = np.random.default_rng(K * J)
    params = dict(F=9.0, h=0.8, b=7.0, c=12.0)
    model = TwoScaleLorenz96(K=K, J=J, **params)
    x = np.concatenate([rng.standard_normal(K) * 3 + 2, rng.standard_normal(K * J) * 0.3])
    got = np.asarray(model.tendency(jnp.asarray(x)))
    np.testing.assert_allclose(got, two_scale_loops(x, K, J, **params), rtol=1e-13, atol=1e-12)
    assert model.state_size == K + K * J
    Xs, Ys = model.split(jnp.asarray(x))
    assert Xs.shape == (K,) and Ys.shape == (K, J)
    np.testing.assert_array_equal(np.asarray(Ys)[1], x[K + J : K + 2 * J])


def test_two_scale_grid_positions():
    model = TwoScaleLorenz96(K=4, J=2)
    g = model.grid
    assert g.size == model.state_size and g.period == 4.0
    assert g.coords[:4] == (0.0, 1.0, 2.0, 3.0)
    assert g.coords[4:] == (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5)


def test_lorenz63_tendency_and_fixed_points():
    s, r, bt = 10.0, 28.0, 8.0 / 3.0
    model = Lorenz63(sigma=s, rho=r, beta=bt)
    x = np.array([1.3, -0.4, 20.0])
    expected = [s * (x[1] - x[0]), x[0] * (r - x[2]) - x[1], x[0] * x[1] - bt * x[2]]
    np.testing.assert_allclose(model.tendency(jnp.asarray(x)), expected, rtol=1e-14)
    a = np.sqrt(bt * (r - 1))
    for p in ([0.0, 0.0, 0.0], [a, a, r - 1], [-a, -a, r - 1]):
        p = jnp.asarray(p)
        np.testing.assert_allclose(model.tendency(p), 0.0, atol=1e-12)
        np.testing.assert_allclose(forecast(model, p, 50), p, atol=1e-11)


def test_lorenz96_fixed_point_and_shapes():
    model = Lorenz96(n=10, forcing=8.0)
    xf = jnp.full((10,), 8.0)  # x_i = F is the symmetric fixed point
    np.testing.assert_allclose(model.tendency(xf), 0.0, atol=1e-14)
    traj = rollout(model, xf + 0.01 * jnp.arange(10.0), 7, every=2)
    assert traj.shape == (7, 10)


def test_lorenz96_climatology():
    """n=40, F=8: long-run mean ~2.3 and std ~3.6 (Lorenz & Emanuel 1998; rounded to 0.05).

    The tolerance is the published rounding (0.05) plus 4 standard errors estimated by batch
    means over 30 blocks of 10 model time units (much longer than the ~1 unit decorrelation).
    """
    model = Lorenz96(n=40, forcing=8.0)
    x0 = forecast(model, model.initial_condition(jax.random.PRNGKey(5)), 2000)
    blocks, steps = 30, 200
    traj = np.asarray(jax.jit(lambda x: rollout(model, x, blocks * steps))(x0))
    traj = traj.reshape(blocks, steps * 40)
    mean = traj.mean()
    std = traj.std()
    block_means = traj.mean(axis=1)
    block_stds = traj.std(axis=1)
    se_mean = block_means.std(ddof=1) / np.sqrt(blocks)
    se_std = block_stds.std(ddof=1) / np.sqrt(blocks)
    assert abs(mean - 2.3) <= 0.05 + 4 * se_mean, (mean, se_mean)
    assert abs(std - 3.6) <= 0.05 + 4 * se_std, (std, se_std)


# ---------------------------------------------------------------------------------------------
# Rollouts and model noise
# ---------------------------------------------------------------------------------------------


def test_rollout_rows_are_forecasts():
    model = Lorenz96(n=12)
    x0 = model.initial_condition(jax.random.PRNGKey(0))
    traj = rollout(model, x0, 4, every=3)
    for k in range(4):
        np.testing.assert_allclose(traj[k], forecast(model, x0, 3 * (k + 1)), rtol=1e-12,
                                   atol=1e-12)


def _chi2_bounds(dof, alpha=1e-6):
    return stats.chi2.ppf(alpha / 2, dof), stats.chi2.ppf(1 - alpha / 2, dof)


def test_model_noise_one_step_variance_is_dt_q2():
    """forecast over one step adds sqrt(dt) q N(0, I): sum of squares / (dt q^2) ~ chi2."""
    q, n_keys = 0.3, 1000
    model = Lorenz96(n=40, noise_std=q)
    x0 = forecast(Lorenz96(n=40), model.initial_condition(jax.random.PRNGKey(0)), 300)
    keys = jax.random.split(jax.random.PRNGKey(7), n_keys)
    out = jax.vmap(lambda k: forecast(model, x0, 1, key=k))(keys)
    inc = np.asarray(out - model.step(x0))  # the deterministic part is the noiseless step
    stat = np.sum(inc**2) / (model.dt * q**2)
    lo, hi = _chi2_bounds(inc.size)
    assert lo <= stat <= hi, (stat, inc.size)
    # Zero mean and independent components (|correlation| < 5 / sqrt(samples)).
    z = inc.ravel() / np.sqrt(model.dt * q**2)
    assert abs(z.mean()) < 5 / np.sqrt(z.size)
    corr = np.corrcoef(inc[:, 0], inc[:, 1])[0, 1]
    assert abs(corr) < 5 / np.sqrt(n_keys)


def test_model_noise_accumulates_over_steps():
    """With M = I the increment over k steps has variance k dt q^2."""
    q, dt, k, n = 0.7, 0.5, 4, 5
    model = LinearModel(jnp.eye(n), dt=dt, noise_std=q)
    keys = jax.random.split(jax.random.PRNGKey(11), 4000)
    out = np.asarray(jax.vmap(lambda kk: forecast(model, jnp.ones(n), k, key=kk))(keys)) - 1.0
    stat = np.sum(out**2) / (k * dt * q**2)
    lo, hi = _chi2_bounds(out.size)
    assert lo <= stat <= hi, stat


def test_noisy_forecast_requires_key_and_is_reproducible():
    model = Lorenz96(n=8, noise_std=0.1)
    x0 = jnp.linspace(0.0, 1.0, 8)
    with pytest.raises(ValueError, match="key"):
        forecast(model, x0, 3)
    with pytest.raises(ValueError, match="key"):
        rollout(model, x0, 3)
    with pytest.raises(ValueError, match="key"):
        forecast_ensemble(model, jnp.stack([x0, x0]), 3)
    k = jax.random.PRNGKey(0)
    np.testing.assert_array_equal(forecast(model, x0, 3, key=k), forecast(model, x0, 3, key=k))
    assert not np.allclose(forecast(model, x0, 3, key=k),
                           forecast(model, x0, 3, key=jax.random.PRNGKey(1)))


def test_forecast_ensemble_members_get_independent_noise():
    model = Lorenz96(n=8, noise_std=0.5)
    x0 = jnp.linspace(0.0, 1.0, 8)
    E = jnp.stack([x0] * 4)
    out = forecast_ensemble(model, E, 2, key=jax.random.PRNGKey(3))
    assert out.shape == (4, 8)
    for i in range(4):
        for j in range(i):
            assert not np.allclose(out[i], out[j])
    # Without noise it is the member-wise forecast.
    det = Lorenz96(n=8)
    E2 = E + jnp.arange(4.0)[:, None]
    np.testing.assert_allclose(forecast_ensemble(det, E2, 3),
                               jnp.stack([forecast(det, e, 3) for e in E2]), atol=1e-13)


def test_linear_model_validation_and_step():
    with pytest.raises(ValueError):
        LinearModel(jnp.ones((3, 4)))
    M = jnp.asarray(np.random.default_rng(0).standard_normal((3, 3)))
    x = jnp.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(LinearModel(M).step(x), M @ x, atol=1e-14)
    np.testing.assert_allclose(forecast(LinearModel(M), x, 3), M @ M @ M @ x, atol=1e-12)


def test_models_are_jittable_pytrees():
    model = Lorenz96(n=10, forcing=8.0)
    f = eqx.filter_jit(lambda m, x: forecast(m, x, 5))
    x = jnp.linspace(0.0, 1.0, 10)
    a = f(model, x)
    b = f(Lorenz96(n=10, forcing=9.0), x)  # forcing is a leaf: same trace, different value
    assert not np.allclose(a, b)
    np.testing.assert_allclose(a, forecast(model, x, 5), atol=1e-12)


class _RandomWalk(AbstractModel):
    """A stochastic model: each step adds N(0, 1) drawn from its own key."""

    n: int = 3
    dt: float = 1.0
    noise_std: float = 0.0
    stochastic: ClassVar[bool] = True

    @property
    def state_size(self):
        return self.n

    def step(self, x, *, key=None):
        return x + jax.random.normal(key, x.shape, x.dtype)


def test_a_stochastic_model_gets_a_key_per_member_and_per_step():
    model = _RandomWalk()
    E0 = jnp.zeros((4, 3))
    a = forecast_ensemble(model, E0, 5, key=jax.random.key(0))
    b = forecast_ensemble(model, E0, 5, key=jax.random.key(0))
    np.testing.assert_array_equal(a, b)  # reproducible
    assert len({tuple(np.round(np.asarray(row), 12)) for row in a}) == 4  # members differ
    # Five independent N(0, 1) increments: the variance over many members is 5.
    many = forecast_ensemble(model, jnp.zeros((4000, 3)), 5, key=jax.random.key(1))
    var = float(jnp.var(many))
    assert abs(var - 5.0) < 5 * 5.0 * np.sqrt(2 / 12000)  # 5 standard errors
    with pytest.raises(ValueError, match="key"):
        forecast_ensemble(model, E0, 5)
