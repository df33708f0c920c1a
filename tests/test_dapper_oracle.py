"""One analysis of DAPPER's own code against ours, on the same ensemble and observation.

DAPPER is the reference implementation the presets' numbers come from. Here one cycle of
its ``EnKF('Sqrt')``, ``EnKF('PertObs')`` and ``EnKF_N`` (primal and dual) runs through its
own ``assimilate`` with an identity model, the initial ensemble replaced by ours, and the
ensemble after its ``post_process`` (inflation) is compared with our analysis of the same
forecast. DAPPER does the EnKF-N inline, so going through ``assimilate`` is the only way
to run its code. Its Newton iterations are run to 1e-12 (its default stops at steps of
1e-4) so that the comparison tests the algebra, not a stopping rule; the perturbed
observations are DAPPER's draws, handed to both.

Runs when the ``dapper`` package is importable (``pip install -e ".[dapper]"``, DAPPER
1.7.1 on Python 3.11) and is skipped otherwise.
"""

import functools
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from assimilax.da import ETKF, EnKF, EnKF_N, Multiplicative, NoInflation, NoRotation, Window
from assimilax.da.ensemble import _enkf
from assimilax.observations import CorrelatedNoise, DiagonalNoise, Subset

dapper = pytest.importorskip("dapper")
pytest.importorskip("dapper.da_methods")

import dapper.da_methods as da  # noqa: E402
import dapper.da_methods.ensemble as dapper_ensemble  # noqa: E402
import dapper.mods as modelling  # noqa: E402

OBSERVED = (0, 2, 3)


def _case(seed: int, N: int, n: int = 5):
    """A forecast ensemble, an observation of OBSERVED and an SPD R."""
    rng = np.random.default_rng(seed)
    E = rng.normal(size=(N, n)) * np.linspace(0.5, 2.0, n) + rng.normal(size=n)
    p = len(OBSERVED)
    L = rng.normal(size=(p, p)) * 0.3
    R = L @ L.T + np.diag(rng.uniform(0.5, 1.5, p))
    y = E.mean(0)[list(OBSERVED)] + rng.normal(size=p) * 1.5
    return E, y, R


def dapper_analysis(xp, E, y, R, *, draws=None):
    """DAPPER's ensemble after one cycle of ``xp`` from ``E`` (identity model)."""
    n = E.shape[1]
    tseq = modelling.Chronology(dt=1, dko=1, K=1, BurnIn=0)
    Dyn = {"M": n, "model": lambda x, t, dt: x, "noise": 0}
    Obs = modelling.partial_Id_Obs(n, np.array(OBSERVED))
    Obs["noise"] = modelling.GaussRV(C=R)
    HMM = modelling.HiddenMarkovModel(Dyn, Obs, tseq, modelling.GaussRV(C=1.0, M=n))
    HMM.X0.sample = lambda N: E.copy()
    if draws is not None:
        HMM.Obs(0).noise.sample = lambda N: draws.copy()
    out = []
    post_process = dapper_ensemble.post_process

    def recording(E_, infl, rot):
        out.append(post_process(E_, infl, rot))
        return out[-1]

    newton = functools.partial(dapper_ensemble.Newton_m, xtol=1e-12, ytol=1e-14)
    with mock.patch.object(dapper_ensemble, "post_process", recording), \
            mock.patch.object(dapper_ensemble, "Newton_m", newton):
        xp.assimilate(HMM, np.zeros((2, n)), y[None], liveplots=False)
    assert len(out) == 1
    return out[0]


def ours(method, E, y, R, *, whitened_draws=None):
    """Our analysis of the forecast ``E``."""
    p = len(OBSERVED)
    noise = DiagonalNoise(np.sqrt(np.diag(R))) if whitened_draws is not None else \
        CorrelatedNoise(jnp.asarray(R))
    window = Window(jnp.asarray(y)[None], jnp.ones((1, p), bool), Subset(E.shape[1], OBSERVED),
                    noise)
    if whitened_draws is None:
        return np.asarray(method.analysis(jnp.asarray(E), window, key=jax.random.key(0)))
    with mock.patch.object(_enkf, "standard_normal",
                           lambda *a, **k: jnp.asarray(whitened_draws)):
        return np.asarray(method.analysis(jnp.asarray(E), window, key=jax.random.key(0)))


@pytest.mark.parametrize("N", [3, 4, 8])  # N <= n: DAPPER's eig path; N > n: its svd path
@pytest.mark.parametrize("infl", [1.0, 1.3])
def test_etkf_matches_dapper_sqrt(N, infl):
    E, y, R = _case(N, N)
    theirs = dapper_analysis(da.EnKF("Sqrt", N=N, infl=infl), E, y, R)
    inflation = Multiplicative(infl) if infl != 1.0 else NoInflation()
    mine = ours(ETKF(inflation=inflation, rotation=NoRotation()), E, y, R)
    np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-10)


@pytest.mark.parametrize("N", [4, 10])
def test_enkf_matches_dapper_pertobs(N):
    """The same draws: DAPPER centres and rescales them by sqrt(N/(N-1)) (its ``mean0``)."""
    E, y, R = _case(10 + N, N)
    R = np.diag(np.diag(R))  # diagonal, so that both sides whiten the draws alike
    draws = np.random.default_rng(N).normal(size=(N, len(OBSERVED))) * np.sqrt(np.diag(R))
    theirs = dapper_analysis(da.EnKF("PertObs", N=N, infl=1.04), E, y, R, draws=draws)
    mine = ours(EnKF(inflation=Multiplicative(1.04)), E, y, R,
                whitened_draws=draws / np.sqrt(np.diag(R)))
    np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-10)
    unscaled = ours(EnKF(inflation=Multiplicative(1.04), rescale_perturbations=False), E, y, R,
                    whitened_draws=draws / np.sqrt(np.diag(R)))
    assert np.abs(unscaled - theirs).max() > 1e-3  # the rescaling is what makes them agree


@pytest.mark.parametrize("dual", [False, True])
@pytest.mark.parametrize("N", [3, 6, 12])
def test_enkf_n_matches_dapper(N, dual):
    E, y, R = _case(20 + N, N)
    theirs = dapper_analysis(da.EnKF_N(N=N, dual=dual), E, y, R)
    mine = ours(EnKF_N(inflation=NoInflation(), rotation=NoRotation()), E, y, R)
    np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-8)


def test_sakov2012_cycle_by_cycle_against_dapper(tmp_path):
    """``benchmarks/dapper_stepwise.py`` on 60 cycles: DAPPER's own EnKF('Sqrt', N=3) and
    EnKF('PertObs', N=10) runs against our forecast and analysis of each of its cycles."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "stepwise.json"
    proc = subprocess.run([sys.executable, str(root / "benchmarks" / "dapper_stepwise.py"),
                           "--dapper-python", sys.executable, "--cycles", "60",
                           "--burn-in", "10", "--out", str(out)],
                          capture_output=True, text=True, cwd=root, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = json.loads(out.read_text())
    for name in ("etkf_3", "enkf_10"):
        assert rows[name]["forecast_max_abs_diff"] < 1e-10, rows[name]
        assert rows[name]["analysis_max_abs_diff"] < 1e-10, rows[name]
        assert rows[name]["rmse_ours_one_step"] == pytest.approx(rows[name]["rmse_dapper"],
                                                                 rel=1e-12)
