"""The runner's side of variational methods: the per-cycle record of a twin experiment.

Variational methods cycle over windows with their own driver
(:func:`assimilax.da.variational.assimilate_variational`); they have no ensemble, so
their record has no spread.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import numpy as np

from ..da.variational import AbstractVariationalMethod, assimilate_variational
from ..observations import Observations
from ._build import Setup
from ._config import Config
from ._twin import Twin


@eqx.filter_jit
def _assimilate_chunk(model, method, observations, x0, state, truth):
    return assimilate_variational(model, observations, method, x0, truth=truth, state=state)


def background0(twin: Twin):
    """The first background state: the mean of the twin's initial ensemble.

    Simulate the twin with ``ensemble_size = 1`` for a variational run: the background is
    then ``truth0 + N(0, initial_std^2 I)``, one observation interval before ``y[0]``.
    """
    return twin.ensemble0.mean(axis=0)


def assimilate_record(
    setup: Setup,
    config: Config,
    twin: Twin,
    observations: Observations,
    *,
    on_chunk: Callable[[int, int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Run a variational method over the whole twin; the per-cycle record on the host.

    Chunks of about ``[experiment] chunk_cycles`` cycles (rounded up to whole windows) are
    compiled once and run in turn, carrying the method's state, so the numbers do not
    depend on the chunking.

    Args:
        setup: built from ``config``; ``setup.method`` is a variational method.
        config: the run's config.
        twin: the simulated twin (truth, observations, initial ensemble).
        observations: the observations with the forecast model's ``every_steps``.
        on_chunk: called with ``(cycles done, cycles)`` after each chunk (progress).

    Returns:
        ``rmse_analysis``, ``rmse_forecast`` ``(time,)``; ``analysis_mean`` ``(time, state)``;
        for weak-constraint 4D-Var also ``forcing`` ``(time, state)``, the analysed
        model-error forcing (tendency units) in effect at each observation time.
    """
    method = setup.method
    if not isinstance(method, AbstractVariationalMethod):
        raise TypeError(f"assimilate_record: {type(method).__name__} is not a variational "
                        "method; ensemble methods go through assimilax.da.assimilate.")
    cycles = config.experiment.cycles
    per = method.times_per_cycle
    chunk = -(-config.experiment.chunk_cycles // per) * per
    x0 = background0(twin)
    state = None
    pieces: dict[str, list[np.ndarray]] = {}
    for a in range(0, cycles, chunk):
        b = min(a + chunk, cycles)
        result = _assimilate_chunk(setup.model, method, observations[a:b], x0, state,
                                   twin.truth[a:b])
        state = result.final_state
        host = jax.device_get({
            "rmse_analysis": result.rmse_analysis,
            "rmse_forecast": result.rmse_forecast,
            "analysis_mean": result.mean_analysis,
            "forcing": result.forcing,
        })
        for name, value in host.items():
            if value is not None:
                pieces.setdefault(name, []).append(np.asarray(value))
        if on_chunk is not None:
            on_chunk(b, cycles)
    return {name: np.concatenate(parts) for name, parts in pieces.items()}
