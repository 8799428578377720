"""Fused layer calls (nbkeras/models/fuse_conv_pool.py): a Conv -> MaxPooling pair runs as one kernel call per direction
when nothing else needs the tensor between them, and gives the numbers of the unfused pair."""

import numpy as np
import pytest
from support.layer_test import check_description, floatx

import nbkeras as keras
from nbkeras.models import fuse_conv_pool as fusion
from nbkeras.models import program

L = keras.layers


def fns(model, y=None):
    """The kernel calls of the model's training program, after one step on zeros."""
    x = np.zeros((4,) + tuple(model.inputs[0].shape[1:]), "float32")
    model.train_on_batch(x, np.zeros(4, "int64") if y is None else y)
    return [c.fn for c in model._plan.program.calls()]


@pytest.fixture
def fusion_on(monkeypatch):
    monkeypatch.setattr(fusion, "ENABLED", True)


def cnn(seed=0, conv_activation="relu", pool=None, extra=()):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((10, 10, 2)), L.Conv2D(4, 3, activation=conv_activation),
                              pool or L.MaxPooling2D(2), *extra, L.Flatten(), L.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    return model


def test_conv_then_max_pool_is_one_call_each_way(fusion_on):
    calls = fns(cnn())
    assert calls.count("conv.conv2d_max_pool2d_forward") == 1
    assert calls.count("conv.conv2d_max_pool2d_backward") == 1
    assert not any(c.startswith("pooling.") for c in calls)
    assert "conv.conv2d_forward_relu" not in calls


@pytest.mark.parametrize("model", [
    lambda: cnn(conv_activation="tanh"),                                  # an activation the kernels do not fuse
    lambda: cnn(pool=L.MaxPooling2D(2, strides=1)),                       # overlapping windows
    lambda: cnn(pool=L.MaxPooling2D(3, padding="same")),                  # padded windows (10 is not 3 * k)
    lambda: cnn(pool=L.AveragePooling2D(2)),
])
def test_pairs_that_are_not_fused(fusion_on, model):
    assert not any("max_pool2d_" in c and c.startswith("conv.") for c in fns(model()))


def test_a_conv_output_read_elsewhere_is_not_fused(fusion_on):
    inp = keras.Input((8, 8, 1))
    z = L.Conv2D(2, 3, activation="relu")(inp)
    pooled = L.MaxPooling2D(2)(z)
    model = keras.Model(inp, [L.Flatten()(pooled), z])  # z is also an output
    model.compile(optimizer="sgd", loss=["mse", "mse"])
    assert "conv.conv2d_max_pool2d_forward" not in fns(model, [np.zeros((4, 18)), np.zeros((4, 6, 6, 2))])
    inp = keras.Input((8, 8, 1))
    z = L.Conv2D(2, 3, activation="relu", activity_regularizer="l2")(inp)  # needs z itself
    model = keras.Model(inp, L.Flatten()(L.MaxPooling2D(2)(z)))
    model.compile(optimizer="sgd", loss="mse")
    assert "conv.conv2d_max_pool2d_forward" not in fns(model, np.zeros((4, 18)))


@pytest.mark.parametrize("make", [
    lambda: keras.Sequential([L.Conv2D(3, 3, activation="relu"), L.MaxPooling2D(2)]),
    lambda: keras.Sequential([L.Conv2D(4, (2, 3), strides=(1, 2), padding="same", groups=2), L.MaxPooling2D((2, 1))]),
    lambda: keras.Sequential([L.Conv2D(2, 2, dilation_rate=2, activation="relu", use_bias=False),
                              L.MaxPooling2D(3)]),
], ids=["relu", "grouped-strided-linear", "dilated-no-bias-pool3"])
def test_fused_pair_interpreters_agree_and_gradients_match(fusion_on, make):
    check_description(make, [(2, 9, 8, 2)], seed=3)


def test_fused_conv1d_pair(fusion_on):
    check_description(lambda: keras.Sequential([L.Conv1D(3, 3, activation="relu"), L.MaxPooling1D(2)]),
                      [(2, 9, 2)], seed=4)


def _train(enabled, monkeypatch, steps=3):
    monkeypatch.setattr(fusion, "ENABLED", enabled)
    model = cnn(seed=5)
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(16, 10, 10, 2)), rng.integers(0, 3, 16)
    losses = [model.train_on_batch(x, y) for _ in range(steps)]
    return losses, model.get_weights(), model.predict(x, verbose=0), model.evaluate(x, y, verbose=0)


def test_fused_and_unfused_models_give_the_same_numbers(monkeypatch):
    with floatx("float64"):
        fused = _train(True, monkeypatch)
        plain = _train(False, monkeypatch)
    np.testing.assert_allclose(fused[0], plain[0], rtol=1e-12)
    for a, b in zip(fused[1], plain[1]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fused[2], plain[2], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fused[3], plain[3], rtol=1e-12)


def test_model_called_on_arrays_uses_the_fused_pair(monkeypatch):
    """model(x) on arrays runs the fused pair, and gives what the same model built without fusion gives."""
    x = np.random.default_rng(1).normal(size=(3, 10, 10, 2)).astype("float32")
    built = []
    real_build = program.build
    monkeypatch.setattr(program, "build", lambda *a, **k: built.append(real_build(*a, **k)) or built[-1])
    out = {}
    for enabled in (True, False):
        monkeypatch.setattr(fusion, "ENABLED", enabled)
        built.clear()
        out[enabled] = np.asarray(cnn()(x))  # the same seed, so the same weights
        fns = [c.fn for p in built for c in p.calls()]
        assert ("conv.conv2d_max_pool2d_forward" in fns) == enabled, fns
    np.testing.assert_allclose(out[True], out[False], rtol=1e-5, atol=1e-6)
