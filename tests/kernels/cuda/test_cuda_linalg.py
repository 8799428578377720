"""kernels/cuda/linalg.py against kernels/cpu/linalg.py."""

import numpy as np
import pytest
from nbkeras.kernels.cuda import linalg
from numba import cuda
from support.cuda_twin import arrays, check_twin

DTYPES = [np.float32, np.float64]


def shapes(shared, bsz, m, k, n):
    return (1 if shared == "a" else bsz, m, k), (1 if shared == "b" else bsz, k, n), (bsz, m, n)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shared", ["none", "a", "b"])
def test_bmm_forward_matches_cpu(dtype, shared):
    rng = np.random.default_rng(0)
    for bsz, m, k, n in [(3, 4, 5, 2), (2, 33, 3, 2)]:
        a, b, out = arrays(rng, dtype, *shapes(shared, bsz, m, k, n))
        check_twin("linalg.bmm_forward", a, b, out)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shared", ["none", "a", "b"])
@pytest.mark.parametrize("acc_a,acc_b", [(False, True), (True, False)])
def test_bmm_backward_matches_cpu(dtype, shared, acc_a, acc_b):
    rng = np.random.default_rng(1)
    a, b, dy = arrays(rng, dtype, *shapes(shared, 3, 4, 5, 2))
    da, db = arrays(rng, dtype, a.shape, b.shape)
    check_twin("linalg.bmm_backward", a, b, dy, da, db, acc_a, acc_b)


@pytest.mark.parametrize("shared", ["none", "a", "b"])
def test_bmm_backward_skips_empty_gradients(shared):
    rng = np.random.default_rng(3)
    a, b, dy = arrays(rng, np.float32, *shapes(shared, 3, 4, 5, 2))
    da, db = arrays(rng, np.float32, a.shape, b.shape)
    check_twin("linalg.bmm_backward", a, b, dy, da, np.zeros((0, 0, 0), np.float32), False, True)
    check_twin("linalg.bmm_backward", a, b, dy, np.zeros((0, 0, 0), np.float32), db, True, False)


@pytest.mark.parametrize("accumulate", [True, False])
def test_bmm_backward_empty_batch_writes_shared_gradients(accumulate):
    rng = np.random.default_rng(2)
    a, b, dy = arrays(rng, np.float64, (1, 3, 2), (1, 2, 4), (0, 3, 4))
    da, db = arrays(rng, np.float64, a.shape, b.shape)
    da[0, 0, 0] = np.nan  # overwritten (not read) when not accumulating
    check_twin("linalg.bmm_backward", a, b, dy, da, db, accumulate, accumulate)
    check_twin("linalg.bmm_forward", a, b, dy)


def test_bad_shapes_raise():
    d = cuda.to_device
    a, b, out = d(np.zeros((2, 3, 4))), d(np.zeros((2, 4, 5))), d(np.zeros((2, 3, 5)))
    with pytest.raises(ValueError, match="bmm_forward"):
        linalg.bmm_forward(a, d(np.zeros((3, 4, 5))), d(np.zeros((3, 3, 5))))
    with pytest.raises(ValueError, match="bmm_forward"):
        linalg.bmm_forward(a, d(np.zeros((2, 5, 5))), out)
    with pytest.raises(ValueError, match="bmm_backward"):
        linalg.bmm_backward(a, b, out, d(np.zeros((2, 3, 3))), d(np.zeros((2, 4, 5))), False, False)
    with pytest.raises(ValueError, match="bmm_backward"):
        linalg.bmm_backward(a, b, d(np.zeros((2, 3, 4))), d(np.zeros((2, 3, 4))), d(np.zeros((2, 4, 5))), False,
                            False)
