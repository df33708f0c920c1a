"""assimilax.ml.fit: learning, checkpoint/resume, non-finite losses, early stopping, errors.

Checkpoints: ``fit`` hands a FitState to ``on_checkpoint`` and continues from one given as
``resume``; the files are written and read by :mod:`assimilax.io` (the ring).
"""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from assimilax.io import read_fit_state, write_fit_state
from assimilax.ml import History, NonFiniteLossError, fit, losses, nets

KEY = jax.random.key(0)


def linear_data(n_samples=256, n=4, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, n)) / np.sqrt(n)
    x = rng.normal(size=(n_samples, n))
    return a, x, x @ a.T


def mse_loss(model, batch):
    x, y = batch
    return losses.mse(jax.vmap(model)(x), y)


def affine(n=4, key=KEY):
    return nets.MLP(n, n, (), key=key)


def test_fit_recovers_a_linear_map():
    """Noise-free x -> A x with an affine net: the least-squares optimum is (A, 0) exactly,
    so Adam converges to it up to float32 round-off (~1e-7 relative) and the optimiser's
    final jitter; 1e-4 leaves two orders of magnitude of margin (observed: 1e-6)."""
    a, x, y = linear_data()
    model, history = fit(affine(), mse_loss, (x, y), key=KEY, epochs=40, batch_size=16,
                         optimizer=optax.adam(1e-2), progress=False)
    np.testing.assert_allclose(model.layers[0].weight, a, atol=1e-4)
    np.testing.assert_allclose(model.layers[0].bias, 0.0, atol=1e-4)
    assert history.epochs_run == 40 and len(history.train_loss) == 40
    assert history.train_loss[-1] < 1e-5 * history.train_loss[0]
    assert history.val_loss == [] and history.best_epoch is None and not history.stopped_early


def _leaves(model):
    return [np.asarray(leaf) for leaf in jax.tree.leaves(eqx.filter(model, eqx.is_array))]


def test_resume_after_interruption_is_bit_identical(tmp_path):
    _, x, y = linear_data(96)
    net = nets.MLP(4, 4, (8,), key=KEY)
    kwargs = dict(key=KEY, epochs=7, batch_size=16, validation_fraction=0.25, patience=50,
                  optimizer=optax.adam(optax.exponential_decay(1e-2, 10, 0.5)), progress=False)
    reference, ref_history = fit(net, mse_loss, (x, y), **kwargs)

    class Interrupted(Exception):
        pass

    def interrupt(epoch, model, history):
        if epoch == 4:  # after the checkpoint of epoch 3 (checkpoint_every=3), before epoch 5
            raise Interrupted

    ckpt = tmp_path / "ckpt"

    def save(state):
        write_fit_state(ckpt, state)

    with pytest.raises(Interrupted):
        fit(net, mse_loss, (x, y), on_checkpoint=save, checkpoint_every=3, callback=interrupt,
            **kwargs)
    assert json.loads((ckpt / "state.json").read_text())["epochs_done"] == 3
    resumed, history = fit(net, mse_loss, (x, y), on_checkpoint=save, checkpoint_every=3,
                           resume=read_fit_state(ckpt), **kwargs)
    for got, want in zip(_leaves(resumed), _leaves(reference), strict=True):
        np.testing.assert_array_equal(got, want)
    assert history == ref_history
    assert json.loads((ckpt / "state.json").read_text())["epochs_done"] == 7

    # Resuming with another key would not continue the same run: refused.
    with pytest.raises(ValueError, match="cannot resume.*key"):
        fit(net, mse_loss, (x, y), resume=read_fit_state(ckpt),
            **{**kwargs, "key": jax.random.key(1)})


def test_resume_from_a_state_in_memory(tmp_path):
    """The FitState handed to on_checkpoint is plain data: resumed in memory it continues
    the run bit-identically; a state of another model is refused; no file, no state."""
    _, x, y = linear_data(64)
    kw = dict(key=KEY, batch_size=16, progress=False)
    reference, _ = fit(affine(), mse_loss, (x, y), epochs=4, **kw)
    states = []
    fit(affine(), mse_loss, (x, y), epochs=2, on_checkpoint=states.append, **kw)
    assert [s.epochs_done for s in states] == [1, 2]
    resumed, history = fit(affine(), mse_loss, (x, y), epochs=4, resume=states[-1], **kw)
    for got, want in zip(_leaves(resumed), _leaves(reference), strict=True):
        np.testing.assert_array_equal(got, want)
    assert history.epochs_run == 4
    with pytest.raises(ValueError, match="cannot resume"):
        fit(nets.MLP(4, 4, (8,), key=KEY), mse_loss, (x, y), epochs=4, resume=states[-1],
            **kw)
    assert read_fit_state(tmp_path) is None


def test_nan_in_one_sample_names_the_batch():
    _, x, y = linear_data(64)
    x[37, 2] = np.nan
    with pytest.raises(NonFiniteLossError) as info:
        fit(affine(), mse_loss, (x, y), key=KEY, epochs=3, batch_size=16, progress=False)
    err = info.value
    assert err.epoch == 0 and 37 in err.sample_indices and len(err.sample_indices) == 16
    msg = str(err)
    assert f"epoch 0 (epochs counted from 0), batch {err.batch} of 4" in msg
    assert "samples [37] of the training data contain NaN" in msg
    # The update of the NaN batch was skipped: the returned model is finite.
    assert all(np.isfinite(leaf).all() for leaf in _leaves(err.model))


def test_divergence_with_finite_data_points_at_the_learning_rate():
    _, x, y = linear_data(64)
    with pytest.raises(NonFiniteLossError, match="learning rate too high"):
        fit(affine(), mse_loss, (x, y), key=KEY, epochs=20, batch_size=16,
            optimizer=optax.sgd(1e3), progress=False)


def test_early_stopping_restores_the_best_model():
    """Validation targets are -A x: fitting A x makes the validation loss grow after the
    first epochs, so training stops `patience` epochs after the best one and returns it."""
    a, x, y = linear_data(128)
    xv = x[:32]
    seen = {}

    def record(epoch, model, history):
        seen[epoch] = model

    model, history = fit(affine(), mse_loss, (x, y), key=KEY, epochs=50, batch_size=16,
                         validation_data=(xv, -xv @ a.T), patience=3,
                         optimizer=optax.adam(1e-2), callback=record, progress=False)
    best = history.best_epoch
    assert history.stopped_early and history.epochs_run == best + 4 < 50
    assert history.val_loss[best] == min(history.val_loss)
    for got, want in zip(_leaves(model), _leaves(seen[best]), strict=True):
        np.testing.assert_array_equal(got, want)
    val = float(mse_loss(model, (xv, -xv @ a.T)))
    assert val == pytest.approx(history.val_loss[best], rel=1e-5)


def test_validation_fraction_holds_out_the_tail():
    _, x, y = linear_data(40)
    y[30:] = np.nan  # only the held-out tail is bad: training stays finite
    _, history = fit(affine(), mse_loss, (x, y), key=KEY, epochs=1, batch_size=10,
                     validation_fraction=0.25, progress=False)
    assert np.isfinite(history.train_loss[0]) and np.isnan(history.val_loss[0])


def test_bad_arguments_give_clear_errors():
    _, x, y = linear_data(32)
    net = affine()
    with pytest.raises(ValueError, match=r"`data` must share their leading.*\(32, 4\).*\(31, 4\)"):
        fit(net, mse_loss, (x, y[:-1]), key=KEY, progress=False)
    with pytest.raises(ValueError, match="batch_size=64 exceeds the 32 training samples"):
        fit(net, mse_loss, (x, y), key=KEY, batch_size=64, progress=False)
    with pytest.raises(ValueError, match=r"8 of 32 held out.*batch_size <= 24"):
        fit(net, mse_loss, (x, y), key=KEY, batch_size=30, validation_fraction=0.25,
            progress=False)
    with pytest.raises(ValueError, match="`patience`\\) needs validation data"):
        fit(net, mse_loss, (x, y), key=KEY, patience=3, progress=False)
    with pytest.raises(ValueError, match="leaf 1 of `data` is a scalar"):
        fit(net, mse_loss, (x, 1.0), key=KEY, progress=False)
    with pytest.raises(ValueError, match="`validation_data` has sample shape"):
        fit(net, mse_loss, (x, y), key=KEY, validation_data=(x[:, :3], y), progress=False)
    with pytest.raises(ValueError, match="`batch_size` must be a positive integer"):
        fit(net, mse_loss, (x, y), key=KEY, batch_size=0, progress=False)


def test_non_array_leaves_and_progress_bar():
    """Non-array fields (a function, a string, an int) ride along untouched; the bar runs."""

    class Scaled(eqx.Module):
        net: nets.MLP
        name: str
        power: int
        fn: object

        def __call__(self, x):
            return self.fn(self.net(x)) ** self.power

    model = Scaled(affine(), "scaled", 1, lambda h: h)
    _, x, y = linear_data(32)
    trained, history = fit(model, mse_loss, (x, y), key=KEY, epochs=2, batch_size=8,
                           validation_fraction=0.25, progress=True)
    assert trained.name == "scaled" and trained.power == 1 and trained.fn is model.fn
    assert isinstance(history, History) and history.to_dict()["epochs_run"] == 2


def test_frozen_leaves_stay_fixed():
    """A filter_spec freezes Standardized's statistics even under AdamW's weight decay; an
    integer array in the model is carried along as data, not trained."""

    class Picked(eqx.Module):
        net: nets.Standardized
        index: jax.Array  # integer: never trained

        def __call__(self, x):
            return self.net(x)[self.index]

    inner = nets.Standardized(affine(), jnp.full(4, 1.0), 2.0, 0.5, 3.0)
    model = Picked(inner, jnp.arange(4))
    spec = jax.tree.map(eqx.is_inexact_array, model)
    spec = eqx.tree_at(lambda m: (m.net.in_mean, m.net.in_std, m.net.out_mean, m.net.out_std),
                       spec, replace=(False, False, False, False))
    _, x, y = linear_data(32)
    trained, _ = fit(model, mse_loss, (x, y), key=KEY, epochs=2, batch_size=8,
                     optimizer=optax.adamw(1e-2, weight_decay=0.5), filter_spec=spec,
                     progress=False)
    for name in ("in_mean", "in_std", "out_mean", "out_std"):
        np.testing.assert_array_equal(getattr(trained.net, name), getattr(inner, name))
    np.testing.assert_array_equal(trained.index, model.index)
    assert not np.array_equal(trained.net.net.layers[0].weight, inner.net.layers[0].weight)
