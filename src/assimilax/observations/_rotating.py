"""A rotating subset: every ``period``-th variable observed, shifted by one each step."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Int

from ._grid import Grid
from ._operators import AbstractObsOperator
from ._series import Observations


class RotatingSubset(AbstractObsOperator):
    r"""Every ``period``-th state variable, the observed set shifted by one each model step.

    At absolute model step $t$ the variables $i$ with $i \equiv t \pmod{\text{period}}$
    are observed: a share $1/\text{period}$ of the grid at each time, and every variable
    once in ``period`` consecutive steps (Nonnenmacher & Greenberg 2021, after Fertig,
    Harlim & Hunt 2007; the authors' ``ObsOp_rotsampleGaussian`` with ``frq = 4``). The
    slots are the state variables, the unobserved ones masked, as for
    :class:`RandomSubset`; filters and variational costs read the mask from the data.

    The rotation is a function of time, which :meth:`draw_mask` is not given: a record of
    consecutive steps gets its masks from :meth:`masks`, and :meth:`restrict` turns a
    fully observed record (``observe`` with :class:`Full`) into the rotating one, so the
    shared twin simulates it. :meth:`draw_mask`, the per-time draw of ``observe``, picks a
    random phase (the same share observed, not the deterministic rotation).

    Attributes:
        grid: the state's grid.
        period: rotation period: every ``period``-th variable observed at each step.
        start: absolute model step of the first observation time of a record (the
            authors' windows observe steps 1, 2, ...: ``start = 1``).

    Refs: Nonnenmacher & Greenberg (2021), J. Adv. Model. Earth Syst. 13, e2021MS002554;
    Fertig, Harlim & Hunt (2007), Tellus A 59, 96-100.
    """

    grid: Grid = eqx.field(static=True)
    period: int = eqx.field(static=True)
    start: int = eqx.field(static=True)

    def __init__(self, grid: Grid | int, period: int = 4, start: int = 1):
        self.grid = Grid.ring(grid) if isinstance(grid, int) else grid
        if not isinstance(period, (int, np.integer)) or period < 1:
            raise ValueError(f"RotatingSubset: period must be an int >= 1, got {period!r}.")
        if period > self.grid.size:
            raise ValueError(f"RotatingSubset: period = {period} exceeds the "
                             f"{self.grid.size} state variables.")
        self.period = int(period)
        self.start = int(start)

    @property
    def size(self):
        return self.grid.size

    def __call__(self, x):
        return x

    def positions(self):
        return np.asarray(self.grid.coords)

    def mask_at(self, steps: Int[Array, "*time"] | np.ndarray | int) -> Bool[Array, "*time obs"]:
        """Which variables are observed at absolute model steps ``steps``."""
        steps = jnp.asarray(steps)
        return (jnp.arange(self.size) - steps[..., None]) % self.period == 0

    def masks(self, n_times: int) -> Bool[Array, "time obs"]:
        """The masks of ``n_times`` consecutive steps from :attr:`start`."""
        return self.mask_at(self.start + jnp.arange(n_times))

    def restrict(self, observations: Observations) -> Observations:
        """The rotating subset of a record of consecutive steps observing every variable.

        Args:
            observations: one row per model step (``every_steps = 1``) with the state
                variables as slots (e.g. ``observe`` with :class:`Full`); its first row is
                step :attr:`start`.

        Returns:
            The same values on the rotating masks (0 elsewhere), with this operator.
        """
        if observations.every_steps != 1 or observations.y.shape[-1] != self.size:
            raise ValueError("RotatingSubset.restrict: needs one row per model step of all "
                             f"{self.size} state variables, got every_steps = "
                             f"{observations.every_steps} and rows of "
                             f"{observations.y.shape[-1]} slots.")
        mask = self.masks(observations.y.shape[-2]) & observations.mask
        y = jnp.where(mask, observations.y, 0.0)
        return Observations(self, observations.noise, y, mask, observations.every_steps)

    def draw_mask(self, key):
        return self.mask_at(jax.random.randint(key, (), 0, self.period))
