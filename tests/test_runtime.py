"""The process-wide runtime settings: XLA's CPU flags and the on-disk compilation cache."""

import os

import jax
import pytest

from assimilax.experiments import _runtime
from assimilax.experiments._runtime import CACHE_ENV, compilation_cache_dir


@pytest.mark.parametrize("value", ["off", "OFF", "0", "false", "no", ""])
def test_cache_switched_off(monkeypatch, value):
    monkeypatch.setenv(CACHE_ENV, value)
    assert compilation_cache_dir() is None
    assert _runtime.enable_compilation_cache() is None


def test_cache_directory_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "c"))
    assert compilation_cache_dir() == str(tmp_path / "c")


def test_cache_directory_defaults_to_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compilation_cache_dir() == os.path.join(str(tmp_path), "assimilax", "jax")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert compilation_cache_dir() == os.path.join(os.path.expanduser("~"), ".cache",
                                                   "assimilax", "jax")


def test_a_directory_that_cannot_be_made_leaves_the_cache_off(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "jax"))
    before = jax.config.jax_compilation_cache_dir
    assert _runtime.enable_compilation_cache() is None
    assert jax.config.jax_compilation_cache_dir == before


def test_cache_is_set_where_it_can_be_made(monkeypatch, tmp_path):
    before = jax.config.jax_compilation_cache_dir
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "jax"))
    try:
        assert _runtime.enable_compilation_cache() == str(tmp_path / "jax")
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "jax")
        assert (tmp_path / "jax").is_dir()
    finally:
        jax.config.update("jax_compilation_cache_dir", before)


def test_compile_clock_measures_nested_compilation_once():
    """Tracing a program traces the programs it calls: the clock takes the union of the
    spans, so it never exceeds the wall time, and counts nothing once compiled."""
    import time

    import jax.numpy as jnp

    inner = jax.jit(lambda x: jnp.sin(x) * 2.0)
    outer = jax.jit(lambda x: inner(x) @ inner(x).T + 1.0)
    x = jnp.arange(9.0).reshape(3, 3)
    with _runtime.CompileClock() as clock:
        t0 = time.time()
        outer(x).block_until_ready()
        wall = time.time() - t0
    assert 0 < clock.seconds <= wall
    with _runtime.CompileClock() as again:
        outer(x).block_until_ready()
    assert again.seconds == 0.0


@pytest.mark.slow  # two real `assimilax run` processes, compiling from cold: 25 s
def test_a_second_run_loads_its_programs_from_the_cache(tmp_path):
    """Two ``assimilax run`` processes on one cache: the second loads the programs the
    first compiled, compiles for less time, and reports its start-up."""
    import json
    import subprocess

    from _cli_helpers import ASSIMILAX

    env = {**os.environ, CACHE_ENV: str(tmp_path / "cache")}
    summaries, outputs = [], []
    for i in range(2):
        out = tmp_path / f"run{i}"
        done = subprocess.run(
            [str(ASSIMILAX), "run", "--out", str(out), "--no-progress",
             "--set", "experiment.cycles=200", "--set", "experiment.burn_in=50"],
            env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
        summaries.append(json.loads((out / "summary.json").read_text()))
    first, second = summaries
    assert second["programs_from_cache"] >= first["programs_from_cache"] + 10
    assert second["compile_s"] < first["compile_s"]
    assert all("start-up" in text for text in outputs)
    assert first["rmse_analysis"] == second["rmse_analysis"]  # same numbers from the cache
