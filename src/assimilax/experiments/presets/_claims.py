"""Checking a claim against the finished runs of its member."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._batch import MemberRun
from ._preset import Claim

_SYMBOL = {"approx": "≈", "below": "≤", "above": "≥"}


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


@dataclasses.dataclass(frozen=True)
class ClaimResult:
    """A checked claim: the ``claims`` entries of ``summary.json``.

    Attributes:
        claim: the claim's text.
        ours: our value (mean over seeds); ``None`` when a seed diverged or is not finite.
        paper: the published value.
        tolerance: the allowed distance, ``rel_tol * |paper| + ours_ci95``.
        holds: whether the claim holds.
        member, statistic, relation, rel_tol: what was compared, and how.
        ours_ci95: 95 % half-width of ``ours`` (:func:`seed_mean_ci`).
        per_seed: the per-seed time means.
        note: why a claim fails, when it is not the distance (divergence).
        versus: the member compared with (``ours`` and ``paper`` are then ratios).
    """

    claim: str
    ours: float | None
    paper: float
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

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClaimResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @property
    def symbol(self) -> str:
        """``≈``, ``≤`` or ``≥``."""
        return _SYMBOL.get(self.relation, self.relation)


def evaluate_claim(claim: Claim, run: MemberRun, versus: MemberRun | None = None) -> ClaimResult:
    """Check ``claim`` against the finished run of its member (and of ``claim.versus``).

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
    per_seed = list(stat["mean"])
    ci95 = stat["ci95"]
    if claim.versus is not None:  # per-seed ratios; their spread over seeds is the interval
        theirs = versus.statistics[claim.statistic]["mean"]
        per_seed = [None if a is None or b is None or b == 0 else a / b
                    for a, b in zip(per_seed, theirs, strict=True)]
        ci95 = [None] * len(per_seed)
    common = dict(claim=claim.text, paper=claim.paper, member=claim.member,
                  statistic=claim.statistic, relation=claim.relation, rel_tol=claim.rel_tol,
                  per_seed=per_seed, versus=claim.versus)
    diverged = [(f"{r.name} seed {s}" if claim.versus else f"seed {s}", c)
                for r in runs for s, c in zip(r.seeds, r.diverged_at_cycle, strict=True)
                if c is not None]
    if diverged or any(v is None for v in per_seed):
        what = ", ".join(f"{s} at cycle {c}" for s, c in diverged) or "non-finite values"
        return ClaimResult(ours=None, tolerance=None, holds=False, ours_ci95=None,
                           note=f"diverged: {what}", **common)
    ours, half = seed_mean_ci(per_seed, ci95)
    half = half if math.isfinite(half) else 0.0
    tolerance = claim.rel_tol * abs(claim.paper) + half
    if claim.relation == "approx":
        holds = abs(ours - claim.paper) <= tolerance
    elif claim.relation == "below":
        holds = ours <= claim.paper + tolerance
    else:
        holds = ours >= claim.paper - tolerance
    return ClaimResult(ours=ours, tolerance=tolerance, holds=bool(holds), ours_ci95=half,
                       **common)
