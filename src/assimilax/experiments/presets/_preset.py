"""What a preset is: members (configs run over seeds) and claims on their statistics."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Literal

from .._hybrid import HYBRID_STATISTICS
from ..config import Config

STATISTICS = (
    "rmse_analysis",
    "rmse_forecast",
    "spread_analysis",
    "spread_forecast",
    "rmse_smoothed",
    "climatology",
    "forcing",
    *dict.fromkeys(s for names in HYBRID_STATISTICS.values() for s in names
                   if s not in ("rmse_analysis", "spread_analysis")),
)
"""Per-seed time means a claim can be about (after each member's burn-in).

Members with a ``[hybrid]`` method report the statistics of
:data:`assimilax.experiments._hybrid.HYBRID_STATISTICS` instead (``rmse_analysis``: of the
last iteration; ``valid_time``: in Lyapunov times; ``ratio_*``: of a variant's analysis
RMSE to the exact adjoint's; ``jacobian_error``: relative).

``climatology`` is the error of the truth's own time mean as an estimate, DAPPER's
``Climatology()`` score: the time mean of the spatial RMS of ``truth - mean(truth)``.
``forcing`` is the spatial mean of the model-error forcing analysed by weak-constraint
4D-Var (tendency units).
"""

Relation = Literal["approx", "below", "above"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclasses.dataclass(frozen=True)
class Member:
    """One config of a preset, run once per seed.

    Attributes:
        name: short identifier, ``[a-z][a-z0-9_]*``; the claims refer to it and its
            results go to ``members/<name>.json``.
        config: the run configuration (its ``[experiment] seed`` is replaced by each seed).
        seeds: the seeds; they run as one vmapped program.
    """

    name: str
    config: Config
    seeds: tuple[int, ...]

    def __post_init__(self):
        if not _NAME.match(self.name):
            raise ValueError(f"Member name {self.name!r}: use lower-case letters, digits and _.")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"Member {self.name!r}: seeds must be distinct and at least one, "
                             f"got {self.seeds}.")
        if any(s < 0 for s in self.seeds):
            raise ValueError(f"Member {self.name!r}: seeds must be >= 0, got {self.seeds}.")

    def config_for(self, seed: int) -> Config:
        """The member's config with ``[experiment] seed = seed`` (``assimilax run`` accepts it)."""
        data = self.config.to_dict()
        data["experiment"]["seed"] = seed
        return Config.from_dict(data)


@dataclasses.dataclass(frozen=True)
class Claim:
    r"""A published number and how close ours must come.

    Our value is the mean over the member's seeds of the per-seed time mean of
    ``statistic``; $u$ is its 95 % half-width (see
    :func:`assimilax.experiments.presets.seed_mean_ci`). The tolerance is
    $\tau = \mathrm{rel\_tol}\,|\mathrm{paper}| + u$: the published number's own
    uncertainty (rounding, its seeds, its run length) plus ours. The claim holds when

    - ``approx``: $|\mathrm{ours} - \mathrm{paper}| \le \tau$;
    - ``below``: $\mathrm{ours} \le \mathrm{paper} + \tau$;
    - ``above``: $\mathrm{ours} \ge \mathrm{paper} - \tau$;

    and no seed of the member diverged. With ``versus``, the claim compares two members:
    ours is then the mean over seeds of the per-seed ratio of the member's statistic to
    that of the ``versus`` member (the same seeds: the same truth and observations), and
    ``paper`` is the claimed ratio (``relation = "below"``, ``paper = 0.9``: at most 90 %
    of the other member's value).

    Attributes:
        text: the claim as a reader would state it, e.g. ``"ETKF N=28: analysis RMSE ≈ 0.18"``.
        member: name of the :class:`Member` it is about.
        paper: the published value.
        statistic: one of :data:`STATISTICS`.
        rel_tol: the published value's relative uncertainty (0.10: ±10 %).
        relation: ``"approx"``, ``"below"`` or ``"above"``.
        versus: another member; the claim is then about the ratio of the two.
    """

    text: str
    member: str
    paper: float
    statistic: str = "rmse_analysis"
    rel_tol: float = 0.10
    relation: Relation = "approx"
    versus: str | None = None

    def __post_init__(self):
        if self.statistic not in STATISTICS:
            raise ValueError(f"Claim {self.text!r}: statistic {self.statistic!r} is not one of "
                             f"{', '.join(STATISTICS)}.")
        if self.relation not in ("approx", "below", "above"):
            raise ValueError(f"Claim {self.text!r}: relation {self.relation!r} is not one of "
                             "approx, below, above.")
        if not self.rel_tol >= 0:
            raise ValueError(f"Claim {self.text!r}: rel_tol must be >= 0, got {self.rel_tol}.")


@dataclasses.dataclass(frozen=True)
class Preset:
    """A paper's set-up: the configs to run and the claims to check.

    Attributes:
        name: what ``assimilax reproduce NAME`` takes, e.g. ``"sakov2008"``.
        reference: the paper(s) and where the numbers come from.
        description: one line: model, observations, methods.
        members: ``members(quick)`` builds the members; ``quick=True`` gives the shorter
            runs of ``--quick`` (a few minutes on a laptop CPU).
        claims: the claims, each naming one member.
    """

    name: str
    reference: str
    description: str
    members: Callable[[bool], tuple[Member, ...]]
    claims: tuple[Claim, ...]

    def __post_init__(self):
        if not _NAME.match(self.name):
            raise ValueError(f"Preset name {self.name!r}: use lower-case letters, digits and _.")

    def build(self, quick: bool) -> tuple[Member, ...]:
        """The members of the quick or full version, checked against the claims.

        Raises:
            ValueError: duplicate member names, or a claim about a member that is not built.
        """
        members = tuple(self.members(quick))
        names = [m.name for m in members]
        if len(set(names)) != len(names):
            raise ValueError(f"Preset {self.name!r}: duplicate member names in {names}.")
        for claim in self.claims:
            if claim.versus is not None:
                other = {m.name: m for m in members}.get(claim.versus)
                mine = {m.name: m for m in members}.get(claim.member)
                if other is None or (mine is not None and other.seeds != mine.seeds):
                    raise ValueError(f"Preset {self.name!r}: claim {claim.text!r} compares "
                                     f"with member {claim.versus!r}, which must be built with "
                                     "the same seeds.")
            if claim.member not in names:
                raise ValueError(f"Preset {self.name!r}: claim {claim.text!r} is about member "
                                 f"{claim.member!r}, which is not one of {', '.join(names)}.")
        return members
