"""The interface every variational method offers to :func:`assimilate_variational`."""

from __future__ import annotations

import abc
from typing import Any

import equinox as eqx
from jaxtyping import Array, Bool, Float

from ...models import AbstractModel
from ...observations import AbstractObsNoise, AbstractObsOperator


class AbstractVariationalMethod(eqx.Module):
    """A variational method: ``init`` once, then ``cycle`` once per assimilation window.

    A cycle consumes ``times_per_cycle`` observation times and returns, for each of them,
    the background (``"forecast"``) and the analysis (``"analysis"``), ``(time, state)``,
    plus method-specific series (``"forcing"`` for weak-constraint 4D-Var).
    """

    @property
    @abc.abstractmethod
    def times_per_cycle(self) -> int:
        """Observation times consumed by one cycle (static)."""

    def init(self, x_background: Float[Array, " state"]) -> Any:
        """The carried state before the first cycle (default: the background state)."""
        return x_background

    @abc.abstractmethod
    def cycle(
        self,
        model: AbstractModel,
        state: Any,
        y: Float[Array, "time obs"],
        mask: Bool[Array, "time obs"],
        operator: AbstractObsOperator,
        noise: AbstractObsNoise,
        every_steps: int,
    ) -> tuple[Any, dict[str, Float[Array, "time state"]]]:
        """One window: ``(state, {"forecast": ..., "analysis": ...})``.

        Each series has ``times_per_cycle`` rows, ``(time, state)``.
        """
