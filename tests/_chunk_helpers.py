"""One record assimilated in one call and in two chunks, for the methods' chunking tests."""

import jax.numpy as jnp

from assimilax.da import assimilate, complete_series
from assimilax.observations import Observations


def whole_and_chunked(model, twin, method, key, cut: int = 4) -> tuple[dict, dict]:
    """``(series of one call, series of two calls cut at cycle cut)``, both completed with
    :func:`complete_series` (the lagged series of the second part's carry)."""
    obs = twin.observations
    whole = assimilate(model, obs, method, twin.ensemble0, key=key, truth=twin.truth)

    def part(sl):
        return Observations(obs.operator, obs.noise, obs.y[sl], obs.mask[sl], obs.every_steps)

    first = assimilate(model, part(slice(0, cut)), method, twin.ensemble0, key=key,
                       truth=twin.truth[:cut], finish=False)
    second = assimilate(model, part(slice(cut, None)), method, twin.ensemble0, key=key,
                        truth=twin.truth[cut:], carry=first.carry, start_cycle=cut,
                        finish=False)
    series = {k: jnp.concatenate([first.series[k], second.series[k]]) for k in first.series}
    return whole.series, complete_series(method, series, second.carry, twin.truth)
