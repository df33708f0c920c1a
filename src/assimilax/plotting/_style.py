"""Figure creation without pyplot: no global state, no display backend (Agg canvas)."""

import os

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def new_figure(width: float, height: float, **kwargs) -> Figure:
    """A figure with an Agg canvas attached (safe in threads and headless processes)."""
    fig = Figure(figsize=(width, height), layout="constrained", **kwargs)
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: str | os.PathLike, dpi: int = 130) -> None:
    """Write ``fig`` as PNG."""
    fig.savefig(path, dpi=dpi)
