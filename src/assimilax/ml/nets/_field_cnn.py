"""A convolutional map of a state made of stacked 2-D fields to a state of the same shape,
on a channel: periodic in ``x``, between walls in ``y``."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray


def channel_pad(x: Float[Array, "c h w"], p: int) -> Float[Array, "c h+2p w+2p"]:
    """Pad by ``p`` points: periodically in ``x`` (axis 2), by repeating the rows next to
    the walls in ``y`` (axis 1)."""
    x = jnp.pad(x, ((0, 0), (p, p), (0, 0)), mode="edge")
    return jnp.pad(x, ((0, 0), (0, 0), (p, p)), mode="wrap")


class FieldCNN(eqx.Module):
    r"""Two ``kernel_size`` convolutions of ``width`` channels with ``activation``, then a
    linear 1x1 convolution back to the fields: ``(c * h * w,) -> (c * h * w,)``.

    The flat state (the layout of the model zoo's gridded models, e.g. the QG model's
    ``(psi1, psi2)`` on ``(ny, nx)``) is reshaped to ``(c, h, w)`` channels, joined by the
    fixed ``static`` channels (fields of the domain the correction may depend on where
    the dynamics are not translation-invariant: latitude, orography), mapped and
    flattened back. Padding is periodic in ``x`` and repeats the wall rows in ``y``
    (:func:`channel_pad`). Receptive field: ``2 * kernel_size - 1`` points.

    Args:
        shape: ``(c, h, w)`` of the state's fields.
        width: channels of the two hidden convolutions.
        key: initialisation key.
        static: fixed input channels ``(s, h, w)`` (not trained), or ``None``.
        kernel_size: odd width of the hidden convolutions.
        activation: of the hidden convolutions (tanh: smooth and bounded).
        zero_output: make the output convolution zero (the map starts as zero: a
            correction that starts as none).
        dtype: of the parameters.
    """

    layers: tuple[eqx.nn.Conv2d, ...]
    static: Array | None
    shape: tuple[int, int, int] = eqx.field(static=True)
    activation: Callable[[Array], Array] = eqx.field(static=True)

    def __init__(
        self,
        shape: tuple[int, int, int],
        width: int,
        *,
        key: PRNGKeyArray,
        static: Float[Array, "s h w"] | None = None,
        kernel_size: int = 3,
        activation: Callable[[Array], Array] = jnp.tanh,
        zero_output: bool = False,
        dtype: jnp.dtype = jnp.float64,
    ):
        if len(shape) != 3:
            raise ValueError(f"FieldCNN: shape must be (channels, h, w), got {shape}.")
        if kernel_size % 2 != 1:
            raise ValueError(f"FieldCNN: kernel_size must be odd, got {kernel_size}.")
        self.shape = tuple(int(s) for s in shape)
        if static is not None:
            static = jnp.asarray(static, dtype)
            if static.ndim != 3 or static.shape[1:] != self.shape[1:]:
                raise ValueError(f"FieldCNN: static channels must be (s, {self.shape[1]}, "
                                 f"{self.shape[2]}), got {static.shape}.")
        self.static = static
        c = self.shape[0]
        inputs = c + (0 if static is None else static.shape[0])
        k1, k2, k3 = jax.random.split(key, 3)
        layers = [eqx.nn.Conv2d(inputs, width, kernel_size, key=k1, dtype=dtype),
                  eqx.nn.Conv2d(width, width, kernel_size, key=k2, dtype=dtype),
                  eqx.nn.Conv2d(width, c, 1, key=k3, dtype=dtype)]
        if zero_output:
            layers[-1] = jax.tree.map(jnp.zeros_like, layers[-1])
        self.layers = tuple(layers)
        self.activation = activation

    def __call__(
        self, x: Float[Array, " state"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, " state"]:
        size = self.shape[0] * self.shape[1] * self.shape[2]
        if x.shape != (size,):
            raise ValueError(f"FieldCNN on fields {self.shape} takes a state of shape "
                             f"({size},); got {x.shape}. Batch with jax.vmap.")
        h = x.reshape(self.shape).astype(self.layers[0].weight.dtype)
        if self.static is not None:
            h = jnp.concatenate([h, jax.lax.stop_gradient(self.static)])
        for conv in self.layers[:-1]:
            h = self.activation(conv(channel_pad(h, conv.kernel_size[0] // 2)))
        return self.layers[-1](h).reshape(x.shape)
