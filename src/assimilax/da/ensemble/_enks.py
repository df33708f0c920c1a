import equinox as eqx
import jax
import jax.numpy as jnp

from .._base import AbstractEnsembleMethod, AbstractTransformFilter


class EnKS(AbstractEnsembleMethod):
    r"""Fixed-lag ensemble Kalman smoother built on a transform filter.

    At every analysis the filter's transform $M$ ($E_a = M E_f$) also updates the
    ensembles of the last ``lag`` analysis times, $E_{k-l} \leftarrow M E_{k-l}$; the
    estimate of cycle $k$ is final once the observations up to cycle $k + $ ``lag`` are in.
    Inflation and rotation apply to the current ensemble only (DAPPER's ``EnKS``).

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
        k_transform, k_post = jax.random.split(key)
        M = self.filter.transform(ensemble, y, mask, operator, noise, key=k_transform)
        raw = M @ ensemble
        analysis = self.filter.post_process(ensemble, raw, key=k_post)
        if self.lag == 0:
            return analysis, state, jnp.mean(analysis, axis=0)
        buffer = jnp.einsum("ab,lbx->lax", M, state)
        emitted = jnp.mean(buffer[0], axis=0)
        buffer = jnp.concatenate([buffer[1:], analysis[None]], axis=0)
        return analysis, buffer, emitted

    def finish(self, state):
        return jnp.mean(state, axis=1)
