"""Convolution layers: the shared layer test for every layer and option group (shapes, weights in Keras's order,
config round trip, both interpreters bit for bit, gradients against central differences), outputs against NumPy
references written here as plain loops, Keras 3's argument and input errors, and the CNN workload training."""

import numpy as np
import pytest

import nbkeras as keras
from support.layer_test import check_description, floatx, run_layer_test

L = keras.layers


# ------------------------------------------------------------------------------------ NumPy references
def axis_geometry(n, k, s, d, padding):
    """(output length, front pad) by Keras's rules, written out independently of the layers."""
    span = (k - 1) * d + 1
    if padding == "valid":
        return (n - span) // s + 1, 0
    out = -(-n // s)
    if padding == "causal":
        return out, span - 1
    return out, max((out - 1) * s + span - n, 0) // 2


def ref_conv(x, kernel, bias, strides, paddings, dilations, groups=1, depthwise=False):
    """Direct convolution of (N, H, W, C) with a (KH, KW, Cg, F) kernel (depthwise: (KH, KW, C, M), output
    channel c*M + m); ``paddings`` is one mode per spatial axis."""
    n, h, w, c = x.shape
    kh, kw = kernel.shape[:2]
    (oh, pt), (ow, pl) = (axis_geometry(size, k, s, d, p) for size, k, s, d, p in
                          zip((h, w), (kh, kw), strides, dilations, paddings))
    f = c * kernel.shape[3] if depthwise else kernel.shape[3]
    out = np.zeros((n, oh, ow, f))
    for i in range(oh):
        for j in range(ow):
            for p in range(kh):
                for q in range(kw):
                    y, z = i * strides[0] - pt + p * dilations[0], j * strides[1] - pl + q * dilations[1]
                    if not (0 <= y < h and 0 <= z < w):
                        continue
                    pixel = x[:, y, z, :]  # (N, C)
                    if depthwise:
                        out[:, i, j, :] += (pixel[:, :, None] * kernel[p, q][None]).reshape(n, f)
                        continue
                    cg, fg = kernel.shape[2], f // groups
                    for g in range(groups):
                        out[:, i, j, g * fg:(g + 1) * fg] += pixel[:, g * cg:(g + 1) * cg] @ kernel[p, q, :,
                                                                                                 g * fg:(g + 1) * fg]
    return out + (bias if bias is not None else 0.0)


def jax_transpose_pads(k, s, d, padding, output_padding):
    """Keras 3's (left, right) padding of the stride-dilated input for a transposed convolution (its JAX rule)."""
    span = (k - 1) * d + 1
    if padding == "valid":
        op = max(span, s) - span if output_padding is None else output_padding
        return span - 1, span - 1 + op
    total = s + span - 2 if output_padding is None else span + span % 2 - 2 + output_padding
    left = min(total // 2 + total % 2, span - 1)
    return left, total - left


def ref_transpose(x, kernel, bias, strides, padding, output_padding, dilations):
    """JAX's definition: insert stride - 1 zeros between input pixels, pad (left, right), then correlate with the
    spatially flipped kernel (KH, KW, F, C)."""
    n, h, w, c = x.shape
    kh, kw, f, _ = kernel.shape
    ops = output_padding or (None, None)
    pads = [jax_transpose_pads(k, s, d, padding, op) for k, s, d, op in zip((kh, kw), strides, dilations, ops)]
    sizes = [(size - 1) * s + 1 + left + right for size, s, (left, right) in zip((h, w), strides, pads)]
    xd = np.zeros((n, max(sizes[0], (h - 1) * strides[0] + 1 + pads[0][0]),
                   max(sizes[1], (w - 1) * strides[1] + 1 + pads[1][0]), c))
    xd[:, pads[0][0]:pads[0][0] + (h - 1) * strides[0] + 1:strides[0],
       pads[1][0]:pads[1][0] + (w - 1) * strides[1] + 1:strides[1]] = x
    xd = xd[:, :sizes[0], :sizes[1]]
    oh, ow = sizes[0] - (kh - 1) * dilations[0], sizes[1] - (kw - 1) * dilations[1]
    out = np.zeros((n, oh, ow, f))
    for i in range(oh):
        for j in range(ow):
            for p in range(kh):
                for q in range(kw):
                    pixel = xd[:, i + p * dilations[0], j + q * dilations[1], :]
                    out[:, i, j, :] += pixel @ kernel[kh - 1 - p, kw - 1 - q].T
    return out + (bias if bias is not None else 0.0)


def weights_of(layer):
    w = layer.get_weights()
    return w[0], (w[1] if layer.use_bias else None)


def data(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def assert_close(got, want):
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


# ---------------------------------------------------------------------------------------------- Conv2D
CONV2D_CASES = [
    (dict(filters=3, kernel_size=3), (2, 5, 5, 2), (2, 3, 3, 3), [(3, 3, 2, 3), (3,)]),
    (dict(filters=2, kernel_size=(2, 3), strides=2), (2, 5, 5, 2), (2, 2, 2, 2), [(2, 3, 2, 2), (2,)]),
    (dict(filters=2, kernel_size=3, padding="same", activation="relu"), (2, 4, 4, 2), (2, 4, 4, 2),
     [(3, 3, 2, 2), (2,)]),
    (dict(filters=2, kernel_size=2, strides=(2, 3), padding="same"), (2, 5, 4, 1), (2, 3, 2, 2), [(2, 2, 1, 2), (2,)]),
    (dict(filters=2, kernel_size=2, dilation_rate=2, padding="same"), (2, 5, 5, 1), (2, 5, 5, 2),
     [(2, 2, 1, 2), (2,)]),
    (dict(filters=4, kernel_size=2, groups=2, use_bias=False), (2, 4, 4, 2), (2, 3, 3, 4), [(2, 2, 1, 4)]),
    (dict(filters=2, kernel_size=1, activation="tanh", use_bias=False), (2, 3, 3, 2), (2, 3, 3, 2), [(1, 1, 2, 2)]),
]


@pytest.mark.parametrize("kwargs,input_shape,output_shape,weight_shapes", CONV2D_CASES)
def test_conv2d(kwargs, input_shape, output_shape, weight_shapes):
    layer = run_layer_test(L.Conv2D, kwargs, input_shape, output_shape, weight_shapes)
    x = data(input_shape, 1)
    kernel, bias = weights_of(layer)
    strides = layer.strides
    want = ref_conv(x.astype(np.float64), kernel, bias, strides, [layer.padding] * 2, layer.dilation_rate,
                    layer.groups)
    if kwargs.get("activation") == "relu":
        want = np.maximum(want, 0.0)
    elif kwargs.get("activation") == "tanh":
        want = np.tanh(want)
    assert_close(layer(x), want)


def test_conv2d_same_padding_puts_the_extra_row_at_the_end():
    # 4 rows, kernel 2, stride 1: one row of padding in total, TF/Keras put it at the bottom, so output row 0
    # reads input rows 0 and 1 (with a 1 at row 0 only the first output row sees it through tap 0).
    layer = L.Conv2D(1, (2, 1), padding="same", use_bias=False, kernel_initializer="ones")
    x = np.zeros((1, 4, 1, 1), "float32")
    x[0, 0] = 1.0
    np.testing.assert_array_equal(layer(x)[0, :, 0, 0], [1.0, 0.0, 0.0, 0.0])


# ---------------------------------------------------------------------------------------------- Conv1D
CONV1D_CASES = [
    (dict(filters=3, kernel_size=3), (2, 6, 2), (2, 4, 3), [(3, 2, 3), (3,)]),
    (dict(filters=2, kernel_size=2, strides=2, padding="same"), (2, 5, 2), (2, 3, 2), [(2, 2, 2), (2,)]),
    (dict(filters=2, kernel_size=2, padding="causal", dilation_rate=2, activation="sigmoid"), (2, 5, 2), (2, 5, 2),
     [(2, 2, 2), (2,)]),
    (dict(filters=2, kernel_size=3, padding="causal", strides=2), (2, 5, 1), (2, 3, 2), [(3, 1, 2), (2,)]),
    (dict(filters=4, kernel_size=2, groups=2, use_bias=False), (2, 4, 2), (2, 3, 4), [(2, 1, 4)]),
]


@pytest.mark.parametrize("kwargs,input_shape,output_shape,weight_shapes", CONV1D_CASES)
def test_conv1d(kwargs, input_shape, output_shape, weight_shapes):
    layer = run_layer_test(L.Conv1D, kwargs, input_shape, output_shape, weight_shapes)
    x = data(input_shape, 2)
    kernel, bias = weights_of(layer)
    want = ref_conv(x[:, None].astype(np.float64), kernel[None], bias, (1,) + layer.strides,
                    ["valid", layer.padding], (1,) + layer.dilation_rate, layer.groups)[:, 0]
    if kwargs.get("activation") == "sigmoid":
        want = 1.0 / (1.0 + np.exp(-want))
    assert_close(layer(x), want)


def test_conv1d_causal_output_sees_only_the_past():
    layer = L.Conv1D(2, 3, padding="causal", dilation_rate=2)
    x = data((1, 8, 2), 3)
    y = layer(x)
    x2 = x.copy()
    x2[0, 5:] += 10.0  # changing steps >= 5 leaves outputs 0..4 unchanged
    np.testing.assert_array_equal(layer(x2)[0, :5], y[0, :5])
    assert not np.allclose(layer(x2)[0, 5], y[0, 5])


# ------------------------------------------------------------------------------------------- Depthwise
DEPTHWISE_CASES = [
    (dict(kernel_size=3), (2, 5, 5, 2), (2, 3, 3, 2), [(3, 3, 2, 1), (2,)]),
    (dict(kernel_size=2, depth_multiplier=2, padding="same", strides=2), (2, 5, 5, 2), (2, 3, 3, 4),
     [(2, 2, 2, 2), (4,)]),
    (dict(kernel_size=2, dilation_rate=2, use_bias=False, activation="relu"), (2, 5, 5, 2), (2, 3, 3, 2),
     [(2, 2, 2, 1)]),
]


@pytest.mark.parametrize("kwargs,input_shape,output_shape,weight_shapes", DEPTHWISE_CASES)
def test_depthwise_conv2d(kwargs, input_shape, output_shape, weight_shapes):
    layer = run_layer_test(L.DepthwiseConv2D, kwargs, input_shape, output_shape, weight_shapes)
    x = data(input_shape, 4)
    kernel, bias = weights_of(layer)
    want = ref_conv(x.astype(np.float64), kernel, bias, layer.strides, [layer.padding] * 2, layer.dilation_rate,
                    depthwise=True)
    if kwargs.get("activation") == "relu":
        want = np.maximum(want, 0.0)
    assert_close(layer(x), want)


def test_depthwise_conv1d():
    layer = run_layer_test(L.DepthwiseConv1D, dict(kernel_size=2, depth_multiplier=2, padding="same"), (2, 5, 2),
                           (2, 5, 4), [(2, 2, 2), (4,)])
    x = data((2, 5, 2), 5)
    kernel, bias = weights_of(layer)
    want = ref_conv(x[:, None].astype(np.float64), kernel[None], bias, (1, 1), ["valid", "same"], (1, 1),
                    depthwise=True)[:, 0]
    assert_close(layer(x), want)


# ------------------------------------------------------------------------------------------- Separable
SEPARABLE_CASES = [
    (dict(filters=3, kernel_size=2), (2, 4, 4, 2), (2, 3, 3, 3), [(2, 2, 2, 1), (1, 1, 2, 3), (3,)]),
    (dict(filters=2, kernel_size=3, depth_multiplier=2, padding="same", strides=2, activation="relu"), (2, 5, 5, 2),
     (2, 3, 3, 2), [(3, 3, 2, 2), (1, 1, 4, 2), (2,)]),
    (dict(filters=2, kernel_size=2, dilation_rate=2, use_bias=False), (2, 5, 5, 1), (2, 3, 3, 2),
     [(2, 2, 1, 1), (1, 1, 1, 2)]),
]


@pytest.mark.parametrize("kwargs,input_shape,output_shape,weight_shapes", SEPARABLE_CASES)
def test_separable_conv2d(kwargs, input_shape, output_shape, weight_shapes):
    layer = run_layer_test(L.SeparableConv2D, kwargs, input_shape, output_shape, weight_shapes)
    x = data(input_shape, 6)
    weights = layer.get_weights()
    mid = ref_conv(x.astype(np.float64), weights[0], None, layer.strides, [layer.padding] * 2, layer.dilation_rate,
                   depthwise=True)
    want = mid @ weights[1][0, 0] + (weights[2] if layer.use_bias else 0.0)
    if kwargs.get("activation") == "relu":
        want = np.maximum(want, 0.0)
    assert_close(layer(x), want)


def test_separable_conv1d():
    layer = run_layer_test(L.SeparableConv1D, dict(filters=3, kernel_size=2, depth_multiplier=2), (2, 5, 2),
                           (2, 4, 3), [(2, 2, 2), (1, 4, 3), (3,)])
    x = data((2, 5, 2), 7)
    dk, pk, b = layer.get_weights()
    mid = ref_conv(x[:, None].astype(np.float64), dk[None], None, (1, 1), ["valid"] * 2, (1, 1), depthwise=True)
    assert_close(layer(x), mid[:, 0] @ pk[0] + b)


# ------------------------------------------------------------------------------------------- Transpose
TRANSPOSE_CASES = [
    (dict(filters=2, kernel_size=3), (2, 3, 3, 2), (2, 5, 5, 2), [(3, 3, 2, 2), (2,)]),
    (dict(filters=2, kernel_size=3, strides=2, padding="same"), (2, 3, 3, 2), (2, 6, 6, 2), [(3, 3, 2, 2), (2,)]),
    (dict(filters=3, kernel_size=2, strides=2), (2, 2, 3, 1), (2, 4, 6, 3), [(2, 2, 3, 1), (3,)]),
    (dict(filters=2, kernel_size=3, strides=3, padding="valid", output_padding=(1, 2), use_bias=False),
     (2, 2, 2, 1), (2, 7, 8, 2), [(3, 3, 2, 1)]),
    (dict(filters=2, kernel_size=(2, 3), strides=2, padding="same", output_padding=1, activation="tanh"),
     (2, 2, 3, 2), (2, 3, 6, 2), [(2, 3, 2, 2), (2,)]),
    (dict(filters=2, kernel_size=2, dilation_rate=2, padding="same"), (2, 3, 3, 1), (2, 3, 3, 2),
     [(2, 2, 2, 1), (2,)]),
]


@pytest.mark.parametrize("kwargs,input_shape,output_shape,weight_shapes", TRANSPOSE_CASES)
def test_conv2d_transpose(kwargs, input_shape, output_shape, weight_shapes):
    layer = run_layer_test(L.Conv2DTranspose, kwargs, input_shape, output_shape, weight_shapes)
    x = data(input_shape, 8)
    kernel, bias = weights_of(layer)
    want = ref_transpose(x.astype(np.float64), kernel, bias, layer.strides, layer.padding, layer.output_padding,
                         layer.dilation_rate)
    if kwargs.get("activation") == "tanh":
        want = np.tanh(want)
    assert_close(layer(x), want)


def test_conv1d_transpose():
    layer = run_layer_test(L.Conv1DTranspose, dict(filters=2, kernel_size=3, strides=2, padding="same"), (2, 3, 2),
                           (2, 6, 2), [(3, 2, 2), (2,)])
    x = data((2, 3, 2), 9)
    kernel, bias = weights_of(layer)
    want = ref_transpose(x[:, None].astype(np.float64), kernel[None], bias, (1, 2), "same", None, (1, 1))[:, 0]
    assert_close(layer(x), want)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_transpose_output_lengths_follow_keras(padding):
    """Every small (length, kernel, stride, dilation, output_padding): the layer's output shape is the reference's
    and, where it is not empty, so are its values."""
    rng = np.random.default_rng(0)
    for n in (1, 2, 3):
        for k in (1, 2, 3):
            for s in (1, 2, 3):
                for d in ((1, 2) if s == 1 else (1,)):
                    for op in [None] + list(range(s)):
                        kw = dict(filters=1, kernel_size=(1, k), strides=(1, s), padding=padding,
                                  dilation_rate=(1, d), output_padding=None if op is None else (0, op))
                        x = rng.normal(size=(1, 1, n, 1)).astype("float32")
                        want = ref_transpose(x.astype(np.float64), rng.normal(size=(1, k, 1, 1)), None, (1, s),
                                             padding, kw["output_padding"], (1, d))
                        layer = L.Conv2DTranspose(**kw, use_bias=False)
                        if want.shape[2] < 1:
                            with pytest.raises(ValueError, match="Conv2DTranspose"):
                                layer(x)
                            continue
                        y = layer(x)
                        kernel = layer.get_weights()[0].astype(np.float64)
                        want = ref_transpose(x.astype(np.float64), kernel, None, (1, s), padding,
                                             kw["output_padding"], (1, d))
                        assert y.shape == want.shape, (kw, n)
                        assert_close(y, want)


# ----------------------------------------------------------------------- frozen, shared, penalties, dtype
def test_frozen_conv_still_passes_input_gradients():
    check_description(lambda: L.Conv2D(2, 2, trainable=False), [(2, 4, 4, 2)])
    check_description(lambda: L.SeparableConv2D(2, 2, trainable=False), [(2, 4, 4, 2)])
    check_description(lambda: L.Conv2DTranspose(2, 2, strides=2, trainable=False), [(2, 2, 2, 2)])
    check_description(lambda: L.DepthwiseConv2D(2, trainable=False), [(2, 3, 3, 2)])


def _shared(cls, **kwargs):
    def make():
        layer = cls(**kwargs)
        return lambda t: layer(layer(t))
    return make


@pytest.mark.parametrize("make", [
    _shared(L.Conv2D, filters=2, kernel_size=2, padding="same"),
    _shared(L.DepthwiseConv2D, kernel_size=2, padding="same"),
    _shared(L.SeparableConv2D, filters=2, kernel_size=2, padding="same", activation="tanh"),
    _shared(L.Conv2DTranspose, filters=2, kernel_size=3, padding="same"),
], ids=["conv", "depthwise", "separable", "transpose"])
def test_a_layer_called_twice_accumulates_its_gradients(make):
    check_description(make, [(2, 3, 3, 2)])


def test_regularizers_join_the_loss_and_its_gradient():
    run_layer_test(L.Conv2D, dict(filters=2, kernel_size=2, kernel_regularizer="l2",
                                  bias_regularizer=keras.regularizers.L1(0.1)), (2, 3, 3, 1), (2, 2, 2, 2),
                   [(2, 2, 1, 2), (2,)])
    run_layer_test(L.SeparableConv2D, dict(filters=2, kernel_size=2, depthwise_regularizer="l1",
                                           pointwise_regularizer="l2"), (2, 3, 3, 1), (2, 2, 2, 2),
                   [(2, 2, 1, 1), (1, 1, 1, 2), (2,)])
    run_layer_test(L.Conv1D, dict(filters=2, kernel_size=2, activity_regularizer="l2"), (2, 4, 1), (2, 3, 2),
                   [(2, 1, 2), (2,)])
    layer = L.Conv2D(2, 2, kernel_regularizer=keras.regularizers.L2(0.5))
    layer(keras.Input((3, 3, 1)))
    assert [(v.name, r.l2) for v, r in layer.weight_regularizers()] == [("kernel", 0.5)]


def test_constraints_apply_after_each_update():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4, 4, 1)),
                              L.Conv2D(2, 2, kernel_constraint="non_neg", bias_constraint="non_neg"),
                              L.Flatten(), L.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    model.fit(data((8, 4, 4, 1)), np.full((8, 1), -5.0, "float32"), epochs=2, verbose=0)
    kernel, bias = model.layers[0].get_weights()
    assert kernel.min() >= 0.0 and bias.min() >= 0.0


def test_float64_in_float64_out():
    with floatx("float64"):
        layer = L.Conv2D(2, 2)
        y = layer(np.ones((1, 3, 3, 1)))
        assert y.dtype == np.float64 and layer.get_weights()[0].dtype == np.float64


def test_glorot_fans_include_the_receptive_field():
    keras.utils.set_random_seed(0)
    layer = L.Conv2D(64, 5)
    layer(keras.Input((8, 8, 16)))
    limit = np.sqrt(6.0 / (25 * 16 + 25 * 64))
    kernel = layer.get_weights()[0]
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.99 * limit


# -------------------------------------------------------------------------------------- config, aliases
def test_config_has_keras_keys_and_aliases_are_the_classes():
    config = L.Conv2D(2, 3, kernel_regularizer="l2").get_config()
    for key in ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups",
                "activation", "use_bias", "kernel_initializer", "bias_initializer", "kernel_regularizer",
                "bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint"):
        assert key in config
    assert config["kernel_size"] == (3, 3) and config["data_format"] == "channels_last"
    assert config["kernel_regularizer"]["class_name"] == "L2" and config["bias_regularizer"] is None
    assert L.Conv2DTranspose(2, 2).get_config()["output_padding"] is None
    assert "pointwise_initializer" in L.SeparableConv2D(2, 2).get_config()
    assert "depthwise_initializer" in L.DepthwiseConv2D(2).get_config()
    assert L.Convolution2D is L.Conv2D and L.Convolution1D is L.Conv1D
    assert L.Convolution2DTranspose is L.Conv2DTranspose and L.Convolution1DTranspose is L.Conv1DTranspose
    assert L.SeparableConvolution2D is L.SeparableConv2D and L.SeparableConvolution1D is L.SeparableConv1D
    assert L.Conv2D(2, 3, padding="SAME").padding == "same"


def test_default_names_follow_keras():
    keras.backend.clear_session()
    names = [L.Conv1D(2, 2).name, L.Conv2D(2, 2).name, L.Conv2DTranspose(2, 2).name, L.DepthwiseConv1D(2).name,
             L.SeparableConv2D(2, 2).name]
    assert names == ["conv1d", "conv2d", "conv2d_transpose", "depthwise_conv1d", "separable_conv2d"]


# ----------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("make,match", [
    (lambda: L.Conv2D(2, 3, strides=-1), r"Conv2D: `strides` must be positive"),
    (lambda: L.Conv2D(2, 3, strides=(1, 0)), r"Conv2D: `strides`"),
    (lambda: L.Conv2D(-2, 3), r"Conv2D: `filters`"),
    (lambda: L.Conv2D(2, 0), r"Conv2D: `kernel_size`"),
    (lambda: L.Conv2D(2, (3, 3, 3)), r"Conv2D: `kernel_size`"),
    (lambda: L.Conv2D(2, 3, dilation_rate=-2), r"Conv2D: `dilation_rate`"),
    (lambda: L.Conv2D(3, 3, groups=2), r"Conv2D: `filters` \(3\) must be divisible by `groups`"),
    (lambda: L.Conv2D(2, 3, groups=0), r"Conv2D: `groups`"),
    (lambda: L.Conv2D(2, 3, strides=2, dilation_rate=2), r"Conv2D: `strides` > 1 .* `dilation_rate` > 1"),
    (lambda: L.Conv2D(2, 3, data_format="channels_first"), r"Conv2D: .*channels_last only"),
    (lambda: L.Conv2D(2, 3, data_format="nhwc"), r"Conv2D: `data_format`"),
    (lambda: L.Conv2D(2, 3, padding="causal"), r"Conv2D: `padding`"),
    (lambda: L.Conv1D(2, 3, padding="full"), r"Conv1D: `padding`"),
    (lambda: L.DepthwiseConv2D(3, depth_multiplier=0), r"DepthwiseConv2D: `depth_multiplier`"),
    (lambda: L.SeparableConv2D(0, 3), r"SeparableConv2D: `filters`"),
    (lambda: L.Conv2DTranspose(2, 3, strides=2, output_padding=2), r"Conv2DTranspose: `output_padding`"),
    (lambda: L.Conv2DTranspose(2, 3, output_padding=-1), r"Conv2DTranspose: `output_padding`"),
    (lambda: L.Conv2DTranspose(2, 3, strides=2, dilation_rate=2), r"Conv2DTranspose: `strides` > 1"),
])
def test_bad_arguments_raise_naming_layer_and_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("layer,shape,match", [
    (lambda: L.Conv2D(2, 5, name="c"), (4, 4, 2), r"Conv2D 'c': the kernel is larger than the input"),
    (lambda: L.Conv2D(2, 3, dilation_rate=3, name="c"), (6, 6, 2), r"Conv2D 'c': the kernel is larger"),
    (lambda: L.Conv1D(2, 4, name="c"), (3, 2), r"Conv1D 'c': the kernel is larger"),
    (lambda: L.DepthwiseConv2D(3, name="c"), (2, 5, 1), r"DepthwiseConv2D 'c': the kernel is larger"),
    (lambda: L.Conv2D(2, 3, name="c"), (5, 5), r"Conv2D 'c': expected an input of rank 4"),
    (lambda: L.Conv1D(2, 3, name="c"), (5, 5, 5), r"Conv1D 'c': expected an input of rank 3"),
    (lambda: L.Conv2D(4, 1, groups=2, name="c"), (3, 3, 3), r"Conv2D 'c': the input's 3 channels .* `groups`"),
    (lambda: L.Conv2D(2, 3, name="c"), (None, None, 3), r"Conv2D 'c': every non-batch dimension"),
    (lambda: L.Conv2DTranspose(1, 2, padding="same", output_padding=0, name="c"), (1, 1, 1),
     r"Conv2DTranspose 'c': the output would be empty"),
])
def test_bad_input_shapes_raise_before_any_compiled_code(layer, shape, match):
    with pytest.raises(ValueError, match=match):
        layer()(keras.Input(shape))
    if None not in shape:
        with pytest.raises(ValueError, match=match):
            layer()(np.zeros((1,) + shape, "float32"))


def test_a_built_layer_refuses_other_channel_counts():
    layer = L.Conv2D(2, 1, name="c")
    layer(keras.Input((3, 3, 2)))
    with pytest.raises(ValueError, match=r"Conv2D 'c': expected inputs with 2 channels"):
        layer(keras.Input((3, 3, 3)))


# ----------------------------------------------------------------------------------------- CNN workload
@pytest.mark.parametrize("run_eagerly", [False, True])
def test_cnn_workload_trains(run_eagerly):
    """The issue's W3 model (28x28x1, Conv2D(32, 3, relu), MaxPooling2D(2), Conv2D(64, 3, relu), MaxPooling2D(2),
    Flatten, Dense(10, softmax), Adam, sparse CE, batch 64) on random data it can memorise."""
    if not hasattr(L, "MaxPooling2D"):
        pytest.skip("MaxPooling2D has not landed yet")
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, size=128)
    model = keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2),
                              L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2), L.Flatten(),
                              L.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  run_eagerly=run_eagerly)
    history = model.fit(x, y, batch_size=64, epochs=4, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert model.predict(x[:3], verbose=0).shape == (3, 10)


# ------------------------------------------------------------------------------------------ fused relu
def _forward_kernel_names(layer_factory, input_shape):
    keras.utils.set_random_seed(0)
    inputs = keras.Input(input_shape[1:])
    model = keras.Model(inputs, layer_factory()(inputs))
    model.compile(optimizer="sgd", loss="mse")
    x = data(input_shape, 3)
    model.train_on_batch(x, np.zeros((input_shape[0],) + model.output_shape[1:]))
    sections = model._engine.plan.program.sections
    return [c.fn for c in sections["forward"]], [c.fn for c in sections["backward"]]


@pytest.mark.parametrize("make", [lambda: L.Conv2D(3, 2, activation="relu"),
                                  lambda: L.Conv1D(3, 2, activation=keras.activations.relu)])
def test_plain_relu_is_fused_into_the_convolution(make):
    """Keras's plain relu runs inside conv2d_forward_relu (no separate relu_forward pass, no pre-activation
    scratch); the backward masks dy by the output inside conv2d_backward_relu (no relu_backward pass)."""
    shape = (2, 4, 4, 2) if isinstance(make(), L.Conv2D) else (2, 5, 2)
    forward, backward = _forward_kernel_names(make, shape)
    assert "conv.conv2d_forward_relu" in forward and "activations.relu_forward" not in forward
    assert "conv.conv2d_forward" not in forward and "activations.relu_backward" not in backward
    assert "conv.conv2d_backward_relu" in backward and "conv.conv2d_backward" not in backward


def test_relu_with_arguments_is_not_fused():
    """A relu with a slope, cap or threshold keeps the separate activation calls, through both interpreters."""
    def make():
        return L.Conv2D(2, 2, activation={"class_name": "relu", "config": {"negative_slope": 0.1, "max_value": 1.5}})

    forward, _ = _forward_kernel_names(make, (2, 4, 4, 2))
    assert "conv.conv2d_forward" in forward and "activations.relu_forward" in forward
    assert "conv.conv2d_forward_relu" not in forward
    check_description(make, [(2, 4, 4, 2)])
