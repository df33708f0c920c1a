"""Diagnostics of (learned) models: forecast skill, valid time, climate, Lyapunov, Jacobians.

Every function here is compiled on its first call (``eqx.filter_jit``: arrays are traced,
Python numbers and models' static fields are compile-time constants).
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ..models import AbstractModel, rollout


@eqx.filter_jit
def forecast_rmse(
    model: AbstractModel,
    x0: Float[Array, "case state"],
    truth: Float[Array, "case lead state"],
    *,
    every: int = 1,
    key: PRNGKeyArray | None = None,
) -> Float[Array, " lead"]:
    r"""RMSE of forecasts from ``x0`` against ``truth`` as a function of lead time.

    For every case ``c`` the model is rolled out from ``x0[c]`` (one ``lax.scan``, cases by
    ``vmap``); lead ``k`` (0-based) is the forecast ``(k + 1) * every`` model steps ahead,
    i.e. at time ``(k + 1) * every * model.dt``, compared with ``truth[c, k]``.

    DAPPER's convention: the RMSE is taken over the state for each case, then averaged
    over cases, $\mathrm{rmse}_k = \frac1C\sum_c\sqrt{\frac1n\sum_i(\hat x_{c,k,i} -
    x_{c,k,i})^2}$ (the mean of per-case RMSEs, not the root of the pooled mean square).

    Args:
        model: forecast model (physical, emulator, corrected).
        x0: initial states ``(case, state)``.
        truth: reference states ``(case, lead, state)``, spaced ``every`` model steps,
            the first one ``every`` steps after ``x0``.
        every: model steps between leads (static).
        key: PRNG key for model noise (required when ``model.noise_std > 0``; one
            independent stream per case).

    Returns:
        RMSE per lead ``(lead,)``, in state units.
    """
    if x0.ndim != 2 or truth.ndim != 3 or truth.shape[0] != x0.shape[0]:
        raise ValueError(
            "forecast_rmse: x0 must be (case, state) and truth (case, lead, state) with the "
            f"same number of cases, got {x0.shape} and {truth.shape}."
        )
    if truth.shape[2] != x0.shape[1]:
        raise ValueError(f"forecast_rmse: state sizes differ, {x0.shape} vs {truth.shape}.")
    n_leads = truth.shape[1]
    if key is None:
        fc = jax.vmap(lambda x: rollout(model, x, n_leads, every=every))(x0)
    else:
        keys = jax.random.split(key, x0.shape[0])
        fc = jax.vmap(lambda x, k: rollout(model, x, n_leads, every=every, key=k))(x0, keys)
    per_case = jnp.sqrt(jnp.mean((fc - truth) ** 2, axis=-1))  # (case, lead)
    return jnp.mean(per_case, axis=0)


@eqx.filter_jit
def valid_prediction_time(
    rmse: Float[Array, "*batch lead"],
    threshold: float | Array,
    dt: float,
    lyapunov_exponent: float | None = None,
) -> Float[Array, "*batch"]:
    r"""Time at which a forecast error curve first exceeds ``threshold``.

    With leads at times $t_k = (k + 1)\,\Delta t$ ($k = 0, 1, \dots$, as returned by
    :func:`forecast_rmse` with $\Delta t$ = ``every * model.dt``), the valid prediction time
    is $t_{k^*}$ for the first lead $k^*$ with $\mathrm{rmse}_{k^*} > $ ``threshold``
    (Pathak et al. 2018 use a threshold of 0.4 on an error normalised by the climatological
    standard deviation; pass ``threshold = 0.4 * sigma_clim`` for an unnormalised RMSE). A
    non-finite RMSE (a diverged forecast) counts as exceeding.

    If the threshold is never exceeded, the horizon $t_{K-1} = K\,\Delta t$ of the ``K``
    leads is returned: the valid time is then at least the horizon (a lower bound), and a
    longer forecast is needed to measure it.

    Args:
        rmse: error per lead ``(..., lead)``; leading axes are kept.
        threshold: error level (state units).
        dt: time between leads (model time units).
        lyapunov_exponent: leading Lyapunov exponent (per model time unit); when given, the
            result is in Lyapunov times $\lambda_1 t$.

    Returns:
        The valid prediction time ``(...)``, in model time units or Lyapunov times.

    Refs: Pathak et al. (2018), Phys. Rev. Lett. 120, 024102; Vlachas et al. (2020),
    Neural Networks 126.
    """
    rmse = jnp.asarray(rmse)
    exceeded = ~(rmse <= threshold)  # NaN counts as exceeded
    n_leads = rmse.shape[-1]
    first = jnp.argmax(exceeded, axis=-1)
    lead = jnp.where(jnp.any(exceeded, axis=-1), first + 1, n_leads)
    t = lead.astype(rmse.dtype) * dt
    if lyapunov_exponent is not None:
        t = t * lyapunov_exponent
    return t


class Climatology(NamedTuple):
    """Long-run statistics of a trajectory.

    Attributes:
        mean: time mean per state variable ``(..., state)``.
        std: time standard deviation per state variable ``(..., state)``.
        spectrum: time-mean spatial power spectrum ``(..., state // 2 + 1)`` over the
            periodic state: $\\overline{|\\hat x_m|^2}/n$ for wavenumbers
            $m = 0 \\dots n/2$, with $\\hat x$ = ``jnp.fft.rfft(x)`` (wavenumber 0 carries
            the spatial mean).
    """

    mean: Array
    std: Array
    spectrum: Array


@eqx.filter_jit
def climatology(trajectory: Float[Array, "... time state"]) -> Climatology:
    """Mean, standard deviation and spatial power spectrum of a long trajectory.

    The spectrum treats the state as one periodic field on an equally spaced ring (as
    Lorenz-96); for other state layouts only ``mean`` and ``std`` are meaningful.

    Args:
        trajectory: states ``(..., time, state)`` (e.g. from :func:`~assimilax.models.rollout`);
            leading axes are kept.

    Returns:
        :class:`Climatology`.
    """
    x = jnp.asarray(trajectory)
    n = x.shape[-1]
    power = jnp.abs(jnp.fft.rfft(x, axis=-1)) ** 2 / n
    return Climatology(
        mean=jnp.mean(x, axis=-2),
        std=jnp.std(x, axis=-2),
        spectrum=jnp.mean(power, axis=-2),
    )


class ClimatologyError(NamedTuple):
    r"""Discrepancies of a climatology ``a`` from a reference ``b`` (dimensionless).

    Attributes:
        mean: $\|\mu_a - \mu_b\| / \|\sigma_b\|$ — the mean error in units of the
            reference's standard deviation (a reference mean may be near zero).
        std: $\|\sigma_a - \sigma_b\| / \|\sigma_b\|$.
        spectrum: $\|S_a - S_b\| / \|S_b\|$ (dominated by the energetic wavenumbers).
        log_spectrum: mean over wavenumbers of $|\ln(S_a / S_b)|$ (sensitive to every
            scale, including the weak small ones).
    """

    mean: Array
    std: Array
    spectrum: Array
    log_spectrum: Array


@eqx.filter_jit
def compare_climatology(a: Climatology, b: Climatology) -> ClimatologyError:
    """Relative errors of climatology ``a`` (e.g. an emulator's) against reference ``b``.

    Norms are Euclidean over the last axis; leading axes are kept. See
    :class:`ClimatologyError` for the definitions.
    """

    def norm(v):
        return jnp.sqrt(jnp.sum(v**2, axis=-1))

    return ClimatologyError(
        mean=norm(a.mean - b.mean) / norm(b.std),
        std=norm(a.std - b.std) / norm(b.std),
        spectrum=norm(a.spectrum - b.spectrum) / norm(b.spectrum),
        log_spectrum=jnp.mean(jnp.abs(jnp.log(a.spectrum / b.spectrum)), axis=-1),
    )


@eqx.filter_jit
def lyapunov_exponents(
    model: AbstractModel,
    x0: Float[Array, " state"],
    n_steps: int,
    *,
    n_exponents: int = 1,
    key: PRNGKeyArray,
    spin_up: int = 1000,
    renormalise_every: int = 1,
) -> Float[Array, " exponent"]:
    r"""Leading Lyapunov exponents by QR re-orthonormalisation of tangent vectors.

    After ``spin_up`` model steps from ``x0`` (onto the attractor, and for the tangent
    vectors to align with the leading Lyapunov vectors), ``n_exponents`` random orthonormal
    tangent vectors $Q_0$ are propagated with the tangent-linear model (``jax.jvp`` of
    ``model.step``, ``vmap``-ed over the vectors) along the trajectory. Every
    ``renormalise_every`` steps, $V = Q_j R_j$ (QR) and

    $$\lambda_i = \frac{1}{n\,\Delta t}\sum_j \ln |(R_j)_{ii}|$$

    over the $n$ = ``n_steps`` measured steps (Benettin et al. 1980; Shimada & Nagashima
    1979). In exact arithmetic the result does not depend on ``renormalise_every``; it only
    has to be small enough that the vectors neither overflow nor collapse onto the leading
    direction. The whole computation is two ``lax.scan`` (spin-up, measurement). Model noise
    is not applied (the deterministic step).

    The statistical error of the estimate falls like $1/\sqrt{n\,\Delta t}$; the spin-up
    steps also orient the tangent vectors (they are propagated, not measured, during the
    last ``spin_up // 2`` spin-up steps).

    Args:
        model: the model (any :class:`AbstractModel`; differentiable ``step``).
        x0: starting state ``(state,)``.
        n_steps: measured model steps (static); a multiple of ``renormalise_every``.
        n_exponents: how many exponents (static, ``<= state``).
        key: PRNG key of the initial tangent vectors.
        spin_up: model steps before measuring (static).
        renormalise_every: model steps between QR re-orthonormalisations (static).

    Returns:
        Exponents ``(n_exponents,)`` per model time unit, in the order of the QR columns:
        decreasing in the long-run limit (finite-time estimates of nearly equal exponents
        may come out of order).

    Refs: Benettin et al. (1980), Meccanica 15; Karimi & Paul (2010), Chaos 20, 043105
    (Lorenz-96 spectra).
    """
    n = x0.shape[-1]
    if not 1 <= n_exponents <= n:
        raise ValueError(f"lyapunov_exponents: n_exponents must be in 1..{n}, got {n_exponents}.")
    if renormalise_every < 1 or n_steps < renormalise_every or n_steps % renormalise_every:
        raise ValueError(
            "lyapunov_exponents: n_steps must be a positive multiple of renormalise_every, "
            f"got n_steps={n_steps}, renormalise_every={renormalise_every}."
        )
    if spin_up < 0:
        raise ValueError(f"lyapunov_exponents: spin_up must be >= 0, got {spin_up}.")

    def tangent_step(carry, _):
        x, V = carry
        y, W = jax.vmap(lambda v: jax.jvp(model.step, (x,), (v,)), in_axes=1,
                        out_axes=(None, 1))(V)
        return (y, W), None

    def block(carry, _):
        (x, V), _ = jax.lax.scan(tangent_step, carry, None, length=renormalise_every)
        Q, R = jnp.linalg.qr(V)
        return (x, Q), jnp.log(jnp.abs(jnp.diagonal(R)))

    # Spin-up: the first half moves x onto the attractor, the second half orients Q.
    free, oriented = spin_up - spin_up // 2, spin_up // 2
    x, _ = jax.lax.scan(lambda x, _: (model.step(x), None), x0, None, length=free)
    Q0, _ = jnp.linalg.qr(jax.random.normal(key, (n, n_exponents), x.dtype))
    carry = (x, Q0)
    if oriented:
        n_blocks = -(-oriented // renormalise_every)
        carry, _ = jax.lax.scan(block, carry, None, length=n_blocks)
    _, logs = jax.lax.scan(block, carry, None, length=n_steps // renormalise_every)
    return jnp.sum(logs, axis=0) / (n_steps * model.dt)


@eqx.filter_jit
def jacobian_error(
    model: AbstractModel,
    reference: AbstractModel,
    states: Float[Array, "case state"],
) -> Float[Array, ""]:
    r"""Relative Frobenius error of one-step Jacobians, averaged over states.

    $$\frac1C\sum_c \frac{\|\partial\mathcal M(x_c) - \partial\mathcal M_{\mathrm{ref}}(x_c)\|_F}
    {\|\partial\mathcal M_{\mathrm{ref}}(x_c)\|_F},$$

    with the Jacobians of ``step`` by ``jax.jacfwd`` (cases by ``vmap``). The tangent-linear
    model is what 4D-Var and the Lyapunov vectors use, so an emulator with a small forecast
    error can still have a large Jacobian error.

    Args:
        model: the model to assess (e.g. an emulator).
        reference: the reference model (e.g. the physical one), same state size.
        states: states at which to compare ``(case, state)``.

    Returns:
        The mean relative error (dimensionless scalar).
    """
    if states.ndim != 2:
        raise ValueError(f"jacobian_error: states must be (case, state), got {states.shape}.")

    def one(x):
        J = jax.jacfwd(model.step)(x)
        J_ref = jax.jacfwd(reference.step)(x)
        return jnp.linalg.norm(J - J_ref) / jnp.linalg.norm(J_ref)

    return jnp.mean(jax.vmap(one)(states))
