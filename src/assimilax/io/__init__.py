"""Files of a run: ``results.nc`` (xarray/netCDF), ``summary.json``, ``config.toml``; of a
sweep: ``sweep.zarr`` (:mod:`assimilax.io.sweep_store`).

The only package that touches xarray and netCDF; dimension and file names live in
:mod:`assimilax.io.names`.
"""

from . import _names as names
from . import _sweep_store as sweep_store
from ._checkpoints import NETWORKS_DIR as NETWORKS_DIR
from ._checkpoints import StepCheckpoint as StepCheckpoint
from ._checkpoints import read_fit_state as read_fit_state
from ._checkpoints import read_network as read_network
from ._checkpoints import read_step as read_step
from ._checkpoints import write_fit_state as write_fit_state
from ._checkpoints import write_network as write_network
from ._checkpoints import write_step as write_step
from ._files import CorruptRunFileError as CorruptRunFileError
from ._files import ProgressWriteError as ProgressWriteError
from ._files import RunFileError as RunFileError
from ._files import read_json as read_json
from ._files import write_json as write_json
from ._files import write_text_atomic as write_text_atomic
from ._results import add_variables as add_variables
from ._results import read_results as read_results
from ._results import results_dataset as results_dataset
from ._results import series_variables as series_variables
from ._results import write_results as write_results
from ._sweep_store import create_sweep_store as create_sweep_store
from ._sweep_store import open_sweep as open_sweep
from ._sweep_store import read_sweep_attrs as read_sweep_attrs
from ._sweep_store import read_sweep_done as read_sweep_done
from ._sweep_store import write_sweep_points as write_sweep_points
from ._toml import dumps_toml as dumps_toml
from ._toml import toml_value as toml_value

__all__ = [
    "CorruptRunFileError",
    "ProgressWriteError",
    "RunFileError",
    "add_variables",
    "create_sweep_store",
    "dumps_toml",
    "names",
    "open_sweep",
    "read_fit_state",
    "read_json",
    "read_results",
    "read_step",
    "read_sweep_attrs",
    "read_sweep_done",
    "results_dataset",
    "series_variables",
    "StepCheckpoint",
    "sweep_store",
    "toml_value",
    "write_fit_state",
    "write_json",
    "write_results",
    "write_step",
    "write_network",
    "read_network",
    "NETWORKS_DIR",
    "write_sweep_points",
    "write_text_atomic",
]
