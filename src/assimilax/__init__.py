"""assimilax: differentiable data assimilation and machine learning on JAX.

The core packages (``models``, ``observations``, ``da``, ``metrics``) are pure JAX and
Equinox. The application ring (``experiments``, ``io``, ``plotting``, ``cli``) is imported
on demand and never by ``import assimilax``.
"""

__version__ = "0.1.0"

from . import da as da
from . import metrics as metrics
from . import models as models
from . import observations as observations
