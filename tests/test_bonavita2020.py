"""A neural prior for the model-error forcing of weak-constraint 4D-Var (Bonavita &
Laloyaux 2020): ``WeakVar4D(forcing_prior=g)`` against the plain method window by window
(a constant prior equal to the cycled forcing is the plain method; a state-dependent one
is a fresh background forcing per window), the window cost's gradient by a Taylor test, the
increment-to-tendency pairs, the network's training on a known function, the true
model-error tendency of two twins, the ``[hybrid]`` section's checks, and (slow) the quick
preset."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from _config_helpers import changed
from assimilax import hybrid, models
from assimilax.da import assimilate
from assimilax.da import variational as var
from assimilax.experiments import simulate_twin
from assimilax.experiments.config import Config, ConfigError
from assimilax.observations import DiagonalNoise, Full

N = 8
WINDOW = 4
MODEL = models.Lorenz96(n=N, forcing=7.5)  # the truth has F = 8
B = var.DiagonalCovariance(0.5, N)
Q = var.DiagonalCovariance(0.3, N)
SOLVER = var.GaussNewton(outer_loops=4, inner=var.DenseCholesky())


class Prior(eqx.Module):
    """A state-dependent forcing prior: ``a + b tanh(x / 4)``."""

    a: jax.Array
    b: float = 0.2

    def __call__(self, x):
        return self.a + self.b * jnp.tanh(x / 4.0)


@pytest.fixture(scope="module")
def twin():
    truth = models.Lorenz96(n=N, forcing=8.0)
    return simulate_twin(truth, Full(truth.grid), DiagonalNoise(0.5), cycles=3 * WINDOW,
                         every_steps=2, ensemble_size=1, key=jax.random.key(0),
                         spinup_steps=200)


def _run(method, twin):
    return assimilate(MODEL, twin.observations, method, twin.ensemble0, key=jax.random.key(1),
                      truth=twin.truth)


def _window(twin, k):
    obs = twin.observations
    rows = slice(k * WINDOW, (k + 1) * WINDOW)
    return obs.y[rows], obs.mask[rows], obs.operator, obs.noise, obs.every_steps


def test_a_constant_prior_equal_to_the_cycled_forcing_is_the_plain_method(twin):
    """One window from (x_b, eta): the prior g(x) = eta gives the plain method's analysis,
    background and forcing exactly, whatever the carried forcing."""
    plain = var.WeakVar4D(B, Q, window=WINDOW, solver=SOLVER)
    eta = 0.4 * jnp.ones(N)
    prior = hybrid.with_forcing_prior(plain, Prior(eta, 0.0))
    xb = twin.truth[0] + 0.3
    a_state, a = plain.window_cycle(MODEL, (xb, eta), *_window(twin, 0))
    b_state, b = prior.window_cycle(MODEL, (xb, jnp.zeros(N)), *_window(twin, 0))
    for key in ("analysis", "forecast", "forcing"):
        np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_array_equal(a_state[0], b_state[0])
    # Over the record: with Q -> 0 (1e-200: below rounding) the plain method carries eta
    # unchanged from window to window, and the prior g(x) = eta gives every window of it.
    frozen = var.WeakVar4D(B, var.DiagonalCovariance(1e-200, N), window=WINDOW, solver=SOLVER)
    start = jnp.mean(twin.ensemble0, axis=0)
    cycled = assimilate(MODEL, twin.observations, frozen, twin.ensemble0,
                        key=jax.random.key(1), carry=frozen.init_background(start, eta))
    pinned = _run(hybrid.with_forcing_prior(frozen, Prior(eta, 0.0)), twin)
    np.testing.assert_allclose(cycled.series["forcing"], eta[None].repeat(3 * WINDOW, 0),
                               rtol=0, atol=0)
    for key in ("mean_analysis", "mean_forecast", "forcing"):
        np.testing.assert_allclose(pinned.series[key], cycled.series[key], rtol=0, atol=1e-12)


def test_a_state_dependent_prior_is_a_fresh_background_forcing_per_window(twin):
    """Every window k of a cycled run with prior g is the plain method's window from
    (x_b^k, g(x_b^k)), x_b^k the end of window k-1's analysis: the analysed forcing is not
    carried on."""
    plain = var.WeakVar4D(B, Q, window=WINDOW, solver=SOLVER)
    g = Prior(0.3 * jnp.ones(N))
    res = _run(hybrid.with_forcing_prior(plain, g), twin)
    xa = np.asarray(res.mean_analysis)
    for k in (1, 2):
        xb = jnp.asarray(xa[k * WINDOW - 1])
        _, one = plain.window_cycle(MODEL, (xb, g(xb)), *_window(twin, k))
        rows = slice(k * WINDOW, (k + 1) * WINDOW)
        np.testing.assert_allclose(one["analysis"], xa[rows], rtol=0, atol=1e-10)
        np.testing.assert_allclose(one["forcing"], res.series["forcing"][rows], rtol=0,
                                   atol=1e-10)
    # and the background trajectory of each window is driven by g(x_b), not the last eta_a
    k = 2
    xb = jnp.asarray(xa[k * WINDOW - 1])
    prob = plain.problem(MODEL, (xb, g(xb)), *_window(twin, k))
    np.testing.assert_allclose(prob.trajectory(prob.zero()),
                               res.mean_forecast[k * WINDOW:(k + 1) * WINDOW], rtol=0,
                               atol=1e-10)


def test_the_window_cost_gradient_with_a_prior_passes_the_taylor_test(twin):
    """J(z + h d) - J(z) - h <grad J, d> = O(h^2) for the window of a state-dependent
    prior, and the Gauss-Newton adjoint gradient equals reverse mode."""
    method = hybrid.with_forcing_prior(var.WeakVar4D(B, Q, window=WINDOW, solver=SOLVER),
                                       Prior(0.3 * jnp.ones(N)))
    xb = twin.truth[0] + 0.3
    prob = method.problem(MODEL, method.init_background(xb), *_window(twin, 0))
    keys = jax.random.split(jax.random.key(5), 4)
    z0 = (jax.random.normal(keys[0], (N,)), jax.random.normal(keys[1], (1, N)))
    d = (jax.random.normal(keys[2], (N,)), jax.random.normal(keys[3], (1, N)))
    cost = eqx.filter_jit(prob.cost)
    J0 = cost(z0)
    g = eqx.filter_jit(prob.gradient)(z0)
    slope = sum(jnp.vdot(a, b) for a, b in zip(g, d, strict=True))
    hs = np.array([1e-2, 5e-3, 2.5e-3, 1.25e-3])
    rem = np.array([abs(float(cost(jax.tree.map(lambda z, e, h=h: z + h * e, z0, d))
                              - J0 - h * slope)) for h in hs])
    orders = np.log(rem[:-1] / rem[1:]) / np.log(2.0)
    np.testing.assert_allclose(orders, 2.0, atol=0.1)
    for a, b in zip(g, eqx.filter_jit(lambda z: jax.grad(prob.cost)(z))(z0), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def test_increment_tendencies_pairs_each_background_with_its_increment():
    L, dt, n = 3, 0.05, 2
    t = np.arange(4 * L, dtype=float)[:, None] * np.ones(n)
    analysis, forecast = t + 0.5, t
    x, eta = hybrid.increment_tendencies(analysis, forecast, L, dt, burn_in_windows=1)
    # windows 1..3: the background is the last analysis row of the previous window, the
    # target (without a model) the first row's increment 0.5 over L dt = 0.15
    np.testing.assert_array_equal(x[:, 0], [2.5, 5.5, 8.5])
    np.testing.assert_allclose(eta, 0.5 / 0.15, rtol=1e-12)
    x2, _ = hybrid.increment_tendencies(analysis, forecast, L, dt, burn_in_windows=2)
    np.testing.assert_array_equal(x2[:, 0], [5.5, 8.5])
    with pytest.raises(ValueError, match="fewer than two samples"):
        hybrid.increment_tendencies(analysis[:6], forecast[:6], L, dt)
    with pytest.raises(ValueError, match="every_steps"):
        hybrid.increment_tendencies(analysis, forecast, L, dt, model=MODEL)


def test_the_tangent_linear_inversion_recovers_a_constant_forcing():
    """Perfect analyses of a truth forced by eta (a[k] = M_T(a[k-1]; eta), the first guess
    f[k] = M_T(a[k-1])): G^{-1} delta gives eta to second order; delta / T does not."""
    every, L, windows = 2, WINDOW, 6
    eta = 0.05 * jax.random.normal(jax.random.key(3), (N,))

    def end(x, e):
        return var.propagate(MODEL, x, every, L, forcing=jnp.broadcast_to(e, (L, N)))[-1]

    states = [models.forecast(MODEL, MODEL.initial_condition(jax.random.key(4)), 200)]
    firsts = [states[0]]
    for _ in range(windows - 1):
        firsts.append(end(states[-1], jnp.zeros(N)))
        states.append(end(states[-1], eta))
    analysis = np.repeat(np.asarray(states)[:, None], L, axis=1)  # rows after the first: any
    forecast = analysis.copy()
    forecast[:, 0] = np.asarray(firsts)
    analysis, forecast = analysis.reshape(-1, N), forecast.reshape(-1, N)
    _, est = hybrid.increment_tendencies(analysis, forecast, L, 0.1, model=MODEL,
                                         every_steps=every)
    err = float(jnp.max(jnp.abs(est - eta)))
    assert err < 0.05 * float(jnp.max(jnp.abs(eta))), err
    _, crude = hybrid.increment_tendencies(analysis, forecast, L, 0.1)
    assert float(jnp.max(jnp.abs(crude - eta))) > 5 * err


def test_fit_forcing_learns_a_known_local_function():
    """Targets eta = 1 - 0.5 tanh(x_i) + 0.2 x_{i-1}: the periodic CNN learns them to a small
    error, its statistics set from the data."""
    x = 3.0 * jax.random.normal(jax.random.key(0), (512, 16)) + 2.0
    eta = 1.0 - 0.5 * jnp.tanh(x) + 0.2 * jnp.roll(x, 1, axis=-1)
    net = hybrid.forcing_network((16,), key=jax.random.key(1))
    net, history = hybrid.fit_forcing(net, x, eta, key=jax.random.key(2), epochs=60,
                                      batch_size=32, learning_rate=3e-3)
    assert float(net.in_mean) == pytest.approx(float(x.mean()))
    err = jax.vmap(net)(x) - eta
    assert float(jnp.sqrt(jnp.mean(err**2))) < 0.1 * float(jnp.std(eta))
    skill = hybrid.forcing_skill(net, x, eta)
    assert skill.correlation > 0.99 and abs(skill.slope - 1) < 0.05
    assert history.train_loss[-1] < history.train_loss[0]


def test_the_true_model_error_tendency():
    # Lorenz-96 F = 8 against a model of F = 7.5: +0.5 everywhere.
    x = 3.0 * jax.random.normal(jax.random.key(0), (5, N))
    _, eta = hybrid.true_forcing_error(models.Lorenz96(n=N, forcing=8.0), MODEL, x)
    np.testing.assert_allclose(eta, 0.5, rtol=0, atol=1e-12)
    # Two-scale against the one-scale model of its slow variables: the coupling term.
    two = models.TwoScaleLorenz96(K=8, J=4)
    full = jax.random.normal(jax.random.key(1), (5, two.state_size))
    slow, eta = hybrid.true_forcing_error(two, models.Lorenz96(n=8, forcing=two.F), full)
    _, fast = two.split(full)
    np.testing.assert_allclose(slow, full[:, :8])
    np.testing.assert_allclose(eta, -two.h * two.c / two.b * fast.sum(-1), rtol=0, atol=1e-12)


def _config(**changes):
    data = {
        "model": {"name": "lorenz96", "n": 36, "forcing": 10.0, "dt": 0.01},
        "truth": {"name": "two_scale_lorenz96", "dt": 0.005},
        "observations": {"operator": "full", "every_steps": 5, "noise_std": 1.0},
        "method": {"name": "weak_var4d", "window": 4, "model_error_std": 0.5},
        "experiment": {"cycles": 200, "burn_in": 40},
        "hybrid": {"name": "bonavita2020", "training_cycles": 200},
    }
    return changed(data, **changes)


def test_the_section_accepts_the_twin_and_resolves_the_network():
    cfg = Config.from_dict(_config())
    assert cfg.hybrid.lead_rows(cfg) == 3 and cfg.ml_resolved.widths == [16]


@pytest.mark.parametrize(("changes", "where", "match"), [
    ({"truth": None}, ("truth", None), "learns what the \\[model\\] gets wrong"),
    ({"method.name": "var4d", "method.model_error_std": None}, ("method", "name"),
     'needs \\[method\\] name = "weak_var4d"'),
    ({"hybrid.forecast_lead": 0.07}, ("hybrid", "forecast_lead"), "multiple of the "
     "observation interval 0.05"),
    ({"hybrid.forecast_lead": 0.25}, ("hybrid", "forecast_lead"), "at most the window"),
    ({"hybrid.training_cycles": 40}, ("hybrid", "training_cycles"), "plus 3 windows"),
])
def test_bad_settings_are_refused_with_the_key_named(changes, where, match):
    with pytest.raises(ConfigError, match=match) as info:
        Config.from_dict(_config(**changes))
    assert where in [(i.section, i.key) for i in info.value.issues]


@pytest.mark.slow
def test_the_quick_preset(tmp_path):
    from assimilax.experiments.presets import reproduce

    jax.config.update("jax_enable_x64", True)
    result = reproduce("bonavita2020", tmp_path, quick=True)
    unexpected = [f"{c.claim}: {c.outcome}, expected {c.expected}; ours {c.ours} ± "
                  f"{c.ours_ci95}" for c in result.unexpected]
    assert result.as_expected, "\n".join(unexpected)
