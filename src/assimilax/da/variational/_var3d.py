"""3D-Var: incremental, in control-variable space, one observation time per cycle."""

from __future__ import annotations

from ._base import AbstractVariationalMethod
from ._covariance import AbstractCovariance
from ._problems import StrongWindow, _Observed
from ._solver import GaussNewton
from ._window import propagate


class Var3D(AbstractVariationalMethod):
    r"""3D-Var with a static background covariance $B$.

    At each observation time the background $x_b$ (the previous analysis run forward one
    interval) is corrected by $\delta x = B^{1/2}v$, with $v$ minimising

    $$J(v) = \tfrac12 v^Tv + \tfrac12\|R^{-1/2}(y - H(x_b + B^{1/2}v))\|^2$$

    by Gauss-Newton and conjugate gradients. For a linear $H$ one outer loop gives the
    BLUE/optimal interpolation $x_a = x_b + BH^T(HBH^T + R)^{-1}(y - Hx_b)$ (to the CG
    tolerance); DAPPER's ``Var3D(xB=...)`` computes that formula directly.
    ``background`` may be a :class:`DenseCovariance` (e.g. ``xB`` times the
    climatological covariance) or a :class:`RecursiveFilterCovariance`.

    Refs: Lorenc (1986), Q. J. R. Meteorol. Soc. 112; Courtier et al. (1998), QJRMS 124.
    """

    background: AbstractCovariance
    solver: GaussNewton = GaussNewton(outer_loops=1)

    @property
    def times_per_cycle(self) -> int:
        return 1

    def init_background(self, x_background):
        return x_background

    def problem(self, model, xb, y, mask, operator, noise, every_steps) -> StrongWindow:
        """The cost at one observation time, background ``xb`` ``(state,)``, ``y`` ``(1, obs)``."""
        return StrongWindow(model, self.background, xb, _Observed(operator, noise, y, mask),
                            every_steps, 0)

    def window_cycle(self, model, state, y, mask, operator, noise, every_steps):
        xb = propagate(model, state, every_steps, 1)[0]
        prob = self.problem(model, xb, y, mask, operator, noise, every_steps)
        xa = prob.initial_state(self.solver.minimise(prob.residual, prob.zero()))
        return xa, {"forecast": xb[None], "analysis": xa[None]}
