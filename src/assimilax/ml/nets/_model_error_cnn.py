r"""The model-error CNN of Brajard et al. (2021), with batch normalisation."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ._conv import PeriodicConv1d


class BatchNorm1d(eqx.Module):
    r"""Batch normalisation of a ``(channels, n)`` field, per channel (Ioffe & Szegedy 2015).

    $$y_c = \gamma_c\,\frac{h_c - \mu_c}{\sqrt{\sigma_c^2 + \epsilon}} + \beta_c,$$

    with the batch's mean $\mu_c$ and (biased) variance $\sigma_c^2$ over samples and grid
    points when training (:meth:`normalise` with ``batch=True``), and stored population
    statistics ``mean``, ``var`` at inference (``__call__``). The statistics pass through
    ``stop_gradient``: the optimiser leaves them unchanged; they are set after training
    by :meth:`ModelErrorCNN.with_statistics`. $\epsilon = 10^{-3}$ is Keras's default.

    Attributes:
        weight, bias: $\gamma$, $\beta$ ``(channels,)``, learnt (initialised 1 and 0).
        mean, var: population statistics ``(channels,)`` (initialised 0 and 1).
        eps: $\epsilon$ (static).
    """

    weight: Array
    bias: Array
    mean: Array
    var: Array
    eps: float = eqx.field(static=True)

    def __init__(self, channels: int, *, eps: float = 1e-3, dtype=jnp.float32):
        self.weight = jnp.ones((channels,), dtype)
        self.bias = jnp.zeros((channels,), dtype)
        self.mean = jnp.zeros((channels,), dtype)
        self.var = jnp.ones((channels,), dtype)
        self.eps = float(eps)

    def normalise(self, h: Float[Array, "*batch channels n"], mean, var) -> Array:
        """``h`` normalised with the given statistics ``(channels,)``, scaled and shifted."""
        scale = self.weight * jax.lax.rsqrt(var + self.eps)
        return (h - mean[:, None]) * scale[:, None] + self.bias[:, None]

    def __call__(self, h: Float[Array, "channels n"]) -> Float[Array, "channels n"]:
        sg = jax.lax.stop_gradient
        return self.normalise(h, sg(self.mean), sg(self.var))


def batch_statistics(h: Float[Array, "batch channels n"]) -> tuple[Array, Array]:
    """Mean and biased variance per channel over samples and grid points."""
    mean = jnp.mean(h, axis=(0, 2))
    return mean, jnp.mean((h - mean[None, :, None]) ** 2, axis=(0, 2))


def _glorot(conv: PeriodicConv1d, key: PRNGKeyArray) -> PeriodicConv1d:
    """Keras's defaults: Glorot-uniform kernel, zero bias."""
    out_channels, in_channels, k = conv.weight.shape
    lim = math.sqrt(6.0 / (in_channels * k + out_channels * k))
    weight = jax.random.uniform(key, conv.weight.shape, conv.dtype, -lim, lim)
    conv = eqx.tree_at(lambda c: c.weight, conv, weight)
    return eqx.tree_at(lambda c: c.bias, conv, jnp.zeros_like(conv.bias))


class ModelErrorCNN(eqx.Module):
    r"""CNN of Brajard, Carrassi, Bocquet & Bertino (2021) for the model error of a
    truncated Lorenz-96: ``(n,) -> (n,)``.

    Architecture (the authors' code ``brajard/reddaml``, ``L2S/l2s_utils.py: buildmodel``
    with ``archi = [[43, 5, 'tanh'], [28, 1, 'tanh']]`` and ``batch_layer = 1``):

    1. periodic padding (by 2, here by each convolution: the same function);
    2. batch normalisation of the single input channel;
    3. a convolution with ``filters[0]`` (43) filters of width ``kernel_size`` (5), tanh;
    4. batch normalisation of its channels;
    5. a convolution with ``filters[1]`` (28) filters of width 1, tanh;
    6. a linear convolution of width 1 down to one channel (the ``output``; the authors'
       L2 penalty 0.072 on its kernel is a loss term, not part of the net).

    The output is a tendency-like correction (state units per time unit): the hybrid step
    is $x \leftarrow \mathcal M(x) + \Delta t\,\mathrm{net}(x)$
    (:func:`assimilax.hybrid.step_corrected`). Kernels are Glorot-uniform and biases
    zero at initialisation (Keras's defaults).

    Batch normalisation is kept as such: :meth:`train_apply` normalises a batch with its
    own statistics (training), ``__call__`` one sample with the stored population
    statistics (inference). Keras tracks those by a moving average (momentum 0.99) during
    training; here :meth:`with_statistics` computes them once after training on the
    whole training set with the final weights, layer by layer (the "precise" population
    statistics that the moving average approximates).

    Parameters in ``dtype`` (float32 by default); the input is cast to ``dtype``.

    Refs: Brajard, Carrassi, Bocquet & Bertino (2021), Phil. Trans. R. Soc. A 379,
    20200086, doi:10.1098/rsta.2020.0086; Ioffe & Szegedy (2015), ICML (batch
    normalisation).
    """

    norm_input: BatchNorm1d
    conv: PeriodicConv1d
    norm_hidden: BatchNorm1d
    hidden: PeriodicConv1d
    output: PeriodicConv1d
    dtype: jnp.dtype = eqx.field(static=True)

    def __init__(self, *, key: PRNGKeyArray, filters: tuple[int, int] = (43, 28),
                 kernel_size: int = 5, dtype=jnp.float32):
        if len(filters) != 2:
            raise ValueError(f"ModelErrorCNN: filters must be two widths, got {filters}.")
        self.dtype = jnp.dtype(dtype)
        k1, k2, k3 = jax.random.split(key, 3)
        a, b = (int(f) for f in filters)
        self.norm_input = BatchNorm1d(1, dtype=dtype)
        self.conv = _glorot(PeriodicConv1d(1, a, kernel_size, key=k1, dtype=dtype), k1)
        self.norm_hidden = BatchNorm1d(a, dtype=dtype)
        self.hidden = _glorot(PeriodicConv1d(a, b, 1, key=k2, dtype=dtype), k2)
        self.output = _glorot(PeriodicConv1d(b, 1, 1, key=k3, dtype=dtype), k3)

    def _first(self, x):
        return jnp.asarray(x).astype(self.dtype)[..., None, :]

    def _tail(self, h):
        return self.output(jnp.tanh(self.hidden(h)))[0]

    def __call__(self, x: Float[Array, " n"], *, key: PRNGKeyArray | None = None
                 ) -> Float[Array, " n"]:
        """The correction of one state (inference: stored statistics)."""
        h = jnp.tanh(self.conv(self.norm_input(self._first(x))))
        return self._tail(self.norm_hidden(h))

    def train_apply(self, xs: Float[Array, "batch n"]) -> Float[Array, "batch n"]:
        """The corrections of a batch, each normalisation with the batch's statistics."""
        h = self._first(xs)
        h = self.norm_input.normalise(h, *batch_statistics(h))
        h = jnp.tanh(jax.vmap(self.conv)(h))
        h = self.norm_hidden.normalise(h, *batch_statistics(h))
        return jax.vmap(self._tail)(h)

    def with_statistics(self, xs: Float[Array, "samples n"]) -> ModelErrorCNN:
        """A copy whose normalisations hold the population statistics of inputs ``xs``:
        those of the input, then those of the first layer's output computed with the
        input normalised by its population statistics."""
        h = self._first(xs)
        m0, v0 = batch_statistics(h)
        norm_input = eqx.tree_at(lambda n: (n.mean, n.var), self.norm_input, (m0, v0))
        h = jnp.tanh(jax.vmap(lambda s: self.conv(norm_input(s)))(h))
        m1, v1 = batch_statistics(h)
        net = eqx.tree_at(lambda n: n.norm_input, self, norm_input)
        return eqx.tree_at(lambda n: (n.norm_hidden.mean, n.norm_hidden.var), net, (m1, v1))
