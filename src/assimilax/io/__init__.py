"""Files of a run: ``results.nc`` (xarray/netCDF), ``summary.json``, ``config.toml``.

The only package that touches xarray and netCDF; dimension and file names live in
:mod:`assimilax.io.names`.
"""

from . import _names as names
from ._files import read_json as read_json
from ._files import write_json as write_json
from ._files import write_text_atomic as write_text_atomic
from ._results import read_results as read_results
from ._results import results_dataset as results_dataset
from ._results import write_results as write_results
from ._toml import dumps_toml as dumps_toml
from ._toml import toml_value as toml_value

__all__ = [
    "dumps_toml",
    "names",
    "read_json",
    "read_results",
    "results_dataset",
    "toml_value",
    "write_json",
    "write_results",
    "write_text_atomic",
]
