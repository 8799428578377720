"""kernels/cuda/metrics.py against kernels/cpu/metrics.py (run in the CUDA simulator: tiny shapes)."""

import numpy as np
import pytest
from nbkeras.kernels.cuda import metrics
from numba import cuda
from support.cuda_twin import arrays, check_twin

DTYPES = [np.float32, np.float64]
ROWS, D = 6, 5


def _preds(rng, dtype, rows=ROWS, d=D):
    """Predictions with ties (with a lower and with a higher index) and NaNs, the argmax traps."""
    yp = rng.integers(0, 4, (rows, d)).astype(dtype)  # many ties
    yp[0] = [1, 3, 0, 3, 2][:d] + [0] * max(0, d - 5)
    yp[1, 2] = np.nan
    yp[2, 1] = yp[2, 3] = np.nan
    return yp


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_accuracy_matches_cpu(rng, dtype):
    yt = rng.integers(0, 2, (ROWS, D)).astype(dtype)
    yt[0, 0] = 0.5  # never matches
    (yp,) = arrays(rng, dtype, (ROWS, D), low=0.0, high=1.0)
    yp[1, 1] = dtype(0.1)  # == threshold (rounded to the dtype): predicts 0
    yp[2, 2] = np.nan
    (out,) = arrays(rng, dtype, (ROWS,))
    for threshold in (0.5, 0.1):
        check_twin("metrics.binary_accuracy_forward", yt, yp, out, threshold)


@pytest.mark.parametrize("dtype", DTYPES)
def test_categorical_accuracies_match_cpu(rng, dtype):
    yp = _preds(rng, dtype)
    yt = np.eye(D, dtype=dtype)[rng.integers(0, D, ROWS)]
    yt[0] = np.eye(D, dtype=dtype)[3]  # tied with index 1 in yp[0]: categorical 0, top-1 hit
    yt[3, :] = 0.0
    yt[3, 4] = yt[3, 2] = 1.0  # a two-hot row: the first argmax is the target
    (out,) = arrays(rng, dtype, (ROWS,))
    check_twin("metrics.categorical_accuracy_forward", yt, yp, out)
    for k in (0, 1, 2, 5, 7):
        check_twin("metrics.top_k_categorical_accuracy_forward", yt, yp, out, k)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_accuracies_match_cpu(rng, dtype):
    yp = _preds(rng, dtype)
    labels = rng.integers(0, D, ROWS).astype(dtype)
    labels[0], labels[1] = 3, 2  # a tie with a lower index; a NaN target (top-k counts it as -inf)
    (out,) = arrays(rng, dtype, (ROWS,))
    check_twin("metrics.sparse_categorical_accuracy_forward", labels, yp, out)
    for k in (1, 3):
        check_twin("metrics.sparse_top_k_categorical_accuracy_forward", labels, yp, out, k)


def test_wide_rows(rng):
    """d > 32: lanes stride over the row and the argmax crosses lanes (the maximum first seen by a later lane)."""
    yp = rng.integers(0, 3, (10, 70)).astype(np.float64)  # two blocks of 8 rows, the second partly past the end
    yp[0, 40] = yp[0, 66] = 9.0
    yp[1, 50] = np.nan
    yp[1, 65] = np.nan
    yt = np.eye(70)[[66, 50] + [5] * 8]
    (out,) = arrays(rng, np.float64, (10,))
    check_twin("metrics.categorical_accuracy_forward", yt, yp, out)
    check_twin("metrics.top_k_categorical_accuracy_forward", yt, yp, out, 2)
    check_twin("metrics.sparse_categorical_accuracy_forward", np.array([40.0, 50.0] + [1.0] * 8), yp, out)


def test_sparse_bad_label_gives_nan():
    yp = np.array([[0.1, 0.9], [0.5, 0.5], [0.2, 0.8], [0.3, 0.7]])
    labels = cuda.to_device(np.array([1.0, 2.0, 0.5, np.nan]))
    for fn, extra in ((metrics.sparse_categorical_accuracy_forward, ()),
                      (metrics.sparse_top_k_categorical_accuracy_forward, (1,))):
        out = cuda.to_device(np.zeros(4))
        fn(labels, cuda.to_device(yp), out, *extra)
        got = out.copy_to_host()
        assert got[0] == 1.0 and np.isnan(got[1:]).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n", [1, 300])
def test_mean_update_and_result_match_cpu(rng, dtype, weighted, n):
    values, w = arrays(rng, dtype, (n,), (n if weighted else 0,))
    state = np.array([2.5, 3.0])
    check_twin("metrics.mean_update", state, values, w)
    check_twin("metrics.mean_result", state)
    if dtype == np.float32:
        check_twin("metrics.mean_update", state.astype(np.float32), values, w)


def test_mean_result_of_empty_count():
    check_twin("metrics.mean_result", np.array([0.0, 0.0]))
    check_twin("metrics.mean_result", np.array([3.0, 0.0]))
    check_twin("metrics.mean_result", np.array([1.0, 3.0], np.float32))


def test_bad_shapes_raise():
    def dev(*shape):
        return cuda.to_device(np.zeros(shape))

    with pytest.raises(ValueError, match="accuracy metrics"):
        metrics.binary_accuracy_forward(dev(3, 4), dev(3, 5), dev(3), 0.5)
    with pytest.raises(ValueError, match="accuracy metrics"):
        metrics.categorical_accuracy_forward(dev(3, 4), dev(3, 4), dev(2))
    with pytest.raises(ValueError, match="at least one class"):
        metrics.top_k_categorical_accuracy_forward(dev(3, 0), dev(3, 0), dev(3), 1)
    with pytest.raises(ValueError, match="sparse accuracy metrics"):
        metrics.sparse_categorical_accuracy_forward(dev(2), dev(3, 4), dev(3))
    with pytest.raises(ValueError, match="sparse accuracy metrics"):
        metrics.sparse_top_k_categorical_accuracy_forward(dev(3), dev(3, 0), dev(3), 1)
    with pytest.raises(ValueError, match="mean_update"):
        metrics.mean_update(dev(3), dev(4), dev(0))
    with pytest.raises(ValueError, match="mean_update"):
        metrics.mean_update(dev(2), dev(4), dev(3))
