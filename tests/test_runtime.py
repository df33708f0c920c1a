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
