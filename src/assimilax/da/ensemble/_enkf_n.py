import equinox as eqx
import jax
import jax.numpy as jnp

from .._base import AbstractTransformFilter, ensemble_space, mean_transform
from .._linalg import AbstractRotation, HaarRotation
from ..inflation import AbstractInflation, NoInflation


def hyperprior_coeffs(s2, N: int, xN: float = 1.0, g: int = 0):
    r"""EnKF-N hyperprior constants ``(eN, cL)`` with DAPPER's mode correction.

    $e_N = (N+1)/N$, $c_L = (N+g)/(N-1)$; the prior mode $e_N/c_L$ of the inflation is
    pulled towards 1 by $m_c = \sqrt{(e_N/c_L)^{\overline{I-KH}}}$ (Bocquet et al. 2015,
    eq. 36), then both are scaled by ``xN``. ``s2`` are the ``N`` eigenvalues of
    $\tilde Y\tilde Y^T$.
    """
    N1 = N - 1
    eN = (N + 1) / N
    cL = (N + g) / N1
    prior_mode = eN / cL
    I_KH = jnp.mean(1.0 / (s2 + N1)) * N1
    mc = jnp.sqrt(prior_mode**I_KH)
    return xN * eN / mc, xN * cL * mc


def dual_inflation(s2, b, eN, cL, N1, *, tol=1e-10, max_iter=100):
    r"""Minimise the EnKF-N dual cost over $\lambda$ by Newton's method from $\lambda = 1$.

    $J(\lambda) = \sum_i u_i^2 / (\lambda^2 s_i^2 + N-1) + e_N/\lambda^2 + c_L\ln\lambda^2$
    with $u = U^T\tilde d$ from the SVD $\tilde Y = V\,\mathrm{diag}(s)\,U^T$; only its
    derivatives enter, through ``b = s * u = V^T Y d`` (DAPPER's ``Newton_m``, tighter tolerance).
    """

    def derivs(l1):
        dgn = l1**2 * s2 + N1
        jp = -2 * l1 * jnp.sum(b**2 / dgn**2) - 2 * eN / l1**3 + 2 * cL / l1
        jpp = 8 * l1**2 * jnp.sum(s2 * b**2 / dgn**3) + 6 * eN / l1**4 - 2 * cL / l1**2
        return jp, jpp

    def cond(c):
        i, _, dx, jp = c
        return (i < max_iter) & (jnp.abs(dx) > tol) & (jnp.abs(jp) > 1e-14)

    def body(c):
        i, l1, _, _ = c
        jp, jpp = derivs(l1)
        dx = jp / jpp
        # Newton on a convex-near-the-optimum scalar cost; keep the iterate positive.
        new = jnp.where(l1 - dx > 0, l1 - dx, 0.5 * l1)
        return i + 1, new, dx, jp

    one = jnp.asarray(1.0, s2.dtype)
    _, l1, _, _ = jax.lax.while_loop(cond, body, (0, one, jnp.asarray(jnp.inf, s2.dtype), one))
    return l1


class EnKF_N(AbstractTransformFilter):
    r"""Finite-size ensemble Kalman filter (EnKF-N): inflation estimated at every cycle.

    The prior of the ensemble-space weights accounts for the sampling error of an
    ``N``-member ensemble through a Jeffreys hyperprior on the background covariance
    (Bocquet 2011). The inflation $\lambda$ minimises the dual cost
    (:func:`dual_inflation`) with DAPPER's hyperprior mode correction
    (:func:`hyperprior_coeffs`); the update is then the ETKF with the prior anomalies
    multiplied by $\lambda$:

    $$G = \lambda^2\tilde Y\tilde Y^T + (N-1)I,\quad
    E_a = \bar x + \lambda\,(\lambda\,G^{-1}\tilde Y\tilde d + \sqrt{N-1}\,G^{-1/2})A_f.$$

    No inflation to tune (``inflation`` is available for model-error studies).

    Refs: Bocquet (2011), Nonlin. Processes Geophys.; Bocquet, Raanes & Hannart (2015),
    Nonlin. Processes Geophys.; DAPPER ``EnKF_N``.
    """

    inflation: AbstractInflation = NoInflation()
    rotate: bool = eqx.field(static=True, default=True)
    rotation: AbstractRotation = HaarRotation()
    xN: float = 1.0
    g: int = eqx.field(static=True, default=0)

    def weights(self, ensemble, y, mask, operator, noise):
        """``(w, T, l1)`` with ``E_a = mean + l1 (w + T) A``."""
        es = ensemble_space(ensemble, y, mask, operator, noise)
        N = ensemble.shape[0]
        N1 = N - 1
        s2, V = jnp.linalg.eigh(es.Y @ es.Y.T)
        s2 = jnp.maximum(s2, 0.0)
        b = V.T @ (es.Y @ es.d)
        eN, cL = hyperprior_coeffs(s2, N, self.xN, self.g)
        l1 = dual_inflation(s2, b, eN, cL, N1)
        dgn = l1**2 * s2 + N1
        w = l1 * (V @ (b / dgn))
        T = jnp.sqrt(N1) * (V * dgn[None, :] ** -0.5) @ V.T
        return es, w, T, l1

    def update(self, ensemble, y, mask, operator, noise, *, key):
        del key
        es, w, T, l1 = self.weights(ensemble, y, mask, operator, noise)
        return es.mean + l1 * ((w[None, :] + T) @ es.A)

    def transform(self, ensemble, y, mask, operator, noise, *, key):
        del key
        _, w, T, l1 = self.weights(ensemble, y, mask, operator, noise)
        return mean_transform(ensemble.shape[0], l1 * w, l1 * T, ensemble.dtype)
