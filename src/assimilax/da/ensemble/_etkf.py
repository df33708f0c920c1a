import equinox as eqx
import jax.numpy as jnp

from .._base import AbstractTransformFilter, ensemble_space, mean_transform
from .._linalg import AbstractInvSqrt, AbstractRotation, HaarRotation, NewtonSchulzInvSqrt
from ..inflation import AbstractInflation, NoInflation


def etkf_weights(Y, d, inv_sqrt: AbstractInvSqrt):
    r"""Symmetric square-root ETKF in ensemble space.

    $G = \tilde Y \tilde Y^T + (N-1) I$, $w = G^{-1}\tilde Y \tilde d$,
    $T = \sqrt{N-1}\,G^{-1/2}$, for whitened anomalies ``Y`` ``(member, obs)`` and
    innovation ``d`` ``(obs,)``. Returns ``(w, T)``: ``(member,)`` and ``(member, member)``.
    """
    N = Y.shape[0]
    N1 = N - 1
    G = Y @ Y.T + N1 * jnp.eye(N, dtype=Y.dtype)
    Gis, Gi = inv_sqrt(G, shift=float(N1))
    return Gi @ (Y @ d), jnp.sqrt(N1) * Gis


class ETKF(AbstractTransformFilter):
    r"""Ensemble transform Kalman filter with the symmetric square root.

    With whitened observation anomalies $\tilde Y$ and innovation $\tilde d$:

    $$G = \tilde Y\tilde Y^T + (N-1)I,\quad w = G^{-1}\tilde Y\tilde d,\quad
    T = \sqrt{N-1}\,G^{-1/2},\quad E_a = \bar x + (w + T)A_f.$$

    The analysis anomalies are then inflated (``inflation``) and, if ``rotate``, turned by
    a random mean-preserving rotation (DAPPER's ``EnKF('Sqrt', rot=True)``).
    ``inv_sqrt`` computes $G^{-1/2}$; the default Newton-Schulz iteration uses matrix
    products only, :class:`~assimilax.da.EighInvSqrt` is the eigendecomposition.

    Refs: Bishop et al. (2001), Mon. Wea. Rev.; Hunt et al. (2007), Physica D;
    Sakov & Oke (2008), Mon. Wea. Rev.
    """

    inflation: AbstractInflation = NoInflation()
    rotate: bool = eqx.field(static=True, default=True)
    rotation: AbstractRotation = HaarRotation()
    inv_sqrt: AbstractInvSqrt = NewtonSchulzInvSqrt()

    def update(self, ensemble, y, mask, operator, noise, *, key):
        del key
        es = ensemble_space(ensemble, y, mask, operator, noise)
        w, T = etkf_weights(es.Y, es.d, self.inv_sqrt)
        return es.mean + (w[None, :] + T) @ es.A

    def transform(self, ensemble, y, mask, operator, noise, *, key):
        del key
        es = ensemble_space(ensemble, y, mask, operator, noise)
        w, T = etkf_weights(es.Y, es.d, self.inv_sqrt)
        return mean_transform(ensemble.shape[0], w, T, ensemble.dtype)
