"""``[observations]`` sections: one class per operator, each building its core operator.

A new operator: a class deriving from :class:`ObservationsSection`, decorated with
``@register("observations", "<operator>")``, with its keys, ``describe``,
``build_operator`` and (if its keys depend on the state) ``issues``.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from ... import observations
from ...observations import AbstractObsNoise, AbstractObsOperator, Grid
from ._base import Issue, Section, show_value
from ._registry import register


class ObservationsSection(Section):
    """Observations every ``every_steps`` model steps with error std ``noise_std`` (state units)."""

    tag: ClassVar[str] = "operator"

    operator: str
    """The observation operator."""
    every_steps: int = Field(1, ge=1)
    """Model steps between observation times (one analysis cycle)."""
    noise_std: float = Field(1.0, gt=0)
    """Observation error standard deviation (state units): $R = \\sigma^2 I$."""

    def describe(self) -> str:
        """What is observed, e.g. ``every 2 variables``."""
        raise NotImplementedError

    def describe_schedule(self) -> str:
        """E.g. ``every 25 model steps, noise std 1.41``."""
        steps = "every model step" if self.every_steps == 1 else (
            f"every {self.every_steps} model steps")
        return f"{steps}, noise std {self.noise_std:.3g}"

    def issues(self, state_size: int) -> list[Issue]:
        """What is wrong with these keys for a state of ``state_size`` variables.

        Args:
            state_size: the forecast model's state size.

        Returns:
            Issues naming ``[observations]`` (none by default).
        """
        return []

    def build_operator(self, grid: Grid) -> AbstractObsOperator:
        """The observation operator on the forecast model's ``grid``."""
        raise NotImplementedError

    def build(self, grid: Grid) -> tuple[AbstractObsOperator, AbstractObsNoise]:
        """The operator on ``grid`` and the diagonal Gaussian noise ``R = noise_std^2 I``.

        Args:
            grid: the forecast model's grid.

        Returns:
            ``(operator, noise)``.
        """
        return self.build_operator(grid), observations.DiagonalNoise(self.noise_std)


@register("observations", "full")
class FullObsConfig(ObservationsSection):
    """``operator = "full"``: every state variable."""

    def describe(self) -> str:
        return "all variables"

    def build_operator(self, grid: Grid) -> observations.Full:
        return observations.Full(grid)


@register("observations", "every")
class EveryObsConfig(ObservationsSection):
    """``operator = "every"``: every ``stride``-th variable from ``offset``."""

    stride: int = Field(ge=1)
    """Observe every ``stride``-th variable (at most the state size)."""
    offset: int = Field(0, ge=0)
    """Index of the first observed variable (less than ``stride``)."""

    def describe(self) -> str:
        return f"every {self.stride} variables"

    def issues(self, state_size: int) -> list[Issue]:
        found = []
        if self.stride > state_size:
            found.append(Issue("observations", "stride",
                               f"must be <= the state size {state_size}", self.stride))
        if self.offset >= self.stride:
            found.append(Issue("observations", "offset", f"must be < stride = {self.stride}",
                               self.offset))
        return found

    def build_operator(self, grid: Grid) -> observations.Every:
        return observations.Every(grid, self.stride, self.offset)


@register("observations", "subset")
class SubsetObsConfig(ObservationsSection):
    """``operator = "subset"``: the variables at ``indices`` (0-based)."""

    indices: list[int] = Field(min_length=1)
    """The observed variables (0-based, distinct, inside the state)."""

    def describe(self) -> str:
        return f"{len(self.indices)} variables"

    def issues(self, state_size: int) -> list[Issue]:
        found = []
        outside = [i for i in self.indices if not 0 <= i < state_size]
        if outside:
            found.append(Issue("observations", "indices", f"{show_value(outside)} outside the "
                               f"state: allowed 0 to {state_size - 1}", self.indices))
        if len(set(self.indices)) != len(self.indices):
            found.append(Issue("observations", "indices", "contains duplicates", self.indices))
        return found

    def build_operator(self, grid: Grid) -> observations.Subset:
        return observations.Subset(grid, self.indices)


@register("observations", "random")
class RandomObsConfig(ObservationsSection):
    """``operator = "random"``: a share ``fraction`` of the variables, drawn at each time."""

    fraction: float = Field(gt=0, le=1)
    """Share of the variables observed, drawn anew at every observation time."""

    def describe(self) -> str:
        return f"random {self.fraction:.0%} of the variables"

    def build_operator(self, grid: Grid) -> observations.RandomSubset:
        return observations.RandomSubset(grid, self.fraction)
