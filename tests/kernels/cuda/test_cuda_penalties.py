"""kernels/cuda/penalties.py against kernels/cpu/penalties.py (in the CUDA simulator)."""

import numpy as np
import pytest
from nbkeras.kernels.cuda import penalties
from numba import cuda
from support.cuda_twin import arrays, check_twin

DTYPES = [np.float32, np.float64]
N = 300


def acc():
    return np.array([0.25])  # float64, non-zero: the kernels add to it


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("l1,l2", [(0.01, 0.0), (0.0, 0.02), (0.01, 0.02), (0.0, 0.0)])
def test_l1l2(rng, dtype, l1, l2):
    n = N if l1 and l2 else 40  # two blocks (two atomic additions) once; the simulator is slow
    w, g = arrays(rng, dtype, n, n)
    w[:3] = 0.0  # sign(0) = 0
    check_twin("penalties.l1l2_penalty", w, l1, l2)
    check_twin("penalties.l1l2_penalty_into", w, l1, l2, acc())
    check_twin("penalties.l1l2_activity_penalty_into", w, l1, l2, 6, acc())
    check_twin("penalties.l1l2_activity_penalty_into", w, l1, l2, 0, acc())
    check_twin("penalties.l1l2_penalty_grad", w, l1, l2, 0.5, g)
    check_twin("penalties.l1l2_activity_penalty_grad", w, l1, l2, 6, g)
    check_twin("penalties.l1l2_activity_penalty_grad", w, l1, l2, 0, g)


def test_l1l2_inf_weight_under_pure_l1(rng):
    w = np.array([1.0, np.inf, -2.0])
    check_twin("penalties.l1l2_penalty", w, 0.01, 0.0)
    check_twin("penalties.l1l2_penalty", np.zeros(0), 0.01, 0.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("by_columns", [False, True])
@pytest.mark.parametrize("shape", [(4, 3), (1, 4)])
def test_orthogonal(rng, dtype, by_columns, shape):
    w, g = arrays(rng, dtype, shape, shape)
    w[0, :] = 0.0  # a zero row: the clamp is active
    n = rng.uniform(size=w.size + 3)  # longer than needed: the tail stays untouched
    check_twin("penalties.orthogonal_penalty", w, 0.01, by_columns, n)
    check_twin("penalties.orthogonal_penalty_into", w, 0.01, by_columns, n, acc())
    check_twin("penalties.orthogonal_penalty_grad", w, 0.01, by_columns, 0.5, g, n)


@pytest.mark.parametrize("dtype", DTYPES)
def test_constraints(rng, dtype):
    w = arrays(rng, dtype, (9, 37), low=-2.0, high=2.0)[0]  # two column blocks, the second ragged
    w[:, 3] = 0.0  # a zero column stays zero
    w[:, 5] *= 1e-3
    check_twin("penalties.max_norm_apply", w, 2.0)
    check_twin("penalties.unit_norm_apply", w)
    check_twin("penalties.min_max_norm_apply", w, 0.5, 1.5, 1.0)
    check_twin("penalties.min_max_norm_apply", w, 0.5, 1.5, 0.3)
    check_twin("penalties.non_neg_apply", w.reshape(-1).copy())


def test_bad_shapes():
    d = cuda.to_device
    w = d(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="l1l2_penalty_grad"):
        penalties.l1l2_penalty_grad(d(np.zeros(4)), 0.1, 0.1, 1.0, d(np.zeros(3)))
    with pytest.raises(ValueError, match="orthogonal_penalty: scratch"):
        penalties.orthogonal_penalty(w, 0.01, False, d(np.zeros(11)))
    with pytest.raises(ValueError, match="orthogonal_penalty: scratch"):
        penalties.orthogonal_penalty_into(w, 0.01, False, d(np.zeros(11)), d(np.zeros(1)))
    with pytest.raises(ValueError, match="orthogonal_penalty_grad: scratch"):
        penalties.orthogonal_penalty_grad(w, 0.01, False, 1.0, w, d(np.zeros(11)))
    with pytest.raises(ValueError, match="orthogonal_penalty_grad: g"):
        penalties.orthogonal_penalty_grad(w, 0.01, False, 1.0, d(np.zeros((4, 3))), d(np.zeros(12)))
