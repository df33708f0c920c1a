"""``[method]`` sections: the protocol of every method section, and the ensemble methods.

Every method section answers, without the caller knowing its kind:

* ``build(model)``: the core method (:class:`assimilax.da.AbstractMethod`);
* ``ensemble_size``: the number of members, ``None`` for a deterministic method;
* ``divergence_advice()``: what to change when the run loses the truth;
* ``describe()``: one line, e.g. ``LETKF (N=20, infl 1.02, r=4)``.

A new ensemble method: one class here (or in its own module, imported by
``config/__init__.py``), deriving from :class:`EnsembleMethodSection` and decorated with
``@register("method", "<name>")``, with its own keys and ``build``. The config union,
the messages, the builders and the CLI pick it up from the registry. Variational
methods are in ``_variational.py``.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from ... import da
from ...da.inflation import AbstractInflation
from ...models import AbstractModel
from ._base import Issue, Section, refuse
from ._registry import register

InflationKind = Literal["multiplicative", "rtps", "rtpp"]


def build_inflation(kind: str, value: float) -> AbstractInflation:
    """``Multiplicative(f)``, ``RTPS(alpha)`` or ``RTPP(alpha)``; ``NoInflation`` when neutral.

    Args:
        kind: ``inflation_kind`` of a ``[method]`` section.
        value: ``inflation``: the factor (multiplicative) or the relaxation ``alpha``.

    Returns:
        The inflation add-on of the core ensemble filters.

    Raises:
        ValueError: an unknown kind.
    """
    if kind == "multiplicative":
        return da.NoInflation() if value == 1.0 else da.Multiplicative(value)
    if value == 0.0:
        return da.NoInflation()
    if kind == "rtps":
        return da.RTPS(value)
    if kind == "rtpp":
        return da.RTPP(value)
    raise ValueError(f"build_inflation: unknown kind {kind!r}.")


class MethodSection(Section):
    """A ``[method]``: a data assimilation method of the core and its hyperparameters.

    Subclasses define ``ensemble_size`` (a key, or a property that is ``None`` for a
    deterministic method), ``build``, ``divergence_advice`` and ``describe``.

    Class attributes:
        ensemble: whether the method runs an ensemble (``spread_*`` statistics exist).
        smoother: whether it also revises past analyses (``rmse_smoothed``).
        can_diverge: whether the divergence check applies (false for a method whose error
            is the truth's climatological RMS by construction: the climatology baseline).
        title: its name in one-line descriptions, e.g. ``"LETKF"``.
    """

    tag: ClassVar[str] = "name"
    title: ClassVar[str] = ""
    ensemble: ClassVar[bool] = True
    smoother: ClassVar[bool] = False
    can_diverge: ClassVar[bool] = True

    name: str
    """The method."""

    @classmethod
    def is_ensemble_filter(cls) -> bool:
        """An ensemble method that is not a smoother (what a hybrid can assimilate with)."""
        return cls.ensemble and not cls.smoother

    def build(self, model: AbstractModel | None = None) -> da.AbstractMethod:
        """The core method of this section.

        Args:
            model: the forecast model; variational methods need it (their ``B`` is its
                climatology), ensemble methods ignore it.

        Raises:
            ValueError: a method that needs the model, without it.
        """
        raise NotImplementedError

    def divergence_advice(self) -> list[str]:
        """What to try when the run loses the truth, e.g. ``raise [method] inflation (now
        1, e.g. 1.02)``: one tip per entry, naming the key and its value now."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line, e.g. ``LETKF (N=20, infl 1.02, r=4)``."""
        raise NotImplementedError


class EnsembleMethodSection(MethodSection):
    """An ensemble method: ``ensemble_size`` members, inflation and random rotation."""

    ensemble_size: int = Field(ge=2)
    """Number of members $N$."""
    inflation: float | None = None
    """Multiplicative factor (> 0, default 1), or the relaxation ``alpha`` in [0, 1] for
    RTPS/RTPP (then required)."""
    inflation_kind: InflationKind = "multiplicative"
    """How ``inflation`` acts on the analysis anomalies."""
    rotate: bool = False
    """Apply a random mean-preserving rotation to the analysis anomalies."""

    @model_validator(mode="after")
    def _inflation(self):
        kind, value = self.inflation_kind, self.inflation
        if kind == "multiplicative":
            if value is None:
                self.inflation = 1.0
            elif not value > 0:
                refuse(Issue(None, "inflation", "must be > 0 (a multiplicative factor)", value))
        elif value is None:
            refuse(Issue(None, "inflation", f'required when inflation_kind = "{kind}" '
                         "(the relaxation alpha, in [0, 1])"))
        elif not 0 <= value <= 1:
            refuse(Issue(None, "inflation", f'must lie in [0, 1] when inflation_kind = "{kind}" '
                         "(the relaxation alpha)", value))
        return self

    def build_inflation(self) -> AbstractInflation:
        """The inflation of ``inflation_kind`` and ``inflation`` (:func:`build_inflation`)."""
        return build_inflation(self.inflation_kind, self.inflation)

    def build_rotation(self) -> da.AbstractRotation:
        """``rotate = true``: a Haar-random mean-preserving rotation; else none."""
        return da.HaarRotation() if self.rotate else da.NoRotation()

    def divergence_advice(self) -> list[str]:
        if self.inflation_kind == "multiplicative":
            tips = [f"raise [method] inflation (now {self.inflation:g}, "
                    f"e.g. {self.inflation + 0.02:g})"]
        else:
            tips = [f"raise [method] inflation, the {self.inflation_kind.upper()} alpha "
                    f"(now {self.inflation:g})"]
        tips.append(f"use more members ([method] ensemble_size, now {self.ensemble_size})")
        return tips

    def describe(self) -> str:
        return f"{self.title} ({', '.join(self._parts())})"

    def _parts(self) -> list[str]:
        parts = [f"N={self.ensemble_size}"]
        if self.inflation_kind == "multiplicative":
            if self.inflation != 1.0:
                parts.append(f"infl {self.inflation:g}")
        else:
            parts.append(f"{self.inflation_kind.upper()} {self.inflation:g}")
        return parts


@register("method", "etkf")
class ETKFConfig(EnsembleMethodSection):
    """``name = "etkf"``: ensemble transform Kalman filter (symmetric square root)."""

    rotate: bool = True
    """Apply a random mean-preserving rotation to the analysis anomalies (DAPPER's ``rot=True``)."""
    title: ClassVar[str] = "ETKF"

    def build(self, model: AbstractModel | None = None) -> da.ETKF:
        return da.ETKF(inflation=self.build_inflation(), rotation=self.build_rotation())


@register("method", "enkf")
class EnKFConfig(EnsembleMethodSection):
    """``name = "enkf"``: stochastic EnKF with perturbed observations."""

    rotate: bool = False
    """Apply a random mean-preserving rotation to the analysis anomalies."""
    rescale_perturbations: bool = True
    """Rescale the centred observation perturbations by sqrt(N/(N-1)), as DAPPER's
    ``EnKF('PertObs')`` does (its ``mean0``); ``false`` only centres them."""
    title: ClassVar[str] = "EnKF"

    def build(self, model: AbstractModel | None = None) -> da.EnKF:
        return da.EnKF(inflation=self.build_inflation(), rotation=self.build_rotation(),
                       rescale_perturbations=self.rescale_perturbations)

    def _parts(self) -> list[str]:
        parts = super()._parts()
        if not self.rescale_perturbations:
            parts.append("perturbations not rescaled")
        return parts


@register("method", "enkf_n")
class EnKFNConfig(EnsembleMethodSection):
    """``name = "enkf_n"``: finite-size EnKF; ``xN`` scales the hyperprior (default 1)."""

    rotate: bool = True
    """Apply a random mean-preserving rotation to the analysis anomalies."""
    xN: float = Field(1.0, gt=0)
    """Scale of the hyperprior's constants (DAPPER's ``xN``; 1 is the plain EnKF-N)."""
    title: ClassVar[str] = "EnKF-N"

    def build(self, model: AbstractModel | None = None) -> da.EnKF_N:
        return da.EnKF_N(inflation=self.build_inflation(), rotation=self.build_rotation(),
                         xN=self.xN)


@register("method", "letkf")
class LETKFConfig(EnsembleMethodSection):
    """``name = "letkf"``: local ETKF; ``localization_radius`` in grid units (DAPPER's)."""

    rotate: bool = True
    """Apply a random mean-preserving rotation to the analysis anomalies."""
    localization_radius: float = Field(4.0, gt=0)
    """Gaspari-Cohn R-localization radius (grid units, DAPPER's convention: the taper is
    0.634, about $e^{-1/2}$, at this distance)."""
    title: ClassVar[str] = "LETKF"

    def build(self, model: AbstractModel | None = None) -> da.LETKF:
        return da.LETKF(inflation=self.build_inflation(), rotation=self.build_rotation(),
                        localization=da.GaspariCohn(self.localization_radius))

    def divergence_advice(self) -> list[str]:
        return super().divergence_advice() + [
            f"shrink [method] localization_radius (now {self.localization_radius:g})"]

    def _parts(self) -> list[str]:
        return super()._parts() + [f"r={self.localization_radius:g}"]


@register("method", "enks")
class EnKSConfig(EnsembleMethodSection):
    """``name = "enks"``: fixed-lag ensemble Kalman smoother on an ETKF; ``lag`` in cycles.

    Inflation acts on the current ensemble; the random rotation (``rotate``, off by
    default as in DAPPER's EnKS) relabels the members of the lagged ensembles too.
    """

    rotate: bool = False
    """Rotate the analysis anomalies at random, keeping the mean (DAPPER's EnKS does not)."""
    lag: int = Field(10, ge=0)
    """Smoother lag (cycles): every analysis also updates the ``lag`` previous ones."""
    title: ClassVar[str] = "EnKS"
    smoother: ClassVar[bool] = True

    def build(self, model: AbstractModel | None = None) -> da.EnKS:
        etkf = da.ETKF(inflation=self.build_inflation(), rotation=self.build_rotation())
        return da.EnKS(filter=etkf, lag=self.lag)

    def _parts(self) -> list[str]:
        return super()._parts() + [f"lag {self.lag}"]
