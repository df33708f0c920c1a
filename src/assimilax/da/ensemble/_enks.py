import equinox as eqx
import jax
import jax.numpy as jnp

from ..._ensemble import member_mean
from .._base import AbstractEnsembleMethod, AbstractTransformFilter


class EnKS(AbstractEnsembleMethod):
    r"""Fixed-lag ensemble Kalman smoother built on a transform filter.

    At every analysis the filter's transform $M$ ($E_a = M E_f$) also updates the
    ensembles of the last ``lag`` analysis times, $E_{k-l} \leftarrow M E_{k-l}$; the
    estimate of cycle $k$ is final once the observations up to cycle $k + $ ``lag`` are in.
    Inflation applies to the current ensemble only (DAPPER's ``EnKS``). A random
    rotation, being a relabelling of the members, is applied to the lagged ensembles
    too, so that member ``m`` stays one trajectory across the lag window (DAPPER rotates
    the current ensemble alone, which decorrelates it from its past and spoils the
    smoother).

    The method emits, at cycle $k$, the smoothed mean of cycle $k - $ ``lag``;
    :meth:`finish` gives the last ``lag`` ones.

    Refs: Evensen & van Leeuwen (2000), Mon. Wea. Rev.; Evensen (2009), Data Assimilation.
    """

    filter: AbstractTransformFilter
    lag: int = eqx.field(static=True, default=10)

    def __check_init__(self):
        if self.lag < 0:
            raise ValueError(f"EnKS: lag must be >= 0, got {self.lag}.")

    def init(self, ensemble):
        return jnp.zeros((self.lag,) + ensemble.shape, ensemble.dtype)

    def step(self, ensemble, state, y, mask, operator, noise, *, key):
        k_transform, k_rotate = jax.random.split(key)
        M = self.filter.transform(ensemble, y, mask, operator, noise, key=k_transform)
        analysis = self.filter.inflation(ensemble, M @ ensemble)
        if self.filter.rotate:
            Q = self.filter.rotation.matrix(ensemble.shape[0], key=k_rotate, dtype=M.dtype)
            mu = member_mean(analysis)
            analysis = mu + Q @ (analysis - mu)
            M = Q @ M
        if self.lag == 0:
            return analysis, state, member_mean(analysis)
        buffer = jnp.einsum("ab,lbx->lax", M, state)
        emitted = member_mean(buffer[0])
        buffer = jnp.concatenate([buffer[1:], analysis[None]], axis=0)
        return analysis, buffer, emitted

    def finish(self, state):
        return jnp.mean(state, axis=1)
