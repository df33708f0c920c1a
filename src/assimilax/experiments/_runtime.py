"""Process-wide JAX settings for twin experiments, applied by the runner and the CLI."""

from __future__ import annotations

import os

import jax
from jax import monitoring

#: XLA CPU flags for small-state data assimilation. The concurrency-optimised scheduler
#: runs independent operations of one program on several threads; for the many tiny
#: operations of an ensemble analysis (matrices of tens of rows) the hand-offs cost more
#: than they save: an ETKF cycle on Lorenz-96 (N=28) takes about 130 us with it and 53 us
#: without it on 2 cores (``benchmarks/bench_filters.py``).
XLA_CPU_FLAGS = ("--xla_cpu_enable_concurrency_optimized_scheduler=false",)


def configure_runtime() -> None:
    """Enable float64 and add :data:`XLA_CPU_FLAGS` to ``XLA_FLAGS``.

    The flags take effect only if no JAX computation has run yet in this process (XLA
    reads ``XLA_FLAGS`` when its CPU backend starts); flags already in ``XLA_FLAGS``
    are left as the user set them.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    for flag in XLA_CPU_FLAGS:
        if flag.split("=")[0] not in flags:
            flags = f"{flags} {flag}".strip()
    os.environ["XLA_FLAGS"] = flags
    jax.config.update("jax_enable_x64", True)


#: Environment variable that sets the directory of the on-disk compilation cache, or
#: switches it off with ``off`` (also ``0``, ``false``, ``no``).
CACHE_ENV = "ASSIMILAX_COMPILATION_CACHE"

_OFF = {"off", "0", "false", "no", ""}


def compilation_cache_dir() -> str | None:
    """The directory of the on-disk compilation cache, or ``None`` when it is off.

    ``$ASSIMILAX_COMPILATION_CACHE`` when set (``off`` switches the cache off), else
    ``$XDG_CACHE_HOME/assimilax/jax`` (``~/.cache/assimilax/jax``).
    """
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in _OFF else os.path.expanduser(value)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "assimilax", "jax")


def enable_compilation_cache() -> str | None:
    """Keep compiled XLA programs on disk (JAX's persistent compilation cache).

    A second run of the same experiment in a new process then loads its programs instead
    of compiling them again; the cache key covers the program, the backend, the device
    and the versions of jax and jaxlib, so a changed program or machine compiles anew.
    Every program is cached, however short its compilation: a run compiles some thirty
    small programs, and caching only those above JAX's default threshold left the
    start-up of a second ``assimilax run`` as long as the first's (the default LETKF:
    7.3 s then 3.9 s with every program cached, 2.5 s of it imports). Returns the
    directory used, or
    ``None`` where the cache is off (:data:`CACHE_ENV`) or the directory cannot be made
    (the run then compiles as usual).
    """
    path = compilation_cache_dir()
    if path is None:
        return None
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return None
    if not os.access(path, os.W_OK):
        return None
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


_COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",  # XLA compilation, or the cache load
)
_CACHE_HIT = "/jax/compilation_cache/cache_hits"
_CACHE_MISS = "/jax/compilation_cache/cache_misses"


class CompileClock:
    """Seconds JAX spends tracing, lowering and compiling (or loading from the on-disk
    cache) while the clock is on, read from :mod:`jax.monitoring`'s events.

    The events nest (tracing a program traces the programs it calls), so the clock
    measures the union of their time spans, not their sum.

    Attributes:
        cache_hits, cache_misses: programs loaded from, and compiled into, the
            persistent cache (both 0 when it is off; programs compiled in under its
            threshold are neither).

    Use as a context manager: ``with CompileClock() as clock: ...``.
    """

    def __init__(self) -> None:
        self._spans: list[tuple[float, float]] = []
        self.cache_hits = 0
        self.cache_misses = 0

    @property
    def seconds(self) -> float:
        """Seconds covered by at least one compilation event so far."""
        total, reach = 0.0, float("-inf")
        for start, end in sorted(self._spans):
            if end > reach:
                total += end - max(start, reach)
                reach = end
        return total

    def _span(self, event: str, start: float, end: float, **_) -> None:
        if event in _COMPILE_EVENTS:
            self._spans.append((start, end))

    def _event(self, event: str, **_) -> None:
        if event == _CACHE_HIT:
            self.cache_hits += 1
        elif event == _CACHE_MISS:
            self.cache_misses += 1

    def __enter__(self) -> CompileClock:
        monitoring.register_event_time_span_listener(self._span)
        monitoring.register_event_listener(self._event)
        return self

    def __exit__(self, *exc) -> None:
        monitoring.unregister_event_time_span_listener(self._span)
        monitoring.unregister_event_listener(self._event)


def process_age_s() -> float | None:
    """Seconds since this process started (Linux ``/proc``), else ``None``."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
