"""What a preset is: members (configs run over seeds) and claims on their statistics."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Literal, get_args

from ..config import Config
from ..hybrids import all_statistics

STATISTICS = (
    "rmse_analysis",
    "rmse_forecast",
    "spread_analysis",
    "spread_forecast",
    "rmse_smoothed",
    "climatology",
    "forcing",
    *(s for s in all_statistics() if s not in ("rmse_analysis", "spread_analysis")),
)
"""Per-seed time means a claim can be about (after each member's burn-in).

Members with a ``[hybrid]`` method report the statistics of
:attr:`~assimilax.experiments.hybrids.HybridRecipe.statistics` of their recipe instead
(``rmse_analysis``: of the last iteration; ``valid_time``: in Lyapunov times; ``ratio_*``:
of a variant's analysis RMSE to the exact adjoint's; ``jacobian_error``: relative).

``climatology`` is the error of the truth's own time mean as an estimate, DAPPER's
``Climatology()`` score: the time mean of the spatial RMS of ``truth - mean(truth)``.
``forcing`` is the spatial mean of the model-error forcing analysed by weak-constraint
4D-Var (tendency units).
"""

Relation = Literal["approx", "below", "above"]

Kind = Literal["published", "figure", "reference-output", "reference-run", "target"]
"""Where a claim's reference value comes from:

- ``published``: printed in a paper's table or text, or in DAPPER's ``mods/`` files;
- ``figure``: read off a published figure (the reading uncertainty is in ``rel_tol``);
- ``reference-output``: stored in a reference repository's notebook or log;
- ``reference-run``: from running the reference implementation here (``source`` gives the
  command and the seeds);
- ``target``: a threshold of ours (``source`` says why this one).
"""

KINDS: tuple[str, ...] = get_args(Kind)

SYMBOLS = {"approx": "≈", "below": "≤", "above": "≥"}
"""How each relation is written."""

Expected = Literal["holds", "fails"]

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
    r"""A reference number, where it comes from, and how ours is checked against it.

    Our value is the mean over the member's seeds of the per-seed time mean of
    ``statistic``, with its 95 % half-width $u$ (the larger of the between-seed and the
    within-run intervals, :func:`assimilax.experiments.presets.seed_mean_ci`). The band
    around the reference $r$ is $r \pm b$ with $b = \mathrm{rel\_tol}\,|r|$ (the
    reference's own uncertainty: ±10 % when none is stated). The claim holds when our
    **whole interval** $[\bar m - u, \bar m + u]$ lies

    - ``approx``: inside the band, $|\bar m - r| + u \le b$;
    - ``below``: below its top, $\bar m + u \le r + b$;
    - ``above``: above its bottom, $\bar m - u \ge r - b$;

    and no seed of the member diverged. A ``target`` (a threshold of ours, ``below`` or
    ``above``) has no band (``rel_tol = 0``): the interval must lie on its side.

    A **comparison** (``versus`` another member, run on the same seeds: the same truths
    and observations) claims that the member's statistic is below (or above) ``reference``
    times the other's: with the bound $f = r \pm b$, it holds when the 95 % Student-t
    interval of the paired per-seed differences $a_s - f\,b_s$ lies below (above) zero.
    Shown is the mean per-seed ratio $a_s / b_s$.

    Attributes:
        text: the claim as a reader would state it, e.g. ``"ETKF N=28: analysis RMSE ≈ 0.18"``.
        member: name of the :class:`Member` it is about.
        reference: the reference value (a ratio for a comparison).
        statistic: one of :data:`STATISTICS`.
        rel_tol: the reference value's relative uncertainty (0.10: ±10 %).
        relation: ``"approx"``, ``"below"`` or ``"above"``.
        versus: another member; the claim is then a comparison with it.
        kind: where ``reference`` comes from, one of :data:`KINDS`.
        source: the table, figure, file or command it comes from (for a ``target``, why
            this threshold), e.g. ``"DAPPER mods/Lorenz96/sakov2008.py"``.
        expected: ``"holds"``, or ``"fails"`` for a claim known not to reproduce.
        expected_quick: the expectation of the ``--quick`` version, when it differs
            (shorter runs, wider intervals).
        reason: why a claim is expected to fail, and where the evidence is (a docs
            section); required with ``"fails"``.
        count_lost_track: for a method that can lose the truth for a while and find it
            again (a particle filter): a seed whose error passes the divergence criterion
            but stays finite is counted, its lost cycles in its time mean as DAPPER
            averages them, and noted, instead of failing the claim. A non-finite
            analysis still fails it.
    """

    text: str
    member: str
    reference: float
    statistic: str = "rmse_analysis"
    rel_tol: float = 0.10
    relation: Relation = "approx"
    versus: str | None = None
    kind: Kind = dataclasses.field(default=None, kw_only=True)  # type: ignore[assignment]
    source: str = dataclasses.field(default="", kw_only=True)
    expected: Expected = dataclasses.field(default="holds", kw_only=True)
    expected_quick: Expected | None = dataclasses.field(default=None, kw_only=True)
    reason: str | None = dataclasses.field(default=None, kw_only=True)
    count_lost_track: bool = dataclasses.field(default=False, kw_only=True)

    def __post_init__(self):
        def refuse(why: str):
            raise ValueError(f"Claim {self.text!r}: {why}")

        if self.statistic not in STATISTICS:
            refuse(f"statistic {self.statistic!r} is not one of {', '.join(STATISTICS)}.")
        if self.relation not in ("approx", "below", "above"):
            refuse(f"relation {self.relation!r} is not one of approx, below, above.")
        if not self.rel_tol >= 0:
            refuse(f"rel_tol must be >= 0, got {self.rel_tol}.")
        if self.kind not in KINDS:
            refuse(f"kind {self.kind!r} is not one of {', '.join(KINDS)} (say where the "
                   "reference value comes from).")
        if not isinstance(self.source, str) or not self.source.strip():
            refuse("no source: name the table, figure, file or command the reference comes "
                   "from (for a target, why this threshold).")
        for name in ("expected", "expected_quick"):
            value = getattr(self, name)
            if value not in ("holds", "fails") and not (name == "expected_quick"
                                                        and value is None):
                refuse(f"{name} {value!r} is not one of holds, fails.")
        if "fails" in (self.expected, self.expected_quick) and not self.reason:
            refuse("expected to fail without a reason: say why, and where the evidence is.")
        if self.kind == "target" and self.relation != "approx" and self.rel_tol != 0:
            refuse("a target threshold has no band: rel_tol must be 0.")
        if self.versus is not None and self.relation == "approx":
            refuse("a comparison with another member is below or above, not approx.")

    @property
    def band(self) -> float:
        """The band's half-width around ``reference``: ``rel_tol * |reference|``."""
        return self.rel_tol * abs(self.reference)

    @property
    def symbol(self) -> str:
        """``≈``, ``≤`` or ``≥``."""
        return SYMBOLS[self.relation]

    def expectation(self, quick: bool) -> Expected:
        """What is expected of the quick or the full version."""
        return self.expected_quick if quick and self.expected_quick else self.expected


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
        paper: its full version runs for hours (networks trained per seed): ``assimilax
            reproduce --all`` runs it only with ``--paper``, and ``paper``-marked tests.
    """

    name: str
    reference: str
    description: str
    members: Callable[[bool], tuple[Member, ...]]
    claims: tuple[Claim, ...]
    paper: bool = False

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
