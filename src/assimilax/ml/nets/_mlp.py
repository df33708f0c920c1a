"""Multi-layer perceptron."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray


class MLP(eqx.Module):
    """Fully connected network ``(in_size,) -> (out_size,)``.

    Hidden layers of sizes ``widths`` with ``activation``; the last layer is linear.
    ``widths=()`` is an affine map. Parameters in ``dtype`` (float32 by default); the input
    is cast to ``dtype``.
    """

    layers: tuple[eqx.nn.Linear, ...]
    activation: Callable[[Array], Array] = eqx.field(static=True)
    dtype: jnp.dtype = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        out_size: int,
        widths: Sequence[int] = (64, 64),
        *,
        key: PRNGKeyArray,
        activation: Callable[[Array], Array] = jax.nn.relu,
        dtype=jnp.float32,
    ):
        sizes = [int(in_size), *[int(w) for w in widths], int(out_size)]
        keys = jax.random.split(key, len(sizes) - 1)
        self.dtype = jnp.dtype(dtype)
        self.layers = tuple(
            eqx.nn.Linear(a, b, dtype=self.dtype, key=k)
            for a, b, k in zip(sizes[:-1], sizes[1:], keys, strict=True)
        )
        self.activation = activation

    def __call__(
        self, x: Float[Array, " in_size"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, " out_size"]:
        h = jnp.asarray(x).astype(self.dtype)
        for layer in self.layers[:-1]:
            h = self.activation(layer(h))
        return self.layers[-1](h)
