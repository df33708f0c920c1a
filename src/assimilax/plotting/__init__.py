"""Figures of a run (matplotlib, Agg canvas): error and spread over time, Hovmoller diagrams."""

from ._error_spread import plot_error_spread as plot_error_spread
from ._hovmoller import plot_hovmoller as plot_hovmoller

__all__ = ["plot_error_spread", "plot_hovmoller"]
