"""CUDA twin of kernels/cpu/confusion.py: Keras 3's stateful confusion-matrix metrics, one batch per call.

Same arguments, state layouts (float64) and meanings as the CPU kernels (their docstrings give the formulas and
Keras's rules); shapes are checked on the host with the CPU messages. How each runs on the device:

* ``thresholds_update``: launch 1, one thread per counted entry (row, column): the entry's bucket (how many
  thresholds its prediction exceeds) gets its weight by a float64 atomic add into the state's scratch; launch 2,
  one block per label: prefix and suffix sums over the T + 1 buckets as block scans in shared memory (256 buckets
  per step, carried between steps), added into tp/fp/tn/fn, and the scratch cleared again. The threshold and
  label-weight constants (``*values``) live in a small device array cached per distinct tuple (uploaded once).
* ``fbeta_update`` / ``r2_update``: per-column sums over rows: blocks of 32 columns x 8 row lanes, each thread
  summing a strided share of the rows in registers, the lanes combined in shared memory, then one float64 atomic
  add per column and block row into the state. fbeta without a threshold compares each entry with its row's
  maximum, which each thread finds by reading the row (reads shared by the 32 threads of a row: O(C) per entry).
* ``iou_update``: one thread per (row, id) pair, a float64 atomic add into the confusion matrix.

Atomic float64 sums make the order of additions (so the last bits of the sums) vary between runs.
"""

import math

import numpy as np
from numba import cuda

from . import _launch
from ._launch import kernel

#: Keras's NEG_INF (kernels.cpu.confusion.NEG_INF).
NEG_INF = -1e10

IDS_LABELS = 0
IDS_ELEMENTS = 1
IDS_ARGMAX = 2
IDS_THRESHOLD = 3

_SCAN = 256  # threads (and buckets per step) of the scan blocks
_COLS = 32
_LANES = 8
_VALUES = {}


def _values_array(values):
    """The constants as a float64 device array, cached per distinct tuple (a metric passes the same each call)."""
    key = tuple(float(v) for v in values)
    if key not in _VALUES:
        _VALUES[key] = cuda.to_device(np.asarray(key, np.float64))
    return _VALUES[key]


def _check_rows(y_true, y_pred, weights):
    if len(y_true.shape) != 2 or len(y_pred.shape) != 2 or y_true.shape[0] != y_pred.shape[0] or \
            y_true.shape[1] != y_pred.shape[1]:
        raise ValueError("confusion metrics: y_true and y_pred must have the same (rows, d) shape")
    if weights.shape[0] != y_pred.shape[0]:
        raise ValueError("confusion metrics: weights must have one entry per row of y_pred")


def _column_grid(rows, cols):
    """(blocks, threads) of the column-sum kernels: 32 columns x 8 lanes per block, up to 32 blocks down the rows
    (at least 64 rows each)."""
    return (max(1, -(-cols // _COLS)), min(32, max(1, rows // 64))), (_COLS, _LANES)


# --- thresholds_update ----------------------------------------------------------------------------------------


@cuda.jit(device=True)
def _in_top_k(y_pred, i, j, k):
    v = y_pred[i, j]
    rank = 0
    for c in range(y_pred.shape[1]):
        u = y_pred[i, c]
        if u > v or (u == v and c < j):
            rank += 1
    return rank < k


@cuda.jit(device=True)
def _count_exceeded(p, y_pred, num_thresholds, evenly, with_epsilon, values):
    if math.isnan(p):
        return 0
    if evenly:
        zero = y_pred.dtype.type(0.0)
        one = y_pred.dtype.type(1.0)
        pc = min(max(p, zero), one)
        b = math.ceil(pc * y_pred.dtype.type(num_thresholds - 1)) - 1
        if with_epsilon and b < 0:
            b = 0
        return b + 1
    lo = 0
    hi = num_thresholds
    while lo < hi:
        mid = (lo + hi) // 2
        if p > y_pred.dtype.type(values[mid]):
            lo = mid + 1
        else:
            hi = mid
    return lo


@kernel("void(F[:, ::1], F[:, ::1], F[::1], float64[::1], int64, boolean, boolean, boolean, int64, int64, boolean, "
        "int64, float64[::1])")
def _thr_buckets(y_true, y_pred, weights, state, T, evenly, with_epsilon, multi_label, top_k, class_id, from_logits,
                 num_label_weights, values):
    """scratch[(bucket * L + label) * 2 + positive] += weight, one thread per counted entry."""
    t = cuda.grid(1)
    ncols = 1 if class_id >= 0 else y_pred.shape[1]
    i = t // ncols
    c = t - i * ncols
    if i >= y_pred.shape[0]:
        return
    L = ncols if multi_label else 1
    j = class_id if class_id >= 0 else c
    p = y_pred[i, j]
    if from_logits:
        one = y_pred.dtype.type(1.0)
        p = one / (one + math.exp(-p))
    if top_k > 0 and not _in_top_k(y_pred, i, j, top_k):
        p = y_pred.dtype.type(NEG_INF)
    w = float(weights[i])  # float64, as the CPU kernel's sums
    if num_label_weights != 0:
        w = w * values[(0 if evenly else T) + j]
    k = _count_exceeded(p, y_pred, T, evenly, with_epsilon, values)
    label = c if multi_label else 0
    positive = 1 if y_true[i, j] != 0 else 0
    cuda.atomic.add(state, 4 * T * L + (k * L + label) * 2 + positive, w)


@kernel("void(float64[::1], int64, int64)")
def _thr_scan(state, T, L):
    """One block per label: tn/fn += prefix sums (buckets <= m), tp/fp += suffix sums (buckets > m) of the
    scratch buckets, in steps of 256 buckets (block scans in shared memory); then the scratch is cleared."""
    sh = cuda.shared.array((4, _SCAN), dtype=state.dtype)  # neg/pos from the bottom, neg/pos from the top
    label = cuda.blockIdx.x
    t = cuda.threadIdx.x
    size = T * L
    scratch = 4 * size
    c0 = c1 = c2 = c3 = 0.0
    for base in range(0, T + 1, _SCAN):
        k = base + t
        kr = T - k
        if k <= T:
            at = scratch + (k * L + label) * 2
            sh[0, t] = state[at]
            sh[1, t] = state[at + 1]
            at = scratch + (kr * L + label) * 2
            sh[2, t] = state[at]
            sh[3, t] = state[at + 1]
        else:
            sh[0, t] = 0.0
            sh[1, t] = 0.0
            sh[2, t] = 0.0
            sh[3, t] = 0.0
        cuda.syncthreads()
        off = 1
        while off < _SCAN:  # Hillis-Steele inclusive scan of the four rows
            v0 = v1 = v2 = v3 = 0.0
            if t >= off:
                v0 = sh[0, t - off]
                v1 = sh[1, t - off]
                v2 = sh[2, t - off]
                v3 = sh[3, t - off]
            cuda.syncthreads()
            sh[0, t] += v0
            sh[1, t] += v1
            sh[2, t] += v2
            sh[3, t] += v3
            cuda.syncthreads()
            off *= 2
        if k < T:  # below[k]: buckets 0..k
            state[2 * size + k * L + label] += c0 + sh[0, t]
            state[3 * size + k * L + label] += c1 + sh[1, t]
        if k <= T and kr >= 1:  # above[kr - 1]: buckets kr..T
            state[0 * size + (kr - 1) * L + label] += c3 + sh[3, t]
            state[1 * size + (kr - 1) * L + label] += c2 + sh[2, t]
        c0 += sh[0, _SCAN - 1]
        c1 += sh[1, _SCAN - 1]
        c2 += sh[2, _SCAN - 1]
        c3 += sh[3, _SCAN - 1]
        cuda.syncthreads()
    for k in range(t, T + 1, _SCAN):
        at = scratch + (k * L + label) * 2
        state[at] = 0.0
        state[at + 1] = 0.0


def thresholds_update(y_true, y_pred, weights, state, num_thresholds, evenly, with_epsilon, multi_label, top_k,
                      class_id, from_logits, num_label_weights, *values):
    """As kernels.cpu.confusion.thresholds_update (formulas, arguments and state layout there). Two launches:
    bucket sums by atomics, then per-label block scans (module docstring)."""
    _check_rows(y_true, y_pred, weights)
    rows, d = y_pred.shape
    T = int(num_thresholds)
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
    n = rows * ncols
    if n == 0 or L == 0:
        return  # nothing counted: the CPU kernel adds zeros
    _thr_buckets[_launch.grid(n)](y_true, y_pred, weights, state, T, bool(evenly), bool(with_epsilon),
                                  bool(multi_label), int(top_k), int(class_id), bool(from_logits),
                                  int(num_label_weights), _values_array(values))
    _thr_scan[L, _SCAN](state, T, L)


# --- F-beta -------------------------------------------------------------------------------------------------------


@kernel("void(F[:, ::1], F[:, ::1], F[::1], float64[::1], float64, boolean)")
def _fbeta(y_true, y_pred, weights, state, threshold, has_threshold):
    part = cuda.shared.array((4, _LANES, _COLS), dtype=state.dtype)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    rows, C = y_pred.shape
    j = cuda.blockIdx.x * _COLS + tx
    thr = y_pred.dtype.type(threshold)
    tiny = y_pred.dtype.type(1e-9)
    s0 = s1 = s2 = s3 = 0.0
    if j < C:
        for i in range(cuda.blockIdx.y * _LANES + ty, rows, _LANES * cuda.gridDim.y):
            p = y_pred[i, j]
            if has_threshold:
                pred = 1.0 if p > thr else 0.0
            else:
                top = y_pred[i, 0]
                for c in range(1, C):
                    if y_pred[i, c] > top:  # noqa: PLR1730 - max() would not keep the CPU's NaN rule
                        top = y_pred[i, c]
                pred = 1.0 if (p >= top and abs(p) > tiny) else 0.0
            y = float(y_true[i, j])
            w = float(weights[i])
            s0 += w * pred * y
            s1 += w * pred * (1.0 - y)
            s2 += w * (1.0 - pred) * y
            s3 += w * y
    part[0, ty, tx] = s0
    part[1, ty, tx] = s1
    part[2, ty, tx] = s2
    part[3, ty, tx] = s3
    cuda.syncthreads()
    if ty < 4 and j < C:  # four threads of each column add one quantity each over the lanes
        s = 0.0
        for q in range(_LANES):
            s += part[ty, q, tx]
        cuda.atomic.add(state, ty * C + j, s)


def fbeta_update(y_true, y_pred, weights, state, threshold, has_threshold):
    """As kernels.cpu.confusion.fbeta_update (state: tp, fp, fn, intermediate_weights per column). One launch."""
    _check_rows(y_true, y_pred, weights)
    rows, C = y_pred.shape
    if state.shape[0] != 4 * C:
        raise ValueError("fbeta_update: state must have 4*C entries")
    if rows and C:
        _fbeta[_column_grid(rows, C)](y_true, y_pred, weights, state, float(threshold), bool(has_threshold))


# --- IoU ----------------------------------------------------------------------------------------------------------


@cuda.jit(device=True)
def _class_id(x, i, j, mode, threshold):
    if mode == IDS_ARGMAX:
        best = x[i, 0]
        arg = 0
        for c in range(1, x.shape[1]):
            if x[i, c] > best:
                best = x[i, c]
                arg = c
        return arg
    v = x[i, j]
    if mode == IDS_THRESHOLD:
        return 1 if v >= x.dtype.type(threshold) else 0
    if math.isnan(v):
        return -1
    return int(v)


@kernel("void(F[:, ::1], F[:, ::1], F[::1], float64[::1], int64, int64, boolean, int64, int64, float64, boolean, "
        "int64)")
def _iou(labels, y_pred, weights, state, num_classes, ignore_class, has_ignore_class, true_mode, pred_mode,
         threshold, integer_weights, width):
    t = cuda.grid(1)
    i = t // width
    j = t - i * width
    if i >= y_pred.shape[0]:
        return
    w = float(weights[i])
    if integer_weights:
        w = 0.0 if math.isnan(w) else float(int(w))
    true_per_row = true_mode == IDS_ELEMENTS
    pred_per_row = pred_mode == IDS_ELEMENTS or pred_mode == IDS_THRESHOLD
    tc = _class_id(labels, i, j if true_per_row else 0, true_mode, threshold)
    pc = _class_id(y_pred, i, j if pred_per_row else 0, pred_mode, threshold)
    if tc < 0 or tc >= num_classes or pc < 0 or pc >= num_classes:
        return
    if has_ignore_class and tc == ignore_class:
        return
    cuda.atomic.add(state, tc * num_classes + pc, w)


def iou_update(y_true, y_pred, weights, state, num_classes, ignore_class, has_ignore_class, true_mode, pred_mode,
               threshold, integer_weights):
    """As kernels.cpu.confusion.iou_update (state: the num_classes**2 confusion matrix). One launch."""
    rows = y_pred.shape[0]
    ndim_true = len(y_true.shape)
    if weights.shape[0] != rows or y_true.shape[0] != rows:
        raise ValueError("iou_update: y_true, y_pred and weights must have the same number of rows")
    if true_mode == IDS_LABELS and ndim_true != 1:
        raise ValueError("iou_update: labels must be a (rows,) array")
    if true_mode != IDS_LABELS and ndim_true != 2:
        raise ValueError("iou_update: y_true must be a (rows, d) array")
    if state.shape[0] != num_classes * num_classes:
        raise ValueError("iou_update: state must have num_classes**2 entries")
    if rows > 0 and ((true_mode == IDS_ARGMAX and y_true.shape[ndim_true - 1] == 0) or
                     (pred_mode == IDS_ARGMAX and y_pred.shape[1] == 0)):
        raise ValueError("iou_update: argmax needs at least one column")
    size = 1
    for s in y_true.shape:
        size *= s
    labels = y_true.reshape(rows, size // max(rows, 1)) if ndim_true == 1 else y_true
    true_per_row = true_mode == IDS_ELEMENTS
    pred_per_row = pred_mode == IDS_ELEMENTS or pred_mode == IDS_THRESHOLD
    width = 1
    if true_per_row:
        width = labels.shape[1]
    if pred_per_row:
        if true_per_row and y_pred.shape[1] != width:
            raise ValueError("iou_update: y_true and y_pred must give the same number of ids per row")
        width = y_pred.shape[1]
    if rows * width:
        _iou[_launch.grid(rows * width)](labels, y_pred, weights, state, int(num_classes), int(ignore_class),
                                         bool(has_ignore_class), int(true_mode), int(pred_mode), float(threshold),
                                         bool(integer_weights), int(width))


# --- R2 -----------------------------------------------------------------------------------------------------------


@kernel("void(F[:, ::1], F[:, ::1], F[::1], float64[::1])")
def _r2(y_true, y_pred, weights, state):
    part = cuda.shared.array((4, _LANES, _COLS), dtype=state.dtype)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    rows, C = y_pred.shape
    j = cuda.blockIdx.x * _COLS + tx
    s0 = s1 = s2 = s3 = 0.0
    if j < C:
        for i in range(cuda.blockIdx.y * _LANES + ty, rows, _LANES * cuda.gridDim.y):
            w = float(weights[i])
            y = float(y_true[i, j])
            r = y - float(y_pred[i, j])
            s0 += w * y
            s1 += w * y * y
            s2 += w * r * r
            s3 += w
    part[0, ty, tx] = s0
    part[1, ty, tx] = s1
    part[2, ty, tx] = s2
    part[3, ty, tx] = s3
    cuda.syncthreads()
    if ty < 4 and j < C:
        s = 0.0
        for q in range(_LANES):
            s += part[ty, q, tx]
        cuda.atomic.add(state, ty * C + j, s)
    if cuda.blockIdx.x == 0 and cuda.blockIdx.y == 0 and tx == 0 and ty == 0:
        state[4 * C] += rows * C


def r2_update(y_true, y_pred, weights, state):
    """As kernels.cpu.confusion.r2_update (state: sum, squared_sum, residual, count per column, num_samples).
    One launch."""
    _check_rows(y_true, y_pred, weights)
    rows, C = y_pred.shape
    if state.shape[0] != 4 * C + 1:
        raise ValueError("r2_update: state must have 4*C + 1 entries")
    _r2[_column_grid(rows, C)](y_true, y_pred, weights, state)
