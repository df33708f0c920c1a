"""``[hybrid] name = "bonavita2020"``: a neural prior for the model-error forcing of
weak-constraint 4D-Var (Bonavita & Laloyaux 2020)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from ._base import Issue
from ._hybrid import HybridSection
from ._registry import register

if TYPE_CHECKING:
    from ._config import Config


@register("hybrid", "bonavita2020")
class Bonavita2020Config(HybridSection):
    """``name = "bonavita2020"``: strong-constraint 4D-Var on a training twin gives
    increments; a network learns the model-error tendency from the background state; four
    variants assimilate an independent twin: strong 4D-Var, weak 4D-Var with the cycled
    forcing, weak 4D-Var with the network's forcing prior, strong 4D-Var with the
    network-corrected model.

    ``[truth]`` makes the truth the ``[model]`` gets wrong (``two_scale_lorenz96`` for a
    one-scale ``lorenz96`` of its slow variables, or a ``lorenz96`` of another forcing).
    ``[method]`` must be ``weak_var4d``: its window, ``B``, ``Q = model_error_std^2 I`` and
    solver serve every variant (the strong ones drop ``Q``). ``[experiment] cycles`` is the
    evaluation record, ``training_cycles`` the training record; ``burn_in`` applies to both.
    The ``[ml]`` network is a ``periodic_cnn`` (tanh, kernel 5, float64)."""

    title: ClassVar[str] = "neural model-error prior for weak 4D-Var"
    models: ClassVar[tuple[str, ...]] = ("lorenz96",)
    truths: ClassVar[tuple[str, ...]] = ("two_scale_lorenz96", "lorenz96")
    needs_truth: ClassVar[bool] = True
    every_step: ClassVar[bool] = False
    ml_defaults: ClassVar[dict[str, Any]] = {
        "widths": [16], "epochs": 30, "batch_size": 32, "loss": "mse",
        "validation_fraction": 0.1}

    training_cycles: int = Field(4000, ge=16)
    """Observation times of the strong-constraint 4D-Var run on the training twin (its own
    truth and observations, seeded apart from the evaluation twin)."""
    tendency_from: Literal["tangent_linear", "window_length"] = "tangent_linear"
    """How an increment becomes a tendency: ``"tangent_linear"``, $\\hat\\eta = G^{-1}\\delta$
    with $G$ the forecast's tangent-linear response to a constant forcing over the window;
    ``"window_length"``, $\\hat\\eta = \\delta / T$ (its first-order form, $G = T I$)."""
    forecast_lead: float = Field(0.2, gt=0)
    """Lead (model time units) of the reported forecast RMSE: the first guess at that lead
    after the window start (a multiple of the observation interval, at most the window)."""

    def issues(self, config: Config) -> list[Issue]:
        found = super().issues(config)
        method = config.method
        if method is None or method.name != "weak_var4d":
            found.append(Issue("method", "name" if method is not None else None,
                               'bonavita2020 needs [method] name = "weak_var4d" (its window, '
                               "B, Q and solver serve all four variants)",
                               None if method is None else method.name))
            return found
        interval = config.observations.every_steps * config.model.dt
        leads = self.forecast_lead / interval
        if abs(leads - round(leads)) > 1e-6 or not 1 <= round(leads) <= method.window:
            found.append(Issue("hybrid", "forecast_lead", "must be a multiple of the "
                               f"observation interval {interval:g} and at most the window "
                               f"({method.window} x {interval:g} = {method.window * interval:g} "
                               "time units)", self.forecast_lead))
        exp = config.experiment
        for key, cycles in (("cycles", exp.cycles), ("training_cycles", self.training_cycles)):
            if cycles < exp.burn_in + 3 * method.window:
                where = "experiment" if key == "cycles" else "hybrid"
                found.append(Issue(where, key, f"must hold [experiment] burn_in = "
                                   f"{exp.burn_in} plus 3 windows of {method.window}", cycles))
        ml = config.ml_resolved
        if ml is not None and ml.network not in (None, "periodic_cnn"):
            found.append(Issue("ml", "network", 'bonavita2020 learns with a "periodic_cnn"; '
                               "remove the key or set it to that", ml.network))
        return found

    def lead_rows(self, config: Config) -> int:
        """The window row of :attr:`forecast_lead` (0: the first observation time)."""
        interval = config.observations.every_steps * config.model.dt
        return int(round(self.forecast_lead / interval)) - 1

    def describe(self) -> str:
        return (f"neural model-error prior for weak 4D-Var ({self.training_cycles} training "
                "cycles)")
