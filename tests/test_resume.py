"""Long runs write their progress as they go and resume after an interruption, with the
numbers of an uninterrupted run; the rank histogram of a run."""


import jax
import numpy as np
import pytest

from _cli_helpers import cli, finish, kill_after_first_checkpoint, same_results
from assimilax.experiments import Config, run
from assimilax.experiments import _run as runner
from assimilax.io import _partial_run as partial_run
from assimilax.io import names, read_json, read_results


def config(**experiment) -> Config:
    return Config.from_dict({
        "model": {"name": "lorenz96", "n": 40},
        "observations": {"operator": "full", "noise_std": 1.0},
        "method": {"name": "etkf", "ensemble_size": 20, "inflation": 1.04},
        "experiment": {"cycles": 300, "burn_in": 50, "seed": 4, "chunk_cycles": 50,
                       **experiment},
    })


class Interrupt(Exception):
    pass


def test_interrupted_run_resumes_with_identical_numbers(tmp_path, monkeypatch):
    cfg = config()
    reference = tmp_path / "reference"
    run(cfg, reference, progress=False, flush_seconds=0.0)
    assert not (reference / partial_run.PARTIAL_STORE).exists()  # cleaned up when done
    assert not (reference / partial_run.CHECKPOINT_FILE).exists()

    out = tmp_path / "interrupted"
    save = partial_run.save_checkpoint
    calls = []

    def save_then_stop(out_dir, done, leaves):
        save(out_dir, done, leaves)
        calls.append(done)
        if len(calls) == 3:
            raise Interrupt

    monkeypatch.setattr(partial_run, "save_checkpoint", save_then_stop)
    with pytest.raises(Interrupt):
        run(cfg, out, progress=False, flush_seconds=0.0)
    assert calls == [50, 100, 150]
    assert not (out / names.SUMMARY_FILE).exists()
    monkeypatch.setattr(partial_run, "save_checkpoint", save)
    summary = run(cfg, out, progress=False, flush_seconds=0.0)
    assert summary.resumed_at_cycle == 150 and summary.cycles == 300
    ds = same_results(reference, out)
    assert ds.attrs["resumed_at_cycle"] == 150
    assert read_json(out / names.SUMMARY_FILE)["rmse_analysis"] == pytest.approx(
        read_json(reference / names.SUMMARY_FILE)["rmse_analysis"], abs=0)


def test_records_beyond_the_checkpoint_are_recomputed(tmp_path, monkeypatch):
    """A flush of records killed before its checkpoint: the records are ignored."""
    cfg = config(cycles=200)
    out = tmp_path / "run"
    save = partial_run.save_checkpoint

    def stop_before_the_second(out_dir, done, leaves):
        if done == 100:
            raise Interrupt  # records of cycles 50-99 are written, the checkpoint is not
        save(out_dir, done, leaves)

    monkeypatch.setattr(partial_run, "save_checkpoint", stop_before_the_second)
    with pytest.raises(Interrupt):
        run(cfg, out, progress=False, flush_seconds=0.0)
    monkeypatch.setattr(partial_run, "save_checkpoint", save)
    summary = run(cfg, out, progress=False, flush_seconds=0.0)
    assert summary.resumed_at_cycle == 50
    reference = tmp_path / "reference"
    run(cfg, reference, progress=False)  # one flush at the end
    same_results(reference, out)


def test_a_checkpoint_off_the_chunk_grid_is_not_used(tmp_path):
    cfg = config(cycles=100)
    carry = np.zeros((20, 40))  # an ensemble filter's carry: the analysis ensemble
    shapes = {"rmse_analysis": jax.ShapeDtypeStruct((50,), np.float64)}
    runner._create_partial(tmp_path, cfg, shapes, 50, "unknown")
    partial_run.save_checkpoint(tmp_path, 30, [np.zeros((20, 40))])
    assert runner._resume(tmp_path, carry, 100, 50) == (None, None)
    partial_run.save_checkpoint(tmp_path, 50, [np.zeros((20, 41))])  # other shapes
    assert runner._resume(tmp_path, carry, 100, 50) == (None, None)
    partial_run.save_checkpoint(tmp_path, 50, [np.ones((20, 40))])
    (done, ensemble), pieces = runner._resume(tmp_path, carry, 100, 50)
    assert done == 50 and np.all(np.asarray(ensemble) == 1.0)
    assert pieces["rmse_analysis"][0].shape == (50,)


def test_rank_histogram_in_results(tmp_path):
    cfg = config(cycles=150)
    run(cfg, tmp_path, progress=False)
    ds = read_results(tmp_path / names.RESULTS_FILE)
    counts = ds["rank_histogram"].values
    assert counts.shape == (21,)  # N + 1 ranks
    assert counts.sum() == (150 - 50) * 40  # cycles after burn-in x variables
    # A filter that tracks the truth puts it inside the ensemble most of the time.
    assert counts[1:-1].sum() > 0.5 * counts.sum()


@pytest.mark.slow  # a subprocess killed and resumed: the slow suite
def test_kill_9_and_resume_gives_the_uninterrupted_numbers(tmp_path):
    """``kill -9`` in the middle of a run, then the same command: the results equal those of
    an uninterrupted run, with nothing missing and nothing twice."""
    cfg = config(cycles=8000, burn_in=1000, chunk_cycles=200)
    path = tmp_path / "long.toml"
    path.write_text(cfg.to_toml())
    out = tmp_path / "killed"
    proc = cli("run", path, "--out", out, "--no-progress", "--flush-seconds", "0")
    done = kill_after_first_checkpoint(proc, out)
    assert 0 < done < 8000, done
    assert not (out / names.SUMMARY_FILE).exists()

    resumed = cli("run", path, "--out", out, "--no-progress")
    reference = cli("run", path, "--out", tmp_path / "reference", "--no-progress")
    for p in (resumed, reference):
        finish(p)
    summary = read_json(out / names.SUMMARY_FILE)
    assert summary["resumed_at_cycle"] == done
    ds = same_results(tmp_path / "reference", out)
    assert ds.sizes["time"] == 8000
    assert np.array_equal(ds["cycle"].values, np.arange(8000))  # no gaps, no duplicates
