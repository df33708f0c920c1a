"""Periodic 1-D convolutional autoencoders: encoder, decoder, deterministic and variational."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ._conv import PeriodicConv1d


def _check_divisible(name: str, n: int, levels: int) -> int:
    if n % 2**levels:
        raise ValueError(
            f"{name}: n = {n} must be divisible by 2**len(widths) = {2**levels} (each level "
            "halves the grid); choose fewer widths or another n."
        )
    return n // 2**levels


class ConvEncoder1d(eqx.Module):
    """Periodic convolutional encoder ``(n,) -> (latent_size,)``.

    For each width: a periodic convolution with ``activation`` then average pooling by 2;
    finally a linear layer from the flattened ``(widths[-1], n / 2**len(widths))`` features to
    the latent vector. ``n`` must be divisible by ``2**len(widths)``.
    """

    convs: tuple[PeriodicConv1d, ...]
    linear: eqx.nn.Linear
    n: int = eqx.field(static=True)
    activation: Callable[[Array], Array] = eqx.field(static=True)
    dtype: jnp.dtype = eqx.field(static=True)

    def __init__(
        self,
        n: int,
        latent_size: int,
        widths: Sequence[int] = (16, 32),
        kernel_size: int = 5,
        *,
        key: PRNGKeyArray,
        activation: Callable[[Array], Array] = jax.nn.relu,
        dtype=jnp.float32,
    ):
        widths = [int(w) for w in widths]
        if not widths:
            raise ValueError("ConvEncoder1d: widths must hold at least one width.")
        m = _check_divisible("ConvEncoder1d", n, len(widths))
        keys = jax.random.split(key, len(widths) + 1)
        sizes = [1, *widths]
        self.convs = tuple(
            PeriodicConv1d(a, b, kernel_size, key=k, dtype=dtype)
            for a, b, k in zip(sizes[:-1], sizes[1:], keys[:-1], strict=True)
        )
        self.linear = eqx.nn.Linear(widths[-1] * m, latent_size, dtype=dtype, key=keys[-1])
        self.n = int(n)
        self.activation = activation
        self.dtype = jnp.dtype(dtype)

    def __call__(
        self, x: Float[Array, " n"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, " latent"]:
        h = jnp.asarray(x).astype(self.dtype)[None]
        if h.shape[-1] != self.n:
            raise ValueError(f"ConvEncoder1d built for n = {self.n}, got input shape {x.shape}.")
        for conv in self.convs:
            h = self.activation(conv(h))
            h = h.reshape(h.shape[0], -1, 2).mean(axis=-1)
        return self.linear(h.reshape(-1))


class ConvDecoder1d(eqx.Module):
    """Periodic convolutional decoder ``(latent_size,) -> (n,)``, the mirror of the encoder.

    A linear layer to ``(widths[0], n / 2**len(widths))`` features, then for each width
    nearest-neighbour upsampling by 2 and a periodic convolution with ``activation``, and a
    final linear periodic convolution to one channel.
    """

    linear: eqx.nn.Linear
    convs: tuple[PeriodicConv1d, ...]
    output: PeriodicConv1d
    n: int = eqx.field(static=True)
    width0: int = eqx.field(static=True)
    activation: Callable[[Array], Array] = eqx.field(static=True)
    dtype: jnp.dtype = eqx.field(static=True)

    def __init__(
        self,
        n: int,
        latent_size: int,
        widths: Sequence[int] = (32, 16),
        kernel_size: int = 5,
        *,
        key: PRNGKeyArray,
        activation: Callable[[Array], Array] = jax.nn.relu,
        dtype=jnp.float32,
    ):
        widths = [int(w) for w in widths]
        if not widths:
            raise ValueError("ConvDecoder1d: widths must hold at least one width.")
        m = _check_divisible("ConvDecoder1d", n, len(widths))
        keys = jax.random.split(key, len(widths) + 2)
        self.linear = eqx.nn.Linear(latent_size, widths[0] * m, dtype=dtype, key=keys[0])
        sizes = [widths[0], *widths]
        self.convs = tuple(
            PeriodicConv1d(a, b, kernel_size, key=k, dtype=dtype)
            for a, b, k in zip(sizes[:-1], sizes[1:], keys[1:-1], strict=True)
        )
        self.output = PeriodicConv1d(widths[-1], 1, kernel_size, key=keys[-1], dtype=dtype)
        self.n = int(n)
        self.width0 = widths[0]
        self.activation = activation
        self.dtype = jnp.dtype(dtype)

    def __call__(
        self, z: Float[Array, " latent"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, " n"]:
        h = self.linear(jnp.asarray(z).astype(self.dtype)).reshape(self.width0, -1)
        for conv in self.convs:
            h = self.activation(conv(jnp.repeat(h, 2, axis=-1)))
        return self.output(h)[0]


class Autoencoder(eqx.Module):
    """Deterministic autoencoder ``(n,) -> (n,)`` through a latent vector of ``latent_size``.

    ``encoder = ConvEncoder1d(n, latent_size, widths)``,
    ``decoder = ConvDecoder1d(n, latent_size, reversed(widths))``.
    """

    encoder: ConvEncoder1d
    decoder: ConvDecoder1d

    def __init__(
        self,
        n: int,
        latent_size: int,
        widths: Sequence[int] = (16, 32),
        kernel_size: int = 5,
        *,
        key: PRNGKeyArray,
        activation: Callable[[Array], Array] = jax.nn.relu,
        dtype=jnp.float32,
    ):
        ke, kd = jax.random.split(key)
        self.encoder = ConvEncoder1d(n, latent_size, widths, kernel_size, key=ke,
                                     activation=activation, dtype=dtype)
        self.decoder = ConvDecoder1d(n, latent_size, tuple(reversed(widths)), kernel_size,
                                     key=kd, activation=activation, dtype=dtype)

    def encode(self, x: Float[Array, " n"]) -> Float[Array, " latent"]:
        return self.encoder(x)

    def decode(self, z: Float[Array, " latent"]) -> Float[Array, " n"]:
        return self.decoder(z)

    def __call__(
        self, x: Float[Array, " n"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, " n"]:
        return self.decoder(self.encoder(x))


class VAE(eqx.Module):
    r"""Variational autoencoder ``(n,) -> (n,)`` with a diagonal Gaussian latent.

    The encoder (``ConvEncoder1d`` with ``2 * latent_size`` outputs) gives the mean $\mu$
    and log-variance $\log\sigma^2$ of $q(z\,|\,x)$; a sample is
    $z = \mu + \sigma\odot\varepsilon$, $\varepsilon\sim\mathcal N(0, I)$ (the
    reparameterisation trick, differentiable in $\mu, \sigma$); the decoder maps $z$ back.
    With a unit-variance Gaussian likelihood the negative ELBO per sample is
    $\tfrac12\lVert x - \hat x\rVert^2 + \mathrm{KL}$ up to a constant, with

    $$\mathrm{KL}\big(\mathcal N(\mu, \sigma^2)\,\|\,\mathcal N(0, I)\big) =
    \tfrac12\sum_j\big(\sigma_j^2 + \mu_j^2 - 1 - \log\sigma_j^2\big).$$

    ``__call__(x, key=None)`` decodes the mean (deterministic reconstruction);
    with a key it decodes a sample.

    Refs: Kingma & Welling (2014), ICLR, arXiv:1312.6114.
    """

    encoder: ConvEncoder1d
    decoder: ConvDecoder1d
    latent_size: int = eqx.field(static=True)

    def __init__(
        self,
        n: int,
        latent_size: int,
        widths: Sequence[int] = (16, 32),
        kernel_size: int = 5,
        *,
        key: PRNGKeyArray,
        activation: Callable[[Array], Array] = jax.nn.relu,
        dtype=jnp.float32,
    ):
        ke, kd = jax.random.split(key)
        self.encoder = ConvEncoder1d(n, 2 * latent_size, widths, kernel_size, key=ke,
                                     activation=activation, dtype=dtype)
        self.decoder = ConvDecoder1d(n, latent_size, tuple(reversed(widths)), kernel_size,
                                     key=kd, activation=activation, dtype=dtype)
        self.latent_size = int(latent_size)

    def encode(self, x: Float[Array, " n"]) -> tuple[Array, Array]:
        """``(mean, logvar)`` of $q(z\\,|\\,x)$, each of shape ``(latent_size,)``."""
        h = self.encoder(x)
        return h[: self.latent_size], h[self.latent_size:]

    @staticmethod
    def sample(mean: Array, logvar: Array, *, key: PRNGKeyArray) -> Array:
        """Reparameterised draw $z = \\mu + e^{\\log\\sigma^2/2}\\varepsilon$."""
        return mean + jnp.exp(0.5 * logvar) * jax.random.normal(key, mean.shape, mean.dtype)

    def decode(self, z: Float[Array, " latent"]) -> Float[Array, " n"]:
        return self.decoder(z)

    @staticmethod
    def kl(mean: Array, logvar: Array) -> Array:
        """$\\mathrm{KL}(q\\,\\|\\,\\mathcal N(0, I))$ summed over the latent dimensions."""
        return 0.5 * jnp.sum(jnp.exp(logvar) + mean**2 - 1.0 - logvar)

    def reconstruct_with_kl(
        self, x: Float[Array, " n"], *, key: PRNGKeyArray
    ) -> tuple[Float[Array, " n"], Array]:
        """Decoded sample and the KL term, the two pieces of the negative ELBO."""
        mean, logvar = self.encode(x)
        return self.decode(self.sample(mean, logvar, key=key)), self.kl(mean, logvar)

    def __call__(
        self, x: Float[Array, " n"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, " n"]:
        mean, logvar = self.encode(x)
        return self.decode(mean if key is None else self.sample(mean, logvar, key=key))
