"""``nonnenmacher2021``: 4D-Var with the gradients of a learned emulator on Lorenz-96.

Nonnenmacher & Greenberg (2021): a convolutional emulator of Lorenz-96 (n = 40, F = 8,
RK4, dt = 0.0125), trained on simulator states, supplies the adjoint of strong-constraint
4D-Var. The authors' set-up: a rotating quarter of the grid observed every step with
σ² = 1, windows of 8 to 72 steps, the cost without a background term, L-BFGS. Three
variants share truth, observations and first guesses: the simulator with its exact
adjoint, the simulator with the emulator's gradients, the emulator throughout.

Claims: with emulator gradients the analysis RMSE is within 10 % of the exact adjoint's,
for each window length (the paper's Fig. 3: the curves coincide). The Jacobian error of
the emulator is in the member notes.

The twin is the shared one (:func:`~assimilax.experiments.simulate_twin` of the
``[model]``, every variable observed with ``[observations] noise_std``, restricted to the
rotating subset of period ``[observations] stride``,
:class:`~assimilax.observations.RotatingSubset`), one per trial, 1,600 steps of spin-up;
the emulator learns from ``[hybrid] training_samples`` pairs on 4 simulator trajectories (see
:func:`assimilax.experiments.hybrids._emulator_4dvar.emulator_4dvar_experiment`).

Quick: windows of 8 and 32 steps, 4 trials x 6 windows (20 scored), 4,000 training
pairs, 10 epochs: about 2.5 minutes on 2 CPU cores (one emulator for both members).
Full: windows 8, 16, 32, 48, 72, 4 trials x 11 windows (40 scored), 16,000 pairs, 20
epochs, 8 seeds (an emulator trained per seed; the seed rule of the claims): about 15
minutes per seed. Measured (seed 0, see docs/methods/emulator_4dvar.md): quick,
ratios 0.997 (L = 8) and 0.999 (L = 32), emulator throughout 1.011 and 1.038, Jacobian
error 2.0 %; full (on the hybrid's former twin), ratios 0.94 to 1.00, Jacobian error 1.4 %.

Refs: Nonnenmacher & Greenberg (2021), J. Adv. Model. Earth Syst. 13, e2021MS002554,
doi:10.1029/2021MS002554 (code: github.com/m-dml/emulator_L96).
"""

from ..config import Config
from ._common import experiment
from ._preset import Claim, Member, Preset

QUICK_WINDOWS = (8, 32)
FULL_WINDOWS = (8, 16, 32, 48, 72)


def emulator_4dvar_config(*, window: int, windows: int, trials: int, training_samples: int,
                          epochs: int, seed: int = 0) -> Config:
    """The authors' twin: L96 n=40 F=8 dt=0.0125, every 4th variable observed, rotating
    by one each step, σ = 1; their deep CNN emulator in an RK4 step."""
    return Config.from_dict({
        "model": {"name": "lorenz96", "n": 40, "forcing": 8.0, "dt": 0.0125},
        "observations": {"operator": "every", "stride": 4, "every_steps": 1,
                         "noise_std": 1.0},
        "experiment": {**experiment(windows * window, 0), "seed": seed},
        "ml": {"network": "deep_emulator_cnn", "widths": [16, 32], "epochs": epochs,
               "batch_size": 32, "learning_rate": 1e-3, "loss": "mse",
               "validation_fraction": 0.1},
        "hybrid": {"name": "emulator_4dvar", "window": window, "windows": windows,
                   "trials": trials, "burn_in_windows": 1,
                   "training_samples": training_samples, "max_iterations": 100},
    })


def _members(quick: bool) -> tuple[Member, ...]:
    if quick:
        lengths, windows, samples, epochs = QUICK_WINDOWS, 6, 4000, 10
    else:
        lengths, windows, samples, epochs = FULL_WINDOWS, 11, 16_000, 20
    return tuple(
        Member(f"window_{w}", emulator_4dvar_config(window=w, windows=windows, trials=4,
                                                    training_samples=samples, epochs=epochs),
               (0,) if quick else tuple(range(8)))
        for w in lengths)


def _claims() -> tuple[Claim, ...]:
    return tuple(
        Claim(f"window {w}: 4D-Var with emulator gradients, analysis RMSE within 10 % of "
              "the exact adjoint's", f"window_{w}", 1.0, statistic="ratio_emulator_gradient",
              rel_tol=0.10, kind="figure",
              source="Nonnenmacher & Greenberg (2021), Fig. 3: the analysis-error curves of "
              "the exact adjoint and of the emulator's gradients coincide at every window "
              "length; ±10 %: the reading of the figure")
        for w in QUICK_WINDOWS)


NONNENMACHER2021 = Preset(
    name="nonnenmacher2021",
    reference=(
        "Nonnenmacher & Greenberg (2021), JAMES 13, e2021MS002554: deep emulators for "
        "differentiation, forecasting and parametrization (Sect. 4, Fig. 3: 4D-Var on "
        "Lorenz-96 with emulator gradients)"
    ),
    description=(
        "Lorenz-96 (n=40, F=8, dt=0.0125), a rotating quarter of the grid observed every "
        "step with σ=1; 4D-Var without background over windows of 8-72 steps with the exact "
        "adjoint, with a CNN emulator's gradients, and with the emulator throughout."
    ),
    members=_members,
    paper=True,
    claims=_claims(),
)
