"""Normalization and Rescaling: the shared layer test, NumPy references, adapt() statistics like Keras's (arrays
and iterables of batches), given statistics broadcast as Keras does, configs, and errors."""

import numpy as np
import pytest

import nbkeras as keras
from support.layer_test import run_layer_test


L = keras.layers


@pytest.mark.parametrize("kwargs,shape", [
    ({"mean": [1.0, -2.0, 0.5], "variance": [4.0, 0.25, 0.0]}, (2, 3)),
    ({"mean": 0.5, "variance": 2.0, "invert": True}, (2, 3, 2)),
    ({"axis": 1, "mean": list(range(12)), "variance": [1.0 + i for i in range(12)]}, (2, 12, 2)),
    ({"axis": None, "mean": 1.0, "variance": 9.0}, (2, 2, 3)),
])
def test_normalization_with_given_statistics(kwargs, shape):
    layer = run_layer_test(L.Normalization, kwargs, shape, shape, [])
    x = np.random.default_rng(2).normal(size=shape).astype("float32")
    axis = kwargs.get("axis", -1)
    bshape = [1] * len(shape) if axis is None else [s if d == axis % len(shape) else 1 for d, s in enumerate(shape)]
    mean, var = (np.reshape(kwargs[k], bshape) if np.ndim(kwargs[k]) else np.float64(kwargs[k])
                 for k in ("mean", "variance"))
    denom = np.maximum(np.sqrt(var), 1e-7)
    want = mean + x * denom if kwargs.get("invert") else (x - mean) / denom
    np.testing.assert_allclose(layer(x), want, rtol=1e-5, atol=1e-5)


def test_normalization_adapt_on_an_array_matches_numpy():
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(50, 4, 3)).astype("float32")
    layer = L.Normalization()
    layer.adapt(data)
    mean, var, count = layer.get_weights()
    np.testing.assert_allclose(mean, data.mean(axis=(0, 1)), rtol=1e-6)
    np.testing.assert_allclose(var, data.var(axis=(0, 1)), rtol=1e-6)
    assert count.shape == () and [w.name for w in layer.weights] == ["mean", "variance", "count"]
    assert all(not w.trainable for w in layer.weights)
    y = layer(data)
    np.testing.assert_allclose(y.mean(axis=(0, 1)), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=(0, 1)), 1.0, rtol=1e-4)
    run_layer_test(L.Normalization, {}, (2, 4, 3), (2, 4, 3), [(3,), (3,), ()])


def test_normalization_adapt_on_batches_merges_like_keras():
    rng = np.random.default_rng(1)
    data = rng.normal(-1.0, 0.5, size=(70, 3))
    layer = L.Normalization(axis=-1)
    layer.adapt(iter([data[:32], data[32:64], data[64:]]))
    np.testing.assert_allclose(layer.get_weights()[0], data.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(layer.get_weights()[1], data.var(axis=0), rtol=1e-5)
    whole = L.Normalization(axis=None)
    whole.adapt(data)
    np.testing.assert_allclose(whole.get_weights()[:2], [data.mean(), data.var()], rtol=1e-6)


def test_normalization_adapted_first_layer_in_a_trained_model():
    rng = np.random.default_rng(0)
    x = rng.normal(100.0, 30.0, size=(128, 3)).astype("float32")
    y = ((x[:, :1] - 100.0) / 30.0).astype("float32")
    norm = L.Normalization()
    norm.adapt(x)
    for eager in (False, True):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((3,)), norm, L.Dense(1)])
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse", run_eagerly=eager)
        before = norm.get_weights()
        losses = model.fit(x, y, epochs=10, verbose=0).history["loss"]
        assert losses[-1] < 0.1 * losses[0]
        for a, b in zip(before, norm.get_weights()):
            np.testing.assert_array_equal(a, b)  # statistics do not train
    norm.adapt(x * 2)  # adapting a compiled model's layer writes through to its weights
    np.testing.assert_allclose(model.layers[0].get_weights()[0], (x * 2).mean(axis=0), rtol=1e-5)


def test_normalization_config_and_errors():
    config = L.Normalization(axis=(1, 2), mean=[1.0], variance=[2.0], invert=True).get_config()
    assert (config["axis"], config["mean"], config["variance"], config["invert"]) == ((1, 2), [1.0], [2.0], True)
    assert L.Normalization().get_config()["mean"] is None
    with pytest.raises(ValueError, match="both `mean` and `variance` must be set"):
        L.Normalization(mean=1.0)
    with pytest.raises(ValueError, match="must have the same shape"):
        L.Normalization(mean=[1.0, 2.0], variance=[1.0])
    with pytest.raises(ValueError, match="rank of `mean` must be at most"):
        L.Normalization(mean=[[1.0]], variance=[[1.0]])
    with pytest.raises(ValueError, match="do not broadcast"):
        L.Normalization(mean=[1.0, 2.0], variance=[1.0, 1.0])(keras.Input((3,)))
    with pytest.raises(ValueError, match="adapt\\(\\) cannot be used"):
        L.Normalization(mean=1.0, variance=1.0).adapt(np.ones((2, 2)))
    with pytest.raises(ValueError, match="includes the batch axis"):
        L.Normalization(axis=0)(keras.Input((3,)))
    with pytest.raises(ValueError, match="in the range \\[-ndim, ndim\\)"):
        L.Normalization(axis=4)(keras.Input((3,)))
    layer = L.Normalization()
    layer.adapt(np.ones((4, 3)))
    with pytest.raises(ValueError, match="built with input shape"):
        layer(keras.Input((5,)))
    with pytest.raises(ValueError, match="empty iterable"):
        L.Normalization().adapt(iter([]))


@pytest.mark.parametrize("kwargs", [{"scale": 1 / 255.0}, {"scale": 2.0, "offset": -1.0},
                                    {"scale": [1.0, 2.0, 3.0], "offset": [0.0, 0.5, 1.0]},
                                    {"scale": np.array([[0.5, 1.5, 2.5]]), "offset": 0.25}])
def test_rescaling(kwargs):
    layer = run_layer_test(L.Rescaling, kwargs, (2, 4, 3), (2, 4, 3))
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    want = x * np.reshape(kwargs["scale"], (-1,)) + np.reshape(kwargs.get("offset", 0.0), (-1,))
    np.testing.assert_allclose(layer(x), want, rtol=1e-6, atol=1e-6)
    config = layer.get_config()
    assert np.allclose(config["scale"], kwargs["scale"]) and np.allclose(config["offset"], kwargs.get("offset", 0.0))


def test_rescaling_errors():
    with pytest.raises(ValueError, match="Rescaling: `scale` must be a number"):
        L.Rescaling("a lot")
    with pytest.raises(ValueError, match="must be finite"):
        L.Rescaling(np.inf)
    with pytest.raises(ValueError, match="vary along the last axis only"):
        L.Rescaling(np.ones((2, 3)))
    with pytest.raises(ValueError, match="does not match input shape"):
        L.Rescaling([1.0, 2.0])(keras.Input((4, 3)))
