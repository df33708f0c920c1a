"""Speed and accuracy of 3D-Var and 4D-Var against DAPPER on the sakov2008 Lorenz-96 set-up.

Lorenz-96 (n=40, F=8, dt=0.05), every variable observed, R = I; B = xB x the
climatological covariance. 3D-Var with observations every step; 4D-Var every 4 steps
(0.2 time units), DAPPER's sliding ``Var4D`` (``Lag`` = window) and our classic scheme.

For assimilax: cycles per second and Gauss-Newton (outer) iterations per second of the
compiled driver (``assimilax.da.assimilate`` under ``jax.jit``; compilation excluded by a
warm-up call on the same shapes, best of ``--repeat``), for both inner solvers
(conjugate gradients, the default, and the dense Cholesky solve). For DAPPER: the marginal
cost per cycle of ``HMM.simulate`` + ``xp.assimilate`` (difference of two run lengths, in a
subprocess), its RMSE, and the speed ratio.

DAPPER 1.8.1's ``Var4D`` calls ``Obs(ko).linear(x)`` and ``Obs(ko)(x)`` and crashes; this
script patches those two calls to ``Obs.linear(x)`` and ``Obs(x)`` in the subprocess (in
memory; nothing installed is changed).

    python benchmarks/bench_var.py             # assimilax 1,500 cycles, DAPPER 100/300
    python benchmarks/bench_var.py --quick     # assimilax 300 cycles, DAPPER 30/90
    DAPPER_PYTHON=/path/to/venv/bin/python python benchmarks/bench_var.py
"""

import argparse
import json
import subprocess
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
from _dapper import find_dapper

from assimilax import models
from assimilax import observations as ob
from assimilax.da import assimilate
from assimilax.da import variational as var
from assimilax.experiments import configure_runtime, simulate_twin

CASES = {
    # name: (every_steps, scheme, window, xB, DAPPER constructor)
    "3D-Var xB=0.02": (1, "3dvar", 1, 0.02, "da.Var3D(xB=0.02)"),
    "4D-Var sliding L=1 xB=0.2": (4, "sliding", 1, 0.2, "da.Var4D(Lag=1, xB=0.2)"),
    "4D-Var sliding L=4 xB=0.02": (4, "sliding", 4, 0.02, "da.Var4D(Lag=4, xB=0.02)"),
    "4D-Var classic L=4 xB=0.02": (4, "classic", 4, 0.02, None),
}
OUTER_LOOPS = 10  # DAPPER's nIter


def make_method(scheme, window, xB, C, inner):
    B = var.DenseCovariance(xB * C)
    if scheme == "3dvar":
        return var.Var3D(B, solver=var.GaussNewton(1, inner))
    solver = var.GaussNewton(OUTER_LOOPS, inner)
    cls = var.SlidingVar4D if scheme == "sliding" else var.Var4D
    return cls(B, window=window, solver=solver)


@eqx.filter_jit
def _run(model, observations, method, x0, truth):
    # A deterministic method starts from the mean of the initial ensemble: one member here.
    return assimilate(model, observations, method, x0[None], key=jax.random.key(0),
                      truth=truth)


def run_assimilax(every, scheme, window, xB, inner, cycles, seed, repeat):
    """(cycles/s, outer iterations/s, time-mean analysis RMSE after 20 % burn-in)."""
    model = models.Lorenz96(n=40, forcing=8.0, dt=0.05)
    twin = simulate_twin(model, ob.Full(40), ob.DiagonalNoise(1.0), cycles=cycles,
                         every_steps=every, ensemble_size=1, key=jax.random.key(seed),
                         spinup_steps=400)
    _, C = var.climatology(model, twin.truth0, samples=20_000)
    method = make_method(scheme, window, xB, C, inner)
    x0 = twin.ensemble0[0]
    jax.block_until_ready(_run(model, twin.observations, method, x0, twin.truth))  # compile
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = jax.block_until_ready(_run(model, twin.observations, method, x0, twin.truth))
        best = min(best, time.perf_counter() - t0)
    windows = cycles / method.times_per_cycle
    outer = method.solver.outer_loops
    rmse = float(jnp.mean(res.rmse_analysis[cycles // 5:]))
    return cycles / best, windows * outer / best, rmse


DAPPER_SCRIPT = r"""
import inspect, json, sys, textwrap, time
import dapper.da_methods as da
import dapper.da_methods.variational as dv
import dapper.mods as modelling
import dapper.tools.seeding as seeding
from dapper.mods.Lorenz96.sakov2008 import HMM
src = textwrap.dedent(inspect.getsource(dv.Var4D._assimilate))
for bad, good in (("Obs(ko).linear(x)", "Obs.linear(x)"), ("Obs(ko)(x)", "Obs(x)")):
    assert bad in src, bad
    src = src.replace(bad, good)
ns = {}
exec(compile(src, "Var4D._assimilate (patched)", "exec"), dv.__dict__, ns)
dv.Var4D._assimilate = ns["assimilate"]
K, dko, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
seeding.set_seed(seed + 1)  # DAPPER refuses the seed 0
HMM.tseq = modelling.Chronology(0.05, dko=dko, Ko=K, BurnIn=0.05 * dko * K / 5)
xp = eval(sys.argv[4])
t0 = time.perf_counter()
xx, yy = HMM.simulate()
xp.assimilate(HMM, xx, yy, liveplots=False)
xp.stats.average_in_time()
print(json.dumps({"wall": time.perf_counter() - t0, "rmse": float(xp.avrgs.err.rms.a.val)}))
"""


def run_dapper(python, ctor, every, cycles, seed):
    proc = subprocess.run(
        [python, "-c", DAPPER_SCRIPT, str(cycles), str(every), str(seed), ctor],
        check=True, capture_output=True, text=True,
    )
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return out["wall"], out["rmse"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--repeat", type=int, default=3, help="timed assimilax runs (best)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", nargs="*", default=list(CASES))
    parser.add_argument("--dapper-python", default=None)
    parser.add_argument("--no-dapper", action="store_true")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args()
    configure_runtime()
    cycles = 300 if args.quick else 1500
    d1, d2 = (30, 90) if args.quick else (100, 300)
    dapper_py = None if args.no_dapper else find_dapper(args.dapper_python)

    rows = []
    head = (f"{'case':28s} {'inner':8s} {'RMSE':>6s} {'cyc/s':>9s} {'GN it/s':>9s} "
            f"{'DAPPER RMSE':>11s} {'DAPPER cyc/s':>12s} {'ratio':>7s}")
    print(head)
    print("-" * len(head))
    for name in args.cases:
        every, scheme, window, xB, ctor = CASES[name]
        dapper = None
        if dapper_py and ctor:
            w1, _ = run_dapper(dapper_py, ctor, every, d1, args.seed)
            w2, rmse_d = run_dapper(dapper_py, ctor, every, d2, args.seed)
            dapper = ((d2 - d1) / (w2 - w1), rmse_d)
        for inner_name, inner in (("cg", var.ConjugateGradient()),
                                  ("cholesky", var.DenseCholesky())):
            cps, ips, rmse = run_assimilax(every, scheme, window, xB, inner, cycles, args.seed,
                                           args.repeat)
            row = {"case": name, "inner": inner_name, "rmse": rmse, "cycles_per_s": cps,
                   "outer_iterations_per_s": ips, "rmse_dapper": None,
                   "cycles_per_s_dapper": None, "ratio": None}
            if dapper:
                row.update(cycles_per_s_dapper=dapper[0], rmse_dapper=dapper[1],
                           ratio=cps / dapper[0])
            rows.append(row)
            print(f"{name:28s} {inner_name:8s} {rmse:6.3f} {cps:9.1f} {ips:9.1f} "
                  + (f"{dapper[1]:11.3f} {dapper[0]:12.2f} {cps / dapper[0]:7.1f}" if dapper
                     else f"{'-':>11s} {'-':>12s} {'-':>7s}"), flush=True)
    if not dapper_py:
        print("\nDAPPER not found: pass --dapper-python or set DAPPER_PYTHON for the comparison.")
    print(f"\nassimilax: {cycles} cycles, best of {args.repeat}, compilation excluded; DAPPER: "
          f"marginal cost between {d1} and {d2} cycles; RMSE after 20 % burn-in, seed "
          f"{args.seed} (one seed: the time means scatter by a few % between seeds; DAPPER's B "
          "is the covariance of its own truth run, poor for short runs such as --quick). "
          f"{OUTER_LOOPS} outer loops for 4D-Var, 1 for 3D-Var (DAPPER's is a direct solve).")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
