"""DAPPER's recorded RMSEs through the command line: ``assimilax sweep`` over seeds.

Each case is a sweep file (an inline base config, ``seeds`` as its axis) run by the real
``assimilax sweep`` command; the claim is on the mean over seeds of the time-mean
analysis RMSE after burn-in. The references are the numbers DAPPER records for these
set-ups (``dapper/mods/Lorenz96/sakov2008.py``, ``dapper/mods/Lorenz63/sakov2012.py`` and
DAPPER's documentation), with the tolerances of the protocol issue: ±10 %, ±15 % for the
iEnKS on Lorenz-96 (DAPPER 1.8.1 measured 0.169 and 0.189 on two seeds of 2,000
cycles), and the band 0.33-0.47 for the 100-particle filter (DAPPER records 0.38; a seed
may lose track for a while).
"""

import math

import pytest
import xarray as xr

from _cli_helpers import cli, finish
from assimilax.io import dumps_toml

pytestmark = pytest.mark.slow

L96 = {"model": {"name": "lorenz96", "n": 40, "forcing": 8.0, "dt": 0.05},
       "observations": {"operator": "full", "every_steps": 1, "noise_std": 1.0}}
L63 = {"model": {"name": "lorenz63", "dt": 0.01},
       "observations": {"operator": "full", "every_steps": 25, "noise_std": math.sqrt(2.0)}}

CASES = {  # id: (set-up, [method], seeds, (low, high))
    "sakov2008-var3d-xB0.02": (L96, {"name": "var3d", "background_scale": 0.02}, 4,
                               (0.41 * 0.9, 0.41 * 1.1)),
    "sakov2008-ienks-N40": (L96, {"name": "ienks", "ensemble_size": 40, "inflation": 1.01,
                                  "rotate": True}, 4, (0.17 * 0.85, 0.17 * 1.15)),
    "sakov2012-ienks-N10": (L63, {"name": "ienks", "ensemble_size": 10, "inflation": 1.02,
                                  "rotate": True}, 4, (0.31 * 0.9, 0.31 * 1.1)),
    "sakov2012-partfilt-N100": (L63, {"name": "particle_filter", "ensemble_size": 100,
                                      "reg": 2.4, "NER": 0.3}, 8, (0.33, 0.47)),
    "sakov2012-optinterp": (L63, {"name": "optinterp"}, 4, (1.25 * 0.9, 1.25 * 1.1)),
    "sakov2012-climatology": (L63, {"name": "climatology"}, 4, (7.6 * 0.9, 7.6 * 1.1)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_dapper_rmse_through_assimilax_sweep(case, tmp_path):
    setup, method, seeds, (low, high) = CASES[case]
    sweep = {**setup, "method": method,
             "experiment": {"cycles": 5000, "burn_in": 500, "seed": 0},
             "sweep": {"seeds": list(range(seeds))}}
    path = tmp_path / f"{case}.toml"
    path.write_text(dumps_toml(sweep), encoding="utf-8")
    finish(cli("sweep", path, "--out", tmp_path / "out", "--scheduler", "synchronous"),
           timeout=1800)
    with xr.open_zarr(tmp_path / "out" / "sweep.zarr") as ds:
        assert not bool(ds["diverged"].any()), f"{case}: a seed diverged"
        per_seed = ds["rmse_analysis"].values
    mean = float(per_seed.mean())
    print(f"{case}: mean {mean:.4f} over {per_seed.size} seeds, per seed {per_seed.round(4)}")
    assert low <= mean <= high, f"{case}: mean {mean:.4f} over seeds {per_seed} not in " \
                                f"[{low:.3f}, {high:.3f}]"
