import equinox as eqx
import jax.numpy as jnp
import jax.scipy.linalg as jsl

from .._base import AbstractTransformFilter, ensemble_space, mean_transform
from .._linalg import (
    AbstractInvSqrt,
    AbstractRotation,
    HaarRotation,
    NewtonSchulzInvSqrt,
    NoRotation,
    haar_orthogonal,
    mean_preserving_basis,
)
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


def etkf_haar_analysis(mean, A, Y, d, *, key):
    r"""ETKF analysis followed by a Haar rotation, with a Cholesky factor as the square root.

    In the basis ``V`` of $\mathbf{1}^\perp$ (``(N, N-1)``), with $Y' = V^T\tilde Y$,
    $A' = V^T A$, $G' = Y'Y'^T + (N-1)I = LL^T$ and $Q$ Haar on ``O(N-1)``
    (:func:`~assimilax.da.haar_orthogonal`):

    $$\bar x_a = \bar x + (G'^{-1}Y'\tilde d)^T A',\qquad
    A_a = \sqrt{N-1}\;V\,Q\,L^{-1}A'.$$

    Since $L^{-1} = U\,G'^{-1/2}$ with $U$ orthogonal and $Q$ Haar and independent of
    $U$, $QL^{-1}$ has exactly the distribution of $Q\,G'^{-1/2}$: the symmetric
    square root followed by DAPPER's random rotation ``genOG_1``, for the cost of a
    Cholesky factorisation instead of a matrix square root.
    """
    N = A.shape[0]
    N1 = N - 1
    V = jnp.asarray(mean_preserving_basis(N), A.dtype)
    Yp = V.T @ Y
    Ap = V.T @ A
    L = jnp.linalg.cholesky(Yp @ Yp.T + N1 * jnp.eye(N1, dtype=A.dtype))
    wp = jsl.cho_solve((L, True), Yp @ d)
    Q = haar_orthogonal(key, N1, A.dtype)
    C = jsl.solve_triangular(L, Ap, lower=True)
    return mean + wp @ Ap + jnp.sqrt(N1) * (V @ (Q @ C))


class ETKF(AbstractTransformFilter):
    r"""Ensemble transform Kalman filter with the symmetric square root.

    With whitened observation anomalies $\tilde Y$ and innovation $\tilde d$:

    $$G = \tilde Y\tilde Y^T + (N-1)I,\quad w = G^{-1}\tilde Y\tilde d,\quad
    T = \sqrt{N-1}\,G^{-1/2},\quad E_a = \bar x + (w + T)A_f.$$

    The analysis anomalies are then inflated (``inflation``) and turned by a random
    mean-preserving rotation (``rotation``, DAPPER's ``EnKF('Sqrt', rot=True)``;
    :class:`~assimilax.da.NoRotation` for ``rot=False``).
    ``inv_sqrt`` computes $G^{-1/2}$; the default Newton-Schulz iteration uses matrix
    products only, :class:`~assimilax.da.EighInvSqrt` is the eigendecomposition.
    With a Haar rotation and an inflation that commutes with it (none, multiplicative,
    RTPS: ``inflation.commutes_with_rotation``), and ``fuse_rotation`` (default), the
    square root and the rotation are drawn together (:func:`etkf_haar_analysis`): equal
    in distribution, cheaper, but not the same members for the same key as the two-step
    path (``fuse_rotation=False``), which
    is what the LETKF without localization reproduces exactly.

    Refs: Bishop et al. (2001), Mon. Wea. Rev.; Hunt et al. (2007), Physica D;
    Sakov & Oke (2008), Mon. Wea. Rev.
    """

    inflation: AbstractInflation = NoInflation()
    rotation: AbstractRotation = HaarRotation()
    inv_sqrt: AbstractInvSqrt = NewtonSchulzInvSqrt()
    fuse_rotation: bool = eqx.field(static=True, default=True)

    def update(self, ensemble, window, *, key, rotation, rotation_key):
        del key
        es = ensemble_space(ensemble, *window.obs, window.operator, window.noise)
        if self.fuse_rotation and rotation.haar:
            return etkf_haar_analysis(es.mean, es.A, es.Y, es.d, key=rotation_key), NoRotation()
        w, T = etkf_weights(es.Y, es.d, self.inv_sqrt)
        return es.mean + (w[None, :] + T) @ es.A, rotation

    def transform(self, ensemble, window, *, key):
        del key
        es = ensemble_space(ensemble, *window.obs, window.operator, window.noise)
        w, T = etkf_weights(es.Y, es.d, self.inv_sqrt)
        return mean_transform(ensemble.shape[0], w, T, ensemble.dtype)
