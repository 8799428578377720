"""Every layer through the shared layer-test helper, plus each layer's own semantics."""

import numpy as np
import pytest

import nbkeras as keras
from support.layer_test import run_layer_test


def test_dense():
    run_layer_test(keras.layers.Dense, {"units": 3, "activation": "tanh"}, (4, 5), (4, 3), [(5, 3), (3,)])
    run_layer_test(keras.layers.Dense, {"units": 2, "use_bias": False}, (4, 5), (4, 2), [(5, 2)])


def test_dense_on_rank_3_contracts_the_last_axis():
    layer = run_layer_test(keras.layers.Dense, {"units": 3}, (2, 4, 5), (2, 4, 3), [(5, 3), (3,)])
    x = np.random.default_rng(0).normal(size=(2, 4, 5)).astype("float32")
    w, b = layer.get_weights()
    np.testing.assert_allclose(layer(x), x @ w + b, rtol=1e-5, atol=1e-6)


def test_activation_layer_and_softmax_axis():
    run_layer_test(keras.layers.Activation, {"activation": "relu"}, (3, 4), (3, 4))
    layer = keras.layers.Activation(keras.activations.softmax)
    x = np.random.default_rng(1).normal(size=(2, 3, 4)).astype("float32")
    y = layer(x)
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-6)


def test_dropout_is_identity_at_inference_and_inverted_in_training():
    run_layer_test(keras.layers.Dropout, {"rate": 0.5}, (3, 4), (3, 4))
    layer = keras.layers.Dropout(0.25)
    x = np.ones((200, 50), "float32")
    np.testing.assert_array_equal(layer(x), x)
    y = layer(x, training=True)
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    assert 0.65 < kept.mean() < 0.85


def test_flatten():
    run_layer_test(keras.layers.Flatten, {}, (2, 3, 4), (2, 12))


def test_concatenate_and_add():
    a, b = keras.Input((3,)), keras.Input((2,))
    out = keras.layers.Concatenate()([a, b])
    assert out.shape == (None, 5)
    with pytest.raises(ValueError, match="match"):
        keras.layers.Concatenate(axis=1)([keras.Input((2, 3)), keras.Input((2, 4))])
    with pytest.raises(ValueError, match="same shape"):
        keras.layers.Add()([a, b])
    xa, xb = np.ones((2, 3), "float32"), np.full((2, 2), 2.0, "float32")
    np.testing.assert_array_equal(keras.layers.Concatenate()([xa, xb]), np.concatenate([xa, xb], axis=1))
    np.testing.assert_array_equal(keras.layers.Add()([xa, xa]), 2 * xa)


def test_initializers_follow_keras_formulas():
    keras.utils.set_random_seed(0)
    w = keras.initializers.GlorotUniform()((300, 200))
    limit = np.sqrt(6 / 500)
    assert w.dtype == np.float32 and np.abs(w).max() <= limit and np.abs(w).max() > 0.95 * limit
    assert abs(w.std() - limit / np.sqrt(3)) < 0.01 * limit
    h = keras.initializers.HeNormal(seed=3)((400, 300))
    assert abs(h.std() - np.sqrt(2 / 400)) < 0.05 * np.sqrt(2 / 400) and np.abs(h).max() <= 2 * np.sqrt(2 / 400) / 0.8796
    np.testing.assert_array_equal(keras.initializers.get("zeros")((2, 2)), np.zeros((2, 2)))
    q = keras.initializers.Orthogonal(seed=1)((4, 4))
    np.testing.assert_allclose(q @ q.T, np.eye(4), atol=1e-5)
    dense = keras.layers.Dense(3)
    dense(keras.Input((5,)))
    assert np.all(dense.get_weights()[1] == 0)


def test_layer_names_are_unique_per_class():
    keras.backend.clear_session()
    assert [keras.layers.Dense(1).name for _ in range(3)] == ["dense", "dense_1", "dense_2"]
    assert keras.layers.Dropout(0.1).name == "dropout"


def test_activation_layer_glu_halves_its_axis():
    run_layer_test(keras.layers.Activation, {"activation": "glu"}, (3, 4), (3, 2))
    x = np.random.default_rng(2).normal(size=(2, 6)).astype("float32")
    a, b = x[:, :3], x[:, 3:]
    np.testing.assert_allclose(keras.layers.Activation("glu")(x), a / (1 + np.exp(-b)), rtol=1e-5)
