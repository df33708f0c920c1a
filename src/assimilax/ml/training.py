"""Minibatch training of equinox models: one jitted ``lax.scan`` per epoch.

``fit(model, loss_fn, data, key=...)`` trains the floating-point arrays of ``model`` with an
optax optimiser, with optional validation, early stopping, resume and a progress bar. No
file is touched here: ``fit`` hands a :class:`FitState` to ``on_checkpoint`` and continues
from one given as ``resume``; the application ring writes and reads them
(:func:`assimilax.io.write_fit_state`, :func:`assimilax.io.read_fit_state`). See
``docs/ml/training.md``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import PRNGKeyArray, PyTree

__all__ = ["FitState", "History", "NonFiniteLossError", "fit"]


class NonFiniteLossError(FloatingPointError):
    """A minibatch gave a non-finite loss or gradient during :func:`fit`.

    The updates of the offending batches were skipped (the parameters stayed finite); the
    epoch was completed, then training stopped.

    Attributes:
        epoch: epoch index (counted from 0) in which it happened.
        batch: index of the first offending minibatch within that epoch.
        sample_indices: indices (into the training samples of ``data``) of that minibatch.
        model: the model at the end of that epoch (bad updates skipped).
        history: the :class:`History` up to the previous epoch.
    """

    def __init__(self, message, *, epoch, batch, sample_indices, model=None, history=None):
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch
        self.sample_indices = sample_indices
        self.model = model
        self.history = history


@dataclasses.dataclass
class History:
    """What happened during :func:`fit`, one entry per epoch run.

    Attributes:
        train_loss: mean of the minibatch losses of each epoch (each computed before that
            batch's update, as Keras reports it).
        val_loss: validation loss after each epoch (empty without validation data).
        best_epoch: epoch (from 0) with the lowest validation loss; None without validation.
        stopped_early: True if early stopping (``patience``) or the callback ended training.
        epochs_run: number of epochs completed, including those before a resume.
    """

    train_loss: list[float] = dataclasses.field(default_factory=list)
    val_loss: list[float] = dataclasses.field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False
    epochs_run: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        return cls(**d)


@dataclasses.dataclass(frozen=True)
class FitState:
    """Everything :func:`fit` needs to continue an interrupted training, as plain data.

    Handed to ``on_checkpoint`` every ``checkpoint_every`` epochs and at the end; passed
    back as ``resume``, the training continues bit-identically (same model, data, key,
    batch size and optimiser). The arrays are the leaves, in ``jax.tree.leaves`` order,
    of the trained parameters, the optimiser state and the best parameters so far:
    ``fit`` restores their structure from its own ``model`` and ``optimizer``, so a state
    read back from ``.npz`` and JSON needs no template.

    Attributes:
        params: leaves of the trained parameters.
        opt_state: leaves of the optimiser state.
        best_params: leaves of the parameters of the best validation epoch.
        epochs_done: epochs completed.
        history: the :class:`History` so far.
        best_val: the best validation loss (None: none yet).
        since_best: epochs since the best validation loss.
        finished_early: training had stopped (early stopping or the callback).
        fingerprint: the sizes and the key of the run (``n_train``, ``n_val``,
            ``batch_size``, ``key``), checked on resume.
    """

    params: tuple[Any, ...]
    opt_state: tuple[Any, ...]
    best_params: tuple[Any, ...]
    epochs_done: int
    history: History
    best_val: float | None
    since_best: int
    finished_early: bool
    fingerprint: dict[str, Any]


def _leaves(tree) -> tuple[Any, ...]:
    return tuple(jax.tree.leaves(tree))


def _restore(like, leaves, what: str):
    """``leaves`` in the structure of ``like``, as JAX arrays, after checking them."""
    want = jax.tree.leaves(like)
    leaves = list(leaves)
    if len(leaves) != len(want):
        raise ValueError(f"fit: cannot resume: the state holds {len(leaves)} arrays of "
                         f"{what}, this model and optimiser have {len(want)}.")
    for i, (got, ref) in enumerate(zip(leaves, want, strict=True)):
        got_shape, got_dtype = np.shape(got), np.asarray(got).dtype
        if got_shape != np.shape(ref) or got_dtype != np.asarray(ref).dtype:
            raise ValueError(f"fit: cannot resume: array {i} of {what} is {got_dtype}"
                             f"{list(got_shape)} in the state, {np.asarray(ref).dtype}"
                             f"{list(np.shape(ref))} here.")
    return jax.tree.unflatten(jax.tree.structure(like), [jnp.asarray(a) for a in leaves])


def _validate_data(data, name: str) -> tuple[list, Any, int]:
    leaves, treedef = jax.tree_util.tree_flatten(data)
    if not leaves:
        raise ValueError(f"fit: `{name}` holds no arrays; pass e.g. (inputs, targets).")
    arrays = []
    for i, leaf in enumerate(leaves):
        a = np.asarray(leaf) if not isinstance(leaf, jax.Array) else leaf
        if a.ndim == 0:
            raise ValueError(
                f"fit: leaf {i} of `{name}` is a scalar; every array in `{name}` needs a "
                "leading sample axis (shape (samples, ...)). Close over constants in loss_fn."
            )
        arrays.append(a)
    sizes = [a.shape[0] for a in arrays]
    if len(set(sizes)) != 1:
        shapes = ", ".join(f"leaf {i}: {a.shape}" for i, a in enumerate(arrays))
        raise ValueError(
            f"fit: the arrays of `{name}` must share their leading (sample) axis; got {shapes}. "
            "Trim or align them so that sample k of every array belongs together."
        )
    return arrays, treedef, sizes[0]


def _take(arrays: list, idx) -> list:
    return [a[idx] for a in arrays]


def _check_positive_int(value, name):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"fit: `{name}` must be a positive integer, got {value!r}.")


def fit(
    model: PyTree,
    loss_fn: Callable[[PyTree, PyTree], jax.Array],
    data: PyTree,
    *,
    key: PRNGKeyArray,
    optimizer: optax.GradientTransformation | None = None,
    epochs: int = 100,
    batch_size: int = 32,
    validation_fraction: float = 0.0,
    validation_data: PyTree | None = None,
    patience: int | None = None,
    on_checkpoint: Callable[[FitState], None] | None = None,
    checkpoint_every: int = 1,
    resume: FitState | None = None,
    progress: bool = True,
    callback: Callable[[int, PyTree, History], bool | None] | None = None,
    filter_spec: PyTree | Callable[[Any], bool] = eqx.is_inexact_array,
) -> tuple[PyTree, History]:
    """Train ``model`` by minibatch gradient descent on ``loss_fn(model, batch)``.

    Each epoch draws a permutation of the training samples from
    ``jax.random.fold_in(key, epoch)``, cuts it into ``len // batch_size`` minibatches (the
    last partial batch is dropped; it changes from epoch to epoch since the permutation
    does) and runs them in ONE jitted ``lax.scan``: loss and gradient
    (``eqx.filter_value_and_grad``), optax update. Between epochs, Python only records the
    losses, evaluates the validation loss, checks early stopping, hands checkpoints to
    ``on_checkpoint`` and updates the progress bar.

    Args:
        model: an equinox module (any pytree). The leaves selected by ``filter_spec``
            (default: floating-point arrays) are trained; the rest (ints, functions, ...)
            are held fixed.
        loss_fn: ``loss_fn(model, batch) -> scalar``, where ``batch`` has the structure of
            ``data`` with ``batch_size`` samples on the leading axis. Validation losses
            are averaged over chunks of ``batch_size`` samples, weighted by chunk size:
            exact when ``loss_fn`` is a mean over samples (all losses in
            :mod:`assimilax.ml.losses` are).
        data: pytree of arrays with a common leading sample axis, e.g. ``(inputs,
            targets)`` or ``(inputs, targets, weights)``.
        key: PRNG key; epoch ``e`` shuffles with ``fold_in(key, e)``.
        optimizer: an optax transformation; default ``optax.adam(1e-3)``. Learning-rate
            schedules go inside it, e.g. ``optax.adam(optax.cosine_decay_schedule(1e-3,
            steps))``: they count optimiser steps (minibatches) through the optimiser
            state, which is in the :class:`FitState`, so a resumed run continues the
            schedule.
        epochs: total number of epochs (counting those before a resume).
        batch_size: samples per minibatch; at most the number of training samples.
        validation_fraction: share of the samples held out for validation: the LAST
            ``round(fraction * samples)`` samples (a contiguous tail, so that for time
            series the validation states are not interleaved with, and nearly copies of,
            training states). Exclusive with ``validation_data``.
        validation_data: a separate validation set with the structure of ``data``.
        patience: early stopping: stop when the validation loss has not improved for
            ``patience`` epochs, and return the model of the best epoch. Needs
            validation data.
        on_checkpoint: called with a :class:`FitState` every ``checkpoint_every`` epochs
            and when training ends (e.g. ``lambda s: assimilax.io.write_fit_state(dir,
            s)``: the application ring writes it; nothing is written here).
        checkpoint_every: epochs between two calls of ``on_checkpoint``.
        resume: a :class:`FitState` of an interrupted run (``None``: start afresh). The
            model, data, key, batch size and optimiser must be those of that run; the
            result is then bit-identical to an uninterrupted run.
        progress: show a ``rich`` progress bar with the epoch and current losses (rich is
            imported only then). ``False`` is silent.
        callback: called after each epoch as ``callback(epoch, model, history)``; returning
            True stops training (``history.stopped_early`` is then True).
        filter_spec: which leaves of ``model`` to train: an equinox filter function or a
            pytree of bools (``eqx.partition`` semantics).

    Returns:
        ``(model, history)``: the trained model (the best one when ``patience`` is set) and
        a :class:`History`.

    Raises:
        ValueError: inconsistent ``data`` shapes or arguments (the message names the
            argument and the fix), or a ``resume`` state of another run.
        NonFiniteLossError: a minibatch loss or gradient was NaN or infinite. The update of
            that batch was skipped inside the scan, the epoch finished, then this error is
            raised naming the epoch, the batch and its samples.
    """
    arrays, treedef, n_samples = _validate_data(data, "data")
    _check_positive_int(batch_size, "batch_size")
    _check_positive_int(checkpoint_every, "checkpoint_every")
    if not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"fit: `epochs` must be a non-negative integer, got {epochs!r}.")
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(
            f"fit: `validation_fraction` must be in [0, 1), got {validation_fraction}."
        )
    if validation_fraction > 0 and validation_data is not None:
        raise ValueError(
            "fit: pass either `validation_fraction` or `validation_data`, not both."
        )
    if patience is not None:
        _check_positive_int(patience, "patience")
        if validation_fraction == 0 and validation_data is None:
            raise ValueError(
                "fit: early stopping (`patience`) needs validation data; set "
                "`validation_fraction` (e.g. 0.2) or pass `validation_data`."
            )
    # Split off the validation set.
    if validation_fraction > 0:
        n_val = max(1, round(validation_fraction * n_samples))
        n_train = n_samples - n_val
        val_arrays = [a[n_train:] for a in arrays]
        arrays = [a[:n_train] for a in arrays]
        if n_train < 1:
            raise ValueError(
                f"fit: validation_fraction={validation_fraction} leaves no training sample "
                f"out of {n_samples}; lower it."
            )
    elif validation_data is not None:
        val_arrays, val_treedef, n_val = _validate_data(validation_data, "validation_data")
        if val_treedef != treedef:
            raise ValueError(
                "fit: `validation_data` must have the structure of `data`; got "
                f"{val_treedef} and {treedef}."
            )
        for i, (a, v) in enumerate(zip(arrays, val_arrays, strict=True)):
            if a.shape[1:] != v.shape[1:]:
                raise ValueError(
                    f"fit: leaf {i} of `validation_data` has sample shape {v.shape[1:]}, "
                    f"`data` has {a.shape[1:]}; they must match."
                )
        n_train = n_samples
    else:
        val_arrays, n_val, n_train = None, 0, n_samples
    if batch_size > n_train:
        raise ValueError(
            f"fit: batch_size={batch_size} exceeds the {n_train} training samples"
            + (f" ({n_val} of {n_samples} held out for validation)" if n_val else "")
            + f"; use batch_size <= {n_train} or more data."
        )
    arrays = [jnp.asarray(a) for a in arrays]
    if val_arrays is not None:
        val_arrays = [jnp.asarray(a) for a in val_arrays]

    optimizer = optax.adam(1e-3) if optimizer is None else optimizer
    params, static = eqx.partition(model, filter_spec)
    with jax.numpy_dtype_promotion("standard"):
        opt_state = optimizer.init(params)

    # Arrays that are not trained (integer arrays, frozen leaves) are traced arguments;
    # only the rest (functions, ints, strings) is part of the static jit cache key.
    frozen, static_rest = eqx.partition(static, eqx.is_array)
    spec = _Spec(static_rest, loss_fn, optimizer, treedef, batch_size)

    def eval_loss(p, val) -> float:
        full, rest = _eval_chunks(p, frozen, val, spec)
        total = 0.0
        if full is not None:
            total += float(np.sum(np.asarray(full, np.float64))) * batch_size
        if rest is not None:
            total += float(rest) * (n_val % batch_size)
        return total / n_val

    history = History()
    best_params = params
    best_val = math.inf
    since_best = 0
    start = 0
    key_data = np.asarray(jax.random.key_data(key)).ravel().tolist() if _is_typed_key(key) \
        else np.asarray(key).ravel().tolist()
    fingerprint = {"n_train": n_train, "n_val": n_val, "batch_size": int(batch_size),
                   "key": key_data}
    if resume is not None:
        for k, v in fingerprint.items():
            if resume.fingerprint.get(k) != v:
                raise ValueError(
                    f"fit: cannot resume: the state was written with "
                    f"{k}={resume.fingerprint.get(k)!r}, "
                    f"this call has {k}={v!r}. Pass the same data, key and batch_size, or "
                    "resume=None to start afresh."
                )
        params = _restore(params, resume.params, "the parameters")
        opt_state = _restore(opt_state, resume.opt_state, "the optimiser state")
        best_params = _restore(params, resume.best_params, "the best parameters")
        history = History.from_dict(dataclasses.asdict(resume.history))
        best_val = resume.best_val if resume.best_val is not None else math.inf
        since_best = resume.since_best
        start = resume.epochs_done
        if resume.finished_early:
            start = max(start, epochs)  # an early-stopped run stays stopped

    def hand_over(epochs_done: int, finished_early: bool = False):
        on_checkpoint(FitState(
            params=_leaves(params), opt_state=_leaves(opt_state),
            best_params=_leaves(best_params), epochs_done=epochs_done,
            history=History.from_dict(history.to_dict()),
            best_val=best_val if math.isfinite(best_val) else None,
            since_best=since_best, finished_early=finished_early,
            fingerprint=dict(fingerprint)))

    bar = _Progress(epochs, start) if progress and start < epochs else None
    stop = False
    try:
        for epoch in range(start, epochs):
            epoch_key = jax.random.fold_in(key, epoch)
            new_params, new_state, losses, loss_ok, grad_ok, perm = _run_epoch(
                params, frozen, opt_state, arrays, epoch_key, spec
            )
            losses, loss_ok, grad_ok = (np.asarray(v) for v in (losses, loss_ok, grad_ok))
            bad = ~(loss_ok & grad_ok)
            if bad.any():
                raise _non_finite_error(
                    epoch, bad, loss_ok, losses, np.asarray(perm), batch_size, arrays,
                    eqx.combine(new_params, static), history,
                )
            params, opt_state = new_params, new_state
            history.train_loss.append(float(np.mean(losses)))
            history.epochs_run = epoch + 1
            if val_arrays is not None:
                val = eval_loss(params, val_arrays)
                history.val_loss.append(val)
                if val < best_val:
                    best_val, best_params, since_best = val, params, 0
                    history.best_epoch = epoch
                else:
                    since_best += 1
                if patience is not None and since_best >= patience:
                    history.stopped_early = stop = True
            if callback is not None and callback(epoch, eqx.combine(params, static), history):
                history.stopped_early = stop = True
            if bar is not None:
                bar.update(epoch, history)
            if on_checkpoint is not None and (stop or epoch + 1 == epochs
                                              or (epoch + 1) % checkpoint_every == 0):
                hand_over(epoch + 1, finished_early=stop)
            if stop:
                break
    finally:
        if bar is not None:
            bar.close()
    if patience is not None and history.best_epoch is not None:
        params = best_params
    return eqx.combine(params, static), history


class _Spec(eqx.Module):
    """The static description of a training problem: the jit cache key of an epoch.

    Module-level jitted functions keyed on it are compiled once and reused by later
    :func:`fit` calls with the same model structure, loss, optimiser and batch size (e.g.
    the repeated trainings of an iterative DA-ML cycle).
    """

    static: Any = eqx.field(static=True)
    loss_fn: Callable = eqx.field(static=True)
    optimizer: Any = eqx.field(static=True)
    treedef: Any = eqx.field(static=True)
    batch_size: int = eqx.field(static=True)

    def batch_loss(self, p, frozen, batch_arrays):
        batch = jax.tree_util.tree_unflatten(self.treedef, batch_arrays)
        return self.loss_fn(eqx.combine(p, frozen, self.static), batch)


@eqx.filter_jit
def _run_epoch(p, frozen, state, train, epoch_key, spec: _Spec):
    """One epoch: shuffle, then a ``lax.scan`` over the full minibatches."""
    n_train = train[0].shape[0]
    n_batches = n_train // spec.batch_size
    perm = jax.random.permutation(epoch_key, n_train)
    idx = perm[: n_batches * spec.batch_size].reshape(n_batches, spec.batch_size)

    def body(carry, batch_idx):
        p, state = carry
        loss, grads = eqx.filter_value_and_grad(spec.batch_loss)(
            p, frozen, _take(train, batch_idx))
        grads_ok = jnp.all(jnp.stack(
            [jnp.all(jnp.isfinite(g)) for g in jax.tree_util.tree_leaves(grads)]
            or [jnp.array(True)]
        ))
        ok = jnp.isfinite(loss) & grads_ok
        # optax mixes Python floats with int32 step counts: fine under standard
        # promotion, refused under strict promotion (as in the test suite).
        with jax.numpy_dtype_promotion("standard"):
            updates, new_state = spec.optimizer.update(grads, state, p)
        new_p = eqx.apply_updates(p, updates)
        keep = lambda new, old: jnp.where(ok, new, old)  # noqa: E731
        p = jax.tree_util.tree_map(keep, new_p, p)
        state = jax.tree_util.tree_map(keep, new_state, state)
        return (p, state), (loss, jnp.isfinite(loss), grads_ok)

    (p, state), (losses, loss_ok, grad_ok) = jax.lax.scan(body, (p, state), idx)
    return p, state, losses, loss_ok, grad_ok, perm


@eqx.filter_jit
def _eval_chunks(p, frozen, val, spec: _Spec):
    """Losses of the full chunks of ``batch_size`` validation samples, and of the rest."""
    n_val, bs = val[0].shape[0], spec.batch_size
    n_chunks = n_val // bs
    full = rest = None
    if n_chunks:
        chunks = [a[: n_chunks * bs].reshape(n_chunks, bs, *a.shape[1:]) for a in val]
        full = jax.lax.map(lambda c: spec.batch_loss(p, frozen, c), chunks)
    if n_val - n_chunks * bs:
        rest = spec.batch_loss(p, frozen, [a[n_chunks * bs:] for a in val])
    return full, rest


def _is_typed_key(key) -> bool:
    return jnp.issubdtype(jnp.asarray(key).dtype, jax.dtypes.prng_key)


def _non_finite_error(epoch, bad, loss_ok, losses, perm, batch_size, arrays, model, history):
    b = int(np.flatnonzero(bad)[0])
    samples = np.sort(perm[b * batch_size:(b + 1) * batch_size])
    what = (f"loss = {losses[b]}" if not loss_ok[b]
            else f"loss = {losses[b]} but a non-finite gradient")
    others = np.flatnonzero(bad)[1:]
    more = (f" ({len(others)} more batch(es) affected: {others[:10].tolist()})"
            if len(others) else "")
    # Which of the batch's samples carry non-finite values in the data itself?
    nonfinite = np.zeros(samples.shape, bool)
    for a in arrays:
        if jnp.issubdtype(a.dtype, jnp.inexact):
            v = np.asarray(a[samples]).reshape(len(samples), -1)
            nonfinite |= ~np.isfinite(v).all(axis=1)
    shown = samples.tolist() if len(samples) <= 32 else (
        samples[:16].tolist() + ["..."] + samples[-4:].tolist())
    if nonfinite.any():
        cause = (f"samples {samples[nonfinite][:20].tolist()} of the training data contain "
                 "NaN or inf: clean or mask them (observation gaps belong in a zero weight, "
                 "not in NaN arithmetic).")
    else:
        cause = ("the data of this batch are finite, so the likely cause is a learning rate "
                 "too high (the loss diverged; lower it or clip gradients with "
                 "optax.clip_by_global_norm), or a loss_fn that divides by zero or takes the "
                 "log/sqrt of a non-positive number.")
    msg = (f"Non-finite training loss in epoch {epoch} (epochs counted from 0), batch {b} of "
           f"{len(bad)}: {what}{more}. That batch holds training samples {shown}. The updates "
           f"of the non-finite batches were skipped. Likely cause: {cause}")
    return NonFiniteLossError(msg, epoch=epoch, batch=b, sample_indices=samples, model=model,
                              history=history)


class _Progress:
    """A rich progress bar over epochs; rich is imported only when one is shown."""

    def __init__(self, epochs: int, start: int):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("epoch"), MofNCompleteColumn(), BarColumn(),
            TextColumn("{task.fields[losses]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task("fit", total=epochs, completed=start, losses="")

    def update(self, epoch: int, history: History):
        text = f"train {history.train_loss[-1]:.4g}"
        if history.val_loss:
            text += f"  val {history.val_loss[-1]:.4g}"
        self._progress.update(self._task, completed=epoch + 1, losses=text)

    def close(self):
        self._progress.stop()
