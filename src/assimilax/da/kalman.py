"""Exact Kalman filter and Rauch-Tung-Striebel smoother: the linear-Gaussian oracle."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float


class KalmanResult(eqx.Module):
    """Means ``(time, state)`` and covariances ``(time, state, state)`` at analysis times."""

    mean_forecast: Float[Array, "time state"]
    cov_forecast: Float[Array, "time state state"]
    mean_analysis: Float[Array, "time state"]
    cov_analysis: Float[Array, "time state state"]


def _condition(m, P, H, R, y, mask):
    r"""Kalman update on the observed slots: $K = PH^T(HPH^T + R)^{-1}$.

    Masked slots get a zero row in ``H``, zero innovation and unit variance, which
    decouples them exactly.
    """
    Hm = jnp.where(mask[:, None], H, 0.0)
    both = mask[:, None] & mask[None, :]
    Rm = jnp.where(both, R, jnp.eye(R.shape[0], dtype=R.dtype))
    S = Hm @ P @ Hm.T + Rm
    K = jnp.linalg.solve(S, Hm @ P).T
    innov = jnp.where(mask, y - H @ m, 0.0)
    m = m + K @ innov
    IKH = jnp.eye(P.shape[0], dtype=P.dtype) - K @ Hm
    P = IKH @ P @ IKH.T + K @ Rm @ K.T  # Joseph form
    return m, 0.5 * (P + P.T)


def kalman_filter(
    M: Float[Array, "state state"],
    Q: Float[Array, "state state"],
    H: Float[Array, "obs state"],
    R: Float[Array, "obs obs"],
    m0: Float[Array, " state"],
    P0: Float[Array, "state state"],
    y: Float[Array, "time obs"],
    mask: Bool[Array, "time obs"],
) -> KalmanResult:
    r"""Kalman filter for $x_{k+1} = M x_k + q_k$, $y_k = H x_k + r_k$.

    The errors are $q_k\sim N(0,Q)$ and $r_k\sim N(0,R)$.

    ``M`` and ``Q`` propagate from one analysis time to the next; ``(m0, P0)`` is the
    prior at time 0, one interval before the first observation ``y[0]``.

    Refs: Kalman (1960), J. Basic Eng.
    """

    def step(carry, inputs):
        m, P = carry
        yk, mk = inputs
        mf = M @ m
        Pf = M @ P @ M.T + Q
        ma, Pa = _condition(mf, Pf, H, R, yk, mk)
        return (ma, Pa), (mf, Pf, ma, Pa)

    _, (mf, Pf, ma, Pa) = jax.lax.scan(step, (m0, P0), (y, mask))
    return KalmanResult(mf, Pf, ma, Pa)


def rts_smoother(
    M: Float[Array, "state state"], filtered: KalmanResult
) -> tuple[Float[Array, "time state"], Float[Array, "time state state"]]:
    r"""Rauch-Tung-Striebel smoother over the analysis times of a :func:`kalman_filter` run.

    $G_k = P^a_k M^T (P^f_{k+1})^{-1}$,
    $m^s_k = m^a_k + G_k(m^s_{k+1} - m^f_{k+1})$,
    $P^s_k = P^a_k + G_k(P^s_{k+1} - P^f_{k+1})G_k^T$.

    Returns:
        ``(mean, cov)`` of shapes ``(time, state)`` and ``(time, state, state)``.

    Refs: Rauch, Tung & Striebel (1965), AIAA J.
    """

    def step(carry, inputs):
        ms_next, Ps_next = carry
        ma, Pa, mf_next, Pf_next = inputs
        G = jnp.linalg.solve(Pf_next, M @ Pa).T
        ms = ma + G @ (ms_next - mf_next)
        Ps = Pa + G @ (Ps_next - Pf_next) @ G.T
        return (ms, Ps), (ms, Ps)

    last = (filtered.mean_analysis[-1], filtered.cov_analysis[-1])
    inputs = (
        filtered.mean_analysis[:-1],
        filtered.cov_analysis[:-1],
        filtered.mean_forecast[1:],
        filtered.cov_forecast[1:],
    )
    _, (ms, Ps) = jax.lax.scan(step, last, inputs, reverse=True)
    return (
        jnp.concatenate([ms, last[0][None]], axis=0),
        jnp.concatenate([Ps, last[1][None]], axis=0),
    )
