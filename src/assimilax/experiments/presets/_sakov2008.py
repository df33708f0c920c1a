"""``sakov2008``: the ensemble Kalman filters on Lorenz-96 with dense observations.

Set-up (DAPPER's ``dapper/mods/Lorenz96/sakov2008.py``, after Sakov & Oke 2008): n = 40,
F = 8, dt = 0.05 (RK4), every variable observed at every step with R = I. The published
numbers are the time-mean analysis RMSEs that DAPPER (Raanes et al.) records in that
module's "Suggested tuning" list, reproducing Table 1 of Sakov & Oke (2008) and the
EnKF-N and LETKF scores of Bocquet (2011):

- ``EnKF('PertObs', N=40, infl=1.06)`` 0.22 and ``EnKF('PertObs', N=28, infl=1.08)`` 0.24
  (the stochastic EnKF; Sakov & Oke 2008, Table 1);
- ``EnKF('Sqrt', N=24, infl=1.013, rot=True)`` 0.18 (the ETKF; Table 1);
- ``EnKF('Serial', N=28, infl=1.02, rot=True)`` 0.18: a serial square-root update, which
  for a diagonal R has the ETKF's analysis mean and covariance; claimed here for the ETKF
  with N = 28, infl 1.02 (DAPPER 1.8.1's ``EnKF('Sqrt', N=28, infl=1.02, rot=True)``
  measures 0.177 and 0.178 on two seeds);
- ``EnKF_N(N=24, rot=True)`` 0.21 and ``EnKF_N(N=24, rot=True, xN=2.0)`` 0.18;
- ``LETKF(N=7, rot=True, infl=1.04, loc_rad=4)`` 0.22;
- ``iEnKS('Sqrt', N=40, infl=1.01, rot=True)`` 0.17 (Bocquet & Sakov 2014; DAPPER's docs;
  DAPPER 1.8.1 measures 0.169 and 0.189 on two seeds of 2,000 cycles, hence ±15 %).

DAPPER's numbers are two-digit time means of single runs; the claims allow ±10 %.

Full version: 8 seeds (16 for the LETKF) x 6,000 cycles, the first 1,000 left out
(≥ 5,000 averaged cycles per seed, as the core issue asks; 3 to 7 minutes on 2 shared
CPU cores). Quick version:
8 seeds x 1,300 cycles, burn-in 300 (1,000 averaged cycles; the filters settle within
~100 cycles from an initial spread of 1), its wider interval in the tolerance; about 2
minutes. Measured (full): ETKF N=28 0.176, N=24 0.179; EnKF N=40 0.218, N=28 0.237;
EnKF-N 0.217, xN=2 0.175; LETKF 0.219.

Refs: Sakov & Oke (2008), Tellus A 60(2), 361-371. Bocquet & Sakov (2014), QJRMS 140,
1521-1535. Bocquet (2011), Nonlin. Processes
Geophys. 18, 735-750. Hunt, Kostelich & Szunyogh (2007), Physica D 230, 112-126.
"""

from ._common import lorenz96_full
from ._preset import Claim, Member, Preset

_FILE = "DAPPER mods/Lorenz96/sakov2008.py"
"""Where DAPPER records the numbers claimed here ("Suggested tuning")."""

SEEDS = tuple(range(8))

LETKF_SEEDS = tuple(range(16))
"""The LETKF's seeds in the full version: with N = 7 its seed means scatter more than the
other filters' (8 seeds gave 0.220 ± 0.011, an interval of 51 % of the band; the seed
rule asks at most half)."""

_METHODS = {  # member name: [method] section
    "etkf_28": {"name": "etkf", "ensemble_size": 28, "inflation": 1.02, "rotate": True},
    "etkf_24": {"name": "etkf", "ensemble_size": 24, "inflation": 1.013, "rotate": True},
    "enkf_40": {"name": "enkf", "ensemble_size": 40, "inflation": 1.06},
    "enkf_28": {"name": "enkf", "ensemble_size": 28, "inflation": 1.08},
    "enkf_n_24": {"name": "enkf_n", "ensemble_size": 24, "rotate": True},
    "enkf_n_24_xn2": {"name": "enkf_n", "ensemble_size": 24, "rotate": True, "xN": 2.0},
    "letkf_7": {"name": "letkf", "ensemble_size": 7, "inflation": 1.04, "rotate": True,
                "localization_radius": 4.0},
    "ienks_40": {"name": "ienks", "ensemble_size": 40, "inflation": 1.01, "rotate": True},
}


def _members(quick: bool) -> tuple[Member, ...]:
    cycles, burn_in = (1300, 300) if quick else (6000, 1000)
    return tuple(
        Member(name, lorenz96_full(method, cycles=cycles, burn_in=burn_in),
               LETKF_SEEDS if name == "letkf_7" and not quick else SEEDS)
        for name, method in _METHODS.items()
    )


SAKOV2008 = Preset(
    name="sakov2008",
    reference=(
        "Sakov & Oke (2008), Tellus A 60, 361-371, Table 1; Bocquet (2011), NPG 18, 735-750; "
        "numbers as recorded in DAPPER's dapper/mods/Lorenz96/sakov2008.py (checked with "
        "DAPPER 1.8.1)"
    ),
    description=(
        "Lorenz-96 (n=40, F=8, dt=0.05), every variable observed every step, R=I: ETKF, "
        "stochastic EnKF, EnKF-N, LETKF and iEnKS; time-mean analysis RMSE."
    ),
    members=_members,
    claims=(
        Claim("ETKF N=28, infl 1.02, rotated: analysis RMSE ≈ 0.18", "etkf_28", 0.18,
              kind="published", source=f"{_FILE}, EnKF('Serial', N=28, infl=1.02, rot=True): "
              "for a diagonal R the ETKF's analysis"),
        Claim("ETKF N=24, infl 1.013, rotated: analysis RMSE ≈ 0.18", "etkf_24", 0.18,
              kind="published", source=f"{_FILE} (Sakov & Oke 2008, Table 1), "
              "EnKF('Sqrt', N=24, infl=1.013, rot=True)"),
        Claim("stochastic EnKF N=40, infl 1.06: analysis RMSE ≈ 0.22", "enkf_40", 0.22,
              kind="published", source=f"{_FILE} (Sakov & Oke 2008, Table 1), "
              "EnKF('PertObs', N=40, infl=1.06)"),
        Claim("stochastic EnKF N=28, infl 1.08: analysis RMSE ≈ 0.24", "enkf_28", 0.24,
              kind="published", source=f"{_FILE} (Sakov & Oke 2008, Table 1), "
              "EnKF('PertObs', N=28, infl=1.08)"),
        Claim("EnKF-N N=24, rotated: analysis RMSE ≈ 0.21", "enkf_n_24", 0.21,
              kind="published", source=f"{_FILE}, EnKF_N(N=24, rot=True)"),
        Claim("EnKF-N N=24, xN=2, rotated: analysis RMSE ≈ 0.18", "enkf_n_24_xn2", 0.18,
              kind="published", source=f"{_FILE}, EnKF_N(N=24, rot=True, xN=2.0)"),
        Claim("LETKF N=7, infl 1.04, radius 4, rotated: analysis RMSE ≈ 0.22", "letkf_7",
              0.22, kind="published",
              source=f"{_FILE}, LETKF(N=7, rot=True, infl=1.04, loc_rad=4)"),
        Claim("iEnKS N=40, infl 1.01, rotated: analysis RMSE ≈ 0.17", "ienks_40", 0.17,
              rel_tol=0.15, kind="published",
              source="DAPPER's documentation of iEnKS('Sqrt', N=40, infl=1.01, rot=True) on "
              f"this set-up (not in {_FILE}); ±15 %: DAPPER 1.8.1 gave 0.169 and 0.189 on two "
              "seeds of 2,000 cycles"),
    ),
)
