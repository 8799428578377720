"""kernels/cuda/norm_ops.py against kernels/cpu/norm_ops.py (in the CUDA simulator: tiny shapes)."""

import numpy as np
import pytest
from nbkeras.kernels.cuda import norm_ops as G
from numba import cuda
from support.cuda_twin import arrays, check_twin

DTYPES = [np.float32, np.float64]


def empty(dtype, ndim=1):
    return np.empty((0,) * ndim, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [5, 70])
def test_layer_norm_matches_cpu(d, dtype, monkeypatch):
    monkeypatch.setattr(G, "_row_threads", lambda d: 32)  # d = 70: each thread sums a strided part of the row
    rng = np.random.default_rng(d)
    x, out, gamma, beta, dy, dx, dgamma, dbeta = arrays(rng, dtype, (3, d), (3, d), d, d, (3, d), (3, d), d, d)
    x += 2.0  # a mean away from 0
    for rms in (False, True):
        b = empty(dtype) if rms else beta
        check_twin("norm_ops.layer_norm_forward", x, gamma, b, out, 1e-3, rms)
        check_twin("norm_ops.layer_norm_forward", x, empty(dtype), b, out, 1e-3, rms)
        for accumulate in (False, True):
            check_twin("norm_ops.layer_norm_backward", x, gamma, dy, dx, dgamma, dbeta, 1e-3, rms, accumulate)
        check_twin("norm_ops.layer_norm_backward", x, empty(dtype), dy, empty(dtype, 2), dgamma, empty(dtype),
                   1e-3, rms, False)
        check_twin("norm_ops.layer_norm_backward", x, gamma, dy, dx, empty(dtype), empty(dtype), 1e-3, rms, True)
    check_twin("norm_ops.layer_norm_forward", x, empty(dtype), beta, out, 1e-3, False)


def test_layer_norm_with_the_default_block_matches_cpu():
    rng = np.random.default_rng(1)
    x, out, gamma, beta, dy, dx, dgamma, dbeta = arrays(rng, np.float64, (2, 70), (2, 70), 70, 70, (2, 70),
                                                        (2, 70), 70, 70)
    assert G._row_threads(70) == 128
    check_twin("norm_ops.layer_norm_forward", x, gamma, beta, out, 1e-3, False)
    check_twin("norm_ops.layer_norm_backward", x, gamma, dy, dx, dgamma, dbeta, 1e-3, False, False)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 6, 1), (2, 3, 4), (2, 40, 1)])
def test_unit_norm_matches_cpu(shape, dtype, monkeypatch):
    monkeypatch.setattr(G, "_row_threads", lambda d: 32)
    rng = np.random.default_rng(shape[1])
    x, out, dy, dx = arrays(rng, dtype, shape, shape, shape, shape)
    x[0, :, 0] = 0.0  # an all-zero slice: the 1 / epsilon cap
    for eps in (1e-12, 1e-7):
        check_twin("norm_ops.unit_norm_forward", x, out, eps)
        check_twin("norm_ops.unit_norm_backward", x, dy, dx, eps)
    check_twin("norm_ops.unit_norm_backward", x, dy, empty(dtype, 3), 1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_standardize_matches_cpu(dtype):
    rng = np.random.default_rng(3)
    x, out, mean, dy, dx = arrays(rng, dtype, (2, 5, 3), (2, 5, 3), 5, (2, 5, 3), (2, 5, 3))
    var = rng.uniform(0.1, 2.0, 5).astype(dtype)
    var[1] = 0.0  # divides by epsilon
    for invert in (False, True):
        check_twin("norm_ops.standardize_forward", x, mean, var, out, 1e-7, invert)
        check_twin("norm_ops.standardize_backward", var, dy, dx, 1e-7, invert)
    check_twin("norm_ops.standardize_backward", var, dy, empty(dtype, 3), 1e-7, False)


@pytest.mark.parametrize("dtype", DTYPES)
def test_affine_matches_cpu(dtype):
    rng = np.random.default_rng(4)
    x, out, dy, dx = arrays(rng, dtype, (3, 7), (3, 7), (3, 7), (3, 7))
    for ns, no in ((7, 7), (1, 7), (7, 1), (1, 1)):
        scale, offset = arrays(rng, dtype, ns, no)
        check_twin("norm_ops.affine_forward", x, scale, offset, out)
        check_twin("norm_ops.affine_backward", scale, dy, dx)
    check_twin("norm_ops.affine_backward", scale, dy, empty(dtype, 2))


@pytest.mark.parametrize("dtype", DTYPES)
def test_set_values_matches_cpu(dtype):
    (out,) = arrays(np.random.default_rng(5), dtype, 11)
    vals = (0.1, -2.0, 3.5, 4.0, 1e-3, 6.0, 7.25, -8.0)
    for start, count in ((0, 8), (3, 5), (10, 1), (2, 0)):
        check_twin("norm_ops.set_values", out, start, count, *vals)


def test_bad_shapes_raise():
    def d(*shape):
        return cuda.to_device(np.zeros(shape))

    with pytest.raises(ValueError, match="layer_norm_forward: gamma and beta"):
        G.layer_norm_forward(d(2, 3), d(4), d(0), d(2, 3), 1e-3, False)
    with pytest.raises(ValueError, match="layer_norm_forward: rms_scaling takes no beta"):
        G.layer_norm_forward(d(2, 3), d(3), d(3), d(2, 3), 1e-3, True)
    with pytest.raises(ValueError, match="layer_norm_backward: dx"):
        G.layer_norm_backward(d(2, 3), d(3), d(2, 3), d(3, 3), d(3), d(3), 1e-3, False, False)
    with pytest.raises(ValueError, match="unit_norm_forward: epsilon"):
        G.unit_norm_forward(d(2, 3, 1), d(2, 3, 1), 0.0)
    with pytest.raises(ValueError, match="standardize_forward: mean and var"):
        G.standardize_forward(d(2, 3, 1), d(2), d(3), d(2, 3, 1), 1e-7, False)
    with pytest.raises(ValueError, match="affine_backward"):
        G.affine_backward(d(2), d(2, 3), d(2, 3))
    with pytest.raises(ValueError, match="set_values"):
        G.set_values(d(4), 2, 3, *([0.0] * 8))
