"""Fixed input/output standardisation around a network."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray


class Standardized(eqx.Module):
    r"""Normalise the input, de-normalise the output of ``net``:

    $$y = \sigma_{out} \odot \mathrm{net}\big((x - \mu_{in}) / \sigma_{in}\big) + \mu_{out}.$$

    The statistics (scalars or arrays broadcasting against one sample) are constants:
    they pass through ``jax.lax.stop_gradient``, so their gradients are zero and plain
    optimisers (SGD, Adam) leave them unchanged. An optimiser with decoupled weight decay
    (``optax.adamw``) would still shrink them: train with
    ``fit(..., filter_spec=...)`` excluding them, or without weight decay.

    Shapes follow ``net`` (``(n,) -> (n,)`` for the nets of this package); the statistics
    are stored in ``dtype`` (float32 by default) and the output is in ``dtype``.
    """

    net: eqx.Module
    in_mean: Array
    in_std: Array
    out_mean: Array
    out_std: Array

    def __init__(
        self,
        net: eqx.Module,
        in_mean: ArrayLike,
        in_std: ArrayLike,
        out_mean: ArrayLike = 0.0,
        out_std: ArrayLike = 1.0,
        *,
        dtype=jnp.float32,
    ):
        self.net = net
        self.in_mean = jnp.asarray(in_mean, dtype)
        self.in_std = jnp.asarray(in_std, dtype)
        self.out_mean = jnp.asarray(out_mean, dtype)
        self.out_std = jnp.asarray(out_std, dtype)

    def __call__(self, x: Float[Array, "*shape"], *, key: PRNGKeyArray | None = None) -> Array:
        sg = jax.lax.stop_gradient
        dtype = self.in_mean.dtype
        z = (jnp.asarray(x).astype(dtype) - sg(self.in_mean)) / sg(self.in_std)
        y = jnp.asarray(self.net(z, key=key)).astype(dtype)
        return y * sg(self.out_std) + sg(self.out_mean)
