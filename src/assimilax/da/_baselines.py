"""Baseline methods: the climatological mean, and optimal interpolation about it."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
from jaxtyping import Array, Float

from ._method import AbstractMethod, Estimate, Window


def _check_climatology(name: str, mean, cov) -> None:
    if mean.ndim != 1:
        raise ValueError(f"{name}: mean must have shape (state,), got {mean.shape}.")
    n = mean.shape[0]
    if cov.shape != (n, n):
        raise ValueError(f"{name}: cov must have shape ({n}, {n}), got {cov.shape}.")
    if isinstance(mean, jax.core.Tracer) or isinstance(cov, jax.core.Tracer):
        return
    m, C = np.asarray(mean), np.asarray(cov)
    if not (np.all(np.isfinite(m)) and np.all(np.isfinite(C))):
        raise ValueError(f"{name}: mean and cov must be finite.")
    if not np.allclose(C, C.T, rtol=1e-10, atol=1e-12 * max(1.0, float(np.abs(C).max()))):
        raise ValueError(f"{name}: cov must be symmetric.")
    if np.any(np.diagonal(C) < 0):
        raise ValueError(f"{name}: cov must have a non-negative diagonal.")


def _check_state(name: str, mean, window: Window) -> None:
    n = window.operator.state_size
    if mean.shape[0] != n:
        raise ValueError(
            f"{name}: the climatology has {mean.shape[0]} state variables, the observation "
            f"operator {n}."
        )


class Climatology(AbstractMethod):
    r"""Every estimate is the climatological mean: $x^f = x^a = \mu_C$.

    A reference for the error of an estimate that ignores the observations (its RMSE is
    about the climatological standard deviation). Deterministic (``ensemble = False``);
    the model is never run.

    Attributes:
        mean: climatological mean $\mu_C$ ``(state,)``.
        cov: climatological covariance $P_C$ ``(state, state)`` (kept for reference and
            checked; the estimate does not use it).

    DAPPER's ``Climatology`` takes $\mu_C$ and $P_C$ from the truth trajectory itself;
    here they are given (e.g. from a long free run of the model).

    Refs: Raanes (2016), PhD thesis, Univ. of Oxford; DAPPER ``da_methods/baseline.py``.
    """

    ensemble: ClassVar[bool] = False
    mean: Float[Array, " state"] = eqx.field(converter=jnp.asarray)
    cov: Float[Array, "state state"] = eqx.field(converter=jnp.asarray)

    def __check_init__(self):
        _check_climatology("Climatology", self.mean, self.cov)

    def init(self, initial):
        del initial
        return ()

    def cycle(self, model, carry, window: Window, *, key):
        del model, key
        _check_state("Climatology", self.mean, window)
        x = jnp.broadcast_to(self.mean, (window.times, 1, self.mean.shape[0]))
        return carry, Estimate(x, x)


def optimal_interpolation(
    mean: Float[Array, " state"],
    cov: Float[Array, "state state"],
    window: Window,
) -> Float[Array, " state"]:
    r"""The BLUE about a static background at the window's (last) observation time.

    $x^a = \mu + K(y - \mathcal H(\mu))$, $K = PH^T(HPH^T + R)^{-1}$, with $H$ the
    Jacobian of the operator at $\mu$ (``jax.jacfwd``). In whitened form, with
    $\tilde H = R^{-1/2}H$ and $\tilde d = R^{-1/2}(y - \mathcal H(\mu))$ from
    ``noise.whiten`` (rows of masked slots 0, so that they carry no weight):

    $$x^a = \mu + P\tilde H^T(\tilde HP\tilde H^T + I)^{-1}\tilde d.$$
    """
    y, mask = window.obs
    H = jax.jacfwd(window.operator)(mean)  # (obs, state)
    Ht = window.noise.whiten(H.T, mask)  # (state, obs): (R^{-1/2} H)^T
    d = window.noise.whiten(y - window.operator(mean), mask)
    PHt = cov @ Ht
    S = Ht.T @ PHt + jnp.eye(Ht.shape[1], dtype=PHt.dtype)
    return mean + PHt @ jsl.cho_solve((jnp.linalg.cholesky(S), True), d)


class OptInterp(AbstractMethod):
    r"""Optimal interpolation about the climatology: not cycled.

    At every observation time the background is the climatological mean $\mu_C$ with
    the climatological covariance $P_C$:

    $$x^f = \mu_C,\qquad x^a = \mu_C + K\big(y - \mathcal H(\mu_C)\big),\qquad
    K = P_CH^T(HP_CH^T + R)^{-1},$$

    with $H$ the Jacobian of the observation operator at $\mu_C$ (exact for linear
    operators); missing observations get no weight (:func:`optimal_interpolation`).
    Deterministic (``ensemble = False``); the model is never run.

    Attributes:
        mean: climatological mean $\mu_C$ ``(state,)``.
        cov: climatological covariance $P_C$ ``(state, state)``.

    DAPPER's ``OptInterp`` takes $\mu_C$ and $P_C$ from the truth trajectory itself;
    here they are given (e.g. from a long free run of the model).

    Refs: Gandin (1963), Objective Analysis of Meteorological Fields; Raanes (2016), PhD
    thesis; DAPPER ``da_methods/baseline.py``.
    """

    ensemble: ClassVar[bool] = False
    mean: Float[Array, " state"] = eqx.field(converter=jnp.asarray)
    cov: Float[Array, "state state"] = eqx.field(converter=jnp.asarray)

    def __check_init__(self):
        _check_climatology("OptInterp", self.mean, self.cov)

    def init(self, initial):
        del initial
        return ()

    def cycle(self, model, carry, window: Window, *, key):
        del model, key
        _check_state("OptInterp", self.mean, window)
        n = self.mean.shape[0]
        analysis = jax.vmap(
            lambda y, m: optimal_interpolation(
                self.mean, self.cov, Window(y[None], m[None], window.operator, window.noise,
                                            window.every_steps)
            )
        )(window.y, window.mask)
        forecast = jnp.broadcast_to(self.mean, (window.times, 1, n))
        return carry, Estimate(forecast, analysis[:, None, :])
