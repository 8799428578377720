"""CUDA twins of kernels/cpu/step.py: a training step's loss reduction, its upstream gradient and the log sums.

Every reduction stays on the device. ``acc`` (the step's float64 [loss]) and the float64 log state (``state``,
``tracker``: [total, count] pairs, or a custom metric's span) are added into with float64 atomics: each block
reduces its share in shared memory and one thread adds the block's part. Where the CPU kernel divides by a sum it
has just formed (the "mean_with_sample_weight" reduction, masked_weights' rescale) the twin reduces in a single
block (a grid-stride loop over a batch's loss values), as the division needs the whole sum first.

Semantics are the CPU kernels' (see kernels/cpu/step.py for the reduction codes); differences:

* Atomic adds of block parts make float64 totals differ from the CPU's serial sums in the last bits, and vary
  between runs; float32 loss values are summed per block in float32 (the CPU kernel sums all of them in float32),
  then combined in float64.
* ``gather_or_fill``'s row ids cannot be checked on the host without a copy: an id outside [0, len(src)) leaves
  its row of ``dst`` untouched instead of raising ValueError (as data.gather_rows' twin).
* ``total_update`` checks that ``acc`` has an entry and ``state`` two (the CPU kernel does not check).
"""

import math

import numpy as np
from numba import cuda, float64

from . import _launch
from ._launch import THREADS, kernel
from .losses import pow2_threads, row_geometry

SUM_OVER_BATCH_SIZE, SUM, MEAN_WITH_SAMPLE_WEIGHT = 0, 1, 2

#: Most blocks one reducing launch uses (grid-stride loops cover the rest).
MAX_BLOCKS = 1024


def _reduce_grid(n):
    """[blocks, threads] of a multi-block reduction over n items (at least one block)."""
    threads = pow2_threads(n)
    return min(_launch.blocks(n, threads), MAX_BLOCKS), threads


@kernel("void(F[::1], F[::1], int64, float64, float64, float64[::1], float64[::1])")
def _loss_accumulate(values, weights, reduction, loss_weight, samples, acc, tracker):
    """acc[0] += loss_weight * L, tracker += [L * samples, samples]; one block when reduction needs sum(w)."""
    sh = cuda.shared.array(THREADS, dtype=values.dtype)
    shw = cuda.shared.array(THREADS, dtype=values.dtype)
    c = cuda.local.array(1, dtype=values.dtype)
    c[0] = 0.0
    s = c[0]
    sw = c[0]
    t = cuda.threadIdx.x
    n = values.shape[0]
    for k in range(cuda.grid(1), n, cuda.gridsize(1)):
        s += weights[k] * values[k]
        sw += weights[k]
    sh[t] = s
    shw[t] = sw
    cuda.syncthreads()
    h = cuda.blockDim.x // 2
    while h > 0:
        if t < h:
            sh[t] += sh[t + h]
            shw[t] += shw[t + h]
        cuda.syncthreads()
        h //= 2
    if t == 0:
        total = float64(sh[0])
        if reduction == SUM:
            div = 1.0
        elif reduction == MEAN_WITH_SAMPLE_WEIGHT:
            div = float64(shw[0])
        else:
            div = float64(n)
        if div != 0.0:
            value = total / div
        elif total == 0.0 or math.isnan(total):
            value = math.nan  # 0/0, as Keras gives for all-zero weights
        else:
            value = math.copysign(math.inf, total) * math.copysign(1.0, div)
        cuda.atomic.add(acc, 0, loss_weight * value)
        if tracker.shape[0] == 2:
            cuda.atomic.add(tracker, 0, value * samples)
            if cuda.blockIdx.x == 0:
                cuda.atomic.add(tracker, 1, samples)


@kernel("void(F[::1], int64, float64, F[::1])")
def _loss_upstream(weights, reduction, loss_weight, dvalues):
    """dvalues[i] = F(loss_weight / divisor) * weights[i]; one block when the divisor is sum(w)."""
    sh = cuda.shared.array(THREADS, dtype=dvalues.dtype)
    c = cuda.local.array(1, dtype=dvalues.dtype)
    n = dvalues.shape[0]
    if reduction == MEAN_WITH_SAMPLE_WEIGHT:
        t = cuda.threadIdx.x
        c[0] = 0.0
        s = c[0]
        for k in range(t, n, cuda.blockDim.x):
            s += weights[k]
        sh[t] = s
        cuda.syncthreads()
        h = cuda.blockDim.x // 2
        while h > 0:
            if t < h:
                sh[t] += sh[t + h]
            cuda.syncthreads()
            h //= 2
        div = float64(sh[0])
        cuda.syncthreads()
    elif reduction == SUM:
        div = 1.0
    else:
        div = float64(n)
    if div != 0.0:
        c[0] = loss_weight / div
    elif loss_weight == 0.0 or math.isnan(loss_weight):
        c[0] = math.nan
    else:
        c[0] = math.copysign(math.inf, loss_weight) * math.copysign(1.0, div)
    scale = c[0]
    for k in range(cuda.grid(1), n, cuda.gridsize(1)):
        dvalues[k] = scale * weights[k]


@kernel("void(float64[::1], float64[::1], float64)")
def _total_update(acc, state, samples):
    if cuda.grid(1) == 0:
        state[0] += acc[0] * samples
        state[1] += samples
        acc[0] = 0.0


@kernel("void(F[:, ::1], int64[::1], int64, int64, F[:, ::1], float64)")
def _gather_or_fill(src, index, start, stop, dst, fill):
    """One thread per entry of dst's first stop - start rows: a gathered row of src, or ``fill`` without src."""
    k = cuda.grid(1)
    w = dst.shape[1]
    o = k // w if w > 0 else 0
    j = k - o * w
    if w == 0 or o >= stop - start or o >= dst.shape[0]:
        return
    if src.shape[0] == 0:
        dst[o, j] = fill
    else:
        r = index[start + o]
        if 0 <= r < src.shape[0]:  # ids cannot be checked on the host: never read outside src
            dst[o, j] = src[r, j]


@kernel("void(F[::1], float64)")
def _fill(dst, value):
    k = cuda.grid(1)
    if k < dst.shape[0]:
        dst[k] = value


@kernel("void(F[:, ::1], F[::1])")
def _row_mean(x, out):
    """out[r] = sum_j x[r, j] / k: lanes of a row stride over it and meet in a shared-memory tree."""
    sh = cuda.shared.array(THREADS, dtype=x.dtype)
    c = cuda.local.array(1, dtype=x.dtype)
    c[0] = 0.0
    acc = c[0]
    lanes = cuda.blockDim.x
    lane = cuda.threadIdx.x
    base = cuda.threadIdx.y * lanes
    r = cuda.blockIdx.x * cuda.blockDim.y + cuda.threadIdx.y
    rows, k = x.shape
    if r < rows:
        for j in range(lane, k, lanes):
            acc += x[r, j]
    sh[base + lane] = acc
    cuda.syncthreads()
    h = lanes // 2
    while h > 0:
        if lane < h:
            sh[base + lane] += sh[base + lane + h]
        cuda.syncthreads()
        h //= 2
    if r < rows and lane == 0:
        out[r] = sh[base] / k


@kernel("void(F[::1], F[:, ::1])")
def _row_mean_backward(dout, dx):
    t = cuda.grid(1)
    rows, k = dx.shape
    if t < rows * k:
        r = t // k
        dx[r, t - r * k] = dout[r] / k


@kernel("void(F[:, ::1], float64[::1], boolean, float64)")
def _state_accumulate(values, state, mean, sign):
    """Columns across threadIdx.x (coalesced rows), rows across threadIdx.y and gridDim.y; a shared-memory tree
    over y, then one float64 atomic per column and block."""
    sh = cuda.shared.array(THREADS, dtype=float64)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    cx = cuda.blockDim.x
    ry = cuda.blockDim.y
    rows, size = values.shape
    j = cuda.blockIdx.x * cx + tx
    acc = 0.0
    if j < size:
        for r in range(cuda.blockIdx.y * ry + ty, rows, cuda.gridDim.y * ry):
            acc += values[r, j]
    sh[ty * cx + tx] = acc
    cuda.syncthreads()
    h = ry // 2
    while h > 0:
        if ty < h:
            sh[ty * cx + tx] += sh[(ty + h) * cx + tx]
        cuda.syncthreads()
        h //= 2
    if ty == 0 and j < size:
        part = sh[tx]
        if mean:
            part = part / rows
        cuda.atomic.add(state, j, sign * part)


@kernel("void(F[::1], F[::1], boolean, F[::1])")
def _masked_weights(weights, mask, rescale, out):
    """out = weights * F(mask * scale); with rescale (one block) scale = n / (sum(mask) + 1e-7), else 1."""
    sh = cuda.shared.array(THREADS, dtype=float64)
    c = cuda.local.array(1, dtype=out.dtype)
    n = mask.shape[0]
    scale = 1.0
    if rescale:
        t = cuda.threadIdx.x
        valid = 0.0
        for k in range(t, n, cuda.blockDim.x):
            valid += mask[k]
        sh[t] = valid
        cuda.syncthreads()
        h = cuda.blockDim.x // 2
        while h > 0:
            if t < h:
                sh[t] += sh[t + h]
            cuda.syncthreads()
            h //= 2
        scale = n / (sh[0] + 1e-7)
    for k in range(cuda.grid(1), n, cuda.gridsize(1)):
        c[0] = mask[k] * scale  # rounded to out's dtype, as the CPU kernel's out.dtype.type(mask * scale)
        out[k] = weights[k] * c[0]


@kernel("void(F[:, ::1], boolean, float64[::1])")
def _extra_loss(values, mean, acc):
    """acc[0] += sum of values [/ rows]: block sums in float64, one atomic per block."""
    sh = cuda.shared.array(THREADS, dtype=float64)
    t = cuda.threadIdx.x
    rows, cols = values.shape
    total = 0.0
    for k in range(cuda.grid(1), rows * cols, cuda.gridsize(1)):
        r = k // cols
        total += values[r, k - r * cols]
    sh[t] = total
    cuda.syncthreads()
    h = cuda.blockDim.x // 2
    while h > 0:
        if t < h:
            sh[t] += sh[t + h]
        cuda.syncthreads()
        h //= 2
    if t == 0:
        part = sh[0]
        if mean:
            part = part / rows
        cuda.atomic.add(acc, 0, part)


# --- host side -----------------------------------------------------------------------------------------------------


def _check(values, weights):
    if weights.shape[0] != values.shape[0]:
        raise ValueError("step: weights must have one entry per loss value")


def loss_accumulate(values, weights, reduction, loss_weight, samples, acc, tracker):
    """As kernels.cpu.step.loss_accumulate: acc[0] += loss_weight * L, L = reduce(values, weights);
    tracker (+)= [L * samples, samples] when it has two entries. Reductions 0 and 1 add block parts (L / divisor is
    linear) with float64 atomics; reduction 2 reduces in one block, as L divides by sum(w). No values still adds
    (nan for the mean reductions, 0 for "sum") and counts the samples, as the CPU kernel."""
    _check(values, weights)
    reduction = int(reduction)
    n = values.shape[0]
    config = [1, pow2_threads(n)] if reduction == MEAN_WITH_SAMPLE_WEIGHT else _reduce_grid(n)
    _loss_accumulate[config](values, weights, reduction, float(loss_weight), float(samples), acc, tracker)


def loss_upstream(weights, reduction, loss_weight, dvalues):
    """As kernels.cpu.step.loss_upstream: dvalues[i] = loss_weight * w_i / divisor, the factor rounded to the
    dtype first as on the CPU. Reduction 2 runs in one block (the divisor is sum(w))."""
    _check(dvalues, weights)
    reduction = int(reduction)
    n = dvalues.shape[0]
    if n == 0:
        return
    config = [1, pow2_threads(n)] if reduction == MEAN_WITH_SAMPLE_WEIGHT else _launch.grid(n)
    _loss_upstream[config](weights, reduction, float(loss_weight), dvalues)


def total_update(acc, state, samples):
    """As kernels.cpu.step.total_update: state[0:2] += [acc[0] * samples, samples]; acc[0] = 0 (one thread: three
    scalars)."""
    if acc.shape[0] < 1 or state.shape[0] < 2:
        raise ValueError("total_update: acc needs one entry and state two")
    _total_update[1, 1](acc, state, float(samples))


def gather_or_fill(src, index, start, stop, dst, fill):
    """As kernels.cpu.step.gather_or_fill: dst[i - start] = src[index[i]] for i in [start, stop), or ``fill``
    everywhere in those rows when src has no rows. An id outside [0, len(src)) leaves its row untouched instead
    of raising ValueError; with no src, rows past dst's end are not written (the CPU kernel would write them)."""
    start, stop = int(start), int(stop)
    if src.shape[0] != 0 and (src.shape[1] != dst.shape[1] or stop - start > dst.shape[0]
                              or not 0 <= start <= stop <= index.shape[0]):
        raise ValueError("gather_or_fill: shapes do not match")
    n = max(0, min(stop - start, dst.shape[0])) * dst.shape[1]
    if n:
        _gather_or_fill[_launch.grid(n)](src, index, start, stop, dst, float(fill))


def _flat(a):
    return a if len(a.shape) == 1 else a.reshape(a.size)


def fill(dst, value):
    """As kernels.cpu.step.fill: dst[:] = value (a C-contiguous dst of any rank is filled through a flat view)."""
    dst = _flat(dst)
    if dst.shape[0]:
        _fill[_launch.grid(dst.shape[0])](dst, float(value))


def row_mean_forward(x, out):
    """As kernels.cpu.step.row_mean_forward: out[r] = mean of x[r, :] (summed in x's dtype)."""
    if x.shape[0] != out.shape[0]:
        raise ValueError("row_mean_forward: out must have one entry per row of x")
    if x.shape[0]:
        _row_mean[row_geometry(x.shape[0], x.shape[1])](x, out)


def row_mean_backward(dout, dx):
    """As kernels.cpu.step.row_mean_backward: dx[r, j] = dout[r] / k."""
    if dx.shape[0] != dout.shape[0]:
        raise ValueError("row_mean_backward: dx must have one row per entry of dout")
    n = dx.shape[0] * dx.shape[1]
    if n:
        _row_mean_backward[_launch.grid(n)](dout, dx)


def state_accumulate(values, state, mean, sign):
    """As kernels.cpu.step.state_accumulate: state[j] += sign * (column sum of values [/ rows]), with one float64
    atomic per column and block."""
    if values.shape[1] != state.shape[0]:
        raise ValueError("state_accumulate: values must have one column per state entry")
    rows, size = values.shape
    if rows == 0 or size == 0:
        return
    cx = pow2_threads(min(size, 32))
    ry = min(THREADS // cx, pow2_threads(rows))
    grid = (_launch.blocks(size, cx), min(_launch.blocks(rows, ry), max(1, MAX_BLOCKS // _launch.blocks(size, cx))))
    _state_accumulate[grid, (cx, ry)](values, state, bool(mean), float(sign))


def masked_weights(weights, mask, rescale, out):
    """As kernels.cpu.step.masked_weights: out = weights * mask, the mask first scaled by n / (sum(mask) + 1e-7)
    when ``rescale`` (then one block, which needs the whole sum first)."""
    if weights.shape[0] != mask.shape[0] or out.shape[0] != mask.shape[0]:
        raise ValueError("masked_weights: weights, mask and out must have one length")
    n = mask.shape[0]
    if n:
        config = [1, pow2_threads(n)] if rescale else _launch.grid(n)
        _masked_weights[config](weights, mask, bool(rescale), out)


def extra_loss(values, mean, acc):
    """As kernels.cpu.step.extra_loss: acc[0] += sum of values, divided by the rows when ``mean``; block sums in
    float64 and one atomic per block."""
    n = values.shape[0] * values.shape[1]
    if n:
        _extra_loss[_reduce_grid(n)](values, bool(mean), acc)


def extra_loss_grad(dvalues, mean):
    """As kernels.cpu.step.extra_loss_grad: every entry 1, or 1 / rows for a mean (rounded to the dtype)."""
    rows = dvalues.shape[0]
    g = 1.0 / rows if mean and rows > 0 else 1.0
    fill(dvalues, float(np.dtype(dvalues.dtype).type(g)))
