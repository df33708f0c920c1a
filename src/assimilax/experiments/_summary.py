"""What a finished run leaves in ``summary.json``, and where runs go by default."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from .. import io as rio

_names = rio.names


@dataclasses.dataclass
class Summary:
    """What ``summary.json`` holds: time means after burn-in and the run's provenance.

    Attributes:
        rmse_analysis, rmse_forecast: time-mean RMSE of the analysis and forecast means.
        rmse_analysis_ci95: half-width of the 95 % interval of ``rmse_analysis``
            (autocorrelation-corrected, :func:`assimilax.metrics.time_mean_ci`).
        spread_analysis, spread_forecast: time-mean ensemble spread (``None`` for
            methods without an ensemble).
        means: the time means of the method's other scalar series, by name (a
            smoother's ``rmse_smoothed``, ...); written at the top level of
            ``summary.json`` and read as attributes (``summary.rmse_smoothed``).
        diverged: whether the divergence criterion was met (also when the check is off).
        diverged_at_cycle: the cycle where it was first met, else ``None``.
        cycles: analysis cycles run.
        wall_time_s: seconds from config to files (simulation, compilation, assimilation,
            writing).
        cycles_per_second: ``cycles / wall_time_s``.
        config: the resolved config (every default written out).
        seed, version, git_commit: provenance.
        versions: versions of assimilax and of the packages its numbers depend on
            (:func:`assimilax.experiments.package_versions`; ``None`` in older summaries).
        resumed_at_cycle: the cycle this process resumed an interrupted run at, else
            ``None`` (``wall_time_s`` then counts this process only).
        hybrid: for a config with ``[hybrid]``, what its method reported: ``{"name",
            "statistics", "ci95", "notes", "details"}`` (see
            :class:`assimilax.experiments.hybrids.HybridOutcome`); else ``None``. The
            per-cycle means above are then those of the final analyses
            (``iterative_emulation``) or ``None`` (``emulator_4dvar``).
        startup_s: seconds from the call of the run to its first cycle computing: the
            set-up, the twin's simulation and every compilation up to the first chunk's
            (or the load of the programs from the on-disk compilation cache); ``None``
            for hybrid runs and older summaries.
        compile_s: the part of ``startup_s`` spent tracing, lowering and compiling
            programs or loading them from the on-disk cache (read from JAX's monitoring
            events, :class:`assimilax.experiments._runtime.CompileClock`).
        programs_from_cache: programs the run loaded from the on-disk compilation cache.
        out_dir: the run directory (not stored).
        reused: ``True`` when the run was found finished on disk, not recomputed.
    """

    rmse_analysis: float | None
    rmse_analysis_ci95: float | None
    rmse_forecast: float | None
    spread_analysis: float | None
    spread_forecast: float | None
    diverged: bool
    diverged_at_cycle: int | None
    cycles: int
    wall_time_s: float
    cycles_per_second: float
    config: dict[str, Any]
    seed: int
    version: str
    git_commit: str
    resumed_at_cycle: int | None = None
    versions: dict[str, str] | None = None
    hybrid: dict[str, Any] | None = None
    means: dict[str, float | None] = dataclasses.field(default_factory=dict)
    startup_s: float | None = None
    compile_s: float | None = None
    programs_from_cache: int | None = None
    out_dir: Path | None = dataclasses.field(default=None, compare=False)
    reused: bool = dataclasses.field(default=False, compare=False)

    def __getattr__(self, name: str) -> float | None:
        # Only reached for names that are not fields: the means of a method's own series.
        means = self.__dict__.get("means", {})
        if name in means:
            return means[name]
        raise AttributeError(f"{type(self).__name__} has no {name!r}")

    def to_dict(self) -> dict[str, Any]:
        """The ``summary.json`` content."""
        data = dataclasses.asdict(self)
        del data["out_dir"], data["reused"]
        means = data.pop("means")
        if data["hybrid"] is None:  # plain runs keep the summary of the DESIGN contract
            del data["hybrid"]
        return {**data, **{k: v for k, v in means.items() if k not in data}}

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], *, out_dir: Path | None = None, reused: bool = False
    ) -> Summary:
        fields = {f.name for f in dataclasses.fields(cls)} - {"out_dir", "reused", "means"}
        optional = {"resumed_at_cycle", "versions", "hybrid", "startup_s", "compile_s",
                    "programs_from_cache"}
        missing = fields - optional - set(data)
        if missing:
            raise ValueError(f"summary is missing {sorted(missing)}")
        means = {k: v for k, v in data.items() if k not in fields
                 and (v is None or isinstance(v, int | float)) and not isinstance(v, bool)}
        return cls(**{k: data[k] for k in fields if k in data}, means=means, out_dir=out_dir,
                   reused=reused)


def default_out_dir(config_path: str | Path | None) -> Path:
    """``runs/<config file stem>``, or ``runs/default`` for the built-in config."""
    return Path("runs") / ("default" if config_path is None else Path(config_path).stem)


def load_summary(out_dir: str | Path) -> Summary:
    """The summary of a finished run in ``out_dir``.

    Raises:
        FileNotFoundError: ``out_dir`` holds no finished run.
    """
    out_dir = Path(out_dir)
    path = out_dir / _names.SUMMARY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{out_dir} holds no finished run (no {_names.SUMMARY_FILE}).")
    return Summary.from_dict(rio.read_json(path), out_dir=out_dir)
