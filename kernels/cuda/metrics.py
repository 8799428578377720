"""CUDA twins of kernels/cpu/metrics.py: Keras 3's accuracy functions (one value per row) and the weighted mean.

Accuracy kernels use the row layout of ``losses.row_geometry``: ``lanes`` threads per row stride over its columns
and meet in shared-memory trees (a count, or an argmax carried as a value and an index). The argmax keeps the CPU
kernel's rule exactly: the first maximal index, and the first NaN if there is one (np.argmax / jnp.argmax).
``mean_update`` reduces its batch in blocks and adds each block's [total, count] into the state with atomics.

Differences from the CPU kernels:

* A sparse label that is negative, too large, non-integral or NaN writes NaN into its row's ``out`` instead of
  raising ValueError (checking labels on the host would copy them back every call). Where the CPU kernel raises
  for every row (no classes at all) the twin raises the same ValueError on the host.
* ``mean_update`` adds block sums with atomics, so a float64 total can differ from the CPU's serial sum in the
  last bits, and from one run to the next.
* ``mean_result`` returns a Python float, so it copies the two state entries back (a sync), as its CPU twin
  returns the value.
"""

import math

import numpy as np
from numba import cuda, int64

from . import _launch
from ._launch import THREADS, kernel
from .losses import pow2_threads, row_geometry

BINARY, CATEGORICAL, TOP_K = 0, 1, 2

#: Most blocks one mean_update launch uses (a grid-stride loop covers the rest).
MAX_BLOCKS = 1024


@kernel("void(F[:, ::1], F[::1], F[:, ::1], F[::1], int64, float64, int64, boolean)")
def _accuracy(y_true, labels, y_pred, out, kind, threshold, k, sparse):
    """out[i] per ``kind``: BINARY (y_true), CATEGORICAL and TOP_K (y_true's argmax, or labels[i] when sparse)."""
    sh = cuda.shared.array(THREADS, dtype=y_pred.dtype)
    shi = cuda.shared.array(THREADS, dtype=int64)
    c = cuda.local.array(5, dtype=y_pred.dtype)
    c[0] = 0.0
    c[1] = 1.0
    c[2] = threshold
    c[3] = -math.inf
    c[4] = math.nan
    zero, one, thr, ninf, nan = c[0], c[1], c[2], c[3], c[4]
    lanes = cuda.blockDim.x
    lane = cuda.threadIdx.x
    base = cuda.threadIdx.y * lanes
    i = cuda.blockIdx.x * cuda.blockDim.y + cuda.threadIdx.y
    rows, d = y_pred.shape
    live = i < rows

    def rsum(v):
        sh[base + lane] = v
        cuda.syncthreads()
        s = lanes // 2
        while s > 0:
            if lane < s:
                sh[base + lane] += sh[base + lane + s]
            cuda.syncthreads()
            s //= 2
        r = sh[base]
        cuda.syncthreads()
        return r

    def argmax(x):
        # this lane's entries in increasing j: the first NaN, else the first maximum; d marks "no entry"
        bv = zero
        bi = d
        if live:
            for j in range(lane, d, lanes):
                v = x[i, j]
                if bi == d or (not math.isnan(bv) and (math.isnan(v) or v > bv)):
                    bv = v
                    bi = j
        sh[base + lane] = bv
        shi[base + lane] = bi
        cuda.syncthreads()
        s = lanes // 2
        while s > 0:
            if lane < s:
                a, b = base + lane, base + lane + s
                ia, ib = shi[a], shi[b]
                if ib < d:
                    va, vb = sh[a], sh[b]
                    na, nb = math.isnan(va), math.isnan(vb)
                    if ia == d:
                        take = True
                    elif na and nb:
                        take = ib < ia
                    elif nb or na:
                        take = nb
                    else:
                        take = vb > va or (vb == va and ib < ia)
                    if take:
                        sh[a] = vb
                        shi[a] = ib
            cuda.syncthreads()
            s //= 2
        r = shi[base]
        cuda.syncthreads()
        return r

    if kind == BINARY:
        hits = zero
        if live:
            for j in range(lane, d, lanes):
                predicted = one if y_pred[i, j] > thr else zero
                if y_true[i, j] == predicted:
                    hits += one
        hits = rsum(hits)
        if live and lane == 0:
            c[0] = d
            out[i] = hits / c[0]
        return
    bad = False
    if sparse:
        target = 0
        if live:
            label = labels[i]
            if label >= 0 and label < d and label == math.floor(label):  # NaN fails the first test
                target = int(label)
            else:
                bad = True
    else:
        target = argmax(y_true)
    if kind == CATEGORICAL:
        arg = argmax(y_pred)
        if live and lane == 0:
            out[i] = nan if bad else (one if arg == target else zero)
        return
    # TOP_K: rank = 1 + #{j : y_pred[i, j] > y_pred[i, target]}, a NaN target counting as -inf
    above = zero
    if live and not bad:
        p = y_pred[i, target]
        if math.isnan(p):
            p = ninf
        for j in range(lane, d, lanes):
            if y_pred[i, j] > p:
                above += one
    above = rsum(above)
    if live and lane == 0:
        out[i] = nan if bad else (one if one + above <= k else zero)


@kernel("void(float64[::1], F[::1], F[::1])", "void(float32[::1], float32[::1], float32[::1])")
def _mean_update(state, values, weights):
    """state[0] += sum w v, state[1] += sum w (n without weights): block sums, then atomics into the state."""
    tot_sh = cuda.shared.array(THREADS, dtype=state.dtype)
    cnt_sh = cuda.shared.array(THREADS, dtype=state.dtype)
    c = cuda.local.array(1, dtype=state.dtype)
    c[0] = 0.0
    tot = c[0]
    cnt = c[0]
    t = cuda.threadIdx.x
    n = values.shape[0]
    weighted = weights.shape[0] != 0
    for k in range(cuda.grid(1), n, cuda.gridsize(1)):
        if weighted:
            tot += weights[k] * values[k]
            cnt += weights[k]
        else:
            tot += values[k]
    tot_sh[t] = tot
    cnt_sh[t] = cnt
    cuda.syncthreads()
    s = cuda.blockDim.x // 2
    while s > 0:
        if t < s:
            tot_sh[t] += tot_sh[t + s]
            cnt_sh[t] += cnt_sh[t + s]
        cuda.syncthreads()
        s //= 2
    if t == 0:
        cuda.atomic.add(state, 0, tot_sh[0])
        if weighted:
            cuda.atomic.add(state, 1, cnt_sh[0])
        elif cuda.blockIdx.x == 0:
            c[0] = n
            cuda.atomic.add(state, 1, c[0])


# --- host side -----------------------------------------------------------------------------------------------------


def _check_pair(y_true, y_pred, out):
    if len(y_pred.shape) != 2 or tuple(y_true.shape) != tuple(y_pred.shape):
        raise ValueError("accuracy metrics: y_true and y_pred must have the same (rows, d) shape")
    if out.shape[0] != y_pred.shape[0]:
        raise ValueError("accuracy metrics: out must have one entry per row of y_pred")


def _check_sparse(labels, y_pred, out):
    if labels.shape[0] != y_pred.shape[0] or out.shape[0] != y_pred.shape[0]:
        raise ValueError("sparse accuracy metrics: labels and out must have one entry per row of y_pred")
    if y_pred.shape[1] == 0 and y_pred.shape[0] != 0:  # every label is out of range: the CPU kernel raises too
        raise ValueError("sparse accuracy metrics: labels must be integers in [0, num_classes)")


def _check_classes(y_pred):
    if y_pred.shape[1] == 0 and y_pred.shape[0] != 0:
        raise ValueError("accuracy metrics: y_pred needs at least one class (last axis of length >= 1)")


def _launch_accuracy(y_true, labels, y_pred, out, kind, threshold, k, sparse):
    rows, d = y_pred.shape
    if rows:
        _accuracy[row_geometry(rows, d)](y_true, labels, y_pred, out, kind, float(threshold), int(k), sparse)


def binary_accuracy_forward(y_true, y_pred, out, threshold):
    """As kernels.cpu.metrics.binary_accuracy_forward: out[i] = mean_j (y_true == (y_pred > threshold)); the
    threshold is rounded to y_pred's dtype first, as the CPU kernel (and Keras) do."""
    _check_pair(y_true, y_pred, out)
    thr = float(np.dtype(y_pred.dtype).type(threshold))
    _launch_accuracy(y_true, out, y_pred, out, BINARY, thr, 0, False)


def categorical_accuracy_forward(y_true, y_pred, out):
    """As kernels.cpu.metrics.categorical_accuracy_forward (first index on ties, first NaN wins)."""
    _check_pair(y_true, y_pred, out)
    _check_classes(y_pred)
    _launch_accuracy(y_true, out, y_pred, out, CATEGORICAL, 0.0, 0, False)


def sparse_categorical_accuracy_forward(labels, y_pred, out):
    """As kernels.cpu.metrics.sparse_categorical_accuracy_forward; a bad label writes NaN into its row of out
    instead of raising ValueError."""
    _check_sparse(labels, y_pred, out)
    _launch_accuracy(y_pred, labels, y_pred, out, CATEGORICAL, 0.0, 0, True)


def top_k_categorical_accuracy_forward(y_true, y_pred, out, k):
    """As kernels.cpu.metrics.top_k_categorical_accuracy_forward (Keras's in_top_k: ties count for the target)."""
    _check_pair(y_true, y_pred, out)
    _check_classes(y_pred)
    _launch_accuracy(y_true, out, y_pred, out, TOP_K, 0.0, k, False)


def sparse_top_k_categorical_accuracy_forward(labels, y_pred, out, k):
    """As kernels.cpu.metrics.sparse_top_k_categorical_accuracy_forward; a bad label writes NaN into its row of
    out instead of raising ValueError."""
    _check_sparse(labels, y_pred, out)
    _launch_accuracy(y_pred, labels, y_pred, out, TOP_K, 0.0, k, True)


def mean_update(state, values, weights):
    """As kernels.cpu.metrics.mean_update: state = [total, count]; total += sum w v, count += sum w (or the number
    of values without weights). Products w v are formed in the values' dtype and summed in the state's, as on the
    CPU; blocks add their sums with atomics. Declared for a float64 state with float32/float64 values and for an
    all-float32 call."""
    if state.shape[0] != 2:
        raise ValueError("mean_update: state must be the 2-element array [total, count]")
    if weights.shape[0] != 0 and weights.shape[0] != values.shape[0]:
        raise ValueError("mean_update: weights must be empty or have one weight per value")
    n = values.shape[0]
    if n:
        threads = pow2_threads(n)
        _mean_update[min(_launch.blocks(n, threads), MAX_BLOCKS), threads](state, values, weights)


def mean_result(state):
    """As kernels.cpu.metrics.mean_result: total / count in the state's dtype, 0.0 while count is 0, as a Python
    float. Copies the two entries back (the CPU kernel returns the value)."""
    if state.shape[0] < 2:
        raise ValueError("mean_result: state must be the 2-element array [total, count]")
    total, count = state[:2].copy_to_host()
    if count == 0:
        return 0.0
    return float(total / count)
