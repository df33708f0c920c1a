"""DAPPER's own time-mean analysis RMSEs on its sakov2012 Lorenz-63 set-up, over many seeds.

The reference runs behind the ``reference-run`` claims of the ``sakov2012`` preset: the
two lines of DAPPER's ``mods/Lorenz63/sakov2012.py`` whose recorded numbers are not met
here, ``EnKF('Sqrt', N=3, infl=1.30)`` (recorded 0.80) and ``EnKF('PertObs', N=10,
infl=1.04)`` (0.65), run with DAPPER itself over the preset's run length (6,000 cycles,
the first 1,000 left out) and seeds, in DAPPER's interpreter:

    python benchmarks/dapper_sakov2012.py --dapper-python /tmp/dapper171/bin/python

(DAPPER 1.7.1 installs on Python 3.11: ``pip install dapper==1.7.1``.) Writes
``benchmarks/results/dapper_sakov2012.json``: per method, the per-seed RMSEs, their mean
and the 95 % Student-t half-width. DAPPER refuses the seed 0, so seed ``s`` of the table is
DAPPER's ``set_seed(s + 1)``.
"""

import argparse
import json
import math
import statistics
import subprocess
from pathlib import Path

from _dapper import find_dapper

METHODS = {
    "etkf_3": "da.EnKF('Sqrt', N=3, infl=1.30)",
    "enkf_10": "da.EnKF('PertObs', N=10, infl=1.04)",
}

SCRIPT = """
import json, sys
import dapper.da_methods as da
import dapper.mods as modelling
import dapper.tools.seeding as seeding
from dapper.mods.Lorenz63.sakov2012 import HMM
ctor, cycles, burn_in, seeds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
HMM.tseq = modelling.Chronology(0.01, dko=25, Ko=cycles, BurnIn=0.25 * burn_in)
out = []
for seed in map(int, seeds.split(",")):
    seeding.set_seed(seed + 1)
    xp = eval(ctor)
    xx, yy = HMM.simulate()
    xp.assimilate(HMM, xx, yy, liveplots=False)
    xp.stats.average_in_time()
    out.append(float(xp.avrgs.err.rms.a.val))
import dapper
print(json.dumps({"rmse": out, "dapper": dapper.__version__}))
"""

T_975 = {15: 2.131}  # Student t quantiles for 16 seeds; others via scipy when present


def t_quantile(df: int) -> float:
    try:
        from scipy import stats

        return float(stats.t.ppf(0.975, df))
    except ImportError:
        return T_975[df]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dapper-python", default=None)
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--cycles", type=int, default=6000)
    parser.add_argument("--burn-in", type=int, default=1000)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"
                                             / "dapper_sakov2012.json"))
    args = parser.parse_args()
    python = find_dapper(args.dapper_python)
    if python is None:
        parser.error("DAPPER not found: pass --dapper-python or set DAPPER_PYTHON")
    seeds = list(range(args.seeds))
    out = Path(args.out)
    rows = json.loads(out.read_text()) if out.is_file() else {}  # other methods kept
    for name in args.methods:
        ctor = METHODS[name]
        proc = subprocess.run([python, "-c", SCRIPT, ctor, str(args.cycles), str(args.burn_in),
                               ",".join(map(str, seeds))], check=True, capture_output=True,
                              text=True)
        got = json.loads(proc.stdout.strip().splitlines()[-1])
        rmse = got["rmse"]
        mean = statistics.fmean(rmse)
        half = t_quantile(len(rmse) - 1) * statistics.stdev(rmse) / math.sqrt(len(rmse))
        rows[name] = {"constructor": ctor, "seeds": seeds, "rmse": rmse, "mean": mean,
                      "ci95": half, "dapper": got["dapper"], "cycles": args.cycles,
                      "burn_in": args.burn_in}
        print(f"{name:8s} {ctor:40s} {mean:.4f} ± {half:.4f} over {len(rmse)} seeds "
              f"(DAPPER {got['dapper']})", flush=True)
        out.write_text(json.dumps(rows, indent=2) + "\n")  # after each method
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
