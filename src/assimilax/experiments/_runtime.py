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
