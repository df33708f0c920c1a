"""The convolutional network with a bilinear layer of Brajard et al. (2020)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ._conv import PeriodicConv1d


class BrajardCNN(eqx.Module):
    r"""CNN of Brajard, Carrassi, Bocquet & Bertino (2020) for Lorenz-96: ``(n,) -> (n,)``.

    Architecture (paper, Sect. 3 and Fig. 2; authors' code ``brajard/GMD-code``,
    ``utils.py: NNPredictor.buildmodels`` with ``example.py: param_nn = {'archi':
    ((24, 5, 'relu', 0.0), (37, 5, 'relu', 0.0)), 'bilin': True, 'batchnorm': True,
    'reg': ('ridge', 1e-4)}``):

    1. optional input normalisation (the paper's batch normalisation; see below);
    2. the *bilinear layer*: three periodic convolutions of the input with
       ``bilinear_filters`` (24) filters of width ``kernel_size`` (5), activation ReLU,
       $a, b, c$; output ``concat([c, a * b])``, i.e. ``2 * bilinear_filters`` (48)
       channels — the products let the net represent the quadratic advection
       $(x_{i+1}-x_{i-2})x_{i-1}$ of Lorenz-96;
    3. periodic convolutions with ``hidden_filters`` (``(37,)``) filters of width
       ``kernel_size``, ReLU;
    4. a linear convolution of width 1 down to one channel.

    The output is the increment $f_{nn}(x)$ only: the paper's surrogate is the resolvent
    $x_{k+1} = x_k + f_{nn}(x_k)$ (a Keras ``Add`` of input and output), so wrap this net
    in ``assimilax.ml.Emulator(net, dt, mode="resolvent")`` to reproduce it, or use it as a
    tendency. The paper's L2 (ridge, $10^{-4}$) penalty on the last layer is a loss term,
    not part of the net. Periodicity: the Keras code pads the input once by the total
    half-width and uses VALID convolutions; padding each layer, as here, is the same
    function.

    Batch normalisation of the single input channel, at inference, is the scalar affine map
    $x \mapsto \gamma (x - \mu)/\sigma + \beta$. With ``input_norm=True`` the net holds
    that map as two learnable scalars, ``scale`` and ``shift``, initialised to
    ``1/input_std`` and ``-input_mean/input_std`` (pass the training data's mean and
    standard deviation). Per-sample modules carry no batch statistics, so nothing else of
    batch normalisation is kept.

    Parameters in ``dtype`` (float32 by default); the input is cast to ``dtype``.

    Refs: Brajard, Carrassi, Bocquet & Bertino (2020), J. Comput. Sci. 44, 101171,
    doi:10.1016/j.jocs.2020.101171.
    """

    bilinear: tuple[PeriodicConv1d, PeriodicConv1d, PeriodicConv1d]
    hidden: tuple[PeriodicConv1d, ...]
    output: PeriodicConv1d
    scale: Array | None
    shift: Array | None
    activation: Callable[[Array], Array] = eqx.field(static=True)
    dtype: jnp.dtype = eqx.field(static=True)

    def __init__(
        self,
        *,
        key: PRNGKeyArray,
        kernel_size: int = 5,
        bilinear_filters: int = 24,
        hidden_filters: Sequence[int] = (37,),
        input_norm: bool = False,
        input_mean: float = 0.0,
        input_std: float = 1.0,
        activation: Callable[[Array], Array] = jax.nn.relu,
        dtype=jnp.float32,
    ):
        self.dtype = jnp.dtype(dtype)
        self.activation = activation
        kb1, kb2, kb3, kh, ko = jax.random.split(key, 5)
        self.bilinear = tuple(
            PeriodicConv1d(1, bilinear_filters, kernel_size, key=k, dtype=dtype)
            for k in (kb1, kb2, kb3)
        )
        widths = [2 * bilinear_filters, *[int(w) for w in hidden_filters]]
        hkeys = jax.random.split(kh, max(len(widths) - 1, 1))
        self.hidden = tuple(
            PeriodicConv1d(a, b, kernel_size, key=k, dtype=dtype)
            for a, b, k in zip(widths[:-1], widths[1:], hkeys, strict=False)
        )
        self.output = PeriodicConv1d(widths[-1], 1, 1, key=ko, dtype=dtype)
        if input_norm:
            if input_std <= 0:
                raise ValueError(f"BrajardCNN: input_std must be > 0, got {input_std}.")
            self.scale = jnp.asarray(1.0 / input_std, self.dtype)
            self.shift = jnp.asarray(-input_mean / input_std, self.dtype)
        else:
            self.scale = self.shift = None

    def __call__(
        self, x: Float[Array, " n"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, " n"]:
        h = jnp.asarray(x).astype(self.dtype)[None]
        if self.scale is not None:
            h = self.scale * h + self.shift
        a, b, c = (self.activation(conv(h)) for conv in self.bilinear)
        h = jnp.concatenate([c, a * b], axis=0)
        for layer in self.hidden:
            h = self.activation(layer(h))
        return self.output(h)[0]
