"""Rank histogram: is the truth statistically one of the ensemble members?"""

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator


def rank_statistics(counts: np.ndarray) -> dict[str, float]:
    r"""Flatness statistics of a rank histogram of ``N + 1`` bins.

    With $n$ ranks in all and $e = n/(N+1)$ expected per bin under flatness:
    $\chi^2 = \sum_r (c_r - e)^2/e$ on $N$ degrees of freedom, and the share of ranks
    outside the ensemble (bins 0 and $N$), $2/(N+1)$ when flat.

    Args:
        counts: counts per rank ``(N + 1,)``.

    Returns:
        ``total``, ``chi2``, ``dof``, ``outside`` (share in the two end bins) and
        ``outside_flat`` (that share for a flat histogram).
    """
    counts = np.asarray(counts, float)
    total = float(counts.sum())
    bins = counts.size
    expected = total / bins
    chi2 = float(np.sum((counts - expected) ** 2) / expected) if total > 0 else float("nan")
    outside = float((counts[0] + counts[-1]) / total) if total > 0 else float("nan")
    return {
        "total": total,
        "chi2": chi2,
        "dof": float(bins - 1),
        "outside": outside,
        "outside_flat": 2.0 / bins,
    }


def draw_rank_histogram(ax: Axes, counts: np.ndarray, *, title: str, what: str) -> None:
    """Bars of the relative frequency of each rank, the flat reference and a chi-square note.

    Args:
        ax: axes to draw on.
        counts: counts per rank ``(N + 1,)``.
        title: axes title (the run's description).
        what: what was ranked (the variable's long name), shown under the title.
    """
    counts = np.asarray(counts, float)
    if counts.ndim != 1 or counts.size < 2:
        raise ValueError(f"a rank histogram needs N + 1 >= 3 counts, got shape {counts.shape}.")
    stats = rank_statistics(counts)
    if not stats["total"] > 0:
        raise ValueError("the rank histogram is empty (no cycles after burn-in).")
    n_members = counts.size - 1
    ranks = np.arange(counts.size)
    freq = counts / stats["total"]
    flat = 1.0 / counts.size
    ax.bar(ranks, freq, width=0.85, color="C0", alpha=0.85)
    ax.axhline(flat, color="k", ls="--", lw=1.0)
    ax.annotate(f"flat: 1/(N+1) = {flat:.3g}", (1.0, flat), xycoords=("axes fraction", "data"),
                xytext=(-4, 3), textcoords="offset points", ha="right", va="bottom",
                fontsize="small", bbox={"boxstyle": "square,pad=0.1", "fc": "w", "ec": "none",
                                        "alpha": 0.8})
    ax.set_xlim(-0.6, n_members + 0.6)
    ax.set_ylim(0, max(float(freq.max()), flat) * 1.45)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(f"rank of the truth: members below it (of N = {n_members})")
    ax.set_ylabel("relative frequency [-]")
    ax.set_title(f"{title}\n{what}")
    ax.grid(True, axis="y", alpha=0.3)
    note = (
        f"$\\chi^2$ = {stats['chi2']:.4g} on {n_members} d.o.f. "
        f"($\\chi^2$/d.o.f. = {stats['chi2'] / n_members:.3g}: about 1 for a flat histogram of "
        "independent ranks;\ncorrelated ranks of neighbouring variables and cycles inflate it)\n"
        f"truth outside the ensemble: {stats['outside']:.1%} (flat: {stats['outside_flat']:.1%})"
        f"; {stats['total']:.0f} ranks\n"
        "U shape: spread too small; dome: too large; slope: biased mean"
    )
    ax.text(0.5, 0.98, note, transform=ax.transAxes, ha="center", va="top",
            fontsize="x-small", bbox={"boxstyle": "round", "fc": "w", "ec": "0.7", "alpha": 0.9})
