"""CUDA twin of kernels/cpu/normalization.py: batch normalization over the last axis, forward and backward.

x is (R, C). The per-channel sums over rows run on the device, deterministically and without atomics: a grid of
(ceil(C / 32), RB) blocks of 32 channels x 8 row lanes (consecutive threads read consecutive channels of a row, so
loads coalesce), block ``rb`` taking one of RB <= MAX_ROW_BLOCKS chunks of rows. A first launch writes each block's
per-channel partial sums to a (RB, C) scratch; the next launch's blocks each reduce the RB partials of their
channels themselves (in the same order, so every block gets the same value) and go on with their rows.

    training forward:  L1 partial sums of x;  L2 mean, partial sums of (x - mean)^2;
                       L3 var, inv_std, the moving-statistics update (row-block 0), out and xhat      (3 launches)
    inference forward: one thread per entry (the statistics are the moving ones)                        (1 launch)
    backward:          L1 partial sums of dy and dy * xhat; L2 dgamma / dbeta (row-block 0) and dx       (2 launches;
                       1 when only an inference dx is wanted)

Sums are accumulated in the arrays' dtype as on the CPU, in a different order (float32 agrees to rounding).
Module-level device scratch: two (RB, C) partial-sum buffers per dtype, allocated once and grown when needed (not
per call); concurrent calls from several host threads on one device would share them.
"""

import math

import numpy as np
from numba import cuda

from . import _launch
from ._launch import kernel

LANES = 8  # row lanes per block
CH = 32  # channels per block
MAX_ROW_BLOCKS = 64
ROWS_PER_BLOCK = 64  # fewest rows a row block takes before another is added

_SCRATCH = {}


def _partials(name, size, dtype):
    key = (name, np.dtype(dtype).str)
    a = _SCRATCH.get(key)
    if a is None or a.shape[0] < size:
        a = cuda.to_device(np.zeros(max(size, 1), dtype))
        _SCRATCH[key] = a
    return a


def _geometry(rows, ch):
    """(grid, block, RB) of the reduction launches."""
    rb = max(1, min(MAX_ROW_BLOCKS, math.ceil(rows / ROWS_PER_BLOCK)))
    return (math.ceil(ch / CH), rb), (CH, LANES), rb


@_launch.device
def _lane_sum(sh, v):
    """Sum of v over the block's LANES row lanes (per channel column); every lane gets it."""
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    sh[ty, tx] = v
    cuda.syncthreads()
    s = LANES // 2
    while s > 0:
        if ty < s:
            sh[ty, tx] += sh[ty + s, tx]
        cuda.syncthreads()
        s //= 2
    r = sh[0, tx]
    cuda.syncthreads()
    return r


@_launch.device
def _row_range(rows):
    """This block's chunk of rows [lo, hi)."""
    chunk = (rows + cuda.gridDim.y - 1) // cuda.gridDim.y
    lo = cuda.blockIdx.y * chunk
    return lo, min(lo + chunk, rows)


@_launch.device
def _reduce_partials(sh, p, nrb, ch, c):
    """sum over row blocks of p[rb * ch + c] (the same order in every block)."""
    v = p.dtype.type(0.0)
    if c < ch:
        for rb in range(cuda.threadIdx.y, nrb, LANES):
            v += p[rb * ch + c]
    return _lane_sum(sh, v)


@kernel("void(F[:, ::1], F[::1])")
def _bn_sums(x, p):
    sh = cuda.shared.array((LANES, CH), dtype=x.dtype)
    rows, ch = x.shape
    c = cuda.blockIdx.x * CH + cuda.threadIdx.x
    lo, hi = _row_range(rows)
    v = x.dtype.type(0.0)
    if c < ch:
        for r in range(lo + cuda.threadIdx.y, hi, LANES):
            v += x[r, c]
    total = _lane_sum(sh, v)
    if c < ch and cuda.threadIdx.y == 0:
        p[cuda.blockIdx.y * ch + c] = total


@kernel("void(F[:, ::1], F[::1], F[::1], int64, F[::1])")
def _bn_sqdev(x, p, q, nrb, mean):
    sh = cuda.shared.array((LANES, CH), dtype=x.dtype)
    rows, ch = x.shape
    c = cuda.blockIdx.x * CH + cuda.threadIdx.x
    mu = _reduce_partials(sh, p, nrb, ch, c) / x.dtype.type(rows)
    lo, hi = _row_range(rows)
    v = x.dtype.type(0.0)
    if c < ch:
        for r in range(lo + cuda.threadIdx.y, hi, LANES):
            d = x[r, c] - mu
            v += d * d
    total = _lane_sum(sh, v)
    if c < ch and cuda.threadIdx.y == 0:
        q[cuda.blockIdx.y * ch + c] = total
        if cuda.blockIdx.y == 0:
            mean[c] = mu


@kernel("void(F[:, ::1], F[::1], F[::1], F[::1], F[::1], F[:, ::1], F[:, ::1], F[::1], F[::1], int64, float64, "
        "float64, float64, F[::1])")
def _bn_train_out(x, gamma, beta, moving_mean, moving_var, out, xhat, p, q, nrb, momentum, one_minus_momentum,
                  epsilon, inv_std):
    sh = cuda.shared.array((LANES, CH), dtype=x.dtype)
    rows, ch = x.shape
    t = x.dtype.type
    c = cuda.blockIdx.x * CH + cuda.threadIdx.x
    n = t(rows)
    mu = _reduce_partials(sh, p, nrb, ch, c) / n
    var = _reduce_partials(sh, q, nrb, ch, c) / n
    if c >= ch:
        return  # after the last barrier
    inv = t(1.0) / math.sqrt(var + t(epsilon))
    if cuda.blockIdx.y == 0 and cuda.threadIdx.y == 0:
        m = t(momentum)
        m1 = t(one_minus_momentum)
        moving_mean[c] = moving_mean[c] * m + mu * m1
        moving_var[c] = moving_var[c] * m + var * m1
        inv_std[c] = inv
    g = gamma[c] if gamma.size != 0 else t(1.0)
    b = beta[c] if beta.size != 0 else t(0.0)
    save = xhat.size != 0
    lo, hi = _row_range(rows)
    for r in range(lo + cuda.threadIdx.y, hi, LANES):
        h = (x[r, c] - mu) * inv
        if save:
            xhat[r, c] = h
        out[r, c] = g * h + b


@kernel("void(F[:, ::1], F[::1], F[::1], F[::1], F[::1], F[:, ::1], F[:, ::1], F[::1], F[::1], float64)")
def _bn_infer(x, gamma, beta, moving_mean, moving_var, out, xhat, mean, inv_std, epsilon):
    """One thread per entry of max(R, 1) rows; row 0's threads also write mean and inv_std."""
    i = cuda.grid(1)
    rows, ch = x.shape
    if i >= max(rows, 1) * ch:
        return
    t = x.dtype.type
    r = i // ch
    c = i - r * ch
    mu = moving_mean[c]
    inv = t(1.0) / math.sqrt(t(moving_var[c]) + t(epsilon))
    if r == 0:
        mean[c] = mu
        inv_std[c] = inv
    if r < rows:
        h = (x[r, c] - mu) * inv
        if xhat.size != 0:
            xhat[r, c] = h
        g = gamma[c] if gamma.size != 0 else t(1.0)
        b = beta[c] if beta.size != 0 else t(0.0)
        out[r, c] = g * h + b


def batch_norm_forward(x, gamma, beta, moving_mean, moving_var, out, xhat, mean, inv_std, momentum, epsilon,
                       training):
    """out = gamma * (x - mean) * inv_std + beta, with the moving-statistics update when training, as
    kernels.cpu.normalization.batch_norm_forward. Training: 3 launches (device reductions, module docstring);
    inference: 1 launch."""
    rows, ch = x.shape
    if out.shape[0] != rows or out.shape[1] != ch:
        raise ValueError("batch_norm_forward: out must have the shape of x")
    if xhat.size != 0 and (xhat.shape[0] != rows or xhat.shape[1] != ch):
        raise ValueError("batch_norm_forward: xhat must have the shape of x or size 0")
    if gamma.size != 0 and gamma.size != ch:
        raise ValueError("batch_norm_forward: gamma must have length 0 or C")
    if beta.size != 0 and beta.size != ch:
        raise ValueError("batch_norm_forward: beta must have length 0 or C")
    if moving_mean.size != ch or moving_var.size != ch or mean.size != ch or inv_std.size != ch:
        raise ValueError("batch_norm_forward: moving_mean, moving_var, mean and inv_std must have length C")
    if training and rows == 0:
        raise ValueError("batch_norm_forward: training needs at least one row")
    if ch == 0:
        return
    if len(xhat.shape) != 2:  # an empty xhat of another rank: the kernels take a 2-D one
        xhat = xhat.reshape(0, 0)
    if not training:
        n = max(rows, 1) * ch
        _bn_infer[_launch.grid(n)](x, gamma, beta, moving_mean, moving_var, out, xhat, mean, inv_std,
                                   float(epsilon))
        return
    grid, block, nrb = _geometry(rows, ch)
    p = _partials("p", nrb * ch, np.dtype(x.dtype))
    q = _partials("q", nrb * ch, np.dtype(x.dtype))
    _bn_sums[grid, block](x, p)
    _bn_sqdev[grid, block](x, p, q, int(nrb), mean)
    _bn_train_out[grid, block](x, gamma, beta, moving_mean, moving_var, out, xhat, p, q, int(nrb), float(momentum),
                               float(1.0 - momentum), float(epsilon), inv_std)


@kernel("void(F[:, ::1], F[:, ::1], F[::1], F[::1])")
def _bn_backward_sums(dy, xhat, p, q):
    sh = cuda.shared.array((LANES, CH), dtype=dy.dtype)
    rows, ch = dy.shape
    c = cuda.blockIdx.x * CH + cuda.threadIdx.x
    lo, hi = _row_range(rows)
    s1 = dy.dtype.type(0.0)
    s2 = dy.dtype.type(0.0)
    if c < ch:
        for r in range(lo + cuda.threadIdx.y, hi, LANES):
            g = dy[r, c]
            s1 += g
            s2 += g * xhat[r, c]
    t1 = _lane_sum(sh, s1)
    t2 = _lane_sum(sh, s2)
    if c < ch and cuda.threadIdx.y == 0:
        p[cuda.blockIdx.y * ch + c] = t1
        q[cuda.blockIdx.y * ch + c] = t2


@kernel("void(F[:, ::1], F[::1], F[:, ::1], F[::1], F[:, ::1], F[::1], F[::1], F[::1], F[::1], int64, boolean, "
        "boolean)")
def _bn_backward_apply(dy, gamma, xhat, inv_std, dx, dgamma, dbeta, p, q, nrb, training, accumulate):
    """nrb == 0: no sums (an inference dx only)."""
    sh = cuda.shared.array((LANES, CH), dtype=dy.dtype)
    rows, ch = dy.shape
    t = dy.dtype.type
    c = cuda.blockIdx.x * CH + cuda.threadIdx.x
    sum_dy = t(0.0)
    sum_dyx = t(0.0)
    if nrb > 0:
        sum_dy = _reduce_partials(sh, p, nrb, ch, c)
        sum_dyx = _reduce_partials(sh, q, nrb, ch, c)
    if c >= ch:
        return
    if cuda.blockIdx.y == 0 and cuda.threadIdx.y == 0:
        if dgamma.size != 0:
            dgamma[c] = dgamma[c] + sum_dyx if accumulate else sum_dyx
        if dbeta.size != 0:
            dbeta[c] = dbeta[c] + sum_dy if accumulate else sum_dy
    if dx.size == 0:
        return
    scale = (gamma[c] if gamma.size != 0 else t(1.0)) * inv_std[c]
    lo, hi = _row_range(rows)
    if training:
        n = t(rows)
        scale = scale / n
        for r in range(lo + cuda.threadIdx.y, hi, LANES):
            dx[r, c] = scale * (n * dy[r, c] - sum_dy - xhat[r, c] * sum_dyx)
    else:
        for r in range(lo + cuda.threadIdx.y, hi, LANES):
            dx[r, c] = dy[r, c] * scale


def batch_norm_backward(dy, gamma, xhat, inv_std, dx, dgamma, dbeta, training, accumulate):
    """Gradients through batch_norm_forward, as kernels.cpu.normalization.batch_norm_backward (dgamma / dbeta of
    length 0 skipped, dx of size 0 skipped, ``accumulate`` for dgamma / dbeta; dx may alias dy). Two launches
    (partial sums, then dgamma / dbeta / dx); one when only an inference dx is wanted."""
    rows, ch = dy.shape
    if xhat.shape[0] != rows or xhat.shape[1] != ch:
        raise ValueError("batch_norm_backward: xhat must have the shape of dy")
    if inv_std.size != ch:
        raise ValueError("batch_norm_backward: inv_std must have length C")
    if gamma.size != 0 and gamma.size != ch:
        raise ValueError("batch_norm_backward: gamma must have length 0 or C")
    if dgamma.size != 0 and dgamma.size != ch:
        raise ValueError("batch_norm_backward: dgamma must have length 0 or C")
    if dbeta.size != 0 and dbeta.size != ch:
        raise ValueError("batch_norm_backward: dbeta must have length 0 or C")
    if dx.size != 0 and (dx.shape[0] != rows or dx.shape[1] != ch):
        raise ValueError("batch_norm_backward: dx must have the shape of dy or size 0")
    need_dx = dx.size != 0
    if len(dx.shape) != 2:
        dx = dx.reshape(0, 0)
    need_sums = dgamma.size != 0 or dbeta.size != 0 or (need_dx and training)
    if ch == 0 or not (need_sums or need_dx):
        return
    grid, block, nrb = _geometry(rows, ch)
    p = _partials("p", nrb * ch, np.dtype(dy.dtype))
    q = _partials("q", nrb * ch, np.dtype(dy.dtype))
    if need_sums:
        _bn_backward_sums[grid, block](dy, xhat, p, q)
    _bn_backward_apply[grid, block](dy, gamma, xhat, inv_std, dx, dgamma, dbeta, p, q, int(nrb if need_sums else 0),
                                    bool(training), bool(accumulate))
