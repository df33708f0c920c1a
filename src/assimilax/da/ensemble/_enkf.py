import jax.numpy as jnp
import jax.scipy.linalg as jsl

from ..._ensemble import member_mean
from .._base import AbstractTransformFilter, ensemble_space
from .._linalg import AbstractRotation, NoRotation, standard_normal
from ..inflation import AbstractInflation, NoInflation


class EnKF(AbstractTransformFilter):
    r"""Stochastic ensemble Kalman filter with perturbed observations.

    Each member assimilates $y - \epsilon_m$, with $\epsilon_m \sim N(0, R)$ centred over
    the ensemble (DAPPER's ``mean0``). In whitened ensemble space:

    $$E_a = E_f + \tilde I\,\tilde Y^T\,(\tilde Y\tilde Y^T + (N-1)I)^{-1} A_f,$$

    with $\tilde I_m = R^{-1/2}(y - \epsilon_m - H(x_m))$ (the Woodbury form of
    $K = A^T Y (Y^TY + (N-1)R)^{-1}$). Inflation multiplies the analysis anomalies.

    Refs: Burgers et al. (1998), Mon. Wea. Rev.; Evensen (2009), Data Assimilation.
    """

    inflation: AbstractInflation = NoInflation()
    rotation: AbstractRotation = NoRotation()

    def _gain_weights(self, ensemble, window, key):
        y, mask = window.obs
        es = ensemble_space(ensemble, y, mask, window.operator, window.noise)
        N = ensemble.shape[0]
        D = standard_normal(key, es.Y.shape, es.Y.dtype)
        D = jnp.where(mask, D - member_mean(D), 0.0)
        innov = window.noise.whiten(y - es.Eo, mask) - D  # (member, obs)
        G = es.Y @ es.Y.T + (N - 1) * jnp.eye(N, dtype=es.Y.dtype)
        Z = jsl.cho_solve(jsl.cho_factor(G), es.Y @ innov.T).T  # (member, member)
        return es, Z

    def update(self, ensemble, window, *, key, rotation, rotation_key):
        del rotation_key
        es, Z = self._gain_weights(ensemble, window, key)
        return ensemble + Z @ es.A, rotation

    def transform(self, ensemble, window, *, key):
        _, Z = self._gain_weights(ensemble, window, key)
        N = ensemble.shape[0]
        Pi = jnp.eye(N, dtype=Z.dtype) - 1.0 / N
        return jnp.eye(N, dtype=Z.dtype) + Z @ Pi
