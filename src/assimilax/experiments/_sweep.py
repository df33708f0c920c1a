"""Sweeps: one twin experiment per point of a grid of config values, into one Zarr store.

A sweep file names a base config (``base = "etkf.toml"``, relative to the sweep file, or
inline ``[model]``/``[method]``/... sections, or both: inline keys override the base's)
and, in ``[sweep]``, lists values for any of its keys::

    base = "etkf.toml"
    [sweep]
    "method.inflation" = [1.0, 1.02, 1.04]
    "method.ensemble_size" = [16, 28, 40]
    seeds = [0, 1, 2, 3]

The grid's dimensions are named after each key's last part (``inflation``,
``ensemble_size``; ``seeds`` gives ``seed``; two keys with the same last part are
named ``section_key``). Every point is the base config with that point's values, and
computes what ``assimilax run`` of that config computes: the same twin (truth,
observations, initial ensemble) from its seed, the same assimilation, the same time
means and divergence criterion. A point whose filter diverges is recorded as diverged
(``diverged`` true, NaN errors) and the sweep goes on.

How the points run:

* **Groups.** Points whose built modules (model and method) share their structure,
  static fields and array shapes, with the same cycles, ensemble size and observation
  layout, form a group: seeds, inflation, localization radius, observation noise and
  model forcing vary within one; ensemble size, state size, method, cycles do not.
* **Batches.** A group is cut into batches of at most ``batch_size`` points (as even as
  possible, in grid order): the batch is the unit of work, run as one
  ``equinox.filter_vmap`` of :func:`assimilax.da.assimilate` compiled once per worker and
  shape. A float hyperparameter that differs within the group is passed as a traced
  array (one value per point); one that does not stays a Python constant, compiled in
  exactly as ``assimilax run`` compiles it. The localization radius is such a float: the
  LETKF's taper is computed in ``jax.numpy`` from it, traced along the batch.
* **Tasks.** Batches are Dask tasks: ``scheduler="local"`` starts a
  ``dask.distributed.LocalCluster`` of single-threaded worker processes (BLAS and XLA
  pinned to one thread each), an address connects to a running scheduler, and
  ``"synchronous"`` runs them one after another in this process. The batches are written
  into the store as they finish; a batch's composition depends on the sweep file only,
  so a resumed sweep recomputes exactly the unfinished batches, bit for bit.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime
import errno
import json
import logging
import math
import os
import shutil
import signal
import socket
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from .. import __version__
from .. import io as rio
from ..da import Save, assimilate, series_specs
from ..io import sweep_store
from ._build import Experiment, build
from ._divergence import DivergenceError, divergence_threshold, divergence_window
from ._provenance import backend, git_commit, package_versions
from ._reduce import reduce
from ._rundir import RunDirError, check_writable, format_value
from ._runtime import XLA_CPU_FLAGS, configure_runtime
from ._signals import Interrupted, deferred_signals
from ._simulate import simulate_setup
from ._twin import climatological_rms, twin_keys
from .config import SECTIONS, Config, ConfigError, Issue, apply_overrides, parse_override
from .config import show_value as _show
from .hybrids import recipe

STORE = sweep_store.STORE
SEEDS = "seeds"
"""The ``[sweep]`` key of the seed axis (``experiment.seed``), dimension ``seed``."""

DEFAULT_BATCH_SIZE = 64
"""Most points per vmapped batch unless the sweep file says ``batch_size``."""

SCHEDULERS = ("local", "synchronous")
"""Scheduler names; anything else is the address of a running Dask scheduler."""

WORKER_XLA_FLAGS = ("--xla_cpu_multi_thread_eigen=false",)
"""XLA flags of worker processes, besides :data:`XLA_CPU_FLAGS`: one thread per worker."""

_TOP_KEYS = ("base", "batch_size", "sweep")

POINTS_DIR = "points"
"""Subdirectory of a sweep directory holding the run directories of hybrid points."""

class SweepError(ConfigError):
    """A sweep file that cannot run; ``issues`` lists every violation found."""

    def __str__(self) -> str:
        head = "invalid sweep" + (f" {self.source}" if self.source else "")
        return head + ":\n" + "\n".join(f"  {issue}" for issue in self.issues)


class SweepDirError(RuntimeError):
    """The output directory holds something else than this sweep."""


class SchedulerError(RuntimeError):
    """The Dask scheduler cannot be reached or started."""


# ----------------------------------------------------------------------------- the sweep


@dataclasses.dataclass(frozen=True)
class Axis:
    """One swept key.

    Attributes:
        key: as written in ``[sweep]``: ``"method.inflation"``, or ``"seeds"``.
        dim: the store's dimension: the key's last part (``seed`` for ``seeds``).
        values: the values, in the order given.
    """

    key: str
    dim: str
    values: tuple[Any, ...]

    @property
    def section(self) -> str:
        return "experiment" if self.key == SEEDS else self.key.split(".")[0]

    @property
    def name(self) -> str:
        return "seed" if self.key == SEEDS else self.key.split(".")[1]


@dataclasses.dataclass(frozen=True, eq=False)
class Sweep:
    """A validated sweep: a base config, the axes of its grid, the batch size.

    Build one with :func:`load_sweep` or :meth:`from_dict`; invalid input raises
    :class:`SweepError`.

    Attributes:
        base: the base config's sections as plain data (base file merged with the
            inline sections), defaults not filled in: each point fills in its own.
        axes: the swept keys, in the order of the store's dimensions.
        batch_size: most points per vmapped batch.
        source: where the sweep came from (a path), if known.
    """

    base: dict[str, dict[str, Any]]
    axes: tuple[Axis, ...]
    batch_size: int = DEFAULT_BATCH_SIZE
    source: str | None = None

    @property
    def dims(self) -> tuple[str, ...]:
        return tuple(axis.dim for axis in self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(axis.values) for axis in self.axes)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def base_config(self) -> Config:
        """The base config, validated, defaults filled in."""
        return Config.from_dict(copy.deepcopy(self.base), source=self.source)

    def coords(self, point: int) -> dict[str, Any]:
        """``{dimension: value}`` of a point (its flat index in the grid, C order)."""
        index = np.unravel_index(point, self.shape)
        return {axis.dim: axis.values[i] for axis, i in zip(self.axes, index, strict=True)}

    def point_data(self, point: int) -> dict[str, dict[str, Any]]:
        """The config of a point as plain data: the base with the point's values."""
        data = copy.deepcopy(self.base)
        index = np.unravel_index(point, self.shape)
        for axis, i in zip(self.axes, index, strict=True):
            data.setdefault(axis.section, {})[axis.name] = axis.values[i]
        return data

    def point_config(self, point: int) -> Config:
        """The validated config of a point (its flat index in the grid, C order)."""
        return Config.from_dict(self.point_data(point), source=self.source)

    def identity(self) -> dict[str, Any]:
        """What identifies the sweep (and its numbers): base, axes and batch size."""
        return tomllib.loads(self.to_toml())

    def to_toml(self) -> str:
        """A sweep file with the base inlined: ``load_sweep`` reads it back to this sweep."""
        text = f"batch_size = {self.batch_size}\n\n" + rio.dumps_toml(self.base)
        axes = "\n".join(
            f"{json.dumps(a.key)} = {rio.toml_value(list(a.values))}" for a in self.axes
        )
        return text + "\n[sweep]\n" + axes + "\n"

    def describe(self) -> str:
        """E.g. ``ETKF (N=28, infl 1.02) on Lorenz-96 (n=40, F=8) over inflation (5) x ...``."""
        grid = " x ".join(f"{a.dim} ({len(a.values)})" for a in self.axes)
        return f"{self.base_config.describe()}, swept over {grid}"

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], *, base_dir: str | Path = ".", source: str | None = None,
        overrides: Sequence[str] = (),
    ) -> Sweep:
        """Validate a parsed sweep file; ``base`` is resolved against ``base_dir``.

        Every point of the grid is validated as a config; nothing is built or run.
        ``overrides`` (``--set`` strings, ``"section.key=value"``) apply to the base config
        (a swept key keeps the values of its axis), except ``"sweep.KEY=[...]"``, which
        replaces (or adds) the axis ``KEY`` of ``[sweep]`` (e.g. ``sweep.seeds=[0, 1]``).

        Raises:
            SweepError: with every violation found.
        """
        if not isinstance(data, dict):
            raise SweepError([Issue(None, None, "a sweep file must be a table")], source)
        data, overrides = _axis_overrides(data, overrides)
        issues: list[Issue] = []
        for key in data:
            if key not in _TOP_KEYS and key not in SECTIONS:
                issues.append(Issue(None, key, "unknown key at the top level of a sweep file; "
                                    "allowed: base, batch_size, [sweep], and the config sections "
                                    + ", ".join(f"[{s}]" for s in SECTIONS), data[key]))
        base = _base_data(data, Path(base_dir), issues)
        try:
            base = apply_overrides(base, overrides)
        except ConfigError as err:
            issues += err.issues
        batch_size = data.get("batch_size", DEFAULT_BATCH_SIZE)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            issues.append(Issue(None, "batch_size", "must be an integer >= 1", batch_size))
        axes = _axes(data.get("sweep"), issues)
        if issues:
            raise SweepError(issues, source)
        try:  # the base alone, so that its issues are reported as the base's
            Config.from_dict(copy.deepcopy(base))
        except ConfigError as err:
            raise SweepError([Issue(None, "base", f"the base config is invalid: {i}")
                              for i in err.issues], source) from None
        sweep = cls(base=base, axes=tuple(axes), batch_size=batch_size, source=source)
        sweep._validate_points()
        return sweep

    def _validate_points(self) -> None:
        issues: list[Issue] = []
        for axis in self.axes:  # each value alone, so that the message names the axis
            seen: set[str] = set()
            for value in axis.values:
                data = copy.deepcopy(self.base)
                data.setdefault(axis.section, {})[axis.name] = value
                try:
                    Config.from_dict(data)
                except ConfigError as err:
                    for issue in err.issues:
                        ours = (issue.section, issue.key) == (axis.section, axis.name)
                        message = issue.message if ours else f"with this value: {issue}"
                        if message not in seen:
                            seen.add(message)
                            issues.append(Issue("sweep", json.dumps(axis.key), message, value))
        if issues:
            raise SweepError(issues, self.source)
        for point in range(self.size):  # combinations
            try:
                self.point_config(point)
            except ConfigError as err:
                where = ", ".join(f"{d} = {_show(v)}" for d, v in self.coords(point).items())
                issues += [Issue("sweep", None, f"the point {where}: {i}") for i in err.issues]
                if len(issues) >= 10:
                    break
        if issues:
            raise SweepError(issues, self.source)


def load_sweep(path: str | os.PathLike, overrides: Sequence[str] = ()) -> Sweep:
    """Read and validate a sweep file, with ``--set`` overrides of its base config.

    Raises:
        SweepError: the file is not TOML, or the sweep is invalid (every issue listed).
        FileNotFoundError: there is no such file.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SweepError([Issue(None, None, f"not valid TOML: {err}")], str(path)) from None
    return Sweep.from_dict(data, base_dir=path.parent, source=str(path), overrides=overrides)


def _axis_overrides(data: dict[str, Any], overrides: Sequence[str]) -> tuple[dict, list[str]]:
    """``data`` with the ``--set sweep.KEY=VALUES`` axes in ``[sweep]``; the other overrides."""
    axes, rest = {}, []
    for text in overrides:
        try:
            parts, value = parse_override(text)
        except ConfigError:  # reported with the base's overrides
            parts, value = (), None
        if len(parts) > 1 and parts[0] == "sweep":
            axes[".".join(parts[1:])] = value
        else:
            rest.append(text)
    table = data.get("sweep", {})
    if axes and isinstance(table, dict):  # else the table's own error is reported
        data = {**data, "sweep": {**table, **axes}}
    return data, rest


def _base_data(data: dict[str, Any], base_dir: Path, issues: list[Issue]) -> dict[str, Any]:
    """The base file's sections, with the inline sections' keys on top."""
    base: dict[str, Any] = {}
    if "base" in data:
        name = data["base"]
        if not isinstance(name, str):
            issues.append(Issue(None, "base", "must be a file name (a string)", name))
        else:
            path = base_dir / name
            try:
                base = tomllib.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                issues.append(Issue(None, "base", f"no such file {path} (the base is found "
                                    "relative to the sweep file)", name))
            except (OSError, UnicodeDecodeError) as err:
                issues.append(Issue(None, "base", f"cannot read {path}: {err}", name))
            except tomllib.TOMLDecodeError as err:
                issues.append(Issue(None, "base", f"{path} is not valid TOML: {err}", name))
    inline = [s for s in SECTIONS if s in data]
    for section in inline:
        table = data[section]
        if not isinstance(table, dict):
            issues.append(Issue(section, None, "must be a table (a [section] with keys)", table))
            continue
        current = base.get(section)
        base[section] = {**current, **table} if isinstance(current, dict) else dict(table)
    if "base" not in data and not inline:
        issues.append(Issue(None, "base", "missing: name a base config (base = \"etkf.toml\", "
                            "relative to the sweep file) or give its sections inline "
                            "([model], [observations], [method], [experiment])"))
    return base


def _axes(table: Any, issues: list[Issue]) -> list[Axis]:
    if table is None:
        issues.append(Issue("sweep", None, "missing section: list the values of at least one "
                            'key, e.g. "method.inflation" = [1.0, 1.02] or seeds = [0, 1, 2]'))
        return []
    if not isinstance(table, dict):
        issues.append(Issue("sweep", None, "must be a table of keys and lists of values", table))
        return []
    if not table:
        issues.append(Issue("sweep", None, "no axes: list the values of at least one key"))
    parsed: list[tuple[str, str, str, tuple]] = []
    seen: dict[tuple[str, str], str] = {}
    for key, values in table.items():
        quoted = json.dumps(key)
        if isinstance(values, dict):  # "method.inflation" written without quotes
            issues.append(Issue("sweep", quoted, 'a key with a dot must be quoted in TOML: '
                                f'"{key}.{next(iter(values), "...")}" = [...]'))
            continue
        if key == SEEDS:
            section, name = "experiment", "seed"
        else:
            parts = key.split(".")
            if len(parts) != 2 or not all(parts):
                issues.append(Issue("sweep", quoted, "must be seeds or section.key, e.g. "
                                    '"method.inflation"', values))
                continue
            section, name = parts
            if section not in SECTIONS:
                issues.append(Issue("sweep", quoted, f"unknown section {section!r}; allowed "
                                    f"sections: {', '.join(SECTIONS)}", values))
                continue
        if (section, name) in seen:
            issues.append(Issue("sweep", quoted, f"the same key as {seen[section, name]!r}"))
            continue
        seen[section, name] = key
        if not isinstance(values, list):
            issues.append(Issue("sweep", quoted, "must be a list of values", values))
            continue
        if not values:
            issues.append(Issue("sweep", quoted, "empty axis: list at least one value", values))
            continue
        if not all(isinstance(v, bool | int | float | str) for v in values):
            issues.append(Issue("sweep", quoted, "values must be numbers, strings or booleans",
                                values))
            continue
        if len({(type(v) is str, v) for v in values}) != len(values):
            issues.append(Issue("sweep", quoted, "lists a value twice", values))
            continue
        parsed.append((key, section, name, tuple(values)))
    names = [name for _, _, name, _ in parsed]
    axes = []
    for key, section, name, values in parsed:
        dim = name if names.count(name) == 1 else f"{section}_{name}"
        if dim in sweep_store.VARIABLES:
            dim = f"{section}_{name}"
        axes.append(Axis(key, dim, values))
    return axes


# ----------------------------------------------------------------------------- the plan


@dataclasses.dataclass(frozen=True)
class Batch:
    """A fixed set of points run as one vmapped computation.

    Attributes:
        index: the batch's number, in plan order.
        group: the group it belongs to (same compiled program).
        points: flat grid indices (C order) of its points.
        traced: key paths (``jax.tree_util.keystr``) of the float hyperparameters of
            ``(model, method)`` passed as traced arrays.
        hybrid: a point of a ``[hybrid]`` config (a batch of one): it runs as
            ``assimilax run`` of its config into ``points/<point>`` of the sweep directory.
    """

    index: int
    group: int
    points: tuple[int, ...]
    traced: frozenset[str]
    hybrid: bool = False


@dataclasses.dataclass(frozen=True)
class Plan:
    """The batches of a sweep and the store's chunks (both from the sweep file alone).

    Attributes:
        batches: the batches, in order.
        chunks: the store's chunk length per dimension.
        extra: the store's variables besides :data:`assimilax.io.sweep_store.VARIABLES`:
            name -> ``(long name, units)``; the time means of the methods' own scalar
            series (a smoother's error, ..., from their :class:`~assimilax.da.SeriesSpec`)
            and the statistics of hybrid methods
            (:attr:`~assimilax.experiments.hybrids.HybridRecipe.statistics`).
        score: the variable the sweep's figures chart: ``rmse_analysis``, or a hybrid
            method's headline statistic
            (:attr:`~assimilax.experiments.hybrids.HybridRecipe.score`).
    """

    batches: tuple[Batch, ...]
    chunks: tuple[int, ...]
    extra: dict[str, tuple[str, str]]
    score: str = "rmse_analysis"


def plan_sweep(sweep: Sweep) -> Plan:
    """Group the points by compiled program and cut the groups into batches.

    The result depends on the sweep only (never on what is already done), so that a
    resumed sweep recomputes the same batches. A point of a ``[hybrid]`` config is a
    group and a batch of its own: it trains networks and runs its own loop, in its own
    run directory.
    """
    configs = [sweep.point_config(p) for p in range(sweep.size)]
    xps = [build(c) for c in configs]
    signatures: list[Any] = []
    group_of = np.empty(sweep.size, np.int64)
    for p, (config, xp) in enumerate(zip(configs, xps, strict=True)):
        signature = ("hybrid", p) if config.hybrid is not None else _signature(config, xp)
        for g, other in enumerate(signatures):
            if other == signature:
                group_of[p] = g
                break
        else:
            group_of[p] = len(signatures)
            signatures.append(signature)
    batches: list[Batch] = []
    for g in range(len(signatures)):
        points = np.flatnonzero(group_of == g)
        if configs[points[0]].hybrid is not None:
            batches.append(Batch(len(batches), g, (int(points[0]),), frozenset(), hybrid=True))
            continue
        group = [xps[p] for p in points]
        traced = _varying_floats([(x.setup.model, x.method) for x in group])
        pieces = np.array_split(points, math.ceil(len(points) / sweep.batch_size))
        for piece in pieces:
            batches.append(Batch(len(batches), g, tuple(int(p) for p in piece), traced))
    grid = group_of.reshape(sweep.shape)
    chunks = tuple(
        1 if np.any(grid != np.take(grid, [0], axis=d)) else n
        for d, n in enumerate(sweep.shape)
    )
    extra: dict[str, tuple[str, str]] = {}
    score = "rmse_analysis"
    for config, xp in zip(configs, xps, strict=True):
        if config.hybrid is not None:
            method = recipe(config.hybrid.name)
            extra.update({k: (v.description, v.units) for k, v in method.statistics.items()
                          if k not in sweep_store.VARIABLES})
            score = method.score
            continue
        specs = series_specs(xp.method, [s.error for s in xp.method.series if s.error])
        extra.update({spec.name: (f"time mean of the {spec.description} after burn-in",
                                  spec.units) for spec in specs})
    return Plan(tuple(batches), chunks, extra, score)


def _signature(config: Config, xp: Experiment) -> tuple:
    """What must be equal for two points to share a compiled program."""
    setup = xp.setup
    leaves, treedef = jax.tree.flatten(((setup.model, xp.method), setup.operator, setup.noise))
    kinds = tuple(
        ("array", leaf.shape, str(leaf.dtype)) if eqx.is_array(leaf)
        else ("float",) if isinstance(leaf, float)
        else ("value", type(leaf).__name__, leaf)
        for leaf in leaves
    )
    return (treedef, kinds, config.experiment.cycles, config.method.ensemble_size,
            setup.every_steps)


def _varying_floats(hypers: Sequence[tuple]) -> frozenset[str]:
    """Key paths of the Python-float leaves that differ between the points."""
    flat = [jax.tree_util.tree_flatten_with_path((h,))[0] for h in hypers]
    varying = set()
    for i, (path, leaf) in enumerate(flat[0]):
        if isinstance(leaf, float) and any(f[i][1] != leaf for f in flat[1:]):
            varying.add(jax.tree_util.keystr(path))
    return frozenset(varying)


# ----------------------------------------------------------------------------- one batch


@dataclasses.dataclass(frozen=True)
class BatchTask:
    """What a worker needs to compute a batch: plain data only (cheap to send).

    ``out_dir`` is the sweep directory, where a hybrid point writes its run directory
    (``points/<point>``): the workers must see it (a local cluster does; a remote
    scheduler's workers need a shared file system).
    """

    batch: Batch
    configs: tuple[dict[str, Any], ...]
    out_dir: str | None = None


def _assimilate_point(hyper, observations, ensemble0, truth, key):
    """The scalar series ``(time,)`` of one point (errors, spreads, a method's own)."""
    model, method = hyper
    result = assimilate(model, observations, method, ensemble0, key=key, truth=truth,
                        save=Save(means=False, rank_counts=False))
    return {spec.name: result.series[spec.name] for spec in result.specs if spec.dims == ()}


_assimilate_batch = eqx.filter_jit(eqx.filter_vmap(_assimilate_point))
"""The whole assimilation of a batch: one compiled program per worker and shape."""


def compute_batch(task: BatchTask) -> dict[str, Any]:
    """Simulate the twins of a batch's points, assimilate them as one vmapped program,
    and reduce each point to its time means (runs on a Dask worker).

    Each point's twin is simulated alone, by the runner's compiled function, so that it
    is the twin of ``assimilax run`` of the point's config, bit for bit.

    Returns:
        ``{"batch": index, "points": flat indices, "values": {variable: (point,)},
        "wall_time_s": seconds}``.
    """
    configure_runtime()
    start = time.perf_counter()
    batch = task.batch
    if batch.hybrid:
        return _compute_hybrid_point(task, start)
    configs = [Config.from_dict(c) for c in task.configs]
    xps = [build(c) for c in configs]
    twins: dict[str, tuple] = {}
    inputs, climates, truths = [], [], []
    for config, xp in zip(configs, xps, strict=True):
        twin_id = _twin_identity(config)
        if twin_id not in twins:
            twins[twin_id] = simulate_setup(xp.setup)
        twin, observations = twins[twin_id]
        climates.append(float(climatological_rms(twin.truth)))
        truths.append(twin.truth)
        key = twin_keys(jax.random.key(config.experiment.seed))["assimilation"]
        inputs.append(((xp.setup.model, xp.method), observations, twin.ensemble0,
                       twin.truth, key))
    stacked = _stack(inputs, batch.traced)
    out = jax.device_get(_assimilate_batch(*stacked))
    rows = []
    for i, config in enumerate(configs):
        series = {k: None if v is None else np.asarray(v[i]) for k, v in out.items()}
        rows.append(_point_values(config, series, climates[i]))
    wall = time.perf_counter() - start
    values = {name: np.array([row[name] for row in rows]) for name in rows[0]}
    values["wall_time_s"] = np.full(len(rows), wall / len(rows))
    values["batch"] = np.full(len(rows), batch.index, np.int64)
    return {"batch": batch.index, "points": batch.points, "values": values,
            "wall_time_s": wall}


def _compute_hybrid_point(task: BatchTask, start: float) -> dict[str, Any]:
    """Run a hybrid point as ``assimilax run`` of its config into ``points/<point>``.

    A finished run there is reused and an interrupted one resumes (from its last
    finished iteration), so a resumed sweep loses at most the current iteration of each
    running point. The run's summary gives the point's values: its time means, its
    hybrid statistics and a divergence (NaN errors) if an iteration diverged.
    """
    from ._run import run  # the runner of every config; imported where it is needed

    if task.out_dir is None:
        raise ValueError("compute_batch: a hybrid point needs the sweep directory (out_dir).")
    (point,) = task.batch.points
    config = Config.from_dict(task.configs[0])
    directory = Path(task.out_dir) / POINTS_DIR / str(point)
    nan = float("nan")
    values: dict[str, Any] = {name: nan for name in sweep_store.ERRORS}
    values.update(diverged=False, diverged_at_cycle=-1, climatological_rms=nan,
                  n_cycles=config.experiment.cycles)
    statistics = recipe(config.hybrid.name).statistics
    values.update(dict.fromkeys(statistics, nan))
    try:
        summary = run(config, directory, progress=False)
    except DivergenceError:
        values["diverged"] = True
    else:
        for name in sweep_store.ERRORS:
            mean = getattr(summary, name, None)
            values[name] = nan if mean is None else float(mean)
        for name, value in (summary.hybrid or {}).get("statistics", {}).items():
            if name in statistics:
                values[name] = nan if value is None else float(value)
        values["climatological_rms"] = _climatological_rms(directory)
    wall = time.perf_counter() - start
    values = {k: np.array([v]) for k, v in values.items()}
    values["wall_time_s"] = np.array([wall])
    values["batch"] = np.array([task.batch.index], np.int64)
    return {"batch": task.batch.index, "points": task.batch.points, "values": values,
            "wall_time_s": wall}


def _climatological_rms(run_dir: Path) -> float:
    """The climatological RMS a run recorded in its ``results.nc`` (NaN if none)."""
    try:
        attrs = rio.read_results(run_dir / rio.names.RESULTS_FILE).attrs
    except (OSError, ValueError):
        return float("nan")
    return float(attrs.get("climatological_rms", float("nan")))


def _twin_identity(config: Config) -> str:
    data = config.to_dict()
    data["experiment"] = {k: v for k, v in data["experiment"].items()
                          if k in ("cycles", "seed", "spinup_steps", "initial_std")}
    data["method"] = {"ensemble_size": config.method.ensemble_size}
    return json.dumps(data, sort_keys=True)


def _stack(points: Sequence[tuple], traced: frozenset[str]) -> tuple:
    """One pytree with a leading batch axis on every array (and on traced floats)."""
    flat = [jax.tree_util.tree_flatten_with_path(p) for p in points]
    treedef = flat[0][1]
    if any(f[1] != treedef for f in flat[1:]):
        raise ValueError("compute_batch: the points of a batch differ in structure.")
    leaves = []
    for i, (path, first) in enumerate(flat[0][0]):
        values = [f[0][i][1] for f in flat]
        if eqx.is_array(first):
            leaves.append(jnp.stack(values))
        elif jax.tree_util.keystr(path) in traced:
            leaves.append(jnp.stack([jnp.asarray(v) for v in values]))  # weakly typed
        elif any(v != first for v in values[1:]):
            raise ValueError(f"compute_batch: {jax.tree_util.keystr(path)} differs between "
                             "the points of a batch but is not traced.")
        else:
            leaves.append(first)
    return jax.tree.unflatten(treedef, leaves)


def _point_values(config: Config, series: dict[str, np.ndarray], clim: float) -> dict[str, Any]:
    """The time means of one point, as :func:`assimilax.experiments.run` computes them
    (:func:`assimilax.experiments._reduce.reduce`); NaN errors for a diverged point."""
    exp = config.experiment
    reduction = reduce(series, exp.burn_in, threshold=divergence_threshold(config, clim),
                       window=divergence_window(config))
    divergence = reduction.divergence
    values: dict[str, Any] = {
        "diverged": divergence is not None,
        "diverged_at_cycle": -1 if divergence is None else divergence[0],
        "climatological_rms": clim,
        "n_cycles": series["rmse_analysis"].shape[0],
    }
    nan = float("nan")
    for name, mean in reduction.means.items():
        values[name] = nan if mean is None or divergence is not None else mean
    for name in sweep_store.ERRORS:
        values.setdefault(name, nan)
    ci95 = reduction.rmse_analysis_ci95
    values["rmse_analysis_ci95"] = nan if ci95 is None or divergence is not None else ci95
    return values


# ----------------------------------------------------------------------------- running


@dataclasses.dataclass
class SweepResult:
    """What :func:`sweep` did.

    Attributes:
        out_dir, store: the sweep directory and its ``sweep.zarr``.
        points, batches: the grid's points and the plan's batches.
        computed: batches computed by this call (the others were already done).
        failed: ``(batch, error message)`` of the batches that raised (not written).
        wall_time_s: seconds of this call.
        figures: the PNG files written (when every point is done).
    """

    out_dir: Path
    store: Path
    points: int
    batches: int
    computed: int
    failed: list[tuple[int, str]]
    wall_time_s: float
    figures: list[Path] = dataclasses.field(default_factory=list)

    def dataset(self):
        """The store as an ``xarray.Dataset`` (loaded into memory)."""
        return rio.open_sweep(self.store)


def sweep(
    spec: Sweep,
    out_dir: str | Path,
    *,
    scheduler: str = "local",
    workers: int | None = None,
    progress: bool = True,
    console: Console | None = None,
    connect_timeout: float = 10.0,
    plots: bool = True,
    restart: bool = False,
) -> SweepResult:
    """Run every point of a sweep and write ``out_dir/sweep.zarr`` (and its figures).

    Resumes: a store of the same sweep in ``out_dir`` is completed, recomputing only its
    unfinished batches; ``restart=True`` discards that store (and the hybrid points'
    run directories, ``points/``) and computes every point again (a different sweep is
    still refused). Float64 is switched on for the process.

    SIGINT or SIGTERM (main thread only) stops the sweep once the next batch is written
    and raises :class:`Interrupted`; the same call resumes. A second signal aborts at once.

    Args:
        spec: a validated sweep (:func:`load_sweep`).
        out_dir: the sweep directory (created).
        scheduler: ``"local"`` (a ``LocalCluster`` on this machine), ``"synchronous"``
            (in this process, no Dask), or the address of a running Dask scheduler.
        workers: worker processes of the local cluster (default: the CPU count).
        progress: show a progress bar of the batches.
        console: where the progress bar goes (default: standard error).
        connect_timeout: seconds to wait for a scheduler at an address.
        plots: write the sweep's figures once every point is done.
        restart: discard the earlier store of this sweep in ``out_dir`` and compute all.

    Raises:
        SweepDirError: ``out_dir`` holds something else than this sweep; nothing is written.
        SchedulerError: the scheduler cannot be reached; nothing is written.
        CorruptRunFileError: the store to resume cannot be read; nothing is changed
            (``restart=True`` discards it).
        ProgressWriteError: writing a batch failed (a full disk): the points written
            before are intact and the same call resumes.
        Interrupted: SIGINT or SIGTERM; the finished batches are saved.
    """
    start = time.perf_counter()
    configure_runtime()
    out_dir = Path(out_dir)
    store = out_dir / STORE
    resume = _check_out_dir(spec, out_dir, restart=restart)
    try:
        check_writable(out_dir, "sweep", keep=resume)
    except RunDirError as err:
        raise SweepDirError(str(err)) from None
    plan = plan_sweep(spec)
    if restart and resume:
        _discard_sweep(out_dir)
        resume = False
    done = rio.read_sweep_done(store).ravel() if resume else np.zeros(spec.size, bool)
    todo = [b for b in plan.batches if not done[list(b.points)].all()]
    failed: list[tuple[int, str]] = []
    if todo:
        tasks = [BatchTask(b, tuple(spec.point_data(p) for p in b.points), str(out_dir))
                 for b in todo]
        with _executor(scheduler, workers, connect_timeout) as execute:
            if not resume:
                out_dir.mkdir(parents=True, exist_ok=True)
                _create_store(spec, plan, store)
            console = console or Console(stderr=True)
            points_done = int(done.sum())
            with deferred_signals() as flag, _progress_bar(console, progress) as bar:
                n_done = len(plan.batches) - len(todo)
                task = bar.add_task("sweep: batches", total=len(plan.batches), completed=n_done)
                for batch_task, outcome in execute(tasks):
                    if isinstance(outcome, BaseException):
                        failed.append((batch_task.batch.index, f"{type(outcome).__name__}: "
                                       f"{outcome}"))
                    else:
                        index = np.unravel_index(np.asarray(outcome["points"]), spec.shape)
                        try:
                            rio.write_sweep_points(store, index, outcome["values"])
                        except OSError as err:
                            raise _write_error(err, store, batch_task.batch.index,
                                               points_done, spec.size) from None
                        points_done += len(batch_task.batch.points)
                    bar.advance(task)
                    if flag:
                        name = signal.Signals(flag.signum).name
                        raise Interrupted(
                            flag.signum,
                            f"interrupted by {name} with {points_done} of {spec.size} points "
                            f"done; progress saved in {store}; run the same command to "
                            "resume.", out_dir, points_done)
    figures: list[Path] = []
    if plots and not failed:
        from .. import plotting

        figures = plotting.plot_sweep(out_dir)
    return SweepResult(out_dir, store, spec.size, len(plan.batches), len(todo) - len(failed),
                       failed, time.perf_counter() - start, figures)


def _write_error(err: OSError, store: Path, batch: int, done: int, size: int):
    reason = ("no space left on device" if err.errno == errno.ENOSPC
              else (err.strerror or str(err)))
    return rio.ProgressWriteError(
        f"{reason} writing {store} (batch {batch}): the {done} of {size} points written "
        "before are intact; free space and run the same command to resume.")


def _discard_sweep(out_dir: Path) -> None:
    """Remove the store and the hybrid points' run directories (``restart=True``)."""
    try:
        for name in (STORE, POINTS_DIR):
            if (out_dir / name).exists():
                shutil.rmtree(out_dir / name)
    except OSError as err:
        raise SweepDirError(f"cannot discard the earlier sweep in {out_dir} (--restart): "
                            f"{err.strerror or err}; nothing was computed.") from None


def _check_out_dir(spec: Sweep, out_dir: Path, *, restart: bool = False) -> bool:
    """Whether ``out_dir`` holds this sweep's store (to resume); raises if something else.

    A store whose attributes cannot be read is reported as corrupt, unless ``restart``
    (it is then discarded: it holds no readable result)."""
    if not out_dir.exists():
        return False
    if not out_dir.is_dir():
        raise SweepDirError(f"{out_dir} exists and is not a directory.")
    store = out_dir / STORE
    if store.exists():
        try:
            attrs = rio.read_sweep_attrs(store)
            stored = tomllib.loads(attrs["sweep"])
        except Exception as err:  # noqa: BLE001 - any unreadable store is refused alike
            if restart:
                return True
            raise rio.CorruptRunFileError(
                store, f"not a readable assimilax sweep store: {type(err).__name__}: {err}"
            ) from None
        _same_sweep(spec, stored, out_dir)
        return True
    if (out_dir / rio.names.SUMMARY_FILE).exists() or (out_dir / rio.names.CONFIG_FILE).exists():
        raise SweepDirError(f"{out_dir} holds an assimilax run, not a sweep; nothing was "
                            "changed. Choose another --out.")
    if any(not p.name.startswith(f".{STORE}.") for p in out_dir.iterdir()):
        raise SweepDirError(f"{out_dir} is not empty and holds no assimilax sweep; nothing "
                            "was changed. Choose another --out.")
    return False


def _same_sweep(spec: Sweep, stored: dict[str, Any], out_dir: Path) -> None:
    ours = spec.identity()
    if stored == ours:
        return
    diffs = []
    for top in dict.fromkeys([*stored, *ours]):
        there, here = stored.get(top), ours.get(top)
        if isinstance(there, dict) or isinstance(here, dict):
            there, here = there or {}, here or {}
            for key in dict.fromkeys([*there, *here]):
                if there.get(key) != here.get(key):
                    name = json.dumps(key) if top == "sweep" else key
                    diffs.append(f"  [{top}] {name}: {format_value(there.get(key))} there, "
                                 f"{format_value(here.get(key))} here")
        elif there != here:
            diffs.append(f"  {top}: {format_value(there)} there, {format_value(here)} here")
    raise SweepDirError(
        f"{out_dir} holds a different sweep; nothing was changed. Choose another --out, or "
        "delete that directory to replace it.\n" + "\n".join(diffs)
    )


def _create_store(spec: Sweep, plan: Plan, store: Path) -> None:
    names = list(sweep_store.VARIABLES)
    attrs = {
        "title": spec.describe(),
        "sweep": spec.to_toml(),
        "sweep_file": spec.source or "",
        "base_config": spec.base_config.to_toml(),
        "axes": {a.dim: a.key for a in spec.axes},
        "version": __version__,
        "versions": package_versions(),
        "git_commit": git_commit(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "platform": backend(),
        "score": plan.score,
    }
    coords = {a.dim: list(a.values) for a in spec.axes}
    rio.create_sweep_store(store, coords=coords, variables=names, chunks=plan.chunks,
                           attrs=attrs, extra=plan.extra)


# ----------------------------------------------------------------------------- schedulers

Execute = Callable[[Sequence[BatchTask]], Iterator[tuple[BatchTask, Any]]]


@contextlib.contextmanager
def _executor(scheduler: str, workers: int | None, timeout: float) -> Iterator[Execute]:
    """Yields ``execute(tasks)``: an iterator of ``(task, result or exception)`` as they finish."""
    if scheduler == "synchronous":
        def execute(tasks):
            for task in tasks:
                try:
                    yield task, compute_batch(task)
                except Exception as err:  # noqa: BLE001 - reported per batch, the sweep goes on
                    yield task, err

        yield execute
        return
    with _dask_client(scheduler, workers, timeout) as client:
        from dask.distributed import as_completed

        def execute(tasks):
            token = uuid.uuid4().hex[:8]
            futures = {
                client.submit(compute_batch, t, key=f"assimilax-batch-{t.batch.index}-{token}",
                              pure=False): t
                for t in tasks
            }
            for future in as_completed(futures):
                task = futures.pop(future)
                try:
                    yield task, future.result()
                except Exception as err:  # noqa: BLE001 - reported per batch
                    yield task, err
                future.release()

        yield execute


def worker_env() -> dict[str, str]:
    """Environment of local worker processes: one BLAS and one XLA thread, float64."""
    flags = " ".join((*XLA_CPU_FLAGS, *WORKER_XLA_FLAGS))
    user = os.environ.get("XLA_FLAGS", "")
    return {
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "XLA_FLAGS": f"{user} {flags}".strip(),
        "XLA_PYTHON_CLIENT_PREALLOCATE": "false",  # workers share a GPU, if any
        "JAX_ENABLE_X64": "1",
    }


@contextlib.contextmanager
def _dask_client(scheduler: str, workers: int | None, timeout: float):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as err:  # pragma: no cover - a dependency
        raise SchedulerError(f"dask.distributed is not installed: {err}") from None
    if scheduler == "local":
        n = workers or _cpu_count()
        try:
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                   dashboard_address=None, env=worker_env(),
                                   silence_logs=logging.ERROR,
                                   # no dashboard; its health routes on any free port
                                   scheduler_kwargs={"dashboard_address": ":0"})
        except Exception as err:  # noqa: BLE001
            raise SchedulerError(f"cannot start a local Dask cluster: {err}") from None
        with cluster, Client(cluster) as client:
            yield client
        return
    _probe(scheduler, timeout)
    try:
        client = Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as err:
        raise SchedulerError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None
    with client:
        yield client


def _cpu_count() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _probe(address: str, timeout: float) -> None:
    """Fail at once, with a clear message, when nothing listens at a ``tcp://`` address."""
    from distributed.comm import parse_address, parse_host_port

    try:
        protocol, location = parse_address(address)
        if protocol != "tcp":
            return
        host, port = parse_host_port(location)
    except (ValueError, TypeError) as err:
        raise SchedulerError(f"not a Dask scheduler address: {address!r} ({err}); use "
                             "--scheduler local or an address like tcp://host:8786") from None
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as err:
        raise SchedulerError(f"cannot reach the Dask scheduler at {address}: {err}") from None


def _progress_bar(console: Console, enabled: bool) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    )
