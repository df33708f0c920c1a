"""``brajard2020``: a Lorenz-96 surrogate learned from sparse, noisy observations alone.

Brajard, Carrassi, Bocquet & Bertino (2020): Lorenz-96 (n = 40, F = 8, RK4, dt = 0.05);
at every step a random half of the variables is observed with σ_o = 1. Starting from a
space-time interpolation of the observations, the iterative_emulation hybrid alternates
(1) training the authors' CNN (bilinear layer, resolvent x + f(x)) on the current
analyses, weighted by 1 / (σ_a² + 0.01), and (2) EnKF-N (N = 30) with the surrogate as
forecast model and additive model noise of variance 0.05 per step over the whole record.

Claims: the interpolation starts near the paper's 2.4; the analysis RMSE of the last
iteration is below 1.5; the last surrogate's forecasts stay useful (RMSE below half the
climatological standard deviation) for at least one Lyapunov time (1/λ₁, λ₁ = 1.67). The
per-iteration analysis RMSE is in the member's notes.

Quick: 4,000 steps, 15 iterations (60 + 14 x 40 epochs), one seed: about 2 minutes on 2
quiet CPU cores (8 in the slow suite's contention). Full: the paper's 40,000 steps, 20
iterations (20 + 19 x 10 epochs), 8 seeds: about 12 minutes per seed. Measured (seed 0,
2 CPU cores): quick, interpolation 2.32, analyses 1.44, 1.15, 1.04, ..., 0.71, valid
time 1.34 Lyapunov times; full, interpolation 2.32, analyses 1.25, 1.03, 0.93, ..., 0.63,
valid time 1.92 Lyapunov times (the abstract: "up to 2").

Refs: Brajard, Carrassi, Bocquet & Bertino (2020), J. Comput. Sci. 44, 101171,
doi:10.1016/j.jocs.2020.101171.
"""

from ..config import Config
from ._common import experiment
from ._preset import Claim, Member, Preset


def brajard_config(*, steps: int, iterations: int, epochs_first: int = 60, epochs: int = 40,
                   seed: int = 0) -> Config:
    """The paper's twin and loop: L96 n=40 F=8 dt=0.05, random 50 % observed, σ_o = 1,
    EnKF-N (N=30), the Brajard CNN trained on variance-weighted analyses (Adam 1e-3,
    minibatches of 128; ``epochs_first`` epochs on the interpolation, ``epochs`` warm-started
    epochs on each later set of analyses)."""
    return Config.from_dict({
        "model": {"name": "lorenz96", "n": 40, "forcing": 8.0, "dt": 0.05},
        "observations": {"operator": "random", "fraction": 0.5, "every_steps": 1,
                         "noise_std": 1.0},
        "method": {"name": "enkf_n", "ensemble_size": 30},
        "experiment": {**experiment(steps, 0), "seed": seed},
        "ml": {"network": "brajard_cnn", "widths": [24, 37], "epochs": epochs, "batch_size": 128,
               "learning_rate": 1e-3, "loss": "variance_weighted"},
        "hybrid": {"name": "iterative_emulation", "iterations": iterations,
                   "epochs_first": epochs_first, "model_noise_std": 1.0,
                   "skill_every": 5 if iterations > 5 else 1},
    })


def _members(quick: bool) -> tuple[Member, ...]:
    if quick:
        return (Member("cnn_enkf_n", brajard_config(steps=4000, iterations=15), (0,)),)
    # ten times the pairs per epoch: a quarter of the epochs is 2.5x the updates
    config = brajard_config(steps=40_000, iterations=20, epochs_first=20, epochs=10)
    return (Member("cnn_enkf_n", config, FULL_SEEDS),)


FULL_SEEDS = tuple(range(8))
"""The full version's seeds: a network trained per seed, so the seed-to-seed scatter is
the interval (the seed rule of the claims: at least 3, and an interval at most half the
band)."""


BRAJARD2020 = Preset(
    name="brajard2020",
    reference=(
        "Brajard, Carrassi, Bocquet & Bertino (2020), J. Comput. Sci. 44, 101171: iterative "
        "DA-ML emulation of Lorenz-96 from sparse noisy observations (Sect. 4, p = 50 %, "
        "σ_o = 1; the abstract's forecast skill up to 2 Lyapunov times)"
    ),
    description=(
        "Lorenz-96 (n=40, F=8, dt=0.05), a random 50 % of the variables observed every step "
        "with σ_o=1; CNN surrogate trained on EnKF-N (N=30) analyses, iterated."
    ),
    members=_members,
    paper=True,
    claims=(
        Claim("space-time interpolation: RMSE ≈ 2.4", "cnn_enkf_n", 2.4,
              statistic="rmse_interpolation", rel_tol=0.10, kind="figure",
              source="Brajard et al. (2020), Sect. 4: the RMSE of the interpolation that "
              "starts the iterations (iteration 0 of the convergence curves), read as about "
              "2.4"),
        Claim("final analysis RMSE < 1.5", "cnn_enkf_n", 1.5, statistic="rmse_analysis",
              relation="below", rel_tol=0.0, kind="target",
              source="ours: the loop must bring the analyses well below the interpolation's "
              "2.4 and the observation error 1 times 1.5 (the paper's converged analyses are "
              "near 0.6-0.7)"),
        Claim("surrogate valid time ≥ 1 Lyapunov time", "cnn_enkf_n", 1.0,
              statistic="valid_time", relation="above", rel_tol=0.0, kind="target",
              source="ours: at least half of the abstract's 'forecast skill up to two "
              "Lyapunov times'"),
    ),
)
