"""Dense with kernel/bias/activity regularizers and constraints: the loss adds Keras's penalties (trainable weights
unscaled, activity divided by the batch size), the gradient includes them, constraints hold after each update."""

import numpy as np
import pytest

import nbkeras as keras
from support.layer_test import check_description


def _model(**dense_kwargs):
    keras.utils.set_random_seed(0)
    inp = keras.Input((4,))
    out = keras.layers.Dense(3, **dense_kwargs)(inp)
    return keras.Model(inp, out)


@pytest.mark.parametrize("eager", [False, True])
def test_penalties_join_the_loss_as_keras_adds_them(eager):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 4)).astype("float32"), rng.normal(size=(5, 3)).astype("float32")
    model = _model(kernel_regularizer=keras.regularizers.L1L2(l1=0.01, l2=0.02),
                   bias_regularizer="l2", activity_regularizer=keras.regularizers.L1(0.03))
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse", run_eagerly=eager)
    w, b = model.get_weights()
    b[:] = rng.normal(size=3)
    model.set_weights([w, b])
    out = x @ w + b
    expected = (np.mean((out - y) ** 2) + 0.01 * np.abs(w).sum() + 0.02 * (w ** 2).sum() + 0.01 * (b ** 2).sum()
                + 0.03 * np.abs(out).sum() / 5)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), expected, rtol=1e-5)
    np.testing.assert_allclose(model.train_on_batch(x, y), expected, rtol=1e-5)


def test_frozen_weights_carry_no_penalty():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(5, 4)).astype("float32"), rng.normal(size=(5, 3)).astype("float32")
    model = _model(kernel_regularizer="l2")
    model.layers[-1].trainable = False
    model.compile(optimizer="sgd", loss="mse")
    w, b = model.get_weights()
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), np.mean((x @ w + b - y) ** 2), rtol=1e-5)


def test_regularized_gradients_match_central_differences():
    check_description(lambda: keras.layers.Dense(3, activation="tanh", kernel_regularizer=keras.regularizers.L1L2(
        0.01, 0.02), bias_regularizer="l2", activity_regularizer=keras.regularizers.L2(0.05)), [(4, 3)])


@pytest.mark.parametrize("eager", [False, True])
def test_constraints_hold_after_each_update(eager):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(32, 4)).astype("float32"), 10 * rng.normal(size=(32, 3)).astype("float32")
    model = _model(kernel_constraint=keras.constraints.MaxNorm(0.5), bias_constraint="non_neg")
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse", run_eagerly=eager)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    w, b = model.get_weights()
    assert np.all(np.sqrt((w ** 2).sum(axis=0)) <= 0.5 + 1e-5)
    assert np.all(b >= 0)


def test_config_round_trips_regularizers_and_constraints():
    layer = keras.layers.Dense(2, kernel_regularizer="l1", bias_constraint=keras.constraints.MaxNorm(3),
                               activity_regularizer="l2")
    clone = keras.layers.Dense.from_config(layer.get_config())
    assert isinstance(clone.kernel_regularizer, keras.regularizers.L1)
    assert isinstance(clone.bias_constraint, keras.constraints.MaxNorm) and clone.bias_constraint.max_value == 3
    assert isinstance(clone.activity_regularizer, keras.regularizers.L2)
