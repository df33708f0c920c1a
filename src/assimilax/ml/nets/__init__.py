"""Neural networks for fields on grids (equinox modules acting on one sample).

Every net maps one sample (no batch axis; batch with ``jax.vmap``), is built with a
keyword-only ``key``, keeps its parameters in ``dtype`` (float32 by default) and casts its
input to that dtype.
"""

from ._autoencoder import VAE as VAE
from ._autoencoder import Autoencoder as Autoencoder
from ._autoencoder import ConvDecoder1d as ConvDecoder1d
from ._autoencoder import ConvEncoder1d as ConvEncoder1d
from ._brajard import BrajardCNN as BrajardCNN
from ._conv import PeriodicCNN as PeriodicCNN
from ._conv import PeriodicConv1d as PeriodicConv1d
from ._deep_emulator import DeepEmulatorCNN as DeepEmulatorCNN
from ._field_cnn import FieldCNN as FieldCNN
from ._mlp import MLP as MLP
from ._model_error_cnn import BatchNorm1d as BatchNorm1d
from ._model_error_cnn import ModelErrorCNN as ModelErrorCNN
from ._standardized import Standardized as Standardized
from ._unet import UNet2d as UNet2d

__all__ = [
    "Autoencoder",
    "BatchNorm1d",
    "BrajardCNN",
    "ConvDecoder1d",
    "ConvEncoder1d",
    "DeepEmulatorCNN",
    "FieldCNN",
    "MLP",
    "ModelErrorCNN",
    "PeriodicCNN",
    "PeriodicConv1d",
    "Standardized",
    "UNet2d",
    "VAE",
]
