"""The tables of a run (its summary) and of a sweep (its points, best first), for rich."""

import numpy as np
from rich.table import Table

from ..experiments import Config, ConfigError, Summary
from ..experiments.presets import Reproduction
from ..io import sweep_store

MAX_ROWS = 25
"""Rows of the sweep table (best first)."""


def _num(value: float | None, fmt: str = ".4g") -> str:
    return "-" if value is None else format(value, fmt)


def summary_table(summary: Summary, *, imports_s: float | None = None) -> Table:
    """Time means after burn-in, divergence, speed and provenance of a run.

    ``imports_s``: seconds of the process before the run (the interpreter and the
    imports), added to the run's start-up in its row when given.
    """
    try:
        title = Config.from_dict(summary.config).describe()
    except ConfigError:  # a run written by another version of the schema
        title = "assimilax run"
    burn_in = summary.config.get("experiment", {}).get("burn_in", 0)
    table = Table(title=title, title_justify="left", show_header=True, header_style="bold")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    hybrid = summary.hybrid
    rmse = _num(summary.rmse_analysis)
    if summary.rmse_analysis is not None and summary.rmse_analysis_ci95 is not None:
        rmse += f" ± {summary.rmse_analysis_ci95:.2g}"
    rows = [
        (f"analysis RMSE (mean after {burn_in} cycles, 95 %)", summary.rmse_analysis, rmse),
        ("forecast RMSE", summary.rmse_forecast, _num(summary.rmse_forecast)),
        ("analysis spread", summary.spread_analysis, _num(summary.spread_analysis)),
        ("forecast spread", summary.spread_forecast, _num(summary.spread_forecast)),
    ]
    for label, value, text in rows:
        if value is not None or hybrid is None:
            table.add_row(label, text)
    for name, value in summary.means.items():  # the method's own series (a smoother's)
        if value is not None:
            table.add_row(_MEAN_LABELS.get(name, name.replace("_", " ")), _num(value))
    if hybrid is not None:
        _hybrid_rows(table, hybrid)
    diverged = f"yes, at cycle {summary.diverged_at_cycle}" if summary.diverged else "no"
    table.add_row("diverged", diverged, style="bold red" if summary.diverged else None)
    table.add_row("cycles", f"{summary.cycles:,}")
    table.add_row("wall time", f"{summary.wall_time_s:.1f} s")
    if summary.startup_s is not None:
        table.add_row("start-up (to the first cycle)", _startup(summary, imports_s))
    if hybrid is None:  # a hybrid's time goes into training, not cycles
        table.add_row("cycles per second", f"{summary.cycles_per_second:,.0f}")
    table.add_row("seed", str(summary.seed))
    table.add_row("version", f"{summary.version} ({summary.git_commit[:12]})")
    if summary.out_dir is not None:
        table.add_row("files", str(summary.out_dir))
    return table


def _startup(summary: Summary, imports_s: float | None) -> str:
    """``1.3 s (imports 0.9 s, set-up and compilation 0.4 s: 3 programs from the cache)``."""
    total = summary.startup_s + (imports_s or 0.0)
    parts = [] if imports_s is None else [f"imports {imports_s:.1f} s"]
    parts.append(f"set-up {summary.startup_s - (summary.compile_s or 0.0):.1f} s")
    if summary.compile_s is not None:
        loaded = summary.programs_from_cache or 0
        parts.append(f"compilation {summary.compile_s:.1f} s"
                     + (f", {loaded} programs from the on-disk cache" if loaded else ""))
    return f"{total:.1f} s ({'; '.join(parts)})"


_MEAN_LABELS = {"rmse_smoothed": "smoothed RMSE"}
"""Row labels of the time means of a method's own series (else the name, spaced)."""

def _hybrid_rows(table: Table, hybrid: dict) -> None:
    """The statistics of a hybrid method as rows, its notes as the table's caption."""
    statistics = hybrid.get("statistics") or {}
    ci95 = hybrid.get("ci95") or {}
    labels = hybrid.get("labels") or {}
    table.add_section()
    table.add_row(f"{hybrid.get('name', 'hybrid')} (95 %)", "", style="bold")
    for key, value in statistics.items():
        if value is None:
            continue
        text = _num(value)
        if ci95.get(key) is not None:
            text += f" ± {ci95[key]:.2g}"
        table.add_row(labels.get(key, key.replace("_", " ")), text)
    table.add_section()
    notes = hybrid.get("notes") or []
    if notes:
        table.caption = "\n".join(notes)
        table.caption_justify = "left"


def sweep_table(ds, max_rows: int = MAX_ROWS) -> Table:
    """The points of a sweep, best first: seeds pooled, fewest divergences, lowest RMSE."""
    seed = sweep_store.SEED
    dims = [d for d in ds["rmse_analysis"].dims if d != seed]
    seeds = ds.sizes.get(seed, 1)
    rows = []
    for index in np.ndindex(*(ds.sizes[d] for d in dims)):
        point = ds.isel(dict(zip(dims, index, strict=True)))
        done = np.atleast_1d(point["done"].values)
        diverged = np.atleast_1d(point["diverged"].values) & done
        ok = done & ~diverged
        stats = {}
        for name in ("rmse_analysis", "rmse_forecast", "spread_analysis"):
            values = np.atleast_1d(point[name].values)[ok]
            stats[name] = float(values.mean()) if values.size else np.nan
        spread = np.nan
        if ok.sum() > 1:
            spread = float(np.atleast_1d(point["rmse_analysis"].values)[ok].std(ddof=1)
                           / np.sqrt(ok.sum()))
        elif ok.sum() == 1 and seeds == 1:
            spread = float(np.atleast_1d(point["rmse_analysis_ci95"].values)[ok][0])
        labels = [_label(point[d].values) for d in dims]
        rank = (done.sum() == 0, int(diverged.sum()) + int((~done).sum()),
                stats["rmse_analysis"] if np.isfinite(stats["rmse_analysis"]) else np.inf)
        rows.append((rank, labels, stats, spread, int(diverged.sum()), int(done.sum())))
    rows.sort(key=lambda r: r[0])
    n_points = int(ds["done"].size)
    n_done = int(ds["done"].sum())
    table = Table(title=ds.attrs.get("title", "assimilax sweep"), title_justify="left",
                  header_style="bold")
    for d in dims:
        table.add_column(d, justify="right")
    for name in ("RMSE", "RMSE fc", "spread", "diverged"):
        table.add_column(name, justify="right", no_wrap=True)
    if n_done < n_points:
        table.add_column("done", justify="right")
    for _, labels, stats, spread, n_div, n_ok in rows[:max_rows]:
        rmse = _finite(stats["rmse_analysis"])
        if np.isfinite(stats["rmse_analysis"]) and np.isfinite(spread):
            rmse += f" ± {spread:.2g}"
        cells = [*labels, rmse, _finite(stats["rmse_forecast"]),
                 _finite(stats["spread_analysis"]),
                 f"{n_div}/{seeds}" if seeds > 1 else ("yes" if n_div else "no")]
        if n_done < n_points:
            cells.append(f"{n_ok}/{seeds}")
        table.add_row(*cells, style="red" if n_div else None)
    wall = float(np.nansum(ds["wall_time_s"].values))
    versions = ds.attrs.get("versions") or {}
    pooled = f"mean over {seeds} seeds ± standard error" if seeds > 1 else "± 95 % interval"
    caption = [
        f"RMSE: time-mean analysis RMSE ({pooled}); RMSE fc: forecast; spread: analysis "
        "spread; diverged seeds: NaN errors, left out of the means",
        f"{n_done} of {n_points} points done; best first",
    ]
    if len(rows) > max_rows:
        caption[1] += f"; {len(rows) - max_rows} more rows not shown"
    caption.append(f"compute time {wall:.1f} s; assimilax {versions.get('assimilax', '?')} "
                   f"({str(ds.attrs.get('git_commit', 'unknown'))[:12]}), jax "
                   f"{versions.get('jax', '?')}")
    table.caption = "\n".join(caption)
    table.caption_justify = "left"
    return table


def _finite(value: float) -> str:
    return "-" if not np.isfinite(value) else f"{value:.4g}"


def _label(value) -> str:
    value = value.item() if hasattr(value, "item") else value
    return f"{value:g}" if isinstance(value, float) else str(value)


def claims_table(result: Reproduction) -> Table:
    """The claims of a reproduction: ours with its 95 % interval, the reference (its
    kind), the band, the outcome and the expected outcome (unexpected rows in red)."""
    version = "quick" if result.quick else "full"
    table = Table(title=f"{result.preset} ({version}): {result.out_dir}", title_justify="left",
                  header_style="bold")
    table.add_column("claim")
    table.add_column("ours (95 %)", justify="right")
    table.add_column("reference", justify="right")
    table.add_column("kind")
    table.add_column("band", justify="right")
    table.add_column("outcome")
    table.add_column("expected")
    for c in result.claims:
        if c.ours is None:
            ours = c.note or "-"
        else:
            ours = f"{c.ours:.4g} ± {c.ours_ci95 or 0:.2g}"
        reference = f"{c.reference:g}" if c.relation == "approx" else f"{c.symbol} {c.reference:g}"
        reference += f" × {c.versus}" if c.versus else ""
        band = "-" if not c.tolerance else f"±{c.tolerance:.2g}"
        table.add_row(c.claim, ours, reference, c.kind, band, c.outcome, c.expected,
                      style=None if c.as_expected else "bold red")
    return table
