"""BatchNormalization: the shared layer test (training-mode gradients through both interpreters), a NumPy
reference of Keras 3's formulas, the moving-statistics update once per train batch, Keras 3's rule that a frozen
layer runs in inference mode inside fit, regularizers and constraints on gamma/beta, and errors."""

import numpy as np
import pytest

import nbkeras as keras
from support.layer_test import run_layer_test

BN = keras.layers.BatchNormalization


def ref_bn(x, gamma, beta, mean, var, eps=1e-3):
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def batch_moments(x):
    axes = tuple(range(x.ndim - 1))
    return x.mean(axis=axes), x.var(axis=axes)  # the biased variance, as Keras 3


@pytest.mark.parametrize("kwargs,shape,weights", [
    ({}, (4, 3), [(3,)] * 4),
    ({"center": False}, (3, 2, 2, 3), [(3,)] * 3),
    ({"scale": False, "momentum": 0.5, "epsilon": 0.1}, (2, 3, 2), [(2,)] * 3),
    ({"trainable": False}, (4, 2, 3), [(3,)] * 4),
])
def test_layer_test(kwargs, shape, weights):
    run_layer_test(BN, kwargs, shape, shape, weights)


def test_weights_in_keras_order_moving_ones_non_trainable():
    layer = BN()
    layer(keras.Input((5, 4)))
    assert [w.name for w in layer.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.name for w in layer.trainable_weights] == ["gamma", "beta"]
    assert [w.name for w in layer.non_trainable_weights] == ["moving_mean", "moving_variance"]
    g, b, m, v = layer.get_weights()
    np.testing.assert_array_equal(np.stack([g, b, m, v]), [[1] * 4, [0] * 4, [0] * 4, [1] * 4])


def test_training_and_inference_outputs_match_the_reference():
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, size=(6, 2, 3)).astype("float32")
    layer = BN(momentum=0.9)
    layer(keras.Input((2, 3)))
    gamma, beta = rng.normal(size=3).astype("float32"), rng.normal(size=3).astype("float32")
    mm, mv = rng.normal(size=3).astype("float32"), rng.uniform(0.5, 2, size=3).astype("float32")
    layer.set_weights([gamma, beta, mm, mv])
    np.testing.assert_allclose(layer(x), ref_bn(x, gamma, beta, mm, mv), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(layer.get_weights()[2], mm)  # inference moves nothing
    mean, var = batch_moments(x.astype(np.float64))
    np.testing.assert_allclose(layer(x, training=True), ref_bn(x, gamma, beta, mean, var), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.get_weights()[2], 0.9 * mm + 0.1 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.get_weights()[3], 0.9 * mv + 0.1 * var, rtol=1e-5, atol=1e-6)


def _bn_model(run_eagerly, trainable=True, momentum=0.9, **bn_kwargs):
    inp = keras.Input((2, 3))
    bn = BN(momentum=momentum, trainable=trainable, **bn_kwargs)
    model = keras.Model(inp, bn(inp))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", run_eagerly=run_eagerly)
    return model, bn


@pytest.mark.parametrize("run_eagerly", [False, True])
def test_train_on_batch_then_predict_on_batch(run_eagerly):
    """Each train batch moves the statistics once, with that batch's moments; predict uses the moved ones."""
    rng = np.random.default_rng(1)
    x1, x2 = (rng.normal(1.0, 2.0, size=(8, 2, 3)).astype("float32") for _ in range(2))
    y = np.zeros_like(x1)
    model, bn = _bn_model(run_eagerly)
    mm, mv = np.zeros(3), np.ones(3)
    for x in (x1, x2):
        model.train_on_batch(x, y)
        mean, var = batch_moments(x.astype(np.float64))
        mm, mv = 0.9 * mm + 0.1 * mean, 0.9 * mv + 0.1 * var
        np.testing.assert_allclose(bn.moving_mean.numpy(), mm, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(bn.moving_variance.numpy(), mv, rtol=1e-5, atol=1e-6)
    gamma, beta = bn.gamma.numpy(), bn.beta.numpy()
    pred = model.predict_on_batch(x1)
    np.testing.assert_allclose(pred, ref_bn(x1, gamma, beta, mm, mv), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.moving_mean.numpy(), mm, rtol=1e-5, atol=1e-6)  # predict moves nothing
    model.test_on_batch(x1, y)
    np.testing.assert_allclose(bn.moving_mean.numpy(), mm, rtol=1e-5, atol=1e-6)  # nor does evaluation


@pytest.mark.parametrize("run_eagerly", [False, True])
def test_frozen_layer_uses_moving_statistics_inside_fit(run_eagerly):
    """Keras 3: trainable=False means inference mode, also in fit -- the loss is that of the moving statistics
    and nothing moves."""
    rng = np.random.default_rng(2)
    x = rng.normal(3.0, 2.0, size=(16, 2, 3)).astype("float32")
    y = rng.normal(size=x.shape).astype("float32")
    inp = keras.Input((2, 3))
    bn = BN(trainable=False)
    out = keras.layers.Dense(3)(bn(inp))
    model = keras.Model(inp, out)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse", run_eagerly=run_eagerly)
    weights = [np.full(3, 2.0), np.full(3, 0.5), np.full(3, 1.0), np.full(3, 4.0)]
    bn.set_weights(weights)
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    kernel, bias = model.layers[-1].get_weights()
    want = np.mean((ref_bn(x.astype(np.float64), *weights) @ kernel + bias - y) ** 2)
    np.testing.assert_allclose(history.history["loss"][0], want, rtol=1e-5)
    for w, w0 in zip(bn.get_weights(), weights):
        np.testing.assert_array_equal(w, w0)


def test_regularizers_join_the_loss_and_constraints_apply():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, 2, 3)).astype("float32")
    y = np.zeros_like(x)
    model, bn = _bn_model(False, gamma_regularizer=keras.regularizers.L2(0.5), beta_constraint="non_neg")
    gamma = np.array([1.0, -2.0, 3.0], "float32")
    bn.set_weights([gamma, np.zeros(3), np.zeros(3), np.ones(3)])
    loss = model.train_on_batch(x, y)
    mean, var = batch_moments(x.astype(np.float64))
    out = ref_bn(x, gamma, 0.0, mean, var)
    np.testing.assert_allclose(loss, np.mean(out ** 2) + 0.5 * np.sum(gamma ** 2), rtol=1e-4)
    assert np.all(bn.beta.numpy() >= 0.0)
    config = bn.get_config()
    assert config["gamma_regularizer"]["class_name"] == "L2" and config["beta_constraint"]["class_name"] == "NonNeg"
    assert config["beta_regularizer"] is None
    clone = BN.from_config({**config, "name": "bn_clone"})
    assert clone.gamma_regularizer.l2 == 0.5


def test_config_has_keras_keys_and_defaults():
    config = BN().get_config()
    for key, value in dict(axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, synchronized=False,
                           renorm=False).items():
        assert config[key] == value
    assert config["moving_variance_initializer"]["class_name"] == "Ones"


def test_errors():
    with pytest.raises(ValueError, match="BatchNormalization: `axis`=1 is not supported"):
        BN(axis=1)(keras.Input((4, 3)))
    BN(axis=2)(keras.Input((4, 3)))  # the last axis, counted from the front
    with pytest.raises(ValueError, match="BatchNormalization: `axis` must be an integer"):
        BN(axis=[1, 2])
    with pytest.raises(ValueError, match="BatchNormalization: expected an input of rank >= 2"):
        BN()(np.zeros(3, "float32"))
    with pytest.raises(ValueError, match="BatchNormalization: `renorm=True` is not supported"):
        BN(renorm=True)
    layer = BN()
    layer(keras.Input((3,)))
    with pytest.raises(ValueError, match="BatchNormalization: expected 3 features"):
        layer(keras.Input((4,)))
