"""Layers that move values around without weights: zero padding, cropping, upsampling, permutation and dropout.

Spatial kernels are channels-last 2-D, x (N, H, W, C); a 1-D layer is the 2-D one with H == 1 (the caller passes
(N, 1, L, C) views). Amounts before the input (pad_top, crop_left, ...) are arguments; those after it are implied
by the shapes of the arrays passed in.
"""

import math

import numpy as np

from ..policy import kernel


# ---------------------------------------------------------------------------------------------- zero padding

@kernel
def zero_pad2d_forward(x, out, pad_top, pad_left):
    """out = 0, then out[:, pad_top:pad_top + H, pad_left:pad_left + W, :] = x (Keras's ZeroPadding1D/2D)."""
    n_, h_, w_, c_ = x.shape
    if out.shape[0] != n_ or out.shape[3] != c_:
        raise ValueError("zero_pad2d_forward: x and out disagree in batch or channels")
    if pad_top < 0 or pad_left < 0 or out.shape[1] < h_ + pad_top or out.shape[2] < w_ + pad_left:
        raise ValueError("zero_pad2d_forward: out is too small for x and the padding")
    zero = out.dtype.type(0.0)
    for n in range(n_):
        for i in range(out.shape[1]):
            for j in range(out.shape[2]):
                for c in range(c_):
                    out[n, i, j, c] = zero
        for h in range(h_):
            for w in range(w_):
                o = out[n, h + pad_top, w + pad_left]
                xr = x[n, h, w]
                for c in range(c_):
                    o[c] = xr[c]


@kernel
def zero_pad2d_backward(dy, dx, pad_top, pad_left):
    """dx = dy[:, pad_top:pad_top + H, pad_left:pad_left + W, :]. Skipped when dx has size 0."""
    if dx.size == 0:
        return
    n_, h_, w_, c_ = dx.shape
    if dy.shape[0] != n_ or dy.shape[3] != c_:
        raise ValueError("zero_pad2d_backward: dy and dx disagree in batch or channels")
    if pad_top < 0 or pad_left < 0 or dy.shape[1] < h_ + pad_top or dy.shape[2] < w_ + pad_left:
        raise ValueError("zero_pad2d_backward: dy is too small for dx and the padding")
    for n in range(n_):
        for h in range(h_):
            for w in range(w_):
                g = dy[n, h + pad_top, w + pad_left]
                d = dx[n, h, w]
                for c in range(c_):
                    d[c] = g[c]


# ---------------------------------------------------------------------------------------------- cropping

@kernel
def crop2d_forward(x, out, crop_top, crop_left):
    """out = x[:, crop_top:crop_top + OH, crop_left:crop_left + OW, :] (Keras's Cropping1D/2D)."""
    n_, oh, ow, c_ = out.shape
    if x.shape[0] != n_ or x.shape[3] != c_:
        raise ValueError("crop2d_forward: x and out disagree in batch or channels")
    if crop_top < 0 or crop_left < 0 or crop_top + oh > x.shape[1] or crop_left + ow > x.shape[2]:
        raise ValueError("crop2d_forward: the crop does not fit inside x")
    for n in range(n_):
        for i in range(oh):
            for j in range(ow):
                xr = x[n, i + crop_top, j + crop_left]
                o = out[n, i, j]
                for c in range(c_):
                    o[c] = xr[c]


@kernel
def crop2d_backward(dy, dx, crop_top, crop_left):
    """dx = 0 outside the kept window, dy inside it. Skipped when dx has size 0."""
    if dx.size == 0:
        return
    n_, oh, ow, c_ = dy.shape
    if dx.shape[0] != n_ or dx.shape[3] != c_:
        raise ValueError("crop2d_backward: dy and dx disagree in batch or channels")
    if crop_top < 0 or crop_left < 0 or crop_top + oh > dx.shape[1] or crop_left + ow > dx.shape[2]:
        raise ValueError("crop2d_backward: the crop does not fit inside dx")
    zero = dx.dtype.type(0.0)
    for n in range(n_):
        for h in range(dx.shape[1]):
            for w in range(dx.shape[2]):
                for c in range(c_):
                    dx[n, h, w, c] = zero
        for i in range(oh):
            for j in range(ow):
                g = dy[n, i, j]
                d = dx[n, i + crop_top, j + crop_left]
                for c in range(c_):
                    d[c] = g[c]


# ---------------------------------------------------------------------------------------------- upsampling

@kernel
def _upsample_shapes_ok(x, out, size_h, size_w):
    return (size_h >= 1 and size_w >= 1 and out.shape[0] == x.shape[0] and out.shape[3] == x.shape[3]
            and out.shape[1] == x.shape[1] * size_h and out.shape[2] == x.shape[2] * size_w)


@kernel
def upsample2d_nearest_forward(x, out, size_h, size_w):
    """out[n, i, j, c] = x[n, i // size_h, j // size_w, c]: each input repeated size_h x size_w times.

    Keras's UpSampling1D/2D (interpolation="nearest", the default) is ops.repeat along each spatial axis.
    out must be (N, H * size_h, W * size_w, C).
    """
    if not _upsample_shapes_ok(x, out, size_h, size_w):
        raise ValueError("upsample2d_nearest_forward: out must be (N, H * size_h, W * size_w, C)")
    n_, oh, ow, c_ = out.shape
    for n in range(n_):
        for i in range(oh):
            for j in range(ow):
                xr = x[n, i // size_h, j // size_w]
                o = out[n, i, j]
                for c in range(c_):
                    o[c] = xr[c]


@kernel
def upsample2d_nearest_backward(dy, dx, size_h, size_w):
    """dx[n, h, w, c] = sum of dy over the size_h x size_w block that copies x[n, h, w, c]. Skipped at size 0."""
    if dx.size == 0:
        return
    if not _upsample_shapes_ok(dx, dy, size_h, size_w):
        raise ValueError("upsample2d_nearest_backward: dy must be (N, H * size_h, W * size_w, C)")
    n_, h_, w_, c_ = dx.shape
    zero = dx.dtype.type(0.0)
    for n in range(n_):
        for h in range(h_):
            for w in range(w_):
                d = dx[n, h, w]
                for c in range(c_):
                    d[c] = zero
                for a in range(size_h):
                    for b in range(size_w):
                        g = dy[n, h * size_h + a, w * size_w + b]
                        for c in range(c_):
                            d[c] += g[c]


@kernel
def _linear_source(o, factor, size):
    """(i0, i1, frac) such that output o of a size * factor axis reads (1 - frac) * in[i0] + frac * in[i1].

    jax.image.resize "bilinear" (what Keras 3's UpSampling2D(interpolation="bilinear") calls through
    ops.image.resize; antialias only matters when shrinking) samples the input at the half-pixel centre
    s = (o + 0.5) / factor - 0.5 with the triangle kernel max(0, 1 - |s - i|), and renormalizes the weights over
    the pixels inside the input. For s in [-0.5, 0) only pixel 0 has weight, and likewise at the far edge, so
    the renormalized result equals clamping s to [0, size - 1] and interpolating linearly.
    """
    s = (o + 0.5) / factor - 0.5
    s = min(max(s, 0.0), size - 1.0)
    i0 = int(math.floor(s))
    i1 = min(i0 + 1, size - 1)
    return i0, i1, s - i0


@kernel
def upsample2d_bilinear_forward(x, out, size_h, size_w):
    """Bilinear upsampling by integer factors with half-pixel centres (see ``_linear_source`` for the formula).

    out[n, i, j] = (1 - fh) * ((1 - fw) * x[h0, w0] + fw * x[h0, w1]) + fh * ((1 - fw) * x[h1, w0] + fw * x[h1, w1])
    with (h0, h1, fh) = source(i, size_h, H) and (w0, w1, fw) = source(j, size_w, W). A factor of 1 is the
    identity along that axis. out must be (N, H * size_h, W * size_w, C).
    """
    if not _upsample_shapes_ok(x, out, size_h, size_w):
        raise ValueError("upsample2d_bilinear_forward: out must be (N, H * size_h, W * size_w, C)")
    n_, oh, ow, c_ = out.shape
    h_, w_ = x.shape[1], x.shape[2]
    t = out.dtype.type
    for n in range(n_):  # sample-major, so reads and writes stay within one image (the weights are cheap)
        for i in range(oh):
            h0, h1, fh64 = _linear_source(i, size_h, h_)
            fh = t(fh64)
            for j in range(ow):
                w0, w1, fw64 = _linear_source(j, size_w, w_)
                fw = t(fw64)
                a00, a01 = (t(1.0) - fh) * (t(1.0) - fw), (t(1.0) - fh) * fw
                a10, a11 = fh * (t(1.0) - fw), fh * fw
                x00, x01, x10, x11 = x[n, h0, w0], x[n, h0, w1], x[n, h1, w0], x[n, h1, w1]
                o = out[n, i, j]
                for c in range(c_):
                    o[c] = a00 * x00[c] + a01 * x01[c] + a10 * x10[c] + a11 * x11[c]


@kernel
def upsample2d_bilinear_backward(dy, dx, size_h, size_w):
    """dx = 0, then each dy[n, i, j] is scattered to its four sources with the forward's weights.

    Skipped when dx has size 0.
    """
    if dx.size == 0:
        return
    if not _upsample_shapes_ok(dx, dy, size_h, size_w):
        raise ValueError("upsample2d_bilinear_backward: dy must be (N, H * size_h, W * size_w, C)")
    n_, oh, ow, c_ = dy.shape
    h_, w_ = dx.shape[1], dx.shape[2]
    t = dx.dtype.type
    zero = t(0.0)
    for n in range(n_):
        for h in range(h_):
            for w in range(w_):
                for c in range(c_):
                    dx[n, h, w, c] = zero
    for n in range(n_):
        for i in range(oh):
            h0, h1, fh64 = _linear_source(i, size_h, h_)
            fh = t(fh64)
            for j in range(ow):
                w0, w1, fw64 = _linear_source(j, size_w, w_)
                fw = t(fw64)
                a00, a01 = (t(1.0) - fh) * (t(1.0) - fw), (t(1.0) - fh) * fw
                a10, a11 = fh * (t(1.0) - fw), fh * fw
                g = dy[n, i, j]
                # Sequential row updates: the four sources may coincide at the edges (h0 == h1 or w0 == w1).
                d = dx[n, h0, w0]
                for c in range(c_):
                    d[c] += a00 * g[c]
                d = dx[n, h0, w1]
                for c in range(c_):
                    d[c] += a01 * g[c]
                d = dx[n, h1, w0]
                for c in range(c_):
                    d[c] += a10 * g[c]
                d = dx[n, h1, w1]
                for c in range(c_):
                    d[c] += a11 * g[c]


# ---------------------------------------------------------------------------------------------- permute

@kernel
def _permute_plan(a, b, d0, d1, d2, d3, p0, p1, p2, p3):
    """Validate, then return (samples, sample size, out dims (4,), input strides per out axis (4,)).

    Returns samples = -1 when the arguments are inconsistent (the public kernels raise their own message).
    """
    dims = np.array((d0, d1, d2, d3), np.int64)
    perm = np.array((p0, p1, p2, p3), np.int64)
    od = np.ones(4, np.int64)
    ostride = np.zeros(4, np.int64)
    if a.size != b.size:
        return -1, 0, od, ostride
    size = 1
    for k in range(4):
        if dims[k] < 0:
            return -1, 0, od, ostride
        size *= dims[k]
        seen = 0
        for q in range(4):
            if perm[q] == k:
                seen += 1
        if seen != 1:
            return -1, 0, od, ostride
    if size == 0:
        if a.size != 0:
            return -1, 0, od, ostride
        return 0, 0, od, ostride
    if a.size % size != 0:
        return -1, 0, od, ostride
    istride = np.empty(4, np.int64)
    s = 1
    for k in range(3, -1, -1):
        istride[k] = s
        s *= dims[k]
    for k in range(4):
        od[k] = dims[perm[k]]
        ostride[k] = istride[perm[k]]
    return a.size // size, size, od, ostride


@kernel
def _permute_copy(src, dst, samples, size, od, ostride, gather):
    """gather: dst[o] = src[i(o)] (forward); else dst[i(o)] = src[o] (backward), o running over dst's order."""
    for n in range(samples):
        base = n * size
        o = base
        for i0 in range(od[0]):
            for i1 in range(od[1]):
                for i2 in range(od[2]):
                    p = base + i0 * ostride[0] + i1 * ostride[1] + i2 * ostride[2]
                    if gather:
                        for i3 in range(od[3]):
                            dst[o + i3] = src[p + i3 * ostride[3]]
                    else:
                        for i3 in range(od[3]):
                            dst[p + i3 * ostride[3]] = src[o + i3]
                    o += od[3]


@kernel
def permute_forward(x, out, d0, d1, d2, d3, p0, p1, p2, p3):
    """Each sample's tensor transposed: out_sample = x_sample.transpose(perm) (Keras's Permute, batch excluded).

    x and out are flat (1-D) views of the whole batch. (d0, d1, d2, d3) is the per-sample input shape and
    (p0, p1, p2, p3) a permutation of 0..3, so out_sample has shape dims[perm]. Scalars rather than arrays, so a
    step description can pass them as constants: a lower-rank shape is left-padded with 1s and its permutation
    shifted (rank 2 dims (a, b), perm (1, 0) become (1, 1, a, b), (0, 1, 3, 2)). Keras's 1-based ``dims`` become
    0-based here.
    """
    samples, size, od, ostride = _permute_plan(x, out, d0, d1, d2, d3, p0, p1, p2, p3)
    if samples < 0:
        raise ValueError("permute_forward: dims, perm and the array sizes do not agree")
    _permute_copy(x, out, samples, size, od, ostride, True)


@kernel
def permute_backward(dy, dx, d0, d1, d2, d3, p0, p1, p2, p3):
    """dx_sample = dy_sample.transpose(inverse of perm): the forward's copy run backwards. The dims and perm are
    the forward's (the input shape and the permutation). Skipped when dx has size 0."""
    if dx.size == 0:
        return
    samples, size, od, ostride = _permute_plan(dy, dx, d0, d1, d2, d3, p0, p1, p2, p3)
    if samples < 0:
        raise ValueError("permute_backward: dims, perm and the array sizes do not agree")
    _permute_copy(dy, dx, samples, size, od, ostride, False)


# ---------------------------------------------------------------------------------------------- dropout

@kernel
def dropout_forward(x, u, rate, training, out):
    """Inverted dropout on flat views: out = x / (1 - rate) where u >= rate, else 0; out = x when not training.

    u ~ U[0, 1) is drawn by the caller, so P(keep) = 1 - rate. A division, as Keras's x / keep_prob (not a
    multiplication by the reciprocal, which can differ in the last bit). rate == 1 drops everything.
    The ``training`` flag lives here so that callers need no branch.
    """
    if out.shape[0] != x.shape[0] or (training and u.shape[0] != x.shape[0]):
        raise ValueError("dropout_forward: x, u and out must have one length")
    if not (rate >= 0.0 and rate <= 1.0):
        raise ValueError("dropout_forward: rate must be in [0, 1]")
    if not training:
        for i in range(x.shape[0]):
            out[i] = x[i]
        return
    zero = out.dtype.type(0.0)
    keep = out.dtype.type(1.0 - rate)
    r = u.dtype.type(rate)
    if rate >= 1.0:
        for i in range(x.shape[0]):
            out[i] = zero
        return
    for i in range(x.shape[0]):
        out[i] = x[i] / keep if u[i] >= r else zero


@kernel
def dropout_backward(u, rate, training, dy, dx):
    """dx = dy / (1 - rate) where the unit was kept (u >= rate), else 0; dx = dy when not training.

    dx may alias dy; skipped when dx has size 0.
    """
    if dx.size == 0:
        return
    if dx.shape[0] != dy.shape[0] or (training and u.shape[0] != dy.shape[0]):
        raise ValueError("dropout_backward: u, dy and dx must have one length")
    if not (rate >= 0.0 and rate <= 1.0):
        raise ValueError("dropout_backward: rate must be in [0, 1]")
    if not training:
        for i in range(dy.shape[0]):
            dx[i] = dy[i]
        return
    zero = dx.dtype.type(0.0)
    keep = dx.dtype.type(1.0 - rate)
    r = u.dtype.type(rate)
    if rate >= 1.0:
        for i in range(dy.shape[0]):
            dx[i] = zero
        return
    for i in range(dy.shape[0]):
        dx[i] = dy[i] / keep if u[i] >= r else zero


@kernel
def spatial_dropout_forward(x, u, rate, training, out):
    """Dropout of whole channels: x (N, S, C), u flat (N * C,); channel c of sample n is kept when
    u[n * C + c] >= rate and then scaled by 1 / (1 - rate), for every spatial position s. out = x when not
    training (u is then not read and may be empty).

    Keras's SpatialDropout1D/2D/3D are Dropout with noise_shape (N, 1, ..., 1, C); the caller flattens the
    spatial axes into S. u is flat, like ``dropout_forward``'s, because a step that does not train draws no
    uniforms: its u is empty and could not be viewed as (N, C).
    """
    n_, s_, c_ = x.shape
    if out.shape[0] != n_ or out.shape[1] != s_ or out.shape[2] != c_:
        raise ValueError("spatial_dropout_forward: out must have the shape of x")
    if training and u.shape[0] != n_ * c_:
        raise ValueError("spatial_dropout_forward: u must hold N * C values for x (N, S, C)")
    if not (rate >= 0.0 and rate <= 1.0):
        raise ValueError("spatial_dropout_forward: rate must be in [0, 1]")
    zero = out.dtype.type(0.0)
    keep = out.dtype.type(1.0 - rate)
    r = u.dtype.type(rate)
    drop_all = rate >= 1.0
    for n in range(n_):
        for s in range(s_):
            xr = x[n, s]
            o = out[n, s]
            if not training:
                for c in range(c_):
                    o[c] = xr[c]
            elif drop_all:
                for c in range(c_):
                    o[c] = zero
            else:
                un = u[n * c_:(n + 1) * c_]
                for c in range(c_):
                    o[c] = xr[c] / keep if un[c] >= r else zero


@kernel
def spatial_dropout_backward(u, rate, training, dy, dx):
    """dx = dy / (1 - rate) in the kept channels (u flat (N * C,), as the forward's), 0 in the dropped ones;
    dx = dy when not training.

    dx may alias dy; skipped when dx has size 0.
    """
    if dx.size == 0:
        return
    n_, s_, c_ = dy.shape
    if dx.shape[0] != n_ or dx.shape[1] != s_ or dx.shape[2] != c_:
        raise ValueError("spatial_dropout_backward: dx must have the shape of dy")
    if training and u.shape[0] != n_ * c_:
        raise ValueError("spatial_dropout_backward: u must hold N * C values for dy (N, S, C)")
    if not (rate >= 0.0 and rate <= 1.0):
        raise ValueError("spatial_dropout_backward: rate must be in [0, 1]")
    zero = dx.dtype.type(0.0)
    keep = dx.dtype.type(1.0 - rate)
    r = u.dtype.type(rate)
    drop_all = rate >= 1.0
    for n in range(n_):
        for s in range(s_):
            g = dy[n, s]
            d = dx[n, s]
            if not training:
                for c in range(c_):
                    d[c] = g[c]
            elif drop_all:
                for c in range(c_):
                    d[c] = zero
            else:
                un = u[n * c_:(n + 1) * c_]
                for c in range(c_):
                    d[c] = g[c] / keep if un[c] >= r else zero
