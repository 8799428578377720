"""Metric kernels: Keras 3's accuracy functions, one value per row, and the weighted running mean behind them.

Every accuracy kernel takes ``(rows, d)`` inputs (the caller flattens leading axes into rows) and writes
``out[i]`` in the input dtype: the fraction of matching entries for binary accuracy, 1 or 0 for the others.
Keras wraps each of these functions in ``MeanMetricWrapper``, a ``Mean`` metric over the per-row values, which is
``mean_update`` / ``mean_result`` here.

Sources: Keras 3 ``keras/src/metrics/accuracy_metrics.py``, ``keras/src/metrics/reduction_metrics.py`` and the JAX
backend's ``in_top_k`` (``keras/src/backend/jax/math.py``).

Traps shared by the kernels here:

* argmax returns the first maximal index, and a NaN counts as larger than any number (the first NaN wins), as
  ``np.argmax`` and ``jnp.argmax`` do. A tie between the predicted maximum and another class therefore resolves
  to the lower index: categorical accuracy is strict about ties, top-k accuracy is generous (see below).
* Sparse labels are ``(rows,)`` floats of the input dtype. Keras raises nothing for a bad label: sparse
  categorical accuracy compares it with the argmax (no match), top-k truncates it to int32 and gathers without a
  bounds error. Here a label that is negative, too large, non-integral or NaN raises ValueError, as the sparse
  losses do: a bad label is a data bug that a metric should not hide.
* Shapes are checked on entry (ValueError), so a mismatched caller never reads or writes out of bounds.
"""

import numpy as np

from ..policy import kernel


# --- shared helpers -----------------------------------------------------------------------------------------------


@kernel
def _check_pair(y_true, y_pred, out):
    if y_true.shape[0] != y_pred.shape[0] or y_true.shape[1] != y_pred.shape[1]:
        raise ValueError("accuracy metrics: y_true and y_pred must have the same (rows, d) shape")
    if out.shape[0] != y_pred.shape[0]:
        raise ValueError("accuracy metrics: out must have one entry per row of y_pred")


@kernel
def _check_sparse(labels, y_pred, out):
    if labels.shape[0] != y_pred.shape[0] or out.shape[0] != y_pred.shape[0]:
        raise ValueError("sparse accuracy metrics: labels and out must have one entry per row of y_pred")


@kernel
def _check_classes(y_pred):
    # argmax of an empty row has no answer; without this check it would read past the row.
    if y_pred.shape[1] == 0 and y_pred.shape[0] != 0:
        raise ValueError("accuracy metrics: y_pred needs at least one class (last axis of length >= 1)")


@kernel
def _label_index(label, num_classes):
    """The integer class of a float label; ValueError for anything that is not an index into the row."""
    # Written so that NaN fails the first test: every comparison with NaN is False.
    if not (label >= 0 and label < num_classes) or label != np.floor(label):
        raise ValueError("sparse accuracy metrics: labels must be integers in [0, num_classes)")
    return int(label)


@kernel
def _argmax_row(x, i):
    """First index of the largest x[i, j]; the first NaN if there is one (np.argmax and jnp.argmax agree)."""
    best = x[i, 0]
    if best != best:
        return 0
    arg = 0
    for j in range(1, x.shape[1]):
        v = x[i, j]
        if v != v:
            return j
        if v > best:  # strict: a later tie never displaces the first maximum
            best = v
            arg = j
    return arg


@kernel
def _in_top_k_row(y_pred, i, target, k):
    """Keras's in_top_k for row i: rank = 1 + #{j : y_pred[i, j] > y_pred[i, target]}, true when rank <= k.

    Ties count in the target's favour (only strictly greater predictions push it down), so with k=1 a target tied
    with the maximum is a hit even where argmax picks the other index. A NaN at the target counts as -inf (never a
    hit unless enough other entries are also NaN or -inf); NaN elsewhere is never greater, so it is ignored.
    """
    p = y_pred[i, target]
    if p != p:
        p = y_pred.dtype.type(-np.inf)
    above = 0
    for j in range(y_pred.shape[1]):
        if y_pred[i, j] > p:
            above += 1
    return 1 + above <= k


# --- accuracy metrics ---------------------------------------------------------------------------------------------


@kernel
def binary_accuracy_forward(y_true, y_pred, out, threshold):
    """out[i] = mean_j (y_true[i, j] == (1 if y_pred[i, j] > threshold else 0)).

    Keras default threshold=0.5 (``BinaryAccuracy`` requires 0 < threshold < 1; the function accepts any).
    Traps: the threshold is cast to y_pred's dtype before comparing, as Keras does, so float32 inputs compare with
    float32(threshold); the comparison is strict (y_pred == threshold predicts 0); a NaN prediction predicts 0; a
    label other than exactly 0 or 1 never matches. The policy's ``arcp`` flag lets the compiler turn the division
    by d into a multiplication by 1/d, so a value can differ from Keras's correctly rounded mean by 1 ulp.
    """
    _check_pair(y_true, y_pred, out)
    rows, d = y_pred.shape
    thr = y_pred.dtype.type(threshold)
    zero = y_pred.dtype.type(0.0)
    one = y_pred.dtype.type(1.0)
    fd = y_pred.dtype.type(d)
    for i in range(rows):
        hits = 0
        for j in range(d):
            predicted = one if y_pred[i, j] > thr else zero
            if y_true[i, j] == predicted:
                hits += 1
        out[i] = y_pred.dtype.type(hits) / fd


@kernel
def categorical_accuracy_forward(y_true, y_pred, out):
    """out[i] = 1 if argmax_j y_true[i, j] == argmax_j y_pred[i, j] else 0.

    Trap: both argmaxes take the first index on ties, so a prediction tied between the true class and a lower
    class scores 0 (top_k_categorical_accuracy with k=1 would score it 1).
    """
    _check_pair(y_true, y_pred, out)
    _check_classes(y_pred)
    zero = y_pred.dtype.type(0.0)
    one = y_pred.dtype.type(1.0)
    for i in range(y_pred.shape[0]):
        out[i] = one if _argmax_row(y_true, i) == _argmax_row(y_pred, i) else zero


@kernel
def sparse_categorical_accuracy_forward(labels, y_pred, out):
    """out[i] = 1 if labels[i] == argmax_j y_pred[i, j] else 0; labels are ``(rows,)`` integral floats.

    Ties resolve to the first index, as in categorical_accuracy_forward. Bad labels raise ValueError (see the
    module docstring; Keras would score them 0).
    """
    _check_sparse(labels, y_pred, out)
    zero = y_pred.dtype.type(0.0)
    one = y_pred.dtype.type(1.0)
    for i in range(y_pred.shape[0]):
        target = _label_index(labels[i], y_pred.shape[1])
        out[i] = one if _argmax_row(y_pred, i) == target else zero


@kernel
def top_k_categorical_accuracy_forward(y_true, y_pred, out, k):
    """out[i] = 1 if the class argmax_j y_true[i, j] is in the top k of y_pred[i] else 0 (Keras default k=5).

    The true class is the first argmax of the one-hot row; membership is Keras's in_top_k (``_in_top_k_row``):
    ties count in its favour, a NaN prediction at the true class counts as -inf. k >= d always hits (for a
    non-NaN target); k <= 0 never does.
    """
    _check_pair(y_true, y_pred, out)
    _check_classes(y_pred)
    zero = y_pred.dtype.type(0.0)
    one = y_pred.dtype.type(1.0)
    for i in range(y_pred.shape[0]):
        out[i] = one if _in_top_k_row(y_pred, i, _argmax_row(y_true, i), k) else zero


@kernel
def sparse_top_k_categorical_accuracy_forward(labels, y_pred, out, k):
    """out[i] = 1 if class labels[i] is in the top k of y_pred[i] else 0 (Keras default k=5).

    Same ranking rule as top_k_categorical_accuracy_forward. Keras truncates labels with a cast to int32; here a
    non-integral or out-of-range label raises ValueError instead.
    """
    _check_sparse(labels, y_pred, out)
    zero = y_pred.dtype.type(0.0)
    one = y_pred.dtype.type(1.0)
    for i in range(y_pred.shape[0]):
        target = _label_index(labels[i], y_pred.shape[1])
        out[i] = one if _in_top_k_row(y_pred, i, target, k) else zero


# --- weighted running mean ----------------------------------------------------------------------------------------


@kernel
def mean_update(state, values, weights):
    """Keras's ``Mean.update_state``: state = [total, count]; total += sum_i w_i v_i, count += sum_i w_i.

    ``weights`` of length 0 means every weight is 1, so count grows by the number of values. The batch sum is
    formed first and then added to the total, as Keras adds ``ops.sum(values * weights)`` to its variable; all
    arithmetic is in the state's dtype (Keras keeps both variables in float32 by default). A weight of 0 masks a
    value out of both sums; a NaN value still poisons the total even with weight 0 (0 * NaN is NaN, also in Keras).
    """
    if state.shape[0] != 2:
        raise ValueError("mean_update: state must be the 2-element array [total, count]")
    if weights.shape[0] != 0 and weights.shape[0] != values.shape[0]:
        raise ValueError("mean_update: weights must be empty or have one weight per value")
    total = state.dtype.type(0.0)
    if weights.shape[0] == 0:
        for i in range(values.shape[0]):
            total += values[i]
        count = state.dtype.type(values.shape[0])
    else:
        count = state.dtype.type(0.0)
        for i in range(values.shape[0]):
            total += weights[i] * values[i]
            count += weights[i]
    state[0] += total
    state[1] += count


@kernel
def mean_result(state):
    """Keras's ``Mean.result``: total / count, and 0.0 while count is 0 (``divide_no_nan``), as a Python float.

    The division is done in the state's dtype before converting, so a float32 state gives a float32-rounded value.
    """
    if state[1] == state.dtype.type(0.0):
        return 0.0
    return float(state[0] / state[1])
