"""The bootstrap particle filter (sequential importance resampling), as DAPPER's ``PartFilt``."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from ...models import AbstractModel, forecast_ensemble
from ...models._base import has_noise
from .._method import AbstractMethod, Estimate, SeriesSpec, Window
from ..cycle import weighted_spread as weighted_spread

_SERIES = (
    SeriesSpec("weights", ("member",), "1",
               "particle filter: posterior (analysis) importance weights"),
    SeriesSpec("forecast_weights", ("member",), "1",
               "particle filter: prior (forecast) importance weights"),
    SeriesSpec("effective_size", (), "members",
               "particle filter: effective sample size 1/sum(w^2) of the analysis weights"),
)


class ParticleState(eqx.Module):
    """The carry of a particle filter: the particles and their normalised weights.

    Attributes:
        particles: ``(member, state)``.
        weights: ``(member,)``, non-negative, summing to one.
    """

    particles: Float[Array, "member state"]
    weights: Float[Array, " member"]


def reweight(w: Float[Array, " member"], log_likelihood: Float[Array, " member"]) -> Array:
    r"""Bayes' rule for the weights, in log space: $w_n \propto w_n\,p(y|x_n)$.

    The log weights are shifted by their maximum before exponentiating, so that the
    normalisation never divides by zero however unlikely the observation.
    """
    logw = jnp.log(w) + log_likelihood
    logw = logw - jnp.max(logw)
    w = jnp.exp(logw)
    return w / jnp.sum(w)


def effective_size(w: Float[Array, " member"]) -> Array:
    r"""Effective sample size $N_{\rm eff} = 1/\sum_n w_n^2$ of normalised weights."""
    return 1.0 / (w @ w)


def auto_bandwidth(N: int, M: int) -> float:
    r"""Scott's rule-of-thumb bandwidth $N^{-1/(M+4)}$ (DAPPER's ``auto_bandw``).

    Refs: Doucet, de Freitas & Gordon (2001), Sequential Monte Carlo Methods in
    Practice, section 12.2.2.
    """
    return float(N) ** (-1.0 / (M + 4))


def weighted_cov_sqrt(
    E: Float[Array, "member state"], w: Float[Array, " member"]
) -> Float[Array, "member state"]:
    r"""A square root ``(member, state)`` of the weighted covariance: $C = C^{1/2\,T}C^{1/2}$.

    $\mu = w^TE$, rows $C^{1/2}_n = \sqrt{u\,w_n}\,(x_n - \mu)$ with the unbiasing
    factor $u = 1/(1 - 1/N_{\rm eff})$; degenerate weights ($1 - \max_n w_n < 10^{-10}$)
    are replaced by uniform ones, so that $C \ne 0$ (DAPPER's ``raw_C12``).
    """
    N = w.shape[0]
    degenerate = (1.0 - jnp.max(w)) < 1e-10
    w = jnp.where(degenerate, jnp.full_like(w, 1.0 / N), w)
    mu = w @ E
    ub = 1.0 / (1.0 - 1.0 / effective_size(w))
    return jnp.sqrt(ub * w)[:, None] * (E - mu)


def systematic_resample(w: Float[Array, " member"], *, key: PRNGKeyArray) -> Int[Array, " member"]:
    r"""Systematic ("stochastic universal") resampling: sorted indices ``(member,)``.

    One uniform draw $U\sim\mathcal U[0, 1/N)$; index $n$ is drawn once for each of the
    points $U + j/N$, $j = 0..N-1$, falling in $(c_{n-1}, c_n]$ of the cumulated weights
    $c$. Every particle with $N w_n \ge 1$ is kept at least $\lfloor N w_n\rfloor$ times.

    Refs: Kitagawa (1996), J. Comput. Graph. Stat.; DAPPER ``resample(kind='Systematic')``.
    """
    N = w.shape[0]
    cdf = jnp.cumsum(w)
    cdf = cdf / cdf[-1]
    u = jax.random.uniform(key, (), w.dtype) / N
    points = u + jnp.arange(N, dtype=w.dtype) / N
    return jnp.minimum(jnp.searchsorted(cdf, points, side="left"), N - 1)


def resample(
    w: Float[Array, " member"], *, key: PRNGKeyArray, wroot: float | Array = 1.0
) -> tuple[Int[Array, " member"], Float[Array, " member"]]:
    r"""Systematic resampling of the tempered weights; returns ``(indices, new weights)``.

    With ``wroot`` $= r$ the weights are tempered to $\tilde w_n \propto w_n^{1/r}$
    (more diversity for $r > 1$); the resampled particles then carry the compensating
    weights $w_n/\tilde w_n$ (normalised), uniform for $r = 1$ (DAPPER's ``resample``).
    """
    cap = min(1e100, float(jnp.finfo(w.dtype).max))
    s = jnp.minimum(w ** (1.0 / wroot - 1.0), cap)
    s = s / jnp.sum(s * w)
    idx = systematic_resample(s * w, key=key)
    new = 1.0 / s[idx]
    return idx, new / jnp.sum(new)


def duplicates_of_sorted(idx: Int[Array, " member"]) -> Bool[Array, " member"]:
    """``True`` where a sorted index vector repeats a neighbour (cyclically, as DAPPER)."""
    return (idx == jnp.roll(idx, 1)) | (idx == jnp.roll(idx, -1))


def gaussian_jitter(
    C12: Float[Array, "member state"], *, key: PRNGKeyArray
) -> Float[Array, "member state"]:
    r"""``member`` draws of $\mathcal N(0, C^{1/2\,T}C^{1/2})$ (DAPPER's ``sample_quickly_with``).

    For ``member > 2 state`` through the triangular factor $R$ of $C^{1/2} = QR$
    (``state`` Gaussian numbers per draw), else directly as $Z\,C^{1/2}$.
    """
    N, M = C12.shape
    if N > 2 * M:
        R = jnp.linalg.qr(C12, mode="r")
        return jax.random.normal(key, (N, M), C12.dtype) @ R
    return jax.random.normal(key, (N, N), C12.dtype) @ C12


def _annealed_forecast(model: AbstractModel, E, n_steps: int, qroot: float, key):
    r"""Forecast with the model noise variance times ``qroot``; also $\sum\|D\|^2$ per member.

    The model noise is $\sqrt{dt}\,\sigma_Q D$ per step with $D$ standard Gaussian
    (:class:`~assimilax.models.AbstractModel`); here $\sqrt{q\,dt}\,\sigma_Q D$.
    """
    scale = jnp.sqrt(model.dt * qroot) * model.noise_std

    def body(carry, k):
        E, chi2 = carry
        D = jax.random.normal(k, E.shape, E.dtype)
        E = jax.vmap(model.step)(E) + scale * D
        return (E, chi2 + jnp.sum(D * D, axis=1)), None

    init = (E, jnp.zeros(E.shape[:1], E.dtype))
    (E, chi2), _ = jax.lax.scan(body, init, jax.random.split(key, n_steps))
    return E, chi2


class PartFilt(AbstractMethod):
    r"""Bootstrap particle filter (sequential importance resampling), DAPPER's ``PartFilt``.

    The particles $x_n$ (the ensemble; $N$ is the size of the initial ensemble) carry
    normalised weights $w_n$, uniform at the start. Each cycle:

    1. forecast every particle with the model (the proposal is the prior transition);
    2. reweight by the Gaussian likelihood of the whitened innovations
       $\tilde d_n = R^{-1/2}(y - \mathcal H(x_n))$ (masked slots 0):
       $\log w_n \leftarrow \log w_n - \tfrac12\|\tilde d_n\|^2$, normalised in log space
       (:func:`reweight`). The analysis is this weighted ensemble;
    3. if $N_{\rm eff} = 1/\sum_n w_n^2 \le$ ``NER`` $N$: compute the regularisation
       kernel $h\,C^{1/2}$ from the posterior (:func:`weighted_cov_sqrt`) with the
       bandwidth $h =$ ``reg`` $N^{-1/(M+4)}$ (:func:`auto_bandwidth`), resample
       systematically (:func:`resample`, weights tempered by ``wroot``), and jitter
       the particles drawn more than once (all of them if not ``nuj``) by
       $\mathcal N(0, h^2 C)$ (:func:`gaussian_jitter`). Otherwise the weights persist.

    With model noise and ``qroot`` $= q \ne 1$ the noise of the proposal has $q$ times
    its variance and the weights are multiplied by $p/q_{\rm prop} \propto
    \exp(-\tfrac12 (q-1)\sum_{\rm steps}\|D\|^2)$ for the standard Gaussian draws $D$
    (DAPPER's code multiplies by $\exp(-\tfrac12(1 - 1/q)\sum\|D\|^2)$ instead).

    The estimate: ``forecast`` and ``analysis`` are the same particles (before
    resampling) with the prior and posterior weights (``Estimate.forecast_weights``,
    ``analysis_weights``), so the driver's means are $w^TE$ and its spreads DAPPER's
    weighted ``rmv`` (``rmse_analysis`` is DAPPER's ``rmse.a``); the weights are also the
    series ``forecast_weights`` and ``weights`` ``(member,)``, and $N_{\rm eff}$ the
    series ``effective_size``.

    Attributes:
        reg: regularisation (jitter) bandwidth relative to Scott's rule.
        NER: resampling threshold on $N_{\rm eff}/N$.
        qroot: model-noise annealing of the proposal (static; 1 = bootstrap).
        wroot: weight tempering before resampling (1 = none).
        nuj: jitter only the duplicated particles (DAPPER's ``nuj``, static).

    Refs: Gordon, Salmond & Smith (1993), IEE Proc. F 140; van Leeuwen (2009), Mon. Wea.
    Rev. 137; Doucet, de Freitas & Gordon (2001), section 12.2.2 (regularisation);
    Chen (2003), section VI-M.2 (annealed proposal); DAPPER ``da_methods/particle.py``.
    """

    reg: float = 0.0
    NER: float = 1.0
    qroot: float = eqx.field(static=True, default=1.0)
    wroot: float = 1.0
    nuj: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        for name in ("reg", "NER", "wroot"):
            value = getattr(self, name)
            if isinstance(value, (int, float)) and value < 0:
                raise ValueError(f"PartFilt: {name} must be >= 0, got {value}.")
        if self.qroot <= 0:
            raise ValueError(f"PartFilt: qroot must be > 0, got {self.qroot}.")

    @property
    def series(self):
        return _SERIES

    def init(self, initial):
        N = initial.shape[0]
        return ParticleState(initial, jnp.full((N,), 1.0 / N, initial.dtype))

    def cycle(self, model, carry: ParticleState, window: Window, *, key):
        E, w_prior = carry.particles, carry.weights
        y, mask = window.obs
        N, M = E.shape
        k_fc, k_res, k_jit = jax.random.split(key, 3)
        w = w_prior
        if self.qroot != 1.0 and has_noise(model):
            Ef, chi2 = _annealed_forecast(model, E, window.every_steps, self.qroot, k_fc)
            w = reweight(w, -0.5 * (self.qroot - 1.0) * chi2)
        else:
            Ef = forecast_ensemble(model, E, window.every_steps, key=k_fc)
        w_f = w
        innov = window.noise.whiten(y - jax.vmap(window.operator)(Ef), mask)
        w_a = reweight(w_f, -0.5 * jnp.sum(innov * innov, axis=1))
        n_eff = effective_size(w_a)

        def resampled(_):
            C12 = (self.reg * auto_bandwidth(N, M)) * weighted_cov_sqrt(Ef, w_a)
            idx, w_new = resample(w_a, key=k_res, wroot=self.wroot)
            jitter = gaussian_jitter(C12, key=k_jit)
            E_new = Ef[idx]
            if self.nuj:
                E_new = jnp.where(duplicates_of_sorted(idx)[:, None], E_new + jitter, E_new)
            else:
                E_new = E_new + jitter
            return ParticleState(E_new, w_new)

        def kept(_):
            return ParticleState(Ef, w_a)

        new = jax.lax.cond(n_eff <= self.NER * N, resampled, kept, None)
        estimate = Estimate(
            Ef[None],
            Ef[None],
            {"weights": w_a[None], "forecast_weights": w_f[None], "effective_size": n_eff[None]},
            forecast_weights=w_f[None],
            analysis_weights=w_a[None],
        )
        return new, estimate
