"""Pooling layers: the shared layer test (both interpreters, gradients, config), a NumPy reference of Keras's
padding rule, Keras 2 aliases, and errors named by layer and argument."""

import numpy as np
import pytest

import nbkeras as keras
from support.layer_test import run_layer_test

L = keras.layers


def pads(n, pool, stride, padding):
    """(out, front pad) as Keras/TF: same -> out = ceil(n / stride), total = max((out-1)*stride + pool - n, 0)."""
    if padding == "valid":
        return (n - pool) // stride + 1, 0
    out = -(-n // stride)
    return out, max((out - 1) * stride + pool - n, 0) // 2


def ref_pool2d(x, pool, strides, padding, mode):
    """Loop reference over (N, H, W, C); windows clipped to the input (max ignores padding, mean divides by the
    number of valid positions, as Keras 3)."""
    (oh, top), (ow, left) = (pads(x.shape[1], pool[0], strides[0], padding),
                             pads(x.shape[2], pool[1], strides[1], padding))
    out = np.empty((x.shape[0], oh, ow, x.shape[3]))
    for i in range(oh):
        for j in range(ow):
            h0, w0 = i * strides[0] - top, j * strides[1] - left
            win = x[:, max(h0, 0):h0 + pool[0], max(w0, 0):w0 + pool[1], :]
            out[:, i, j] = win.max(axis=(1, 2)) if mode == "max" else win.mean(axis=(1, 2))
    return out


CASES_2D = [((2, 2), None, "valid", (2, 4, 5, 2)), ((3, 2), (2, 1), "same", (2, 5, 4, 2)),
            ((2, 2), (1, 1), "same", (1, 3, 3, 2)), ((3, 3), (2, 2), "valid", (2, 5, 6, 1))]


@pytest.mark.parametrize("pool,strides,padding,shape", CASES_2D)
@pytest.mark.parametrize("cls,mode", [(L.MaxPooling2D, "max"), (L.AveragePooling2D, "avg")])
def test_pooling_2d(cls, mode, pool, strides, padding, shape):
    x = np.random.default_rng(1).normal(size=shape).astype("float32")
    want = ref_pool2d(x.astype(np.float64), pool, strides or pool, padding, mode)
    layer = run_layer_test(cls, {"pool_size": pool, "strides": strides, "padding": padding}, shape, want.shape)
    np.testing.assert_allclose(layer(x), want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("pool,strides,padding,length", [(2, None, "valid", 5), (3, 2, "same", 6),
                                                         (2, 1, "same", 4)])
@pytest.mark.parametrize("cls,mode", [(L.MaxPooling1D, "max"), (L.AveragePooling1D, "avg")])
def test_pooling_1d(cls, mode, pool, strides, padding, length):
    x = np.random.default_rng(2).normal(size=(2, length, 3)).astype("float32")
    want = ref_pool2d(x[:, None].astype(np.float64), (1, pool), (1, strides or pool), padding, mode)[:, 0]
    layer = run_layer_test(cls, {"pool_size": pool, "strides": strides, "padding": padding}, x.shape, want.shape)
    np.testing.assert_allclose(layer(x), want, rtol=1e-6, atol=1e-6)


def test_defaults_and_config_follow_keras():
    layer = L.MaxPooling2D()
    assert (layer.pool_size, layer.strides, layer.padding, layer.data_format) == ((2, 2), (2, 2), "valid",
                                                                                   "channels_last")
    assert L.MaxPooling1D().pool_size == (2,)
    config = L.AveragePooling2D(3, strides=1, padding="SAME").get_config()
    assert config["pool_size"] == (3, 3) and config["strides"] == (1, 1) and config["padding"] == "same"
    assert L.GlobalMaxPooling1D(keepdims=True).get_config()["keepdims"] is True


def test_keras2_aliases():
    assert L.MaxPool1D is L.MaxPooling1D and L.MaxPool2D is L.MaxPooling2D
    assert L.AvgPool1D is L.AveragePooling1D and L.AvgPool2D is L.AveragePooling2D
    assert L.GlobalAvgPool1D is L.GlobalAveragePooling1D and L.GlobalAvgPool2D is L.GlobalAveragePooling2D
    assert L.GlobalMaxPool1D is L.GlobalMaxPooling1D and L.GlobalMaxPool2D is L.GlobalMaxPooling2D


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("cls,reduce,rank", [(L.GlobalAveragePooling2D, np.mean, 2), (L.GlobalMaxPooling2D, np.max, 2),
                                             (L.GlobalAveragePooling1D, np.mean, 1), (L.GlobalMaxPooling1D, np.max, 1)])
def test_global_pooling(cls, reduce, rank, keepdims):
    shape = (2, 3, 4, 2) if rank == 2 else (3, 5, 2)
    x = np.random.default_rng(3).normal(size=shape).astype("float32")
    axes = tuple(range(1, rank + 1))
    want = reduce(x.astype(np.float64), axis=axes, keepdims=keepdims)
    layer = run_layer_test(cls, {"keepdims": keepdims}, shape, want.shape)
    np.testing.assert_allclose(layer(x), want, rtol=1e-6, atol=1e-6)


def test_max_pool_gradient_goes_to_the_maximum():
    x = np.array([[1.0, 4.0], [3.0, 2.0]]).reshape(1, 2, 2, 1)
    inp = keras.Input((2, 2, 1))
    model = keras.Model(inp, L.Flatten()(L.MaxPooling2D()(inp)))
    model._record_input_grads = True
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    model.train_on_batch(x.astype("float32"), np.array([[0.0]], "float32"))
    dx = model._engine.input_gradients(1)[0].reshape(2, 2)
    np.testing.assert_allclose(dx, [[0.0, 8.0], [0.0, 0.0]])  # d/dm (m - 0)^2 = 2m = 8 at the 4


@pytest.mark.parametrize("cls", [L.MaxPooling2D, L.AveragePooling2D, L.MaxPooling1D, L.AveragePooling1D])
def test_pooling_errors(cls):
    rank = 2 if cls in (L.MaxPooling2D, L.AveragePooling2D) else 1
    name = cls.__name__
    good = (8,) * rank + (2,)
    with pytest.raises(ValueError, match=f"{name}: expected an input of rank {rank + 2}"):
        cls(2)(keras.Input((8,) * (rank + 1) + (2,)))
    with pytest.raises(ValueError, match=f"{name}: `pool_size`.* larger than the input"):
        cls(3)(keras.Input((2,) * rank + (1,)))
    cls(3, padding="same")(keras.Input((2,) * rank + (1,)))  # 'same' pads instead
    with pytest.raises(ValueError, match=f"{name}: `strides` must be positive"):
        cls(2, strides=-1)
    with pytest.raises(ValueError, match=f"{name}: `pool_size` must be positive"):
        cls(0)
    with pytest.raises(ValueError, match=f"{name}: `padding` must be one of"):
        cls(2, padding="full")
    with pytest.raises(ValueError, match=f"{name}: `data_format='channels_first'` is not supported"):
        cls(2, data_format="channels_first")
    cls(2)(keras.Input(good))


@pytest.mark.parametrize("cls", [L.GlobalMaxPooling2D, L.GlobalAveragePooling1D])
def test_global_pooling_errors(cls):
    name = cls.__name__
    with pytest.raises(ValueError, match=f"{name}: expected an input of rank"):
        cls()(keras.Input((4,)))
    with pytest.raises(ValueError, match=f"{name}: `data_format='channels_first'` is not supported"):
        cls(data_format="channels_first")


def test_errors_are_raised_on_arrays_before_any_kernel_runs():
    with pytest.raises(ValueError, match="MaxPooling2D: `pool_size`"):
        L.MaxPooling2D(4)(np.zeros((1, 3, 3, 1), "float32"))


@pytest.mark.parametrize("run_eagerly", [False, True])
def test_cnn_like_stack_trains(run_eagerly):
    """Every layer family of this file set in one Sequential model with a Dense head: the loss goes down."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8, 8, 2)).astype("float32")
    y = (x[:, :4, :4, 0].sum(axis=(1, 2)) > x[:, 4:, 4:, 1].sum(axis=(1, 2))).astype("int64")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 2)), L.ZeroPadding2D(1), L.BatchNormalization(), L.MaxPooling2D(2, strides=1),
        L.SpatialDropout2D(0.1), L.AveragePooling2D(2, padding="same"), L.UpSampling2D(), L.Cropping2D(1),
        L.Permute((2, 1, 3)), L.Reshape((-1, 2)), L.MaxPooling1D(2), L.GlobalAveragePooling1D(keepdims=True),
        L.Flatten(), L.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy",
                  run_eagerly=run_eagerly)
    losses = model.fit(x, y, batch_size=16, epochs=6, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert model.predict(x[:5], verbose=0).shape == (5, 2)
