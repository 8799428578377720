"""Metric kernels against independent NumPy formulas, Keras's documented examples, and bad input."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from support import strategies as S
from support.gradcheck import assert_f32_close

from nbkeras.kernels.cpu import metrics

DTYPES = [np.float32, np.float64]
EMPTY = {np.float32: np.empty(0, np.float32), np.float64: np.empty(0, np.float64)}


def run_rowwise(fn, a, b, dtype, *args):
    """Call a row-wise metric on dtype copies of a and b; check they are not mutated; return out."""
    a, b = np.ascontiguousarray(a, dtype), np.ascontiguousarray(b, dtype)
    a0, b0 = a.copy(), b.copy()
    out = np.full(b.shape[0], np.nan, dtype)  # NaN fill: every row must be written
    fn(a, b, out, *args)
    assert out.dtype == dtype
    assert np.array_equal(a, a0, equal_nan=True) and np.array_equal(b, b0, equal_nan=True), "input mutated"
    return out


# --- independent references -------------------------------------------------------------------------------------


def ref_binary_accuracy(y_true, y_pred, threshold, dtype):
    y_true, y_pred = y_true.astype(dtype), y_pred.astype(dtype)
    predicted = (y_pred > dtype(threshold)).astype(dtype)
    return np.mean(y_true == predicted, axis=-1, dtype=dtype)


def ref_in_top_k(labels, y_pred, k):
    """Membership by the k-th largest value rather than by counting (NaN elsewhere never ranks above)."""
    hits = np.zeros(len(labels), bool)
    for i, label in enumerate(labels.astype(int)):
        row = np.where(np.isnan(y_pred[i]), -np.inf, y_pred[i])
        p = row[label]
        kth = np.sort(row)[::-1][k - 1] if 1 <= k <= row.size else None
        hits[i] = k >= row.size or (k >= 1 and kth <= p)
    return hits


# --- binary accuracy ----------------------------------------------------------------------------------------------

# Levels sitting exactly on the thresholds below (float32(0.3) is above 0.3 in float64: the cast trap).
BINARY_LEVELS = (0.0, 1.0, 0.5, float(np.float32(0.3)), float(np.float32(0.7)), 0.2, 0.9)


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data(), threshold=st.sampled_from([0.5, 0.3, 0.7]))
def test_binary_accuracy_matches_numpy(dtype, data, threshold):
    y_pred = data.draw(S.tie_prone_matrices(levels=BINARY_LEVELS, nan=True))
    labels = st.sampled_from([0.0, 1.0, 1.0, 0.0, 0.5])  # 0.5 is neither class and never matches
    y_true = data.draw(hnp.arrays(np.float64, y_pred.shape, elements=labels))
    out = run_rowwise(metrics.binary_accuracy_forward, y_true, y_pred, dtype, threshold)
    # 1 ulp: the policy's `arcp` flag lets the compiler divide by d as a multiplication by 1/d.
    np.testing.assert_array_max_ulp(out, ref_binary_accuracy(y_true, y_pred, threshold, dtype), maxulp=1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_accuracy_threshold_is_cast_to_the_input_dtype(dtype):
    # Keras casts the threshold to y_pred's dtype: float32(0.3) > 0.3, so in float32 the value equals the
    # threshold and predicts 0, while in float64 it lies above 0.3 and predicts 1. The comparison is strict.
    y_pred = np.array([[np.float32(0.3), 0.5, np.nan]])
    y_true = np.array([[1.0, 0.0, 0.0]])
    out = run_rowwise(metrics.binary_accuracy_forward, y_true, y_pred, dtype, 0.3)
    expected = [1.0 / 3.0] if dtype == np.float32 else [2.0 / 3.0]
    np.testing.assert_array_equal(out, np.array(expected, dtype))


# --- argmax accuracies --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_categorical_accuracy_matches_numpy_argmax(dtype, data):
    y_pred = data.draw(S.tie_prone_matrices(nan=True))
    rows, cols = y_pred.shape
    y_true = data.draw(st.one_of(S.one_hot(rows, cols), S.tie_prone_matrices(st.just(rows), st.just(cols))))
    out = run_rowwise(metrics.categorical_accuracy_forward, y_true, y_pred, dtype)
    expected = np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)
    np.testing.assert_array_equal(out, expected.astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_sparse_categorical_accuracy_matches_numpy_argmax(dtype, data):
    y_pred = data.draw(S.tie_prone_matrices(nan=True))
    labels = data.draw(S.class_labels(*y_pred.shape))
    out = run_rowwise(metrics.sparse_categorical_accuracy_forward, labels, y_pred, dtype)
    np.testing.assert_array_equal(out, (labels == np.argmax(y_pred, axis=-1)).astype(dtype))


def test_argmax_ties_go_to_the_first_index():
    y_pred = np.array([[0.2, 0.4, 0.4], [0.4, 0.4, 0.2], [1.0, np.nan, np.nan]])
    labels = np.array([2.0, 0.0, 1.0])  # tie lost, tie won, first NaN is the argmax
    out = run_rowwise(metrics.sparse_categorical_accuracy_forward, labels, y_pred, np.float64)
    np.testing.assert_array_equal(out, [0.0, 1.0, 1.0])


# --- top-k accuracies ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data(), k=st.integers(0, 6))
def test_sparse_top_k_matches_sorted_reference(dtype, data, k):
    y_pred = data.draw(S.tie_prone_matrices(nan=True))
    labels = data.draw(S.class_labels(*y_pred.shape))
    out = run_rowwise(metrics.sparse_top_k_categorical_accuracy_forward, labels, y_pred, dtype, k)
    np.testing.assert_array_equal(out, ref_in_top_k(labels, y_pred.astype(dtype), k).astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data(), k=st.integers(0, 6))
def test_top_k_matches_sorted_reference(dtype, data, k):
    y_pred = data.draw(S.tie_prone_matrices(nan=True))
    y_true = data.draw(S.one_hot(*y_pred.shape))
    out = run_rowwise(metrics.top_k_categorical_accuracy_forward, y_true, y_pred, dtype, k)
    labels = np.argmax(y_true, axis=-1)
    np.testing.assert_array_equal(out, ref_in_top_k(labels, y_pred.astype(dtype), k).astype(dtype))


def test_top_k_counts_ties_in_favour_and_nan_at_the_label_as_minus_inf():
    y_pred = np.array([
        [0.4, 0.4, 0.2],  # label 1 tied with the max: rank 1, a hit at k=1 although argmax is 0
        [0.5, 0.1, 0.3],  # label 2 has one strictly greater: rank 2, a miss at k=1
        [np.nan, 0.1, 0.3],  # NaN at the label counts as -inf: rank 3
        [0.1, np.nan, 0.3],  # NaN elsewhere is never greater: label 2 ranks 1
    ])
    labels = np.array([1.0, 2.0, 0.0, 2.0])
    for k, expected in [(1, [1, 0, 0, 1]), (2, [1, 1, 0, 1]), (3, [1, 1, 1, 1]), (0, [0, 0, 0, 0])]:
        out = run_rowwise(metrics.sparse_top_k_categorical_accuracy_forward, labels, y_pred, np.float64, k)
        np.testing.assert_array_equal(out, np.array(expected, np.float64), err_msg=f"k={k}")


# --- Keras's documented examples ----------------------------------------------------------------------------------


def keras_mean(values, weights, dtype=np.float32):
    state = np.zeros(2, dtype)
    metrics.mean_update(state, np.asarray(values, dtype), np.asarray(weights, dtype))
    return metrics.mean_result(state)


def test_keras_docstring_examples():
    f32 = np.float32
    none = EMPTY[f32]
    # BinaryAccuracy
    v = run_rowwise(metrics.binary_accuracy_forward, [[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], f32, 0.5)
    assert keras_mean(v, none) == pytest.approx(0.75)
    assert keras_mean(v, [1, 0, 0, 1]) == pytest.approx(0.5)
    # CategoricalAccuracy and TopKCategoricalAccuracy(k=1)
    y_true, y_pred = [[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]
    for v in (run_rowwise(metrics.categorical_accuracy_forward, y_true, y_pred, f32),
              run_rowwise(metrics.top_k_categorical_accuracy_forward, y_true, y_pred, f32, 1)):
        assert keras_mean(v, none) == pytest.approx(0.5)
        assert keras_mean(v, [0.7, 0.3]) == pytest.approx(0.3)
    # SparseCategoricalAccuracy and SparseTopKCategoricalAccuracy(k=1)
    labels, y_pred = [2, 1], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]]
    v = run_rowwise(metrics.sparse_categorical_accuracy_forward, labels, y_pred, f32)
    assert keras_mean(v, [0.7, 0.3]) == pytest.approx(0.3)
    v = run_rowwise(metrics.sparse_top_k_categorical_accuracy_forward, labels, [[0.1, 0.9, 0.8], [0.05, 0.95, 0]],
                    f32, 1)
    assert keras_mean(v, none) == pytest.approx(0.5)
    # Mean
    assert keras_mean([1, 3, 5, 7], none) == 4.0
    assert keras_mean([1, 3, 5, 7], [1, 1, 0, 0]) == 2.0


# --- weighted running mean ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data(), batches=st.integers(1, 3))
def test_mean_update_accumulates_weighted_sums(dtype, data, batches):
    state = np.zeros(2, dtype)
    total, count = 0.0, 0.0
    for _ in range(batches):
        n = data.draw(st.integers(0, 6))
        values = data.draw(S.floats_array((n,), -10.0, 10.0))
        weighted = data.draw(st.booleans())
        weights = data.draw(S.floats_array((n,), 0.0, 2.0)) if weighted else np.empty(0)
        v, w = values.astype(dtype), weights.astype(dtype)
        v0, w0 = v.copy(), w.copy()
        metrics.mean_update(state, v, w)
        assert np.array_equal(v, v0) and np.array_equal(w, w0), "input mutated"
        total += float(np.sum(values * weights)) if weighted else float(np.sum(values))
        count += float(np.sum(weights)) if weighted else n
    assert state.dtype == dtype
    expected = np.array([total, count])
    if dtype == np.float32:
        assert_f32_close(state, expected)
    else:
        np.testing.assert_allclose(state, expected, rtol=1e-12, atol=1e-12)
    result = metrics.mean_result(state)
    assert isinstance(result, float)
    assert result == (0.0 if state[1] == 0 else float(state[0] / state[1]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_mean_result_is_zero_before_any_weight(dtype):
    state = np.zeros(2, dtype)
    assert metrics.mean_result(state) == 0.0
    metrics.mean_update(state, np.array([5.0], dtype), np.array([0.0], dtype))  # masked out entirely
    assert metrics.mean_result(state) == 0.0


# --- bad input ----------------------------------------------------------------------------------------------------

SPARSE = [metrics.sparse_categorical_accuracy_forward, metrics.sparse_top_k_categorical_accuracy_forward]


def call_sparse(fn, labels, y_pred, out):
    if fn is metrics.sparse_top_k_categorical_accuracy_forward:
        fn(labels, y_pred, out, 5)
    else:
        fn(labels, y_pred, out)


@pytest.mark.parametrize("fn", SPARSE)
@pytest.mark.parametrize("bad", [-1.0, 3.0, 1.5, np.nan, np.inf])
def test_bad_sparse_labels_raise(fn, bad):
    y_pred = np.full((2, 3), 0.5)
    labels = np.array([0.0, bad])
    with pytest.raises(ValueError, match=r"labels must be integers in \[0, num_classes\)"):
        call_sparse(fn, labels, y_pred, np.zeros(2))


@pytest.mark.parametrize("fn", SPARSE)
def test_sparse_label_count_must_match_rows(fn):
    with pytest.raises(ValueError, match="one entry per row"):
        call_sparse(fn, np.zeros(3), np.full((2, 3), 0.5), np.zeros(2))


def test_shape_mismatch_and_empty_rows_raise():
    with pytest.raises(ValueError, match="same"):
        metrics.categorical_accuracy_forward(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros(2))
    with pytest.raises(ValueError, match="one entry per row"):
        metrics.binary_accuracy_forward(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros(1), 0.5)
    with pytest.raises(ValueError, match="at least one class"):
        metrics.top_k_categorical_accuracy_forward(np.zeros((2, 0)), np.zeros((2, 0)), np.zeros(2), 5)


def test_mean_update_rejects_bad_weights_and_state():
    with pytest.raises(ValueError, match="one weight per value"):
        metrics.mean_update(np.zeros(2), np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="2-element"):
        metrics.mean_update(np.zeros(3), np.ones(3), np.empty(0))
