"""Confusion-matrix metric kernels: Keras 3's stateful classification and regression metrics, one update each.

Every kernel here is ``<name>_update(y_true, y_pred, weights, state, *args)``: it adds one batch into ``state`` (a
float64 1-D array laid out as its docstring says) and leaves the result to the caller, who computes it from the
state in Python. ``y_pred`` is ``(rows, d)`` (leading axes flattened into rows), ``y_true`` the same shape or
``(rows,)`` labels where noted, ``weights`` ``(rows,)`` (all ones when the user gave none: one code path).
Comparisons happen in y_pred's dtype, as Keras casts y_pred and thresholds to the metric's float32 variables;
sums are float64 (Keras sums in float32: the two agree to float32 rounding).

Sources (read for formulas, not copied): Keras 3 ``keras/src/metrics/metrics_utils.py``
(``update_confusion_matrix_variables`` and its bucketed ``_update_confusion_matrix_variables_optimized``,
``_filter_top_k``), ``confusion_metrics.py``, ``f_score_metrics.py``, ``iou_metrics.py``, ``regression_metrics.py``.

Traps:

* Keras counts a prediction as positive at threshold t when ``y_pred > t`` (strict), and a label as positive when it
  is non-zero (cast to bool). With evenly spaced thresholds (``t_i = i / (T - 1)``, at least 3 of them) Keras
  takes a different path: it clips y_pred to [0, 1] and puts p in bucket ``b = ceil(p * (T - 1)) - 1`` (computed in
  y_pred's dtype), so p counts for thresholds 0..b; b = -1 (p == 0) counts for none unless the end thresholds are
  the epsilon-shifted ``-1e-7`` / ``1 + 1e-7`` of AUC, where b is raised to 0. That is not always the same as the
  strict comparison (a p above 1 is clipped; float32 rounding of p * (T - 1)), so both paths are kept.
* A NaN prediction exceeds no threshold here (Keras's bucketed path casts NaN to an integer bucket, which XLA
  defines differently); a NaN label is non-zero, hence positive, as in Keras.
"""


import numpy as np

from ..policy import kernel

#: Keras's NEG_INF: predictions outside the top k are replaced by it (``_filter_top_k``), and it is the default
#: threshold when ``top_k`` is set, so exactly the top-k entries are predicted positive.
NEG_INF = -1e10


# --- shared helpers -----------------------------------------------------------------------------------------------


@kernel
def _check_rows(y_true, y_pred, weights):
    if y_true.shape[0] != y_pred.shape[0] or y_true.shape[1] != y_pred.shape[1]:
        raise ValueError("confusion metrics: y_true and y_pred must have the same (rows, d) shape")
    if weights.shape[0] != y_pred.shape[0]:
        raise ValueError("confusion metrics: weights must have one entry per row of y_pred")


@kernel
def _in_top_k(y_pred, i, j, k):
    """Whether y_pred[i, j] is among the k largest of row i, ties going to the lower index (jax.lax.top_k)."""
    v = y_pred[i, j]
    rank = 0
    for c in range(y_pred.shape[1]):
        u = y_pred[i, c]
        if u > v or (u == v and c < j):
            rank += 1
    return rank < k


@kernel
def _count_exceeded(p, y_pred, num_thresholds, evenly, with_epsilon, values):
    """How many thresholds p exceeds: thresholds 0..k-1 (sorted ascending) are below p, the others not.

    ``evenly``: Keras's bucket rule (module docstring), computed in y_pred's dtype as Keras does; else a binary
    search for the first t_m >= p among the sorted thresholds ``values[0:num_thresholds]``, each cast to y_pred's
    dtype first, as Keras casts them to its variables' dtype.
    """
    if p != p:
        return 0
    if evenly:
        zero = y_pred.dtype.type(0.0)
        one = y_pred.dtype.type(1.0)
        pc = min(max(p, zero), one)
        b = int(np.ceil(pc * y_pred.dtype.type(num_thresholds - 1))) - 1
        if with_epsilon and b < 0:
            b = 0
        return b + 1
    lo, hi = 0, num_thresholds
    while lo < hi:
        mid = (lo + hi) // 2
        if p > y_pred.dtype.type(values[mid]):
            lo = mid + 1
        else:
            hi = mid
    return lo


# --- thresholded confusion counts: TP/FP/TN/FN, Precision, Recall, *AtRecall/*AtSpecificity, AUC -------------------


@kernel
def thresholds_update(y_true, y_pred, weights, state, num_thresholds, evenly, with_epsilon, multi_label, top_k,
                      class_id, from_logits, num_label_weights, *values):
    """Add one batch to the counts tp, fp, tn, fn at each of T thresholds (Keras's update_confusion_matrix_variables).

    For every counted entry (i, j) with prediction p, label positive = (y_true[i, j] != 0) and weight
    w = weights[i] * label_weight[j]:  tp[m] += w [pos and p > t_m],  fp[m] += w [neg and p > t_m],
    tn[m] += w [neg and not p > t_m],  fn[m] += w [pos and not p > t_m].

    Arguments, in Keras's order of operations:
      from_logits      p = sigmoid(p) first (AUC's from_logits).
      top_k            > 0: entries outside the row's top k become NEG_INF (ties: lower index first).
      class_id         >= 0: only column class_id counts (after the top-k filter, as in Keras); -1: all columns.
      multi_label      True: each counted column has its own counts (AUC multi_label, L = number of columns);
                       False: all entries pool into one set of counts (L = 1).
      num_label_weights  0, or the number of columns: values[T':T'+n] weigh each column (AUC label_weights,
                       pooled case only), where T' = 0 when ``evenly`` and T otherwise.
      num_thresholds   T >= 1. ``evenly`` True: thresholds i / (T - 1), bucketed (module docstring), with
                       ``with_epsilon`` when the end thresholds are -1e-7 and 1 + 1e-7 (AUC); False: the sorted
                       thresholds are values[0:T].
      values           the float constants above, then one trailing 0.0 (numba cannot index an empty tuple).

    State (float64, length 4*T*L + 2*(T+1)*L): tp, fp, tn, fn, each (T, L) threshold-major as Keras's
    variables, then a (T+1, L, 2) scratch of bucket sums that is zero between calls. Cost O(n log T + T L) for
    n counted entries (O(n + T L) when evenly spaced), not O(n T): each entry adds its weight to the bucket of
    how many thresholds it exceeds, then suffix and prefix sums over the buckets update the counts.
    """
    _check_rows(y_true, y_pred, weights)
    rows, d = y_pred.shape
    T = num_thresholds
    if T < 1:
        raise ValueError("thresholds_update: num_thresholds must be >= 1")
    if class_id >= d:
        raise ValueError("thresholds_update: class_id must be < the number of columns of y_pred")
    ncols = 1 if class_id >= 0 else d
    L = ncols if multi_label else 1
    if state.shape[0] != 4 * T * L + 2 * (T + 1) * L:
        raise ValueError("thresholds_update: state must have 4*T*L + 2*(T+1)*L entries")
    if num_label_weights != 0 and num_label_weights != d:
        raise ValueError("thresholds_update: label weights must be absent or one per column of y_pred")
    offset = 0 if evenly else T
    if len(values) < offset + num_label_weights + 1:
        raise ValueError("thresholds_update: too few threshold / label-weight values")
    size = T * L
    scratch = 4 * size
    one = y_pred.dtype.type(1.0)
    neg_inf = y_pred.dtype.type(NEG_INF)
    for i in range(rows):
        for c in range(ncols):
            j = class_id if class_id >= 0 else c
            p = y_pred[i, j]
            if from_logits:
                p = one / (one + np.exp(-p))
            if top_k > 0 and not _in_top_k(y_pred, i, j, top_k):
                p = neg_inf
            w = weights[i]
            if num_label_weights != 0:
                w = w * values[offset + j]
            k = _count_exceeded(p, y_pred, T, evenly, with_epsilon, values)
            label = c if multi_label else 0
            positive = 1 if y_true[i, j] != 0 else 0
            state[scratch + (k * L + label) * 2 + positive] += w
    for label in range(L):
        # above[m] = weight exceeding threshold m = sum of buckets k > m; below = buckets k <= m.
        pos_above = 0.0
        neg_above = 0.0
        for m in range(T - 1, -1, -1):
            at = scratch + ((m + 1) * L + label) * 2
            neg_above += state[at]
            pos_above += state[at + 1]
            state[0 * size + m * L + label] += pos_above
            state[1 * size + m * L + label] += neg_above
        pos_below = 0.0
        neg_below = 0.0
        for m in range(T):
            at = scratch + (m * L + label) * 2
            neg_below += state[at]
            pos_below += state[at + 1]
            state[2 * size + m * L + label] += neg_below
            state[3 * size + m * L + label] += pos_below
    for s in range(scratch, state.shape[0]):
        state[s] = 0.0


# --- F-beta -------------------------------------------------------------------------------------------------------


@kernel
def fbeta_update(y_true, y_pred, weights, state, threshold, has_threshold):
    """Keras's FBetaScore.update_state, per column c of (rows, C) inputs:

    pred = (y_pred > threshold) if has_threshold else (y_pred >= rowmax and |y_pred| > 1e-9)  (0 or 1; every
    entry tied at the row's maximum is predicted, an all-zero row predicts nothing), then with w = weights[i]:
    tp[c] += w pred y,  fp[c] += w pred (1 - y),  fn[c] += w (1 - pred) y,  intermediate_weights[c] += w y.
    y_true is used as a number, not cast to bool (Keras multiplies it in). "micro" averaging sums the columns
    in the result, so the state is per column for every ``average``.

    State (float64, 4*C): tp, fp, fn, intermediate_weights, each (C,).
    """
    _check_rows(y_true, y_pred, weights)
    rows, C = y_pred.shape
    if state.shape[0] != 4 * C:
        raise ValueError("fbeta_update: state must have 4*C entries")
    thr = y_pred.dtype.type(threshold)
    tiny = y_pred.dtype.type(1e-9)
    for i in range(rows):
        top = y_pred[i, 0]
        for c in range(1, C):
            if y_pred[i, c] > top:
                top = y_pred[i, c]
        w = weights[i]
        for c in range(C):
            p = y_pred[i, c]
            if has_threshold:
                pred = 1.0 if p > thr else 0.0
            else:
                pred = 1.0 if (p >= top and abs(p) > tiny) else 0.0
            y = np.float64(y_true[i, c])
            state[c] += w * pred * y
            state[C + c] += w * pred * (1.0 - y)
            state[2 * C + c] += w * (1.0 - pred) * y
            state[3 * C + c] += w * y


# --- IoU ----------------------------------------------------------------------------------------------------------

# How a row gives class ids (true_mode / pred_mode of iou_update).
IDS_LABELS = 0     # y_true only: (rows,) labels, one id per row
IDS_ELEMENTS = 1   # every entry of the (rows, d) array is an id
IDS_ARGMAX = 2     # one id per row: the first argmax of the row (one-hot or probabilities)
IDS_THRESHOLD = 3  # y_pred only: every entry gives id 1 if >= threshold else 0 (BinaryIoU)


@kernel
def _argmax(x, i):
    best = x[i, 0]
    arg = 0
    for j in range(1, x.shape[1]):
        if x[i, j] > best:
            best = x[i, j]
            arg = j
    return arg


@kernel
def _class_id(x, i, j, mode, threshold):
    """Class id of entry (i, j) as Keras derives it; NaN gives -1 (out of range, so not counted)."""
    if mode == IDS_ARGMAX:
        return _argmax(x, i)
    v = x[i, j]
    if mode == IDS_THRESHOLD:
        return 1 if v >= x.dtype.type(threshold) else 0
    if v != v:
        return -1
    return int(v)  # truncation toward zero: Keras converts the ids to its integer dtype


@kernel
def iou_update(y_true, y_pred, weights, state, num_classes, ignore_class, has_ignore_class, true_mode, pred_mode,
               threshold, integer_weights):
    """Keras's _IoUBase.update_state: cm[true id, predicted id] += w for every id pair.

    Ids per row come from ``true_mode`` / ``pred_mode`` (IDS_* above): with IDS_ELEMENTS or IDS_THRESHOLD on either
    side a row holds d pairs (both sides then need d ids per row, or one id broadcast from an argmax / label);
    otherwise one pair per row. Float ids truncate toward zero. A pair with either id outside [0, num_classes), or
    with true id == ignore_class (``has_ignore_class``), is dropped (Keras zeroes its weight). ``integer_weights``:
    weights truncate toward zero first (Keras's default IoU dtype is int, and it casts the sample weights to it).

    State (float64, num_classes**2): the confusion matrix, rows = true class, columns = predicted class.
    """
    rows = y_pred.shape[0]
    if weights.shape[0] != rows or y_true.shape[0] != rows:
        raise ValueError("iou_update: y_true, y_pred and weights must have the same number of rows")
    if true_mode == IDS_LABELS and y_true.ndim != 1:
        raise ValueError("iou_update: labels must be a (rows,) array")
    if true_mode != IDS_LABELS and y_true.ndim != 2:
        raise ValueError("iou_update: y_true must be a (rows, d) array")
    if state.shape[0] != num_classes * num_classes:
        raise ValueError("iou_update: state must have num_classes**2 entries")
    if rows > 0 and ((true_mode == IDS_ARGMAX and y_true.shape[y_true.ndim - 1] == 0) or
                     (pred_mode == IDS_ARGMAX and y_pred.shape[1] == 0)):
        raise ValueError("iou_update: argmax needs at least one column")
    # Labels (rows,) become a (rows, 1) view so that one code path reads both (numba types x[i, j] per ndim).
    labels = y_true.reshape((rows, y_true.size // max(rows, 1)))
    true_per_row = true_mode == IDS_ELEMENTS
    pred_per_row = pred_mode == IDS_ELEMENTS or pred_mode == IDS_THRESHOLD
    width = 1
    if true_per_row:
        width = labels.shape[1]
    if pred_per_row:
        if true_per_row and y_pred.shape[1] != width:
            raise ValueError("iou_update: y_true and y_pred must give the same number of ids per row")
        width = y_pred.shape[1]
    for i in range(rows):
        w = weights[i]
        if integer_weights:
            w = float(int(w)) if w == w else 0.0
        for j in range(width):
            t = _class_id(labels, i, j if true_per_row else 0, true_mode, threshold)
            p = _class_id(y_pred, i, j if pred_per_row else 0, pred_mode, threshold)
            if t < 0 or t >= num_classes or p < 0 or p >= num_classes:
                continue
            if has_ignore_class and t == ignore_class:
                continue
            state[t * num_classes + p] += w


# --- R2 -----------------------------------------------------------------------------------------------------------


@kernel
def r2_update(y_true, y_pred, weights, state):
    """Keras's R2Score.update_state for (rows, C) inputs, with w = weights[i] for every column:

    sum[c] += w y,  squared_sum[c] += w y^2,  residual[c] += w (y - y_pred)^2,  count[c] += w,
    num_samples += rows * C (the number of entries, as Keras counts ``ops.size(y_true)``).

    State (float64, 4*C + 1): sum, squared_sum, residual, count, each (C,), then num_samples.
    """
    _check_rows(y_true, y_pred, weights)
    rows, C = y_pred.shape
    if state.shape[0] != 4 * C + 1:
        raise ValueError("r2_update: state must have 4*C + 1 entries")
    for i in range(rows):
        w = np.float64(weights[i])
        for c in range(C):
            y = np.float64(y_true[i, c])
            r = y - np.float64(y_pred[i, c])
            state[c] += w * y
            state[C + c] += w * y * y
            state[2 * C + c] += w * r * r
            state[3 * C + c] += w
    state[4 * C] += rows * C
