"""Cycles per second of two versions of assimilax side by side, on DAPPER's set-ups.

Each version runs in its own interpreter (``--before`` and ``--after``: a Python command,
optionally with a ``PYTHONPATH`` pointing at another checkout's ``src``), alternately, so
that both see the same machine load. In each process the experiment is built from the
same config through the public API (``load_config`` + ``build``), the twin simulated,
the whole assimilation compiled once and then timed ``--repeat`` times; each version runs
``--rounds`` such processes, alternating with the other's. The table gives the median
cycles per second of each version over all its timed calls and their ratio (after /
before), with the spread (min-max).

    python benchmarks/bench_versions.py --before "PYTHONPATH=/tmp/before/src .venv/bin/python"

The default ``--after`` is this interpreter. Configs: the ETKF, EnKF-N, LETKF and
stochastic EnKF of ``bench_filters.py`` and 3D-Var of ``bench_var.py`` (sakov2008).
"""

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import textwrap

METHODS = {
    "ETKF": {"name": "etkf", "ensemble_size": 28, "inflation": 1.02, "rotate": True},
    "EnKF-N": {"name": "enkf_n", "ensemble_size": 24, "rotate": True},
    "LETKF": {"name": "letkf", "ensemble_size": 7, "inflation": 1.04, "rotate": True,
              "localization_radius": 4.0},
    "EnKF": {"name": "enkf", "ensemble_size": 40, "inflation": 1.06},
    "3D-Var": {"name": "var3d", "background_scale": 0.02},
    "4D-Var": {"name": "var4d", "window": 4, "background_scale": 0.02, "outer_loops": 10,
               "inner_solver": "cholesky"},
}

CYCLES_SCALE = {"3D-Var": 5, "4D-Var": 0.2}
"""Run lengths as multiples of ``--cycles``: each timed call should last a second or more
(a 3D-Var cycle costs ~12 µs; calls of 0.2 s scattered by ±20 % between processes).
4D-Var's windows of 4 observation times with 10 Gauss-Newton loops cost ~1 ms each."""

WORKER = textwrap.dedent("""
    import json, sys, time
    import equinox as eqx, jax, numpy as np
    from assimilax.experiments import build, configure_runtime, simulate_twin, twin_keys
    from assimilax.experiments import Config
    configure_runtime()
    method, cycles, repeat = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    config = Config.from_dict({
        "model": {"name": "lorenz96", "n": 40, "forcing": 8.0, "dt": 0.05},
        "observations": {"operator": "full", "every_steps": 1, "noise_std": 1.0},
        "method": method, "experiment": {"cycles": cycles, "burn_in": cycles // 5, "seed": 0}})
    built = build(config)
    setup = getattr(built, "setup", built)            # Experiment(setup, method) or Setup
    meth = getattr(built, "method", None) or setup.method
    n_members = method.get("ensemble_size", 1)
    key = jax.random.key(0)
    twin = eqx.filter_jit(simulate_twin)(setup.truth_model, setup.operator, setup.noise,
        cycles=cycles, every_steps=1, ensemble_size=n_members, key=key,
        spinup_steps=setup.spinup_steps)
    from assimilax import da
    variational = type(meth).__module__.startswith("assimilax.da.variational")
    if variational and not hasattr(da, "Save"):  # before the one driver: its own driver
        from assimilax.da.variational import assimilate_variational as run_var
        call = eqx.filter_jit(lambda m, o, e, k, t: run_var(m, o, meth, e.mean(0), truth=t)
                              .rmse_analysis)
    else:
        call = eqx.filter_jit(lambda m, o, e, k, t: da.assimilate(m, o, meth, e, key=k,
                              truth=t).rmse_analysis)
    args = (setup.model, twin.observations, twin.ensemble0, twin_keys(key)["assimilation"],
            twin.truth)
    rmse = np.asarray(jax.block_until_ready(call(*args)))  # compile
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        jax.block_until_ready(call(*args))
        times.append(time.perf_counter() - t0)
    print(json.dumps({"cycles_per_s": [cycles / t for t in times],
                      "rmse": float(rmse[cycles // 5:].mean())}))
""")


def measure(command: str, method: dict, cycles: int, repeat: int) -> dict:
    """Run the worker under ``command`` (``VAR=value ... python``)."""
    words = shlex.split(command)
    env = dict(os.environ)
    while words and "=" in words[0] and not words[0].startswith("="):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    out = subprocess.run([*words, "-c", WORKER, json.dumps(method), str(cycles), str(repeat)],
                         check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the reference version's Python")
    parser.add_argument("--after", default=sys.executable, help="this version's Python")
    parser.add_argument("--cycles", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per process")
    parser.add_argument("--rounds", type=int, default=3,
                        help="processes per version and method, alternately")
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    parser.add_argument("--label", default="the version before the change",
                        help="what --before is, for the docs' table")
    parser.add_argument("--docs", action="store_true",
                        help="write the table into docs/benchmarks.md (block bench_versions)")
    args = parser.parse_args()
    rows = []
    print(f"{'method':8s} {'before c/s (min-max)':>26s} {'after c/s (min-max)':>26s} "
          f"{'ratio':>6s} {'RMSE b/a':>13s}\n" + "-" * 84, flush=True)
    for name in args.methods:
        cycles = round(args.cycles * CYCLES_SCALE.get(name, 1))
        before, after = {"cycles_per_s": []}, {"cycles_per_s": []}
        for _ in range(args.rounds):  # alternately, so that a drift of the load hits both
            for out, python in ((before, args.before), (after, args.after)):
                got = measure(python, METHODS[name], cycles, args.repeat)
                out["cycles_per_s"] += got["cycles_per_s"]
                out["rmse"] = got["rmse"]
        b, a = statistics.median(before["cycles_per_s"]), statistics.median(after["cycles_per_s"])
        row = {"method": name, "cycles": cycles, "before": before, "after": after,
               "median_before": b, "median_after": a, "ratio": a / b}
        rows.append(row)

        def spread(r):
            return f"{min(r['cycles_per_s']):,.0f}-{max(r['cycles_per_s']):,.0f}"

        print(f"{name:8s} {b:>10,.0f} ({spread(before):>13s}) {a:>10,.0f} ({spread(after):>13s}) "
              f"{a / b:6.3f} {before['rmse']:6.3f}/{after['rmse']:6.3f}", flush=True)
    print(f"\nmedian of {args.rounds} x {args.repeat} timed calls of one compiled "
          f"assimilation of {args.cycles:,} observation times (3D-Var {5 * args.cycles:,}, "
          f"4D-Var {args.cycles // 5:,}): "
          f"{args.rounds} processes per version, "
          f"alternately, {args.repeat} calls each")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    if args.docs:
        from _docs import write_block

        for page in write_block("bench_versions", markdown(rows, args)):
            print(f"wrote {page}")


def markdown(rows: list[dict], args) -> str:
    """The docs' table: medians, spreads and ratios of both versions."""
    def spread(r):
        return f"{min(r['cycles_per_s']):,.0f}–{max(r['cycles_per_s']):,.0f}"

    from _docs import machine

    lines = [
        f"Measured on {machine()}: {args.label} against this version, each in its own "
        f"interpreter, alternately ({args.rounds} processes each); median of "
        f"{args.rounds} × {args.repeat} timed calls of {args.cycles:,} observation times "
        f"(3D-Var {5 * args.cycles:,}, 4D-Var {args.cycles // 5:,}); cycles per second are "
        "observation times per second:",
        "",
        "| method | before, cycles/s (min–max) | after, cycles/s (min–max) | after / before "
        "| RMSE before / after |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['median_before']:,.0f} ({spread(r['before'])}) | "
            f"{r['median_after']:,.0f} ({spread(r['after'])}) | {r['ratio']:.3f} | "
            f"{r['before']['rmse']:.3f} / {r['after']['rmse']:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
