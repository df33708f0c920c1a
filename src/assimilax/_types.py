"""Array type aliases agreed once for the whole package (jaxtyping)."""

from jaxtyping import Array, Bool, Float, PRNGKeyArray

State = Float[Array, " state"]
Ensemble = Float[Array, "member state"]
Obs = Float[Array, " obs"]
ObsMask = Bool[Array, " obs"]
ObsEnsemble = Float[Array, "member obs"]
Trajectory = Float[Array, "time state"]
Key = PRNGKeyArray

__all__ = ["Array", "Ensemble", "Key", "Obs", "ObsEnsemble", "ObsMask", "State", "Trajectory"]
