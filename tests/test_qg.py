"""Two-layer QG channel model: inversion, Arakawa conservation, shapes, vmap, stability.

The Taylor, adjoint dot-product and adjoint-by-finite-differences tests run over the model
table of tests/test_models.py (a 16 x 8 QG there).
Oracles: the PV operator itself (inversion), the discrete energy and enstrophy the
Arakawa Jacobian conserves (RK4's error in them shrinks like dt^4), the walls' values
(mean winds), a loop over members (vmap).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from assimilax.models import QG, forecast_ensemble, rollout
from assimilax.models._qg import arakawa_jacobian
from assimilax.observations import Every


@eqx.filter_jit
def _run(model, x, n):
    """``n`` model steps (``n`` traced: one program for every length and parameter value)."""
    return jax.lax.fori_loop(0, n, lambda i, x: model.step(x), x)


_PARAMS = ("depth1", "depth2", "u1", "u2", "beta", "orography", "orography_width", "ekman",
           "diffusion", "dt")


def _small(**changes):
    """A 24 x 12 QG whose parameters are all arrays: every test that steps it shares one
    compiled program (:func:`_run`)."""
    m = QG(nx=24, ny=12, **changes)
    return QG(nx=24, ny=12, **{k: jnp.asarray(getattr(m, k), jnp.float64) for k in _PARAMS})


def _spun_up(model, steps=240):
    return _run(model, model.initial_condition(jax.random.PRNGKey(0)), jnp.asarray(steps))


def test_shapes_grid_and_defaults():
    m = QG()
    assert (m.nx, m.ny) == (40, 20) and m.state_size == 1600
    assert m.dx == pytest.approx(0.3) and m.dy == pytest.approx(0.3)  # 300 km cells
    F1, F2 = m.F
    assert F1 == pytest.approx(5 / 3) and F2 == pytest.approx(5 / 2)
    assert float(jnp.max(m.orography_pv())) == pytest.approx(5.0)  # h/(Ro H2)
    x = m.initial_condition(jax.random.PRNGKey(0))
    assert x.shape == (1600,) and jax.eval_shape(m.step, x).shape == (1600,)
    g = m.grid
    assert [f.name for f in g.fields] == ["psi1", "psi2"]
    assert g.fields[0].shape == (20, 40) and g.size == 1600 and g.period == (None, 40.0)
    # Unit spacing, periodic in x, open in y; the layers share their points.
    pts = g.points()
    d = g.distances(pts[[0, 39, 40, 800]], pts[[0]])[:, 0]
    np.testing.assert_allclose(d, [0.0, 1.0, 1.0, 0.0])
    u = g.unflatten(np.asarray(x))
    np.testing.assert_array_equal(u["psi2"], np.asarray(m.split(x))[1])


_invert_pv = eqx.filter_jit(lambda m, psi: m.invert(m.pv(psi)))
_pv_invert = eqx.filter_jit(lambda m, q: m.pv(m.invert(q)))
_invariant = eqx.filter_jit(lambda m, x, name: getattr(m, name)(x))


def test_inversion_inverts():
    """psi -> q -> psi to round-off, for random states and odd grid sizes."""
    for m in (QG(), QG(nx=16, ny=7, length_x=5.0, length_y=3.0, u1=2.0, u2=-0.5)):
        psi = jax.random.normal(jax.random.PRNGKey(1), (2, m.ny, m.nx))
        back = _invert_pv(m, psi)
        assert float(jnp.max(jnp.abs(back - psi))) < 1e-12
        q = m.pv(psi) + 3.0 * jax.random.normal(jax.random.PRNGKey(2), psi.shape)
        assert float(jnp.max(jnp.abs(_pv_invert(m, q) - q))) < 1e-11


def test_arakawa_identities_with_constant_walls():
    """sum J = ... ; sum a J(a, b) = 0 when a = 0 on the walls, sum b J(a, b) = 0 when a is
    constant on each wall and b = 0 there."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((10, 12))
    b = rng.standard_normal((10, 12))
    a0 = a.copy()
    a0[[0, -1]] = 0.0
    J = np.asarray(arakawa_jacobian(jnp.asarray(a0), jnp.asarray(b), 0.3, 0.4))
    assert abs(np.sum(a0[1:-1] * J)) < 1e-12
    ac, b0 = a.copy(), b.copy()
    ac[0], ac[-1], b0[[0, -1]] = 2.0, -1.0, 0.0
    J = np.asarray(arakawa_jacobian(jnp.asarray(ac), jnp.asarray(b0), 0.3, 0.4))
    assert abs(np.sum(b0[1:-1] * J)) < 1e-12
    # J(a, b) is an antisymmetric form of differences: J(a, b + c) = J(a, b).
    J1 = arakawa_jacobian(jnp.asarray(ac), jnp.asarray(b0) + 3.0, 0.3, 0.4)
    np.testing.assert_allclose(J1, J, atol=1e-12)


def _free_flow(m):
    """An energetic flow with psi = 0 on the walls: the inverse of random PV (std 10)."""
    q = 10.0 * jax.random.normal(jax.random.PRNGKey(5), (2, m.ny, m.nx))
    return m._solve(q).reshape(-1)


@pytest.mark.parametrize(
    ("beta", "invariant"), [(1.5, "energy"), (0.0, "energy"), (0.0, "enstrophy")]
)
def test_conservation_error_shrinks_like_dt4(beta, invariant):
    """No drag, no diffusion, walls at psi = 0 (no mean wind): the semi-discrete model
    conserves the energy (any beta, with orography) and, when the walls' PV is 0 (beta = 0),
    the enstrophy; RK4's error in them over a fixed time shrinks at least like dt^4.

    (Observed: like dt^5. On a skew-symmetric linear part RK4's amplification factor is
    ``|R(iz)|^2 = 1 - z^6/72 + z^8/576``, an O(dt^6) loss of a quadratic invariant per step.)
    A semi-discrete model that did not conserve them would leave an error independent of dt.
    """
    T = 1.728  # two days
    errs = []
    for dt in (0.036, 0.018, 0.009):
        # Array parameters and a traced step count: one compiled program for every case.
        m = _small(u1=0.0, u2=0.0, diffusion=0.0, ekman=0.0, dt=dt, beta=beta)
        x0 = _free_flow(m)
        f = lambda x, m=m: _invariant(m, x, invariant)  # noqa: E731
        x = _run(m, x0, jnp.asarray(round(T / dt)))
        assert float(jnp.max(jnp.abs(x - x0))) > 1.0  # the flow moved
        errs.append(abs(float(f(x) - f(x0))) / float(f(x0)))
    assert 1e-9 < errs[0] < 1e-4, errs
    slopes = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all((slopes > 3.5) & (slopes < 6.0)), (errs, slopes)


def test_enstrophy_not_conserved_with_drag_and_diffusion_decays():
    m = _small(u1=0.0, u2=0.0, diffusion=1e-4, ekman=0.1, beta=0.0)
    x0 = _free_flow(m)
    x = _run(m, x0, jnp.asarray(48))
    for name in ("enstrophy", "energy"):
        assert float(_invariant(m, x, name)) < float(_invariant(m, x0, name))


def test_uniform_winds_are_steady_without_orography():
    m = _small(orography=0.0)
    yw = jnp.asarray(m.y_walls()[1:-1])
    x = (-jnp.array([m.u1, m.u2])[:, None, None] * yw[None, :, None]
         * jnp.ones((1, 1, m.nx))).reshape(-1)
    np.testing.assert_allclose(_run(m, x, jnp.asarray(24)), x, atol=1e-11)


def test_mean_winds_from_the_walls():
    m = QG()
    x = _spun_up(m, 480)
    np.testing.assert_allclose(m.mean_zonal_wind(x), [4.0, 1.0], atol=1e-12)  # 40, 10 m/s
    u, v = m.winds(x)
    assert u.shape == v.shape == (2, m.ny, m.nx)
    np.testing.assert_allclose(jnp.mean(v, axis=-1), 0.0, atol=1e-12)  # periodic x
    x0 = m.initial_condition(jax.random.PRNGKey(0))
    assert abs(float(jnp.mean(m.winds(x0)[0, 0])) - 4.0) < 0.1


def test_jit_and_vmap_over_members_equals_a_loop():
    m = QG()
    x = _spun_up(m, 24)
    E = x + 0.1 * jax.random.normal(jax.random.PRNGKey(2), (3, x.size))
    fe = jax.jit(lambda E: forecast_ensemble(m, E, 6))
    out = fe(E)
    loop = jnp.stack([_run(m, e, jnp.asarray(6)) for e in E])
    np.testing.assert_allclose(out, loop, rtol=0, atol=1e-11)


def test_tendency_matches_the_step():
    """d psi/dt against a centred difference of RK4 steps of +-1e-4 (error O(h^2))."""
    m = _small()
    x = _spun_up(m, 24)
    h = 1e-4
    one = jnp.asarray(1)
    fd = (_run(_small(dt=h), x, one) - _run(_small(dt=-h), x, one)) / (2 * h)
    np.testing.assert_allclose(m.tendency(x), fd, rtol=0,
                               atol=1e-5 * float(jnp.max(jnp.abs(fd))))


@pytest.mark.slow
def test_long_run_from_the_default_state_stays_finite_and_bounded():
    """Two years of hourly steps: finite, energy bounded, the mean winds kept."""
    m = QG()
    xs = jax.jit(lambda x: rollout(m, x, 73, every=240))(m.initial_condition(jax.random.PRNGKey(0)))
    assert bool(jnp.all(jnp.isfinite(xs)))
    E = jax.vmap(m.energy)(xs)
    assert float(jnp.max(E)) < 100.0, E
    assert float(jnp.std(xs[20:], axis=0).mean()) > 1.0  # still varying
    np.testing.assert_allclose(m.mean_zonal_wind(xs[-1]), [4.0, 1.0], atol=1e-12)


def test_every_4th_point_of_both_layers_is_an_operator_with_positions():
    m = QG()
    H = Every(m.grid, 4)
    assert H.size == 400
    pos = H.positions()
    assert pos.shape == (400, 2)
    x = _spun_up(m, 1)
    np.testing.assert_array_equal(np.asarray(H(x)), np.asarray(x)[::4])


def test_invalid_grids_are_refused():
    with pytest.raises(ValueError, match="even"):
        QG(nx=15)
    with pytest.raises(ValueError, match="ny"):
        QG(ny=1)


def test_config_section_builds_the_model_and_names_a_bad_key():
    from assimilax.experiments import Config, ConfigError, build_model

    data = {"model": {"name": "qg", "nx": 16, "ny": 8, "depth1": 5500.0, "depth2": 4500.0},
            "observations": {"operator": "every", "stride": 4, "noise_std": 0.2},
            "method": {"name": "letkf", "ensemble_size": 10, "localization_radius": 2.5},
            "experiment": {"cycles": 10, "burn_in": 2}}
    cfg = Config.from_dict(data)
    assert cfg.model.state_size == 256
    m = build_model(cfg.model)
    assert isinstance(m, QG) and (m.nx, m.ny, m.depth1, m.depth2) == (16, 8, 5500.0, 4500.0)
    assert (m.dt, m.u1, m.u2, m.orography) == (0.036, 4.0, 1.0, 2000.0)  # OOPS's defaults
    data["model"]["nx"] = 15
    with pytest.raises(ConfigError, match=r"\[model\] nx = 15"):
        Config.from_dict(data)


def test_one_step_tangent_linear_and_adjoint():
    """The default suite's check of the derivatives (the model table of test_models.py runs
    the full set on a 16 x 8 QG in the slow suite): <J u, v> = <u, J^T v> to round-off,
    and the Taylor remainder |f(x + e u) - f(x) - e J u| falls like e^2."""
    m = _small()
    x = _spun_up(m, 48)
    f = eqx.filter_jit(lambda x: m.step(x))
    u = jax.random.normal(jax.random.PRNGKey(3), x.shape)
    u = u / jnp.linalg.norm(u)
    v = jax.random.normal(jax.random.PRNGKey(4), x.shape)
    fx, Ju = eqx.filter_jit(lambda x, u: jax.jvp(m.step, (x,), (u,)))(x, u)
    (JTv,) = eqx.filter_jit(lambda x, v: jax.vjp(m.step, x)[1](v))(x, v)
    lhs, rhs = float(jnp.vdot(Ju, v)), float(jnp.vdot(u, JTv))
    assert abs(lhs - rhs) <= 1e-12 * float(jnp.linalg.norm(Ju) * jnp.linalg.norm(v))
    eps = np.logspace(-2, -4, 3)
    res = [float(jnp.linalg.norm(f(x + e * u) - fx - e * Ju)) for e in eps]
    slopes = np.diff(np.log(res)) / np.diff(np.log(eps))
    assert np.all((slopes > 1.8) & (slopes < 2.2)), (res, slopes)
