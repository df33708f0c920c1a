"""DAPPER's EnKF and ours, cycle by cycle, on one shared truth, observation record and
initial ensemble (DAPPER's ``Lorenz63/sakov2012`` set-up).

The evidence behind the two ``sakov2012`` lines that sit above DAPPER's recorded numbers,
``EnKF('Sqrt', N=3, infl=1.30)`` and ``EnKF('PertObs', N=10, infl=1.04)``. DAPPER runs its
own ``EnKF.assimilate`` (in its own interpreter) and records, per cycle, the forecast
ensemble handed to ``EnKF_analysis``, the ensemble after ``post_process`` (inflation), the
raw draws of its perturbed observations and its initial ensemble ``X0.sample(N)``. Then,
on the same arrays, this script checks three things separately:

1. **forecast**: our Lorenz-63 (RK4, dt = 0.01) over the 25 steps between analyses, from
   DAPPER's analysis ensemble at cycle k-1, against DAPPER's forecast ensemble at k;
2. **analysis**: our analysis (raw update, then inflation of the anomalies) of DAPPER's
   forecast ensemble at k, with DAPPER's perturbations for ``PertObs``, against DAPPER's
   inflated analysis at k;
3. **cycling**: our whole ``assimilate`` from DAPPER's initial ensemble on DAPPER's truth
   and observations (deterministic for ``Sqrt``): the first cycle at which the two
   analysis means part by more than 1e-6, and the two time-mean RMSEs.

    python benchmarks/dapper_stepwise.py --dapper-python /tmp/dapper171/bin/python

Prints one table per method (largest differences over all cycles) and writes
``benchmarks/results/dapper_stepwise.json``.
"""

import argparse
import json
import subprocess
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
from _dapper import find_dapper

METHODS = {
    "etkf_3": ("Sqrt", 3, 1.30),
    "enkf_10": ("PertObs", 10, 1.04),
}

SCRIPT = r"""
import sys
import numpy as np
import dapper
import dapper.da_methods as da
import dapper.da_methods.ensemble as ens
import dapper.mods as modelling
import dapper.tools.seeding as seeding
from dapper.mods.Lorenz63.sakov2012 import HMM

upd, N, infl, cycles, seed, out = (sys.argv[1], int(sys.argv[2]), float(sys.argv[3]),
                                   int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
HMM.tseq = modelling.Chronology(0.01, dko=25, Ko=cycles - 1, BurnIn=0.25)
seeding.set_seed(seed)
xx, yy = HMM.simulate()
rec = {"Ef": [], "Ea": [], "draws": []}
analysis, post_process = ens.EnKF_analysis, ens.post_process

def recording_analysis(E, Eo, hnoise, y, upd_a, stats=None, ko=None):
    rec["Ef"].append(E.copy())
    sample = hnoise.sample
    def recording_sample(n):
        d = sample(n)
        rec["draws"].append(np.array(d, copy=True))
        return d
    hnoise.sample = recording_sample
    try:
        return analysis(E, Eo, hnoise, y, upd_a, stats, ko)
    finally:
        del hnoise.sample

def recording_post_process(E, infl, rot):
    Ea = post_process(E, infl, rot)
    rec["Ea"].append(Ea.copy())
    return Ea

x0_sample = HMM.X0.sample
def recording_x0(n):
    E = x0_sample(n)
    rec["E0"] = E.copy()
    return E

ens.EnKF_analysis, ens.post_process, HMM.X0.sample = (recording_analysis,
                                                     recording_post_process, recording_x0)
xp = da.EnKF(upd, N=N, infl=infl)
xp.assimilate(HMM, xx, yy, liveplots=False)
rms_a = np.asarray(xp.stats.err.rms.a, dtype=float)
draws = np.array(rec["draws"]) if rec["draws"] else np.zeros((0, N, 3))
arrays = dict(truth=xx[HMM.tseq.kko], y=[np.asarray(v, float) for v in yy], E0=rec["E0"],
              Ef=rec["Ef"], Ea=rec["Ea"], draws=draws, rms_a=rms_a)
arrays = {k: np.asarray(v, dtype=float) for k, v in arrays.items()}  # yy: an object array
np.savez(out, version=np.array(dapper.__version__), **arrays)
"""


def dapper_record(python: str, upd: str, N: int, infl: float, cycles: int, seed: int) -> dict:
    """Run DAPPER's ``EnKF(upd, N, infl)`` on a fresh sakov2012 twin; its recorded arrays."""
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "rec.npz")
        proc = subprocess.run([python, "-c", SCRIPT, upd, str(N), str(infl), str(cycles),
                               str(seed), out], capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f"DAPPER failed:\n{proc.stderr[-3000:]}")
        with np.load(out) as f:
            return {k: f[k] for k in f.files}


def compare(rec: dict, upd: str, N: int, infl: float, burn_in: int) -> dict:
    """The three checks of the module docstring on one DAPPER record."""
    import jax
    import jax.numpy as jnp

    from assimilax.da import Window, assimilate
    from assimilax.da.ensemble import _enkf
    from assimilax.experiments import Config
    from assimilax.models import forecast_ensemble
    from assimilax.observations import DiagonalNoise, Observations

    jax.config.update("jax_enable_x64", True)
    name = "etkf" if upd == "Sqrt" else "enkf"
    method_cfg = {"name": name, "ensemble_size": N, "inflation": infl}
    if name == "etkf":
        method_cfg["rotate"] = False
    config = Config.from_dict({
        "model": {"name": "lorenz63", "sigma": 10.0, "rho": 28.0, "beta": 8.0 / 3.0,
                  "dt": 0.01},
        "observations": {"operator": "full", "every_steps": 25, "noise_std": 2.0 ** 0.5},
        "method": method_cfg,
        "experiment": {"cycles": len(rec["y"]), "burn_in": burn_in, "seed": 0},
    })
    model = config.model.build()
    operator, noise = config.observations.build(model.grid)
    assert isinstance(noise, DiagonalNoise)
    method = config.method.build(model)
    y, Ef, Ea, truth = (jnp.asarray(rec[k]) for k in ("y", "Ef", "Ea", "truth"))
    mask = jnp.ones_like(y, dtype=bool)
    key = jax.random.key(0)

    # 1. forecast: DAPPER's analysis at k-1 (its initial ensemble for k = 0) over 25 steps
    starts = jnp.concatenate([jnp.asarray(rec["E0"])[None], Ea[:-1]])
    ours_f = jax.vmap(lambda E: forecast_ensemble(model, E, 25, key=key))(starts)
    forecast_diff = np.abs(np.asarray(ours_f - Ef)).max(axis=(1, 2))

    # 2. analysis of DAPPER's forecast, its perturbations whitened (R = 2 I)
    def one(E, yk, draws):  # DAPPER's draws replace the method's own (whitened: R = 2 I)
        window = Window(yk[None], jnp.ones((1, yk.shape[0]), bool), operator, noise, 25)
        with mock.patch.object(_enkf, "standard_normal", lambda *a, **k: draws / noise.std):
            return method.analysis(E, window, key=key)  # traced here, under the patch

    draws = jnp.asarray(rec["draws"]) if upd == "PertObs" else jnp.zeros_like(Ef)
    ours_a = jax.vmap(one)(Ef, y, draws)
    analysis_diff = np.abs(np.asarray(ours_a - Ea)).max(axis=(1, 2))

    # 3. the whole cycle from DAPPER's initial ensemble, on its truth and observations
    obs = Observations(operator, noise, y, mask, 25)
    result = assimilate(model, obs, method, jnp.asarray(rec["E0"]), key=key, truth=truth)
    mean_diff = np.abs(np.asarray(result.series["mean_analysis"]) - np.asarray(Ea.mean(1)))
    apart = np.flatnonzero(mean_diff.max(axis=1) > 1e-6)
    ours_rms = np.asarray(result.series["rmse_analysis"])
    dapper_rms = np.asarray(rec["rms_a"])
    return {
        "dapper": str(rec["version"]),
        "cycles": len(y),
        "forecast_max_abs_diff": float(forecast_diff.max()),
        "analysis_max_abs_diff": float(analysis_diff.max()),
        "analysis_max_rel_diff": float(analysis_diff.max() / np.abs(np.asarray(Ea)).max()),
        "first_cycle_means_apart": int(apart[0]) if apart.size else None,
        "rmse_dapper": float(dapper_rms[burn_in:].mean()),
        "rmse_ours_same_inputs": float(ours_rms[burn_in:].mean()),
        "rmse_ours_one_step": float(np.sqrt(((np.asarray(ours_a.mean(1)) - np.asarray(truth))
                                             ** 2).mean(1))[burn_in:].mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dapper-python", default=None)
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--cycles", type=int, default=6000)
    parser.add_argument("--burn-in", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1, help="DAPPER's set_seed (not 0)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"
                                             / "dapper_stepwise.json"))
    args = parser.parse_args()
    python = find_dapper(args.dapper_python)
    if python is None:
        parser.error("DAPPER not found: pass --dapper-python or set DAPPER_PYTHON")
    out = Path(args.out)
    rows = json.loads(out.read_text()) if out.is_file() else {}
    for name in args.methods:
        upd, N, infl = METHODS[name]
        rec = dapper_record(python, upd, N, infl, args.cycles, args.seed)
        row = {"constructor": f"EnKF('{upd}', N={N}, infl={infl})", "seed": args.seed,
               "burn_in": args.burn_in, **compare(rec, upd, N, infl, args.burn_in)}
        rows[name] = row
        print(f"{name}: {row['constructor']}, DAPPER {row['dapper']}, {row['cycles']} cycles, "
              f"set_seed({args.seed})")
        for key in ("forecast_max_abs_diff", "analysis_max_abs_diff", "analysis_max_rel_diff",
                    "first_cycle_means_apart", "rmse_dapper", "rmse_ours_same_inputs",
                    "rmse_ours_one_step"):
            print(f"  {key:28s} {row[key]}")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
