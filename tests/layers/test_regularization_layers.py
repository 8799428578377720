"""SpatialDropout1D/2D: the shared layer test, whole channels dropped per sample at training time, the identity
at inference, and errors."""

import numpy as np
import pytest

import nbkeras as keras
from support.layer_test import run_layer_test

L = keras.layers


@pytest.mark.parametrize("cls,shape", [(L.SpatialDropout1D, (3, 4, 2)), (L.SpatialDropout2D, (2, 2, 3, 3))])
def test_layer_test(cls, shape):
    run_layer_test(cls, {"rate": 0.5}, shape, shape)


@pytest.mark.parametrize("cls,shape", [(L.SpatialDropout1D, (300, 5, 8)), (L.SpatialDropout2D, (200, 3, 4, 8))])
def test_whole_channels_are_dropped_and_the_rest_scaled(cls, shape):
    x = np.ones(shape, "float32")
    layer = cls(0.25)
    np.testing.assert_array_equal(layer(x), x)
    y = layer(x, training=True).reshape(shape[0], -1, shape[-1])
    kept = y[:, 0, :] != 0
    np.testing.assert_array_equal(y != 0, np.broadcast_to(kept[:, None, :], y.shape))  # one decision per channel
    np.testing.assert_allclose(y[y != 0], 1 / 0.75, rtol=1e-6)
    assert 0.68 < kept.mean() < 0.82


def test_trains_in_a_model_and_config():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4, 3)).astype("float32")
    y = x.sum(axis=(1, 2))[:, None]
    for eager in (False, True):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4, 3)), L.SpatialDropout1D(0.2), L.Flatten(), L.Dense(1)])
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse", run_eagerly=eager)
        losses = model.fit(x, y, epochs=10, verbose=0).history["loss"]
        assert losses[-1] < losses[0]
    config = L.SpatialDropout2D(0.2, seed=3).get_config()
    assert (config["rate"], config["seed"], config["data_format"]) == (0.2, 3, "channels_last")


def test_errors():
    for cls in (L.SpatialDropout1D, L.SpatialDropout2D):
        with pytest.raises(ValueError, match=f"{cls.__name__}: `rate` must be a float in \\[0, 1\\]"):
            cls(1.5)
    with pytest.raises(ValueError, match="SpatialDropout1D: expected an input of rank 3"):
        L.SpatialDropout1D(0.5)(keras.Input((2, 3, 4)))
    with pytest.raises(ValueError, match="SpatialDropout2D: expected an input of rank 4"):
        L.SpatialDropout2D(0.5)(keras.Input((2, 3)))
    with pytest.raises(ValueError, match="SpatialDropout2D: `data_format='channels_first'` is not supported"):
        L.SpatialDropout2D(0.5, data_format="channels_first")
