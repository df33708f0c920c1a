"""Config builders shared by the presets: the classical DAPPER set-ups."""

from __future__ import annotations

import math
from typing import Any

from ..config import Config


def experiment(cycles: int, burn_in: int) -> dict[str, Any]:
    """An ``[experiment]`` section (the seed is set per member seed)."""
    return {"cycles": cycles, "burn_in": burn_in, "seed": 0}


def lorenz96_full(method: dict[str, Any], *, cycles: int, burn_in: int) -> Config:
    """DAPPER's ``Lorenz96/sakov2008`` twin: n=40, F=8, dt=0.05 (RK4), every variable
    observed every step with R = I."""
    return Config.from_dict({
        "model": {"name": "lorenz96", "n": 40, "forcing": 8.0, "dt": 0.05},
        "observations": {"operator": "full", "every_steps": 1, "noise_std": 1.0},
        "method": method,
        "experiment": experiment(cycles, burn_in),
    })


def lorenz63_sparse(method: dict[str, Any], *, cycles: int, burn_in: int) -> Config:
    """DAPPER's ``Lorenz63/sakov2012`` twin: dt=0.01 (RK4), all 3 variables observed every
    25 steps (0.25 time units) with R = 2 I."""
    return Config.from_dict({
        "model": {"name": "lorenz63", "sigma": 10.0, "rho": 28.0, "beta": 8.0 / 3.0,
                  "dt": 0.01},
        "observations": {"operator": "full", "every_steps": 25, "noise_std": math.sqrt(2.0)},
        "method": method,
        "experiment": experiment(cycles, burn_in),
    })
