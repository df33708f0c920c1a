"""Tuning table of the LETKF on the two-layer QG model: inflation x localisation radius.

The set-up of ``examples/letkf_qg.toml`` (40 x 20 QG, every 4th point of both layers
observed every 6 hours with sigma_o = 0.2, 20 members, 90 days of spin-up), one twin per
seed; for each twin every (inflation, radius) pair runs in one ``vmap``ped program (the
radius and the inflation are traced). Prints, per pair, the time-mean analysis RMSE after
the burn-in (mean and range over the seeds), the analysis spread and the worst cycle.

    python benchmarks/tune_qg.py                                  # the table of docs/models/qg.md
    python benchmarks/tune_qg.py --inflations 1.0 1.02 1.05 --radii 1.5 2.5 4 --seeds 0

About 10 s a seed on one GPU (the 6 pairs, 1000 cycles); about 25 minutes a seed on 2 CPU
cores.
"""

import argparse
import itertools
import json
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from assimilax import models
from assimilax import observations as ob
from assimilax.da import LETKF, assimilate
from assimilax.da.inflation import Multiplicative
from assimilax.da.localization import GaspariCohn
from assimilax.experiments import configure_runtime, simulate_twin, twin_keys


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inflations", type=float, nargs="+", default=[1.01, 1.02, 1.03, 1.05])
    parser.add_argument("--radii", type=float, nargs="+", default=[2.0, 2.5, 3.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--burn-in", type=int, default=200)
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args()
    configure_runtime()
    model = models.QG()
    operator, noise = ob.Every(model.grid, 4), ob.DiagonalNoise(0.2)
    pairs = list(itertools.product(args.inflations, args.radii))
    inflation = jnp.array([p[0] for p in pairs])
    radius = jnp.array([p[1] for p in pairs])
    burn = args.burn_in

    @jax.jit
    def scores(observations, ensemble0, truth, key):
        def one(a, r):
            method = LETKF(inflation=Multiplicative(a), localization=GaspariCohn(r))
            res = assimilate(model, observations, method, ensemble0, key=key, truth=truth)
            ra = res.rmse_analysis[burn:]
            return jnp.mean(ra), jnp.mean(res.spread_analysis[burn:]), jnp.max(ra)

        return jax.vmap(one)(inflation, radius)

    per_seed = []
    for seed in args.seeds:
        key = jax.random.key(seed)
        twin = eqx.filter_jit(simulate_twin)(model, operator, noise, cycles=args.cycles,
                                             every_steps=6, ensemble_size=20, key=key,
                                             spinup_steps=2160, initial_std=1.0)
        t0 = time.perf_counter()
        out = jax.block_until_ready(scores(twin.observations, twin.ensemble0, twin.truth,
                                           twin_keys(key)["assimilation"]))
        per_seed.append(np.stack([np.asarray(o) for o in out]))  # (3, pairs)
        print(f"seed {seed}: {len(pairs)} pairs x {args.cycles} cycles in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
    s = np.stack(per_seed)  # (seed, 3, pair)
    rows = []
    print(f"\n| inflation | radius | analysis RMSE (mean over {len(args.seeds)} seeds, range) "
          "| analysis spread | worst cycle |")
    print("|---|---|---|---|---|")
    for i, (a, r) in enumerate(pairs):
        rmse, spread, worst = s[:, 0, i], s[:, 1, i], s[:, 2, i]
        rows.append({"inflation": a, "radius": r, "rmse": rmse.tolist(),
                     "spread": spread.tolist(), "worst": worst.tolist()})
        print(f"| {a:g} | {r:g} | {rmse.mean():.4f} ({rmse.min():.4f}–{rmse.max():.4f}) | "
              f"{spread.mean():.4f} | {worst.max():.3f} |")
    print(f"\n{args.cycles} cycles of 6 hours, the first {burn} left out; sigma_o = 0.2; "
          f"seeds {args.seeds}; {jax.devices()[0].device_kind}.")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
