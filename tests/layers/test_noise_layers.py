"""GaussianNoise, GaussianDropout, AlphaDropout: the shared layer test (training step in both interpreters with
the same uniforms, gradients), the identity at inference, the noise's statistics in training (loose bounds over
many samples), configs and errors."""

import numpy as np
import pytest

import nbkeras as keras
from support.layer_test import run_layer_test


L = keras.layers
LAYERS = [(L.GaussianNoise, {"stddev": 0.4}), (L.GaussianDropout, {"rate": 0.3}), (L.AlphaDropout, {"rate": 0.2})]


@pytest.mark.parametrize("cls,kwargs", LAYERS)
@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 3)])  # odd widths: the normals' pairs need a padding uniform
def test_layer_test(cls, kwargs, shape):
    run_layer_test(cls, kwargs, shape, shape)


@pytest.mark.parametrize("cls,kwargs", LAYERS)
def test_identity_at_inference(cls, kwargs):
    x = np.random.default_rng(0).normal(size=(6, 7)).astype("float32")
    layer = cls(**kwargs)
    np.testing.assert_array_equal(layer(x), x)
    model = keras.Sequential([keras.Input((7,)), layer])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    model.compile(optimizer="sgd", loss="mse")
    assert model.evaluate(x, x, verbose=0) == 0.0  # evaluate runs in inference mode too


def test_training_statistics():
    keras.utils.set_random_seed(0)
    ones = np.ones((400, 500), "float32")
    y = L.GaussianNoise(0.3)(ones, training=True) - 1.0
    assert abs(y.mean()) < 0.01 and abs(y.std() - 0.3) < 0.01
    assert abs(np.mean(y ** 4) / 0.3 ** 4 - 3.0) < 0.15  # normal, not uniform
    y = L.GaussianDropout(0.5)(ones, training=True)
    assert abs(y.mean() - 1.0) < 0.01 and abs(y.var() - 1.0) < 0.03  # N(1, rate / (1 - rate))
    x = np.random.default_rng(1).normal(size=(400, 500)).astype("float32")
    y = L.AlphaDropout(0.2)(x, training=True)
    assert abs(y.mean()) < 0.02 and abs(y.var() - 1.0) < 0.03  # self-normalizing: mean 0, variance 1 kept
    a = ((0.8 * (1 + 0.2 * (1.6732632423543772 * 1.0507009873554805) ** 2)) ** -0.5)
    dropped_value = a * -1.7580993408473766 + a * 1.7580993408473766 * 0.2
    assert abs(np.mean(np.isclose(y, dropped_value, atol=1e-6)) - 0.2) < 0.01


def test_noise_trains_in_a_model_and_zero_rate_is_free():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    for eager in (False, True):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((5,)), L.GaussianNoise(0.1), L.Dense(8), L.GaussianDropout(0.1),
                                  L.AlphaDropout(0.1), L.Dense(1)])
        model.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse", run_eagerly=eager)
        losses = model.fit(x, y, epochs=10, verbose=0).history["loss"]
        assert losses[-1] < 0.5 * losses[0]
    for cls, arg in ((L.GaussianNoise, "stddev"), (L.GaussianDropout, "rate"), (L.AlphaDropout, "rate")):
        assert cls(**{arg: 0.0}).aliases_input and not cls(**{arg: 0.1}).aliases_input


def test_configs_and_errors():
    assert L.GaussianNoise(0.2, seed=4).get_config()["stddev"] == 0.2
    assert L.GaussianDropout(0.2, seed=4).get_config()["seed"] == 4
    assert L.AlphaDropout(0.2).get_config()["noise_shape"] is None
    with pytest.raises(ValueError, match="GaussianNoise: `stddev` must be a float in \\[0, 1\\]"):
        L.GaussianNoise(1.5)
    with pytest.raises(ValueError, match="GaussianDropout: `rate` must be a float in \\[0, 1\\)"):
        L.GaussianDropout(1.0)
    with pytest.raises(ValueError, match="AlphaDropout: `rate` must be a float in \\[0, 1\\)"):
        L.AlphaDropout(-0.1)
    with pytest.raises(ValueError, match="AlphaDropout: `noise_shape` is not supported"):
        L.AlphaDropout(0.1, noise_shape=(None, 1))
