"""Localization tapers (in DAPPER's radius convention) and taper matrices."""

import abc

import equinox as eqx
import numpy as np

from ..observations import AbstractObsOperator


class AbstractTaper(eqx.Module):
    """A correlation taper ``c(d)`` of distance ``d`` (grid units), ``c(0) = 1``.

    ``radius`` follows DAPPER: the taper's half-width is scaled so that it is about
    ``exp(-1/2)`` at ``radius`` (for Gaspari-Cohn, DAPPER's factor 1.82 matches the
    curvature of ``exp(-d^2/(2 r^2))`` at zero and gives 0.634 at ``radius``).
    """

    radius: eqx.AbstractVar[float]

    @abc.abstractmethod
    def __call__(self, d: np.ndarray) -> np.ndarray: ...

    def matrix(self, operator: AbstractObsOperator, cutoff: float = 1e-3) -> np.ndarray:
        """Taper between every state variable and observation slot, ``(state, obs)``.

        Coefficients below ``cutoff`` are set to zero (DAPPER's 1e-3).
        """
        obs_pos = operator.positions()
        if obs_pos is None:
            raise ValueError(
                f"{type(operator).__name__} has no observation positions: localization needs "
                "them (give `positions` to a Linear operator, or use Full/Every/Subset/Random)."
            )
        grid = operator.grid
        c = self(grid.distances(np.asarray(grid.coords), obs_pos))
        return np.where(c < cutoff, 0.0, c)


class GaspariCohn(AbstractTaper):
    r"""Gaspari & Cohn (1999) fifth-order piecewise rational taper, eq. (4.10).

    The half-width is $c = 1.82\,r$ (DAPPER's convention: the taper has the curvature of
    $e^{-d^2/2r^2}$ at zero, and $c(r) = 0.634 \approx e^{-1/2}$); the support is
    $|d| < 2c \approx 3.64\,r$.

    Refs: Gaspari & Cohn (1999), Q. J. R. Meteorol. Soc. 125, 723-757.
    """

    radius: float = 4.0

    def __call__(self, d):
        if not self.radius > 0:
            raise ValueError(f"GaspariCohn: radius must be > 0, got {self.radius}.")
        R = self.radius * 1.82
        z = np.abs(np.asarray(d, float)) / R
        out = np.zeros_like(z)
        a = z <= 1
        za = z[a]
        out[a] = -0.25 * za**5 + 0.5 * za**4 + 0.625 * za**3 - (5.0 / 3.0) * za**2 + 1.0
        b = (z > 1) & (z < 2)
        zb = z[b]
        out[b] = (
            zb**5 / 12.0
            - 0.5 * zb**4
            + 0.625 * zb**3
            + (5.0 / 3.0) * zb**2
            - 5.0 * zb
            + 4.0
            - (2.0 / 3.0) / zb
        )
        return np.clip(out, 0.0, 1.0)


class Gaussian(AbstractTaper):
    r"""$c(d) = \exp(-d^2 / (2 r^2))$ (no compact support; cut at 1e-3)."""

    radius: float = 4.0

    def __call__(self, d):
        return np.exp(-0.5 * (np.asarray(d, float) / self.radius) ** 2)


class NoLocalization(AbstractTaper):
    """Taper 1 everywhere: the local analyses all equal the global one."""

    radius: float = float("inf")

    def __call__(self, d):
        return np.ones_like(np.asarray(d, float))

    def matrix(self, operator, cutoff: float = 1e-3):
        return np.ones((operator.state_size, operator.size))
