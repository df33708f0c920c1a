"""Test configuration: float64 and strict dtype promotion in every test.

Set here, never at import time of the package (DESIGN.md, convention 12).

Two settings keep the suite within its time and memory:

- Compiled programs are cached on disk (``.cache/jax-tests`` of the checkout, or
  ``$ASSIMILAX_COMPILATION_CACHE``), shared through the environment by the test process
  and the ``assimilax`` processes it starts, so a program is compiled once per machine.
- After each test module the compiled programs are released (``jax.clear_caches``):
  every XLA CPU executable keeps memory mappings, and a process that keeps the programs
  of the whole suite reaches the kernel's limit of 65,530 mappings and dies in the
  compiler (a segmentation fault in ``backend_compile``); it also slows down as its
  caches grow.
"""

import gc
import os
from pathlib import Path

from assimilax.experiments._sweep import worker_env  # imports JAX, computes nothing

# Under pytest-xdist (``make test`` runs a worker per core) each worker has the
# environment of a sweep's Dask worker: one compute thread (BLAS and XLA), so that the
# workers share the cores instead of thread pools competing for them.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.update(worker_env())
# The default suite compiles far more than it computes: its programs are small and run
# for seconds, so LLVM's optimisation passes cost more than they save (measured on
# test_ienks.py and test_cycle.py: 102 s at the default level, 74 s at 0). The slow suite
# keeps the default (``ASSIMILAX_TEST_XLA_OPT`` overrides); the flag reaches the
# ``assimilax`` processes the tests start through the environment.
_OPT = os.environ.get("ASSIMILAX_TEST_XLA_OPT", "0")
if "--xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", "") and _OPT != "default":
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + f" --xla_backend_optimization_level={_OPT}").strip()
os.environ.setdefault("ASSIMILAX_COMPILATION_CACHE",
                      str(Path(__file__).resolve().parents[1] / ".cache" / "jax-tests"))

import jax  # noqa: E402
import pytest  # noqa: E402

from assimilax.experiments import configure_runtime, enable_compilation_cache  # noqa: E402

configure_runtime()  # float64 and the XLA CPU flags the runner uses
enable_compilation_cache()
# The test process caches only programs that took 0.2 s or more to compile (JAX's
# default): the suite compiles thousands of small ones, cheaper to compile than to write.
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Release the compiled programs of a test module once it has run."""
    yield
    jax.clear_caches()
    gc.collect()


SLOW_TIMEOUT = 1800
"""Seconds a ``slow`` test may run (the default suite's limit is ``timeout`` of
pyproject.toml); a test may set its own with ``@pytest.mark.timeout``."""


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT))
