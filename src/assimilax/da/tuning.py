r"""Covariance tuning from innovation statistics: Desroziers diagnostics, Desroziers-Ivanov
scaling, and its graph-clustered variant.

Notation, per sample (a replicate or an analysis time): background $x_b$, observation $y$,
linear observation operator $H$, analysis $x_a = x_b + K d^o_b$ with
$K = BH^T(HBH^T + R)^{-1}$, and the departures

$$d^o_b = y - Hx_b,\qquad d^o_a = y - Hx_a,\qquad d^a_b = Hx_a - Hx_b .$$

If $B$ and $R$ are the true error covariances, $E[d^o_a d^{oT}_b] = R$ and
$E[d^a_b d^{oT}_b] = HBH^T$ (Desroziers et al. 2005), and the two parts of the cost at
the analysis have $E[2J_b] = \operatorname{tr}(KH)$, $E[2J_o] = \operatorname{tr}(I - HK)$
(Desroziers & Ivanov 2001). Iterating $B \leftarrow s_b B$, $R \leftarrow s_o R$ with the
ratios of observed to expected values converges to scalings under which both hold.

Refs: Desroziers & Ivanov (2001), Q. J. R. Meteorol. Soc. 127, 1433-1452; Chapnik et al.
(2004), QJRMS 130; Desroziers, Berre, Chapnik & Poli (2005), QJRMS 131, 3385-3396;
Cheng, Argaud, Iooss, Ponçot & Lucor (2021), "A graph clustering approach to localization
for adaptive covariance tuning in data assimilation based on state-observation mapping",
Math. Geosci. 53, doi:10.1007/s11004-021-09951-z.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

# ----------------------------------------------------------------------------- diagnostics


@dataclasses.dataclass(frozen=True)
class DesroziersDiagnostics:
    """Sample estimates of the error covariances in observation space.

    Attributes:
        R: $E[d^o_a d^{oT}_b]$, the observation-error covariance ``(obs, obs)``.
        HBHt: $E[d^a_b d^{oT}_b]$, the background error seen by the observations.
        innovation: $E[d^o_b d^{oT}_b]$, which should equal ``HBHt + R``.
    """

    R: Float[Array, "obs obs"]
    HBHt: Float[Array, "obs obs"]
    innovation: Float[Array, "obs obs"]


def desroziers_diagnostics(
    d_ob: Float[Array, "sample obs"],
    d_oa: Float[Array, "sample obs"],
    d_ab: Float[Array, "sample obs"],
) -> DesroziersDiagnostics:
    r"""Desroziers et al. (2005): covariances from the departures of many analyses.

    Each estimate is the sample mean of an outer product over the leading axis (samples:
    replicates, or the times of a cycled run when the statistics are stationary), e.g.
    $\hat R = \frac1S\sum_s d^o_{a,s} d^{oT}_{b,s}$; symmetrised.

    Args:
        d_ob: innovations $y - Hx_b$, ``(sample, obs)``.
        d_oa: analysis residuals $y - Hx_a$.
        d_ab: analysis increments in observation space $Hx_a - Hx_b$.
    """
    shapes = {a.shape for a in (d_ob, d_oa, d_ab)}
    if len(shapes) != 1 or d_ob.ndim != 2:
        raise ValueError(f"desroziers_diagnostics: three (sample, obs) arrays needed, got "
                         f"shapes {[a.shape for a in (d_ob, d_oa, d_ab)]}.")
    S = d_ob.shape[0]

    def cross(a, b):
        c = a.T @ b / S
        return 0.5 * (c + c.T)

    return DesroziersDiagnostics(cross(d_oa, d_ob), cross(d_ab, d_ob), cross(d_ob, d_ob))


def blue_analysis(
    xb: Float[Array, "sample state"],
    y: Float[Array, "sample obs"],
    H: Float[Array, "obs state"],
    B: Float[Array, "state state"],
    R: Float[Array, "obs obs"],
) -> Float[Array, "sample state"]:
    r"""The BLUE $x_a = x_b + BH^T(HBH^T + R)^{-1}(y - Hx_b)$ for every sample (3D-Var's
    minimiser for a linear $H$)."""
    S = H @ B @ H.T + R
    d = y - xb @ H.T
    return xb + jnp.linalg.solve(S, d.T).T @ (H @ B)


# ----------------------------------------------------------------------------- DI scaling


@dataclasses.dataclass(frozen=True)
class TuningResult:
    """Scalings of ``B`` and ``R`` per group (community), and how they converged.

    The tuned covariances are $B' = D_b B D_b$, $R' = D_o R D_o$ with
    $D_b = \\operatorname{diag}(\\sqrt{s_b[g(i)]})$ over the state variables' groups $g$
    (and likewise for the observations): :meth:`scaled`.

    Attributes:
        background_scale: $s_b$ per group, ``(group,)``.
        observation_scale: $s_o$ per group, ``(group,)``.
        state_groups: group of each state variable, ``(state,)``.
        obs_groups: group of each observation, ``(obs,)``.
        history: ``(iteration + 1, 2, group)``: $(s_b, s_o)$ before each iteration and after
            the last.
    """

    background_scale: np.ndarray
    observation_scale: np.ndarray
    state_groups: np.ndarray
    obs_groups: np.ndarray
    history: np.ndarray

    def scaled(self, B, R) -> tuple[Array, Array]:
        """``(B', R')``: the covariances with the tuned scalings applied."""
        return _scale(B, self.background_scale, self.state_groups), _scale(
            R, self.observation_scale, self.obs_groups)

    def per_variable(self) -> tuple[np.ndarray, np.ndarray]:
        """$s_b$ of each state variable and $s_o$ of each observation."""
        return (self.background_scale[self.state_groups],
                self.observation_scale[self.obs_groups])


def _scale(C, s, groups):
    d = jnp.sqrt(jnp.asarray(s)[jnp.asarray(groups)])
    return d[:, None] * jnp.asarray(C) * d[None, :]


def _labels(groups, size: int, what: str) -> np.ndarray:
    if groups is None:
        return np.zeros(size, int)
    g = np.asarray(groups)
    if g.shape != (size,) or not np.issubdtype(g.dtype, np.integer) or g.min() < 0:
        raise ValueError(f"desroziers_ivanov: {what} must be {size} non-negative integer "
                         f"labels, got {g!r}.")
    return g


def _di_ratios(H, B, R, xb, y, sg, og, n_groups):
    """Observed over expected ``2 J_b`` and ``2 J_o`` per group, under the given B and R."""
    S = H @ B @ H.T + R
    HB = H @ B
    d = y - xb @ H.T  # (sample, obs)
    w = jnp.linalg.solve(S, d.T).T  # S^-1 d
    dx = w @ HB  # K d = B H^T S^-1 d
    ra = w @ R  # y - H x_a = R S^-1 d
    KSKt = HB.T @ jnp.linalg.solve(S, HB)  # E[dx dx^T] = B H^T S^-1 H B
    RSR = R @ jnp.linalg.solve(S, R)  # E[ra ra^T]
    rb, ro = [], []
    for c in range(n_groups):
        ib, io = np.flatnonzero(sg == c), np.flatnonzero(og == c)
        rb.append(_ratio(dx[:, ib], B[np.ix_(ib, ib)], KSKt[np.ix_(ib, ib)]))
        ro.append(_ratio(ra[:, io], R[np.ix_(io, io)], RSR[np.ix_(io, io)]))
    return jnp.stack(rb), jnp.stack(ro)


def _ratio(v, C, E):
    r"""$\overline{v^TC^{-1}v} / \operatorname{tr}(C^{-1}E)$; 1 when the group is empty or
    unconstrained (expected value 0)."""
    if v.shape[1] == 0:
        return jnp.ones(())
    L = jnp.linalg.cholesky(C)
    w = jax.scipy.linalg.solve_triangular(L, v.T, lower=True)
    observed = jnp.mean(jnp.sum(w**2, axis=0))
    expected = jnp.trace(jax.scipy.linalg.cho_solve((L, True), E))
    return jnp.where(expected > 1e-12 * v.shape[1], observed / expected, 1.0)


def desroziers_ivanov(
    H: Float[Array, "obs state"],
    B: Float[Array, "state state"],
    R: Float[Array, "obs obs"],
    xb: Float[Array, "sample state"],
    y: Float[Array, "sample obs"],
    *,
    state_groups: Int[Array, " state"] | None = None,
    obs_groups: Int[Array, " obs"] | None = None,
    iterations: int = 30,
    rtol: float = 1e-5,
) -> TuningResult:
    r"""Desroziers-Ivanov (2001) fixed-point scaling of ``B`` and ``R``, per group.

    With the current scalings, every sample is analysed (:func:`blue_analysis`), and for
    each group $c$ (a set of state variables $I_c$ and of observations $O_c$)

    $$s_{b,c} \leftarrow s_{b,c}\,\frac{\overline{\delta x_{I_c}^T B_{cc}^{-1}\delta x_{I_c}}}
      {\operatorname{tr}\!\big(B_{cc}^{-1}(KSK^T)_{cc}\big)},\qquad
      s_{o,c} \leftarrow s_{o,c}\,\frac{\overline{r_{O_c}^T R_{cc}^{-1} r_{O_c}}}
      {\operatorname{tr}\!\big(R_{cc}^{-1}(RS^{-1}R)_{cc}\big)},$$

    with $\delta x = x_a - x_b$, $r = y - Hx_a$, $S = HBH^T + R$ (scaled), and the bar a
    mean over samples. The denominators are the expected values under the current
    covariances, so at the fixed point the observed statistics match them; with one group
    they are $\operatorname{tr}(KH)$ and $\operatorname{tr}(I - HK)$, the original
    algorithm. One group: the global tuning; groups from :func:`graph_communities`: the
    variant of Cheng et al. (2021).

    Args:
        H: the linear observation operator ``(obs, state)``.
        B: the prior guess of the background error covariance ``(state, state)``.
        R: the prior guess of the observation error covariance ``(obs, obs)``.
        xb: the backgrounds of every sample, ``(sample, state)``.
        y: the observations of every sample, ``(sample, obs)``.
        state_groups: group label ``0..G-1`` of each state variable (default: one group).
        obs_groups: group label of each observation (default: one group).
        iterations: at most this many fixed-point iterations.
        rtol: stop when no scaling changes by more than this relative amount (the ratios
            carry rounding errors of the block inverses, about 1e-7 for smooth Gaussian
            covariances, so much smaller values may never be met).

    Returns:
        :class:`TuningResult`.
    """
    H, B, R = (jnp.asarray(a, float) for a in (H, B, R))
    xb, y = jnp.asarray(xb, float), jnp.asarray(y, float)
    p, n = H.shape
    if B.shape != (n, n) or R.shape != (p, p) or xb.shape[1:] != (n,) or y.shape[1:] != (p,):
        raise ValueError(
            f"desroziers_ivanov: shapes do not fit: H {H.shape}, B {B.shape}, R {R.shape}, "
            f"xb {xb.shape}, y {y.shape} (want (obs, state), (state, state), (obs, obs), "
            "(sample, state), (sample, obs))."
        )
    if xb.shape[0] != y.shape[0]:
        raise ValueError(f"desroziers_ivanov: {xb.shape[0]} backgrounds but {y.shape[0]} "
                         "observation vectors.")
    if iterations < 1:
        raise ValueError(f"desroziers_ivanov: iterations must be >= 1, got {iterations}.")
    sg = _labels(state_groups, n, "state_groups")
    og = _labels(obs_groups, p, "obs_groups")
    G = int(max(sg.max(), og.max())) + 1
    history, done = _di_iterate(H, B, R, xb, y, tuple(sg.tolist()), tuple(og.tolist()), G,
                                iterations, rtol)
    history = np.asarray(history)[: int(done) + 1]
    return TuningResult(history[-1, 0], history[-1, 1], sg, og, history)


@functools.partial(jax.jit, static_argnums=(5, 6, 7, 8))
def _di_iterate(H, B, R, xb, y, sg, og, G, iterations, rtol):
    """The fixed-point iterations as one ``while_loop``; returns the history and the count."""
    sg, og = np.asarray(sg), np.asarray(og)
    history = jnp.full((iterations + 1, 2, G), jnp.nan).at[0].set(1.0)

    def cond(carry):
        k, _, converged = carry
        return (k < iterations) & ~converged

    def body(carry):
        k, hist, _ = carry
        sb, so = hist[k, 0], hist[k, 1]
        rb, ro = _di_ratios(H, _scale(B, sb, sg), _scale(R, so, og), xb, y, sg, og, G)
        converged = jnp.all(jnp.abs(rb - 1) < rtol) & jnp.all(jnp.abs(ro - 1) < rtol)
        return k + 1, hist.at[k + 1].set(jnp.stack([sb * rb, so * ro])), converged

    k, history, _ = jax.lax.while_loop(cond, body, (0, history, False))
    return history, k


# ----------------------------------------------------------------------------- graphs


def state_observation_graph(
    H: Float[Array, "obs state"],
    *,
    correlation: Float[Array, "state state"] | None = None,
    threshold: float = 0.0,
) -> Any:
    """The bipartite graph of state variables and observations linked by ``H``.

    Nodes are ``("x", i)`` for state variable ``i`` and ``("y", j)`` for observation
    ``j``; an edge joins them where $|H_{ji}| > $ ``threshold``, weighted by $|H_{ji}|$.
    With ``correlation`` (e.g. the correlation matrix of ``B``), state variables whose
    correlation exceeds ``threshold`` in magnitude are joined too. Cheng et al. (2021)
    cluster the graph of this state-observation mapping.

    Returns:
        A ``networkx.Graph``.
    """
    import networkx as nx

    H = np.asarray(H, float)
    p, n = H.shape
    G = nx.Graph()
    G.add_nodes_from(("x", i) for i in range(n))
    G.add_nodes_from(("y", j) for j in range(p))
    js, is_ = np.nonzero(np.abs(H) > threshold)
    G.add_weighted_edges_from((("y", int(j)), ("x", int(i)), abs(H[j, i]))
                              for j, i in zip(js, is_, strict=True))
    if correlation is not None:
        C = np.asarray(correlation, float)
        if C.shape != (n, n):
            raise ValueError(f"state_observation_graph: correlation must be ({n}, {n}), got "
                             f"{C.shape}.")
        a, b = np.nonzero(np.triu(np.abs(C) > threshold, k=1))
        G.add_weighted_edges_from((("x", int(i)), ("x", int(k)), abs(C[i, k]))
                                  for i, k in zip(a, b, strict=True))
    return G


class AbstractCommunityDetection(abc.ABC):
    """Splits a graph into communities: ``detect(graph) -> list of node sets``."""

    @abc.abstractmethod
    def detect(self, graph) -> list[set]: ...


@dataclasses.dataclass(frozen=True)
class Louvain(AbstractCommunityDetection):
    """Louvain modularity maximisation (Blondel et al. 2008), ``networkx``'s implementation.

    Attributes:
        resolution: above 1 favours smaller communities, below 1 larger ones.
        seed: the random order of the node visits.
    """

    resolution: float = 1.0
    seed: int = 0

    def detect(self, graph):
        import networkx as nx

        return [set(c) for c in nx.community.louvain_communities(
            graph, weight="weight", resolution=self.resolution, seed=self.seed)]


@dataclasses.dataclass(frozen=True)
class FluidCommunities(AbstractCommunityDetection):
    """Asynchronous fluid communities (Parés et al. 2017): exactly ``k`` communities of a
    connected graph.

    Attributes:
        k: the number of communities.
        seed: the random initial seeds and visiting order.
    """

    k: int = 2
    seed: int = 0

    def detect(self, graph):
        import networkx as nx

        if not nx.is_connected(graph):
            raise ValueError(
                f"FluidCommunities: the graph has {nx.number_connected_components(graph)} "
                "connected components; fluid communities need a connected graph (use "
                "Louvain, or tune each component separately)."
            )
        return [set(c) for c in nx.community.asyn_fluidc(graph, self.k, seed=self.seed)]


def graph_communities(
    H: Float[Array, "obs state"],
    detection: AbstractCommunityDetection | None = None,
    *,
    correlation: Float[Array, "state state"] | None = None,
    threshold: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Community labels of the state variables and the observations.

    Builds :func:`state_observation_graph` and splits it with ``detection`` (default
    :class:`Louvain`); communities are numbered by their smallest state index (those
    without state variables after them).

    Returns:
        ``(state_groups, obs_groups)``: integer labels ``(state,)`` and ``(obs,)`` for
        :func:`desroziers_ivanov`.
    """
    detection = Louvain() if detection is None else detection
    H = np.asarray(H)
    p, n = H.shape
    comms = detection.detect(state_observation_graph(H, correlation=correlation,
                                                     threshold=threshold))

    def order(c):
        xs = [i for kind, i in c if kind == "x"]
        ys = [j for kind, j in c if kind == "y"]
        return (0, min(xs)) if xs else (1, min(ys))

    sg, og = np.full(n, -1), np.full(p, -1)
    for label, c in enumerate(sorted(comms, key=order)):
        for kind, i in c:
            (sg if kind == "x" else og)[i] = label
    return sg, og
