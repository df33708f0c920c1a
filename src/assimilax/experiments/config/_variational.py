"""``[method]`` sections of the variational methods: ``var3d``, ``var4d``, ``weak_var4d``.

One state estimate per cycle (no ensemble: ``ensemble_size`` is ``None``) and a static
background covariance ``B`` built from the forecast model's climatology
(:func:`model_climatology`, :func:`build_background`).

A new variational method: a class deriving from :class:`VariationalMethodSection`,
decorated with ``@register("method", "<name>")``, with its keys and ``build``.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from pydantic import Field, model_validator

from ...da import variational as var
from ...models import AbstractModel
from ._base import Issue, refuse
from ._method import MethodSection
from ._registry import register

CLIMATOLOGY_SAMPLES = 10_000
"""States of the free model run that estimates the climatological covariance."""
CLIMATOLOGY_SPACING = 0.1
"""Model time units between those states (at least one model step)."""
CLIMATOLOGY_SPINUP = 20.0
"""Model time units discarded before sampling."""


@eqx.filter_jit
def _climatology(model, samples, spacing, spinup):
    x0 = model.initial_condition(jax.random.key(0))
    return var.climatology(model, x0, samples=samples, every_steps=spacing, spinup_steps=spinup)


def model_climatology(model: AbstractModel) -> tuple[jax.Array, jax.Array]:
    """Time mean and covariance of a long free run of ``model`` (deterministic: key 0).

    :data:`CLIMATOLOGY_SAMPLES` states :data:`CLIMATOLOGY_SPACING` time units apart, after
    :data:`CLIMATOLOGY_SPINUP` time units; see :func:`assimilax.da.variational.climatology`.

    Args:
        model: the forecast model.

    Returns:
        ``(mean, covariance)``, shapes ``(state,)`` and ``(state, state)``.
    """
    spacing = max(1, round(CLIMATOLOGY_SPACING / model.dt))
    spinup = round(CLIMATOLOGY_SPINUP / model.dt)
    return _climatology(model, CLIMATOLOGY_SAMPLES, spacing, spinup)


class VariationalMethodSection(MethodSection):
    """Variational methods: one state estimate, a static background covariance ``B``.

    ``background = "climatology"``: ``B = background_scale`` x the climatological
    covariance of the forecast model (a long free run; DAPPER's ``B='clim'``, ``xB``).
    ``background = "recursive_filter"``: ``B = background_scale`` x the climatological
    variances, with Gaussian correlations of length ``correlation_length`` (grid units)
    applied by a recursive filter.
    """

    ensemble: ClassVar[bool] = False

    background: Literal["climatology", "recursive_filter"] = "climatology"
    """Static background covariance: scaled climatology, or recursive-filter correlations."""
    background_scale: float = Field(1.0, gt=0)
    """Factor on the climatological covariance (DAPPER's ``xB``)."""
    correlation_length: float | None = None
    """Gaussian correlation length (grid units, >= 1) of ``background = "recursive_filter"``."""
    filter: Literal["first_order", "young_van_vliet"] = "first_order"
    """Recursive filter: first order with ``filter_passes`` passes, or third order."""
    filter_passes: int = Field(4, ge=1)
    """Passes of the recursive filter (more: closer to a Gaussian)."""
    outer_loops: int = Field(10, ge=1)
    """Gauss-Newton outer loops (relinearisations) per window."""
    inner_iterations: int = Field(100, ge=1)
    """At most this many conjugate-gradient iterations per outer loop."""
    inner_solver: Literal["cg", "cholesky"] = "cg"
    """Inner loop: conjugate gradients, or a direct Cholesky solve (faster for small states)."""

    @model_validator(mode="after")
    def _background(self):
        if self.background == "recursive_filter":
            L = self.correlation_length
            if L is None:
                refuse(Issue(None, "correlation_length", 'required when background = '
                             '"recursive_filter" (grid units, >= 1)'))
            if L < 1:
                refuse(Issue(None, "correlation_length", "is below the grid spacing (1 grid "
                             "unit): a recursive filter cannot represent shorter correlations; "
                             "use >= 1", L))
            if self.filter == "young_van_vliet" and L / math.sqrt(self.filter_passes) < 0.5:
                refuse(Issue(None, "filter_passes", "too many passes for the Young-van Vliet "
                             f"filter at correlation_length = {L:g} (needs correlation_length"
                             " / sqrt(filter_passes) >= 0.5)", self.filter_passes))
        elif self.correlation_length is not None:
            refuse(Issue(None, "correlation_length", 'only for background = "recursive_filter"'
                         f' (background is "{self.background}")', self.correlation_length))
        return self

    @property
    def ensemble_size(self) -> None:
        """``None``: a variational method runs no ensemble."""
        return None

    def build_background(self, model: AbstractModel | None) -> var.AbstractCovariance:
        """The static ``B``: scaled climatology of ``model``, or a recursive filter.

        Args:
            model: the forecast model (its climatology, :func:`model_climatology`).

        Returns:
            A dense covariance, or a recursive-filter covariance on ``model.grid``.

        Raises:
            ValueError: no model.
        """
        if model is None:
            raise ValueError(f"build: {self.name} needs the forecast model (its B is the "
                             "model's climatology).")
        _, C = model_climatology(model)
        C = self.background_scale * C
        if self.background == "climatology":
            return var.DenseCovariance(C, name="B (background_scale x climatological covariance)")
        if self.filter == "first_order":
            filt = var.FirstOrderFilter(self.correlation_length, self.filter_passes)
        else:
            filt = var.YoungVanVlietFilter(self.correlation_length, self.filter_passes)
        return var.RecursiveFilterCovariance(filt, jnp.sqrt(jnp.diagonal(C)), model.state_size,
                                             periodic=model.grid.period is not None)

    def build_solver(self) -> var.GaussNewton:
        """Gauss-Newton with ``outer_loops``, inner CG (``inner_iterations``) or Cholesky."""
        inner = (var.DenseCholesky() if self.inner_solver == "cholesky"
                 else var.ConjugateGradient(max_steps=self.inner_iterations))
        return var.GaussNewton(outer_loops=self.outer_loops, inner=inner)

    def divergence_advice(self) -> list[str]:
        scale = self.background_scale
        return [f"raise [method] background_scale (now {scale:g}, e.g. {2 * scale:g}): "
                "a larger B trusts the observations more"]

    def describe(self) -> str:
        parts = [f"xB {self.background_scale:g}"]
        if self.background == "recursive_filter":
            parts.append(f"RF L={self.correlation_length:g}")
        return f"{self.title} ({', '.join(parts + self._more())})"

    def _more(self) -> list[str]:
        return []


@register("method", "var3d")
class Var3DConfig(VariationalMethodSection):
    """``name = "var3d"``: 3D-Var; one outer loop by default (every operator is linear)."""

    outer_loops: int = Field(1, ge=1)
    """Gauss-Newton outer loops (one suffices for a linear observation operator)."""
    title: ClassVar[str] = "3D-Var"

    def build(self, model: AbstractModel | None = None) -> var.Var3D:
        return var.Var3D(self.build_background(model), solver=self.build_solver())


def _window_advice(window: int, outer_loops: int) -> list[str]:
    tips = []
    if window > 1:
        tips.append(f"shorten [method] window (now {window}): a long window is more "
                    "nonlinear")
    tips.append(f"use more [method] outer_loops (now {outer_loops})")
    return tips


@register("method", "var4d")
class Var4DConfig(VariationalMethodSection):
    """``name = "var4d"``: strong-constraint incremental 4D-Var."""

    window: int = Field(1, ge=1)
    """Observation times per window (classic) or intervals spanned (sliding)."""
    scheme: Literal["classic", "sliding"] = "classic"
    """classic: consecutive windows, all their observations; sliding: DAPPER's ``Var4D``
    (the window slides by one interval, only the newest observation enters)."""
    title: ClassVar[str] = "4D-Var"

    def build(self, model: AbstractModel | None = None) -> var.Var4D | var.SlidingVar4D:
        cls = var.Var4D if self.scheme == "classic" else var.SlidingVar4D
        return cls(self.build_background(model), window=self.window, solver=self.build_solver())

    def divergence_advice(self) -> list[str]:
        return super().divergence_advice() + _window_advice(self.window, self.outer_loops)

    def _more(self):
        return [f"{self.scheme} window {self.window}"]


@register("method", "weak_var4d")
class WeakVar4DConfig(VariationalMethodSection):
    """``name = "weak_var4d"``: weak-constraint 4D-Var, model-error forcing (Trémolet 2006)."""

    window: int = Field(1, ge=1)
    """Observation times per window."""
    subwindows: int = Field(1, ge=1)
    """Forcings per window (each constant over an equal part; must divide ``window``)."""
    model_error_std: float = Field(0.1, gt=0)
    """Standard deviation of the forcing's change from window to window (tendency units):
    ``Q = model_error_std^2 I``."""
    title: ClassVar[str] = "weak 4D-Var"

    @model_validator(mode="after")
    def _subwindows(self):
        if self.window % self.subwindows:
            refuse(Issue(None, "subwindows", f"must divide window = {self.window}",
                         self.subwindows))
        return self

    def build(self, model: AbstractModel | None = None) -> var.WeakVar4D:
        B = self.build_background(model)
        Q = var.DiagonalCovariance(self.model_error_std, model.state_size, name="Q")
        return var.WeakVar4D(B, Q, window=self.window, subwindows=self.subwindows,
                             solver=self.build_solver())

    def divergence_advice(self) -> list[str]:
        return (super().divergence_advice()
                + [f"raise [method] model_error_std (now {self.model_error_std:g})"]
                + _window_advice(self.window, self.outer_loops))

    def _more(self):
        return [f"window {self.window}", f"q {self.model_error_std:g}"]
