"""Process-wide JAX settings for twin experiments, applied by the runner and the CLI."""

import os

import jax

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
    Programs are cached from 0.2 s of compilation upwards. Returns the directory used, or
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
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
