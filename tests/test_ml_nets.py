"""Networks of assimilax.ml.nets: shapes, dtypes, periodicity, jit/vmap, VAE pieces."""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from assimilax.ml import nets

KEY = jax.random.key(0, impl="rbg")  # cheap to compile: tests build many shapes


@eqx.filter_jit
def apply(net, x, **kwargs):
    """One jitted call (eager op-by-op execution of a conv net is far slower to test)."""
    return net(x, **kwargs)


@eqx.filter_jit
def vapply(net, xs):
    return jax.vmap(net)(xs)


def _x(n=40, seed=1, shape=None):
    """Test input from NumPy (jax.random would compile anew for every shape)."""
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape or (n,)))


@pytest.mark.parametrize("kernel_size", [1, 4, 5])
def test_periodic_conv_matches_the_circular_formula(kernel_size):
    """y[o, i] = b[o] + sum_{c, j} W[o, c, j] x[c, (i + j - p) mod n], p = (k - 1) // 2."""
    conv = nets.PeriodicConv1d(3, 2, kernel_size, key=KEY, dtype=jnp.float64)
    x = np.asarray(_x(shape=(3, 11)))
    w = np.asarray(conv.weight)
    b = np.asarray(conv.bias)
    p = (kernel_size - 1) // 2
    n = x.shape[1]
    expected = np.zeros((2, n))
    for o in range(2):
        for i in range(n):
            expected[o, i] = b[o] + sum(
                w[o, c, j] * x[c, (i + j - p) % n] for c in range(3) for j in range(kernel_size)
            )
    np.testing.assert_allclose(apply(conv, x), expected, rtol=1e-12, atol=1e-12)


def test_periodic_conv_commutes_with_circular_shift():
    conv = nets.PeriodicConv1d(2, 4, 5, key=KEY)
    x = _x(shape=(2, 40))
    for s in (1, 7, -3):
        np.testing.assert_allclose(
            apply(conv, jnp.roll(x, s, axis=-1)), jnp.roll(apply(conv, x), s, axis=-1),
            rtol=1e-5, atol=1e-5,
        )


SAMPLE_NETS = {
    "PeriodicCNN": lambda dtype: nets.PeriodicCNN((8, 8), 5, key=KEY, dtype=dtype),
    "BrajardCNN": lambda dtype: nets.BrajardCNN(key=KEY, bilinear_filters=6,
                                                hidden_filters=(7,), dtype=dtype),
    "MLP": lambda dtype: nets.MLP(40, 40, (16,), key=KEY, dtype=dtype),
    "Autoencoder": lambda dtype: nets.Autoencoder(40, 6, (4,), key=KEY, dtype=dtype),
    "VAE": lambda dtype: nets.VAE(40, 6, (4,), key=KEY, dtype=dtype),
    "Standardized": lambda dtype: nets.Standardized(
        nets.PeriodicCNN((4,), key=KEY, dtype=dtype), 2.0, 3.0, 1.0, 0.5, dtype=dtype),
}


@functools.cache
def sample_net(name, dtype=jnp.float32):
    return SAMPLE_NETS[name](dtype)


@eqx.filter_jit
def one_and_batch(net, x, xs):
    return net(x), jax.vmap(net)(xs)


@pytest.mark.parametrize("name", SAMPLE_NETS)
def test_nets_map_one_sample_and_batch_with_vmap(name):
    net = sample_net(name)
    x = 3.0 * _x()  # float64 under the test configuration: cast by the net
    xs = jnp.stack([x, jnp.roll(x, 5), _x(seed=2)])
    y, ys = one_and_batch(net, x, xs)
    assert y.shape == (40,) and y.dtype == jnp.float32 and ys.shape == (3, 40)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(eqx.filter(net, eqx.is_array)))
    np.testing.assert_allclose(ys[0], y, rtol=1e-5, atol=1e-6)
    if name in ("PeriodicCNN", "BrajardCNN"):  # translation-equivariant on the ring
        np.testing.assert_allclose(ys[1], jnp.roll(y, 5), rtol=1e-5, atol=1e-5)
    # dtype=float64 keeps float64 throughout (built and run abstractly: nothing to compile)
    assert jax.eval_shape(lambda x: SAMPLE_NETS[name](jnp.float64)(x), xs[0]).dtype == jnp.float64


def test_brajard_cnn_has_the_papers_layer_sizes():
    """Default sizes of Brajard et al. (2020): 3 x (1 -> 24, k=5), 48 -> 37 (k=5), 37 -> 1 (k=1)."""
    net = nets.BrajardCNN(key=KEY)
    shapes = [leaf.shape for leaf in jax.tree.leaves(eqx.filter(net, eqx.is_array))]
    assert shapes.count((24, 1, 5)) == 3
    assert (37, 48, 5) in shapes and (1, 37, 1) in shapes
    n_params = sum(int(np.prod(s)) for s in shapes)
    assert n_params == 3 * (24 * 5 + 24) + (48 * 37 * 5 + 37) + (37 + 1)


def test_brajard_bilinear_layer_multiplies_two_branches():
    """With ReLU replaced by the identity and one filter per branch, the bilinear layer of a
    constant input c gives channels (w3 c + b3, (w1 c + b1)(w2 c + b2)); check the output is
    exactly quadratic in c."""
    net = nets.BrajardCNN(key=KEY, bilinear_filters=1, hidden_filters=(), kernel_size=1,
                          activation=lambda h: h, dtype=jnp.float64)
    cs = jnp.array([-1.0, 0.0, 1.0, 2.0, 3.0])
    ys = vapply(net, jnp.broadcast_to(cs[:, None], (5, 8)))[:, 0]
    coeffs = np.polyfit(np.asarray(cs), np.asarray(ys), 2)
    np.testing.assert_allclose(np.polyval(coeffs, cs), ys, atol=1e-12)
    assert abs(coeffs[0]) > 1e-6  # a genuine quadratic term


def test_brajard_input_norm_is_an_affine_map():
    sizes = dict(bilinear_filters=6, hidden_filters=(7,), dtype=jnp.float64)
    net = nets.BrajardCNN(key=KEY, input_norm=True, input_mean=8.0, input_std=4.0, **sizes)
    plain = nets.BrajardCNN(key=KEY, **sizes)
    x = 8.0 + 4.0 * _x()
    np.testing.assert_allclose(apply(net, x), apply(plain, (x - 8.0) / 4.0), rtol=1e-12,
                               atol=1e-12)


def test_standardized_is_the_affine_wrapper_and_freezes_its_statistics():
    mlp = nets.MLP(3, 3, (), key=KEY, dtype=jnp.float64)
    mlp = eqx.tree_at(lambda m: (m.layers[0].weight, m.layers[0].bias), mlp,
                      (jnp.eye(3), jnp.zeros(3)))
    net = nets.Standardized(mlp, jnp.array([1.0, 2.0, 3.0]), 2.0, -1.0, 10.0, dtype=jnp.float64)
    x = jnp.array([3.0, 0.0, 1.0])
    np.testing.assert_allclose(net(x), 10.0 * (x - jnp.array([1.0, 2.0, 3.0])) / 2.0 - 1.0)
    grads = eqx.filter_grad(lambda m: jnp.sum(m(x) ** 2))(net)
    for g in (grads.in_mean, grads.in_std, grads.out_mean, grads.out_std):
        assert np.all(np.asarray(g) == 0.0)
    assert np.any(np.asarray(grads.net.layers[0].weight) != 0.0)


@pytest.fixture(scope="module")
def unet():
    return nets.UNet2d(1, 3, key=KEY, base_channels=2, depth=1, periodic=True, dtype=jnp.float64)


def test_unet_shapes_and_divisibility_error(unet):
    assert jax.eval_shape(unet, _x(shape=(1, 8, 12))).shape == (3, 8, 12)
    assert jax.eval_shape(jax.vmap(unet), _x(shape=(2, 1, 4, 4))).shape == (2, 3, 4, 4)
    with pytest.raises(ValueError, match=r"divisible by 2\*\*depth = 2.*\(9, 12\)"):
        jax.eval_shape(unet, _x(shape=(1, 9, 12)))
    deep = jax.eval_shape(lambda: nets.UNet2d(1, 1, key=KEY, base_channels=2, depth=3))
    with pytest.raises(ValueError, match=r"divisible by 2\*\*depth = 8.*\(12, 16\)"):
        jax.eval_shape(deep, _x(shape=(1, 12, 16)))
    with pytest.raises(ValueError, match="one sample"):
        jax.eval_shape(unet, _x(shape=(2, 1, 8, 8)))


def test_periodic_unet_commutes_with_shifts_by_the_coarsest_cell(unet):
    x = _x(shape=(1, 8, 8))
    shifted = jnp.roll(x, (2, -4), axis=(1, 2))
    y = vapply(unet, jnp.stack([shifted, x]))
    np.testing.assert_allclose(y[0], jnp.roll(y[1], (2, -4), axis=(1, 2)), rtol=1e-10,
                               atol=1e-12)


def test_autoencoder_requires_a_divisible_grid():
    with pytest.raises(ValueError, match="divisible by 2\\*\\*len\\(widths\\) = 8"):
        nets.Autoencoder(36, 4, (4, 4, 4), key=KEY)


def test_vae_pieces():
    vae = sample_net("VAE")  # latent size 6
    x = _x()
    k = jax.random.key(3)

    @eqx.filter_jit
    def pieces(vae, x, k):
        mean, logvar = vae.encode(x)
        return mean, logvar, vae(x), vae.decode(mean), vae(x, key=k), vae(x, key=k)

    mean, logvar, deterministic, decoded_mean, sampled, sampled_again = pieces(vae, x, k)
    assert mean.shape == logvar.shape == (6,)
    # Without a key the mean is decoded; with a key a sample (different, reproducible).
    np.testing.assert_allclose(deterministic, decoded_mean, rtol=1e-6, atol=1e-7)
    assert not np.allclose(sampled, deterministic)
    np.testing.assert_array_equal(sampled, sampled_again)
    recon, kl = jax.eval_shape(lambda x, k: vae.reconstruct_with_kl(x, key=k), x, k)
    assert recon.shape == (40,) and kl.shape == ()
    # KL of the standard normal to itself is 0; of N(1, 1) per dimension it is 1/2.
    assert vae.kl(jnp.zeros(5), jnp.zeros(5)) == 0.0
    np.testing.assert_allclose(vae.kl(jnp.ones(5), jnp.zeros(5)), 2.5)
    # KL(N(0, s^2) || N(0, 1)) = (s^2 - 1 - log s^2) / 2
    np.testing.assert_allclose(vae.kl(jnp.zeros(1), jnp.log(jnp.array([4.0]))),
                               0.5 * (4.0 - 1.0 - np.log(4.0)))
    # The reparameterised sample has the requested moments (4000 draws: 5-sigma bounds).
    z = jax.vmap(lambda kk: vae.sample(jnp.full(2, 1.5), jnp.log(jnp.full(2, 0.25)), key=kk))(
        jax.random.split(k, 4000))
    np.testing.assert_allclose(z.mean(0), 1.5, atol=5 * 0.5 / np.sqrt(4000))
    np.testing.assert_allclose(z.std(0), 0.5, rtol=5 / np.sqrt(2 * 4000))


@pytest.mark.parametrize("periodic", [False, True])
def test_unet_convolution_matches_lax_conv(periodic):
    from assimilax.ml.nets._unet import _Conv2d

    conv = _Conv2d(2, 3, 3, periodic, jnp.float64, key=KEY)
    x = _x(shape=(2, 6, 5))
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1)), mode="wrap" if periodic else "constant")
    expected = jax.lax.conv_general_dilated(xp[None], conv.weight, (1, 1), "VALID")[0]
    np.testing.assert_allclose(conv(x), expected + conv.bias[:, None, None], rtol=1e-12,
                               atol=1e-12)


def test_deep_emulator_cnn_is_shift_equivariant_with_the_authors_sizes():
    """Nonnenmacher & Greenberg (2021): the "deep" L96 emulator (their ``TinyNetwork``)."""
    net = nets.DeepEmulatorCNN(key=jax.random.key(0))
    n_params = sum(a.size for a in jax.tree.leaves(eqx.filter(net, eqx.is_array)))
    # 1->16 (k3), 16->32, 32->32, 32->32, 32->32 (k3), 32->128, 128->128 x2, 128->1
    assert n_params == 43_201
    x = 8 + 3 * jax.random.normal(jax.random.key(1), (40,))
    f = jax.jit(lambda z: net(z))
    out = f(x)
    assert out.shape == (40,) and out.dtype == jnp.float32
    np.testing.assert_allclose(f(jnp.roll(x, 5)), jnp.roll(out, 5), rtol=1e-5, atol=1e-5)
