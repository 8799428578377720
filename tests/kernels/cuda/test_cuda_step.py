"""kernels/cuda/step.py against kernels/cpu/step.py (run in the CUDA simulator: tiny shapes).

The float64 log state (acc, tracker, state) is compared at float32 tolerance when float32 values are summed into
it: the order of the additions differs (and the simulator sums float32 values in float32, a real device in
float64)."""

import numpy as np
import pytest
from nbkeras.kernels.cuda import step
from numba import cuda
from support.cuda_twin import arrays, check_twin

DTYPES = [np.float32, np.float64]


def _tol(dtype):
    return {"rtol": 2e-5, "atol": 2e-6} if dtype == np.float32 else {}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", [0, 1, 2])
@pytest.mark.parametrize("n", [1, 300])
def test_loss_accumulate_and_upstream_match_cpu(rng, dtype, reduction, n):
    values, dv = arrays(rng, dtype, (n,), (n,))
    (weights,) = arrays(rng, dtype, (n,), low=0.0, high=2.0)
    acc, tracker = np.array([0.25]), np.array([1.5, 4.0])
    check_twin("step.loss_accumulate", values, weights, reduction, 0.7, 32, acc, tracker, **_tol(dtype))
    check_twin("step.loss_accumulate", values, weights, reduction, 1.0, 32, acc, np.empty(0), **_tol(dtype))
    check_twin("step.loss_upstream", weights, reduction, 0.7, dv)


@pytest.mark.parametrize("reduction", [0, 1, 2])
def test_loss_accumulate_degenerate(reduction):
    """No values (nan for the mean reductions, still counting samples) and all-zero weights (0/0 = nan)."""
    for values, weights in ((np.empty(0), np.empty(0)), (np.ones(3), np.zeros(3))):
        check_twin("step.loss_accumulate", values, weights, reduction, 0.5, 8, np.array([0.0]),
                   np.array([1.0, 2.0]))
    if reduction != 2:  # with sum(w) = 0 the factor is inf and inf * 0 warns in the simulator (nan on a device)
        check_twin("step.loss_upstream", np.zeros(3), reduction, 0.5, np.ones(3))


def test_total_update_matches_cpu():
    check_twin("step.total_update", np.array([0.75]), np.array([2.0, 3.0, 9.0]), 16)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gather_or_fill_matches_cpu(rng, dtype):
    src, dst = arrays(rng, dtype, (7, 3), (4, 3))
    index = rng.permutation(7).astype(np.int64)
    check_twin("step.gather_or_fill", src, index, 2, 6, dst, 1.0)
    check_twin("step.gather_or_fill", src, index, 5, 7, dst, 1.0)  # partial batch: the rest untouched
    check_twin("step.gather_or_fill", np.empty((0, 0), dtype), index, 1, 4, dst, 1.0)  # no weights: filled
    check_twin("step.gather_or_fill", np.empty((0, 0), dtype), index, 3, 3, dst, 1.0)


def test_gather_or_fill_bad_id_leaves_row_untouched():
    src, dst = np.arange(6.0).reshape(3, 2), np.full((2, 2), -1.0)
    d_dst = cuda.to_device(dst)
    step.gather_or_fill(cuda.to_device(src), cuda.to_device(np.array([2, 5])), 0, 2, d_dst, 1.0)
    np.testing.assert_array_equal(d_dst.copy_to_host(), [[4.0, 5.0], [-1.0, -1.0]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_fill_matches_cpu(rng, dtype):
    (dst,) = arrays(rng, dtype, (300,))
    check_twin("step.fill", dst, 0.0)
    check_twin("step.fill", dst, 1.0 / 3.0)
    check_twin("step.fill", np.empty(0, dtype), 1.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 3), (2, 45)])
def test_row_mean_matches_cpu(rng, dtype, shape):
    x, dx = arrays(rng, dtype, shape, shape)
    out, dout = arrays(rng, dtype, (shape[0],), (shape[0],))
    check_twin("step.row_mean_forward", x, out)
    check_twin("step.row_mean_backward", dout, dx)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 3), (300, 1), (3, 40)])
@pytest.mark.parametrize("mean", [False, True])
def test_state_accumulate_matches_cpu(rng, dtype, shape, mean):
    (values,) = arrays(rng, dtype, shape)
    state = rng.uniform(-1, 1, shape[1])
    check_twin("step.state_accumulate", values, state, mean, -1.0 if mean else 1.0, **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rescale", [False, True])
def test_masked_weights_matches_cpu(rng, dtype, rescale):
    n = 37
    weights, out = arrays(rng, dtype, (n,), (n,))
    mask = (rng.uniform(size=n) > 0.4).astype(dtype)
    check_twin("step.masked_weights", weights, mask, rescale, out)
    check_twin("step.masked_weights", weights, np.zeros(n, dtype), rescale, out)  # nothing valid


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mean", [False, True])
def test_extra_loss_and_grad_match_cpu(rng, dtype, mean):
    values, dvalues = arrays(rng, dtype, (7, 3), (7, 3))
    check_twin("step.extra_loss", values, mean, np.array([0.5]), **_tol(dtype))
    check_twin("step.extra_loss", np.empty((0, 3), dtype), mean, np.array([0.5]))
    check_twin("step.extra_loss_grad", dvalues, mean)


def test_bad_shapes_raise():
    def dev(*shape):
        return cuda.to_device(np.zeros(shape))

    with pytest.raises(ValueError, match="step: weights"):
        step.loss_accumulate(dev(3), dev(2), 0, 1.0, 3, dev(1), dev(2))
    with pytest.raises(ValueError, match="step: weights"):
        step.loss_upstream(dev(2), 0, 1.0, dev(3))
    with pytest.raises(ValueError, match="gather_or_fill"):
        step.gather_or_fill(dev(4, 3), cuda.to_device(np.arange(4)), 0, 5, dev(5, 3), 1.0)
    with pytest.raises(ValueError, match="gather_or_fill"):
        step.gather_or_fill(dev(4, 3), cuda.to_device(np.arange(4)), 0, 2, dev(2, 2), 1.0)
    with pytest.raises(ValueError, match="row_mean_forward"):
        step.row_mean_forward(dev(3, 2), dev(2))
    with pytest.raises(ValueError, match="row_mean_backward"):
        step.row_mean_backward(dev(2), dev(3, 2))
    with pytest.raises(ValueError, match="state_accumulate"):
        step.state_accumulate(dev(3, 2), dev(3), False, 1.0)
    with pytest.raises(ValueError, match="masked_weights"):
        step.masked_weights(dev(3), dev(3), True, dev(2))
    with pytest.raises(ValueError, match="total_update"):
        step.total_update(dev(1), dev(1), 4)
