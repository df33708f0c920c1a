"""The ``[ml]`` section: the network of a hybrid method and how it is trained."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ._base import Section
from ._registry import registered

NETWORKS = ("brajard_cnn", "deep_emulator_cnn", "periodic_cnn", "model_error_cnn",
            "field_cnn")
"""The networks ``[ml] network`` can name."""


class MLConfig(Section):
    """``[ml]``: the network of a hybrid method and how it is trained (Adam).

    Keys left out take the defaults of the ``[hybrid]`` method (the paper's settings).
    """

    network: Literal[NETWORKS] | None = None
    """The network: ``brajard_cnn`` (Brajard et al. 2020: bilinear layer of three
    kernel-5 convolutions of ``widths[0]`` filters, then ``widths[1:]``), or
    ``deep_emulator_cnn`` (Nonnenmacher & Greenberg 2021: kernel-3 convolutions of
    ``widths`` channels, each followed by 1x1 layers), or ``periodic_cnn`` (hidden periodic
    convolutions of ``widths`` channels, kernel 5, tanh, then a linear one to one channel:
    a local, translation-equivariant correction), or ``model_error_cnn`` (Brajard et al.
    2021: batch normalisation, a kernel-5 convolution of ``widths[0]`` filters, batch
    normalisation, a 1x1 one of ``widths[1]``, both tanh, a linear 1x1 output), or
    ``field_cnn`` (on the 2-D fields of a gridded model: two periodic 3x3 convolutions of
    ``widths[0]`` channels, tanh, a linear 1x1 one back to the fields). Default: the
    hybrid's."""
    widths: list[int] | None = Field(None, min_length=1)
    """Channels of the convolutional layers (default: the paper's: ``[24, 37]`` for
    ``brajard_cnn``, ``[16, 32]`` for ``deep_emulator_cnn``)."""
    epochs: int | None = Field(None, ge=1)
    """Training epochs: of each iteration after the first for iterative_emulation (default
    40; the first has ``[hybrid] epochs_first``), of the emulator for emulator_4dvar
    (default 10)."""
    batch_size: int | None = Field(None, ge=1)
    """Samples per minibatch (default 128 for iterative_emulation, 32 for emulator_4dvar)."""
    learning_rate: float = Field(1e-3, gt=0)
    """Adam's learning rate (constant)."""
    loss: Literal["variance_weighted", "mse"] | None = None
    """Training loss: ``variance_weighted`` (each analysis weighted by 1 / (its ensemble
    variance + 0.01), Brajard 2020; iterative_emulation only) or ``mse``."""
    ridge: float = Field(1e-4, ge=0)
    """L2 penalty on the output layer's weights (Brajard 2020: 1e-4)."""
    validation_fraction: float = Field(0.0, ge=0, lt=1)
    """Share of the training pairs held out for a validation loss."""

    def resolved(self, hybrid: str) -> MLConfig:
        """A copy with every ``None`` replaced by the default of the hybrid ``hybrid``.

        Args:
            hybrid: a ``[hybrid] name``; its section's ``ml_defaults`` fill the gaps.
        """
        defaults = registered("hybrid")[hybrid].ml_defaults
        return self.model_copy(update={k: v for k, v in defaults.items()
                                       if getattr(self, k) is None})
