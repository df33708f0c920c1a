"""The one protocol every DA method implements, and what one cycle sees and returns.

A method is driven by :func:`assimilax.da.assimilate`:

* ``carry = method.init(initial)`` once, from an initial ensemble ``(member, state)``
  (deterministic methods take its mean as their first background);
* ``carry, estimate = method.cycle(model, carry, window, *, key)`` once per cycle, where
  ``window`` holds the ``method.times_per_cycle`` observation times of the cycle and the
  method runs the ``model`` itself (forecast, 4D-Var trajectories, iterated smoothers);
* ``method.finish(carry)`` after the last cycle, for the rows of lagged series (a
  smoother's estimates of the last ``lag`` cycles) not yet emitted.

The driver turns the :class:`Estimate` of each cycle into the series that
:class:`Save` asks for; a method's own series are described by its ``series``
(:class:`SeriesSpec`: name, dimensions, units, lag), so the application ring writes them
without knowing their names.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from ..models import AbstractModel
from ..observations import AbstractObsNoise, AbstractObsOperator


class Window(eqx.Module):
    """What one cycle sees: ``times`` consecutive observation times.

    Attributes:
        y: observed values ``(time, obs)``; masked slots hold 0.
        mask: which slots hold an observation ``(time, obs)``.
        operator: the observation operator (the same at every time of the window).
        noise: the observation error model.
        every_steps: model steps between two observation times (static); the first
            time of the window is ``every_steps`` steps after the previous cycle's last.
    """

    y: Float[Array, "time obs"]
    mask: Bool[Array, "time obs"]
    operator: AbstractObsOperator
    noise: AbstractObsNoise
    every_steps: int = eqx.field(static=True, default=1)

    @property
    def times(self) -> int:
        """Observation times in the window (static)."""
        return self.y.shape[0]

    @property
    def obs(self) -> tuple[Float[Array, " obs"], Bool[Array, " obs"]]:
        """``(y, mask)`` of the window's last (for a filter: only) observation time."""
        return self.y[-1], self.mask[-1]


class Estimate(eqx.Module):
    """What one cycle returns for the record, one row per observation time of the window.

    Attributes:
        forecast: the background at each time, ``(time, member, state)`` (``member = 1``
            for a deterministic method).
        analysis: the analysis at each time, ``(time, member, state)``.
        series: the method's own per-time series, each ``(time, ...)``, keyed by the
            names of ``method.series``.
        forecast_weights, analysis_weights: normalised importance weights of the members
            ``(time, member)`` (a particle filter); ``None``: equal weights. The driver's
            means are then ``w^T E`` and its spreads DAPPER's weighted ``rmv``.
    """

    forecast: Float[Array, "time member state"]
    analysis: Float[Array, "time member state"]
    series: dict[str, Array] = eqx.field(default_factory=dict)
    forecast_weights: Float[Array, "time member"] | None = None
    analysis_weights: Float[Array, "time member"] | None = None


@dataclasses.dataclass(frozen=True)
class SeriesSpec:
    """A named per-cycle series: how it is recorded, written and compared with the truth.

    Attributes:
        name: the variable name in results (``"smoothed_mean"``, ``"forcing"``, ...).
        dims: dimensions after ``time``: ``("state",)``, ``()`` for a scalar series, ...
        units: physical units (``"state units"``, ``"state units per time unit"``, ...).
        description: one line for the results file's ``long_name``.
        lag: the row emitted at cycle ``k`` describes time ``k - lag``; the last ``lag``
            rows come from :meth:`AbstractMethod.finish`. 0 for ordinary series.
        error: when set and ``dims == ("state",)``, the driver also records the RMSE of
            this series against the truth under this name (``"rmse_smoothed"``).
    """

    name: str
    dims: tuple[str, ...] = ("state",)
    units: str = "state units"
    description: str = ""
    lag: int = 0
    error: str | None = None


class AbstractMethod(eqx.Module):
    """A data assimilation method: ``init``, then ``cycle`` once per cycle, then ``finish``.

    Class attributes (override in a subclass by plain assignment):
        ensemble: whether the estimates are ensembles (spread and rank counts are
            recorded); ``False`` for 3D/4D-Var and the baselines.
    """

    ensemble: ClassVar[bool] = True

    @property
    def times_per_cycle(self) -> int:
        """Observation times one cycle consumes (static; 1 for filters)."""
        return 1

    @property
    def series(self) -> tuple[SeriesSpec, ...]:
        """The method's own series, emitted in :attr:`Estimate.series` (none by default)."""
        return ()

    @abc.abstractmethod
    def init(self, initial: Float[Array, "member state"]) -> Any:
        """The carry before the first cycle, from the initial ensemble ``(member, state)``.

        ``initial`` is valid one observation interval before the first observation.
        """

    @abc.abstractmethod
    def cycle(
        self, model: AbstractModel, carry: Any, window: Window, *, key: PRNGKeyArray
    ) -> tuple[Any, Estimate]:
        """One cycle: forecast with ``model`` and analyse the observations of ``window``."""

    def finish(self, carry: Any) -> dict[str, Array]:
        """The last ``lag`` rows ``(lag, ...)`` of each lagged series (none by default)."""
        del carry
        return {}


def assemble_lagged(
    emitted: Float[Array, "time ..."], tail: Float[Array, "lag ..."], lag: int
) -> Float[Array, "time ..."]:
    """A lagged series in time order: rows ``lag..`` of what was emitted, then the tail.

    Row ``k`` of ``emitted`` describes time ``k - lag`` (rows ``< lag`` are padding);
    ``tail`` holds the last ``lag`` times (:meth:`AbstractMethod.finish`).
    """
    if lag == 0:
        return emitted
    n = emitted.shape[0]
    return jnp.concatenate([emitted[lag:], tail], axis=0)[-n:]
