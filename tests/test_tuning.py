"""Covariance tuning: Desroziers diagnostics, Desroziers-Ivanov scaling, graph clustering.

Twins are static linear-Gaussian problems: replicates of a background and an observation
vector drawn with known "true" covariances, tuned from misspecified guesses. Tolerances are
several standard errors of the estimates at the replicate counts used: over 8 seeds of
2,000 replicates the weakest-constrained scaling, s_b = 0.25 of the second block (its
background error is small against its observation error), scatters by 4.5 % RMS, at most
9.5 %; the others by 1-3 %.
"""

import networkx as nx
import numpy as np
import pytest

from assimilax.da import tuning as tu

BLOCK = 20
TRUE_B = (4.0, 0.25)
TRUE_R = (0.5, 2.0)


def _gauss_corr(m, length):
    i = np.arange(m)
    return np.exp(-0.5 * ((i[:, None] - i[None, :]) / length) ** 2)


def _two_block_twin(reps, seed, length=3.0):
    """Two blocks of 20 state variables; each observation averages 3 neighbours of its
    block, one more straddles the boundary; true B and R scaled per block."""
    n = 2 * BLOCK
    B0 = np.kron(np.eye(2), _gauss_corr(BLOCK, length))
    rows = []
    for b in range(2):
        for j in range(BLOCK):
            r = np.zeros(n)
            lo, hi = max(0, j - 1), min(BLOCK, j + 2)
            r[b * BLOCK + lo:b * BLOCK + hi] = 1.0 / (hi - lo)
            rows.append(r)
    bridge = np.zeros(n)
    bridge[BLOCK - 1] = bridge[BLOCK] = 0.5
    H = np.array(rows + [bridge])
    p = H.shape[0]
    sb = np.repeat(TRUE_B, BLOCK)
    so = np.concatenate([np.repeat(TRUE_R, BLOCK), [TRUE_R[0]]])
    Bt = np.sqrt(sb)[:, None] * B0 * np.sqrt(sb)[None, :]
    rng = np.random.default_rng(seed)
    xt = 3.0 * rng.standard_normal((reps, n))
    xb = xt + rng.standard_normal((reps, n)) @ np.linalg.cholesky(Bt).T
    y = xt @ H.T + np.sqrt(so) * rng.standard_normal((reps, p))
    return H, B0, np.eye(p), xb, y


def test_desroziers_diagnostics_recover_R_and_HBHt_with_true_statistics():
    rng = np.random.default_rng(1)
    n, p, S = 8, 6, 20_000
    H = rng.standard_normal((p, n)) / np.sqrt(n)
    B = 0.8 * _gauss_corr(n, 1.5) + 0.2 * np.eye(n)
    A = rng.standard_normal((p, p))
    R = A @ A.T / p + 0.5 * np.eye(p)
    xb = rng.standard_normal((S, n)) @ np.linalg.cholesky(B).T  # truth 0
    y = rng.standard_normal((S, p)) @ np.linalg.cholesky(R).T
    xa = np.asarray(tu.blue_analysis(xb, y, H, B, R))
    diag = tu.desroziers_diagnostics(y - xb @ H.T, y - xa @ H.T, (xa - xb) @ H.T)
    # Each entry is a mean of S products: standard error <= sqrt(2/S) * scale ~ 1 %.
    scale = np.sqrt(np.outer(np.diag(R + H @ B @ H.T), np.diag(R + H @ B @ H.T)))
    tol = 5 * np.sqrt(2.0 / S) * scale
    assert np.all(np.abs(np.asarray(diag.R) - R) < tol)
    assert np.all(np.abs(np.asarray(diag.HBHt) - H @ B @ H.T) < tol)
    assert np.all(np.abs(np.asarray(diag.innovation) - (R + H @ B @ H.T)) < tol)


def test_desroziers_ivanov_recovers_a_global_scaling():
    rng = np.random.default_rng(2)
    n, S = 30, 400
    B0 = _gauss_corr(n, 2.0) + 1e-3 * np.eye(n)
    H = np.eye(n)[::2]
    p = H.shape[0]
    sb, so = 3.0, 0.4
    xb = np.sqrt(sb) * rng.standard_normal((S, n)) @ np.linalg.cholesky(B0).T
    y = np.sqrt(so) * rng.standard_normal((S, p))
    res = tu.desroziers_ivanov(H, B0, np.eye(p), xb, y, iterations=200)
    assert res.background_scale[0] == pytest.approx(sb, rel=0.1)
    assert res.observation_scale[0] == pytest.approx(so, rel=0.1)
    assert res.history.shape[1:] == (2, 1) and len(res.history) < 201  # converged
    Bt, Rt = res.scaled(B0, np.eye(p))
    np.testing.assert_allclose(Bt, res.background_scale[0] * B0, rtol=1e-12)


def test_fixed_point_is_one_under_true_statistics_in_expectation():
    # With exact-covariance samples (whitened draws), one DI step leaves the scales ~1.
    H, B0, R0, xb, y = _two_block_twin(reps=2000, seed=3)
    sb = np.repeat(TRUE_B, BLOCK)
    so = np.concatenate([np.repeat(TRUE_R, BLOCK), [TRUE_R[0]]])
    Bt = np.sqrt(sb)[:, None] * B0 * np.sqrt(sb)[None, :]
    res = tu.desroziers_ivanov(H, Bt, np.diag(so), xb, y, iterations=1)
    np.testing.assert_allclose(res.history[1], 1.0, atol=0.05)


def test_graph_of_two_blocks_splits_into_the_blocks():
    H, B0, *_ = _two_block_twin(reps=2, seed=0)
    G = tu.state_observation_graph(H, correlation=B0, threshold=0.1)
    assert G.number_of_nodes() == H.shape[0] + H.shape[1]
    assert G.has_edge(("y", 0), ("x", 1)) and not G.has_edge(("y", 0), ("x", 5))
    assert G.has_edge(("x", 0), ("x", 3)) and not G.has_edge(("x", 0), ("x", BLOCK))
    assert nx.is_connected(G)  # through the bridge observation
    sg, og = tu.graph_communities(H, tu.FluidCommunities(2, seed=0), correlation=B0,
                                  threshold=0.1)
    np.testing.assert_array_equal(sg, np.repeat([0, 1], BLOCK))
    np.testing.assert_array_equal(og[:-1], np.repeat([0, 1], BLOCK))
    sg_l, og_l = tu.graph_communities(H, tu.Louvain(seed=0), correlation=B0, threshold=0.1)
    assert sg_l.min() == 0 and og_l.min() >= 0  # every node labelled
    # Louvain communities never straddle the block boundary (apart from the bridge).
    assert not set(sg_l[:BLOCK]) & set(sg_l[BLOCK:])


def test_per_community_tuning_recovers_each_block_global_tuning_cannot():
    H, B0, R0, xb, y = _two_block_twin(reps=2000, seed=0)
    sg, og = tu.graph_communities(H, tu.FluidCommunities(2, seed=0), correlation=B0,
                                  threshold=0.1)
    local = tu.desroziers_ivanov(H, B0, R0, xb, y, state_groups=sg, obs_groups=og,
                                 iterations=300)
    glob = tu.desroziers_ivanov(H, B0, R0, xb, y, iterations=300)
    print(f"\nper community: s_b {local.background_scale} s_o {local.observation_scale}; "
          f"global: s_b {glob.background_scale} s_o {glob.observation_scale}; "
          f"true: s_b {TRUE_B} s_o {TRUE_R}")
    for block in range(2):
        c = sg[block * BLOCK]
        assert local.background_scale[c] == pytest.approx(TRUE_B[block], rel=0.15)
        assert local.observation_scale[c] == pytest.approx(TRUE_R[block], rel=0.15)
        # A single global pair cannot fit both blocks.
        assert glob.background_scale[0] != pytest.approx(TRUE_B[block], rel=0.15)
        assert glob.observation_scale[0] != pytest.approx(TRUE_R[block], rel=0.15)
    sb_var, so_var = local.per_variable()
    assert sb_var.shape == (2 * BLOCK,) and so_var.shape == (H.shape[0],)


def test_per_community_tuning_over_seeds():
    """The Cheng et al. twin over several independent sets of 2,000 replicates."""
    errors = []
    for seed in range(1, 9):
        H, B0, R0, xb, y = _two_block_twin(reps=2000, seed=seed)
        sg, og = tu.graph_communities(H, tu.FluidCommunities(2, seed=seed), correlation=B0,
                                      threshold=0.1)
        res = tu.desroziers_ivanov(H, B0, R0, xb, y, state_groups=sg, obs_groups=og,
                                   iterations=300)
        c = [sg[0], sg[-1]]
        errors.append(np.concatenate([res.background_scale[c] / TRUE_B,
                                      res.observation_scale[c] / TRUE_R]) - 1)
    errors = np.array(errors)
    print(f"\nrelative errors (s_b1, s_b2, s_o1, s_o2) per seed:\n{errors.round(3)}")
    assert np.all(np.abs(errors) < 0.15)


def test_bad_input_is_refused():
    H, B0, R0, xb, y = _two_block_twin(reps=3, seed=0)
    with pytest.raises(ValueError, match="state_groups must be 40 non-negative integer"):
        tu.desroziers_ivanov(H, B0, R0, xb, y, state_groups=np.zeros(3, int))
    with pytest.raises(ValueError, match="shapes do not fit"):
        tu.desroziers_ivanov(H, B0[:-1, :-1], R0, xb, y)
    with pytest.raises(ValueError, match="connected components"):
        tu.graph_communities(np.eye(4), tu.FluidCommunities(2))
