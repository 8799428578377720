"""RepeatVector, ActivityRegularization and Lambda: the shared layer test, NumPy references, Keras's
activity penalty in the loss, configs and errors."""

import numpy as np
import pytest

import nbkeras as keras
from support.layer_test import run_layer_test


L = keras.layers


def test_repeat_vector():
    layer = run_layer_test(L.RepeatVector, {"n": 3}, (2, 4), (2, 3, 4))
    x = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")
    np.testing.assert_array_equal(layer(x), np.repeat(x[:, None, :], 3, axis=1))
    assert layer.get_config()["n"] == 3


def test_repeat_vector_errors():
    with pytest.raises(TypeError, match="RepeatVector: expected an integer value for `n`"):
        L.RepeatVector(2.0)
    with pytest.raises(ValueError, match="RepeatVector: `n` must be a positive integer"):
        L.RepeatVector(0)
    with pytest.raises(ValueError, match="RepeatVector: expected an input of rank 2"):
        L.RepeatVector(2)(keras.Input((3, 4)))


def test_activity_regularization_layer_test_includes_the_penalty_gradient():
    # check_description differentiates the step's loss, penalty included, against central differences.
    run_layer_test(L.ActivityRegularization, {"l1": 0.1, "l2": 0.2}, (3, 4), (3, 4))


def test_activity_regularization_adds_keras_penalty_to_the_loss():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 3)).astype("float32")
    y = rng.normal(size=(6, 2)).astype("float32")
    for eager in (False, True):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((3,)), L.Dense(2), L.ActivityRegularization(l1=0.01, l2=0.1)])
        model.compile(optimizer="sgd", loss="mse", run_eagerly=eager)
        out = model.predict(x, verbose=0)
        # Keras: the penalty of the layer's output, divided by the batch size, joins the loss.
        want = np.mean((out - y) ** 2) + (0.01 * np.abs(out).sum() + 0.1 * (out ** 2).sum()) / 6
        np.testing.assert_allclose(model.evaluate(x, y, batch_size=6, verbose=0), want, rtol=1e-5)
        np.testing.assert_array_equal(model.predict(x, verbose=0), out)  # the identity


def test_activity_regularization_config():
    layer = L.ActivityRegularization(l1=0.5)
    config = layer.get_config()
    assert config["l1"] == 0.5 and config["l2"] == 0.0 and "activity_regularizer" not in config
    clone = L.ActivityRegularization.from_config(config)
    assert clone.activity_regularizer.get_config() == layer.activity_regularizer.get_config()
    with pytest.raises(ValueError):
        L.ActivityRegularization(l1=-1.0)


def test_lambda_layer_traces_its_function_with_ops():
    from nbkeras import ops
    from support.layer_test import check_description

    check_description(lambda: L.Lambda(lambda x: ops.tanh(x) * 2.0 + x), [(3, 4)])
    layer = L.Lambda(lambda x, k: x * k, arguments={"k": 3.0})
    np.testing.assert_allclose(layer(np.ones((2, 2), "float32")), 3.0)
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(1)(L.Lambda(lambda t: ops.square(t))(inp)))
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    assert np.isfinite(model.train_on_batch(x, x[:, :1]))
    with pytest.raises(ValueError, match="Python code"):
        L.Lambda(lambda t: t).get_config()
