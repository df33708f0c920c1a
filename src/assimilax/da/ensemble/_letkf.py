import equinox as eqx
import jax.numpy as jnp

from .._base import AbstractEnsembleFilter, ensemble_space
from .._linalg import AbstractInvSqrt, AbstractRotation, HaarRotation, NewtonSchulzInvSqrt
from ..inflation import AbstractInflation, NoInflation
from ..localization import AbstractTaper, GaspariCohn


class LETKF(AbstractEnsembleFilter):
    r"""Local ensemble transform Kalman filter with R-localization.

    For every state variable $i$, the observations are tapered by $c_{ij}$
    (``localization``, Gaspari-Cohn in DAPPER's radius convention, coefficients below
    ``cutoff`` dropped); the square root of the taper scales the whitened observation
    anomalies and innovation, and a symmetric square-root ETKF runs in ensemble space:

    $$G_i = \sum_j c_{ij}\,\tilde y_j\tilde y_j^T + (N-1)I,\quad
    w_i = G_i^{-1}\sum_j c_{ij}\,\tilde y_j \tilde d_j,\quad T_i = \sqrt{N-1}\,G_i^{-1/2},$$
    $$E_a[:, i] = \bar x_i + (w_i + T_i)A_f[:, i].$$

    All local analyses run as one batched computation. Inflation and the random
    rotation are then applied globally, as in DAPPER's ``LETKF``. With
    :class:`~assimilax.da.NoLocalization` it equals the :class:`ETKF`.

    Refs: Hunt, Kostelich & Szunyogh (2007), Physica D 230, 112-126;
    Sakov & Bertino (2011), Comput. Geosci.
    """

    inflation: AbstractInflation = NoInflation()
    rotation: AbstractRotation = HaarRotation()
    localization: AbstractTaper = GaspariCohn(4.0)
    cutoff: float = eqx.field(static=True, default=1e-3)
    inv_sqrt: AbstractInvSqrt = NewtonSchulzInvSqrt()

    def update(self, ensemble, window, *, key, rotation, rotation_key):
        del key, rotation_key
        y, mask = window.obs
        operator, noise = window.operator, window.noise
        if not noise.is_diagonal:
            raise ValueError(
                "LETKF: R-localization needs uncorrelated observation errors (DiagonalNoise)."
            )
        es = ensemble_space(ensemble, y, mask, operator, noise)
        N = ensemble.shape[0]
        N1 = N - 1
        C = jnp.asarray(self.localization.matrix(operator, self.cutoff), ensemble.dtype)
        Y = es.Y
        outer = Y.T[:, :, None] * Y.T[:, None, :]  # (obs, member, member)
        G = jnp.tensordot(C, outer, axes=1) + N1 * jnp.eye(N, dtype=Y.dtype)  # (state, N, N)
        b = C @ (Y * es.d[None, :]).T  # (state, member)
        Gis, Gi = self.inv_sqrt(G, shift=float(N1))
        w = jnp.sum(Gi * b[:, None, :], axis=-1)  # (state, member)
        T = jnp.sqrt(N1) * Gis  # (state, member, member)
        A = es.A
        increment = jnp.sum(w * A.T, axis=-1)  # (state,)
        anomalies = jnp.sum(T * A.T[:, None, :], axis=-1).T  # (member, state)
        return es.mean + increment + anomalies, rotation
