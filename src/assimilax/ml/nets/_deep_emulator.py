"""The deep Lorenz-96 emulator network of Nonnenmacher & Greenberg (2021)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray


class DeepEmulatorCNN(eqx.Module):
    r"""The authors' L96 emulator network (their ``TinyNetwork``): ``(n,) -> (n,)``.

    For each width $w$ of ``ks3_widths``: a periodic kernel-3 convolution to $w$ channels,
    then kernel-1 ("pointwise") convolutions of ``inter_widths`` (after every kernel-3
    layer but the last) or ``final_widths`` (after the last), all with ReLU; a final linear
    kernel-1 convolution to one channel. Two kernel-3 layers give a receptive field of 5
    grid points, $x_{i-2},\dots,x_{i+2}$, enough for the L96 tendency. Translation-
    equivariant on the ring. The defaults are the authors' "deep" emulator (exp 77):
    ``(16, 32)``, ``(32, 32, 32)``, ``(128, 128, 128)``; 43,201 parameters.

    Each layer is written as a matrix product, $h' = W\,[h_{i-1}; h_i; h_{i+1}] + b$ for
    kernel 3 (one periodic pad and three slices stacked along the channels) and
    $h' = Wh + b$ for kernel 1, rather than as an XLA convolution: inside ``lax.scan`` /
    ``while`` loops (the epochs of :func:`~assimilax.ml.training.fit`, the 4D-Var
    iterations) XLA's CPU convolutions run about 8x slower than at the top level of a
    program, matrix products do not (measured: one epoch of 112 minibatches of 32, 27.5 s
    with ``eqx.nn.Conv1d`` layers, 3.4 s with matrix products, 2 cores).
    Initialisation as PyTorch's ``Conv1d`` (uniform in $\pm 1/\sqrt{\text{fan-in}}$).
    Parameters in ``dtype`` (float32 by default); the input is cast to it.
    """

    weights: tuple[Array, ...]
    biases: tuple[Array, ...]
    kernel_sizes: tuple[int, ...] = eqx.field(static=True)
    dtype: Any = eqx.field(static=True)

    def __init__(
        self,
        *,
        key: PRNGKeyArray,
        ks3_widths: Sequence[int] = (16, 32),
        inter_widths: Sequence[int] = (32, 32, 32),
        final_widths: Sequence[int] = (128, 128, 128),
        dtype=jnp.float32,
    ):
        if not ks3_widths:
            raise ValueError("DeepEmulatorCNN: ks3_widths needs at least one layer.")
        plan = []  # (in, out, kernel)
        c = 1
        for i, w in enumerate(ks3_widths):
            plan.append((c, int(w), 3))
            c = int(w)
            for v in (final_widths if i == len(ks3_widths) - 1 else inter_widths):
                plan.append((c, int(v), 1))
                c = int(v)
        plan.append((c, 1, 1))
        weights, biases = [], []
        for (a, b, k), kk in zip(plan, jax.random.split(key, len(plan)), strict=True):
            kw, kb = jax.random.split(kk)
            bound = 1.0 / np.sqrt(a * k)
            weights.append(jax.random.uniform(kw, (b, a * k), dtype, -bound, bound))
            biases.append(jax.random.uniform(kb, (b, 1), dtype, -bound, bound))
        self.weights, self.biases = tuple(weights), tuple(biases)
        self.kernel_sizes = tuple(k for _, _, k in plan)
        self.dtype = jnp.dtype(dtype)

    def __call__(self, x: Float[Array, " n"], *, key: PRNGKeyArray | None = None
                 ) -> Float[Array, " n"]:
        h = jnp.asarray(x).astype(self.dtype)[None]
        n = h.shape[-1]
        last = len(self.weights) - 1
        for i, (w, b, k) in enumerate(zip(self.weights, self.biases, self.kernel_sizes,
                                          strict=True)):
            if k == 3:
                hp = jnp.concatenate([h[:, -1:], h, h[:, :1]], axis=1)
                h = jnp.concatenate([hp[:, 0:n], hp[:, 1:n + 1], hp[:, 2:n + 2]], axis=0)
            h = w @ h + b
            if i < last:
                h = jax.nn.relu(h)
        return h[0]
