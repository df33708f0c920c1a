"""Losses of assimilax.ml.losses against hand-computed values."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from assimilax.ml import losses

PRED = jnp.array([[1.0, 2.0], [3.0, 4.0]])
TARGET = jnp.array([[0.0, 2.0], [3.0, 2.0]])  # squared errors [[1, 0], [0, 4]]


def test_mse():
    assert losses.mse(PRED, TARGET) == pytest.approx((1 + 0 + 0 + 4) / 4)


def test_mse_computes_in_the_dtype_of_pred():
    out = losses.mse(PRED.astype(jnp.float32), TARGET)  # float64 target, strict promotion
    assert out.dtype == jnp.float32 and out == pytest.approx(1.25)


def test_weighted_mse_per_variable_and_per_entry():
    # per-variable weights (2, 0.5): (1*2 + 0 + 0 + 4*0.5) / 4, normalised by the entry count
    assert losses.weighted_mse(PRED, TARGET, jnp.array([2.0, 0.5])) == pytest.approx(1.0)
    w = jnp.array([[0.0, 1.0], [1.0, 3.0]])  # a zero weight masks the first entry out
    assert losses.weighted_mse(PRED, TARGET, w) == pytest.approx(12.0 / 4)


def test_exp_weighted_mse():
    target = jnp.array([[0.0, 1.0], [-2.0, 0.5]])
    pred = target + 1.0  # unit errors: the loss is the mean weight
    expected = (1.0 + math.e + math.exp(4.0) + math.exp(0.25)) / 4  # w = exp(1 * |y|**2)
    assert losses.exp_weighted_mse(pred, target, 1.0, 2.0) == pytest.approx(expected)
    # non-integer exponent: |y| is used, so negative targets stay finite
    expected = (1.0 + math.exp(0.5) + math.exp(0.5 * 2**1.5) + math.exp(0.5 * 0.5**1.5)) / 4
    assert losses.exp_weighted_mse(pred, target, 0.5, 1.5) == pytest.approx(expected)
    # b = 0: plain MSE
    assert losses.exp_weighted_mse(PRED, TARGET, 0.0, 4.0) == pytest.approx(1.25)
    with pytest.raises(ValueError, match="c must be >= 0"):
        losses.exp_weighted_mse(PRED, TARGET, 1.0, -1.0)


def test_exp_weighted_mse_weights_carry_no_gradient():
    target = jnp.array([[0.5, 1.0]])
    g = jax.grad(lambda p: losses.exp_weighted_mse(p, target, 2.0, 1.0))(jnp.zeros((1, 2)))
    w = np.exp(2.0 * np.array([0.5, 1.0]))
    np.testing.assert_allclose(g, [2 * w * (0.0 - np.array([0.5, 1.0])) / 2])


def test_variance_weighted_mse():
    variance = jnp.array([[0.99, 1.99], [0.0, 3.99]])  # + 0.01 -> [[1, 2], [0.01, 4]]
    expected = (1 / 1 + 0 / 2 + 0 / 0.01 + 4 / 4) / 4
    assert losses.variance_weighted_mse(PRED, TARGET, variance) == pytest.approx(expected)
    # a collapsed variance is floored: weight 1 / floor
    assert losses.variance_weighted_mse(PRED, TARGET, 0.0, floor=0.5) == pytest.approx(2.5)
    with pytest.raises(ValueError, match="floor"):
        losses.variance_weighted_mse(PRED, TARGET, 1.0, floor=-1.0)


def test_rollout_loss_values_and_lead_weights():
    x0 = jnp.array([[1.0, 0.0], [0.5, 1.0]])
    # step x -> 2x: leads 1, 2 give [[2, 0], [1, 2]] and [[4, 0], [2, 4]]
    targets = jnp.array([[[2.0, 0.0], [3.0, 0.0]], [[1.0, 2.0], [2.0, 2.0]]])
    # squared errors: lead 1 all zero; lead 2 [[1, 0], [0, 4]] -> MSE_2 = 5/4
    def step(x):
        return 2.0 * x

    assert losses.rollout_loss(step, x0, targets) == pytest.approx((0 + 5 / 4) / 2)
    assert losses.rollout_loss(step, x0, targets, jnp.array([1.0, 3.0])) == pytest.approx(
        (1 * 0 + 3 * 5 / 4) / 2)
    w = jnp.ones((2, 2, 2)).at[1, 1, 1].set(0.0)  # per-entry weights mask the 4
    assert losses.rollout_loss(step, x0, targets, w) == pytest.approx(1 / 8)
    with pytest.raises(ValueError, match="per-lead weights"):
        losses.rollout_loss(step, x0, targets, jnp.ones(3))
    with pytest.raises(ValueError, match=r"\(batch, lead, state\)"):
        losses.rollout_loss(step, x0, targets[0])


def test_rollout_loss_gradient_backpropagates_through_time():
    # x_l = a**l, targets 0: L(a) = (a**2 + a**4) / 2, dL/da = a + 2 a**3
    def loss(a):
        return losses.rollout_loss(lambda x: a * x, jnp.ones((1, 1)), jnp.zeros((1, 2, 1)))

    a = 0.7
    assert loss(a) == pytest.approx((a**2 + a**4) / 2)
    assert jax.grad(loss)(a) == pytest.approx(a + 2 * a**3)
