"""ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D, Reshape and Permute: the shared layer test, NumPy references
and errors named by layer and argument."""

import numpy as np
import pytest

import nbkeras as keras
from support.layer_test import run_layer_test

L = keras.layers


def rand(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


@pytest.mark.parametrize("padding,pads", [(1, ((1, 1), (1, 1))), ((2, 0), ((2, 2), (0, 0))),
                                          (((0, 1), (2, 1)), ((0, 1), (2, 1)))])
def test_zero_padding_2d(padding, pads):
    x = rand((2, 2, 3, 2))
    want = np.pad(x, ((0, 0), *pads, (0, 0)))
    layer = run_layer_test(L.ZeroPadding2D, {"padding": padding}, x.shape, want.shape)
    np.testing.assert_array_equal(layer(x), want)
    assert layer.get_config()["padding"] == pads


@pytest.mark.parametrize("padding,pad", [(1, (1, 1)), ((0, 2), (0, 2))])
def test_zero_padding_1d(padding, pad):
    x = rand((2, 3, 2))
    want = np.pad(x, ((0, 0), pad, (0, 0)))
    layer = run_layer_test(L.ZeroPadding1D, {"padding": padding}, x.shape, want.shape)
    np.testing.assert_array_equal(layer(x), want)


@pytest.mark.parametrize("cropping,crops", [(1, ((1, 1), (1, 1))), ((0, 1), ((0, 0), (1, 1))),
                                            (((1, 0), (0, 2)), ((1, 0), (0, 2)))])
def test_cropping_2d(cropping, crops):
    x = rand((2, 4, 5, 2))
    (t, b), (left, r) = crops
    want = x[:, t:x.shape[1] - b, left:x.shape[2] - r]
    layer = run_layer_test(L.Cropping2D, {"cropping": cropping}, x.shape, want.shape)
    np.testing.assert_array_equal(layer(x), want)


@pytest.mark.parametrize("cropping,crop", [(1, (1, 1)), ((2, 0), (2, 0))])
def test_cropping_1d(cropping, crop):
    x = rand((2, 5, 2))
    want = x[:, crop[0]:x.shape[1] - crop[1]]
    layer = run_layer_test(L.Cropping1D, {"cropping": cropping}, x.shape, want.shape)
    np.testing.assert_array_equal(layer(x), want)


def test_upsampling_nearest():
    x = rand((2, 2, 3, 2))
    want = x.repeat(2, axis=1).repeat(3, axis=2)
    layer = run_layer_test(L.UpSampling2D, {"size": (2, 3)}, x.shape, want.shape)
    np.testing.assert_array_equal(layer(x), want)
    x1 = rand((2, 3, 2))
    layer = run_layer_test(L.UpSampling1D, {"size": 3}, x1.shape, (2, 9, 2))
    np.testing.assert_array_equal(layer(x1), x1.repeat(3, axis=1))


def bilinear_axis(n, factor):
    """(n * factor, n) interpolation matrix, half-pixel centres clamped to the edges (jax.image.resize)."""
    m = np.zeros((n * factor, n))
    for o in range(n * factor):
        s = min(max((o + 0.5) / factor - 0.5, 0.0), n - 1.0)
        i0 = int(np.floor(s))
        i1 = min(i0 + 1, n - 1)
        m[o, i0] += 1 - (s - i0)
        m[o, i1] += s - i0
    return m


def test_upsampling_bilinear():
    x = rand((2, 3, 2, 2))
    want = np.einsum("ih,jw,nhwc->nijc", bilinear_axis(3, 2), bilinear_axis(2, 3), x.astype(np.float64))
    layer = run_layer_test(L.UpSampling2D, {"size": (2, 3), "interpolation": "bilinear"}, x.shape, want.shape)
    np.testing.assert_allclose(layer(x), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("target,shape,want", [((6,), (2, 2, 3), (2, 6)), ((-1, 2), (2, 2, 3), (2, 3, 2)),
                                               ((3, 1, 2), (2, 6), (2, 3, 1, 2))])
def test_reshape(target, shape, want):
    x = rand(shape)
    layer = run_layer_test(L.Reshape, {"target_shape": target}, shape, want)
    np.testing.assert_array_equal(layer(x), x.reshape(want))
    assert layer.get_config()["target_shape"] == target


@pytest.mark.parametrize("dims,shape", [((2, 1), (2, 3, 4)), ((3, 1, 2), (2, 2, 3, 2)), ((1,), (2, 3)),
                                        ((4, 2, 3, 1), (1, 2, 1, 3, 2))])
def test_permute(dims, shape):
    x = rand(shape)
    want = x.transpose((0,) + dims)
    layer = run_layer_test(L.Permute, {"dims": dims}, shape, want.shape)
    np.testing.assert_array_equal(layer(x), want)


def test_layers_train_in_a_model():
    x = rand((8, 4, 4, 1))
    y = rand((8, 3), 1)
    model = keras.Sequential([keras.Input((4, 4, 1)), L.ZeroPadding2D(1), L.Cropping2D(((1, 0), (0, 1))),
                              L.UpSampling2D(interpolation="bilinear"), L.Permute((2, 1, 3)), L.Reshape((-1,)),
                              L.Dense(3)])
    model.compile(optimizer="adam", loss="mse")
    assert model.predict(x, verbose=0).shape == (8, 3)
    losses = model.fit(x, y, epochs=5, verbose=0).history["loss"]
    assert losses[-1] < losses[0]


def test_errors():
    with pytest.raises(ValueError, match="ZeroPadding2D: `padding` must be non-negative"):
        L.ZeroPadding2D(-1)
    with pytest.raises(ValueError, match="ZeroPadding2D: `padding` must be an int, a tuple of 2 ints or"):
        L.ZeroPadding2D((1, 2, 3))
    with pytest.raises(ValueError, match="ZeroPadding1D: expected an input of rank 3"):
        L.ZeroPadding1D()(keras.Input((3, 3, 1)))
    with pytest.raises(ValueError, match="ZeroPadding2D: `data_format='channels_first'` is not supported"):
        L.ZeroPadding2D(data_format="channels_first")
    with pytest.raises(ValueError, match="Cropping2D: `cropping`=.* must leave at least one position"):
        L.Cropping2D(((1, 1), (0, 0)))(keras.Input((2, 4, 1)))
    with pytest.raises(ValueError, match="Cropping1D: `cropping`=.* must leave"):
        L.Cropping1D(2)(keras.Input((4, 1)))
    with pytest.raises(ValueError, match="Cropping1D: `cropping` must be non-negative"):
        L.Cropping1D(-1)
    with pytest.raises(ValueError, match="UpSampling1D: `size` must be a positive integer"):
        L.UpSampling1D(0)
    with pytest.raises(ValueError, match="UpSampling2D: `size` must be positive"):
        L.UpSampling2D((2, -1))
    with pytest.raises(ValueError, match="UpSampling2D: `interpolation` must be 'nearest' or 'bilinear'"):
        L.UpSampling2D(interpolation="bicubic")
    with pytest.raises(ValueError, match="UpSampling2D: expected an input of rank 4"):
        L.UpSampling2D()(keras.Input((4, 1)))
    with pytest.raises(ValueError, match="Reshape: `target_shape` must hold positive integers and at most one -1"):
        L.Reshape((-1, -1))
    with pytest.raises(ValueError, match="Reshape: `target_shape`=\\(5,\\) holds 5 values"):
        L.Reshape((5,))(keras.Input((2, 3)))
    with pytest.raises(ValueError, match="Reshape: cannot reshape"):
        L.Reshape((-1, 4))(keras.Input((2, 3)))
    with pytest.raises(ValueError, match="Permute: `dims` must be a permutation of 1..n"):
        L.Permute((0, 1))
    with pytest.raises(ValueError, match="Permute: `dims`=\\(2, 1\\) needs an input of rank 3"):
        L.Permute((2, 1))(keras.Input((2, 3, 4)))
