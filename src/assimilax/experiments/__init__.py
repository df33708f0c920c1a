"""Experiments: the twin simulation (pure JAX), config schema, runner, sweeps and presets.

The twin simulation is imported eagerly and needs JAX only. The config schema
(pydantic), the builders and the runner (files, figures) are loaded on first use, so
``import assimilax.experiments`` pulls in neither pydantic nor xarray.
"""

import importlib
from typing import TYPE_CHECKING

from ._twin import Twin as Twin
from ._twin import climatological_rms as climatological_rms
from ._twin import simulate_twin as simulate_twin
from ._twin import twin_keys as twin_keys

if TYPE_CHECKING:
    from ._build import Experiment as Experiment
    from ._build import Setup as Setup
    from ._build import build as build
    from ._build import build_inflation as build_inflation
    from ._build import build_method as build_method
    from ._build import build_model as build_model
    from ._build import build_observations as build_observations
    from ._divergence import DivergenceError as DivergenceError
    from ._provenance import git_commit as git_commit
    from ._provenance import package_versions as package_versions
    from ._run import run as run
    from ._run_hybrid import load_network as load_network
    from ._rundir import RunDirError as RunDirError
    from ._runtime import configure_runtime as configure_runtime
    from ._runtime import enable_compilation_cache as enable_compilation_cache
    from ._signals import Interrupted as Interrupted
    from ._simulate import simulate_setup as simulate_setup
    from ._summary import Summary as Summary
    from ._summary import default_out_dir as default_out_dir
    from ._summary import load_summary as load_summary
    from ._sweep import SchedulerError as SchedulerError
    from ._sweep import Sweep as Sweep
    from ._sweep import SweepDirError as SweepDirError
    from ._sweep import SweepError as SweepError
    from ._sweep import SweepResult as SweepResult
    from ._sweep import load_sweep as load_sweep
    from ._sweep import sweep as sweep
    from .config import Config as Config
    from .config import ConfigError as ConfigError
    from .config import Issue as Issue
    from .config import load_config as load_config

_LAZY = {
    "Experiment": "_build",
    "load_network": "_run_hybrid",
    "Setup": "_build",
    "build": "_build",
    "build_inflation": "_build",
    "build_method": "_build",
    "build_model": "_build",
    "build_observations": "_build",
    "Config": "config",
    "ConfigError": "config",
    "Issue": "config",
    "load_config": "config",
    "git_commit": "_provenance",
    "package_versions": "_provenance",
    "DivergenceError": "_divergence",
    "RunDirError": "_rundir",
    "Summary": "_summary",
    "default_out_dir": "_summary",
    "load_summary": "_summary",
    "run": "_run",
    "Interrupted": "_signals",
    "configure_runtime": "_runtime",
    "enable_compilation_cache": "_runtime",
    "simulate_setup": "_simulate",
    "SchedulerError": "_sweep",
    "Sweep": "_sweep",
    "SweepDirError": "_sweep",
    "SweepError": "_sweep",
    "SweepResult": "_sweep",
    "load_sweep": "_sweep",
    "sweep": "_sweep",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
