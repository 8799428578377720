"""CUDA twins of kernels/cpu/losses.py: Keras 3's loss functions, one value per row, and the reduction helpers.

Layout. A loss forward reduces each row of ``(rows, d)`` inputs: ``lanes`` threads (a power of two, at most 32, at
least d when d is small) share a row and stride over its columns (consecutive lanes read consecutive entries),
``per`` rows sit in one block (``row_geometry``), and each row's partial values meet in a shared-memory tree. The
simple losses (one term per entry, summed or averaged) run in one kernel with a ``kind`` switch; the losses that
need more than a sum per row (categorical hinge's argmax, cosine's norms, the crossentropies' max / log-sum-exp /
row sum) have their own kernels. Backward kernels of the simple losses are elementwise (one thread per entry).

Reductions live in closures inside each kernel (numba inlines them): ``@cuda.jit(device=True)`` functions cannot be
compiled by ``ptxcheck`` without a driver (numba-cuda's device dispatcher asks for the current device's compute
capability), so none are used.

Arithmetic stays in the input dtype as in the CPU kernels: constants are rounded to it through a local array
(``c[k] = value``; reading ``c[k]`` back gives a value of the input dtype, where a Python literal would promote
float32 work to float64). Sums run in a different order than the CPU kernels' serial loops, so float32 results
differ from the CPU's by rounding (check_twin's tolerances).

Differences from the CPU kernels (documented per twin):

* Shapes are checked on the host; the CPU loss kernels check none, so a mismatched call raises ValueError here
  where the CPU kernel would read out of bounds.
* Sparse labels cannot be checked on the host without a copy: a label that is negative, too large, non-integral
  or NaN writes NaN into that row's loss (forward) or gradient row (backward) instead of raising ValueError.
* The hinge losses' {0, 1} -> {-1, 1} decision over the whole batch takes one extra launch that marks a module-level
  int64 flag with a fresh generation number when any label is not 0 or 1 (no reset launch needed); the flag is
  allocated once, on first use, on the current device.
* ``weighted_sum`` returns a Python float, so it copies one value back (a sync), as its CPU twin returns one; its
  result lands in a module-level one-element scratch array per dtype.
"""

import itertools
import math

import numpy as np
from numba import cuda, int64

from . import _launch
from ._launch import THREADS, kernel

#: keras.backend.epsilon().
EPSILON = 1e-7

# The simple losses of _pointwise_forward / _pointwise_backward.
MSE, MAE, MAPE, MSLE, HUBER, LOG_COSH, HINGE, SQUARED_HINGE, KL, POISSON, BCE = range(11)


def row_geometry(rows, d):
    """(blocks, (lanes, per)): ``lanes`` threads per row (a power of two <= 32), ``per`` rows per block."""
    lanes = 1
    while lanes < d and lanes < 32:
        lanes *= 2
    per = max(1, min(THREADS // lanes, rows))
    return _launch.blocks(rows, per), (lanes, per)


def pow2_threads(n):
    """Threads of a one-block reduction over n items: a power of two, at most THREADS."""
    t = 1
    while t < n and t < THREADS:
        t *= 2
    return t


_FLAG = []
_GENERATION = itertools.count(1)
_SCRATCH = {}


def _flag():
    if not _FLAG:
        _FLAG.append(cuda.to_device(np.zeros(1, np.int64)))
    return _FLAG[0]


def _scratch(dtype):
    key = np.dtype(dtype).str
    if key not in _SCRATCH:
        _SCRATCH[key] = cuda.device_array(1, dtype)
    return _SCRATCH[key]


def _f(a, value):
    """value rounded to a's dtype, as a Python float (exactly representable; passed to kernels as float64)."""
    return float(np.dtype(a.dtype).type(value))


# --- kernels -------------------------------------------------------------------------------------------------------


@kernel("void(F[:, ::1], int64[::1], int64)")
def _nonbinary_scan(y_true, flag, gen):
    """flag[0] = gen when some label is neither 0 nor 1 (NaN included); one thread per label."""
    k = cuda.grid(1)
    rows, d = y_true.shape
    if k < rows * d:
        i = k // d
        v = y_true[i, k - i * d]
        if v != 0.0 and v != 1.0:
            flag[0] = gen


@kernel("void(F[:, ::1], F[:, ::1], F[::1], int64, float64, float64, float64, boolean, int64[::1], int64, boolean,"
        " float64)")
def _pointwise_forward(y_true, y_pred, out, kind, param, keep, add, logits, flag, gen, mean, post):
    """out[i] = post * (sum_j term(y_true[i, j], y_pred[i, j]) [/ d when mean]); term chosen by ``kind``."""
    sh = cuda.shared.array(THREADS, dtype=y_pred.dtype)
    c = cuda.local.array(12, dtype=y_pred.dtype)
    c[0] = 0.0
    c[1] = 1.0
    c[2] = 2.0
    c[3] = 0.5
    c[4] = EPSILON
    c[5] = 1.0 - EPSILON
    c[6] = param
    c[7] = keep
    c[8] = add
    c[9] = math.log(2.0)
    c[10] = post
    c[11] = y_pred.shape[1]
    zero, one, two, half, eps, hi, prm, kp, ad, log2, pst, fd = (c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
                                                                  c[8], c[9], c[10], c[11])
    lanes = cuda.blockDim.x
    lane = cuda.threadIdx.x
    base = cuda.threadIdx.y * lanes
    i = cuda.blockIdx.x * cuda.blockDim.y + cuda.threadIdx.y
    rows, d = y_pred.shape
    binary = flag[0] != gen
    acc = zero
    if i < rows:
        for j in range(lane, d, lanes):
            t = y_true[i, j]
            p = y_pred[i, j]
            if kind == MSE:
                e = t - p
                v = e * e
            elif kind == MAE:
                v = abs(t - p)
            elif kind == MAPE:
                v = abs((t - p) / max(abs(t), eps))
            elif kind == MSLE:
                e = math.log(max(p, eps) + one) - math.log(max(t, eps) + one)
                v = e * e
            elif kind == HUBER:
                e = p - t
                a = abs(e)
                v = half * e * e if a <= prm else prm * a - half * prm * prm
            elif kind == LOG_COSH:
                e = p - t
                x = -two * e
                v = e + (max(x, zero) + math.log1p(math.exp(-abs(x)))) - log2
            elif kind == HINGE or kind == SQUARED_HINGE:
                tt = two * t - one if binary else t
                m = max(one - tt * p, zero)
                v = m if kind == HINGE else m * m
            elif kind == KL:
                tc = min(max(t, eps), one)
                pc = min(max(p, eps), one)
                v = tc * math.log(tc / pc)
            elif kind == POISSON:
                v = p - t * math.log(p + eps)
            else:  # BCE
                tt = t * kp + ad
                if logits:
                    tail = math.log1p(math.exp(-abs(p)))
                    v = tt * (max(-p, zero) + tail) + (one - tt) * (max(p, zero) + tail)
                else:
                    pc = min(max(p, eps), hi)
                    v = -(tt * math.log(pc) + (one - tt) * math.log(one - pc))
            acc += v
    sh[base + lane] = acc
    cuda.syncthreads()
    s = lanes // 2
    while s > 0:
        if lane < s:
            sh[base + lane] += sh[base + lane + s]
        cuda.syncthreads()
        s //= 2
    if i < rows and lane == 0:
        total = sh[base]
        out[i] = pst * (total / fd) if mean else total


@kernel("void(F[:, ::1], F[:, ::1], F[::1], F[:, ::1], int64, float64, float64, float64, float64, boolean,"
        " int64[::1], int64)")
def _pointwise_backward(y_true, y_pred, dout, dpred, kind, scale, param, keep, add, logits, flag, gen):
    """dpred[i, j] from g = dout[i] * scale (scale: the CPU kernel's 2/d, 1/d or 100/d); one thread per entry."""
    k = cuda.grid(1)
    rows, d = y_pred.shape
    if k >= rows * d:
        return
    c = cuda.local.array(9, dtype=y_pred.dtype)
    c[0] = 0.0
    c[1] = 1.0
    c[2] = 2.0
    c[3] = EPSILON
    c[4] = 1.0 - EPSILON
    c[5] = scale
    c[6] = param
    c[7] = keep
    c[8] = add
    zero, one, two, eps, hi, sc, prm, kp, ad = c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]
    i = k // d
    j = k - i * d
    t = y_true[i, j]
    p = y_pred[i, j]
    g = dout[i] * sc
    if kind == MSE:
        v = g * (p - t)
    elif kind == MAE:
        e = p - t
        v = g if e > zero else (-g if e < zero else zero)
    elif kind == MAPE:
        e = p - t
        q = g / max(abs(t), eps)
        v = q if e > zero else (-q if e < zero else zero)
    elif kind == MSLE:
        if p < eps:
            v = zero
        else:
            e = math.log(p + one) - math.log(max(t, eps) + one)
            v = g * e / (p + one)
    elif kind == HUBER:
        e = p - t
        if abs(e) <= prm:
            v = g * e
        else:
            v = g * prm if e > zero else -g * prm
    elif kind == LOG_COSH:
        v = g * math.tanh(p - t)
    elif kind == HINGE:
        tt = two * t - one if flag[0] != gen else t
        v = -g * tt if one - tt * p >= zero else zero
    elif kind == SQUARED_HINGE:
        tt = two * t - one if flag[0] != gen else t
        v = -g * tt * max(one - tt * p, zero)
    elif kind == KL:
        tc = min(max(t, eps), one)
        v = -g * tc / p if eps <= p <= one else zero
    elif kind == POISSON:
        v = g * (one - t / (p + eps))
    else:  # BCE
        tt = t * kp + ad
        if logits:
            ex = math.exp(-abs(p))
            sig = one / (one + ex) if p >= zero else ex / (one + ex)
            v = g * (sig - tt)
        elif eps <= p <= hi:
            v = g * ((one - tt) / (one - p) - tt / p)
        else:
            v = zero
    dpred[i, j] = v


@kernel("void(F[:, ::1], F[:, ::1], F[::1], F[:, ::1], boolean)")
def _categorical_hinge(y_true, y_pred, vec, dpred, backward):
    """Forward (vec = out; dpred unused): out[i] = max(neg - pos + 1, 0). Backward (vec = dout): dpred."""
    sh = cuda.shared.array(THREADS, dtype=y_pred.dtype)
    shi = cuda.shared.array(THREADS, dtype=int64)
    c = cuda.local.array(2, dtype=y_pred.dtype)
    c[0] = 0.0
    c[1] = 1.0
    zero, one = c[0], c[1]
    lanes = cuda.blockDim.x
    lane = cuda.threadIdx.x
    base = cuda.threadIdx.y * lanes
    i = cuda.blockIdx.x * cuda.blockDim.y + cuda.threadIdx.y
    rows, d = y_pred.shape
    live = i < rows
    pos = zero
    neg = zero
    arg = d  # d: this lane saw no entry
    if live:
        for j in range(lane, d, lanes):
            pos += y_true[i, j] * y_pred[i, j]
            v = (one - y_true[i, j]) * y_pred[i, j]
            if arg == d or v > neg:
                neg = v
                arg = j
    sh[base + lane] = pos
    cuda.syncthreads()
    s = lanes // 2
    while s > 0:
        if lane < s:
            sh[base + lane] += sh[base + lane + s]
        cuda.syncthreads()
        s //= 2
    pos = sh[base]
    cuda.syncthreads()
    sh[base + lane] = neg
    shi[base + lane] = arg
    cuda.syncthreads()
    s = lanes // 2
    while s > 0:
        if lane < s:
            a, b = base + lane, base + lane + s
            # the larger value wins, the lower index on a tie: the CPU loop's first maximum
            if shi[b] < d and (shi[a] == d or sh[b] > sh[a] or (sh[b] == sh[a] and shi[b] < shi[a])):
                sh[a] = sh[b]
                shi[a] = shi[b]
        cuda.syncthreads()
        s //= 2
    neg = sh[base]
    arg = shi[base]
    if live:
        margin = neg - pos + one
        if not backward:
            if lane == 0:
                vec[i] = max(margin, zero)
        else:
            active = margin >= zero
            for j in range(lane, d, lanes):
                v = -vec[i] * y_true[i, j] if active else zero
                if active and j == arg:
                    v += vec[i] * (one - y_true[i, j])
                dpred[i, j] = v


@kernel("void(F[:, ::1], F[:, ::1], F[::1], F[:, ::1], boolean)")
def _cosine(y_true, y_pred, vec, dpred, backward):
    """Forward (vec = out; dpred unused): -sum tn pn. Backward (vec = dout): dpred."""
    sh = cuda.shared.array(THREADS, dtype=y_pred.dtype)
    c = cuda.local.array(2, dtype=y_pred.dtype)
    c[0] = 0.0
    c[1] = 1.0
    zero, one = c[0], c[1]
    c[0] = EPSILON
    eps = c[0]
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

    sst = zero
    ssp = zero
    if live:
        for j in range(lane, d, lanes):
            sst += y_true[i, j] * y_true[i, j]
            ssp += y_pred[i, j] * y_pred[i, j]
    sst = rsum(sst)
    ssp = rsum(ssp)
    rt = one / math.sqrt(max(sst, eps * eps))
    rp = one / math.sqrt(max(ssp, eps * eps))
    acc = zero
    if not backward:
        if live:
            for j in range(lane, d, lanes):
                acc += (y_true[i, j] * rt) * (y_pred[i, j] * rp)
        acc = rsum(acc)
        if live and lane == 0:
            vec[i] = -acc
    else:
        if live:
            for j in range(lane, d, lanes):
                acc += y_true[i, j] * rt * y_pred[i, j]
        a = rsum(acc)
        cc = a * rp * rp * rp if ssp >= eps * eps else zero
        if live:
            for j in range(lane, d, lanes):
                dpred[i, j] = vec[i] * (cc * y_pred[i, j] - rp * rt * y_true[i, j])


@kernel("void(F[:, ::1], F[:, ::1], F[::1], F[:, ::1], boolean, boolean, float64, float64)")
def _categorical_ce(y_true, y_pred, vec, dpred, logits, backward, keep, add):
    """Forward (vec = out; dpred unused) or backward (vec = dout) of categorical crossentropy."""
    sh = cuda.shared.array(THREADS, dtype=y_pred.dtype)
    c = cuda.local.array(7, dtype=y_pred.dtype)
    c[0] = 0.0
    c[1] = EPSILON
    c[2] = 1.0 - EPSILON
    c[3] = keep
    c[4] = add
    c[5] = -math.inf
    zero, lo, hi, kp, ad, ninf = c[0], c[1], c[2], c[3], c[4], c[5]
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

    acc = zero
    if logits:
        m = ninf
        if live:
            for j in range(lane, d, lanes):
                m = max(m, y_pred[i, j])
        sh[base + lane] = m
        cuda.syncthreads()
        s = lanes // 2
        while s > 0:
            if lane < s:
                sh[base + lane] = max(sh[base + lane], sh[base + lane + s])
            cuda.syncthreads()
            s //= 2
        m = sh[base]
        cuda.syncthreads()
        if live:
            for j in range(lane, d, lanes):
                acc += math.exp(y_pred[i, j] - m)
        tot = rsum(acc)
        lse = math.log(tot) if live else zero  # a row slot past the end has tot = 0
        acc = zero
        if not backward:
            if live:
                for j in range(lane, d, lanes):
                    acc += (y_true[i, j] * kp + ad) * (y_pred[i, j] - m - lse)
            acc = rsum(acc)
            if live and lane == 0:
                vec[i] = -acc
        else:
            if live:
                for j in range(lane, d, lanes):
                    acc += y_true[i, j] * kp + ad
            tsum = rsum(acc)
            if live:
                for j in range(lane, d, lanes):
                    sm = math.exp(y_pred[i, j] - m - lse)
                    dpred[i, j] = vec[i] * (sm * tsum - (y_true[i, j] * kp + ad))
    else:
        if live:
            for j in range(lane, d, lanes):
                acc += y_pred[i, j]
        rs = rsum(acc)
        acc = zero
        if not backward:
            if live:
                for j in range(lane, d, lanes):
                    q = min(max(y_pred[i, j] / rs, lo), hi)
                    acc += (y_true[i, j] * kp + ad) * math.log(q)
            acc = rsum(acc)
            if live and lane == 0:
                vec[i] = -acc
        else:
            if live:
                for j in range(lane, d, lanes):
                    q = y_pred[i, j] / rs
                    if lo <= q <= hi:
                        acc -= y_true[i, j] * kp + ad
            gq = rsum(acc)
            if live:
                for j in range(lane, d, lanes):
                    q = y_pred[i, j] / rs
                    g = -(y_true[i, j] * kp + ad) / q if lo <= q <= hi else zero
                    dpred[i, j] = vec[i] * (g - gq) / rs


@kernel("void(F[::1], F[:, ::1], F[::1], F[:, ::1], boolean, boolean)")
def _sparse_ce(labels, y_pred, vec, dpred, logits, backward):
    """Forward (vec = out; dpred unused) or backward (vec = dout) of sparse categorical crossentropy; a bad label
    gives NaN in its row."""
    sh = cuda.shared.array(THREADS, dtype=y_pred.dtype)
    c = cuda.local.array(6, dtype=y_pred.dtype)
    c[0] = 0.0
    c[1] = 1.0
    c[2] = EPSILON
    c[3] = 1.0 - EPSILON
    c[4] = -math.inf
    c[5] = math.nan
    zero, one, lo, hi, ninf, nan = c[0], c[1], c[2], c[3], c[4], c[5]
    lanes = cuda.blockDim.x
    lane = cuda.threadIdx.x
    base = cuda.threadIdx.y * lanes
    i = cuda.blockIdx.x * cuda.blockDim.y + cuda.threadIdx.y
    rows, d = y_pred.shape
    live = i < rows
    k = -1
    if live:
        label = labels[i]
        if label >= 0 and label < d and label == math.floor(label):  # NaN fails the first test
            k = int(label)
    acc = zero
    if logits:
        m = ninf
        if live:
            for j in range(lane, d, lanes):
                m = max(m, y_pred[i, j])
        sh[base + lane] = m
        cuda.syncthreads()
        s = lanes // 2
        while s > 0:
            if lane < s:
                sh[base + lane] = max(sh[base + lane], sh[base + lane + s])
            cuda.syncthreads()
            s //= 2
        m = sh[base]
        cuda.syncthreads()
        if live:
            for j in range(lane, d, lanes):
                acc += math.exp(y_pred[i, j] - m)
        sh[base + lane] = acc
        cuda.syncthreads()
        s = lanes // 2
        while s > 0:
            if lane < s:
                sh[base + lane] += sh[base + lane + s]
            cuda.syncthreads()
            s //= 2
        lse = math.log(sh[base]) if live else zero  # a row slot past the end has a sum of 0
        if live:
            if not backward:
                if lane == 0:
                    vec[i] = m + lse - y_pred[i, k] if k >= 0 else nan
            else:
                for j in range(lane, d, lanes):
                    v = vec[i] * math.exp(y_pred[i, j] - m - lse)
                    if j == k:
                        v -= vec[i]
                    dpred[i, j] = v if k >= 0 else nan
    else:
        if live:
            for j in range(lane, d, lanes):
                acc += y_pred[i, j]
        sh[base + lane] = acc
        cuda.syncthreads()
        s = lanes // 2
        while s > 0:
            if lane < s:
                sh[base + lane] += sh[base + lane + s]
            cuda.syncthreads()
            s //= 2
        rs = sh[base]
        if live:
            if not backward:
                if lane == 0:
                    vec[i] = -math.log(min(max(y_pred[i, k] / rs, lo), hi)) if k >= 0 else nan
            else:
                q = y_pred[i, k] / rs if k >= 0 else zero
                inside = k >= 0 and lo <= q <= hi
                g = vec[i] / rs if inside else zero
                for j in range(lane, d, lanes):
                    v = g
                    if inside and j == k:
                        v = g * (one - one / q)
                    dpred[i, j] = v if k >= 0 else nan


@kernel("void(F[::1], F[::1], F[::1])")
def _weighted_sum(values, weights, res):
    """res[0] = sum_i w_i v_i (v_i alone without weights), in the values' dtype; one block."""
    sh = cuda.shared.array(THREADS, dtype=values.dtype)
    c = cuda.local.array(1, dtype=values.dtype)
    c[0] = 0.0
    acc = c[0]
    t = cuda.threadIdx.x
    n = values.shape[0]
    if weights.shape[0] == 0:
        for k in range(t, n, cuda.blockDim.x):
            acc += values[k]
    else:
        for k in range(t, n, cuda.blockDim.x):
            acc += weights[k] * values[k]
    sh[t] = acc
    cuda.syncthreads()
    s = cuda.blockDim.x // 2
    while s > 0:
        if t < s:
            sh[t] += sh[t + s]
        cuda.syncthreads()
        s //= 2
    if t == 0:
        res[0] = sh[0]


@kernel("void(F[::1], float64, F[::1])")
def _scaled_weights(weights, scale, dout):
    """dout[i] = scale * weights[i], or scale without weights; scale already rounded to dout's dtype."""
    k = cuda.grid(1)
    if k < dout.shape[0]:
        c = cuda.local.array(1, dtype=dout.dtype)
        c[0] = scale
        dout[k] = c[0] * weights[k] if weights.shape[0] != 0 else c[0]


# --- host side -----------------------------------------------------------------------------------------------------


def _check_pair(name, y_true, y_pred, vec, dpred=None):
    if len(y_pred.shape) != 2 or tuple(y_true.shape) != tuple(y_pred.shape):
        raise ValueError(f"{name}: y_true and y_pred must have the same (rows, d) shape")
    if tuple(vec.shape) != (y_pred.shape[0],):
        raise ValueError(f"{name}: out / dout must have one entry per row of y_pred")
    if dpred is not None and tuple(dpred.shape) != tuple(y_pred.shape):
        raise ValueError(f"{name}: dpred must have y_pred's shape")


def _hinge_flag(y_true, kind):
    if kind not in (HINGE, SQUARED_HINGE):
        return _flag(), 0
    flag, gen = _flag(), next(_GENERATION)
    n = y_true.shape[0] * y_true.shape[1]
    if n:
        _nonbinary_scan[_launch.grid(n)](y_true, flag, gen)
    return flag, gen


def _forward(name, kind, y_true, y_pred, out, param=0.0, logits=False, keep=1.0, add=0.0, mean=True, post=1.0):
    _check_pair(name, y_true, y_pred, out)
    rows, d = y_pred.shape
    if rows == 0:
        return
    flag, gen = _hinge_flag(y_true, kind)
    _pointwise_forward[row_geometry(rows, d)](y_true, y_pred, out, kind, _f(y_pred, param), _f(y_pred, keep),
                                              _f(y_pred, add), bool(logits), flag, gen, bool(mean), float(post))


def _backward(name, kind, y_true, y_pred, dout, dpred, factor, param=0.0, logits=False, keep=1.0, add=0.0):
    """factor: the CPU kernel's g = dout * factor / d constant, None for 1 (kl_divergence)."""
    _check_pair(name, y_true, y_pred, dout, dpred)
    rows, d = y_pred.shape
    if rows * d == 0:
        return
    ft = np.dtype(y_pred.dtype).type
    scale = 1.0 if factor is None else float(ft(factor) / ft(d))
    flag, gen = _hinge_flag(y_true, kind)
    _pointwise_backward[_launch.grid(rows * d)](y_true, y_pred, dout, dpred, kind, scale, _f(y_pred, param),
                                                _f(y_pred, keep), _f(y_pred, add), bool(logits), flag, gen)


def mean_squared_error_forward(y_true, y_pred, out):
    """As kernels.cpu.losses.mean_squared_error_forward: loss = mean_j (y_true - y_pred)^2."""
    _forward("mean_squared_error_forward", MSE, y_true, y_pred, out)


def mean_squared_error_backward(y_true, y_pred, dout, dpred):
    """As kernels.cpu.losses.mean_squared_error_backward: 2 (y_pred - y_true) / d."""
    _backward("mean_squared_error_backward", MSE, y_true, y_pred, dout, dpred, 2.0)


def mean_absolute_error_forward(y_true, y_pred, out):
    """As kernels.cpu.losses.mean_absolute_error_forward: loss = mean_j |y_true - y_pred|."""
    _forward("mean_absolute_error_forward", MAE, y_true, y_pred, out)


def mean_absolute_error_backward(y_true, y_pred, dout, dpred):
    """As kernels.cpu.losses.mean_absolute_error_backward: sign(y_pred - y_true) / d, sign(0) = 0."""
    _backward("mean_absolute_error_backward", MAE, y_true, y_pred, dout, dpred, 1.0)


def mean_absolute_percentage_error_forward(y_true, y_pred, out):
    """As kernels.cpu.losses.mean_absolute_percentage_error_forward: 100 mean_j |(t - p) / max(|t|, 1e-7)|."""
    _forward("mean_absolute_percentage_error_forward", MAPE, y_true, y_pred, out, post=100.0)


def mean_absolute_percentage_error_backward(y_true, y_pred, dout, dpred):
    """As kernels.cpu.losses.mean_absolute_percentage_error_backward."""
    _backward("mean_absolute_percentage_error_backward", MAPE, y_true, y_pred, dout, dpred, 100.0)


def mean_squared_logarithmic_error_forward(y_true, y_pred, out):
    """As kernels.cpu.losses.mean_squared_logarithmic_error_forward (inputs floored at 1e-7 before the log)."""
    _forward("mean_squared_logarithmic_error_forward", MSLE, y_true, y_pred, out)


def mean_squared_logarithmic_error_backward(y_true, y_pred, dout, dpred):
    """As kernels.cpu.losses.mean_squared_logarithmic_error_backward (0 where y_pred < 1e-7)."""
    _backward("mean_squared_logarithmic_error_backward", MSLE, y_true, y_pred, dout, dpred, 2.0)


def huber_forward(y_true, y_pred, out, delta):
    """As kernels.cpu.losses.huber_forward (Keras default delta=1.0; |e| == delta is quadratic)."""
    _forward("huber_forward", HUBER, y_true, y_pred, out, param=delta)


def huber_backward(y_true, y_pred, dout, dpred, delta):
    """As kernels.cpu.losses.huber_backward."""
    _backward("huber_backward", HUBER, y_true, y_pred, dout, dpred, 1.0, param=delta)


def log_cosh_forward(y_true, y_pred, out):
    """As kernels.cpu.losses.log_cosh_forward: mean_j e + softplus(-2e) - log 2."""
    _forward("log_cosh_forward", LOG_COSH, y_true, y_pred, out)


def log_cosh_backward(y_true, y_pred, dout, dpred):
    """As kernels.cpu.losses.log_cosh_backward: tanh(y_pred - y_true) / d."""
    _backward("log_cosh_backward", LOG_COSH, y_true, y_pred, dout, dpred, 1.0)


def hinge_forward(y_true, y_pred, out):
    """As kernels.cpu.losses.hinge_forward; the batch-wide {0, 1} label test is one extra launch (see module)."""
    _forward("hinge_forward", HINGE, y_true, y_pred, out)


def hinge_backward(y_true, y_pred, dout, dpred):
    """As kernels.cpu.losses.hinge_backward (two launches, as hinge_forward)."""
    _backward("hinge_backward", HINGE, y_true, y_pred, dout, dpred, 1.0)


def squared_hinge_forward(y_true, y_pred, out):
    """As kernels.cpu.losses.squared_hinge_forward (two launches, as hinge_forward)."""
    _forward("squared_hinge_forward", SQUARED_HINGE, y_true, y_pred, out)


def squared_hinge_backward(y_true, y_pred, dout, dpred):
    """As kernels.cpu.losses.squared_hinge_backward (two launches, as hinge_forward)."""
    _backward("squared_hinge_backward", SQUARED_HINGE, y_true, y_pred, dout, dpred, 2.0)


def _rows(name, kern, y_true, y_pred, vec, dpred, *flags):
    rows, d = y_pred.shape
    if rows == 0:
        return
    if d == 0:
        raise ValueError(f"{name}: y_pred needs at least one column")
    kern[row_geometry(rows, d)](y_true, y_pred, vec, dpred, *flags)


def categorical_hinge_forward(y_true, y_pred, out):
    """As kernels.cpu.losses.categorical_hinge_forward. A row of zero columns raises ValueError (the CPU kernel
    would read y_pred[i, 0])."""
    _check_pair("categorical_hinge_forward", y_true, y_pred, out)
    _rows("categorical_hinge_forward", _categorical_hinge, y_true, y_pred, out, y_pred, False)


def categorical_hinge_backward(y_true, y_pred, dout, dpred):
    """As kernels.cpu.losses.categorical_hinge_backward (a tie for the max: the first index takes the gradient)."""
    _check_pair("categorical_hinge_backward", y_true, y_pred, dout, dpred)
    _rows("categorical_hinge_backward", _categorical_hinge, y_true, y_pred, dout, dpred, True)


def kl_divergence_forward(y_true, y_pred, out):
    """As kernels.cpu.losses.kl_divergence_forward: sum_j t log(t / p), both clipped to [1e-7, 1]."""
    _forward("kl_divergence_forward", KL, y_true, y_pred, out, mean=False)


def kl_divergence_backward(y_true, y_pred, dout, dpred):
    """As kernels.cpu.losses.kl_divergence_backward."""
    _backward("kl_divergence_backward", KL, y_true, y_pred, dout, dpred, None)


def poisson_forward(y_true, y_pred, out):
    """As kernels.cpu.losses.poisson_forward: mean_j y_pred - y_true log(y_pred + 1e-7)."""
    _forward("poisson_forward", POISSON, y_true, y_pred, out)


def poisson_backward(y_true, y_pred, dout, dpred):
    """As kernels.cpu.losses.poisson_backward."""
    _backward("poisson_backward", POISSON, y_true, y_pred, dout, dpred, 1.0)


def cosine_similarity_forward(y_true, y_pred, out):
    """As kernels.cpu.losses.cosine_similarity_forward."""
    _check_pair("cosine_similarity_forward", y_true, y_pred, out)
    _rows("cosine_similarity_forward", _cosine, y_true, y_pred, out, y_pred, False)


def cosine_similarity_backward(y_true, y_pred, dout, dpred):
    """As kernels.cpu.losses.cosine_similarity_backward."""
    _check_pair("cosine_similarity_backward", y_true, y_pred, dout, dpred)
    _rows("cosine_similarity_backward", _cosine, y_true, y_pred, dout, dpred, True)


def binary_crossentropy_forward(y_true, y_pred, out, from_logits, label_smoothing):
    """As kernels.cpu.losses.binary_crossentropy_forward."""
    _forward("binary_crossentropy_forward", BCE, y_true, y_pred, out, logits=from_logits,
             keep=1.0 - label_smoothing, add=0.5 * label_smoothing)


def binary_crossentropy_backward(y_true, y_pred, dout, dpred, from_logits, label_smoothing):
    """As kernels.cpu.losses.binary_crossentropy_backward."""
    _backward("binary_crossentropy_backward", BCE, y_true, y_pred, dout, dpred, 1.0, logits=from_logits,
              keep=1.0 - label_smoothing, add=0.5 * label_smoothing)


def _smoothing(y_pred, label_smoothing):
    ft = np.dtype(y_pred.dtype).type
    return _f(y_pred, 1.0 - label_smoothing), float(ft(label_smoothing) / ft(y_pred.shape[1]))


def categorical_crossentropy_forward(y_true, y_pred, out, from_logits, label_smoothing):
    """As kernels.cpu.losses.categorical_crossentropy_forward."""
    _check_pair("categorical_crossentropy_forward", y_true, y_pred, out)
    keep, add = _smoothing(y_pred, label_smoothing) if y_pred.shape[1] else (1.0, 0.0)
    _rows("categorical_crossentropy_forward", _categorical_ce, y_true, y_pred, out, y_pred, bool(from_logits), False,
          keep, add)


def categorical_crossentropy_backward(y_true, y_pred, dout, dpred, from_logits, label_smoothing):
    """As kernels.cpu.losses.categorical_crossentropy_backward."""
    _check_pair("categorical_crossentropy_backward", y_true, y_pred, dout, dpred)
    keep, add = _smoothing(y_pred, label_smoothing) if y_pred.shape[1] else (1.0, 0.0)
    _rows("categorical_crossentropy_backward", _categorical_ce, y_true, y_pred, dout, dpred, bool(from_logits), True,
          keep, add)


def _check_sparse(name, labels, y_pred, vec, dpred=None):
    if len(y_pred.shape) != 2 or tuple(labels.shape) != (y_pred.shape[0],) or tuple(vec.shape) != (y_pred.shape[0],):
        raise ValueError(f"{name}: labels and out / dout must have one entry per row of y_pred")
    if dpred is not None and tuple(dpred.shape) != tuple(y_pred.shape):
        raise ValueError(f"{name}: dpred must have y_pred's shape")


def sparse_categorical_crossentropy_forward(y_true, y_pred, out, from_logits):
    """As kernels.cpu.losses.sparse_categorical_crossentropy_forward, except that a bad label (negative, too
    large, non-integral, NaN) writes NaN into its row's loss instead of raising ValueError (checking the labels on
    the host would copy them back every call)."""
    _check_sparse("sparse_categorical_crossentropy_forward", y_true, y_pred, out)
    _rows("sparse_categorical_crossentropy_forward", _sparse_ce, y_true, y_pred, out, y_pred, bool(from_logits),
          False)


def sparse_categorical_crossentropy_backward(y_true, y_pred, dout, dpred, from_logits):
    """As kernels.cpu.losses.sparse_categorical_crossentropy_backward; a bad label writes NaN into its row of
    dpred instead of raising ValueError."""
    _check_sparse("sparse_categorical_crossentropy_backward", y_true, y_pred, dout, dpred)
    _rows("sparse_categorical_crossentropy_backward", _sparse_ce, y_true, y_pred, dout, dpred, bool(from_logits),
          True)


def _check_weights(values, weights):
    if weights.shape[0] != 0 and weights.shape[0] != values.shape[0]:
        raise ValueError("sample weights must be empty or have one weight per loss value")


def weighted_sum(values, weights):
    """As kernels.cpu.losses.weighted_sum: sum_i w_i v_i as a Python float (empty weights: all 1), accumulated in
    the values' dtype. One block reduces (a batch's loss values); the result is copied back, as the CPU kernel
    returns it."""
    _check_weights(values, weights)
    n = values.shape[0]
    if n == 0:
        return 0.0
    res = _scratch(values.dtype)
    _weighted_sum[1, pow2_threads(n)](values, weights, res)
    return float(res.copy_to_host()[0])


def loss_upstream(weights, scale, dout):
    """As kernels.cpu.losses.loss_upstream: dout[i] = scale * weights[i] (scale alone without weights)."""
    _check_weights(dout, weights)
    n = dout.shape[0]
    if n:
        _scaled_weights[_launch.grid(n)](weights, _f(dout, scale), dout)
