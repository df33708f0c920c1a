import equinox as eqx
import jax.numpy as jnp
import jax.scipy.linalg as jsl

from ..._ensemble import member_mean
from .._base import AbstractTransformFilter, ensemble_space
from .._linalg import AbstractRotation, NoRotation, standard_normal
from ..inflation import AbstractInflation, NoInflation


class EnKF(AbstractTransformFilter):
    r"""Stochastic ensemble Kalman filter with perturbed observations.

    Each member assimilates $y - \epsilon_m$, with $\epsilon_m \sim N(0, R)$ centred over
    the ensemble and, by default, rescaled by $\sqrt{N/(N-1)}$ to restore the variance
    the centring removes from each member (DAPPER's ``mean0``, whose ``rescale=True``
    default its ``EnKF('PertObs')`` uses). In whitened ensemble space:

    $$E_a = E_f + \tilde I\,\tilde Y^T\,(\tilde Y\tilde Y^T + (N-1)I)^{-1} A_f,$$

    with $\tilde I_m = R^{-1/2}(y - \epsilon_m - H(x_m))$ (the Woodbury form of
    $K = A^T Y (Y^TY + (N-1)R)^{-1}$). Inflation multiplies the analysis anomalies.

    Attributes:
        inflation: applied to the analysis anomalies.
        rotation: applied after the inflation (none by default).
        rescale_perturbations: multiply the centred perturbations by $\sqrt{N/(N-1)}$
            (DAPPER's ``EnKF('PertObs')``): each member's perturbation then has variance
            $R$, and their sample covariance ($1/(N-1)$) $N R/(N-1)$. ``False`` leaves
            them centred only: an unbiased sample covariance $R$ and less spread.

    Refs: Burgers et al. (1998), Mon. Wea. Rev.; Evensen (2009), Data Assimilation.
    """

    inflation: AbstractInflation = NoInflation()
    rotation: AbstractRotation = NoRotation()
    rescale_perturbations: bool = eqx.field(static=True, default=True)

    def _gain_weights(self, ensemble, window, key):
        y, mask = window.obs
        es = ensemble_space(ensemble, y, mask, window.operator, window.noise)
        N = ensemble.shape[0]
        D = standard_normal(key, es.Y.shape, es.Y.dtype)
        D = D - member_mean(D)
        if self.rescale_perturbations:
            D = D * jnp.sqrt(N / (N - 1.0))
        D = jnp.where(mask, D, 0.0)
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
