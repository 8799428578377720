"""kernels/cuda/confusion.py against kernels/cpu/confusion.py: every option of each update, edges of the bucket
rule, more thresholds than one scan step, several blocks of rows and columns, and bad shapes."""

import numpy as np
import pytest
from nbkeras.kernels.cuda import confusion
from numba import cuda
from support.cuda_twin import check_twin

DTYPES = [np.float32, np.float64]
LEVELS = np.array([0.0, 0.1, 0.25, 0.3, 0.5, 0.75, 1.0, -0.2, 1.3, np.nan])


def batch(rng, dtype, rows, cols):
    y_pred = rng.uniform(-0.2, 1.2, (rows, cols))
    exact = rng.random((rows, cols)) < 0.4
    y_pred[exact] = rng.choice(LEVELS, exact.sum())
    y_true = rng.choice([0.0, 1.0, 1.0, 0.5], (rows, cols))
    weights = rng.uniform(0.0, 2.0, rows)
    return y_true.astype(dtype), y_pred.astype(dtype), weights.astype(dtype)


def thr_state(rng, T, L):
    state = np.zeros(4 * T * L + 2 * (T + 1) * L)
    state[:4 * T * L] = rng.uniform(0, 3, 4 * T * L)  # counts from earlier batches; the scratch is zero
    return state


def run_thresholds(rng, dtype, rows, cols, T, evenly=False, with_epsilon=False, multi_label=False, top_k=0,
                   class_id=-1, from_logits=False, label_weights=False):
    y_true, y_pred, weights = batch(rng, dtype, rows, cols)
    values = [] if evenly else sorted(rng.choice([0.0, 0.1, 0.3, 0.5, 0.75, 1.0, -1e-7], T, replace=False))
    nlw = cols if label_weights else 0
    values = list(values) + list(rng.uniform(0, 1, nlw)) + [0.0]
    L = (1 if class_id >= 0 else cols) if multi_label else 1
    check_twin("confusion.thresholds_update", y_true, y_pred, weights, thr_state(rng, T, L), T, evenly,
               with_epsilon, multi_label, top_k, class_id, from_logits, nlw, *values)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("multi_label", [False, True])
def test_thresholds_sorted_values(dtype, multi_label):
    rng = np.random.default_rng(0)
    run_thresholds(rng, dtype, 9, 3, 3, multi_label=multi_label)
    run_thresholds(rng, dtype, 7, 4, 1, multi_label=multi_label, class_id=2)
    run_thresholds(rng, dtype, 6, 3, 4, multi_label=multi_label, top_k=1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_epsilon", [False, True])
def test_thresholds_evenly_spaced(dtype, with_epsilon):
    rng = np.random.default_rng(1)
    run_thresholds(rng, dtype, 8, 3, 5, evenly=True, with_epsilon=with_epsilon)
    run_thresholds(rng, dtype, 8, 2, 7, evenly=True, with_epsilon=with_epsilon, multi_label=True,
                   from_logits=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_thresholds_label_weights_and_logits(dtype):
    rng = np.random.default_rng(2)
    run_thresholds(rng, dtype, 8, 3, 3, label_weights=True, from_logits=True)
    run_thresholds(rng, dtype, 8, 3, 5, evenly=True, with_epsilon=True, label_weights=True)


def test_thresholds_more_buckets_than_one_scan_step():
    rng = np.random.default_rng(3)
    run_thresholds(rng, np.float64, 20, 2, 300, evenly=True, with_epsilon=True)


def test_thresholds_empty_batch():
    rng = np.random.default_rng(4)
    run_thresholds(rng, np.float32, 0, 2, 3)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("has_threshold", [False, True])
def test_fbeta_matches_cpu(dtype, has_threshold):
    rng = np.random.default_rng(5)
    for rows, cols in [(7, 3), (130, 2), (9, 35)]:  # one block; two blocks down the rows; two across the columns
        y_true, y_pred, weights = batch(rng, dtype, rows, cols)
        y_pred[0, :] = 0.0  # an all-zero row predicts nothing without a threshold
        y_pred[1, :2] = 0.9  # a tie at the row's maximum
        check_twin("confusion.fbeta_update", y_true, y_pred, weights, rng.uniform(0, 1, 4 * cols), 0.5,
                   has_threshold)


@pytest.mark.parametrize("dtype", DTYPES)
def test_r2_matches_cpu(dtype):
    rng = np.random.default_rng(6)
    for rows, cols in [(7, 3), (130, 2), (9, 35), (0, 2)]:
        y_true = rng.normal(size=(rows, cols)).astype(dtype)
        y_pred = rng.normal(size=(rows, cols)).astype(dtype)
        weights = rng.uniform(0, 2, rows).astype(dtype)
        check_twin("confusion.r2_update", y_true, y_pred, weights, rng.uniform(0, 1, 4 * cols + 1))


E, L, A, TH = confusion.IDS_ELEMENTS, confusion.IDS_LABELS, confusion.IDS_ARGMAX, confusion.IDS_THRESHOLD


@pytest.mark.parametrize("true_mode,pred_mode", [(E, E), (L, A), (A, A), (A, E), (E, TH)])
@pytest.mark.parametrize("dtype,ignore,integer_weights", [(np.float32, False, True), (np.float64, True, False)])
def test_iou_matches_cpu(dtype, true_mode, pred_mode, ignore, integer_weights):
    rng = np.random.default_rng(7)
    rows, nc, d = 11, 3, 4
    ids = rng.integers(-1, nc + 1, (rows, d)).astype(dtype)  # some out of range
    ids[0, 0] = np.nan
    probs = rng.uniform(0, 1, (rows, d)).astype(dtype)
    y_true = {E: ids, L: ids[:, 0].copy(), A: probs}[true_mode]
    y_pred = {E: ids[::-1].copy(), A: rng.uniform(0, 1, (rows, nc)).astype(dtype), TH: probs}[pred_mode]
    if true_mode == A and pred_mode == A:
        y_true = probs[:, :nc].copy()
    weights = rng.uniform(0, 3, rows).astype(dtype)
    check_twin("confusion.iou_update", y_true, y_pred, weights, rng.uniform(0, 2, nc * nc), nc, 1, ignore,
               true_mode, pred_mode, 0.5, integer_weights)


def test_bad_shapes_raise():
    d = cuda.to_device
    yt, yp, w = d(np.zeros((4, 3))), d(np.zeros((4, 3))), d(np.ones(4))
    with pytest.raises(ValueError, match="same"):
        confusion.r2_update(d(np.zeros((4, 2))), yp, w, d(np.zeros(13)))
    with pytest.raises(ValueError, match="weights"):
        confusion.fbeta_update(yt, yp, d(np.ones(3)), d(np.zeros(12)), 0.5, True)
    with pytest.raises(ValueError, match="r2_update"):
        confusion.r2_update(yt, yp, w, d(np.zeros(12)))
    with pytest.raises(ValueError, match="fbeta_update"):
        confusion.fbeta_update(yt, yp, w, d(np.zeros(13)), 0.5, True)
    with pytest.raises(ValueError, match="thresholds_update"):
        confusion.thresholds_update(yt, yp, w, d(np.zeros(10)), 1, False, False, False, 0, -1, False, 0, 0.5, 0.0)
    with pytest.raises(ValueError, match="thresholds_update"):
        confusion.thresholds_update(yt, yp, w, d(np.zeros(8)), 1, False, False, False, 0, 3, False, 0, 0.5, 0.0)
    with pytest.raises(ValueError, match="thresholds_update"):
        confusion.thresholds_update(yt, yp, w, d(np.zeros(8)), 1, False, False, False, 0, -1, False, 3, 0.5, 0.0)
    with pytest.raises(ValueError, match="iou_update"):
        confusion.iou_update(yt, yp, w, d(np.zeros(8)), 3, 0, False, E, E, 0.5, False)
    with pytest.raises(ValueError, match="iou_update"):
        confusion.iou_update(yt, yp, w, d(np.zeros(9)), 3, 0, False, L, A, 0.5, False)
