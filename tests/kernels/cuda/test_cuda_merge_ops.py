"""kernels/cuda/merge_ops.py against kernels/cpu/merge_ops.py (in the CUDA simulator)."""

import numpy as np
import pytest
from nbkeras.kernels.cuda import merge_ops
from numba import cuda
from support.cuda_twin import arrays, check_twin

DTYPES = [np.float32, np.float64]
N = 259


@pytest.mark.parametrize("dtype", DTYPES)
def test_elementwise_merges(rng, dtype):
    x, out, dst = arrays(rng, dtype, N, N, N)
    check_twin("merge_ops.multiply_forward", x, out, True)
    check_twin("merge_ops.multiply_forward", x, out, False)
    check_twin("merge_ops.multiply_into", dst, x)
    check_twin("merge_ops.subtract_forward", x, dst, out)
    check_twin("merge_ops.negate_into", dst, x)
    check_twin("merge_ops.divide_into", dst, x, 3)
    check_twin("merge_ops.divide_into", x, x, 3.0)  # in place (one array passed twice on both sides)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("take_max", [True, False])
def test_extreme(rng, dtype, take_max):
    x, out, winner, dy, dx = arrays(rng, dtype, N, N, N, N, N)
    x[:5] = out[:5]  # ties keep the earlier input
    winner = np.floor(np.abs(winner) * 3).astype(dtype)
    for index in (0, 2):
        check_twin("merge_ops.extreme_forward", x, out, winner, index, take_max)
    for index in (0, 1, 2):
        check_twin("merge_ops.extreme_backward", dy, winner, index, dx)
    check_twin("merge_ops.extreme_backward", dy, winner, 1, np.zeros(0, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_axis,y_axis", [(1, 1), (1, 2), (2, 1), (2, 2)])
def test_batch_dot(rng, dtype, x_axis, y_axis):
    b, m, n, k = 3, 4, 5, 6
    xs = (b, k, m) if x_axis == 1 else (b, m, k)
    ys = (b, k, n) if y_axis == 1 else (b, n, k)
    x, y, out, dy, dx, dyy = arrays(rng, dtype, xs, ys, (b, m, n), (b, m, n), xs, ys)
    check_twin("merge_ops.batch_dot_forward", x, y, out, x_axis, y_axis)
    check_twin("merge_ops.batch_dot_backward", x, y, dy, dx, dyy, x_axis, y_axis)
    check_twin("merge_ops.batch_dot_backward", x, y, dy, np.zeros((0, 0, 0), dtype), dyy, x_axis, y_axis)
    check_twin("merge_ops.batch_dot_backward", x, y, dy, dx, np.zeros((0, 0, 0), dtype), x_axis, y_axis)


@pytest.mark.parametrize("dtype", DTYPES)
def test_repeat(rng, dtype):
    x, out, dy, dx = arrays(rng, dtype, (3, 7), (3, 5, 7), (3, 5, 7), (3, 7))
    check_twin("merge_ops.repeat_forward", x, out)
    check_twin("merge_ops.repeat_backward", dy, dx)
    check_twin("merge_ops.repeat_backward", dy, np.zeros((0, 0), dtype))


def test_bad_shapes():
    d = cuda.to_device
    a, b = d(np.zeros(4)), d(np.zeros(3))
    for fn, args in [(merge_ops.multiply_forward, (a, b, True)), (merge_ops.multiply_into, (a, b)),
                     (merge_ops.subtract_forward, (a, a, b)), (merge_ops.negate_into, (a, b)),
                     (merge_ops.divide_into, (a, b, 2.0)), (merge_ops.extreme_forward, (a, a, b, 1, True)),
                     (merge_ops.extreme_backward, (a, b, 0, a))]:
        with pytest.raises(ValueError, match=fn.__name__):
            fn(*args)
    x, y = d(np.zeros((2, 3, 4))), d(np.zeros((2, 4, 5)))
    with pytest.raises(ValueError, match="x_axis and y_axis"):
        merge_ops.batch_dot_forward(x, y, d(np.zeros((2, 3, 5))), 3, 1)
    with pytest.raises(ValueError, match="contracted"):
        merge_ops.batch_dot_forward(x, y, d(np.zeros((2, 3, 5))), 1, 1)
    with pytest.raises(ValueError, match="out must be"):
        merge_ops.batch_dot_forward(x, y, d(np.zeros((2, 3, 4))), 2, 1)
    with pytest.raises(ValueError, match="dx must have"):
        merge_ops.batch_dot_backward(x, y, d(np.zeros((2, 3, 5))), d(np.zeros((2, 4, 3))), y, 2, 1)
    with pytest.raises(ValueError, match="repeat_forward"):
        merge_ops.repeat_forward(d(np.zeros((2, 3))), d(np.zeros((2, 4, 4))))
    with pytest.raises(ValueError, match="repeat_backward"):
        merge_ops.repeat_backward(d(np.zeros((2, 4, 4))), d(np.zeros((2, 3))))
