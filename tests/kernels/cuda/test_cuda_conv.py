"""kernels/cuda/conv.py against kernels/cpu/conv.py (CUDA simulator: shapes are tiny).

Each geometry is drawn as a layer would compute it: kernel extent K = (k - 1) * dilation + 1, a front pad in
0 .. K - 1 and an implied back pad in 0 .. K - 1, which give the output length. The cases cover strides,
dilations, front pads, groups, odd sizes, with and without bias, accumulate both ways and a skipped dx.
"""

import numpy as np
import pytest
from nbkeras.kernels.cpu import conv as cpu_conv
from nbkeras.kernels.cuda import conv
from support.cuda_twin import arrays, check_twin

DTYPES = [np.float32, np.float64]


def out_len(n_in, k, stride, front, dil, back):
    extent = (k - 1) * dil + 1
    assert 0 <= front <= extent - 1 and 0 <= back <= extent - 1 and n_in + front + back >= extent
    return (n_in + front + back - extent) // stride + 1


# (N, (H, KH, SH, PT, DH, back), (W, KW, SW, PL, DW, back), Cg, Fg, groups)
GEOMETRIES = [
    (2, (4, 3, 1, 1, 1, 1), (3, 2, 1, 0, 1, 0), 3, 5, 1),   # 'same'-like rows, valid columns, odd channels
    (1, (5, 2, 2, 1, 2, 0), (4, 3, 2, 2, 1, 1), 2, 3, 2),   # strides, dilation, grouped
    (2, (1, 1, 1, 0, 1, 0), (5, 3, 1, 0, 2, 2), 1, 2, 3),   # 1-D (H == 1), one channel per group, dilated
]


def geometry(case):
    n, hrow, wrow, cg, fg, groups = case
    h, kh, sh, pt, dh, hb = hrow
    w, kw, sw, pl, dw, wb = wrow
    return {"n": n, "h": h, "w": w, "kh": kh, "kw": kw, "sh": sh, "sw": sw, "pt": pt, "pl": pl, "dh": dh, "dw": dw,
            "cg": cg, "f": fg * groups, "groups": groups, "oh": out_len(h, kh, sh, pt, dh, hb),
            "ow": out_len(w, kw, sw, pl, dw, wb)}


def geo_args(g, groups=True):
    a = (g["sh"], g["sw"], g["pt"], g["pl"], g["dh"], g["dw"])
    return a + ((g["groups"],) if groups else ())


def cols_for(g, dtype, oh, ow, c, groups):
    return np.zeros(cpu_conv.conv2d_scratch_min(oh, ow, g["kh"], g["kw"], c, groups), dtype)


def test_scratch_helpers_agree_with_cpu():
    for args in [(3, 4, 3, 3, 8, 2), (1, 1, 1, 1, 1, 1), (5, 7, 2, 3, 6, 3)]:
        assert conv.conv2d_scratch_min(*args) == cpu_conv.conv2d_scratch_min(*args)
    for args in [(4, 3, 4, 3, 3, 8, 2, 1000), (4, 3, 4, 3, 3, 8, 2, 10), (2, 0, 4, 3, 3, 8, 2, 10),
                 (0, 3, 3, 1, 1, 2, 1, 50)]:
        assert conv.conv2d_scratch_size(*args) == cpu_conv.conv2d_scratch_size(*args)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", GEOMETRIES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv2d_forward(dtype, case, with_bias):
    g = geometry(case)
    rng = np.random.default_rng(1)
    c = g["cg"] * g["groups"]
    x, kernel, out = arrays(rng, dtype, (g["n"], g["h"], g["w"], c), (g["kh"], g["kw"], g["cg"], g["f"]),
                            (g["n"], g["oh"], g["ow"], g["f"]))
    bias = arrays(rng, dtype, (g["f"],))[0] if with_bias else np.empty(0, dtype)
    cols = cols_for(g, dtype, g["oh"], g["ow"], c, g["groups"])
    check_twin("conv.conv2d_forward", x, kernel, bias, out, cols, *geo_args(g), ignore=(4,))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", GEOMETRIES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv2d_forward_relu(dtype, case, with_bias):
    g = geometry(case)
    rng = np.random.default_rng(5)
    c = g["cg"] * g["groups"]
    x, kernel, out = arrays(rng, dtype, (g["n"], g["h"], g["w"], c), (g["kh"], g["kw"], g["cg"], g["f"]),
                            (g["n"], g["oh"], g["ow"], g["f"]))
    bias = arrays(rng, dtype, (g["f"],))[0] if with_bias else np.empty(0, dtype)
    cols = cols_for(g, dtype, g["oh"], g["ow"], c, g["groups"])
    check_twin("conv.conv2d_forward_relu", x, kernel, bias, out, cols, *geo_args(g), ignore=(4,))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", GEOMETRIES)
@pytest.mark.parametrize("accumulate, with_bias, with_dx", [(False, True, True), (True, True, False),
                                                            (False, False, False), (True, False, True)])
def test_conv2d_backward(dtype, case, accumulate, with_bias, with_dx):
    g = geometry(case)
    rng = np.random.default_rng(2)
    c = g["cg"] * g["groups"]
    x, kernel, dy, dkernel = arrays(rng, dtype, (g["n"], g["h"], g["w"], c), (g["kh"], g["kw"], g["cg"], g["f"]),
                                    (g["n"], g["oh"], g["ow"], g["f"]), (g["kh"], g["kw"], g["cg"], g["f"]))
    dx = arrays(rng, dtype, x.shape)[0] if with_dx else np.empty((0, 0, 0, 0), dtype)
    dbias = arrays(rng, dtype, (g["f"],))[0] if with_bias else np.empty(0, dtype)
    cols = cols_for(g, dtype, g["oh"], g["ow"], c, g["groups"])
    check_twin("conv.conv2d_backward", x, kernel, dy, dx, dkernel, dbias, cols, *geo_args(g), accumulate,
               ignore=(6,))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", GEOMETRIES)
@pytest.mark.parametrize("accumulate, with_bias, with_dx", [(False, True, True), (True, False, False)])
def test_conv2d_backward_relu(dtype, case, accumulate, with_bias, with_dx):
    """dy is masked in place by y > 0 (compared after the call too), then conv2d_backward's gradients."""
    g = geometry(case)
    rng = np.random.default_rng(6)
    c = g["cg"] * g["groups"]
    x, kernel, y, dy, dkernel = arrays(rng, dtype, (g["n"], g["h"], g["w"], c), (g["kh"], g["kw"], g["cg"], g["f"]),
                                       (g["n"], g["oh"], g["ow"], g["f"]), (g["n"], g["oh"], g["ow"], g["f"]),
                                       (g["kh"], g["kw"], g["cg"], g["f"]))
    y = np.maximum(y, 0).astype(dtype)  # a relu output: zeros and positives
    dx = arrays(rng, dtype, x.shape)[0] if with_dx else np.empty((0, 0, 0, 0), dtype)
    dbias = arrays(rng, dtype, (g["f"],))[0] if with_bias else np.empty(0, dtype)
    cols = cols_for(g, dtype, g["oh"], g["ow"], c, g["groups"])
    check_twin("conv.conv2d_backward_relu", x, kernel, y, dy, dx, dkernel, dbias, cols, *geo_args(g), accumulate,
               ignore=(7,))


# Transposed: x (N, H, W, C) -> out (N, OH, OW, F) where H is the convolution's output length from OH.
TRANSPOSED = [
    (2, (3, 3, 2, 1, 1, 2), (2, 2, 1, 0, 1, 1), 3, 2),   # stride 2 with crop, output cut short / extended
    (1, (4, 2, 1, 1, 2, 0), (5, 3, 3, 2, 1, 2), 2, 3),   # dilation, stride 3
]


def transposed_geometry(case):
    n, hrow, wrow, c, f = case
    oh, kh, sh, pt, dh, hb = hrow
    ow, kw, sw, pl, dw, wb = wrow
    return {"n": n, "oh": oh, "ow": ow, "kh": kh, "kw": kw, "sh": sh, "sw": sw, "pt": pt, "pl": pl, "dh": dh,
            "dw": dw, "c": c, "f": f, "h": out_len(oh, kh, sh, pt, dh, hb), "w": out_len(ow, kw, sw, pl, dw, wb)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", TRANSPOSED)
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv2d_transpose_forward(dtype, case, with_bias):
    g = transposed_geometry(case)
    rng = np.random.default_rng(3)
    x, kernel, out = arrays(rng, dtype, (g["n"], g["h"], g["w"], g["c"]), (g["kh"], g["kw"], g["f"], g["c"]),
                            (g["n"], g["oh"], g["ow"], g["f"]))
    bias = arrays(rng, dtype, (g["f"],))[0] if with_bias else np.empty(0, dtype)
    cols = cols_for(g, dtype, g["h"], g["w"], g["f"], 1)
    check_twin("conv.conv2d_transpose_forward", x, kernel, bias, out, cols, *geo_args(g, groups=False),
               ignore=(4,))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", TRANSPOSED)
@pytest.mark.parametrize("accumulate, with_bias, with_dx", [(False, True, True), (True, False, False),
                                                            (True, True, True)])
def test_conv2d_transpose_backward(dtype, case, accumulate, with_bias, with_dx):
    g = transposed_geometry(case)
    rng = np.random.default_rng(4)
    x, kernel, dy, dkernel = arrays(rng, dtype, (g["n"], g["h"], g["w"], g["c"]),
                                    (g["kh"], g["kw"], g["f"], g["c"]), (g["n"], g["oh"], g["ow"], g["f"]),
                                    (g["kh"], g["kw"], g["f"], g["c"]))
    dx = arrays(rng, dtype, x.shape)[0] if with_dx else np.empty((0, 0, 0, 0), dtype)
    dbias = arrays(rng, dtype, (g["f"],))[0] if with_bias else np.empty(0, dtype)
    cols = cols_for(g, dtype, g["h"], g["w"], g["f"], 1)
    check_twin("conv.conv2d_transpose_backward", x, kernel, dy, dx, dkernel, dbias, cols,
               *geo_args(g, groups=False), accumulate, ignore=(6,))


# Depthwise: (N, (H, KH, SH, PT, DH, back), (W, ...), C, M)
DEPTHWISE = [
    (2, (4, 3, 1, 1, 1, 1), (3, 2, 2, 1, 1, 0), 3, 1),
    (1, (5, 2, 2, 1, 2, 2), (3, 3, 1, 0, 1, 2), 2, 3),
]


def depthwise_geometry(case):
    n, hrow, wrow, c, m = case
    h, kh, sh, pt, dh, hb = hrow
    w, kw, sw, pl, dw, wb = wrow
    return {"n": n, "h": h, "w": w, "kh": kh, "kw": kw, "sh": sh, "sw": sw, "pt": pt, "pl": pl, "dh": dh, "dw": dw,
            "c": c, "m": m, "oh": out_len(h, kh, sh, pt, dh, hb), "ow": out_len(w, kw, sw, pl, dw, wb)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", DEPTHWISE)
@pytest.mark.parametrize("with_bias", [True, False])
def test_depthwise_conv2d_forward(dtype, case, with_bias):
    g = depthwise_geometry(case)
    rng = np.random.default_rng(5)
    cm = g["c"] * g["m"]
    x, kernel, out = arrays(rng, dtype, (g["n"], g["h"], g["w"], g["c"]), (g["kh"], g["kw"], g["c"], g["m"]),
                            (g["n"], g["oh"], g["ow"], cm))
    bias = arrays(rng, dtype, (cm,))[0] if with_bias else np.empty(0, dtype)
    check_twin("conv.depthwise_conv2d_forward", x, kernel, bias, out, *geo_args(g, groups=False))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", DEPTHWISE)
@pytest.mark.parametrize("accumulate, with_bias, with_dx", [(False, True, True), (True, True, False),
                                                            (True, False, True)])
def test_depthwise_conv2d_backward(dtype, case, accumulate, with_bias, with_dx):
    g = depthwise_geometry(case)
    rng = np.random.default_rng(6)
    cm = g["c"] * g["m"]
    x, kernel, dy, dkernel = arrays(rng, dtype, (g["n"], g["h"], g["w"], g["c"]),
                                    (g["kh"], g["kw"], g["c"], g["m"]), (g["n"], g["oh"], g["ow"], cm),
                                    (g["kh"], g["kw"], g["c"], g["m"]))
    dx = arrays(rng, dtype, x.shape)[0] if with_dx else np.empty((0, 0, 0, 0), dtype)
    dbias = arrays(rng, dtype, (cm,))[0] if with_bias else np.empty(0, dtype)
    check_twin("conv.depthwise_conv2d_backward", x, kernel, dy, dx, dkernel, dbias, *geo_args(g, groups=False),
               accumulate)


def test_kernel_gradient_sums_over_many_row_chunks():
    """Enough output positions that the kernel gradient and dbias are summed by several blocks of the grid's
    second dimension (atomics into one element from many chunks)."""
    rng = np.random.default_rng(7)
    n, h, w, c, f = 4, 9, 8, 1, 2
    x, kernel, dy, dkernel, dbias = arrays(rng, np.float64, (n, h, w, c), (1, 1, c, f), (n, h, w, f), (1, 1, c, f),
                                           (f,))
    rows = n * h * w
    assert rows > 2 * conv.KGRAD_MIN_ROWS and rows > conv.BIAS_ROWS
    check_twin("conv.conv2d_backward", x, kernel, dy, np.empty((0, 0, 0, 0)), dkernel, dbias,
               np.zeros(h * w * c), 1, 1, 0, 0, 1, 1, 1, False, ignore=(6,))


def test_launches_per_call():
    """Forward: one launch (two with the relu); backward: zeroing (not when accumulating), dkernel, dbias, dx."""
    from nbkeras.kernels.cuda import _launch

    x, k, out, cols, bias = _dev(1, 3, 3, 1), _dev(2, 2, 1, 1), _dev(1, 2, 2, 1), _dev(16), _dev(1)
    before = _launch.LAUNCHES[0]
    conv.conv2d_forward(x, k, bias, out, cols, 1, 1, 0, 0, 1, 1, 1)
    assert _launch.LAUNCHES[0] - before == 1
    before = _launch.LAUNCHES[0]
    conv.conv2d_forward_relu(x, k, bias, out, cols, 1, 1, 0, 0, 1, 1, 1)
    assert _launch.LAUNCHES[0] - before == 2
    before = _launch.LAUNCHES[0]
    conv.conv2d_backward(x, k, out, _dev(1, 3, 3, 1), _dev(2, 2, 1, 1), bias, cols, 1, 1, 0, 0, 1, 1, 1, False)
    assert _launch.LAUNCHES[0] - before == 4
    before = _launch.LAUNCHES[0]
    conv.conv2d_backward(x, k, out, _dev(0, 0, 0, 0), _dev(2, 2, 1, 1), _dev(0), cols, 1, 1, 0, 0, 1, 1, 1, True)
    assert _launch.LAUNCHES[0] - before == 1


def _dev(*shape, dtype=np.float64):
    from numba import cuda

    return cuda.to_device(np.zeros(shape, dtype))


def test_bad_shapes_raise():
    x, k, out, cols = _dev(1, 4, 4, 2), _dev(3, 3, 2, 4), _dev(1, 2, 2, 4), _dev(100)
    bias = _dev(4)
    conv.conv2d_forward(x, k, bias, out, cols, 1, 1, 0, 0, 1, 1, 1)  # the good call
    with pytest.raises(ValueError, match="conv2d_forward"):  # groups do not divide
        conv.conv2d_forward(x, k, bias, out, cols, 1, 1, 0, 0, 1, 1, 2)
    with pytest.raises(ValueError, match="conv2d_forward"):  # wrong output height
        conv.conv2d_forward(x, k, bias, _dev(1, 3, 2, 4), cols, 1, 1, 0, 0, 1, 1, 1)
    with pytest.raises(ValueError, match="conv2d_forward"):  # bias length
        conv.conv2d_forward(x, k, _dev(3), out, cols, 1, 1, 0, 0, 1, 1, 1)
    with pytest.raises(ValueError, match="conv2d_forward"):  # cols too short
        conv.conv2d_forward(x, k, bias, out, _dev(10), 1, 1, 0, 0, 1, 1, 1)
    with pytest.raises(ValueError, match="conv2d_forward"):  # dtypes differ
        conv.conv2d_forward(x, k, bias, _dev(1, 2, 2, 4, dtype=np.float32), cols, 1, 1, 0, 0, 1, 1, 1)
    with pytest.raises(ValueError, match="conv2d_forward_relu: cols is shorter"):
        conv.conv2d_forward_relu(x, k, bias, out, _dev(10), 1, 1, 0, 0, 1, 1, 1)
    with pytest.raises(ValueError, match="conv2d_forward_relu: out's height/width"):
        conv.conv2d_forward_relu(x, k, bias, _dev(1, 5, 2, 4), cols, 1, 1, 0, 0, 1, 1, 1)
    with pytest.raises(ValueError, match="conv2d_backward_relu: y must have dy's shape"):
        conv.conv2d_backward_relu(x, k, _dev(1, 2, 3, 4), out, _dev(0, 0, 0, 0), _dev(3, 3, 2, 4), bias, cols, 1, 1, 0,
                                  0, 1, 1, 1, False)
    with pytest.raises(ValueError, match="conv2d_backward_relu: dkernel must"):
        conv.conv2d_backward_relu(x, k, out, out, _dev(0, 0, 0, 0), _dev(3, 3, 2, 3), bias, cols, 1, 1, 0, 0, 1, 1, 1,
                                  False)
    with pytest.raises(ValueError, match="conv2d_backward"):  # dkernel shape
        conv.conv2d_backward(x, k, out, _dev(0, 0, 0, 0), _dev(3, 3, 2, 3), bias, cols, 1, 1, 0, 0, 1, 1, 1, False)
    with pytest.raises(ValueError, match="conv2d_backward"):  # dx shape
        conv.conv2d_backward(x, k, out, _dev(1, 4, 4, 1), k, bias, cols, 1, 1, 0, 0, 1, 1, 1, False)
    with pytest.raises(ValueError, match="conv2d_transpose_forward"):  # kernel channels
        conv.conv2d_transpose_forward(out, _dev(3, 3, 2, 3), _dev(0), x, cols, 1, 1, 0, 0, 1, 1)
    with pytest.raises(ValueError, match="conv2d_transpose_backward"):  # dy size
        conv.conv2d_transpose_backward(out, _dev(3, 3, 2, 4), _dev(1, 5, 4, 2), _dev(0, 0, 0, 0), _dev(3, 3, 2, 4),
                                       _dev(0), cols, 1, 1, 0, 0, 1, 1, False)
    with pytest.raises(ValueError, match="depthwise_conv2d_forward"):  # out channels != C * M
        conv.depthwise_conv2d_forward(x, _dev(3, 3, 2, 2), _dev(0), _dev(1, 2, 2, 3), 1, 1, 0, 0, 1, 1)
    with pytest.raises(ValueError, match="depthwise_conv2d_backward"):  # dbias length
        conv.depthwise_conv2d_backward(x, _dev(3, 3, 2, 2), _dev(1, 2, 2, 4), _dev(0, 0, 0, 0), _dev(3, 3, 2, 2),
                                       _dev(3), 1, 1, 0, 0, 1, 1, False)


# Convolution followed by non-overlapping max pooling: (geometry case, pool_h, pool_w)
CONV_POOL = [(GEOMETRIES[0], 2, 1), (GEOMETRIES[1], 1, 2), (GEOMETRIES[2], 1, 2)]


def _conv_pool_arrays(g, dtype, ph, pw, rng):
    c = g["cg"] * g["groups"]
    pooled_shape = (g["n"], g["oh"] // ph, g["ow"] // pw, g["f"])
    x, kernel, pooled, argmax = arrays(rng, dtype, (g["n"], g["h"], g["w"], c), (g["kh"], g["kw"], g["cg"], g["f"]),
                                       pooled_shape, pooled_shape)
    cols = np.zeros(cpu_conv.conv2d_max_pool2d_scratch_size(g["n"], g["oh"], g["ow"], g["kh"], g["kw"], c, g["f"],
                                                            g["groups"], 1 << 20), dtype)
    return x, kernel, pooled, argmax, cols


def test_conv_pool_scratch_size_agrees_with_cpu():
    for args in [(64, 26, 26, 3, 3, 1, 32, 1, 1 << 20), (2, 1, 1, 1, 1, 1, 1, 1, 5), (3, 4, 4, 2, 2, 4, 6, 2, 10)]:
        assert conv.conv2d_max_pool2d_scratch_size(*args) == cpu_conv.conv2d_max_pool2d_scratch_size(*args)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case, ph, pw", CONV_POOL)
@pytest.mark.parametrize("relu, with_bias", [(True, True), (False, False)])
def test_conv2d_max_pool2d_forward(dtype, case, ph, pw, relu, with_bias):
    g = geometry(case)
    rng = np.random.default_rng(7)
    x, kernel, pooled, argmax, cols = _conv_pool_arrays(g, dtype, ph, pw, rng)
    bias = arrays(rng, dtype, (g["f"],))[0] if with_bias else np.empty(0, dtype)
    check_twin("conv.conv2d_max_pool2d_forward", x, kernel, bias, pooled, argmax, cols, *geo_args(g, False),
               g["oh"], g["ow"], ph, pw, g["groups"], relu, ignore=(5,))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case, ph, pw", CONV_POOL)
@pytest.mark.parametrize("relu, accumulate, with_bias, with_dx", [(True, False, True, True),
                                                                  (False, True, False, False)])
def test_conv2d_max_pool2d_backward(dtype, case, ph, pw, relu, accumulate, with_bias, with_dx):
    """From the CPU forward's pooled and argmax; dpooled is masked in place under relu (compared afterwards)."""
    g = geometry(case)
    rng = np.random.default_rng(8)
    x, kernel, pooled, argmax, cols = _conv_pool_arrays(g, dtype, ph, pw, rng)
    bias = arrays(rng, dtype, (g["f"],))[0]
    cpu_conv.conv2d_max_pool2d_forward(x, kernel, bias, pooled, argmax, cols, *geo_args(g, False), g["oh"], g["ow"],
                                       ph, pw, g["groups"], relu)
    dpooled, dkernel = arrays(rng, dtype, pooled.shape, kernel.shape)
    dx = arrays(rng, dtype, x.shape)[0] if with_dx else np.empty((0, 0, 0, 0), dtype)
    dbias = arrays(rng, dtype, (g["f"],))[0] if with_bias else np.empty(0, dtype)
    check_twin("conv.conv2d_max_pool2d_backward", x, kernel, pooled, argmax, dpooled, dx, dkernel, dbias, cols,
               *geo_args(g, False), g["oh"], g["ow"], ph, pw, g["groups"], relu, accumulate, ignore=(8,))


def test_conv2d_max_pool2d_twin_raises_the_cpu_messages():
    g = geometry(GEOMETRIES[0])
    x, kernel, pooled, argmax, cols = _conv_pool_arrays(g, np.float64, 2, 1, np.random.default_rng(9))
    bad = np.zeros((1, 1, 1, 1))
    for module in (cpu_conv, conv):
        with pytest.raises(ValueError, match="pooled must be"):
            module.conv2d_max_pool2d_forward(x, kernel, np.empty(0), bad, bad, cols, *geo_args(g, False), g["oh"],
                                             g["ow"], 2, 1, g["groups"], True)
