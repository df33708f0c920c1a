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
    if summary.rmse_smoothed is not None:
        table.add_row("smoothed RMSE", _num(summary.rmse_smoothed))
    if hybrid is not None:
        _hybrid_rows(table, hybrid)
    diverged = f"yes, at cycle {summary.diverged_at_cycle}" if summary.diverged else "no"
    table.add_row("diverged", diverged, style="bold red" if summary.diverged else None)
    table.add_row("cycles", f"{summary.cycles:,}")
    table.add_row("wall time", f"{summary.wall_time_s:.1f} s")
    if hybrid is None:  # a hybrid's time goes into training, not cycles
        table.add_row("cycles per second", f"{summary.cycles_per_second:,.0f}")
    table.add_row("seed", str(summary.seed))
    table.add_row("version", f"{summary.version} ({summary.git_commit[:12]})")
    if summary.out_dir is not None:
        table.add_row("files", str(summary.out_dir))
    return table


_HYBRID_LABELS = {
    "rmse_interpolation": "analysis RMSE of the interpolation",
    "rmse_first_iteration": "analysis RMSE, first iteration",
    "rmse_analysis": "analysis RMSE, last iteration",
    "spread_analysis": "analysis spread, last iteration",
    "valid_time": "surrogate valid time (Lyapunov times)",
    "climatology_std_error": "surrogate climatology: std error",
    "climatology_spectrum_error": "surrogate climatology: spectrum error",
    "rmse_true_adjoint": "analysis RMSE, exact adjoint",
    "rmse_emulator_gradient": "analysis RMSE, emulator gradients",
    "rmse_emulator": "analysis RMSE, emulator throughout",
    "ratio_emulator_gradient": "RMSE ratio, emulator gradients / exact",
    "ratio_emulator": "RMSE ratio, emulator throughout / exact",
    "jacobian_error": "emulator Jacobian error (relative)",
    "one_step_rmse": "emulator one-step RMSE",
}


def _hybrid_rows(table: Table, hybrid: dict) -> None:
    """The statistics of a hybrid method as rows, its notes as the table's caption."""
    statistics = hybrid.get("statistics") or {}
    ci95 = hybrid.get("ci95") or {}
    table.add_section()
    table.add_row(f"{hybrid.get('name', 'hybrid')} (95 %)", "", style="bold")
    for key, value in statistics.items():
        if value is None:
            continue
        text = _num(value)
        if ci95.get(key) is not None:
            text += f" ± {ci95[key]:.2g}"
        table.add_row(_HYBRID_LABELS.get(key, key.replace("_", " ")), text)
    table.add_section()
    notes = hybrid.get("notes") or []
    if notes:
        table.caption = "\n".join(notes)
        table.caption_justify = "left"
