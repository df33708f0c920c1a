"""Scores of estimates and ensembles against the truth (DAPPER's definitions)."""

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .._ensemble import member_variance


def rmse(estimate: Float[Array, "... state"], truth: Float[Array, "... state"]) -> Array:
    r"""Spatial root-mean-square error $\sqrt{\overline{(\hat x - x)^2}}$ over the last axis."""
    return jnp.sqrt(jnp.mean((estimate - truth) ** 2, axis=-1))


def spread(ensemble: Float[Array, "... member state"]) -> Array:
    r"""Ensemble spread $\sqrt{\overline{\mathrm{var}_m(x)}}$ (unbiased variance, spatial mean).

    DAPPER's ``rmv``: the RMSE the ensemble expects of its own mean.
    """
    if ensemble.ndim == 2:
        return jnp.sqrt(jnp.mean(member_variance(ensemble)))
    return jnp.sqrt(jnp.mean(jnp.var(ensemble, axis=-2, ddof=1), axis=-1))


def crps(ensemble: Float[Array, "... member state"], truth: Float[Array, "... state"]) -> Array:
    r"""Continuous ranked probability score of an ensemble, spatially averaged.

    $\mathrm{CRPS} = \frac1N\sum_m|x_m - x| - \frac{1}{2N^2}\sum_{m,m'}|x_m - x_{m'}|$
    (the empirical distribution of the members; Gneiting & Raftery 2007, eq. 21).
    """
    skill = jnp.mean(jnp.abs(ensemble - truth[..., None, :]), axis=-2)
    pair = jnp.abs(ensemble[..., :, None, :] - ensemble[..., None, :, :])
    return jnp.mean(skill - 0.5 * jnp.mean(pair, axis=(-3, -2)), axis=-1)


def rank_histogram(
    ensembles: Float[Array, "time member state"], truth: Float[Array, "time state"]
) -> Int[Array, " bins"]:
    """Counts of the truth's rank among the members, ``N + 1`` bins over all times and variables.

    A flat histogram means a reliable ensemble; U-shaped, under-dispersive.
    """
    N = ensembles.shape[-2]
    ranks = jnp.sum(ensembles < truth[..., None, :], axis=-2).ravel()
    return jnp.bincount(ranks, length=N + 1)


def time_mean_ci(series, burn_in: int = 0, level: float = 0.95) -> tuple[float, float]:
    r"""Time mean of a series after ``burn_in`` with an autocorrelation-corrected half-width.

    The series is modelled as AR(1) with lag-one autocorrelation $\rho$; the effective
    sample size is $n(1-\rho)/(1+\rho)$ and the half-width $z\,s/\sqrt{n_{\mathrm{eff}}}$.

    Returns:
        ``(mean, half_width)``; the half-width is NaN for fewer than 5 points.
    """
    from statistics import NormalDist

    x = np.asarray(series, float)[burn_in:]
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return float("nan"), float("nan")
    mean = float(x.mean())
    if n < 5:
        return mean, float("nan")
    a = x - mean
    var = float(a @ a / n)
    rho = float(a[:-1] @ a[1:] / (n * var)) if var > 0 else 0.0
    rho = min(max(rho, 0.0), 0.999)
    n_eff = n * (1 - rho) / (1 + rho)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    return mean, float(z * np.sqrt(var * n / (n - 1)) / np.sqrt(n_eff))
