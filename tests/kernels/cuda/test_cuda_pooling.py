"""kernels/cuda/pooling.py against kernels/cpu/pooling.py (CUDA simulator: shapes are tiny).

Inputs are drawn from a few levels so windows hold ties, and some cases put NaNs in, to compare max pooling's
first-maximum / NaN rule. Geometries cover valid and padded windows, overlapping windows, 2x2 pools (the CPU's own
fast path), odd sizes and the 1-D case (H == 1).
"""

import numpy as np
import pytest
from nbkeras.kernels.cpu import pooling as cpu_pooling
from nbkeras.kernels.cuda import pooling
from support.cuda_twin import arrays, check_twin

DTYPES = [np.float32, np.float64]

# (N, H, W, C, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left, OH, OW)
WINDOWS = [
    (2, 4, 5, 3, 2, 2, 2, 2, 0, 0, 2, 2),   # valid 2x2, stride 2, a column left over
    (1, 5, 4, 2, 2, 2, 1, 1, 1, 0, 5, 3),   # 2x2 overlapping, a padded first row
    (2, 5, 5, 3, 3, 2, 2, 1, 1, 1, 3, 5),   # 'same'-like padding both sides
    (1, 1, 7, 4, 1, 3, 1, 2, 0, 1, 1, 4),   # 1-D
]


def ids(case):
    return "x".join(map(str, case))


def tied(rng, dtype, shape, nans=False):
    x = rng.integers(-3, 4, size=shape).astype(dtype) / dtype(2)
    if nans:
        x.reshape(-1)[rng.choice(x.size, max(1, x.size // 10), replace=False)] = np.nan
    return x


def window_arrays(case, dtype, seed, nans=False):
    n, h, w, c, *_, oh, ow = case
    rng = np.random.default_rng(seed)
    x = tied(rng, dtype, (n, h, w, c), nans)
    out, dy = arrays(rng, dtype, (n, oh, ow, c), (n, oh, ow, c))
    return rng, x, out, dy, case[4:10]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", WINDOWS, ids=ids)
@pytest.mark.parametrize("nans", [False, True])
def test_max_pool2d_forward(dtype, case, nans):
    _, x, out, _, geo = window_arrays(case, dtype, 1, nans)
    argmax = np.full(out.shape, 7.0, dtype)
    check_twin("pooling.max_pool2d_forward", x, out, argmax, *geo)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", WINDOWS, ids=ids)
def test_max_pool2d_backward(dtype, case):
    rng, x, out, dy, geo = window_arrays(case, dtype, 2)
    argmax = np.zeros(out.shape, dtype)
    cpu_pooling.max_pool2d_forward(x, out, argmax, *geo)
    dx = arrays(rng, dtype, x.shape)[0]
    check_twin("pooling.max_pool2d_backward", argmax, dy, dx)
    check_twin("pooling.max_pool2d_backward", argmax, dy, np.empty((0, 0, 0, 0), dtype))


def test_max_pool2d_backward_drops_invalid_indices():
    """The CPU kernel raises on an argmax entry outside dx; the twin (no host copy of argmax) drops its gradient
    and never writes out of bounds."""
    from numba import cuda

    argmax = np.array([0.0, 3.0, -1.0, 4.0, np.nan, 1.5, 2.0, 3.0]).reshape(1, 2, 4, 1)
    dy = np.arange(1.0, 9.0).reshape(1, 2, 4, 1)
    dx = cuda.to_device(np.full((1, 2, 2, 1), 5.0))
    pooling.max_pool2d_backward(cuda.to_device(argmax), cuda.to_device(dy), dx)
    np.testing.assert_array_equal(dx.copy_to_host().reshape(-1), [1.0, 0.0, 7.0, 2.0 + 8.0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", WINDOWS, ids=ids)
def test_avg_pool2d_forward(dtype, case):
    _, x, out, _, geo = window_arrays(case, dtype, 3)
    x = x + np.random.default_rng(0).uniform(-0.1, 0.1, x.shape).astype(dtype)
    check_twin("pooling.avg_pool2d_forward", x, out, *geo)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", WINDOWS, ids=ids)
def test_avg_pool2d_backward(dtype, case):
    rng, x, _, dy, geo = window_arrays(case, dtype, 4)
    dx = arrays(rng, dtype, x.shape)[0]
    check_twin("pooling.avg_pool2d_backward", dy, dx, *geo)
    check_twin("pooling.avg_pool2d_backward", dy, np.empty((0, 0, 0, 0), dtype), *geo)


# (N, S, C): S below, at and above the 8 lanes; C past one 32-channel block
GLOBALS = [(2, 1, 3), (1, 13, 35), (3, 8, 5)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", GLOBALS, ids=ids)
def test_global_avg_pool(dtype, shape):
    n, s, c = shape
    rng = np.random.default_rng(5)
    x, out, dy, dx = arrays(rng, dtype, (n, s, c), (n, c), (n, c), (n, s, c))
    check_twin("pooling.global_avg_pool_forward", x, out)
    check_twin("pooling.global_avg_pool_backward", dy, dx)
    check_twin("pooling.global_avg_pool_backward", dy, np.empty((0, 0, 0), dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", GLOBALS, ids=ids)
@pytest.mark.parametrize("nans", [False, True])
def test_global_max_pool(dtype, shape, nans):
    n, s, c = shape
    rng = np.random.default_rng(6)
    x = tied(rng, dtype, (n, s, c), nans)
    out, dy, dx = arrays(rng, dtype, (n, c), (n, c), (n, s, c))
    argmax = np.full((n, c), 7.0, dtype)
    check_twin("pooling.global_max_pool_forward", x, out, argmax)
    cpu_pooling.global_max_pool_forward(x, out, argmax)
    check_twin("pooling.global_max_pool_backward", argmax, dy, dx)
    check_twin("pooling.global_max_pool_backward", argmax, dy, np.empty((0, 0, 0), dtype))


def test_global_max_pool_nan_and_tie_order():
    """The first NaN wins over later NaNs and numbers; without NaN the first of tied maxima wins, across lanes."""
    x = np.zeros((1, 20, 3))
    x[0, [5, 11, 19], 0] = 2.0           # ties in lanes 5, 3 and 3: position 5
    x[0, [17, 10], 1] = np.nan           # NaNs in lanes 1 and 2: position 10
    x[0, 12, 1] = 5.0
    x[0, [14, 6], 2] = -0.0              # all zeros: position 0
    out, argmax = np.zeros((1, 3)), np.zeros((1, 3))
    check_twin("pooling.global_max_pool_forward", x, out, argmax)
    cpu_pooling.global_max_pool_forward(x, out, argmax)
    np.testing.assert_array_equal(argmax, [[5.0, 10.0, 0.0]])


def _dev(*shape, dtype=np.float64):
    from numba import cuda

    return cuda.to_device(np.zeros(shape, dtype))


def test_bad_shapes_raise():
    x, out = _dev(1, 4, 4, 2), _dev(1, 2, 2, 2)
    pooling.max_pool2d_forward(x, out, _dev(1, 2, 2, 2), 2, 2, 2, 2, 0, 0)  # the good call
    with pytest.raises(ValueError, match="max_pool2d_forward"):
        pooling.max_pool2d_forward(x, out, _dev(1, 2, 2, 1), 2, 2, 2, 2, 0, 0)
    with pytest.raises(ValueError, match="max_pool2d_forward"):  # pad >= pool
        pooling.max_pool2d_forward(x, out, _dev(1, 2, 2, 2), 2, 2, 2, 2, 2, 0)
    with pytest.raises(ValueError, match="max_pool2d_forward"):  # a window all padding
        pooling.max_pool2d_forward(x, _dev(1, 3, 2, 2), _dev(1, 3, 2, 2), 2, 2, 2, 2, 0, 0)
    with pytest.raises(ValueError, match="max_pool2d_backward"):
        pooling.max_pool2d_backward(_dev(1, 2, 2, 1), out, x)
    with pytest.raises(ValueError, match="max_pool2d_backward"):
        pooling.max_pool2d_backward(out, out, _dev(1, 4, 4, 3))
    with pytest.raises(ValueError, match="avg_pool2d_forward"):
        pooling.avg_pool2d_forward(x, _dev(1, 2, 2, 3), 2, 2, 2, 2, 0, 0)
    with pytest.raises(ValueError, match="avg_pool2d_backward"):
        pooling.avg_pool2d_backward(out, x, 2, 2, 4, 4, 0, 0)
    with pytest.raises(ValueError, match="global_avg_pool_forward"):
        pooling.global_avg_pool_forward(_dev(2, 3, 4), _dev(2, 3))
    with pytest.raises(ValueError, match="global_avg_pool_forward"):
        pooling.global_avg_pool_forward(_dev(2, 0, 4), _dev(2, 4))
    with pytest.raises(ValueError, match="global_avg_pool_backward"):
        pooling.global_avg_pool_backward(_dev(2, 3), _dev(2, 3, 4))
    with pytest.raises(ValueError, match="global_max_pool_forward"):
        pooling.global_max_pool_forward(_dev(2, 3, 4), _dev(2, 4), _dev(2, 3))
    with pytest.raises(ValueError, match="global_max_pool_backward"):
        pooling.global_max_pool_backward(_dev(1, 4), _dev(2, 4), _dev(2, 3, 4))
