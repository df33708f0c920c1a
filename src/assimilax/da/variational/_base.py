"""Variational methods on the method protocol: one cost minimised per window."""

from __future__ import annotations

import abc
from typing import Any, ClassVar

from jaxtyping import Array, Bool, Float

from ..._ensemble import member_mean
from ...models import AbstractModel
from ...observations import AbstractObsNoise, AbstractObsOperator
from .._method import AbstractMethod, Estimate


class AbstractVariationalMethod(AbstractMethod):
    """A variational method: ``init`` once, then one cost minimised per window.

    The protocol's :meth:`init` starts from the mean of the initial ensemble (the first
    background); :meth:`cycle` hands the window's observations to :meth:`window_cycle`,
    which returns, for each of the ``times_per_cycle`` observation times, the background
    (``"forecast"``) and the analysis (``"analysis"``), ``(time, state)``, plus the
    method's own series (named in :attr:`series`: ``"forcing"`` for weak-constraint
    4D-Var). Variational methods treat the model as deterministic and draw no random
    numbers.
    """

    ensemble: ClassVar[bool] = False

    @abc.abstractmethod
    def init_background(self, x_background: Float[Array, " state"]) -> Any:
        """The carry before the first window, from the first background state."""

    @abc.abstractmethod
    def window_cycle(
        self,
        model: AbstractModel,
        state: Any,
        y: Float[Array, "time obs"],
        mask: Bool[Array, "time obs"],
        operator: AbstractObsOperator,
        noise: AbstractObsNoise,
        every_steps: int,
    ) -> tuple[Any, dict[str, Float[Array, "time state"]]]:
        """One window: ``(state, {"forecast": ..., "analysis": ..., own series})``.

        Each series has ``times_per_cycle`` rows, ``(time, state)``.
        """

    def init(self, initial):
        return self.init_background(member_mean(initial))

    def cycle(self, model, carry, window, *, key):
        del key
        carry, out = self.window_cycle(model, carry, window.y, window.mask, window.operator,
                                       window.noise, window.every_steps)
        forecast, analysis = out.pop("forecast"), out.pop("analysis")
        return carry, Estimate(forecast[:, None], analysis[:, None], out)
