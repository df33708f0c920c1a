"""Validation of arrays at the boundary of the public API: non-finite input is named."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import numpy as np


def check_finite(where: str, name: str, value: Any, *, mask: Any = None) -> None:
    """Refuse NaN or inf in the float leaves of ``value`` (an array or a pytree).

    Only concrete values are checked: inside ``jax.jit`` the leaves are tracers and are
    left alone (the runner validates its inputs before compiling). With ``mask`` (an
    array of the shape of ``value``), only the entries where it is true count: masked
    observations may hold anything.

    Raises:
        ValueError: naming ``where``, the argument (and the leaf's path in a pytree), the
            first bad index and its value.
    """
    flat = jax.tree_util.tree_flatten_with_path(value)[0]
    for path, leaf in flat:
        if isinstance(leaf, jax.core.Tracer):
            continue
        if isinstance(leaf, float):
            if not np.isfinite(leaf):
                raise ValueError(f"{where}: {name}{jax.tree_util.keystr(path)} is {leaf}; "
                                 "give a finite number.")
            continue
        if not eqx.is_array(leaf) or not np.issubdtype(leaf.dtype, np.inexact):
            continue
        array = np.asarray(leaf)
        bad = ~np.isfinite(array)
        if mask is not None and not isinstance(mask, jax.core.Tracer):
            bad &= np.broadcast_to(np.asarray(mask, bool), bad.shape)
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            count = int(bad.sum())
            raise ValueError(
                f"{where}: {name}{jax.tree_util.keystr(path)} has {count} non-finite "
                f"value{'s' if count > 1 else ''} ({'unmasked ' if mask is not None else ''}"
                f"the first: {array[index]} at index {index}, of shape {array.shape}); "
                "NaN and inf cannot be assimilated: fix or mask them.")
