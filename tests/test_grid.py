"""Grids: named fields, n-D coordinates, periodic distances, neighbourhoods."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from assimilax.da import GaspariCohn
from assimilax.models import TwoScaleLorenz96
from assimilax.observations import Field, Full, Grid, Subset


def test_ring_distances_wrap_around():
    g = Grid.ring(10)
    d = g.distances(np.array([0.0, 9.0]), np.array([1.0, 5.0]))
    np.testing.assert_allclose(d, [[1.0, 5.0], [2.0, 4.0]])
    assert g.ndim == 1 and g.fields == (Field("x", (10,)),)


def test_regular_2d_grid_periodic_and_open_axes():
    g = Grid.regular({"h": (4, 5)}, spacing=(1.0, 2.0), periodic=(True, False))
    assert g.size == 20 and g.ndim == 2 and g.period == (4.0, None)
    p = g.points()
    assert p.shape == (20, 2)
    # (0, 0) and (3, 8): 1 apart along the periodic axis 0, 8 along the open axis 1.
    d = g.distances(p[[0]], p[[19]])
    np.testing.assert_allclose(d, [[np.hypot(1.0, 8.0)]])


def test_fields_unflatten_in_order():
    g = Grid.regular({"u": (2, 3), "h": (2, 3)})
    x = np.arange(12.0)
    parts = g.unflatten(x)
    np.testing.assert_array_equal(parts["u"], x[:6].reshape(2, 3))
    np.testing.assert_array_equal(parts["h"], x[6:].reshape(2, 3))
    assert g.field_slices() == {"u": slice(0, 6), "h": slice(6, 12)}
    with pytest.raises(ValueError, match="fields hold"):
        Grid((0.0, 1.0), None, (Field("x", (3,)),))


def test_two_scale_model_has_two_fields():
    m = TwoScaleLorenz96(K=4, J=3)
    assert [f.name for f in m.grid.fields] == ["X", "Y"]
    assert m.grid.size == m.state_size


def test_neighbourhoods_hold_exactly_the_points_within_the_radius():
    g = Grid.ring(20)
    obs = np.array([0.0, 3.0, 7.0, 12.0, 19.0])
    idx, dist, valid = g.neighbourhoods(obs, 4.0)
    full = g.distances(g.points(), obs)
    for i in range(g.size):
        expect = set(np.flatnonzero(full[i] <= 4.0))
        assert set(idx[i][valid[i]]) == expect
        np.testing.assert_allclose(dist[i][valid[i]], full[i][idx[i][valid[i]]])


def test_taper_on_a_2d_grid_matches_the_distance():
    g = Grid.regular({"h": (6, 6)})
    op = Subset(g, np.array([0, 7, 35]))
    C = np.asarray(GaspariCohn(1.5).matrix(op))
    d = g.distances(g.points(), op.positions())
    np.testing.assert_allclose(C, np.where(np.asarray(GaspariCohn(1.5)(jnp.asarray(d))) < 1e-3,
                                           0.0, np.asarray(GaspariCohn(1.5)(jnp.asarray(d)))))
    assert C[0, 0] == 1.0 and C.shape == (36, 3)


def test_taper_radius_can_be_traced_and_differentiated():
    op = Full(Grid.ring(12))
    radii = jnp.array([1.0, 2.0, 3.0])
    batched = jax.vmap(lambda r: GaspariCohn(r).matrix(op))(radii)
    for i, r in enumerate([1.0, 2.0, 3.0]):
        np.testing.assert_allclose(batched[i], GaspariCohn(r).matrix(op), atol=1e-15)
    f = lambda r: GaspariCohn(r)(jnp.asarray(2.5))  # noqa: E731
    g, eps = jax.grad(f)(3.0), 1e-6
    assert np.isfinite(g)
    np.testing.assert_allclose(g, (f(3.0 + eps) - f(3.0 - eps)) / (2 * eps), rtol=1e-6)
