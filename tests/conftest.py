"""Test configuration: float64 and strict dtype promotion in every test.

Set here, never at import time of the package (DESIGN.md, convention 12).
"""

import jax

from assimilax.experiments import configure_runtime

configure_runtime()  # float64 and the XLA CPU flags the runner uses
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")
