"""The iterative ensemble Kalman smoother (iEnKS), square-root (transform) flavour."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ..._ensemble import member_mean
from ...models import forecast_ensemble
from .._base import ensemble_space
from .._linalg import AbstractInvSqrt, AbstractRotation, HaarRotation, NewtonSchulzInvSqrt
from .._method import AbstractMethod, Estimate, SeriesSpec, Window
from ..inflation import AbstractInflation, NoInflation

_SMOOTHED = SeriesSpec(
    name="smoothed_mean",
    dims=("state",),
    units="state units",
    description="iEnKS smoothed mean at the start of the window (one cycle back)",
    lag=1,
    error="rmse_smoothed",
)


def gauss_newton_step(
    Y: Float[Array, "member obs"],
    d: Float[Array, " obs"],
    w: Float[Array, " member"],
    Tinv: Float[Array, "member member"],
    inv_sqrt: AbstractInvSqrt,
) -> tuple[Array, Array, Array]:
    r"""One Gauss-Newton step of the iEnKS cost in ensemble space (``Sqrt`` flavour).

    With the whitened observed anomalies $\tilde Y$ and innovation $\tilde d$ of the
    current iterate, the de-conditioned anomalies $Y_0 = T^{-1}\tilde Y$ estimate the
    sensitivity of the observed ensemble to the weights $w$ at the window start, and

    $$G = Y_0Y_0^T + (N-1)I,\quad \nabla = Y_0\tilde d - (N-1)\,w,\quad
    \delta w = G^{-1}\nabla,$$
    $$T = \sqrt{N-1}\,G^{-1/2},\quad T^{-1} = G^{1/2}/\sqrt{N-1} = G\,G^{-1/2}/\sqrt{N-1}.$$

    Returns ``(dw, T, Tinv)``: ``(member,)``, ``(member, member)``, ``(member, member)``.
    """
    N = Y.shape[0]
    N1 = N - 1
    Y0 = Tinv @ Y
    G = Y0 @ Y0.T + N1 * jnp.eye(N, dtype=Y.dtype)
    Gis, Gi = inv_sqrt(G, shift=float(N1))
    grad = Y0 @ d - N1 * w
    dw = Gi @ grad
    sq = jnp.sqrt(jnp.asarray(N1, Y.dtype))
    return dw, sq * Gis, (G @ Gis) / sq


class IEnKS(AbstractMethod):
    r"""Iterative ensemble Kalman smoother, ``Sqrt`` flavour, window of one cycle (iEnKF).

    Each cycle sees one new observation time. The window starts at the previous
    observation time with the ensemble $E_0 = \bar x_0 + X_0$ (the carry); the analysis
    looks for the weights $w$ of the window-start mean $\bar x_0 + w^T X_0$ that minimise

    $$J(w) = \tfrac12\|\tilde y - \tilde{\mathcal H}\big(\mathcal M(\bar x_0 + X_0^Tw)\big)\|^2
    + \tfrac{N-1}2\,\|w\|^2$$

    by Gauss-Newton in ensemble space (:func:`gauss_newton_step`), the model and the
    observation operator linearised by the ensemble itself (the transform version: the
    ensemble $\bar x_0 + (w + T)X_0$ is propagated at every iteration, so the linearisation
    is a regression over a cloud of the posterior's shape). ``iterations`` Gauss-Newton
    steps are taken, fewer if ``wtol > 0`` and $\delta w^T\delta w < $ ``wtol`` $N$.

    Then, following DAPPER's ``iEnKS``:

    * forecast: the window-start ensemble propagated over the window;
    * analysis (``Estimate.analysis``, the filter estimate at the observation time, what
      DAPPER's ``rmse.a`` averages): the last iterate's forecast $E^{(i)}$ plus the
      linearised final increment, $E^{(i)} + (\mathbf 1\delta w^T + T - T_{\rm old})X_f$
      with $X_f$ the forecast anomalies (one iteration: exactly the ETKF);
    * smoothed: $E_s = \bar x_0 + (\mathbf 1 w^T + T)X_0$ at the window start, reported as
      the series ``smoothed_mean`` (lag 1, error ``rmse_smoothed``);
    * $E_s$ is inflated (``inflation``, against the window-start prior), rotated
      (``rotation``), and propagated over one cycle: the next window's start (the carry).

    Model runs per cycle: ``N * (iterations + 1)`` over one interval. For a linear model
    and ``N > state`` the analysis is the Kalman filter's at every cycle, and the smoothed
    estimate its one-lag smoother, whatever the number of iterations.

    Attributes:
        inflation: multiplies the smoothed anomalies before they are propagated
            (DAPPER's ``infl``).
        rotation: random mean-preserving rotation of the smoothed members (DAPPER's
            ``rot``; :class:`~assimilax.da._linalg.NoRotation` for none).
        iterations: maximal number of Gauss-Newton iterations (DAPPER's ``nIter``).
        wtol: relative tolerance on the step $\delta w$; 0 always runs ``iterations``.
        inv_sqrt: computes $G^{-1/2}$ and $G^{-1}$.

    Not implemented (DAPPER's options): ``Lag > 1``, ``MDA``, ``bundle``, ``xN``. With
    model noise every iteration of a window sees the same noise realisation (DAPPER
    refuses ``Q > 0``; Sakov et al. 2018 treat it properly).

    Refs: Sakov, Oliver & Bertino (2012), Mon. Wea. Rev. 140, 1988-2004 (iEnKF);
    Bocquet & Sakov (2014), Q. J. R. Meteorol. Soc. 140, 1521-1535 (iEnKS);
    DAPPER ``da_methods/variational.py`` ``iEnKS('Sqrt', Lag=1)``.
    """

    inflation: AbstractInflation = NoInflation()
    rotation: AbstractRotation = HaarRotation()
    iterations: int = eqx.field(static=True, default=10)
    wtol: float = eqx.field(static=True, default=0.0)
    inv_sqrt: AbstractInvSqrt = NewtonSchulzInvSqrt()

    def __check_init__(self):
        if self.iterations < 1:
            raise ValueError(f"IEnKS: iterations must be >= 1, got {self.iterations}.")
        if self.wtol < 0:
            raise ValueError(f"IEnKS: wtol must be >= 0, got {self.wtol}.")

    @property
    def series(self):
        return (_SMOOTHED,)

    def init(self, initial):
        return initial

    def cycle(self, model, carry, window: Window, *, key):
        E0 = carry
        y, mask = window.obs
        op, noise = window.operator, window.noise
        N = E0.shape[0]
        k_fc, k_prop, k_rot = jax.random.split(key, 3)

        def fc(E):
            # The same model-noise realisation at every iteration of the window.
            return forecast_ensemble(model, E, window.every_steps, key=k_fc)

        x0 = member_mean(E0)
        X0 = E0 - x0
        # Iteration 0 propagates the window-start ensemble itself (w = 0, T = I).
        Ef = fc(E0)
        es = ensemble_space(Ef, y, mask, op, noise)
        Xf = es.A
        eye = jnp.eye(N, dtype=E0.dtype)
        w0 = jnp.zeros((N,), E0.dtype)
        dw, T, Tinv = gauss_newton_step(es.Y, es.d, w0, eye, self.inv_sqrt)
        # state: (iteration count, w, T, Tinv, dw, last iterate's forecast, T_old)
        state = (jnp.asarray(1), dw, T, Tinv, dw, Ef, eye)

        def body(state):
            i, w, T, Tinv, _, _, _ = state
            Ei = fc(x0 + (w[None, :] + T) @ X0)
            es = ensemble_space(Ei, y, mask, op, noise)
            dw, T_new, Tinv_new = gauss_newton_step(es.Y, es.d, w, Tinv, self.inv_sqrt)
            return (i + 1, w + dw, T_new, Tinv_new, dw, Ei, T)

        if self.iterations > 1:
            if self.wtol == 0.0:
                state = jax.lax.fori_loop(1, self.iterations, lambda _, s: body(s), state)
            else:
                tol = self.wtol * N

                def cond(state):
                    i, dw = state[0], state[4]
                    return (i < self.iterations) & (dw @ dw >= tol)

                state = jax.lax.while_loop(cond, body, state)
        _, w, T, _, dw, E_last, T_old = state

        analysis = E_last + (dw[None, :] + T - T_old) @ Xf
        smoothed = x0 + (w[None, :] + T) @ X0
        smoothed_mean = member_mean(smoothed)
        smoothed = self.rotation.apply(self.inflation(E0, smoothed), key=k_rot)
        new_start = forecast_ensemble(model, smoothed, window.every_steps, key=k_prop)
        estimate = Estimate(Ef[None], analysis[None], {"smoothed_mean": smoothed_mean[None]})
        return new_start, estimate

    def finish(self, carry):
        # The last observation time is smoothed by nothing later: its estimate is the
        # propagated smoothed ensemble, i.e. the next window's start (DAPPER's last 's').
        return {"smoothed_mean": member_mean(carry)[None]}
