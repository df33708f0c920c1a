"""Coordinates of state variables, for localization and plots."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Grid:
    """Static coordinates of the state variables (grid units) and the domain period.

    Attributes:
        coords: coordinate of each state variable, length ``state``.
        period: length of the periodic domain, or ``None`` for a non-periodic one.
    """

    coords: tuple[float, ...]
    period: float | None = None

    @classmethod
    def ring(cls, n: int) -> Grid:
        """``n`` points ``0, 1, ..., n-1`` on a periodic ring of length ``n``."""
        return cls(tuple(float(i) for i in range(n)), float(n))

    @property
    def size(self) -> int:
        return len(self.coords)

    def distances(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Pairwise distances ``|a_i - b_j|`` (periodic if ``period``), ``(len a, len b)``."""
        d = np.abs(np.asarray(a, float)[:, None] - np.asarray(b, float)[None, :])
        if self.period is not None:
            d = np.minimum(d, self.period - d)
        return d
