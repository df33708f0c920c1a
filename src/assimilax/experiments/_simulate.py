"""The twin of a built setup: truth, observations and initial ensemble of one config."""

from __future__ import annotations

from typing import TYPE_CHECKING

import equinox as eqx
import jax

from ..observations import Observations
from ._twin import Twin, simulate_twin

if TYPE_CHECKING:
    from ._build import Setup


@eqx.filter_jit
def _simulate(truth_model, operator, noise, **kwargs):
    return simulate_twin(truth_model, operator, noise, **kwargs)


def simulate_setup(setup: Setup, *, key=None) -> tuple[Twin, Observations]:
    """The twin of a set-up (seeded by its ``seed``, or by ``key`` when given: a second,
    independent twin of the same set-up) and its observations as the forecast model sees
    them (its steps per interval differ from the truth's with ``[truth]``)."""
    twin = _simulate(
        setup.truth_model,
        setup.operator,
        setup.noise,
        cycles=setup.cycles,
        every_steps=setup.truth_every_steps,
        ensemble_size=setup.ensemble_size,
        key=jax.random.key(setup.seed) if key is None else key,
        spinup_steps=setup.spinup_steps,
        initial_std=setup.initial_std,
        state_size=setup.model.state_size,
    )
    twin = jax.block_until_ready(twin)
    obs = twin.observations
    observations = Observations(obs.operator, obs.noise, obs.y, obs.mask, setup.every_steps)
    return twin, observations
