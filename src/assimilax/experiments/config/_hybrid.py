"""``[hybrid]`` sections: the DA+ML methods of the literature run on a twin.

Each hybrid section checks what it needs of the other sections (:meth:`HybridSection.issues`)
and gives the defaults of ``[ml]`` (``ml_defaults``). A new hybrid: a class deriving
from :class:`HybridSection`, decorated with ``@register("hybrid", "<name>")``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, model_validator

from ._base import Issue, Section, one_of, refuse
from ._registry import register, registered

if TYPE_CHECKING:
    from ._config import Config


class HybridSection(Section):
    """A ``[hybrid]`` method.

    Class attributes:
        title: its name in descriptions.
        models: the ``[model] name`` s it runs on.
        truths: the ``[truth] name`` s it accepts (a truncated-model twin: the truth
            resolves what the model does not); empty: no ``[truth]``.
        needs_truth: whether a ``[truth]`` is required (the method learns what the
            ``[model]`` gets wrong about it).
        every_step: whether it needs observations at every model step.
        needs_method: whether it assimilates with the ``[method]`` (required) or runs its
            own DA (then ``[method]`` is refused).
        ensemble_filter: where the ``[method]`` must be an ensemble filter, the paper's
            (named when the section is missing, e.g. ``'name = "enkf_n", ensemble_size =
            30'``); None: any method.
        ml_defaults: the defaults of the ``[ml]`` keys left out (the paper's).
    """

    tag: ClassVar[str] = "name"
    title: ClassVar[str] = ""
    models: ClassVar[tuple[str, ...]] = ("lorenz96",)
    truths: ClassVar[tuple[str, ...]] = ()
    needs_truth: ClassVar[bool] = False
    every_step: ClassVar[bool] = True
    needs_method: ClassVar[bool] = True
    ensemble_filter: ClassVar[str | None] = None
    ml_defaults: ClassVar[dict[str, Any]] = {}

    name: str
    """The hybrid method."""

    def issues(self, config: Config) -> list[Issue]:
        """What is wrong with the other sections of ``config`` for this hybrid.

        Args:
            config: the whole config (each section valid on its own).

        Returns:
            The issues, each naming its section.
        """
        found = []
        model = config.model
        if model.name not in self.models:
            needs = " or ".join(f'[model] name = "{m}"' for m in self.models)
            found.append(Issue("model", "name", f'[hybrid] name = "{self.name}" needs '
                               f"{needs}", model.name))
        truth = config.truth
        if truth is not None and truth.name not in self.truths:
            allowed = (" or ".join(f'[truth] name = "{t}"' for t in self.truths)
                       if self.truths else "no [truth] section")
            found.append(Issue("truth", "name", f'[hybrid] name = "{self.name}" needs '
                               f"{allowed}", truth.name))
        if truth is None and self.needs_truth:
            names = " or ".join(f'"{t}"' for t in self.truths)
            found.append(Issue("truth", None, f"missing section: {self.name} learns what the "
                               f"[model] gets wrong about the truth; add [truth] name = {names}"
                               " (a model that resolves the [model]'s variables)"))
        every = config.observations.every_steps
        if self.every_step and every != 1:
            found.append(Issue("observations", "every_steps", f'must be 1 for [hybrid] name '
                               f'= "{self.name}" (one observation time per model step)',
                               every))
        method = config.method
        if self.ensemble_filter is not None and method is None:
            found.append(Issue("method", None, f"missing section: {self.name} assimilates "
                               f"with an ensemble filter (the paper: {self.ensemble_filter})"))
        elif self.ensemble_filter is not None and not method.is_ensemble_filter():
            filters = [n for n, cls in registered("method").items() if cls.is_ensemble_filter()]
            found.append(Issue("method", "name", f"{self.name} needs an ensemble filter: "
                               f"{one_of(filters)}", method.name))
        return found

    def describe(self) -> str:
        """One line, e.g. ``iterative DA-ML emulation (15 iterations)``."""
        raise NotImplementedError


@register("hybrid", "iterative_emulation")
class IterativeEmulationConfig(HybridSection):
    """``name = "iterative_emulation"``: Brajard et al. (2020), a surrogate model learned
    from the observations alone by alternating training and the ``[method]`` filter.

    The record is ``[experiment] cycles`` steps observed every model step; ``[model]`` is
    the true system (Lorenz-96) whose surrogate is learned."""

    title: ClassVar[str] = "iterative DA-ML emulation"
    ensemble_filter: ClassVar[str | None] = 'name = "enkf_n", ensemble_size = 30'
    ml_defaults: ClassVar[dict[str, Any]] = {
        "network": "brajard_cnn", "widths": [24, 37], "epochs": 40, "batch_size": 128,
        "loss": "variance_weighted"}
    iterations: int = Field(15, ge=1)
    """Train + assimilate passes over the record."""
    epochs_first: int = Field(60, ge=1)
    """Epochs of the first training (on the interpolation of the observations)."""
    model_noise_std: float = Field(1.0, ge=0)
    """Additive noise of the surrogate in the filter, per unit time: ``sqrt(dt) *
    model_noise_std`` per step (1.0 at dt = 0.05: the paper's variance 0.05 a step)."""
    variance_floor: float = Field(0.01, gt=0)
    """The 0.01 in the weights ``1 / (analysis variance + variance_floor)``."""
    lyapunov_exponent: float = Field(1.67, gt=0)
    """Leading Lyapunov exponent of the true model (per time unit): valid times are
    reported in Lyapunov times ``1 / lyapunov_exponent``."""
    valid_threshold: float = Field(0.5, gt=0)
    """A forecast is valid while its RMSE stays below this share of the climatological
    standard deviation."""
    forecast_cases: int = Field(200, ge=1)
    """Initial states (on a fresh true trajectory) of the surrogate's forecast test."""
    skill_every: int = Field(1, ge=1)
    """Measure the surrogate's valid time every this many iterations (and at the last)."""

    def describe(self) -> str:
        return f"iterative DA-ML emulation ({self.iterations} iterations)"


@register("hybrid", "emulator_4dvar")
class Emulator4DVarConfig(HybridSection):
    """``name = "emulator_4dvar"``: Nonnenmacher & Greenberg (2021), 4D-Var with the
    exact adjoint, with a learned emulator's gradients, and with the emulator throughout.

    ``[model]`` is the simulator (Lorenz-96); ``[observations]`` must be ``operator =
    "every"`` observed every step: its ``stride`` is the rotation period (the observed
    variables are ``i = t mod stride`` at step ``t``, the authors' rotating sampling) and
    its ``noise_std`` the observation error. No ``[method]``: the 4D-Var is the authors'
    (no background term, L-BFGS to convergence)."""

    title: ClassVar[str] = "4D-Var with emulator gradients"
    needs_method: ClassVar[bool] = False
    ml_defaults: ClassVar[dict[str, Any]] = {
        "network": "deep_emulator_cnn", "widths": [16, 32], "epochs": 10, "batch_size": 32,
        "loss": "mse"}
    window: int = Field(8, ge=1)
    """Model steps per assimilation window."""
    windows: int = Field(6, ge=2)
    """Consecutive windows per truth trajectory."""
    trials: int = Field(4, ge=1)
    """Independent truth trajectories."""
    burn_in_windows: int = Field(1, ge=0)
    """Windows of each trial left out of the means (the first starts from a crude guess)."""
    training_samples: int = Field(4000, ge=10)
    """One-step pairs of simulator states the emulator learns from."""
    max_iterations: int = Field(100, ge=1)
    """L-BFGS iterations per window at most."""
    jacobian_states: int = Field(200, ge=1)
    """Test states of the Jacobian error."""

    @model_validator(mode="after")
    def _windows(self):
        if self.burn_in_windows >= self.windows:
            refuse(Issue(None, "burn_in_windows", f"must be < windows = {self.windows}",
                         self.burn_in_windows))
        return self

    def issues(self, config: Config) -> list[Issue]:
        found = super().issues(config)
        if config.method is not None:
            found.append(Issue("method", None, f'not used by [hybrid] name = "{self.name}" '
                               "(it runs the authors' 4D-Var); remove the section"))
        obs = config.observations
        if obs.operator != "every":
            found.append(Issue("observations", "operator", 'must be "every" for [hybrid] '
                               f'name = "{self.name}" (stride = the rotation period)',
                               obs.operator))
        loss = config.ml.loss if config.ml is not None else None
        if loss == "variance_weighted":
            found.append(Issue("ml", "loss", f'{self.name} trains on true states: use "mse"',
                               loss))
        return found

    def describe(self) -> str:
        return f"4D-Var with emulator gradients (window {self.window})"
