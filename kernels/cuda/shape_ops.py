"""CUDA twin of kernels/cpu/shape_ops.py: zero padding, cropping, upsampling, permutation and dropout.

Same functions, arguments and meanings as the CPU module. Every kernel here is one thread per element of the array
it writes, consecutive threads on consecutive channels (coalesced). Backward passes that the CPU writes as
"zero, then scatter" are gathers on the device (each dx element finds the dy elements that read it), so they need
no zeroing launch and no atomics: crop and pad backward, nearest upsampling's block sum, and bilinear
upsampling's backward, which visits the output rows and columns within one input pixel of its own (the only ones
whose interpolation can read it) and adds the forward's weights in the CPU's order.
"""

import math

import numpy as np
from numba import cuda

from . import _launch
from ._launch import device, kernel

_A4 = "F[:, :, :, ::1]"
_A3 = "F[:, :, ::1]"
_V = "F[::1]"

_DUMMIES = {}


def _or_dummy(a, ndim):
    """``a``, or when it has size 0 a cached one-element device array of its dtype with ``ndim`` axes."""
    if a.size != 0:
        return a
    key = (np.dtype(a.dtype).str, ndim)
    if key not in _DUMMIES:
        _DUMMIES[key] = cuda.device_array((1,) * ndim, dtype=a.dtype)
    return _DUMMIES[key]


@device
def _nhwc(t, a):
    """(n, h, w, c) of flat index t in the C-ordered 4-D array a."""
    c_ = a.shape[3]
    w_ = a.shape[2]
    h_ = a.shape[1]
    c = t % c_
    r = t // c_
    w = r % w_
    r = r // w_
    return r // h_, r % h_, w, c


# ---------------------------------------------------------------------------------------------- zero padding
@kernel(f"void({_A4}, {_A4}, int64, int64)")
def _zero_pad2d_forward(x, out, pad_top, pad_left):
    t = cuda.grid(1)
    if t < out.size:
        n, i, j, c = _nhwc(t, out)
        h = i - pad_top
        w = j - pad_left
        if 0 <= h < x.shape[1] and 0 <= w < x.shape[2]:
            out[n, i, j, c] = x[n, h, w, c]
        else:
            out[n, i, j, c] = 0.0


@kernel(f"void({_A4}, {_A4}, int64, int64)")
def _zero_pad2d_backward(dy, dx, pad_top, pad_left):
    t = cuda.grid(1)
    if t < dx.size:
        n, h, w, c = _nhwc(t, dx)
        dx[n, h, w, c] = dy[n, h + pad_top, w + pad_left, c]


def zero_pad2d_forward(x, out, pad_top, pad_left):
    """out = 0 around x placed at (pad_top, pad_left), as kernels.cpu.shape_ops.zero_pad2d_forward."""
    n_, h_, w_, c_ = x.shape
    if out.shape[0] != n_ or out.shape[3] != c_:
        raise ValueError("zero_pad2d_forward: x and out disagree in batch or channels")
    if pad_top < 0 or pad_left < 0 or out.shape[1] < h_ + pad_top or out.shape[2] < w_ + pad_left:
        raise ValueError("zero_pad2d_forward: out is too small for x and the padding")
    if out.size:
        _zero_pad2d_forward[_launch.grid(out.size)](x, out, int(pad_top), int(pad_left))


def zero_pad2d_backward(dy, dx, pad_top, pad_left):
    """dx = dy[:, pad_top:pad_top + H, pad_left:pad_left + W, :], as kernels.cpu.shape_ops.zero_pad2d_backward.
    Skipped when dx has size 0."""
    if dx.size == 0:
        return
    n_, h_, w_, c_ = dx.shape
    if dy.shape[0] != n_ or dy.shape[3] != c_:
        raise ValueError("zero_pad2d_backward: dy and dx disagree in batch or channels")
    if pad_top < 0 or pad_left < 0 or dy.shape[1] < h_ + pad_top or dy.shape[2] < w_ + pad_left:
        raise ValueError("zero_pad2d_backward: dy is too small for dx and the padding")
    _zero_pad2d_backward[_launch.grid(dx.size)](dy, dx, int(pad_top), int(pad_left))


# ---------------------------------------------------------------------------------------------- cropping
@kernel(f"void({_A4}, {_A4}, int64, int64)")
def _crop2d_forward(x, out, crop_top, crop_left):
    t = cuda.grid(1)
    if t < out.size:
        n, i, j, c = _nhwc(t, out)
        out[n, i, j, c] = x[n, i + crop_top, j + crop_left, c]


@kernel(f"void({_A4}, {_A4}, int64, int64)")
def _crop2d_backward(dy, dx, crop_top, crop_left):
    t = cuda.grid(1)
    if t < dx.size:
        n, h, w, c = _nhwc(t, dx)
        i = h - crop_top
        j = w - crop_left
        if 0 <= i < dy.shape[1] and 0 <= j < dy.shape[2]:
            dx[n, h, w, c] = dy[n, i, j, c]
        else:
            dx[n, h, w, c] = 0.0


def crop2d_forward(x, out, crop_top, crop_left):
    """out = x[:, crop_top:crop_top + OH, crop_left:crop_left + OW, :], as kernels.cpu.shape_ops.crop2d_forward."""
    n_, oh, ow, c_ = out.shape
    if x.shape[0] != n_ or x.shape[3] != c_:
        raise ValueError("crop2d_forward: x and out disagree in batch or channels")
    if crop_top < 0 or crop_left < 0 or crop_top + oh > x.shape[1] or crop_left + ow > x.shape[2]:
        raise ValueError("crop2d_forward: the crop does not fit inside x")
    if out.size:
        _crop2d_forward[_launch.grid(out.size)](x, out, int(crop_top), int(crop_left))


def crop2d_backward(dy, dx, crop_top, crop_left):
    """dx = 0 outside the kept window, dy inside it, as kernels.cpu.shape_ops.crop2d_backward. Skipped when dx has
    size 0."""
    if dx.size == 0:
        return
    n_, oh, ow, c_ = dy.shape
    if dx.shape[0] != n_ or dx.shape[3] != c_:
        raise ValueError("crop2d_backward: dy and dx disagree in batch or channels")
    if crop_top < 0 or crop_left < 0 or crop_top + oh > dx.shape[1] or crop_left + ow > dx.shape[2]:
        raise ValueError("crop2d_backward: the crop does not fit inside dx")
    _crop2d_backward[_launch.grid(dx.size)](dy, dx, int(crop_top), int(crop_left))


# ---------------------------------------------------------------------------------------------- upsampling
def _upsample_shapes_ok(x, out, size_h, size_w):
    return (size_h >= 1 and size_w >= 1 and out.shape[0] == x.shape[0] and out.shape[3] == x.shape[3]
            and out.shape[1] == x.shape[1] * size_h and out.shape[2] == x.shape[2] * size_w)


@kernel(f"void({_A4}, {_A4}, int64, int64)")
def _upsample2d_nearest_forward(x, out, size_h, size_w):
    t = cuda.grid(1)
    if t < out.size:
        n, i, j, c = _nhwc(t, out)
        out[n, i, j, c] = x[n, i // size_h, j // size_w, c]


@kernel(f"void({_A4}, {_A4}, int64, int64)")
def _upsample2d_nearest_backward(dy, dx, size_h, size_w):
    t = cuda.grid(1)
    if t < dx.size:
        n, h, w, c = _nhwc(t, dx)
        acc = dy[n, h * size_h, w * size_w, c]
        for q in range(1, size_h * size_w):
            acc += dy[n, h * size_h + q // size_w, w * size_w + q % size_w, c]
        dx[n, h, w, c] = acc


def upsample2d_nearest_forward(x, out, size_h, size_w):
    """out[n, i, j, c] = x[n, i // size_h, j // size_w, c], as kernels.cpu.shape_ops.upsample2d_nearest_forward."""
    if not _upsample_shapes_ok(x, out, size_h, size_w):
        raise ValueError("upsample2d_nearest_forward: out must be (N, H * size_h, W * size_w, C)")
    if out.size:
        _upsample2d_nearest_forward[_launch.grid(out.size)](x, out, int(size_h), int(size_w))


def upsample2d_nearest_backward(dy, dx, size_h, size_w):
    """dx = the sum of dy over each size_h x size_w block, as kernels.cpu.shape_ops.upsample2d_nearest_backward
    (one thread per dx element summing its block in the CPU's order). Skipped when dx has size 0."""
    if dx.size == 0:
        return
    if not _upsample_shapes_ok(dx, dy, size_h, size_w):
        raise ValueError("upsample2d_nearest_backward: dy must be (N, H * size_h, W * size_w, C)")
    _upsample2d_nearest_backward[_launch.grid(dx.size)](dy, dx, int(size_h), int(size_w))


@device
def _linear_source(o, factor, size):
    """(i0, i1, frac) of output o along an axis upsampled by ``factor`` from ``size`` (as the CPU's
    _linear_source: half-pixel centres, clamped to the input, in float64)."""
    s = (o + 0.5) / factor - 0.5
    s = min(max(s, 0.0), size - 1.0)
    i0 = int(math.floor(s))  # noqa: RUF046 - a float on the CUDA target
    i1 = min(i0 + 1, size - 1)
    return i0, i1, s - i0


@kernel(f"void({_A4}, {_A4}, int64, int64, F)")
def _upsample2d_bilinear_forward(x, out, size_h, size_w, one):
    t = cuda.grid(1)
    if t < out.size:
        n, i, j, c = _nhwc(t, out)
        h0, h1, fh64 = _linear_source(i, size_h, x.shape[1])
        w0, w1, fw64 = _linear_source(j, size_w, x.shape[2])
        f = cuda.local.array(2, dtype=x.dtype)  # the fractions rounded to the arrays' dtype, as the CPU's t(frac)
        f[0] = fh64
        f[1] = fw64
        fh = f[0]
        fw = f[1]
        out[n, i, j, c] = ((one - fh) * (one - fw) * x[n, h0, w0, c] + (one - fh) * fw * x[n, h0, w1, c]
                           + fh * (one - fw) * x[n, h1, w0, c] + fh * fw * x[n, h1, w1, c])


@kernel(f"void({_A4}, {_A4}, int64, int64, F, F)")
def _upsample2d_bilinear_backward(dy, dx, size_h, size_w, zero, one):
    t = cuda.grid(1)
    if t < dx.size:
        n, h, w, c = _nhwc(t, dx)
        h_ = dx.shape[1]
        w_ = dx.shape[2]
        f = cuda.local.array(2, dtype=dx.dtype)
        acc = zero
        # Output rows i whose sources (h0, h1) can include h lie in [(h - 1) size_h, (h + 2) size_h); likewise j.
        for i in range(max(0, (h - 1) * size_h), min(dy.shape[1], (h + 2) * size_h)):
            h0, h1, fh64 = _linear_source(i, size_h, h_)
            if h0 != h and h1 != h:
                continue
            for j in range(max(0, (w - 1) * size_w), min(dy.shape[2], (w + 2) * size_w)):
                w0, w1, fw64 = _linear_source(j, size_w, w_)
                if w0 != w and w1 != w:
                    continue
                f[0] = fh64
                f[1] = fw64
                fh = f[0]
                fw = f[1]
                g = dy[n, i, j, c]
                if h0 == h and w0 == w:
                    acc += (one - fh) * (one - fw) * g
                if h0 == h and w1 == w:
                    acc += (one - fh) * fw * g
                if h1 == h and w0 == w:
                    acc += fh * (one - fw) * g
                if h1 == h and w1 == w:
                    acc += fh * fw * g
        dx[n, h, w, c] = acc


def upsample2d_bilinear_forward(x, out, size_h, size_w):
    """Bilinear upsampling by integer factors with half-pixel centres, as
    kernels.cpu.shape_ops.upsample2d_bilinear_forward (one thread per output element)."""
    if not _upsample_shapes_ok(x, out, size_h, size_w):
        raise ValueError("upsample2d_bilinear_forward: out must be (N, H * size_h, W * size_w, C)")
    if out.size:
        _upsample2d_bilinear_forward[_launch.grid(out.size)](x, out, int(size_h), int(size_w),
                                                             np.dtype(out.dtype).type(1.0))


def upsample2d_bilinear_backward(dy, dx, size_h, size_w):
    """The adjoint of bilinear upsampling, as kernels.cpu.shape_ops.upsample2d_bilinear_backward, as a gather: each
    dx element sums the weighted dy elements that read it (the module docstring). Skipped when dx has size 0."""
    if dx.size == 0:
        return
    if not _upsample_shapes_ok(dx, dy, size_h, size_w):
        raise ValueError("upsample2d_bilinear_backward: dy must be (N, H * size_h, W * size_w, C)")
    t = np.dtype(dx.dtype).type
    _upsample2d_bilinear_backward[_launch.grid(dx.size)](dy, dx, int(size_h), int(size_w), t(0.0), t(1.0))


# ---------------------------------------------------------------------------------------------- permute
def _permute_plan(a_size, b_size, d0, d1, d2, d3, p0, p1, p2, p3):
    """(samples, sample size, out dims, input strides per out axis), samples -1 when the arguments disagree (the
    CPU's _permute_plan, on the host)."""
    dims, perm = (d0, d1, d2, d3), (p0, p1, p2, p3)
    bad = -1, 0, (1, 1, 1, 1), (0, 0, 0, 0)
    if a_size != b_size or any(d < 0 for d in dims) or any(perm.count(k) != 1 for k in range(4)):
        return bad
    size = d0 * d1 * d2 * d3
    if size == 0:
        return (0, 0, (1, 1, 1, 1), (0, 0, 0, 0)) if a_size == 0 else bad
    if a_size % size:
        return bad
    istride = (d1 * d2 * d3, d2 * d3, d3, 1)
    return a_size // size, size, tuple(dims[p] for p in perm), tuple(istride[p] for p in perm)


_PLAN = ", ".join(["int64"] * 10)


@device
def _permute_source(e, size, od0, od1, od2, od3, os0, os1, os2, os3):
    """The input offset of flat output element e."""
    n = e // size
    r = e - n * size
    i3 = r % od3
    r = r // od3
    i2 = r % od2
    r = r // od2
    i1 = r % od1
    i0 = r // od1
    return n * size + i0 * os0 + i1 * os1 + i2 * os2 + i3 * os3


@kernel(f"void({_V}, {_V}, {_PLAN})")
def _permute_forward(x, out, samples, size, od0, od1, od2, od3, os0, os1, os2, os3):
    e = cuda.grid(1)
    if e < samples * size:
        out[e] = x[_permute_source(e, size, od0, od1, od2, od3, os0, os1, os2, os3)]


@kernel(f"void({_V}, {_V}, {_PLAN})")
def _permute_backward(dy, dx, samples, size, od0, od1, od2, od3, os0, os1, os2, os3):
    e = cuda.grid(1)
    if e < samples * size:
        dx[_permute_source(e, size, od0, od1, od2, od3, os0, os1, os2, os3)] = dy[e]


def permute_forward(x, out, d0, d1, d2, d3, p0, p1, p2, p3):
    """Each sample transposed by perm, as kernels.cpu.shape_ops.permute_forward (one thread per output element,
    reading its source; the plan is computed on the host)."""
    samples, size, od, ostride = _permute_plan(x.size, out.size, d0, d1, d2, d3, p0, p1, p2, p3)
    if samples < 0:
        raise ValueError("permute_forward: dims, perm and the array sizes do not agree")
    if samples * size:
        _permute_forward[_launch.grid(samples * size)](x, out, int(samples), int(size), *map(int, od + ostride))


def permute_backward(dy, dx, d0, d1, d2, d3, p0, p1, p2, p3):
    """dx_sample = dy_sample.transpose(inverse of perm), as kernels.cpu.shape_ops.permute_backward (one thread per
    dy element, writing its one destination). Skipped when dx has size 0."""
    if dx.size == 0:
        return
    samples, size, od, ostride = _permute_plan(dy.size, dx.size, d0, d1, d2, d3, p0, p1, p2, p3)
    if samples < 0:
        raise ValueError("permute_backward: dims, perm and the array sizes do not agree")
    if samples * size:
        _permute_backward[_launch.grid(samples * size)](dy, dx, int(samples), int(size), *map(int, od + ostride))


# ---------------------------------------------------------------------------------------------- dropout
@kernel(f"void({_V}, {_V}, F, F, boolean, boolean, {_V})")
def _dropout(x, u, keep, r, training, drop_all, out):
    i = cuda.grid(1)
    if i < out.shape[0]:
        if not training:
            out[i] = x[i]
        elif drop_all:
            out[i] = 0.0
        else:
            out[i] = x[i] / keep if u[i] >= r else 0.0


def _dropout_args(dtype, rate):
    t = np.dtype(dtype).type
    return t(1.0 - rate), t(rate), bool(rate >= 1.0)


def dropout_forward(x, u, rate, training, out):
    """Inverted dropout on flat views, as kernels.cpu.shape_ops.dropout_forward (one thread per element)."""
    if out.shape[0] != x.shape[0] or (training and u.shape[0] != x.shape[0]):
        raise ValueError("dropout_forward: x, u and out must have one length")
    if not (rate >= 0.0 and rate <= 1.0):
        raise ValueError("dropout_forward: rate must be in [0, 1]")
    if x.shape[0]:
        keep, r, drop_all = _dropout_args(out.dtype, rate)
        _dropout[_launch.grid(x.shape[0])](x, _or_dummy(u, 1), keep, r, bool(training), drop_all, out)


def dropout_backward(u, rate, training, dy, dx):
    """dx = dy / (1 - rate) where kept, else 0 (dy when not training), as kernels.cpu.shape_ops.dropout_backward.
    dx may be dy; skipped when dx has size 0."""
    if dx.size == 0:
        return
    if dx.shape[0] != dy.shape[0] or (training and u.shape[0] != dy.shape[0]):
        raise ValueError("dropout_backward: u, dy and dx must have one length")
    if not (rate >= 0.0 and rate <= 1.0):
        raise ValueError("dropout_backward: rate must be in [0, 1]")
    keep, r, drop_all = _dropout_args(dx.dtype, rate)
    _dropout[_launch.grid(dy.shape[0])](dy, _or_dummy(u, 1), keep, r, bool(training), drop_all, dx)


@kernel(f"void({_A3}, {_V}, F, F, boolean, boolean, {_A3})")
def _spatial_dropout(x, u, keep, r, training, drop_all, out):
    t = cuda.grid(1)
    s_, c_ = x.shape[1], x.shape[2]
    if t < x.shape[0] * s_ * c_:
        c = t % c_
        s = (t // c_) % s_
        n = t // (c_ * s_)
        if not training:
            out[n, s, c] = x[n, s, c]
        elif drop_all:
            out[n, s, c] = 0.0
        else:
            out[n, s, c] = x[n, s, c] / keep if u[n * c_ + c] >= r else 0.0


def spatial_dropout_forward(x, u, rate, training, out):
    """Dropout of whole channels of x (N, S, C) with u flat (N * C,), as
    kernels.cpu.shape_ops.spatial_dropout_forward (one thread per element)."""
    n_, s_, c_ = x.shape
    if out.shape[0] != n_ or out.shape[1] != s_ or out.shape[2] != c_:
        raise ValueError("spatial_dropout_forward: out must have the shape of x")
    if training and u.shape[0] != n_ * c_:
        raise ValueError("spatial_dropout_forward: u must hold N * C values for x (N, S, C)")
    if not (rate >= 0.0 and rate <= 1.0):
        raise ValueError("spatial_dropout_forward: rate must be in [0, 1]")
    if x.size:
        keep, r, drop_all = _dropout_args(out.dtype, rate)
        _spatial_dropout[_launch.grid(x.size)](x, _or_dummy(u, 1), keep, r, bool(training), drop_all, out)


def spatial_dropout_backward(u, rate, training, dy, dx):
    """dx = dy / (1 - rate) in the kept channels, 0 in the dropped ones (dy when not training), as
    kernels.cpu.shape_ops.spatial_dropout_backward. dx may be dy; skipped when dx has size 0."""
    if dx.size == 0:
        return
    n_, s_, c_ = dy.shape
    if dx.shape[0] != n_ or dx.shape[1] != s_ or dx.shape[2] != c_:
        raise ValueError("spatial_dropout_backward: dx must have the shape of dy")
    if training and u.shape[0] != n_ * c_:
        raise ValueError("spatial_dropout_backward: u must hold N * C values for dy (N, S, C)")
    if not (rate >= 0.0 and rate <= 1.0):
        raise ValueError("spatial_dropout_backward: rate must be in [0, 1]")
    keep, r, drop_all = _dropout_args(dx.dtype, rate)
    _spatial_dropout[_launch.grid(dx.size)](dy, _or_dummy(u, 1), keep, r, bool(training), drop_all, dx)
