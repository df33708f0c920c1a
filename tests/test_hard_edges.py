"""Bad input beyond the shape of a config: NaN and inf in a config or in arrays passed to
the Python API, output directories that cannot be written, and the hard edges of long
runs and sweeps: corrupt or truncated progress files on resume, ``--restart``, a full
disk in the middle of a run or sweep, SIGINT and SIGTERM. Each is reported with a
message naming the input or file and the fix, with a non-zero exit of the command;
nothing is half-written and no finished result is touched. The cases and messages are
listed in docs/robustness.md."""

import errno
import os
import signal
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

from _cli_helpers import ASSIMILAX, same_results
from assimilax import io as rio
from assimilax.cli import app
from assimilax.da import ETKF, assimilate
from assimilax.experiments import _run as run_module
from assimilax.experiments import build, load_sweep, run, simulate_twin, sweep
from assimilax.experiments import presets as P
from assimilax.experiments.config import Config
from assimilax.io import CorruptRunFileError, ProgressWriteError, names
from assimilax.io import _partial_run as partial_run
from assimilax.models import Lorenz96
from assimilax.observations import DiagonalNoise, Full

runner = CliRunner()

SMALL = {
    "model": {"name": "lorenz96", "n": 40},
    "observations": {"operator": "full", "noise_std": 1.0},
    "method": {"name": "etkf", "ensemble_size": 20, "inflation": 1.02},
    "experiment": {"cycles": 200, "burn_in": 50, "seed": 1},
}

TOML = """
[model]
name = "lorenz96"
n = 40
[observations]
operator = "full"
noise_std = 1.0
[method]
name = "etkf"
ensemble_size = 20
inflation = {inflation}
[experiment]
cycles = 200
burn_in = 50
"""


# ----------------------------------------------------------------------------- configs


@pytest.mark.parametrize(("value", "message"), [
    ("nan", "[method] inflation"),
    ("inf", "[method] inflation"),
    ('"high"', "[method] inflation"),
])
def test_a_non_finite_or_non_numeric_config_value_is_refused(value, message, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(TOML.format(inflation=value))
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists()


def test_a_non_finite_override_is_refused(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text(TOML.format(inflation=1.02))
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out"),
                                 "--set", "observations.noise_std=nan"])
    assert result.exit_code == 2 and "noise_std" in result.output
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- arrays


@pytest.fixture(scope="module")
def twin():
    xp = build(Config.from_dict(SMALL))
    s = xp.setup
    tw = simulate_twin(s.truth_model, s.operator, s.noise, cycles=20, every_steps=1,
                       ensemble_size=10, key=jax.random.key(0))
    return xp.setup.model, tw


def _assimilate(model, tw, **changes):
    args = {"observations": tw.observations, "initial": tw.ensemble0, "truth": tw.truth}
    args.update(changes)
    return assimilate(model, args["observations"], ETKF(), args["initial"],
                      key=jax.random.key(1), truth=args["truth"])


def test_nan_in_the_initial_ensemble_is_named_with_its_index(twin):
    model, tw = twin
    bad = tw.ensemble0.at[3, 7].set(jnp.nan)
    with pytest.raises(ValueError, match=r"assimilate: initial has 1 non-finite value "
                       r"\(the first: nan at index \(3, 7\), of shape \(10, 40\)\)"):
        _assimilate(model, tw, initial=bad)


def test_inf_in_the_truth_is_named(twin):
    model, tw = twin
    bad = tw.truth.at[5, 0].set(jnp.inf)
    with pytest.raises(ValueError, match=r"assimilate: truth has 1 non-finite value.*\(5, 0\)"):
        _assimilate(model, tw, truth=bad)


def test_nan_in_an_unmasked_observation_is_refused_and_a_masked_one_is_not(twin):
    model, tw = twin
    obs = tw.observations
    bad_y = obs.y.at[4, 2].set(jnp.nan)
    unmasked = type(obs)(obs.operator, obs.noise, bad_y, obs.mask, obs.every_steps)
    with pytest.raises(ValueError, match=r"observations.y has 1 non-finite value \(unmasked "
                       r"the first: nan at index \(4, 2\)"):
        _assimilate(model, tw, observations=unmasked)
    masked = type(obs)(obs.operator, obs.noise, bad_y, obs.mask.at[4, 2].set(False),
                       obs.every_steps)
    result = _assimilate(model, tw, observations=masked)
    assert np.isfinite(np.asarray(result.rmse_analysis)).all()


def test_inside_jit_the_arrays_are_not_inspected(twin):
    """Traced values cannot be read: the check is at the API's boundary, not in programs."""
    model, tw = twin
    f = jax.jit(lambda e: _assimilate(model, tw, initial=e).rmse_analysis)
    assert np.isfinite(np.asarray(f(tw.ensemble0))).all()


def test_simulate_twin_refuses_a_nan_model_parameter_and_spread():
    with pytest.raises(ValueError, match=r"simulate_twin: truth_model\.forcing is nan"):
        simulate_twin(Lorenz96(n=40, forcing=float("nan")), Full(40), DiagonalNoise(1.0),
                      cycles=5, every_steps=1, ensemble_size=4, key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"simulate_twin: initial_std is inf"):
        simulate_twin(Lorenz96(n=40), Full(40), DiagonalNoise(1.0), cycles=5, every_steps=1,
                      ensemble_size=4, key=jax.random.key(0), initial_std=float("inf"))


# ----------------------------------------------------------------------------- directories


def _unwritable(tmp_path: Path) -> Path:
    """A directory that cannot be created: its parent is a file (read-only modes do not
    stop root, so that case is checked separately below)."""
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    return blocker / "out"


def test_run_refuses_an_unwritable_directory_before_computing(tmp_path):
    out = _unwritable(tmp_path)
    with pytest.raises(Exception, match=r"cannot write the run into .*a_file/out: "
                       r".*nothing was computed"):
        run(Config.from_dict(SMALL), out, progress=False)
    path = tmp_path / "ok.toml"
    path.write_text(TOML.format(inflation=1.02))
    result = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert result.exit_code == 2 and "cannot write the run into" in result.output


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="file modes do not bind root")
def test_run_refuses_a_read_only_directory(tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        with pytest.raises(Exception, match="cannot write the run into"):
            run(Config.from_dict(SMALL), out, progress=False)
        assert list(out.iterdir()) == []
    finally:
        out.chmod(0o755)


def test_sweep_and_reproduce_refuse_an_unwritable_directory(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(TOML.format(inflation=1.02) + "\n[sweep]\nseeds = [0, 1]\n")
    with pytest.raises(Exception, match="cannot write the sweep into"):
        sweep(load_sweep(spec), _unwritable(tmp_path), scheduler="synchronous",
              progress=False)
    with pytest.raises(P.ReproduceDirError, match="cannot write the reproduction into"):
        P.reproduce("wilks2005", _unwritable(tmp_path), quick=True)
    assert not (tmp_path / names.SUMMARY_FILE).exists()


# ----------------------------------------------------------------------------- long runs

LONG = {**SMALL, "experiment": {**SMALL["experiment"], "chunk_cycles": 50}}
"""200 cycles in 4 chunks of 50: flushed after each chunk with ``flush_seconds=0``."""


class _Stop(Exception):
    pass


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of :data:`LONG` and its config file."""
    root = tmp_path_factory.mktemp("reference")
    cfg = Config.from_dict(LONG)
    run(cfg, root / "run", progress=False)
    path = root / "long.toml"
    path.write_text(cfg.to_toml())
    return root / "run", path


def _interrupted(out: Path, monkeypatch) -> None:
    """A run of :data:`LONG` stopped after its first checkpoint (cycle 50)."""
    save = partial_run.save_checkpoint

    def save_then_stop(out_dir, done, leaves):
        save(out_dir, done, leaves)
        raise _Stop

    monkeypatch.setattr(partial_run, "save_checkpoint", save_then_stop)
    with pytest.raises(_Stop):
        run(Config.from_dict(LONG), out, progress=False, flush_seconds=0.0)
    monkeypatch.setattr(partial_run, "save_checkpoint", save)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garble(path: Path) -> None:
    path.write_bytes(b"not what was written" * 8)


def _a_chunk(store: Path, name: str) -> Path:
    return next(p for p in sorted((store / name).rglob("*")) if p.is_file()
                and not p.name.startswith((".", "zarr.json")))


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("damage", ["truncated checkpoint.npz", "garbage checkpoint.npz",
                                    "corrupt chunk of partial.zarr"])
def test_a_corrupt_or_truncated_checkpoint_or_partial_store_is_reported_on_resume(
        damage, reference, tmp_path, monkeypatch):
    """Nothing is changed; ``--restart`` discards the progress and computes from cycle 0."""
    ref, path = reference
    out = tmp_path / "run"
    _interrupted(out, monkeypatch)
    if damage.startswith("truncated"):
        _truncate(out / partial_run.CHECKPOINT_FILE)
    elif damage.startswith("garbage"):
        _garble(out / partial_run.CHECKPOINT_FILE)
    else:
        _garble(_a_chunk(out / partial_run.PARTIAL_STORE, "rmse_analysis"))
    before = _snapshot(out)
    with pytest.raises(CorruptRunFileError, match=r"(checkpoint\.npz|partial\.zarr) is "
                       r"corrupt or truncated .*nothing was changed. Run the same command "
                       r"with --restart"):
        run(Config.from_dict(LONG), out, progress=False)
    result = runner.invoke(app, ["run", str(path), "--out", str(out), "--no-progress"])
    assert result.exit_code == 2, result.output
    assert "is corrupt or truncated" in result.output and "--restart" in result.output
    assert _snapshot(out) == before
    result = runner.invoke(app, ["run", str(path), "--out", str(out), "--no-progress",
                                 "--restart"])
    assert result.exit_code == 0, result.output
    assert rio.read_json(out / names.SUMMARY_FILE)["resumed_at_cycle"] is None
    same_results(ref, out)


def test_restart_refuses_a_directory_of_another_config(reference, tmp_path):
    """``--restart`` discards progress of the same config only."""
    ref, _ = reference
    other = tmp_path / "other.toml"
    other.write_text(TOML.format(inflation=1.05))
    before = _snapshot(ref)
    result = runner.invoke(app, ["run", str(other), "--out", str(ref), "--restart"])
    assert result.exit_code == 2, result.output
    assert "holds a run of a different configuration" in result.output
    assert _snapshot(ref) == before


def test_restart_recomputes_a_finished_run(reference, tmp_path):
    ref, path = reference
    out = tmp_path / "run"
    run(Config.from_dict(LONG), out, progress=False)
    summary = run(Config.from_dict(LONG), out, progress=False, restart=True)
    assert not summary.reused
    same_results(ref, out)


def _enospc_on_call(n: int, write):
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return write(*args, **kwargs)

    return failing


def test_a_full_disk_in_the_middle_of_a_run_keeps_the_last_checkpoint(
        reference, tmp_path, monkeypatch):
    """The second flush fails with ENOSPC: the checkpoint of cycle 50 is intact, and the
    same command resumes from it to the numbers of an uninterrupted run."""
    ref, path = reference
    out = tmp_path / "run"
    write = partial_run.write_partial
    monkeypatch.setattr(partial_run, "write_partial", _enospc_on_call(2, write))
    with pytest.raises(ProgressWriteError, match=r"no space left on device writing "
                       r".*partial\.zarr at cycle 100: the checkpoint of cycle 50 is intact; "
                       r"free space and run the same command to resume"):
        run(Config.from_dict(LONG), out, progress=False, flush_seconds=0.0)
    assert not (out / names.SUMMARY_FILE).exists()
    monkeypatch.setattr(partial_run, "write_partial", _enospc_on_call(1, write))
    result = runner.invoke(app, ["run", str(path), "--out", str(out), "--no-progress",
                                 "--flush-seconds", "0"])
    assert result.exit_code == 74, result.output
    assert "the checkpoint of cycle 50 is intact" in result.output
    monkeypatch.setattr(partial_run, "write_partial", write)
    summary = run(Config.from_dict(LONG), out, progress=False, flush_seconds=0.0)
    assert summary.resumed_at_cycle == 50
    same_results(ref, out)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_sigint_or_sigterm_in_the_middle_of_a_run_saves_its_progress(
        signum, code, reference, tmp_path, monkeypatch):
    """The signal arrives in the second chunk; the run stops after it, writes its
    checkpoint (though ``flush_seconds`` has not elapsed) and the same command resumes."""
    ref, path = reference
    out = tmp_path / "run"
    chunk = run_module._assimilate_chunk
    calls = []

    def signalled(*args):
        calls.append(1)
        if len(calls) == 3:  # the first call is the runner's filter_eval_shape
            os.kill(os.getpid(), signum)
        return chunk(*args)

    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    monkeypatch.setattr(run_module, "_assimilate_chunk", signalled)
    result = runner.invoke(app, ["run", str(path), "--out", str(out), "--no-progress"])
    assert result.exit_code == code, result.output
    name = signal.Signals(signum).name
    assert f"interrupted by {name} at cycle 100 of 200; progress saved in" in result.output
    assert "run the same command to resume" in result.output
    assert {s: signal.getsignal(s) for s in handlers} == handlers  # restored
    assert partial_run.load_checkpoint(out)[0] == 100
    monkeypatch.setattr(run_module, "_assimilate_chunk", chunk)
    result = runner.invoke(app, ["run", str(path), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert rio.read_json(out / names.SUMMARY_FILE)["resumed_at_cycle"] == 100
    same_results(ref, out)


# ----------------------------------------------------------------------------- sweeps


@pytest.fixture(scope="module")
def sweep_reference(tmp_path_factory):
    """A sweep of three seeds in three batches, uninterrupted, and its file."""
    root = tmp_path_factory.mktemp("sweep")
    path = root / "s.toml"
    path.write_text("batch_size = 1\n" + TOML.format(inflation=1.02)
                    + "\n[sweep]\nseeds = [0, 1, 2]\n")
    result = sweep(load_sweep(path), root / "reference", scheduler="synchronous",
                   progress=False, plots=False)
    return result.dataset(), path


def _sweep_cli(path, out, *more):
    return runner.invoke(app, ["sweep", str(path), "--out", str(out), "--scheduler",
                               "synchronous", "--no-progress", *more])


def _same_sweep(a, b):
    for name in ("rmse_analysis", "spread_analysis", "done"):
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


def test_a_full_disk_in_the_middle_of_a_sweep_keeps_the_written_points(
        sweep_reference, tmp_path, monkeypatch):
    """The second batch's write fails with ENOSPC; the same command resumes."""
    ref, path = sweep_reference
    out = tmp_path / "sweep"
    write = rio.write_sweep_points
    monkeypatch.setattr(rio, "write_sweep_points", _enospc_on_call(2, write))
    with pytest.raises(ProgressWriteError, match=r"no space left on device writing "
                       r".*sweep\.zarr \(batch 1\): the 1 of 3 points written before are "
                       r"intact; free space and run the same command to resume"):
        sweep(load_sweep(path), out, scheduler="synchronous", progress=False, plots=False)
    assert rio.read_sweep_done(out / rio.sweep_store.STORE).sum() == 1
    monkeypatch.setattr(rio, "write_sweep_points", _enospc_on_call(1, write))
    result = _sweep_cli(path, out)
    assert result.exit_code == 74, result.output
    assert "points written before are intact" in result.output
    monkeypatch.setattr(rio, "write_sweep_points", write)
    result = sweep(load_sweep(path), out, scheduler="synchronous", progress=False,
                   plots=False)
    assert result.computed == 2
    _same_sweep(ref, result.dataset())


@pytest.mark.parametrize("damage", ["corrupt done chunk", "corrupt metadata"])
def test_a_corrupt_sweep_store_is_reported_on_resume(damage, sweep_reference, tmp_path,
                                                     monkeypatch):
    """Nothing is changed; ``--restart`` discards the store and computes every point."""
    ref, path = sweep_reference
    out = tmp_path / "sweep"
    store = out / rio.sweep_store.STORE
    write = rio.write_sweep_points
    monkeypatch.setattr(rio, "write_sweep_points", _enospc_on_call(2, write))
    with pytest.raises(ProgressWriteError):
        sweep(load_sweep(path), out, scheduler="synchronous", progress=False, plots=False)
    monkeypatch.setattr(rio, "write_sweep_points", write)
    if damage == "corrupt done chunk":
        _garble(_a_chunk(store, "done"))
    else:
        _garble(store / ".zmetadata")
        _garble(store / ".zattrs")
    before = _snapshot(out)
    with pytest.raises(CorruptRunFileError, match=r"sweep\.zarr is corrupt or truncated .*"
                       r"nothing was changed. Run the same command with --restart"):
        sweep(load_sweep(path), out, scheduler="synchronous", progress=False, plots=False)
    result = _sweep_cli(path, out)
    assert result.exit_code == 2, result.output
    assert "is corrupt or truncated" in result.output and "--restart" in result.output
    assert _snapshot(out) == before
    result = _sweep_cli(path, out, "--restart")
    assert result.exit_code == 0, result.output
    _same_sweep(ref, rio.open_sweep(store))


def test_sigint_in_the_middle_of_a_sweep_stops_after_the_batch(sweep_reference, tmp_path,
                                                               monkeypatch):
    """The signal arrives while the first batch is written: the sweep stops after it,
    exits with 130, and the same command computes the other batches."""
    ref, path = sweep_reference
    out = tmp_path / "sweep"
    write = rio.write_sweep_points

    def signalled(*args):
        os.kill(os.getpid(), signal.SIGINT)
        return write(*args)

    monkeypatch.setattr(rio, "write_sweep_points", signalled)
    result = _sweep_cli(path, out)
    assert result.exit_code == 130, result.output
    assert "interrupted by SIGINT with 1 of 3 points done; progress saved in" in result.output
    monkeypatch.setattr(rio, "write_sweep_points", write)
    result = sweep(load_sweep(path), out, scheduler="synchronous", progress=False,
                   plots=False)
    assert result.computed == 2
    _same_sweep(ref, result.dataset())


# ----------------------------------------------------------------------------- hybrid


@pytest.mark.parametrize("damage", ["truncated tree.eqx", "garbage latest.json",
                                    "missing step folder"])
def test_a_corrupt_hybrid_checkpoint_is_reported(damage, tmp_path):
    """The checkpoint of a hybrid run's last iteration (``DIR/checkpoint``) is read back
    before any iteration is run again."""
    like = {"w": jnp.zeros((3, 4)), "b": jnp.zeros(4)}
    rio.write_step(tmp_path, 2, tree={"w": jnp.ones((3, 4)), "b": jnp.ones(4)},
                   arrays={"analysis": np.ones((5, 4))}, meta={"records": []})
    folder = tmp_path / "step_002"
    if damage == "truncated tree.eqx":
        _truncate(folder / "tree.eqx")
    elif damage == "garbage latest.json":
        _garble(tmp_path / "latest.json")
    else:
        for p in folder.iterdir():
            p.unlink()
        folder.rmdir()
    with pytest.raises(CorruptRunFileError, match=r"is corrupt or truncated .*nothing was "
                       r"changed. Run the same command with --restart"):
        rio.read_step(tmp_path, like=like)


# ----------------------------------------------------------------------------- processes


@pytest.mark.slow  # a real `assimilax run` process, signalled and resumed
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signalled_assimilax_run_process_resumes_to_the_uninterrupted_numbers(
        signum, code, tmp_path):
    """``assimilax run`` gets the signal in the middle of its chunks (default
    ``--flush-seconds``, so the checkpoint is the one the signal forces)."""
    import subprocess

    cycles = 20000  # some seconds of chunks once compiled (cached)
    cfg = Config.from_dict({**SMALL, "method": {**SMALL["method"], "inflation": 1.04},
                            "experiment": {"cycles": cycles, "burn_in": 500, "seed": 4,
                                           "chunk_cycles": 100}})
    path = tmp_path / "long.toml"
    path.write_text(cfg.to_toml())
    out = tmp_path / "signalled"
    command = [str(ASSIMILAX), "run", str(path), "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    reference = subprocess.Popen([*command[:4], str(tmp_path / "reference"),
                                  "--no-progress"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while (not (out / partial_run.PARTIAL_STORE).exists() and proc.poll() is None
           and time.monotonic() < deadline):
        time.sleep(0.01)
    time.sleep(0.3)  # in the chunks (the store is created before the first)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    message = err.decode()
    assert proc.returncode == code, message
    name = signal.Signals(signum).name
    assert f"interrupted by {name} at cycle" in message
    assert "run the same command to resume" in message
    done = partial_run.load_checkpoint(out)[0]
    assert 0 < done < cycles and not (out / names.SUMMARY_FILE).exists()
    resumed = subprocess.run(command, capture_output=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr.decode()
    _, err = reference.communicate(timeout=300)
    assert reference.returncode == 0, err.decode()
    assert rio.read_json(out / names.SUMMARY_FILE)["resumed_at_cycle"] == done
    a = rio.read_results(tmp_path / "reference" / names.RESULTS_FILE)["rmse_analysis"]
    b = rio.read_results(out / names.RESULTS_FILE)["rmse_analysis"]
    np.testing.assert_array_equal(a.values, b.values)
