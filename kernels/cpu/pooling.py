"""Pooling: max and average over 2-D windows, and global pooling; forward and backward side by side.

Layout is channels-last: x (N, H, W, C), out / dy (N, OH, OW, C). A 1-D pooling is the 2-D one with H == 1 and
pool_h == stride_h == 1 (the caller passes (N, 1, L, C) views). The caller resolves Keras's padding words into
explicit amounts: ``pad_top`` / ``pad_left`` rows / columns of padding before the input, and OH / OW through the
shape of ``out`` (the padding after the input is implied by them). Window (i, j) covers input rows
i*stride_h - pad_top ... + pool_h - 1 and the matching columns; positions outside the input are padding.

What Keras 3 does with padding (read in keras/src/backend/jax/nn.py, ``max_pool`` / ``average_pool`` /
``_pool``, which run ``lax.reduce_window`` with padding "SAME" or "VALID"):

* max pooling pads with -inf, so a padded position never wins;
* average pooling with ``padding="same"`` divides each window's sum by ``window_counts``, a second
  ``reduce_window`` over an array of ones -- the number of *valid* (unpadded) elements in that window, not
  pool_h * pool_w. With ``padding="valid"`` every window is full, so both divisors agree. These kernels always
  divide by the valid count, which is Keras 3's behaviour for both paddings.

Geometry is checked at the top of every kernel: pools and strides >= 1, 0 <= pad < pool, and every window holds at
least one input position ((OH - 1) * stride_h - pad_top <= H - 1), so no window is all padding.

Max pooling keeps, per output, the index of the input position that won, for the backward pass. The index is
stored in a float array of the input's dtype (a step's scratch buffers are all float): float32 represents every
integer up to 2**24 exactly and float64 up to 2**53, so a per-image index space (H * W, or S for global pooling)
beyond that raises ValueError rather than rounding an index.
"""

import numpy as np
from numba import types
from numba.extending import overload

from .. import policy
from ..policy import kernel


def _flat(a):
    """``a.reshape(-1)`` when ``a`` is C-contiguous, else an empty array of its dtype: the flat view the fast
    loops want, for an array numba has typed as C-contiguous (numba cannot reshape any other, and rejects the
    call at compile time even in a branch that would not run). Compiled code picks by the array's type."""
    return a.reshape(-1) if a.flags.c_contiguous else np.empty(0, a.dtype)


if not policy.DISABLE_JIT:
    @overload(_flat)
    def _flat_typed(a):
        if isinstance(a, types.Array) and a.layout == "C":
            return lambda a: a.reshape(-1)
        return lambda a: np.empty(0, a.dtype)


@kernel
def _index_space_ok(argmax, positions):
    """True when every index in [0, positions) is exactly representable in argmax's float dtype."""
    limit = 2**24 if argmax.itemsize == 4 else 2**53
    return positions <= limit


@kernel
def _windows_fit(size, out_size, pool, stride, pad):
    """True when ``out_size`` windows of ``pool`` at ``stride`` after ``pad`` each overlap [0, size)."""
    if pool < 1 or stride < 1 or pad < 0 or pad >= pool or out_size < 0:
        return False
    if out_size == 0:
        return True
    return size >= 1 and (out_size - 1) * stride - pad <= size - 1


@kernel
def _pool_shapes_ok(x, out, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    if x.shape[0] != out.shape[0] or x.shape[3] != out.shape[3]:
        return False
    return (_windows_fit(x.shape[1], out.shape[1], pool_h, stride_h, pad_top)
            and _windows_fit(x.shape[2], out.shape[2], pool_w, stride_w, pad_left))


@kernel
def _full_windows(ow, w, pool, stride, pad):
    """(j0, j1): the windows j whose pool columns j*stride - pad ... + pool - 1 all lie inside [0, w)."""
    j0 = min(ow, (pad + stride - 1) // stride)
    j1 = min(ow, max(0, (w - pool + pad) // stride + 1))
    return j0, max(j0, j1)


@kernel
def _max_2x2_row(r0, r1, o, a, j0, j1, p_row, stride_w, pad_left, w_):
    """Full 2x2 windows j0 .. j1 - 1 of one output row: r0, r1 (W, C) the window's input rows, o and a (OW, C)
    the output and argmax rows, p_row the spatial index of r0's first position.

    The four candidates are compared in row-major order in registers and each output written once (selects, no
    stores per candidate), and every index is unsigned: a signed one makes numba wrap negative indices around,
    which stops LLVM from vectorising the channel loop (measured on W3's 64x26x26x32 float32: 0.28 -> 0.12 ms).
    Same rule as the general loop: the first maximum wins, a NaN beats a number, the first NaN stays.
    """
    t = a.dtype.type
    u = np.uint64
    c_ = u(o.shape[1])
    for j in range(j0, j1):
        w0 = j * stride_w - pad_left
        q0, q1, uj = u(w0), u(w0 + 1), u(j)
        pz = p_row + w0
        p0, p1, p2, p3 = t(pz), t(pz + 1), t(pz + w_), t(pz + w_ + 1)
        for c in range(c_):
            m = r0[q0, c]
            p = p0
            v = r0[q1, c]
            take = (v > m) | ((v != v) & (m == m))
            m = v if take else m
            p = p1 if take else p
            v = r1[q0, c]
            take = (v > m) | ((v != v) & (m == m))
            m = v if take else m
            p = p2 if take else p
            v = r1[q1, c]
            take = (v > m) | ((v != v) & (m == m))
            m = v if take else m
            p = p3 if take else p
            o[uj, c] = m
            a[uj, c] = p


@kernel
def max_pool2d_forward(x, out, argmax, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    """out[n, i, j, c] = max of x[n, h, w, c] over the valid positions (h, w) of window (i, j).

    argmax (out's shape, a float array holding integers) records where each maximum came from as the spatial index
    h * W + w within the image (channel and sample are those of the output position), for ``max_pool2d_backward``.
    H * W must be at most 2**24 for a float32 argmax (2**53 for float64), so every index is exact.
    Ties: the first maximum in row-major window order wins (a strict comparison while scanning rows, then
    columns), so a tied window sends its whole gradient to one position. A NaN in a window wins (the first one),
    so NaN propagates as it does through Keras's max.
    """
    if (argmax.shape[0] != out.shape[0] or argmax.shape[1] != out.shape[1] or argmax.shape[2] != out.shape[2]
            or argmax.shape[3] != out.shape[3]):
        raise ValueError("max_pool2d_forward: argmax must have the shape of out")
    if not _pool_shapes_ok(x, out, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
        raise ValueError("max_pool2d_forward: x, out and the pool geometry do not agree")
    n_, h_, w_, c_ = x.shape
    if not _index_space_ok(argmax, h_ * w_):
        raise ValueError("max_pool2d_forward: H * W exceeds the integers argmax's dtype holds exactly")
    t = argmax.dtype.type
    for n in range(n_):
        for i in range(out.shape[1]):
            h0 = i * stride_h - pad_top
            hs, he = max(h0, 0), min(h0 + pool_h, h_)
            j0, j1 = 0, 0  # output columns j0 .. j1 - 1 of this row are done by _max_2x2_row
            if pool_h == 2 and pool_w == 2 and h0 >= 0 and h0 + 2 <= h_:
                j0, j1 = _full_windows(out.shape[2], w_, 2, stride_w, pad_left)
                _max_2x2_row(x[n, h0], x[n, h0 + 1], out[n, i], argmax[n, i], j0, j1, h0 * w_, stride_w,
                             pad_left, w_)
            for j in range(out.shape[2]):
                if j0 <= j < j1:
                    continue
                w0 = j * stride_w - pad_left
                ws, we = max(w0, 0), min(w0 + pool_w, w_)
                o = out[n, i, j]
                a = argmax[n, i, j]
                first = True
                for h in range(hs, he):
                    for w in range(ws, we):
                        xr = x[n, h, w]
                        p = t(h * w_ + w)
                        if first:
                            for c in range(c_):
                                o[c] = xr[c]
                                a[c] = p
                            first = False
                        else:
                            for c in range(c_):
                                v = xr[c]
                                if v > o[c] or (v != v and o[c] == o[c]):
                                    o[c] = v
                                    a[c] = p


@kernel
def max_pool2d_backward(argmax, dy, dx):
    """dx = 0, then dx[n, h, w, c] += dy[n, i, j, c] at (h, w) = divmod(argmax[n, i, j, c], W).

    argmax is the forward's (float, holding integer indices); every entry is checked to be an integer in
    [0, H * W) before anything is written.

    The gradient of a maximum goes to the position that won; where windows overlap (stride < pool) one input can
    win several windows and collects every one of their gradients. Skipped when dx has size 0.
    """
    if dx.size == 0:
        return
    if (argmax.shape[0] != dy.shape[0] or argmax.shape[1] != dy.shape[1] or argmax.shape[2] != dy.shape[2]
            or argmax.shape[3] != dy.shape[3]):
        raise ValueError("max_pool2d_backward: argmax must have the shape of dy")
    if dx.shape[0] != dy.shape[0] or dx.shape[3] != dy.shape[3]:
        raise ValueError("max_pool2d_backward: dx and dy disagree in batch or channels")
    n_, h_, w_, c_ = dx.shape
    hw = h_ * w_
    if hw >= 2**31:
        raise ValueError("max_pool2d_backward: more than 2**31 positions per image")
    top = argmax.dtype.type(hw)
    # Validate every index before writing (a bad one must not scribble out of bounds): a pass without early
    # exits, so that it vectorises; written so that NaN fails too, and a fractional index is no index.
    bad = False
    for n in range(n_):
        for i in range(dy.shape[1]):
            for j in range(dy.shape[2]):
                a = argmax[n, i, j]
                for c in range(c_):
                    p = a[c]
                    bad |= (not (p >= 0)) | (not (p < top)) | (p != np.floor(p))
    if bad:
        raise ValueError("max_pool2d_backward: argmax holds an index outside dx")
    zero = dx.dtype.type(0.0)
    af, dyf, dxf = _flat(argmax), _flat(dy), _flat(dx)
    if dxf.size == dx.size and af.size == argmax.size and dyf.size == dy.size:
        # All C-contiguous: index p of channel c is element p * C + c of the image's flat dx (no division), and
        # each image is zeroed just before it collects its gradients, while it is in cache (W3's 64x26x26x32
        # float32: 0.60 -> 0.22 ms). Unsigned indices: no wrap-around of negative ones to test.
        u = np.uint64
        cu, ohw = u(c_), dy.shape[1] * dy.shape[2]
        for n in range(n_):
            dxn = dxf[n * hw * c_:(n + 1) * hw * c_]
            dxn[:] = zero
            an = af[n * ohw * c_:(n + 1) * ohw * c_]
            gn = dyf[n * ohw * c_:(n + 1) * ohw * c_]
            for k in range(u(ohw)):
                for c in range(cu):
                    e = k * cu + c
                    dxn[u(an[e]) * cu + c] += gn[e]
        return
    dx[...] = zero
    # 32-bit division: measured 2.5x faster than int64 // and % for the whole kernel (pool 2 on 32x28x28x32)
    w32 = np.uint32(w_)
    for n in range(n_):
        dxn = dx[n]  # views made once per image / position rather than indices per element: 0.81 -> 0.55 ms
        for i in range(dy.shape[1]):
            for j in range(dy.shape[2]):
                a = argmax[n, i, j]
                g = dy[n, i, j]
                for c in range(c_):
                    p = np.uint32(a[c])
                    h = p // w32
                    dxn[h, p - h * w32, c] += g[c]


@kernel
def avg_pool2d_forward(x, out, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    """out[n, i, j, c] = sum of x[n, h, w, c] over the valid positions of window (i, j) / their number.

    The divisor is the count of unpadded positions in the window (Keras 3, see the module docstring); for
    windows inside the input that is pool_h * pool_w.
    """
    if not _pool_shapes_ok(x, out, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
        raise ValueError("avg_pool2d_forward: x, out and the pool geometry do not agree")
    n_, h_, w_, c_ = x.shape
    zero = out.dtype.type(0.0)
    for n in range(n_):
        for i in range(out.shape[1]):
            h0 = i * stride_h - pad_top
            hs, he = max(h0, 0), min(h0 + pool_h, h_)
            for j in range(out.shape[2]):
                w0 = j * stride_w - pad_left
                ws, we = max(w0, 0), min(w0 + pool_w, w_)
                o = out[n, i, j]
                for c in range(c_):
                    o[c] = zero
                for h in range(hs, he):
                    for w in range(ws, we):
                        xr = x[n, h, w]
                        for c in range(c_):
                            o[c] += xr[c]
                count = out.dtype.type((he - hs) * (we - ws))
                for c in range(c_):
                    o[c] = o[c] / count  # a division, as Keras's pooled / window_counts


@kernel
def avg_pool2d_backward(dy, dx, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    """dx = 0, then every valid position of window (i, j) gets dy[n, i, j, c] / (its window's valid count).

    Overlapping windows accumulate. Skipped when dx has size 0.
    """
    if dx.size == 0:
        return
    if not _pool_shapes_ok(dx, dy, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
        raise ValueError("avg_pool2d_backward: dy, dx and the pool geometry do not agree")
    n_, h_, w_, c_ = dx.shape
    zero = dx.dtype.type(0.0)
    for n in range(n_):
        for h in range(h_):
            for w in range(w_):
                for c in range(c_):
                    dx[n, h, w, c] = zero
    for n in range(n_):
        for i in range(dy.shape[1]):
            h0 = i * stride_h - pad_top
            hs, he = max(h0, 0), min(h0 + pool_h, h_)
            for j in range(dy.shape[2]):
                w0 = j * stride_w - pad_left
                ws, we = max(w0, 0), min(w0 + pool_w, w_)
                count = dx.dtype.type((he - hs) * (we - ws))
                g = dy[n, i, j]
                for h in range(hs, he):
                    for w in range(ws, we):
                        d = dx[n, h, w]
                        for c in range(c_):
                            d[c] += g[c] / count


@kernel
def global_avg_pool_forward(x, out):
    """out[n, c] = sum over s of x[n, s, c] / S, for x (N, S, C) with S >= 1 (spatial axes flattened into S)."""
    if x.shape[0] != out.shape[0] or x.shape[2] != out.shape[1]:
        raise ValueError("global_avg_pool_forward: out must be (N, C) for x (N, S, C)")
    if x.shape[1] < 1 and x.shape[0] * x.shape[2] > 0:
        raise ValueError("global_avg_pool_forward: x has no spatial positions")
    n_, s_, c_ = x.shape
    zero = out.dtype.type(0.0)
    count = out.dtype.type(s_)
    for n in range(n_):
        o = out[n]
        for c in range(c_):
            o[c] = zero
        for s in range(s_):
            xr = x[n, s]
            for c in range(c_):
                o[c] += xr[c]
        for c in range(c_):
            o[c] = o[c] / count


@kernel
def global_avg_pool_backward(dy, dx):
    """dx[n, s, c] = dy[n, c] / S. Skipped when dx has size 0."""
    if dx.size == 0:
        return
    if dx.shape[0] != dy.shape[0] or dx.shape[2] != dy.shape[1]:
        raise ValueError("global_avg_pool_backward: dy must be (N, C) for dx (N, S, C)")
    n_, s_, c_ = dx.shape
    count = dx.dtype.type(s_)
    for n in range(n_):
        g = dy[n]
        for s in range(s_):
            d = dx[n, s]
            for c in range(c_):
                d[c] = g[c] / count


@kernel
def global_max_pool_forward(x, out, argmax):
    """out[n, c] = max over s of x[n, s, c]; argmax[n, c] = the first s attaining it (NaN wins), stored in a
    float array (S at most 2**24 for float32, 2**53 for float64)."""
    if x.shape[0] != out.shape[0] or x.shape[2] != out.shape[1]:
        raise ValueError("global_max_pool_forward: out must be (N, C) for x (N, S, C)")
    if argmax.shape[0] != out.shape[0] or argmax.shape[1] != out.shape[1]:
        raise ValueError("global_max_pool_forward: argmax must have the shape of out")
    if x.shape[1] < 1 and x.shape[0] * x.shape[2] > 0:
        raise ValueError("global_max_pool_forward: x has no spatial positions")
    n_, s_, c_ = x.shape
    if not _index_space_ok(argmax, s_):
        raise ValueError("global_max_pool_forward: S exceeds the integers argmax's dtype holds exactly")
    if s_ == 0:  # then N * C == 0 (checked above): nothing to do
        return
    t = argmax.dtype.type
    for n in range(n_):
        o = out[n]
        a = argmax[n]
        x0 = x[n, 0]
        for c in range(c_):
            o[c] = x0[c]
            a[c] = t(0)
        for s in range(1, s_):
            xr = x[n, s]
            for c in range(c_):
                v = xr[c]
                if v > o[c] or (v != v and o[c] == o[c]):
                    o[c] = v
                    a[c] = t(s)


@kernel
def global_max_pool_backward(argmax, dy, dx):
    """dx = 0, then dx[n, argmax[n, c], c] = dy[n, c] (argmax float, holding integers). Skipped when dx has
    size 0."""
    if dx.size == 0:
        return
    if argmax.shape[0] != dy.shape[0] or argmax.shape[1] != dy.shape[1]:
        raise ValueError("global_max_pool_backward: argmax must have the shape of dy")
    if dx.shape[0] != dy.shape[0] or dx.shape[2] != dy.shape[1]:
        raise ValueError("global_max_pool_backward: dy must be (N, C) for dx (N, S, C)")
    n_, s_, c_ = dx.shape
    top = argmax.dtype.type(s_)
    for n in range(n_):
        for c in range(c_):
            p = argmax[n, c]
            if not (p >= 0 and p < top) or p != np.floor(p):
                raise ValueError("global_max_pool_backward: argmax holds an index outside dx")
    zero = dx.dtype.type(0.0)
    for n in range(n_):
        for s in range(s_):
            for c in range(c_):
                dx[n, s, c] = zero
        for c in range(c_):
            dx[n, int(argmax[n, c]), c] = dy[n, c]
