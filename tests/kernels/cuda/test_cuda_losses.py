"""kernels/cuda/losses.py against kernels/cpu/losses.py (run in the CUDA simulator: tiny shapes)."""

import numpy as np
import pytest
from nbkeras.kernels.cuda import losses
from support.cuda_twin import arrays, check_twin

DTYPES = [np.float32, np.float64]
ROWS, D = 5, 7  # odd sizes: lanes (8) and rows per block do not divide them

# (name, extra args, y_true range, y_pred range)
SIMPLE = [
    ("mean_squared_error", (), (-1, 1), (-1, 1)),
    ("mean_absolute_error", (), (-1, 1), (-1, 1)),
    ("mean_absolute_percentage_error", (), (-1, 1), (-1, 1)),
    ("mean_squared_logarithmic_error", (), (-0.2, 2), (-0.2, 2)),
    ("huber", (0.7,), (-1, 1), (-1, 1)),
    ("log_cosh", (), (-2, 2), (-2, 2)),
    ("kl_divergence", (), (-0.1, 1.1), (-0.1, 1.1)),
    ("poisson", (), (0, 3), (0.1, 3)),
    ("cosine_similarity", (), (-1, 1), (-1, 1)),
    ("categorical_hinge", (), (0, 1), (-1, 1)),
]


def _pair(rng, dtype, t_range, p_range, rows=ROWS, d=D):
    (yt,) = arrays(rng, dtype, (rows, d), low=t_range[0], high=t_range[1])
    (yp,) = arrays(rng, dtype, (rows, d), low=p_range[0], high=p_range[1])
    return yt, yp


def _run_pair(rng, dtype, name, extra, yt, yp):
    rows = yp.shape[0]
    out, dout = arrays(rng, dtype, (rows,), (rows,))
    (dpred,) = arrays(rng, dtype, yp.shape)
    check_twin(f"losses.{name}_forward", yt, yp, out, *extra)
    check_twin(f"losses.{name}_backward", yt, yp, dout, dpred, *extra)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,extra,t_range,p_range", SIMPLE, ids=[s[0] for s in SIMPLE])
def test_simple_losses_match_cpu(rng, dtype, name, extra, t_range, p_range):
    yt, yp = _pair(rng, dtype, t_range, p_range)
    if name == "categorical_hinge":
        yt = np.eye(D, dtype=dtype)[rng.integers(0, D, ROWS)]
        yp[1, 2] = yp[1, 5] = 3.0  # a tie for the max among the wrong classes: the first index takes it
    _run_pair(rng, dtype, name, extra, yt, yp)


def test_wide_rows_and_zero_rows(rng):
    """d > 32 (lanes stride over the row), a zero row (cosine's clamped norm), huber's |e| == delta."""
    rows, d = 3, 45
    yt, yp = _pair(rng, np.float64, (-1, 1), (-1, 1), rows=rows, d=d)
    yp[1] = 0.0
    yt[2, :4] = yp[2, :4] + np.array([1.0, -1.0, 0.5, -0.5])
    for name, extra in (("cosine_similarity", ()), ("huber", (0.5,))):
        _run_pair(rng, np.float64, name, extra, yt, yp)
    _run_pair(rng, np.float64, "categorical_hinge", (), np.eye(d)[rng.integers(0, d, rows)], yp)


def test_last_block_partly_past_the_end(rng):
    """Two blocks of 8 rows (32 lanes each) for 10 rows: the slots past the end take part in the reductions."""
    rows, d = 10, 33
    (yp,) = arrays(rng, np.float64, (rows, d), low=-3, high=3)
    _run_pair(rng, np.float64, "categorical_crossentropy", (True, 0.1), np.eye(d)[rng.integers(0, d, rows)], yp)
    _run_pair(rng, np.float64, "sparse_categorical_crossentropy", (True,), rng.integers(0, d, rows) * 1.0, yp)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["hinge", "squared_hinge"])
@pytest.mark.parametrize("labels", ["binary", "signed", "mixed"])
def test_hinge_label_conversion_is_batch_wide(rng, dtype, name, labels):
    yt = rng.integers(0, 2, (ROWS, D)).astype(dtype)
    if labels == "signed":
        yt = 2 * yt - 1
    elif labels == "mixed":
        yt[3, 4] = -1.0  # one label outside {0, 1}: nothing is converted
    (yp,) = arrays(rng, dtype, (ROWS, D), low=-2, high=2)
    _run_pair(rng, dtype, name, (), yt, yp)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_binary_crossentropy_matches_cpu(rng, dtype, from_logits, smoothing):
    yt = rng.integers(0, 2, (ROWS, D)).astype(dtype)
    if from_logits:
        (yp,) = arrays(rng, dtype, (ROWS, D), low=-4, high=4)
    else:
        (yp,) = arrays(rng, dtype, (ROWS, D), low=0.0, high=1.0)
        yp[0, :2] = [0.0, 1.0]  # clipped: no gradient
    _run_pair(rng, dtype, "binary_crossentropy", (from_logits, smoothing), yt, yp)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_categorical_crossentropy_matches_cpu(rng, dtype, from_logits, smoothing):
    yt = np.eye(D, dtype=dtype)[rng.integers(0, D, ROWS)]
    if from_logits:
        (yp,) = arrays(rng, dtype, (ROWS, D), low=-4, high=4)
    else:
        (yp,) = arrays(rng, dtype, (ROWS, D), low=0.01, high=1.0)
        yp[2, 3] = 1e-9  # a clipped probability
    _run_pair(rng, dtype, "categorical_crossentropy", (from_logits, smoothing), yt, yp)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_categorical_crossentropy_matches_cpu(rng, dtype, from_logits):
    labels = rng.integers(0, D, ROWS).astype(dtype)
    low, high = (-4, 4) if from_logits else (0.01, 1.0)
    (yp,) = arrays(rng, dtype, (ROWS, D), low=low, high=high)
    _run_pair(rng, dtype, "sparse_categorical_crossentropy", (from_logits,), labels, yp)


@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_bad_label_gives_nan_row(rng, from_logits):
    from numba import cuda
    labels = np.array([1.0, 7.0, -1.0, 2.5, np.nan])
    (yp,) = arrays(rng, np.float64, (5, 7), low=0.1, high=1.0)
    out = cuda.to_device(np.zeros(5))
    losses.sparse_categorical_crossentropy_forward(cuda.to_device(labels), cuda.to_device(yp), out, from_logits)
    got = out.copy_to_host()
    assert np.isfinite(got[0]) and np.isnan(got[1:]).all()
    dpred = cuda.to_device(np.zeros((5, 7)))
    losses.sparse_categorical_crossentropy_backward(cuda.to_device(labels), cuda.to_device(yp),
                                                    cuda.to_device(np.ones(5)), dpred, from_logits)
    g = dpred.copy_to_host()
    assert np.isfinite(g[0]).all() and np.isnan(g[1:]).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n", [1, 300])
def test_weighted_sum_and_loss_upstream_match_cpu(rng, dtype, weighted, n):
    values, w, dout = arrays(rng, dtype, (n,), (n if weighted else 0,), (n,))
    # the sum is returned as a Python float: float32 sums, added in another order, agree to float32 rounding
    check_twin("losses.weighted_sum", values, w, rtol=2e-5 if dtype == np.float32 else None)
    check_twin("losses.loss_upstream", w, 1.0 / 3.0, dout)


def test_bad_shapes_raise():
    from numba import cuda

    def dev(*shape):
        return cuda.to_device(np.zeros(shape))

    with pytest.raises(ValueError, match="mean_squared_error_forward"):
        losses.mean_squared_error_forward(dev(3, 4), dev(3, 5), dev(3))
    with pytest.raises(ValueError, match="huber_backward"):
        losses.huber_backward(dev(3, 4), dev(3, 4), dev(3), dev(3, 5), 1.0)
    with pytest.raises(ValueError, match="cosine_similarity_forward"):
        losses.cosine_similarity_forward(dev(3, 4), dev(3, 4), dev(4))
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy_forward"):
        losses.sparse_categorical_crossentropy_forward(dev(4), dev(3, 4), dev(3), True)
    with pytest.raises(ValueError, match="categorical_hinge_forward"):
        losses.categorical_hinge_forward(dev(3, 0), dev(3, 0), dev(3))
    with pytest.raises(ValueError, match="sample weights"):
        losses.weighted_sum(dev(3), dev(2))
    with pytest.raises(ValueError, match="sample weights"):
        losses.loss_upstream(dev(2), 1.0, dev(3))
