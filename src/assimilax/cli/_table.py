"""The summary of a run as a rich table."""

from rich.table import Table

from ..experiments import Config, ConfigError, Summary


def _num(value: float | None, fmt: str = ".4g") -> str:
    return "-" if value is None else format(value, fmt)


def summary_table(summary: Summary) -> Table:
    """Time means after burn-in, divergence, speed and provenance of a run."""
    try:
        title = Config.from_dict(summary.config).describe()
    except ConfigError:  # a run written by another version of the schema
        title = "assimilax run"
    burn_in = summary.config.get("experiment", {}).get("burn_in", 0)
    table = Table(title=title, title_justify="left", show_header=True, header_style="bold")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    rmse = _num(summary.rmse_analysis)
    if summary.rmse_analysis is not None and summary.rmse_analysis_ci95 is not None:
        rmse += f" ± {summary.rmse_analysis_ci95:.2g}"
    table.add_row(f"analysis RMSE (mean after {burn_in} cycles, 95 %)", rmse)
    table.add_row("forecast RMSE", _num(summary.rmse_forecast))
    table.add_row("analysis spread", _num(summary.spread_analysis))
    table.add_row("forecast spread", _num(summary.spread_forecast))
    if summary.rmse_smoothed is not None:
        table.add_row("smoothed RMSE", _num(summary.rmse_smoothed))
    diverged = f"yes, at cycle {summary.diverged_at_cycle}" if summary.diverged else "no"
    table.add_row("diverged", diverged, style="bold red" if summary.diverged else None)
    table.add_row("cycles", f"{summary.cycles:,}")
    table.add_row("wall time", f"{summary.wall_time_s:.1f} s")
    table.add_row("cycles per second", f"{summary.cycles_per_second:,.0f}")
    table.add_row("seed", str(summary.seed))
    table.add_row("version", f"{summary.version} ({summary.git_commit[:12]})")
    if summary.out_dir is not None:
        table.add_row("files", str(summary.out_dir))
    return table
