"""Observation operators: which part of the state is seen, and at which coordinates."""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from ._grid import Grid


class AbstractObsOperator(eqx.Module):
    """Maps one state ``(state,)`` to one observation vector ``(obs,)``.

    Every operator has a fixed number of observation slots ``size``. Which slots hold an
    observation at a given time is a boolean mask carried with the data
    (:meth:`draw_mask`); filters never do arithmetic with missing values.
    """

    grid: eqx.AbstractVar[Grid]

    @property
    def state_size(self) -> int:
        return self.grid.size

    @property
    @abc.abstractmethod
    def size(self) -> int:
        """Number of observation slots."""

    @abc.abstractmethod
    def __call__(self, x: Float[Array, " state"]) -> Float[Array, " obs"]:
        """Observe one state."""

    def positions(self) -> np.ndarray | None:
        """Coordinate of each observation slot (grid units), or ``None`` if not local."""
        return None

    def draw_mask(self, key: PRNGKeyArray) -> Bool[Array, " obs"]:
        """Which slots are observed at one observation time (all, by default)."""
        del key
        return jnp.ones((self.size,), bool)


def _check_grid(grid: Grid | int) -> Grid:
    return Grid.ring(grid) if isinstance(grid, int) else grid


class Full(AbstractObsOperator):
    """Every state variable observed: ``H = I``."""

    grid: Grid = eqx.field(static=True)

    def __init__(self, grid: Grid | int):
        self.grid = _check_grid(grid)

    @property
    def size(self):
        return self.grid.size

    def __call__(self, x):
        return x

    def positions(self):
        return np.asarray(self.grid.coords)


class Subset(AbstractObsOperator):
    """The state variables at ``indices`` observed (a fixed network)."""

    grid: Grid = eqx.field(static=True)
    indices: tuple[int, ...] = eqx.field(static=True)

    def __init__(self, grid: Grid | int, indices):
        self.grid = _check_grid(grid)
        idx = tuple(int(i) for i in np.asarray(indices).ravel())
        n = self.grid.size
        if len(idx) == 0:
            raise ValueError("Subset: `indices` is empty; give at least one state index.")
        bad = [i for i in idx if not 0 <= i < n]
        if bad:
            raise ValueError(f"Subset: indices {bad} are outside the state [0, {n - 1}].")
        if len(set(idx)) != len(idx):
            raise ValueError("Subset: `indices` contains duplicates.")
        self.indices = idx

    @property
    def size(self):
        return len(self.indices)

    def __call__(self, x):
        return x[..., np.asarray(self.indices)]

    def positions(self):
        return np.asarray(self.grid.coords)[np.asarray(self.indices)]


def Every(grid: Grid | int, stride: int, offset: int = 0) -> Subset:
    """Every ``stride``-th state variable, starting at ``offset``."""
    grid = _check_grid(grid)
    if stride < 1:
        raise ValueError(f"Every: stride must be >= 1, got {stride}.")
    if not 0 <= offset < stride:
        raise ValueError(f"Every: offset must lie in [0, stride), got {offset}.")
    return Subset(grid, np.arange(offset, grid.size, stride))


class RandomSubset(AbstractObsOperator):
    """A random share ``fraction`` of the state, drawn anew at each observation time.

    Exactly ``round(fraction * state)`` variables are observed at each time, uniformly
    without replacement (Brajard et al. 2020). The slots are the state variables; the
    unobserved ones are masked.
    """

    grid: Grid = eqx.field(static=True)
    fraction: float = eqx.field(static=True)

    def __init__(self, grid: Grid | int, fraction: float):
        self.grid = _check_grid(grid)
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"RandomSubset: fraction must lie in (0, 1], got {fraction}.")
        self.fraction = float(fraction)

    @property
    def size(self):
        return self.grid.size

    @property
    def count(self) -> int:
        return max(1, int(round(self.fraction * self.grid.size)))

    def __call__(self, x):
        return x

    def positions(self):
        return np.asarray(self.grid.coords)

    def draw_mask(self, key):
        chosen = jax.random.permutation(key, self.size)[: self.count]
        return jnp.zeros((self.size,), bool).at[chosen].set(True)


class Linear(AbstractObsOperator):
    """A general linear operator ``y = H x`` with ``H`` of shape ``(obs, state)``."""

    H: Float[Array, "obs state"]
    grid: Grid = eqx.field(static=True)
    obs_positions: tuple[float, ...] | None = eqx.field(static=True)

    def __init__(self, H, grid: Grid | None = None, positions=None):
        H = jnp.asarray(H)
        if H.ndim != 2:
            raise ValueError(f"Linear: H must be a matrix (obs, state), got shape {H.shape}.")
        self.H = H
        self.grid = Grid.ring(H.shape[1]) if grid is None else grid
        if self.grid.size != H.shape[1]:
            raise ValueError(
                f"Linear: H has {H.shape[1]} columns but the grid has {self.grid.size} points."
            )
        if positions is not None and len(positions) != H.shape[0]:
            raise ValueError("Linear: `positions` needs one coordinate per row of H.")
        self.obs_positions = None if positions is None else tuple(map(float, positions))

    @property
    def size(self):
        return self.H.shape[0]

    def __call__(self, x):
        return self.H @ x

    def positions(self):
        return None if self.obs_positions is None else np.asarray(self.obs_positions)
