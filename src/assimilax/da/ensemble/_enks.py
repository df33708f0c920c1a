import equinox as eqx
import jax
import jax.numpy as jnp

from ..._ensemble import member_mean
from ...models import forecast_ensemble
from .._base import AbstractTransformFilter
from .._method import AbstractMethod, Estimate, SeriesSpec


class EnKS(AbstractMethod):
    r"""Fixed-lag ensemble Kalman smoother built on a transform filter.

    At every analysis the filter's transform $M$ ($E_a = M E_f$) also updates the
    ensembles of the last ``lag`` analysis times, $E_{k-l} \leftarrow M E_{k-l}$; the
    estimate of cycle $k$ is final once the observations up to cycle $k + $ ``lag`` are in.
    Inflation applies to the current ensemble only (DAPPER's ``EnKS``). A random
    rotation, being a relabelling of the members, is applied to the lagged ensembles
    too, so that member ``m`` stays one trajectory across the lag window (DAPPER rotates
    the current ensemble alone, which decorrelates it from its past and spoils the
    smoother).

    The carry is ``(ensemble, lagged ensembles (lag, member, state))``. The method's
    series ``smoothed_mean`` is lagged: at cycle $k$ it emits the smoothed mean of cycle
    $k - $ ``lag``; :meth:`finish` gives the last ``lag`` ones, and the driver assembles
    them in time order (and ``rmse_smoothed`` against the truth).

    Refs: Evensen & van Leeuwen (2000), Mon. Wea. Rev.; Evensen (2009), Data Assimilation.
    """

    filter: AbstractTransformFilter
    lag: int = eqx.field(static=True, default=10)

    def __check_init__(self):
        if self.lag < 0:
            raise ValueError(f"EnKS: lag must be >= 0, got {self.lag}.")

    @property
    def series(self):
        return (SeriesSpec("smoothed_mean", ("state",), "state units",
                           f"fixed-lag smoother mean (lag {self.lag} cycles)", lag=self.lag,
                           error="rmse_smoothed"),)

    def init(self, initial):
        return initial, jnp.zeros((self.lag,) + initial.shape, initial.dtype)

    def cycle(self, model, carry, window, *, key):
        ensemble, buffer = carry
        k_fc, k_an = jax.random.split(key)
        forecast = forecast_ensemble(model, ensemble, window.every_steps, key=k_fc)
        analysis, M = self.filter.smoother_analysis(forecast, window, key=k_an)
        if self.lag == 0:
            emitted = member_mean(analysis)
        else:
            buffer = jnp.einsum("ab,lbx->lax", M, buffer)
            emitted = member_mean(buffer[0])
            buffer = jnp.concatenate([buffer[1:], analysis[None]], axis=0)
        estimate = Estimate(forecast[None], analysis[None], {"smoothed_mean": emitted[None]})
        return (analysis, buffer), estimate

    def finish(self, carry):
        _, buffer = carry
        return {"smoothed_mean": jnp.mean(buffer, axis=1)}
