"""CUDA twin of kernels/cpu/norm_ops.py: layer normalization, unit normalization, standardization, affine maps.

Same functions, arguments and meanings as the CPU module (its docstring has the formulas). On the device:

- a row's statistics (layer norm's mean and variance, unit norm's sum of squares, the backward's sums) are block
  reductions in shared memory: one block of 32..256 threads per row, each thread summing a strided part of the
  row, then a tree over the block. The sums therefore run in a different order than the CPU's sequential loops
  (last-bit differences), in the arrays' own precision as on the CPU;
- unit normalization over a middle axis with C > 1 columns uses one thread per (a, c) column instead (consecutive
  threads read consecutive columns);
- layer norm's dgamma / dbeta (sums over rows) are atomic adds into the gradient, after a zeroing launch unless
  ``accumulate``;
- the rest is one thread per element.

An empty optional array (gamma, beta, dgamma, dbeta, dx) is replaced at launch by a cached one-element dummy of
its dtype, with a flag saying it is absent, so that it matches the declared signature whatever its rank.
"""

import math

import numpy as np
from numba import cuda

from . import _launch
from ._launch import device, kernel

#: Most threads a row-reduction block has (and the size of its shared buffer).
_ROW_MAX = 256

_DUMMIES = {}


def _or_dummy(a, ndim):
    """``a``, or when it has size 0 a cached one-element device array of its dtype with ``ndim`` axes."""
    if a.size != 0:
        return a
    key = (np.dtype(a.dtype).str, ndim)
    if key not in _DUMMIES:
        _DUMMIES[key] = cuda.device_array((1,) * ndim, dtype=a.dtype)
    return _DUMMIES[key]


def _row_threads(d):
    """Threads of a row block: the power of two in [32, 256] nearest above the row length."""
    t = 32
    while t < d and t < _ROW_MAX:
        t *= 2
    return t


@device
def _block_sum(buf, v):
    """Sum of v over the block (blockDim.x a power of two); every thread gets the total."""
    tid = cuda.threadIdx.x
    buf[tid] = v
    cuda.syncthreads()
    s = cuda.blockDim.x // 2
    while s > 0:
        if tid < s:
            buf[tid] += buf[tid + s]
        cuda.syncthreads()
        s //= 2
    total = buf[0]
    cuda.syncthreads()
    return total


@kernel("void(F[::1])")
def _zero(a):
    i = cuda.grid(1)
    if i < a.shape[0]:
        a[i] = 0.0


# ------------------------------------------------------------------------------------------ layer normalization
@device
def _row_stats(x, i, buf, eps, fd, zero, one):
    """(mean, 1 / sqrt(var + eps)) of row i, var the biased variance in two passes, as the CPU's _row_stats."""
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    d = x.shape[1]
    s = zero
    for j in range(tid, d, nt):
        s += x[i, j]
    mean = _block_sum(buf, s) / fd
    q = zero
    for j in range(tid, d, nt):
        t = x[i, j] - mean
        q += t * t
    var = _block_sum(buf, q) / fd
    return mean, one / math.sqrt(var + eps)


@kernel("void(F[:, ::1], F[::1], F[::1], F[:, ::1], F, F, F, F, boolean, boolean, boolean)")
def _layer_norm_forward(x, gamma, beta, out, eps, fd, zero, one, has_gamma, has_beta, rms):
    buf = cuda.shared.array(_ROW_MAX, dtype=x.dtype)
    i = cuda.blockIdx.x
    mean, r = _row_stats(x, i, buf, eps, fd, zero, one)
    for j in range(cuda.threadIdx.x, x.shape[1], cuda.blockDim.x):
        inv = r * gamma[j] if has_gamma else r
        if rms:
            out[i, j] = x[i, j] * inv
        else:
            out[i, j] = x[i, j] * inv + ((beta[j] if has_beta else zero) - mean * inv)


def layer_norm_forward(x, gamma, beta, out, epsilon, rms_scaling):
    """out = layer_norm(x) per row of x (R, D), as kernels.cpu.norm_ops.layer_norm_forward (one block per row)."""
    rows, d = x.shape
    if out.shape[0] != rows or out.shape[1] != d:
        raise ValueError("layer_norm_forward: out must have the shape of x")
    if (gamma.size != 0 and gamma.size != d) or (beta.size != 0 and beta.size != d):
        raise ValueError("layer_norm_forward: gamma and beta must have length 0 or D (x.shape[1])")
    if rms_scaling and beta.size != 0:
        raise ValueError("layer_norm_forward: rms_scaling takes no beta")
    if not epsilon > 0.0:
        raise ValueError("layer_norm_forward: epsilon must be positive")
    if rows == 0 or d == 0:
        return
    t = np.dtype(x.dtype).type
    _layer_norm_forward[rows, _row_threads(d)](x, _or_dummy(gamma, 1), _or_dummy(beta, 1), out, t(epsilon), t(d),
                                                t(0.0), t(1.0), gamma.size != 0, beta.size != 0, bool(rms_scaling))


@kernel("void(F[:, ::1], F[::1], F[:, ::1], F[:, ::1], F[::1], F[::1], F, F, F, F, F, "
        "boolean, boolean, boolean, boolean, boolean)")
def _layer_norm_backward(x, gamma, dy, dx, dgamma, dbeta, eps, fd, inv_d, zero, one, has_gamma, want_dx, want_dg,
                         want_db, rms):
    buf = cuda.shared.array(_ROW_MAX, dtype=x.dtype)
    i = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    d = x.shape[1]
    mean, r = _row_stats(x, i, buf, eps, fd, zero, one)
    s_g = zero  # sum g (layer norm) or sum g x (rms)
    s_gx = zero  # sum g xhat
    for j in range(tid, d, nt):
        g = dy[i, j] * gamma[j] if has_gamma else dy[i, j]
        if rms:
            s_g += g * x[i, j]
        else:
            s_g += g
            s_gx += g * ((x[i, j] - mean) * r)
    s_g = _block_sum(buf, s_g)
    s_gx = _block_sum(buf, s_gx)
    for j in range(tid, d, nt):
        if want_dg:
            cuda.atomic.add(dgamma, j, dy[i, j] * (x[i, j] * r if rms else (x[i, j] - mean) * r))
        if want_db:
            cuda.atomic.add(dbeta, j, dy[i, j])
        if want_dx:
            g = dy[i, j] * gamma[j] if has_gamma else dy[i, j]
            if rms:
                dx[i, j] = r * g - r * r * r * (x[i, j] - mean) * inv_d * s_g
            else:
                xh = (x[i, j] - mean) * r
                dx[i, j] = r * (g - s_g * inv_d - xh * (s_gx * inv_d))


def layer_norm_backward(x, gamma, dy, dx, dgamma, dbeta, epsilon, rms_scaling, accumulate):
    """Gradients of layer normalization, as kernels.cpu.norm_ops.layer_norm_backward: one block per row for dx,
    dgamma / dbeta summed over rows with atomics (zeroed by a launch of their own unless ``accumulate``)."""
    rows, d = x.shape
    if dy.shape[0] != rows or dy.shape[1] != d:
        raise ValueError("layer_norm_backward: dy must have the shape of x")
    if dx.size != 0 and (dx.shape[0] != rows or dx.shape[1] != d):
        raise ValueError("layer_norm_backward: dx must have the shape of x or size 0")
    if gamma.size != 0 and gamma.size != d:
        raise ValueError("layer_norm_backward: gamma must have length 0 or D")
    if (dgamma.size != 0 and dgamma.size != d) or (dbeta.size != 0 and dbeta.size != d):
        raise ValueError("layer_norm_backward: dgamma and dbeta must have length 0 or D")
    if not epsilon > 0.0:
        raise ValueError("layer_norm_backward: epsilon must be positive")
    if not accumulate:
        for g in (dgamma, dbeta):
            if g.size:
                _zero[_launch.grid(g.size)](g)
    if rows == 0 or d == 0 or (dx.size == 0 and dgamma.size == 0 and dbeta.size == 0):
        return
    t = np.dtype(x.dtype).type
    _layer_norm_backward[rows, _row_threads(d)](
        x, _or_dummy(gamma, 1), dy, _or_dummy(dx, 2), _or_dummy(dgamma, 1), _or_dummy(dbeta, 1), t(epsilon), t(d),
        t(1.0) / t(d), t(0.0), t(1.0), gamma.size != 0, dx.size != 0, dgamma.size != 0, dbeta.size != 0,
        bool(rms_scaling))


# ------------------------------------------------------------------------------------------- unit normalization
@kernel("void(F[:, :, ::1], F[:, :, ::1], F, F, F)")
def _unit_norm_forward_rows(x, out, eps, zero, one):
    """C == 1: one block per row a, the sum of squares over K a block reduction."""
    buf = cuda.shared.array(_ROW_MAX, dtype=x.dtype)
    a = cuda.blockIdx.x
    k_ = x.shape[1]
    s = zero
    for k in range(cuda.threadIdx.x, k_, cuda.blockDim.x):
        s += x[a, k, 0] * x[a, k, 0]
    s = _block_sum(buf, s)
    inv = one / math.sqrt(s) if s > eps * eps else one / eps
    for k in range(cuda.threadIdx.x, k_, cuda.blockDim.x):
        out[a, k, 0] = x[a, k, 0] * inv


@kernel("void(F[:, :, ::1], F[:, :, ::1], F, F, F)")
def _unit_norm_forward_cols(x, out, eps, zero, one):
    """C > 1: one thread per column (a, c), looping over K."""
    t = cuda.grid(1)
    c_ = x.shape[2]
    if t < x.shape[0] * c_:
        a = t // c_
        c = t - a * c_
        s = zero
        for k in range(x.shape[1]):
            s += x[a, k, c] * x[a, k, c]
        inv = one / math.sqrt(s) if s > eps * eps else one / eps
        for k in range(x.shape[1]):
            out[a, k, c] = x[a, k, c] * inv


def unit_norm_forward(x, out, epsilon):
    """out = x * min(1 / sqrt(sum_k x^2), 1 / epsilon) along the middle axis of (A, K, C), as
    kernels.cpu.norm_ops.unit_norm_forward (a block per row when C == 1, else a thread per column)."""
    a_, k_, c_ = x.shape
    if out.shape[0] != a_ or out.shape[1] != k_ or out.shape[2] != c_:
        raise ValueError("unit_norm_forward: out must have the shape of x")
    if not epsilon > 0.0:
        raise ValueError("unit_norm_forward: epsilon must be positive")
    if x.size == 0:
        return
    t = np.dtype(x.dtype).type
    if c_ == 1:
        _unit_norm_forward_rows[a_, _row_threads(k_)](x, out, t(epsilon), t(0.0), t(1.0))
    else:
        _unit_norm_forward_cols[_launch.grid(a_ * c_)](x, out, t(epsilon), t(0.0), t(1.0))


@kernel("void(F[:, :, ::1], F[:, :, ::1], F[:, :, ::1], F, F, F)")
def _unit_norm_backward_rows(x, dy, dx, eps, zero, one):
    buf = cuda.shared.array(_ROW_MAX, dtype=x.dtype)
    a = cuda.blockIdx.x
    k_ = x.shape[1]
    s = zero
    p = zero
    for k in range(cuda.threadIdx.x, k_, cuda.blockDim.x):
        s += x[a, k, 0] * x[a, k, 0]
        p += dy[a, k, 0] * x[a, k, 0]
    s = _block_sum(buf, s)
    p = _block_sum(buf, p)
    if s > eps * eps:
        inv = one / math.sqrt(s)
        p = p * inv * inv
        for k in range(cuda.threadIdx.x, k_, cuda.blockDim.x):
            dx[a, k, 0] = inv * (dy[a, k, 0] - x[a, k, 0] * p)
    else:
        for k in range(cuda.threadIdx.x, k_, cuda.blockDim.x):
            dx[a, k, 0] = dy[a, k, 0] / eps


@kernel("void(F[:, :, ::1], F[:, :, ::1], F[:, :, ::1], F, F, F)")
def _unit_norm_backward_cols(x, dy, dx, eps, zero, one):
    t = cuda.grid(1)
    c_ = x.shape[2]
    if t < x.shape[0] * c_:
        a = t // c_
        c = t - a * c_
        s = zero
        for k in range(x.shape[1]):
            s += x[a, k, c] * x[a, k, c]
        if s > eps * eps:
            inv = one / math.sqrt(s)
            p = zero
            for k in range(x.shape[1]):
                p += dy[a, k, c] * x[a, k, c]
            p = p * inv * inv
            for k in range(x.shape[1]):
                dx[a, k, c] = inv * (dy[a, k, c] - x[a, k, c] * p)
        else:
            for k in range(x.shape[1]):
                dx[a, k, c] = dy[a, k, c] / eps


def unit_norm_backward(x, dy, dx, epsilon):
    """dx of unit normalization along the middle axis of (A, K, C), as kernels.cpu.norm_ops.unit_norm_backward.
    Skipped when dx has size 0."""
    if dx.size == 0:
        return
    a_, k_, c_ = x.shape
    if dy.shape[0] != a_ or dy.shape[1] != k_ or dy.shape[2] != c_:
        raise ValueError("unit_norm_backward: dy must have the shape of x")
    if dx.shape[0] != a_ or dx.shape[1] != k_ or dx.shape[2] != c_:
        raise ValueError("unit_norm_backward: dx must have the shape of x or size 0")
    if not epsilon > 0.0:
        raise ValueError("unit_norm_backward: epsilon must be positive")
    t = np.dtype(x.dtype).type
    if c_ == 1:
        _unit_norm_backward_rows[a_, _row_threads(k_)](x, dy, dx, t(epsilon), t(0.0), t(1.0))
    else:
        _unit_norm_backward_cols[_launch.grid(a_ * c_)](x, dy, dx, t(epsilon), t(0.0), t(1.0))


# ------------------------------------------------------------------------ standardization with given statistics
@device
def _denom(var, k, eps):
    d = math.sqrt(var[k])
    return max(d, eps)


@kernel("void(F[:, :, ::1], F[::1], F[::1], F[:, :, ::1], F, boolean)")
def _standardize_forward(x, mean, var, out, eps, invert):
    t = cuda.grid(1)
    k_, b_ = x.shape[1], x.shape[2]
    if t < x.shape[0] * k_ * b_:
        a = t // (k_ * b_)
        k = (t // b_) % k_
        b = t % b_
        denom = _denom(var, k, eps)
        if invert:
            out[a, k, b] = mean[k] + x[a, k, b] * denom
        else:
            out[a, k, b] = (x[a, k, b] - mean[k]) / denom


@kernel("void(F[::1], F[:, :, ::1], F[:, :, ::1], F, boolean)")
def _standardize_backward(var, dy, dx, eps, invert):
    t = cuda.grid(1)
    k_, b_ = dy.shape[1], dy.shape[2]
    if t < dy.shape[0] * k_ * b_:
        a = t // (k_ * b_)
        k = (t // b_) % k_
        b = t % b_
        denom = _denom(var, k, eps)
        dx[a, k, b] = dy[a, k, b] * denom if invert else dy[a, k, b] / denom


def standardize_forward(x, mean, var, out, epsilon, invert):
    """Keras's Normalization on x (A, K, B), as kernels.cpu.norm_ops.standardize_forward (one thread per element).
    A negative var gives NaN (sqrt), as on the CPU."""
    a_, k_, b_ = x.shape
    if out.shape[0] != a_ or out.shape[1] != k_ or out.shape[2] != b_:
        raise ValueError("standardize_forward: out must have the shape of x")
    if mean.shape[0] != k_ or var.shape[0] != k_:
        raise ValueError("standardize_forward: mean and var must have length K (x.shape[1])")
    if x.size:
        _standardize_forward[_launch.grid(x.size)](x, mean, var, out, np.dtype(out.dtype).type(epsilon),
                                                   bool(invert))


def standardize_backward(var, dy, dx, epsilon, invert):
    """dx = dy / max(sqrt(var_k), epsilon) (or dy * it), as kernels.cpu.norm_ops.standardize_backward. Skipped when
    dx has size 0."""
    if dx.size == 0:
        return
    a_, k_, b_ = dy.shape
    if dx.shape[0] != a_ or dx.shape[1] != k_ or dx.shape[2] != b_:
        raise ValueError("standardize_backward: dx must have the shape of dy or size 0")
    if var.shape[0] != k_:
        raise ValueError("standardize_backward: var must have length K (dy.shape[1])")
    _standardize_backward[_launch.grid(dx.size)](var, dy, dx, np.dtype(dx.dtype).type(epsilon), bool(invert))


# -------------------------------------------------------------------------------------------------- rescaling
@kernel("void(F[:, ::1], F[::1], F[::1], F[:, ::1])")
def _affine_forward(x, scale, offset, out):
    t = cuda.grid(1)
    c_ = x.shape[1]
    if t < x.shape[0] * c_:
        r = t // c_
        j = t - r * c_
        out[r, j] = x[r, j] * scale[j if scale.shape[0] == c_ else 0] + offset[j if offset.shape[0] == c_ else 0]


@kernel("void(F[::1], F[:, ::1], F[:, ::1])")
def _affine_backward(scale, dy, dx):
    t = cuda.grid(1)
    c_ = dy.shape[1]
    if t < dy.shape[0] * c_:
        r = t // c_
        j = t - r * c_
        dx[r, j] = dy[r, j] * scale[j if scale.shape[0] == c_ else 0]


def affine_forward(x, scale, offset, out):
    """out = x * scale + offset (per column or one value), as kernels.cpu.norm_ops.affine_forward."""
    rows, c_ = x.shape
    if out.shape[0] != rows or out.shape[1] != c_:
        raise ValueError("affine_forward: out must have the shape of x")
    if (scale.shape[0] != c_ and scale.shape[0] != 1) or (offset.shape[0] != c_ and offset.shape[0] != 1):
        raise ValueError("affine_forward: scale and offset must have length 1 or C (x.shape[1])")
    if x.size:
        _affine_forward[_launch.grid(x.size)](x, scale, offset, out)


def affine_backward(scale, dy, dx):
    """dx = dy * scale, as kernels.cpu.norm_ops.affine_backward. Skipped when dx has size 0."""
    if dx.size == 0:
        return
    rows, c_ = dy.shape
    if dx.shape[0] != rows or dx.shape[1] != c_:
        raise ValueError("affine_backward: dx must have the shape of dy or size 0")
    if scale.shape[0] != c_ and scale.shape[0] != 1:
        raise ValueError("affine_backward: scale must have length 1 or C (dy.shape[1])")
    _affine_backward[_launch.grid(dx.size)](scale, dy, dx)


@kernel("void(F[::1], int64, int64, F, F, F, F, F, F, F, F)")
def _set_values(out, start, count, v0, v1, v2, v3, v4, v5, v6, v7):
    i = cuda.threadIdx.x
    if i < count:
        if i == 0:
            v = v0
        elif i == 1:
            v = v1
        elif i == 2:
            v = v2
        elif i == 3:
            v = v3
        elif i == 4:
            v = v4
        elif i == 5:
            v = v5
        elif i == 6:
            v = v6
        else:
            v = v7
        out[start + i] = v


def set_values(out, start, count, v0, v1, v2, v3, v4, v5, v6, v7):
    """out[start:start + count] = (v0, ..., v7)[:count], as kernels.cpu.norm_ops.set_values: one launch of a
    single block of 8 threads (the values travel as kernel arguments, rounded to out's dtype on the host)."""
    if count < 0 or count > 8 or start < 0 or start + count > out.shape[0]:
        raise ValueError("set_values: count must be in [0, 8] and the values must fit in out")
    if count:
        t = np.dtype(out.dtype).type
        _set_values[1, 8](out, int(start), int(count), *(t(v) for v in (v0, v1, v2, v3, v4, v5, v6, v7)))
