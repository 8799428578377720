"""kernels/cuda/normalization.py against kernels/cpu/normalization.py (in the CUDA simulator)."""

import numpy as np
import pytest
from nbkeras.kernels.cuda import _launch, normalization
from numba import cuda
from support.cuda_twin import arrays, check_twin

DTYPES = [np.float32, np.float64]
# (dtype, (rows, channels)): two row blocks (partials reduced across blocks; float64 only, the simulator is slow),
# two channel blocks with a ragged second
CASES = [(np.float64, (70, 3)), (np.float32, (5, 37)), (np.float64, (5, 37))]


def forward_args(rng, dtype, rows, ch, scale=True, center=True, save=True):
    x, out, xhat, g, b, mm, mv, mean, inv = arrays(rng, dtype, (rows, ch), (rows, ch), (rows, ch), ch, ch, ch, ch,
                                                   ch, ch)
    x = x * 3 + 2  # a mean far from 0
    mv = np.abs(mv) + 0.5
    return (x, g if scale else np.zeros(0, dtype), b if center else np.zeros(0, dtype), mm, mv, out,
            xhat if save else np.zeros((0, 0), dtype), mean, inv)


@pytest.mark.parametrize("dtype,shape", CASES)
@pytest.mark.parametrize("training", [True, False])
def test_forward(rng, dtype, shape, training):
    check_twin("normalization.batch_norm_forward", *forward_args(rng, dtype, *shape), 0.99, 1e-3, training)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False])
def test_forward_without_gamma_beta_or_xhat(rng, dtype, training):
    args = forward_args(rng, dtype, 9, 4, scale=False, center=False, save=False)
    check_twin("normalization.batch_norm_forward", *args, 0.9, 1e-3, training)


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_inference_on_zero_rows(rng, dtype):
    check_twin("normalization.batch_norm_forward", *forward_args(rng, dtype, 0, 3), 0.99, 1e-3, False)


@pytest.mark.parametrize("dtype,shape", CASES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("accumulate", [True, False])
def test_backward(rng, dtype, shape, training, accumulate):
    ch = shape[1]
    dy, xhat, dx, g, inv, dg, db = arrays(rng, dtype, shape, shape, shape, ch, ch, ch, ch)
    inv = np.abs(inv) + 0.5
    check_twin("normalization.batch_norm_backward", dy, g, xhat, inv, dx, dg, db, training, accumulate)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False])
def test_backward_options(rng, dtype, training):
    """scale=False (gamma and dgamma empty), center=False, no dx, nothing at all."""
    shape = (11, 3)
    dy, xhat, dx, g, inv, dg, db = arrays(rng, dtype, shape, shape, shape, 3, 3, 3, 3)
    e1, e2 = np.zeros(0, dtype), np.zeros((0, 0), dtype)
    for args in [(e1, dx, e1, db), (g, e2, dg, e1), (g, dx, e1, e1), (g, e2, e1, e1)]:
        gamma, dx_, dg_, db_ = args
        check_twin("normalization.batch_norm_backward", dy, gamma, xhat, inv, dx_, dg_, db_, training, True)


def test_launch_counts(rng):
    args = [cuda.to_device(a) for a in forward_args(rng, np.float32, 6, 3)]
    before = _launch.LAUNCHES[0]
    normalization.batch_norm_forward(*args, 0.99, 1e-3, True)
    assert _launch.LAUNCHES[0] - before == 3
    normalization.batch_norm_forward(*args, 0.99, 1e-3, False)
    assert _launch.LAUNCHES[0] - before == 4


def test_bad_shapes():
    d = cuda.to_device
    x, c3, c2 = d(np.zeros((4, 3))), d(np.zeros(3)), d(np.zeros(2))
    e = d(np.zeros(0))
    with pytest.raises(ValueError, match="out must have"):
        normalization.batch_norm_forward(x, c3, c3, c3, c3, d(np.zeros((4, 2))), x, c3, c3, 0.9, 1e-3, True)
    with pytest.raises(ValueError, match="gamma must have"):
        normalization.batch_norm_forward(x, c2, c3, c3, c3, x, x, c3, c3, 0.9, 1e-3, True)
    with pytest.raises(ValueError, match="length C"):
        normalization.batch_norm_forward(x, c3, c3, c2, c3, x, x, c3, c3, 0.9, 1e-3, True)
    with pytest.raises(ValueError, match="at least one row"):
        z = d(np.zeros((0, 3)))
        normalization.batch_norm_forward(z, c3, c3, c3, c3, z, z, c3, c3, 0.9, 1e-3, True)
    with pytest.raises(ValueError, match="xhat must have"):
        normalization.batch_norm_backward(x, c3, d(np.zeros((3, 3))), c3, x, c3, c3, True, False)
    with pytest.raises(ValueError, match="dgamma must have"):
        normalization.batch_norm_backward(x, c3, x, c3, x, c2, c3, True, False)
    with pytest.raises(ValueError, match="dx must have"):
        normalization.batch_norm_backward(x, c3, x, c3, d(np.zeros((4, 2))), e, e, True, False)
