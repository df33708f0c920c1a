"""Helpers of the tests that drive the real ``assimilax`` command in a subprocess."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from assimilax.io import _partial_run as partial_run
from assimilax.io import names, read_results

ASSIMILAX = Path(sys.executable).parent / "assimilax"
"""The console script of this environment's assimilax."""


def cli(*args, **kwargs) -> subprocess.Popen:
    """Start ``assimilax ARGS...``; stdout is dropped, stderr kept for the failure message."""
    return subprocess.Popen(
        [str(ASSIMILAX), *map(str, args)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kwargs,
    )


def finish(proc: subprocess.Popen, timeout: float = 600) -> None:
    """Wait for ``proc`` and fail with its standard error unless it exited with 0."""
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}:\n{err.decode()}"


def kill_after_first_checkpoint(proc: subprocess.Popen, out: Path, timeout: float = 300) -> int:
    """``kill -9`` a running ``assimilax run ... --out OUT --flush-seconds 0`` as soon as
    it has written a checkpoint; returns the cycles that checkpoint holds."""
    checkpoint = out / partial_run.CHECKPOINT_FILE
    deadline = time.monotonic() + timeout
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, (
        f"the run ended (exit {proc.returncode}) before it could be killed:\n{err.decode()}")
    return int(np.load(checkpoint)["__done__"])


def same_results(a: Path, b: Path):
    """Assert that the ``results.nc`` of two run directories hold the same numbers; returns
    the dataset of ``b``."""
    ra, rb = read_results(a / names.RESULTS_FILE), read_results(b / names.RESULTS_FILE)
    assert set(ra.data_vars) == set(rb.data_vars)
    for name in ra.data_vars:
        np.testing.assert_array_equal(ra[name].values, rb[name].values, err_msg=name)
    np.testing.assert_array_equal(ra["time"].values, rb["time"].values)
    return rb
