"""Checking a claim against the finished runs of its member."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._batch import MemberRun
from ._preset import SYMBOLS, Claim


def seed_mean_ci(
    means: Sequence[float], ci95: Sequence[float | None], level: float = 0.95
) -> tuple[float, float]:
    r"""Mean over seeds of per-seed time means, with a conservative half-width.

    Two estimates of the uncertainty of the mean $\bar m$ of $n$ seeds, and the larger:

    - the between-seed scatter: $t_{n-1}\,s/\sqrt n$ with $s$ the sample standard deviation
      of the seed means and $t_{n-1}$ the Student quantile (needs $n \ge 2$);
    - the within-run intervals $h_i$ of each seed (AR(1)-corrected,
      :func:`assimilax.metrics.time_mean_ci`), combined: $\sqrt{\sum h_i^2}/n$.

    The first is model-free but noisy for few seeds; the second assumes AR(1) errors,
    which underestimates on intermittent systems (Lorenz-63 with sparse observations:
    about half the between-seed value). Taking the larger is safe for both.

    Args:
        means: per-seed time means ``(seed,)``.
        ci95: per-seed half-widths at ``level`` (``None``: unknown, left out).
        level: the confidence level of ``ci95`` and of the result.

    Returns:
        ``(mean, half_width)``; the half-width is NaN for a single seed without ``ci95``.
    """
    from scipy import stats  # ~1 s to import: not at start-up of the command line

    m = np.asarray(means, float)
    n = m.size
    if n == 0:
        raise ValueError("seed_mean_ci: no seeds.")
    mean = float(m.mean())
    between = (float(stats.t.ppf(0.5 + level / 2, n - 1) * m.std(ddof=1) / math.sqrt(n))
               if n >= 2 else math.nan)
    known = [h for h in ci95 if h is not None and math.isfinite(h)]
    within = math.sqrt(sum(h * h for h in known)) / n if len(known) == n else math.nan
    candidates = [h for h in (between, within) if math.isfinite(h)]
    return mean, (max(candidates) if candidates else math.nan)


def paired_ci(differences: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    r"""Mean of paired per-seed differences with its Student-t half-width
    $t_{n-1}\,s/\sqrt n$ (NaN for fewer than 2 seeds)."""
    from scipy import stats

    d = np.asarray(differences, float)
    n = d.size
    if n == 0:
        raise ValueError("paired_ci: no seeds.")
    half = (float(stats.t.ppf(0.5 + level / 2, n - 1) * d.std(ddof=1) / math.sqrt(n))
            if n >= 2 else math.nan)
    return float(d.mean()), half


@dataclasses.dataclass(frozen=True)
class ClaimResult:
    """A checked claim: the ``claims`` entries of ``summary.json``.

    Attributes:
        claim: the claim's text.
        ours: our value (mean over seeds; for a comparison the mean per-seed ratio);
            ``None`` when a seed diverged or is not finite.
        reference: the reference value.
        tolerance: the band's half-width around ``reference``, ``rel_tol * |reference|``.
        holds: whether our whole interval lies inside the band (on the claimed side).
        member, statistic, relation, rel_tol: what was compared, and how.
        ours_ci95: 95 % half-width of ``ours`` (:func:`seed_mean_ci`).
        per_seed: the per-seed time means (ratios for a comparison).
        note: why a claim fails, when it is not the distance (divergence).
        versus: the member compared with.
        kind, source: where the reference comes from (:data:`~._preset.KINDS`).
        expected: what was expected of this version (quick or full), ``holds`` or ``fails``.
        reason: why it is expected to fail.
        difference, difference_ci95: for a comparison, the mean paired difference
            ``a - f b`` and its 95 % half-width (the test).
    """

    claim: str
    ours: float | None
    reference: float
    tolerance: float | None
    holds: bool
    member: str
    statistic: str
    relation: str
    rel_tol: float
    ours_ci95: float | None
    per_seed: list[float | None]
    note: str | None = None
    versus: str | None = None
    kind: str = "published"
    source: str = ""
    expected: str = "holds"
    reason: str | None = None
    difference: float | None = None
    difference_ci95: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClaimResult:
        names = {f.name for f in dataclasses.fields(cls)}
        if "reference" not in data and "paper" in data:  # written before `paper` was renamed
            data = {**data, "reference": data["paper"]}
        return cls(**{k: v for k, v in data.items() if k in names})

    @property
    def symbol(self) -> str:
        """``≈``, ``≤`` or ``≥``."""
        return SYMBOLS.get(self.relation, self.relation)

    @property
    def outcome(self) -> str:
        """``holds`` or ``fails``."""
        return "holds" if self.holds else "fails"

    @property
    def as_expected(self) -> bool:
        """Whether the outcome is the expected one."""
        return self.outcome == self.expected

    @property
    def interval_share(self) -> float | None:
        """Our interval's half-width over the band's (the seed rule asks at most 1/2)."""
        if self.ours_ci95 is None or not self.tolerance or self.versus is not None:
            return None
        return self.ours_ci95 / self.tolerance


def evaluate_claim(claim: Claim, run: MemberRun, versus: MemberRun | None = None, *,
                   quick: bool = False) -> ClaimResult:
    """Check ``claim`` against the finished run of its member (and of ``claim.versus``);
    ``quick`` picks the expectation of the ``--quick`` version.

    Raises:
        ValueError: ``run`` is not the claim's member, or lacks the claim's statistic;
            ``versus`` is missing or is not the claim's ``versus`` member.
    """
    if run.name != claim.member:
        raise ValueError(f"claim {claim.text!r} is about {claim.member!r}, not {run.name!r}.")
    runs = [run]
    if claim.versus is not None:
        if versus is None or versus.name != claim.versus or versus.seeds != run.seeds:
            raise ValueError(f"claim {claim.text!r} compares with {claim.versus!r}: pass its "
                             "run, with the same seeds.")
        runs.append(versus)
    for r in runs:
        if claim.statistic not in r.statistics:
            raise ValueError(f"claim {claim.text!r}: member {r.name!r} has no "
                             f"{claim.statistic!r}; it has {', '.join(r.statistics)}.")
    stat = run.statistics[claim.statistic]
    mine = list(stat["mean"])
    per_seed, ci95 = mine, stat["ci95"]
    theirs: list[float | None] = []
    if claim.versus is not None:  # per-seed ratios, shown; the paired differences, tested
        theirs = list(versus.statistics[claim.statistic]["mean"])
        per_seed = [None if a is None or b is None or b == 0 else a / b
                    for a, b in zip(mine, theirs, strict=True)]
        ci95 = [None] * len(per_seed)
    band = claim.band
    common = dict(claim=claim.text, reference=claim.reference, member=claim.member,
                  statistic=claim.statistic, relation=claim.relation, rel_tol=claim.rel_tol,
                  per_seed=per_seed, versus=claim.versus, kind=claim.kind,
                  source=claim.source, expected=claim.expectation(quick), reason=claim.reason,
                  tolerance=band)
    diverged = [(f"{r.name} seed {s}" if claim.versus else f"seed {s}", c)
                for r in runs for s, c in zip(r.seeds, r.diverged_at_cycle, strict=True)
                if c is not None]
    note = None
    if diverged and claim.count_lost_track and all(v is not None for v in per_seed):
        note = ("lost the truth for a while and counted (as DAPPER averages): "
                + ", ".join(f"{s} from cycle {c}" for s, c in diverged))
        diverged = []
    if diverged or any(v is None for v in per_seed):
        what = ", ".join(f"{s} at cycle {c}" for s, c in diverged) or "non-finite values"
        return ClaimResult(ours=None, holds=False, ours_ci95=None, note=f"diverged: {what}",
                           **common)
    common["note"] = note
    ours, half = seed_mean_ci(per_seed, ci95)
    half = half if math.isfinite(half) else 0.0
    if claim.versus is not None:
        bound = claim.reference + (band if claim.relation == "below" else -band)
        diff, diff_half = paired_ci([a - bound * b for a, b in zip(mine, theirs, strict=True)])
        if not math.isfinite(diff_half):
            return ClaimResult(ours=ours, holds=False, ours_ci95=half, difference=diff,
                               **{**common, "note": "a comparison needs at least 2 seeds"})
        holds = (diff + diff_half < 0) if claim.relation == "below" else (diff - diff_half > 0)
        return ClaimResult(ours=ours, holds=bool(holds), ours_ci95=half, difference=diff,
                           difference_ci95=diff_half, **common)
    if claim.relation == "approx":
        holds = abs(ours - claim.reference) + half <= band
    elif claim.relation == "below":
        holds = ours + half <= claim.reference + band
    else:
        holds = ours - half >= claim.reference - band
    return ClaimResult(ours=ours, holds=bool(holds), ours_ci95=half, **common)
