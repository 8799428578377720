"""Confusion-metric kernels against NumPy references written out here (direct O(n T) counting, explicit confusion
matrices and sums), Keras's bucket rule and its edge cases, accumulation, inputs left alone, and bad shapes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nbkeras.kernels.cpu import confusion
from tests.support.strategies import floats_array

DTYPES = [np.float32, np.float64]


def run(fn, y_true, y_pred, weights, state, *args):
    """Call a kernel on copies it may not change; return the state after the call."""
    copies = [np.array(a, copy=True) for a in (y_true, y_pred, weights)]
    fn(y_true, y_pred, weights, state, *args)
    for a, a0 in zip((y_true, y_pred, weights), copies):
        np.testing.assert_array_equal(a, a0)
    return state


# --- thresholds_update --------------------------------------------------------------------------------------------


def thr_state_size(T, L):
    return 4 * T * L + 2 * (T + 1) * L


def thr_call(y_true, y_pred, weights, thresholds=None, T=None, evenly=False, with_epsilon=False, multi_label=False,
             top_k=0, class_id=-1, from_logits=False, label_weights=None, state=None):
    """Run thresholds_update; thresholds (sorted) when not evenly, else T. Returns (tp, fp, tn, fn) as (T, L)."""
    T = len(thresholds) if thresholds is not None else T
    d = y_pred.shape[1]
    L = (1 if class_id >= 0 else d) if multi_label else 1
    if state is None:
        state = np.zeros(thr_state_size(T, L))
    values = ([] if evenly else list(thresholds)) + (list(label_weights) if label_weights is not None else [])
    nlw = 0 if label_weights is None else len(label_weights)
    run(confusion.thresholds_update, y_true, y_pred, weights, state, T, evenly, with_epsilon, multi_label, top_k,
        class_id, from_logits, nlw, *values, 0.0)
    assert np.all(state[4 * T * L:] == 0.0), "scratch must be left zero"
    return state[:4 * T * L].reshape(4, T, L)


def ref_counts(y_true, y_pred, weights, thresholds, dtype, multi_label=False, label_weights=None):
    """Direct counting: positive label = y_true != 0, predicted positive at t = y_pred > dtype(t)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred, dtype)
    w = np.broadcast_to(np.asarray(weights, np.float64)[:, None], y_pred.shape)
    if label_weights is not None:
        w = w * np.asarray(label_weights)[None, :]
    pos = y_true != 0
    out = []
    for t in thresholds:
        above = y_pred > dtype(t)
        cells = [pos & above, ~pos & above, ~pos & ~above, pos & ~above]
        if multi_label:
            out.append([(w * c).sum(axis=0) for c in cells])
        else:
            out.append([[(w * c).sum()] for c in cells])
    return np.asarray(out, np.float64).transpose(1, 0, 2)  # (4, T, L)


@st.composite
def batches(draw, max_rows=6, max_cols=4, lo=-0.2, hi=1.2):
    rows, cols = draw(st.integers(0, max_rows)), draw(st.integers(1, max_cols))
    levels = st.sampled_from([0.0, 0.1, 0.25, 0.3, 0.5, 0.75, 1.0])  # exactly on common thresholds, too
    y_pred = draw(st.one_of(floats_array((rows, cols), lo, hi), hnp.arrays(np.float64, (rows, cols), elements=levels)))
    y_true = draw(hnp.arrays(np.float64, (rows, cols), elements=st.sampled_from([0.0, 1.0, 1.0, 0.0, 0.5])))
    weights = draw(floats_array((rows,), 0.0, 2.0))
    return y_true, y_pred, weights


@pytest.mark.parametrize("dtype", DTYPES)
@given(batch=batches(), thresholds=st.sampled_from([(0.5,), (0.1, 0.3, 0.75), (-1e-7, 0.25, 0.5, 1.0000001)]),
       multi_label=st.booleans())
def test_thresholds_match_direct_counting(dtype, batch, thresholds, multi_label):
    y_true, y_pred, weights = (a.astype(dtype) for a in batch)
    got = thr_call(y_true, y_pred, weights, thresholds=thresholds, multi_label=multi_label)
    want = ref_counts(y_true, y_pred, weights, thresholds, dtype, multi_label)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def ref_bucket_counts(y_true, y_pred, weights, T, with_epsilon, dtype):
    """Keras's evenly spaced path written independently: clip, bucket b = ceil(p (T-1)) - 1, counts at m <= b."""
    p = np.clip(np.asarray(y_pred, dtype).reshape(-1), dtype(0), dtype(1))
    b = np.ceil(p * dtype(T - 1)).astype(np.int64) - 1
    if with_epsilon:
        b = np.maximum(b, 0)
    w = np.repeat(np.asarray(weights, np.float64), y_pred.shape[1])
    pos = np.asarray(y_true).reshape(-1) != 0
    above = b[None, :] >= np.arange(T)[:, None]  # (T, n)
    cells = [pos & above, ~pos & above, ~pos & ~above, pos & ~above]
    return np.asarray([(c * w).sum(axis=1) for c in cells])[:, :, None]


@pytest.mark.parametrize("dtype", DTYPES)
@given(batch=batches(lo=-0.5, hi=1.5), T=st.sampled_from([3, 5, 200]), with_epsilon=st.booleans())
def test_evenly_spaced_buckets_match_keras_rule(dtype, batch, T, with_epsilon):
    y_true, y_pred, weights = (a.astype(dtype) for a in batch)
    got = thr_call(y_true, y_pred, weights, T=T, evenly=True, with_epsilon=with_epsilon)
    np.testing.assert_allclose(got, ref_bucket_counts(y_true, y_pred, weights, T, with_epsilon, dtype),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@given(batch=batches(lo=0.0, hi=1.0), T=st.sampled_from([3, 5, 11]))
def test_evenly_spaced_agree_with_comparisons_away_from_thresholds(dtype, batch, T):
    """Inside [0, 1] and off the grid, the bucket rule is the strict comparison p > i / (T - 1)."""
    y_true, y_pred, weights = batch
    grid = np.arange(T) / (T - 1)
    keep = np.all(np.abs(y_pred[..., None] - grid) > 1e-3, axis=-1).all(axis=1)
    y_true, y_pred, weights = (a[keep].astype(dtype) for a in (y_true, y_pred, weights))
    got = thr_call(y_true, y_pred, weights, T=T, evenly=True)
    np.testing.assert_allclose(got, ref_counts(y_true, y_pred, weights, grid, dtype), rtol=1e-12, atol=1e-12)


def test_bucket_edges_zero_and_one():
    """p = 0 exceeds no threshold of [0, .5, 1] but exceeds AUC's -1e-7; p = 1 never exceeds the last one."""
    y_true = np.array([[1.0], [1.0]])
    y_pred = np.array([[0.0], [1.0]])
    w = np.ones(2)
    plain = thr_call(y_true, y_pred, w, T=3, evenly=True)
    np.testing.assert_array_equal(plain[0, :, 0], [1.0, 1.0, 0.0])  # tp: only p = 1, not at t = 1
    np.testing.assert_array_equal(plain[3, :, 0], [1.0, 1.0, 2.0])  # fn
    eps = thr_call(y_true, y_pred, w, T=3, evenly=True, with_epsilon=True)
    np.testing.assert_array_equal(eps[0, :, 0], [2.0, 1.0, 0.0])
    # Clipping: 1.5 counts as 1 on the bucketed path, but exceeds t = 1 on the direct one.
    over = np.array([[1.5]])
    assert thr_call(np.ones((1, 1)), over, np.ones(1), T=3, evenly=True)[0, 2, 0] == 0.0
    assert thr_call(np.ones((1, 1)), over, np.ones(1), thresholds=(0.0, 0.5, 1.0))[0, 2, 0] == 1.0


def test_float32_compares_with_float32_thresholds():
    """float32(0.3) is above 0.3 in float64 but equal to the float32-cast threshold: not a positive."""
    p = np.float32(0.3)
    assert float(p) > 0.3
    for dtype, expected in ((np.float32, 0.0), (np.float64, 1.0)):
        got = thr_call(np.ones((1, 1), dtype), np.full((1, 1), p, dtype), np.ones(1, dtype), thresholds=(0.3,))
        assert got[0, 0, 0] == expected


@given(batch=batches(max_cols=5), k=st.integers(1, 3), class_id=st.integers(-1, 4))
def test_top_k_and_class_id(batch, k, class_id):
    y_true, y_pred, weights = batch
    d = y_pred.shape[1]
    class_id = -1 if class_id >= d else class_id
    # Reference: keep the k largest per row (ties to the lower index: a stable sort of -y), others -1e10.
    filtered = np.full_like(y_pred, -1e10)
    for i in range(y_pred.shape[0]):
        top = np.argsort(-y_pred[i], kind="stable")[:k]
        filtered[i, top] = y_pred[i, top]
    cols = slice(None) if class_id < 0 else slice(class_id, class_id + 1)
    for thresholds in ((-1e10,), (0.5,)):
        got = thr_call(y_true, y_pred, weights, thresholds=thresholds, top_k=k, class_id=class_id)
        want = ref_counts(y_true[:, cols], filtered[:, cols], weights, thresholds, np.float64)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@given(batch=batches(lo=-4.0, hi=4.0))
def test_from_logits_and_label_weights(batch):
    y_true, y_pred, weights = batch
    d = y_pred.shape[1]
    lw = np.linspace(0.5, 2.0, d)
    probs = 1.0 / (1.0 + np.exp(-y_pred))
    got = thr_call(y_true, y_pred, weights, thresholds=(0.25, 0.5), from_logits=True, label_weights=lw)
    want = ref_counts(y_true, probs, weights, (0.25, 0.5), np.float64, label_weights=lw)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_thresholds_accumulate_and_nan_prediction():
    y_true = np.array([[1.0], [0.0], [1.0]])
    y_pred = np.array([[0.7], [np.nan], [0.2]])
    w = np.array([1.0, 2.0, 3.0])
    first = thr_call(y_true, y_pred, w, thresholds=(0.5,)).copy()
    np.testing.assert_array_equal(first[:, 0, 0], [1.0, 0.0, 2.0, 3.0])  # NaN predicts negative
    state = np.zeros(thr_state_size(1, 1))
    thr_call(y_true, y_pred, w, thresholds=(0.5,), state=state)
    twice = thr_call(y_true, y_pred, w, thresholds=(0.5,), state=state)
    np.testing.assert_array_equal(twice, 2 * first)


def test_thresholds_bad_arguments():
    y = np.zeros((2, 3))
    w = np.ones(2)
    good = np.zeros(thr_state_size(1, 1))
    with pytest.raises(ValueError, match="same"):
        confusion.thresholds_update(np.zeros((2, 2)), y, w, good, 1, False, False, False, 0, -1, False, 0, 0.5, 0.0)
    with pytest.raises(ValueError, match="weights"):
        confusion.thresholds_update(y, y, np.ones(3), good, 1, False, False, False, 0, -1, False, 0, 0.5, 0.0)
    with pytest.raises(ValueError, match="state"):
        confusion.thresholds_update(y, y, w, np.zeros(3), 1, False, False, False, 0, -1, False, 0, 0.5, 0.0)
    with pytest.raises(ValueError, match="class_id"):
        confusion.thresholds_update(y, y, w, good, 1, False, False, False, 0, 3, False, 0, 0.5, 0.0)
    with pytest.raises(ValueError, match="label weights"):
        confusion.thresholds_update(y, y, w, good, 1, False, False, False, 0, -1, False, 2, 0.5, 1.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="too few"):
        confusion.thresholds_update(y, y, w, np.zeros(thr_state_size(2, 1)), 2, False, False, False, 0, -1, False,
                                    0, 0.5, 0.0)


# --- fbeta_update -------------------------------------------------------------------------------------------------


def ref_fbeta(y_true, y_pred, weights, threshold):
    if threshold is None:
        pred = (y_pred >= y_pred.max(axis=1, keepdims=True)) & (np.abs(y_pred) > 1e-9)
    else:
        pred = y_pred > y_pred.dtype.type(threshold)
    pred = pred.astype(np.float64)
    y = y_true.astype(np.float64)
    w = np.asarray(weights, np.float64)[:, None]
    return np.concatenate([(w * pred * y).sum(0), (w * pred * (1 - y)).sum(0), (w * (1 - pred) * y).sum(0),
                           (w * y).sum(0)])


@pytest.mark.parametrize("dtype", DTYPES)
@given(batch=batches(), threshold=st.sampled_from([None, 0.5, 0.3]))
def test_fbeta_matches_numpy(dtype, batch, threshold):
    y_true, y_pred, weights = (a.astype(dtype) for a in batch)
    y_pred[:1] = 0.0  # an all-zero row predicts nothing with threshold None
    state = np.zeros(4 * y_pred.shape[1])
    run(confusion.fbeta_update, y_true, y_pred, weights, state, 0.0 if threshold is None else threshold,
        threshold is not None)
    np.testing.assert_allclose(state, ref_fbeta(y_true, y_pred, weights, threshold), rtol=1e-12, atol=1e-12)


def test_fbeta_bad_state():
    y = np.zeros((2, 3))
    with pytest.raises(ValueError, match="4\\*C"):
        confusion.fbeta_update(y, y, np.ones(2), np.zeros(3), 0.5, True)


# --- iou_update ---------------------------------------------------------------------------------------------------


def ref_cm(t_ids, p_ids, w, n, ignore=None):
    cm = np.zeros((n, n))
    for t, p, wi in zip(t_ids, p_ids, w):
        if 0 <= t < n and 0 <= p < n and t != ignore:
            cm[t, p] += wi
    return cm.reshape(-1)


@given(data=st.data(), n=st.integers(1, 4), ignore=st.sampled_from([None, 0, 1, -1]),
       integer_weights=st.booleans())
def test_iou_labels_against_argmax(data, n, ignore, integer_weights):
    rows = data.draw(st.integers(0, 6))
    labels = data.draw(hnp.arrays(np.float64, (rows,), elements=st.sampled_from([-1.0, 0.0, 1.0, 2.0, 3.0, 2.7])))
    y_pred = data.draw(floats_array((rows, n), 0.0, 1.0))
    w = data.draw(floats_array((rows,), 0.0, 3.0))
    state = np.zeros(n * n)
    run(confusion.iou_update, labels, y_pred, w, state, n, 0 if ignore is None else ignore, ignore is not None,
        confusion.IDS_LABELS, confusion.IDS_ARGMAX, 0.5, integer_weights)
    weights = np.trunc(w) if integer_weights else w
    want = ref_cm(np.trunc(labels).astype(int), y_pred.argmax(axis=1), weights, n, ignore)
    np.testing.assert_allclose(state, want, rtol=1e-12, atol=1e-12)


def test_iou_modes_hand_computed():
    # Elementwise ids with one weight per row; one-hot argmax both sides; BinaryIoU's threshold rule.
    t = np.array([[0.0, 1.0], [1.0, 1.0]])
    p = np.array([[0.0, 0.0], [1.9, 1.0]])
    state = np.zeros(4)
    confusion.iou_update(t, p, np.array([1.0, 2.0]), state, 2, 0, False, confusion.IDS_ELEMENTS,
                         confusion.IDS_ELEMENTS, 0.5, False)
    np.testing.assert_array_equal(state, [1.0, 0.0, 1.0, 4.0])
    state = np.zeros(9)
    confusion.iou_update(np.eye(3), np.array([[0.1, 0.8, 0.1], [0.0, 1.0, 0.0], [0.5, 0.2, 0.3]]), np.ones(3),
                         state, 3, 0, False, confusion.IDS_ARGMAX, confusion.IDS_ARGMAX, 0.5, False)
    np.testing.assert_array_equal(state.reshape(3, 3), [[0, 1, 0], [0, 1, 0], [1, 0, 0]])
    state = np.zeros(4)
    confusion.iou_update(np.array([[1.0, 0.0, 1.0]]), np.array([[0.5, 0.49, 0.2]]), np.ones(1), state, 2, 0, False,
                         confusion.IDS_ELEMENTS, confusion.IDS_THRESHOLD, 0.5, False)
    np.testing.assert_array_equal(state.reshape(2, 2), [[1, 0], [1, 1]])


def test_iou_bad_arguments():
    with pytest.raises(ValueError, match="rows"):
        confusion.iou_update(np.zeros(3), np.zeros((2, 2)), np.ones(2), np.zeros(4), 2, 0, False,
                             confusion.IDS_LABELS, confusion.IDS_ARGMAX, 0.5, False)
    with pytest.raises(ValueError, match="num_classes"):
        confusion.iou_update(np.zeros(2), np.zeros((2, 2)), np.ones(2), np.zeros(3), 2, 0, False,
                             confusion.IDS_LABELS, confusion.IDS_ARGMAX, 0.5, False)
    with pytest.raises(ValueError, match="same number of ids"):
        confusion.iou_update(np.zeros((2, 3)), np.zeros((2, 2)), np.ones(2), np.zeros(4), 2, 0, False,
                             confusion.IDS_ELEMENTS, confusion.IDS_ELEMENTS, 0.5, False)
    with pytest.raises(ValueError, match="argmax"):
        confusion.iou_update(np.zeros(2), np.zeros((2, 0)), np.ones(2), np.zeros(4), 2, 0, False,
                             confusion.IDS_LABELS, confusion.IDS_ARGMAX, 0.5, False)


# --- r2_update ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@given(batch=batches(lo=-3.0, hi=3.0))
def test_r2_matches_numpy(dtype, batch):
    _, y_pred, weights = batch
    y_true = np.roll(y_pred, 1, axis=0) * 0.5 + 0.25
    y_true, y_pred, weights = (a.astype(dtype) for a in (y_true, y_pred, weights))
    state = np.zeros(4 * y_pred.shape[1] + 1)
    run(confusion.r2_update, y_true, y_pred, weights, state)
    yt, yp, w = (np.asarray(a, np.float64) for a in (y_true, y_pred, weights[:, None]))
    want = np.concatenate([(w * yt).sum(0), (w * yt * yt).sum(0), (w * (yt - yp) ** 2).sum(0),
                           np.broadcast_to(w, yt.shape).sum(0), [yt.size]])
    np.testing.assert_allclose(state, want, rtol=1e-12, atol=1e-12)


def test_r2_bad_state():
    y = np.zeros((2, 3))
    with pytest.raises(ValueError, match="4\\*C"):
        confusion.r2_update(y, y, np.ones(2), np.zeros(12))
