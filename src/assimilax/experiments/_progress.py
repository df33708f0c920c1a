"""The runner's progress bar (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    """Cycles per second (recent rate, or the overall one when too few samples)."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None and task.elapsed and task.completed and task.total is not None:
            speed = task.completed / task.elapsed
        if not speed or not task.total or task.total <= 1:
            return Text("")
        return Text(f"{speed:,.0f} cycles/s", style="progress.data.speed")


def progress_bar(console: Console, enabled: bool) -> Progress:
    """Spinner, description, bar, ``done/total``, cycles per second, elapsed time."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    )
