"""A small 2-D U-Net."""

from __future__ import annotations

import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray


class _Conv2d(eqx.Module):
    """Shape-preserving 2-D convolution (odd kernel), zero or periodic padding.

    One pad, the ``k * k`` shifted slices stacked into a patch matrix, one matrix product:
    as for :class:`PeriodicConv1d`, far faster than ``lax.conv`` inside the ``lax.scan`` of
    a training epoch on XLA's CPU backend.
    """

    weight: Array
    bias: Array
    periodic: bool = eqx.field(static=True)

    def __init__(self, in_channels, out_channels, kernel_size, periodic, dtype, *, key):
        kw, kb = jax.random.split(key)
        lim = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.weight = jax.random.uniform(
            kw, (out_channels, in_channels, kernel_size, kernel_size), dtype, -lim, lim)
        self.bias = jax.random.uniform(kb, (out_channels,), dtype, -lim, lim)
        self.periodic = periodic

    def __call__(self, x: Float[Array, "c h w"]) -> Float[Array, "o h w"]:
        o, c, k, _ = self.weight.shape
        _, h, w = x.shape
        p = k // 2
        if p:
            x = jnp.pad(x, ((0, 0), (p, p), (p, p)), mode="wrap" if self.periodic else "constant")
        patches = jnp.stack(
            [x[:, a:a + h, b:b + w] for a in range(k) for b in range(k)], axis=1
        )  # (c, k*k, h, w)
        y = self.weight.reshape(o, c * k * k) @ patches.reshape(c * k * k, h * w)
        return (y + self.bias[:, None]).reshape(o, h, w)


def _pool2(x: Array) -> Array:
    """2x2 average pooling of ``(c, h, w)``."""
    c, h, w = x.shape
    return x.reshape(c, h // 2, 2, w // 2, 2).mean(axis=(2, 4))


def _upsample2(x: Array) -> Array:
    """Nearest-neighbour upsampling by 2 of ``(c, h, w)``."""
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


class UNet2d(eqx.Module):
    """A small U-Net: ``(in_channels, h, w) -> (out_channels, h, w)``.

    Level ``l = 0..depth`` has ``base_channels * 2**l`` channels and a block of two
    ``kernel_size`` convolutions with ``activation``. Going down: 2x2 average pooling;
    going up: nearest-neighbour upsampling, a convolution to the level's width,
    concatenation with the skip connection from the same level on the way down, and the
    level's block. A final 1x1 convolution maps to ``out_channels`` (linear).

    ``h`` and ``w`` must be divisible by ``2**depth`` (checked when called). Convolutions pad
    with zeros, or periodically in both directions with ``periodic=True`` (doubly periodic
    domains such as the shallow-water or QG channel models). Parameters in ``dtype``
    (float32 by default); the input is cast to ``dtype``.

    Refs: Ronneberger, Fischer & Brox (2015), MICCAI, LNCS 9351, 234-241.
    """

    down: tuple[tuple[_Conv2d, _Conv2d], ...]
    up_convs: tuple[_Conv2d, ...]
    up: tuple[tuple[_Conv2d, _Conv2d], ...]
    head: _Conv2d
    depth: int = eqx.field(static=True)
    activation: Callable[[Array], Array] = eqx.field(static=True)
    dtype: jnp.dtype = eqx.field(static=True)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        key: PRNGKeyArray,
        base_channels: int = 16,
        depth: int = 2,
        kernel_size: int = 3,
        periodic: bool = False,
        activation: Callable[[Array], Array] = jax.nn.relu,
        dtype=jnp.float32,
    ):
        if depth < 0:
            raise ValueError(f"UNet2d: depth must be >= 0, got {depth}.")
        if kernel_size % 2 != 1:
            raise ValueError(f"UNet2d: kernel_size must be odd, got {kernel_size}.")
        self.depth = int(depth)
        self.activation = activation
        self.dtype = jnp.dtype(dtype)

        def conv(a, b, key, size=kernel_size):
            return _Conv2d(a, b, size, periodic, self.dtype, key=key)

        keys = iter(jax.random.split(key, 5 * depth + 4))
        widths = [base_channels * 2**level for level in range(depth + 1)]
        down, prev = [], in_channels
        for w in widths:
            down.append((conv(prev, w, next(keys)), conv(w, w, next(keys))))
            prev = w
        up_convs, up = [], []
        for level in reversed(range(depth)):
            w = widths[level]
            up_convs.append(conv(widths[level + 1], w, next(keys)))
            up.append((conv(2 * w, w, next(keys)), conv(w, w, next(keys))))
        self.down, self.up_convs, self.up = tuple(down), tuple(up_convs), tuple(up)
        self.head = conv(widths[0], out_channels, next(keys), size=1)

    def _block(self, block, x):
        for layer in block:
            x = self.activation(layer(x))
        return x

    def __call__(
        self, x: Float[Array, "in_channels h w"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, "out_channels h w"]:
        x = jnp.asarray(x).astype(self.dtype)
        if x.ndim != 3:
            raise ValueError(
                f"UNet2d acts on one sample of shape (channels, h, w); got shape {x.shape}. "
                "Batch with jax.vmap."
            )
        factor = 2**self.depth
        if x.shape[1] % factor or x.shape[2] % factor:
            raise ValueError(
                f"UNet2d with depth={self.depth}: h and w must be divisible by 2**depth = "
                f"{factor}; got (h, w) = {x.shape[1:]}. Pad or crop the field, or use a "
                "smaller depth."
            )
        skips = []
        for level, block in enumerate(self.down):
            if level:
                x = _pool2(x)
            x = self._block(block, x)
            skips.append(x)
        skips.pop()
        for up_conv, block in zip(self.up_convs, self.up, strict=True):
            x = self.activation(up_conv(_upsample2(x)))
            x = self._block(block, jnp.concatenate([skips.pop(), x], axis=0))
        return self.head(x)
