"""CUDA twin of kernels/cpu/pooling.py: max and average pooling over 2-D windows and global pooling.

Shapes, formulas and argument meanings are the CPU module's (channels-last, explicit front pads, OH/OW through
out's shape, the average divided by the window's count of valid positions, max pooling's first-maximum / NaN rule
and its argmax as a float array of spatial indices). How they run here:

    max/avg pool forward   one thread per output element (n, i, j, c), c fastest (coalesced), scanning the
                           window's valid positions in the CPU's row-major order (same sums, same ties).
    avg pool backward      one thread per dx element gathering dy / count from the windows that contain it, in
                           the CPU's window order: one launch, no atomics.
    max pool backward      zero dx, then one thread per dy element adds its gradient at argmax with an atomic
                           add (windows may overlap; the backward has no window geometry to gather with).
    global pool forward    blocks of 32 channels x 8 lanes per image: each lane scans every 8th position, the
                           lanes' partial sums / (max, first index) are combined in shared memory.
    global pool backward   one thread per dx element (a gather; no atomics).

Differences from the CPU kernels: argmax values are not checked on the host (that would copy argmax back each
call). max_pool2d_backward drops the gradient of an entry that is not a whole number in [0, H*W) (NaN included)
and global_max_pool_backward leaves that column of dx zero, where the CPU kernels raise ValueError; a forward
pass's argmax is always valid. max_pool2d_backward sums overlapping windows' gradients by atomic adds, in no fixed
order.
"""

import math

import numpy as np
from numba import cuda

from . import _launch
from ._launch import kernel

#: Lanes (threadIdx.y) that split the positions of a global pooling; threadIdx.x covers 32 channels.
LANES = 8


# --------------------------------------------------------------------------------------------- host checks


def _index_space_ok(argmax, positions):
    limit = 2**24 if np.dtype(argmax.dtype).itemsize == 4 else 2**53
    return positions <= limit


def _windows_fit(size, out_size, pool, stride, pad):
    if pool < 1 or stride < 1 or pad < 0 or pad >= pool or out_size < 0:
        return False
    if out_size == 0:
        return True
    return size >= 1 and (out_size - 1) * stride - pad <= size - 1


def _pool_shapes_ok(x, out, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    if x.shape[0] != out.shape[0] or x.shape[3] != out.shape[3]:
        return False
    return (_windows_fit(x.shape[1], out.shape[1], pool_h, stride_h, pad_top)
            and _windows_fit(x.shape[2], out.shape[2], pool_w, stride_w, pad_left))


def _pool_args(pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    return int(pool_h), int(pool_w), int(stride_h), int(stride_w), int(pad_top), int(pad_left)


# ------------------------------------------------------------------------------------------ window pooling

_POOL = "int64, int64, int64, int64, int64, int64"  # pool_h, pool_w, stride_h, stride_w, pad_top, pad_left


@kernel("void(F[:, :, :, ::1], F[:, :, :, ::1], F[:, :, :, ::1], " + _POOL + ")")
def _max_pool_forward(x, out, argmax, ph, pw, sh, sw, pt, pl):
    t = cuda.grid(1)
    nn, oh, ow, nc = out.shape
    if t >= nn * oh * ow * nc:
        return
    h_, w_ = x.shape[1], x.shape[2]
    c = t % nc
    r = t // nc
    j = r % ow
    r = r // ow
    i = r % oh
    n = r // oh
    h0 = i * sh - pt
    w0 = j * sw - pl
    hs, he = max(h0, 0), min(h0 + ph, h_)
    ws, we = max(w0, 0), min(w0 + pw, w_)
    if hs >= he or ws >= we:
        return  # no valid position (the host's geometry check rules this out); the CPU writes nothing either
    m = x[n, hs, ws, c]
    at = hs * w_ + ws
    for h in range(hs, he):
        for w in range(ws, we):
            v = x[n, h, w, c]
            if v > m or (math.isnan(v) and not math.isnan(m)):
                m = v
                at = h * w_ + w
    out[n, i, j, c] = m
    argmax[n, i, j, c] = at


@kernel("void(F[::1])")
def _zero(a):
    t = cuda.grid(1)
    if t < a.shape[0]:
        a[t] = a.dtype.type(0.0)


@kernel("void(F[:, :, :, ::1], F[:, :, :, ::1], F[:, :, :, ::1])")
def _max_pool_scatter(argmax, dy, dx):
    """dx[n, p // W, p % W, c] += dy[n, i, j, c] for p = argmax[n, i, j, c] when p is whole and in [0, H*W)."""
    t = cuda.grid(1)
    nn, oh, ow, nc = dy.shape
    if t >= nn * oh * ow * nc:
        return
    w_ = dx.shape[2]
    c = t % nc
    r = t // nc
    j = r % ow
    r = r // ow
    i = r % oh
    n = r // oh
    p = argmax[n, i, j, c]
    if p >= 0 and p < dx.shape[1] * w_ and math.floor(p) == p:  # NaN fails every test
        e = int(p)
        h = e // w_
        cuda.atomic.add(dx, (n, h, e - h * w_, c), dy[n, i, j, c])


@kernel("void(F[:, :, :, ::1], F[:, :, :, ::1], " + _POOL + ")")
def _avg_pool_forward(x, out, ph, pw, sh, sw, pt, pl):
    t = cuda.grid(1)
    nn, oh, ow, nc = out.shape
    if t >= nn * oh * ow * nc:
        return
    h_, w_ = x.shape[1], x.shape[2]
    c = t % nc
    r = t // nc
    j = r % ow
    r = r // ow
    i = r % oh
    n = r // oh
    h0 = i * sh - pt
    w0 = j * sw - pl
    hs, he = max(h0, 0), min(h0 + ph, h_)
    ws, we = max(w0, 0), min(w0 + pw, w_)
    acc = out.dtype.type(0.0)
    for h in range(hs, he):
        for w in range(ws, we):
            acc += x[n, h, w, c]
    out[n, i, j, c] = acc / out.dtype.type((he - hs) * (we - ws))


@kernel("void(F[:, :, :, ::1], F[:, :, :, ::1], " + _POOL + ")")
def _avg_pool_backward(dy, dx, ph, pw, sh, sw, pt, pl):
    """dx[n, y, z, c] = sum over the windows (i, j) holding (y, z), in row-major order, of dy[n, i, j, c] / their
    valid counts."""
    t = cuda.grid(1)
    nn, h_, w_, nc = dx.shape
    if t >= nn * h_ * w_ * nc:
        return
    oh, ow = dy.shape[1], dy.shape[2]
    c = t % nc
    r = t // nc
    z = r % w_
    r = r // w_
    y = r % h_
    n = r // h_
    # windows i with i*sh - pt <= y <= i*sh - pt + ph - 1
    lo = y + pt - ph + 1
    i0 = 0 if lo <= 0 else (lo + sh - 1) // sh
    i1 = min(oh - 1, (y + pt) // sh)
    lo = z + pl - pw + 1
    j0 = 0 if lo <= 0 else (lo + sw - 1) // sw
    j1 = min(ow - 1, (z + pl) // sw)
    acc = dx.dtype.type(0.0)
    for i in range(i0, i1 + 1):
        h0 = i * sh - pt
        rows = min(h0 + ph, h_) - max(h0, 0)
        for j in range(j0, j1 + 1):
            w0 = j * sw - pl
            count = rows * (min(w0 + pw, w_) - max(w0, 0))
            acc += dy[n, i, j, c] / dx.dtype.type(count)
    dx[n, y, z, c] = acc


def max_pool2d_forward(x, out, argmax, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    """out = window maxima and argmax = their spatial indices h * W + w, as kernels.cpu.pooling.max_pool2d_forward
    (first maximum wins, a NaN wins). One launch, a thread per output element."""
    if tuple(argmax.shape) != tuple(out.shape):
        raise ValueError("max_pool2d_forward: argmax must have the shape of out")
    if not _pool_shapes_ok(x, out, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
        raise ValueError("max_pool2d_forward: x, out and the pool geometry do not agree")
    if not _index_space_ok(argmax, x.shape[1] * x.shape[2]):
        raise ValueError("max_pool2d_forward: H * W exceeds the integers argmax's dtype holds exactly")
    if out.size:
        _max_pool_forward[_launch.grid(out.size)](
            x, out, argmax, *_pool_args(pool_h, pool_w, stride_h, stride_w, pad_top, pad_left))


def max_pool2d_backward(argmax, dy, dx):
    """dx = 0, then dx at argmax += dy, as kernels.cpu.pooling.max_pool2d_backward (skipped when dx has size 0).

    Two launches (zero, then an atomic scatter per dy element). argmax values are not checked on the host: an
    entry that is not a whole number in [0, H*W) has its gradient dropped, where the CPU kernel raises."""
    if dx.size == 0:
        return
    if tuple(argmax.shape) != tuple(dy.shape):
        raise ValueError("max_pool2d_backward: argmax must have the shape of dy")
    if dx.shape[0] != dy.shape[0] or dx.shape[3] != dy.shape[3]:
        raise ValueError("max_pool2d_backward: dx and dy disagree in batch or channels")
    if dx.shape[1] * dx.shape[2] >= 2**31:
        raise ValueError("max_pool2d_backward: more than 2**31 positions per image")
    _zero[_launch.grid(dx.size)](dx.reshape(dx.size))
    if dy.size:
        _max_pool_scatter[_launch.grid(dy.size)](argmax, dy, dx)


def avg_pool2d_forward(x, out, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    """out = window sums / valid counts, as kernels.cpu.pooling.avg_pool2d_forward. One launch."""
    if not _pool_shapes_ok(x, out, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
        raise ValueError("avg_pool2d_forward: x, out and the pool geometry do not agree")
    if out.size:
        _avg_pool_forward[_launch.grid(out.size)](
            x, out, *_pool_args(pool_h, pool_w, stride_h, stride_w, pad_top, pad_left))


def avg_pool2d_backward(dy, dx, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    """dx = dy spread over each window / its valid count, as kernels.cpu.pooling.avg_pool2d_backward (skipped when
    dx has size 0). One launch, a gather per dx element (no atomics)."""
    if dx.size == 0:
        return
    if not _pool_shapes_ok(dx, dy, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
        raise ValueError("avg_pool2d_backward: dy, dx and the pool geometry do not agree")
    _avg_pool_backward[_launch.grid(dx.size)](
        dy, dx, *_pool_args(pool_h, pool_w, stride_h, stride_w, pad_top, pad_left))


# ------------------------------------------------------------------------------------------ global pooling


@kernel("void(F[:, :, ::1], F[:, ::1])")
def _global_avg_forward(x, out):
    """Block (32, LANES) for channels blockIdx.x*32 .. +31 of image blockIdx.y: lane ty sums positions ty,
    ty + LANES, ...; lane 0 adds the lanes' sums in order and divides by S."""
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    n = cuda.blockIdx.y
    c = cuda.blockIdx.x * 32 + tx
    s_, nc = x.shape[1], x.shape[2]
    part = cuda.shared.array((LANES, 32), dtype=out.dtype)
    acc = out.dtype.type(0.0)
    if c < nc:
        for s in range(ty, s_, LANES):
            acc += x[n, s, c]
    part[ty, tx] = acc
    cuda.syncthreads()
    if ty == 0 and c < nc:
        for lane in range(1, LANES):
            acc += part[lane, tx]
        out[n, c] = acc / out.dtype.type(s_)


@kernel("void(F[:, ::1], F[:, :, ::1])")
def _global_avg_backward(dy, dx):
    t = cuda.grid(1)
    nn, s_, nc = dx.shape
    if t >= nn * s_ * nc:
        return
    c = t % nc
    n = t // (nc * s_)
    dx[n, (t // nc) % s_, c] = dy[n, c] / dx.dtype.type(s_)


@kernel("void(F[:, :, ::1], F[:, ::1], F[:, ::1])")
def _global_max_forward(x, out, argmax):
    """Block (32, LANES) as _global_avg_forward: lane ty finds the first maximum (a NaN wins, the first NaN stays)
    of positions ty, ty + LANES, ...; lane 0 combines the lanes' (value, position) pairs by the same rule with the
    smaller position winning ties, which is the first maximum over all positions."""
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    n = cuda.blockIdx.y
    c = cuda.blockIdx.x * 32 + tx
    s_, nc = x.shape[1], x.shape[2]
    vals = cuda.shared.array((LANES, 32), dtype=out.dtype)
    where = cuda.shared.array((LANES, 32), dtype=np.int64)
    m = out.dtype.type(0.0)
    at = -1  # no position seen (S < LANES)
    if c < nc and ty < s_:
        m = x[n, ty, c]
        at = ty
        for s in range(ty + LANES, s_, LANES):
            v = x[n, s, c]
            if v > m or (math.isnan(v) and not math.isnan(m)):
                m = v
                at = s
    vals[ty, tx] = m
    where[ty, tx] = at
    cuda.syncthreads()
    if ty == 0 and c < nc and at >= 0:
        for lane in range(1, LANES):
            s = where[lane, tx]
            if s < 0:
                continue
            v = vals[lane, tx]
            if math.isnan(m):
                take = math.isnan(v) and s < at
            elif math.isnan(v):
                take = True
            else:
                take = v > m or (v == m and s < at)
            if take:
                m = v
                at = s
        out[n, c] = m
        argmax[n, c] = at


@kernel("void(F[:, ::1], F[:, ::1], F[:, :, ::1])")
def _global_max_backward(argmax, dy, dx):
    """dx[n, s, c] = dy[n, c] where s == argmax[n, c], else 0 (a gather: every element written once)."""
    t = cuda.grid(1)
    nn, s_, nc = dx.shape
    if t >= nn * s_ * nc:
        return
    c = t % nc
    s = (t // nc) % s_
    n = t // (nc * s_)
    if argmax[n, c] == s:
        dx[n, s, c] = dy[n, c]
    else:
        dx[n, s, c] = dx.dtype.type(0.0)


def _global_grid(n, c):
    return (math.ceil(c / 32), n), (32, LANES)


def global_avg_pool_forward(x, out):
    """out[n, c] = mean over s of x[n, s, c], as kernels.cpu.pooling.global_avg_pool_forward. One launch, a
    shared-memory reduction per (32 channels, image)."""
    if x.shape[0] != out.shape[0] or x.shape[2] != out.shape[1]:
        raise ValueError("global_avg_pool_forward: out must be (N, C) for x (N, S, C)")
    if x.shape[1] < 1 and x.shape[0] * x.shape[2] > 0:
        raise ValueError("global_avg_pool_forward: x has no spatial positions")
    if out.size:
        _global_avg_forward[_global_grid(x.shape[0], x.shape[2])](x, out)


def global_avg_pool_backward(dy, dx):
    """dx[n, s, c] = dy[n, c] / S, as kernels.cpu.pooling.global_avg_pool_backward (skipped when dx has size 0)."""
    if dx.size == 0:
        return
    if dx.shape[0] != dy.shape[0] or dx.shape[2] != dy.shape[1]:
        raise ValueError("global_avg_pool_backward: dy must be (N, C) for dx (N, S, C)")
    _global_avg_backward[_launch.grid(dx.size)](dy, dx)


def global_max_pool_forward(x, out, argmax):
    """out[n, c] = max over s of x[n, s, c], argmax[n, c] = the first s attaining it (a NaN wins), as
    kernels.cpu.pooling.global_max_pool_forward. One launch."""
    if x.shape[0] != out.shape[0] or x.shape[2] != out.shape[1]:
        raise ValueError("global_max_pool_forward: out must be (N, C) for x (N, S, C)")
    if argmax.shape[0] != out.shape[0] or argmax.shape[1] != out.shape[1]:
        raise ValueError("global_max_pool_forward: argmax must have the shape of out")
    if x.shape[1] < 1 and x.shape[0] * x.shape[2] > 0:
        raise ValueError("global_max_pool_forward: x has no spatial positions")
    if not _index_space_ok(argmax, x.shape[1]):
        raise ValueError("global_max_pool_forward: S exceeds the integers argmax's dtype holds exactly")
    if x.shape[1] == 0 or out.size == 0:
        return
    _global_max_forward[_global_grid(x.shape[0], x.shape[2])](x, out, argmax)


def global_max_pool_backward(argmax, dy, dx):
    """dx = 0 except dx[n, argmax[n, c], c] = dy[n, c], as kernels.cpu.pooling.global_max_pool_backward (skipped
    when dx has size 0). One launch. argmax is not checked on the host: a column whose entry is not a position
    in [0, S) gets zeros, where the CPU kernel raises."""
    if dx.size == 0:
        return
    if argmax.shape[0] != dy.shape[0] or argmax.shape[1] != dy.shape[1]:
        raise ValueError("global_max_pool_backward: argmax must have the shape of dy")
    if dx.shape[0] != dy.shape[0] or dx.shape[2] != dy.shape[1]:
        raise ValueError("global_max_pool_backward: dy must be (N, C) for dx (N, S, C)")
    _global_max_backward[_launch.grid(dx.size)](argmax, dy, dx)
