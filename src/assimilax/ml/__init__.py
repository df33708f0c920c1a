"""Machine learning for data assimilation: networks, losses, training, learned models.

- :mod:`assimilax.ml.nets` — equinox networks acting on one sample (periodic CNNs, the
  Brajard et al. 2020 CNN, MLP, U-Net, autoencoders/VAE, standardisation wrapper);
- :mod:`assimilax.ml.losses` — (weighted) squared-error and multi-step rollout losses;
- :mod:`assimilax.ml.training` — :func:`fit`, one jitted ``lax.scan`` per epoch;
- ``Emulator``, ``Corrected``, ``SurrogateGradient`` — learned models with the
  ``AbstractModel`` interface (``emulator.py``, ``correction.py``).
"""

from . import losses as losses
from . import nets as nets
from . import training as training
from .correction import Corrected as Corrected
from .correction import SurrogateGradient as SurrogateGradient
from .emulator import Emulator as Emulator
from .training import History as History
from .training import NonFiniteLossError as NonFiniteLossError
from .training import fit as fit

__all__ = [
    "Corrected",
    "Emulator",
    "fit",
    "History",
    "losses",
    "nets",
    "NonFiniteLossError",
    "SurrogateGradient",
    "training",
]
