"""Run the seeds of one member as one vmapped program and reduce them to time means.

Each seed is the twin experiment ``assimilax run`` makes of the member's config with that
``[experiment] seed``: the same keys, spin-up, truth, observations, initial ensemble and
filter randomness. On the CPU the time means come out equal to those of ``assimilax run``
to the last bit; a compiler that batches the arithmetic differently would change the last
bits, which the chaotic truth amplifies, and the two would then agree statistically only
(``tests/test_presets.py`` asks for that much).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ... import __version__
from ...da import Save, assimilate
from ...observations import Observations
from .._build import build
from .._divergence import DIVERGENCE_WINDOW, divergence_threshold, find_divergence
from .._provenance import code_fingerprint, git_commit
from .._reduce import time_mean_ci95
from .._twin import climatological_rms, simulate_twin, twin_keys
from ..hybrids import run_hybrid, statistics_of
from ._preset import STATISTICS, Member


@dataclasses.dataclass
class MemberRun:
    """The per-seed time means of one member: what ``members/<name>.json`` holds.

    Attributes:
        name: the member's name.
        config: the member's resolved config (``[experiment] seed`` = the first seed).
        seeds: the seeds run.
        cycles, burn_in: analysis cycles per seed and those left out of the time means.
        statistics: ``{statistic: {"mean": [per seed], "ci95": [per seed]}}`` for the
            statistics of :data:`STATISTICS` the method has; ``ci95`` is the
            autocorrelation-corrected half-width of :func:`assimilax.metrics.time_mean_ci`.
            Non-finite values are ``None``.
        diverged_at_cycle: per seed, the cycle where the filter lost the truth (the
            criterion of ``assimilax run``), else ``None``.
        wall_time_s: seconds to build, compile and run all seeds.
        version, git_commit: provenance.
        fingerprint: :func:`~assimilax.experiments._provenance.code_fingerprint` of the
            code that computed it; a stored run is reused only under the same one.
        notes: readable results of a hybrid member (per-iteration RMSEs, ...), per seed.
        details: per seed, the hybrid method's full record (:class:`~assimilax.
            experiments.hybrids.HybridOutcome` ``details``); None for plain DA members.
        reused: found finished on disk, not recomputed (not stored).
    """

    name: str
    config: dict[str, Any]
    seeds: list[int]
    cycles: int
    burn_in: int
    statistics: dict[str, dict[str, list[float | None]]]
    diverged_at_cycle: list[int | None]
    wall_time_s: float
    version: str
    git_commit: str
    notes: list[str] = dataclasses.field(default_factory=list)
    details: list[dict[str, Any]] | None = None
    fingerprint: dict[str, str] = dataclasses.field(default_factory=dict)
    reused: bool = dataclasses.field(default=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        del data["reused"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, reused: bool = False) -> MemberRun:
        fields = {f.name for f in dataclasses.fields(cls)} - {"reused"}
        missing = fields - {"notes", "details", "fingerprint"} - set(data)
        if missing:
            raise ValueError(f"member record is missing {sorted(missing)}")
        return cls(**{k: data[k] for k in fields if k in data}, reused=reused)

    def matches(self, member: Member) -> bool:
        """Whether this record is a run of ``member`` (same config and seeds)."""
        return (self.seeds == list(member.seeds)
                and self.config == member.config_for(member.seeds[0]).to_dict())

    @property
    def diverged(self) -> bool:
        return any(c is not None for c in self.diverged_at_cycle)


def _scalar_series(method, result) -> dict:
    """The per-cycle scalars a member reduces: every scalar series of the run (errors,
    spreads, a method's own), and the spatial mean of each of the method's own state
    series that is not compared with the truth (4D-Var's analysed ``forcing``)."""
    series = {spec.name: result.series[spec.name] for spec in result.specs if spec.dims == ()}
    for spec in method.series:
        if spec.dims == ("state",) and spec.error is None and spec.name in result.series:
            series[spec.name] = jnp.mean(result.series[spec.name], axis=-1)
    return series


@eqx.filter_jit
def _run_seeds(truth_model, model, operator, noise, method, keys, *, cycles, truth_every_steps,
               every_steps, ensemble_size, spinup_steps, initial_std):
    """Per-cycle series ``(seed, cycle)`` of every statistic, and the truth's climate RMS."""

    def one(key):
        twin = simulate_twin(
            truth_model, operator, noise,
            cycles=cycles, every_steps=truth_every_steps, ensemble_size=ensemble_size,
            key=key, spinup_steps=spinup_steps, initial_std=initial_std,
            state_size=model.state_size,
        )
        obs = twin.observations
        observations = Observations(obs.operator, obs.noise, obs.y, obs.mask, every_steps)
        anomaly = twin.truth - jnp.mean(twin.truth, axis=0)
        res = assimilate(model, observations, method, twin.ensemble0,
                         key=twin_keys(key)["assimilation"], truth=twin.truth,
                         save=Save(rank_counts=False))
        series = _scalar_series(method, res)
        series["climatology"] = jnp.sqrt(jnp.mean(anomaly**2, axis=-1))
        return series, climatological_rms(twin.truth)

    return jax.vmap(one)(keys)


def run_member(
    member: Member,
    *,
    log: Callable[[str], None] | None = None,
    checkpoint: str | Path | None = None,
) -> MemberRun:
    """Run every seed of ``member`` (one compiled, vmapped program) and reduce.

    A member with a ``[hybrid]`` method runs its seeds one after the other
    (:func:`assimilax.experiments.hybrids.run_hybrid`; a training loop per seed does not
    vmap), with per-iteration checkpoints under ``checkpoint/seed<k>`` when given.
    Float64 must be on (:func:`assimilax.experiments.configure_runtime`).

    Args:
        member: the member.
        log: called with progress lines of a hybrid member.
        checkpoint: directory for a hybrid member's checkpoints.

    Returns:
        The :class:`MemberRun`: per-seed time means after burn-in, their 95 % half-widths
        and the divergence check of each seed.
    """
    if member.config.hybrid is not None:
        return _run_hybrid_member(member, log=log, checkpoint=checkpoint)
    t0 = time.perf_counter()
    config = member.config_for(member.seeds[0])
    xp = build(config)
    setup = xp.setup
    exp = config.experiment
    keys = jnp.stack([jax.random.key(s) for s in member.seeds])
    series, clim = _run_seeds(
        setup.truth_model, setup.model, setup.operator, setup.noise, xp.method, keys,
        cycles=exp.cycles, truth_every_steps=setup.truth_every_steps,
        every_steps=setup.every_steps,
        ensemble_size=setup.ensemble_size,
        spinup_steps=setup.spinup_steps, initial_std=exp.initial_std,
    )
    series, clim = jax.device_get((series, clim))
    window = min(DIVERGENCE_WINDOW, exp.cycles - exp.burn_in)
    statistics: dict[str, dict[str, list[float | None]]] = {}
    for name in STATISTICS:
        if name not in series:
            continue
        pairs = [time_mean_ci95(np.asarray(s), exp.burn_in) for s in series[name]]
        statistics[name] = {"mean": [m for m, _ in pairs], "ci95": [h for _, h in pairs]}
    diverged = []
    for rmse, threshold in zip(series["rmse_analysis"], clim, strict=True):
        found = find_divergence(np.asarray(rmse), exp.burn_in,
                                divergence_threshold(config, float(threshold)), window)
        diverged.append(None if found is None else found[0])
    return MemberRun(
        name=member.name,
        config=config.to_dict(),
        seeds=list(member.seeds),
        cycles=exp.cycles,
        burn_in=exp.burn_in,
        statistics=statistics,
        diverged_at_cycle=diverged,
        wall_time_s=time.perf_counter() - t0,
        version=__version__,
        git_commit=git_commit(),
        fingerprint=code_fingerprint(),
    )


def _run_hybrid_member(member: Member, *, log, checkpoint) -> MemberRun:
    t0 = time.perf_counter()
    config = member.config_for(member.seeds[0])
    names = statistics_of(config.hybrid.name)
    statistics: dict[str, dict[str, list[float | None]]] = {
        name: {"mean": [], "ci95": []} for name in names}
    notes, details = [], []
    for seed in member.seeds:
        say = None if log is None else (lambda line, s=seed: log(f"  seed {s}: {line}"))
        where = None if checkpoint is None else Path(checkpoint) / f"seed{seed}"
        out = run_hybrid(member.config_for(seed), log=say, checkpoint=where)
        for name in names:
            statistics[name]["mean"].append(out.statistics.get(name))
            statistics[name]["ci95"].append(out.ci95.get(name))
        prefix = f"seed {seed}: " if len(member.seeds) > 1 else ""
        notes += [prefix + line for line in out.notes]
        details.append(out.details)
    return MemberRun(
        name=member.name,
        config=config.to_dict(),
        seeds=list(member.seeds),
        cycles=config.experiment.cycles,
        burn_in=config.experiment.burn_in,
        statistics=statistics,
        diverged_at_cycle=[None] * len(member.seeds),
        wall_time_s=time.perf_counter() - t0,
        version=__version__,
        git_commit=git_commit(),
        fingerprint=code_fingerprint(),
        notes=notes,
        details=details,
    )
