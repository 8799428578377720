"""kernels/cuda/dense.py against kernels/cpu/dense.py."""

import numpy as np
import pytest
from nbkeras.kernels.cuda import dense
from numba import cuda
from support.cuda_twin import arrays, check_twin

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_forward_matches_cpu(dtype, use_bias):
    rng = np.random.default_rng(0)
    for rows, n_in, units in [(5, 3, 4), (35, 33, 9)]:
        x, w, b, out = arrays(rng, dtype, (rows, n_in), (n_in, units), (units if use_bias else 0,), (rows, units))
        check_twin("dense.dense_forward", x, w, b, out)
    out[0, 0] = np.nan  # old contents ignored
    check_twin("dense.dense_forward", x, w, b, out)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("accumulate", [True, False])
@pytest.mark.parametrize("use_bias,need_dx", [(True, True), (False, True), (True, False)])
def test_dense_backward_matches_cpu(dtype, accumulate, use_bias, need_dx):
    rng = np.random.default_rng(1)
    for rows, n_in, units in [(6, 3, 4), (37, 5, 34)]:
        x, w, dy, dk = arrays(rng, dtype, (rows, n_in), (n_in, units), (rows, units), (n_in, units))
        db, dx = arrays(rng, dtype, (units if use_bias else 0,), (rows, n_in) if need_dx else (0, 0))
        check_twin("dense.dense_backward", x, w, dy, dx, dk, db, accumulate)


def test_bad_shapes_raise():
    d = cuda.to_device
    x, w, out = d(np.zeros((4, 3))), d(np.zeros((3, 5))), d(np.zeros((4, 5)))
    with pytest.raises(ValueError, match="dense_forward"):
        dense.dense_forward(x, w, d(np.zeros(4)), out)
    with pytest.raises(ValueError, match="gemm"):
        dense.dense_forward(x, d(np.zeros((2, 5))), d(np.zeros(5)), out)
    with pytest.raises(ValueError, match="dense_backward"):
        dense.dense_backward(x, w, out, d(np.zeros((4, 3))), d(np.zeros((3, 5))), d(np.zeros(2)), False)
    dk = np.ones((3, 5))
    ddk = d(dk)
    with pytest.raises(ValueError, match="gemm"):  # a bad dx raises before dkernel is written
        dense.dense_backward(x, w, out, d(np.zeros((4, 2))), ddk, d(np.zeros(5)), False)
    np.testing.assert_array_equal(ddk.copy_to_host(), dk)
