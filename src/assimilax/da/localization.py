"""Localization tapers (in DAPPER's radius convention) and taper matrices."""

import abc
import contextlib

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ..observations import AbstractObsOperator


class AbstractTaper(eqx.Module):
    """A correlation taper ``c(d)`` of distance ``d`` (grid units), ``c(0) = 1``.

    ``radius`` follows DAPPER: the taper's half-width is scaled so that it is about
    ``exp(-1/2)`` at ``radius`` (for Gaspari-Cohn, DAPPER's factor 1.82 matches the
    curvature of ``exp(-d^2/(2 r^2))`` at zero and gives 0.634 at ``radius``).
    Tapers are computed in ``jax.numpy``: the radius may be a traced value, so a batch
    of radii runs as one ``vmap`` and the taper can be differentiated in its radius.
    The distances themselves are static (NumPy, from the grid); with a constant radius
    the taper matrix is computed once, when a program is traced, and compiled in as a
    constant (as it was computed in NumPy), not recomputed at every cycle.
    """

    radius: eqx.AbstractVar[float | Array]

    @abc.abstractmethod
    def __call__(self, d: Float[Array, "..."]) -> Float[Array, "..."]: ...

    def matrix(
        self, operator: AbstractObsOperator, cutoff: float = 1e-3
    ) -> Float[Array, "state obs"]:
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
        distances = grid.distances(grid.points(), obs_pos)
        traced = any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(self))
        # A traced radius is computed in the program; a constant one once, at tracing.
        with contextlib.nullcontext() if traced else jax.ensure_compile_time_eval():
            c = self(jnp.asarray(distances))
            return jnp.where(c < cutoff, 0.0, c)


def _check_radius(name: str, radius) -> None:
    if isinstance(radius, int | float) and not radius > 0:
        raise ValueError(f"{name}: radius must be > 0, got {radius}.")


class GaspariCohn(AbstractTaper):
    r"""Gaspari & Cohn (1999) fifth-order piecewise rational taper, eq. (4.10).

    The half-width is $c = 1.82\,r$ (DAPPER's convention: the taper has the curvature of
    $e^{-d^2/2r^2}$ at zero, and $c(r) = 0.634 \approx e^{-1/2}$); the support is
    $|d| < 2c \approx 3.64\,r$.

    Refs: Gaspari & Cohn (1999), Q. J. R. Meteorol. Soc. 125, 723-757.
    """

    radius: float | Array = 4.0

    def __check_init__(self):
        _check_radius("GaspariCohn", self.radius)

    def __call__(self, d):
        R = self.radius * 1.82
        ad = jnp.abs(d)
        z = ad / R
        inner = -0.25 * z**5 + 0.5 * z**4 + 0.625 * z**3 - (5.0 / 3.0) * z**2 + 1.0
        zb = jnp.where(z > 1, z, 1.0)  # keeps 1/z finite (and its gradient) where unused
        outer = (
            zb**5 / 12.0
            - 0.5 * zb**4
            + 0.625 * zb**3
            + (5.0 / 3.0) * zb**2
            - 5.0 * zb
            + 4.0
            - (2.0 / 3.0) / zb
        )
        # The branches are chosen on the distance itself: XLA's division may land one
        # rounding step below 2 at the edge of the support, where the taper must be 0.
        out = jnp.where(ad <= R, inner, jnp.where(ad < 2 * R, outer, 0.0))
        return jnp.clip(out, 0.0, 1.0)


class Gaussian(AbstractTaper):
    r"""$c(d) = \exp(-d^2 / (2 r^2))$ (no compact support; cut at 1e-3)."""

    radius: float | Array = 4.0

    def __check_init__(self):
        _check_radius("Gaussian", self.radius)

    def __call__(self, d):
        return jnp.exp(-0.5 * (d / self.radius) ** 2)


class NoLocalization(AbstractTaper):
    """Taper 1 everywhere: the local analyses all equal the global one."""

    radius: float = float("inf")

    def __call__(self, d):
        return jnp.ones_like(d)
