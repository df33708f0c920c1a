"""Where the state variables are: named fields on 1-D or n-D grids, for localization and plots.

The DA core sees a flat state; the grid says how it unflattens: into named fields
(``u``, ``h``, ``r`` of a shallow-water model, the two layers of a QG model), each with
its own shape, coordinates and periodicity per axis, concatenated in order.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np


@dataclasses.dataclass(frozen=True)
class Field:
    """One named field of the state: ``math.prod(shape)`` consecutive state variables.

    Attributes:
        name: the field's name (``"x"``, ``"h"``, ``"psi_1"``).
        shape: its grid shape (``(40,)``, ``(64, 64)``), C order in the flat state.
    """

    name: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclasses.dataclass(frozen=True)
class Grid:
    """Static coordinates of the state variables (grid units) and the domain's period.

    Attributes:
        coords: coordinate of each state variable: a float per variable on a 1-D grid,
            a tuple of ``ndim`` floats per variable on an n-D grid.
        period: the domain length along each axis, ``None`` for a non-periodic axis
            (a float or ``None`` on a 1-D grid; a tuple of them on an n-D grid).
        fields: the named fields, in the order of the flat state; default one field
            ``"x"`` holding every variable as a line.
    """

    coords: tuple
    period: float | tuple[float | None, ...] | None = None
    fields: tuple[Field, ...] = ()

    def __post_init__(self):
        if not self.fields:
            object.__setattr__(self, "fields", (Field("x", (len(self.coords),)),))
        total = sum(f.size for f in self.fields)
        if total != len(self.coords):
            raise ValueError(f"Grid: the fields hold {total} variables but there are "
                             f"{len(self.coords)} coordinates.")
        if self.ndim > 1 and self.period is not None and (
                not isinstance(self.period, tuple) or len(self.period) != self.ndim):
            raise ValueError(f"Grid: a {self.ndim}-D grid needs one period per axis "
                             f"(a tuple of {self.ndim}, None for an open axis).")

    @classmethod
    def ring(cls, n: int) -> Grid:
        """``n`` points ``0, 1, ..., n-1`` on a periodic ring of length ``n``."""
        return cls(tuple(float(i) for i in range(n)), float(n))

    @classmethod
    def regular(
        cls,
        fields: dict[str, tuple[int, ...]],
        *,
        spacing: float | tuple[float, ...] = 1.0,
        periodic: bool | tuple[bool, ...] = True,
    ) -> Grid:
        """Fields of one shape on a regular grid (all fields at the same points).

        Args:
            fields: name -> shape; every field has the same shape (e.g. ``{"u": (32, 32),
                "h": (32, 32)}``).
            spacing: grid spacing per axis (grid units).
            periodic: whether each axis is periodic (period = points x spacing).
        """
        shapes = set(fields.values())
        if len(shapes) != 1:
            raise ValueError(f"Grid.regular: the fields must share one shape, got {shapes}.")
        (shape,) = shapes
        ndim = len(shape)
        spacing = spacing if isinstance(spacing, tuple) else (float(spacing),) * ndim
        periodic = periodic if isinstance(periodic, tuple) else (periodic,) * ndim
        axes = [np.arange(n) * d for n, d in zip(shape, spacing, strict=True)]
        points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, ndim)
        per_field = [tuple(map(float, p)) if ndim > 1 else float(p[0]) for p in points]
        period = tuple(n * d if p else None for n, d, p in zip(shape, spacing, periodic,
                                                                strict=True))
        return cls(tuple(per_field) * len(fields), period if ndim > 1 else period[0],
                   tuple(Field(name, shape) for name in fields))

    @property
    def size(self) -> int:
        return len(self.coords)

    @property
    def ndim(self) -> int:
        """Dimensions of the coordinates (1 for a line or ring)."""
        first = self.coords[0] if self.coords else 0.0
        return len(first) if isinstance(first, tuple) else 1

    def points(self) -> np.ndarray:
        """Coordinates of the state variables, ``(state,)`` in 1-D, ``(state, ndim)`` else."""
        return np.asarray(self.coords, float)

    def _periods(self) -> tuple[float | None, ...]:
        if self.ndim == 1:
            p = self.period
            return (p[0] if isinstance(p, tuple) else p,)
        return self.period if isinstance(self.period, tuple) else (None,) * self.ndim

    def distances(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Pairwise Euclidean distances, periodic along periodic axes, ``(len a, len b)``.

        ``a``, ``b``: points ``(n,)`` on a 1-D grid or ``(n, ndim)``.
        """
        a = np.asarray(a, float).reshape(len(a), -1)
        b = np.asarray(b, float).reshape(len(b), -1)
        d2 = np.zeros((a.shape[0], b.shape[0]))
        for axis, period in enumerate(self._periods()):
            d = np.abs(a[:, axis, None] - b[None, :, axis])
            if period is not None:
                d = np.minimum(d, period - d)
            d2 += d * d
        return np.sqrt(d2)

    def neighbourhoods(
        self, b: np.ndarray, max_distance: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For every state variable, the points of ``b`` within ``max_distance``.

        Precomputed once for a static maximum radius; a taper then evaluates its values
        on the returned distances from a (possibly traced) radius up to that maximum.

        Returns:
            ``(indices, distances, valid)``, each ``(state, k)`` with ``k`` the largest
            neighbourhood: indices into ``b`` (0 where padded), their distances, and
            which entries are real (the others are padding).
        """
        d = self.distances(self.points(), b)
        inside = d <= max_distance
        k = max(1, int(inside.sum(axis=1).max()))
        order = np.argsort(np.where(inside, d, np.inf), axis=1, kind="stable")[:, :k]
        dist = np.take_along_axis(d, order, axis=1)
        valid = np.take_along_axis(inside, order, axis=1)
        return np.where(valid, order, 0), np.where(valid, dist, 0.0), valid

    def field_slices(self) -> dict[str, slice]:
        """The slice of the flat state that each field occupies."""
        out, start = {}, 0
        for f in self.fields:
            out[f.name] = slice(start, start + f.size)
            start += f.size
        return out

    def unflatten(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """``(..., state)`` -> ``{field: (..., *shape)}``."""
        x = np.asarray(x)
        return {f.name: x[..., s].reshape(x.shape[:-1] + f.shape)
                for f, s in zip(self.fields, self.field_slices().values(), strict=True)}
