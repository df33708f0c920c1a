"""Throughput of sweeps: a vmapped batch of seeds against one process or one call per seed.

The ETKF of ``examples/etkf.toml`` (DAPPER's ``sakov2008`` set-up: Lorenz-96 n=40, F=8,
dt=0.05, every variable observed every step, R = I, N=28, inflation 1.02) over
``--seeds`` seeds, ``--cycles`` cycles each, timed five ways:

1. ``assimilax run`` processes, one per seed, one after another: CLI start-up,
   compilation, assimilation, files and figures, every time (``--processes`` of them are
   run and the time scaled to ``--seeds``, when fewer);
2. one ``assimilax sweep`` process with every seed in one vmapped batch
   (``--scheduler synchronous``): start-up, compilation, the batch, the store, figures;
3. the vmapped batch alone, in this process, compiled (fastest of ``--repeat`` calls);
4. the runner's compiled single-experiment functions (twin, then the whole assimilation),
   called once per seed in this process, compiled (fastest of ``--repeat`` loops): what
   vmapping gains over a loop;
5. the Dask path: ``sweep(..., scheduler="local")`` in batches of ``--batch-size``, a
   ``LocalCluster`` of one single-threaded worker process per core, start-up included.

    python benchmarks/bench_sweep.py              # 64 seeds, 2,000 cycles, 64 processes
    python benchmarks/bench_sweep.py --quick      # 64 seeds, 1,000 cycles, 8 processes
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE = {
    "model": {"name": "lorenz96", "n": 40, "forcing": 8.0, "dt": 0.05},
    "observations": {"operator": "full", "every_steps": 1, "noise_std": 1.0},
    "method": {"name": "etkf", "ensemble_size": 28, "inflation": 1.02, "rotate": True},
}


def base(cycles: int) -> dict:
    return {**BASE, "experiment": {"cycles": cycles, "burn_in": cycles // 5, "seed": 0}}


def cli() -> list[str]:
    exe = Path(sys.executable).parent / "assimilax"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "assimilax.cli"]


def time_processes(cycles: int, seeds: list[int], work: Path) -> float:
    """Wall time of one ``assimilax run`` process per seed, one after another."""
    from assimilax.io import dumps_toml

    total = 0.0
    for seed in seeds:
        config = base(cycles)
        config["experiment"]["seed"] = seed
        path = work / f"run_{seed}.toml"
        path.write_text(dumps_toml(config))
        out = work / f"run_{seed}"
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        subprocess.run([*cli(), "run", str(path), "--out", str(out), "--no-progress"],
                       check=True, capture_output=True)
        total += time.perf_counter() - t0
    return total


def sweep_text(cycles: int, seeds: int, batch_size: int) -> str:
    from assimilax.io import dumps_toml, toml_value

    return (f"batch_size = {batch_size}\n\n{dumps_toml(base(cycles))}\n[sweep]\n"
            f"seeds = {toml_value(list(range(seeds)))}\n")


def time_sweep_process(cycles: int, seeds: int, work: Path) -> float:
    """Wall time of one ``assimilax sweep`` process, all seeds in one vmapped batch."""
    path = work / "sweep_one_batch.toml"
    path.write_text(sweep_text(cycles, seeds, batch_size=seeds))
    out = work / "sweep_one_batch"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    subprocess.run([*cli(), "sweep", str(path), "--out", str(out), "--scheduler",
                    "synchronous", "--no-progress"], check=True, capture_output=True)
    return time.perf_counter() - t0


def time_in_process(cycles: int, seeds: int, repeat: int):
    """The compiled vmapped batch against the compiled single-experiment functions, the
    fastest of ``repeat`` calls each.

    Returns ``(batch seconds, loop seconds, largest difference of the time-mean RMSEs)``.
    """
    import equinox as eqx
    import jax
    import numpy as np

    from assimilax.da import Save, assimilate
    from assimilax.experiments import (
        Config,
        build,
        climatological_rms,
        simulate_setup,
        twin_keys,
    )
    from assimilax.experiments._sweep import (
        BatchTask,
        Sweep,
        _point_values,
        compute_batch,
        plan_sweep,
    )

    @eqx.filter_jit
    def run_one(model, method, observations, ensemble0, truth, key):
        result = assimilate(model, observations, method, ensemble0, key=key, truth=truth,
                            save=Save(means=False, rank_counts=False))
        return {s.name: result.series[s.name] for s in result.specs if s.dims == ()}

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.toml"
        path.write_text(sweep_text(cycles, seeds, batch_size=seeds))
        from assimilax.experiments import load_sweep

        spec: Sweep = load_sweep(path)
    (batch,) = plan_sweep(spec).batches
    task = BatchTask(batch, tuple(spec.point_data(p) for p in batch.points))
    compute_batch(task)  # compile
    t_batch = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        batched = compute_batch(task)
        t_batch = min(t_batch, time.perf_counter() - t0)

    def one(seed: int):
        """One point as `assimilax run` computes it, through the public API."""
        config = Config.from_dict({**base(cycles), "experiment": {
            **base(cycles)["experiment"], "seed": seed}})
        xp = build(config)
        twin, observations = simulate_setup(xp.setup)
        key = twin_keys(jax.random.key(seed))["assimilation"]
        series = run_one(xp.setup.model, xp.method, observations, twin.ensemble0, twin.truth,
                         key)
        clim = float(climatological_rms(twin.truth))
        return _point_values(config, jax.device_get(series), clim)

    one(0)  # compile
    t_loop = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        rows = [one(seed) for seed in range(seeds)]
        t_loop = min(t_loop, time.perf_counter() - t0)
    loop = np.array([r["rmse_analysis"] for r in rows])
    diff = float(np.nanmax(np.abs(loop - batched["values"]["rmse_analysis"]), initial=0.0))
    return t_batch, t_loop, diff


def time_dask(cycles: int, seeds: int, batch_size: int, work: Path) -> tuple[float, int]:
    from assimilax.experiments import load_sweep, sweep

    path = work / "sweep_dask.toml"
    path.write_text(sweep_text(cycles, seeds, batch_size=batch_size))
    out = work / "sweep_dask"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    result = sweep(load_sweep(path), out, scheduler="local", progress=False, plots=False)
    return time.perf_counter() - t0, result.batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 cycles, 8 processes")
    parser.add_argument("--seeds", type=int, default=64)
    parser.add_argument("--cycles", type=int, default=None, help="default 2,000 (quick 1,000)")
    parser.add_argument("--processes", type=int, default=None,
                        help="assimilax run processes actually run (default: --seeds; "
                        "quick 8), scaled to --seeds")
    parser.add_argument("--batch-size", type=int, default=16, help="of the Dask path")
    parser.add_argument("--repeat", type=int, default=3,
                        help="in-process timings: the fastest of this many calls")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args()
    cycles = args.cycles or (1000 if args.quick else 2000)
    processes = min(args.processes or (8 if args.quick else args.seeds), args.seeds)
    n = args.seeds

    from assimilax.experiments import configure_runtime

    configure_runtime()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"ETKF N=28 on Lorenz-96 (sakov2008), {n} seeds x {cycles:,} cycles, "
          f"{cores} CPU cores\n", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t_proc = time_processes(cycles, list(range(processes)), work) * n / processes
        scaled = "" if processes == n else f" (from {processes}, scaled)"
        rows.append((f"{n} assimilax run processes{scaled}", t_proc))
        rows.append(("1 assimilax sweep process, 1 batch", time_sweep_process(cycles, n, work)))
        t_batch, t_loop, diff = time_in_process(cycles, n, args.repeat)
        rows.append(("vmapped batch, compiled, in-process", t_batch))
        rows.append((f"{n} calls of the compiled run functions", t_loop))
        t_dask, batches = time_dask(cycles, n, args.batch_size, work)
        rows.append((f"Dask LocalCluster, {batches} batches of {args.batch_size}", t_dask))

    print(f"{'path':48s} {'wall s':>9s} {'runs/s':>8s} {'cycles/s':>11s} {'vs processes':>13s}")
    print("-" * 93)
    for name, wall in rows:
        print(f"{name:48s} {wall:9.2f} {n / wall:8.2f} {n * cycles / wall:11,.0f} "
              f"{t_proc / wall:12.1f}x")
    print(f"\nvmapped batch against one process per seed: {t_proc / rows[1][1]:.1f}x "
          f"(whole commands), {t_proc / t_batch:.0f}x (batch alone)")
    print(f"vmapped batch against {n} calls of the compiled single-experiment functions: "
          f"{t_loop / t_batch:.2f}x")
    print(f"Dask path: {n / t_dask:.2f} experiments/s, {n * cycles / t_dask:,.0f} cycles/s "
          "(cluster start-up and compilation included)")
    print(f"largest difference of the time-mean RMSE, batch against single calls: {diff:.1e}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"seeds": n, "cycles": cycles, "cores": cores, "processes_run": processes,
             "rows": [{"path": name, "wall_s": wall} for name, wall in rows],
             "rmse_max_abs_diff": diff}, indent=2))


if __name__ == "__main__":  # the LocalCluster's workers import this file again
    main()
