"""2-D convolution, grouped, depthwise and transposed: forward and backward, channels-last.

Shapes (a 1-D convolution is the case H == 1: the caller passes (N, 1, L, C) views):

    x       (N, H, W, C)             input
    kernel  (KH, KW, C // groups, F)  Keras's Conv2D layout; filters f of group g = f // (F // groups) see the
                                      input channels g * C/groups ... (g + 1) * C/groups - 1
    bias    (F,), or size 0 for none
    out     (N, OH, OW, F)

    out[n, i, j, f] = bias[f] + sum_{p, q, c} xpad[n, i*sh + p*dh, j*sw + q*dw, g*Cg + c] * kernel[p, q, c, f]

where xpad is x with ``pad_top`` rows and ``pad_left`` columns of zeros in front (and zeros past the end: the bottom
and right padding is whatever OH and OW imply). Every position outside x reads as zero. Geometry check: with
K = (KH - 1) * dh + 1 (the dilated extent) the kernels accept OH when 0 <= pad_top <= K - 1 and
OH == (H + pad_top + pad_bottom - K) // sh + 1 for some implied pad_bottom in 0 .. K - 1; the same for widths.

All arrays are C-contiguous and of one float dtype; ``cols`` is scratch (1-D, any length from
``conv2d_scratch_min``) and must not overlap the other arguments.

How the products run. For a chunk of B images and one group, ``cols`` holds the (B*OH*OW, KH*KW*Cg) matrix of
patches, row (n, i, j) and column (p*KW + q)*Cg + c, which is exactly the row order of the kernel read as a
(KH*KW*Cg, F) matrix; so

    forward   out[chunk, group]  = cols @ kernel2d[:, group]            (gemm NN)
    dkernel   kernel2d[:, group] (+)= cols^T @ dy[chunk, group]         (gemm TN)
    dx        cols = dy[chunk, group] @ kernel2d[:, group]^T, then added back into dx (col2im)   (gemm NT)

Images go into one chunk as ``cols`` holds, but at most CHUNK_VALUES patch values (at least one image), so the
copy's output is still in L2 when the product reads it; memory is bounded whatever N is.

Threads. Above PARALLEL_MIN_WORK multiply-adds (and when ``cols`` holds one image's patches per part), a call
splits its batch among numba's threads: ``PARTS`` workers in one prange, each with its own slice of ``cols``, claim
chunks of images through an atomic counter and run the copies and *single-threaded* gemm calls on them; the
kernel gradient goes into one partial per worker (at the front of ``cols``), summed at the end. This is the
convolution's own thread policy, beside policy.py's (BLAS at one thread): OpenBLAS's pool spin-waits and
collapses under load, while numba's OpenMP threads are told to sleep when idle (OMP_WAIT_POLICY=PASSIVE, set at
import unless the user chose) and the counter lets a thread that starts late or shares its core take fewer
chunks. Thread count: NUMBA_NUM_THREADS (all cores by default), capped by NBKERAS_NUM_THREADS when set.

Measured on the W3 workload's layers (L1 = 28x28x1 -> Conv2D(32, 3), L2 = 13x13x32 -> Conv2D(64, 3), 'valid',
batch 64, float32) on a 2-vCPU AMD EPYC shared with other jobs (load average 3-8). CPU time of one thread (stable
under load), ms:

                         patch copy   product(s)            call, before -> after this layout
    L1 forward           1.20 -> 0.37  NN 0.32               1.53 -> 0.75
    L1 backward, no dx   1.20 -> 0.37  TN 0.50               1.79 -> 1.04
    L2 forward           0.88 -> 0.23  NN 2.4-2.9            3.3-3.7 -> 2.8-3.0
    L2 backward          0.88 -> 0.23  TN 2.5, NT 2.5 +      6.7-7.1 -> 5.4-5.9
                         col2im 0.82 -> 0.26

The copies (``_im2col``/``_col2im``) got 3-4x faster from indexing flat arrays through slice views, per (row,
tap) over the columns inside the input: with signed flat indices numba's negative-index wrap-around kept LLVM
from vectorising the copy (measured 4.5x on a 32-float copy loop). The products run at ~100 GFLOP/s, about
OpenBLAS's single-thread peak, so one thread has little left to gain; two threads split the products. Whole W3
training (separate processes, interleaved epochs, samples/s): load ~3: 1 thread 5.0k, 2 threads 6.8k; load ~5
plus a busy process: 1 thread 1.2k, 2 threads 1.6k; at load ~7-8, 2 threads were 0.8-1.1x of 1 per call (no
collapse; the CPU time they use is the same).

Tried and dropped: a direct loop (bench/conv_bench.py keeps it) lost to im2col + gemm by 1.2-2.5x; splitting the
batch into fixed halves per thread instead of claimed chunks was 0.8x of one thread at load ~7; rows copied by
slice assignment per kernel row (the previous layout) were 3-4x slower than the per-tap view loops.

Fused relu (``conv2d_forward_relu`` / ``conv2d_backward_relu``, for a layer whose activation is Keras's plain relu).
The forward clamps each chunk's output rows right after their product, while they are in cache; the backward
masks each chunk's dy rows by y > 0 and sums them into dbias right before the kernel-gradient product reads them.
Each removes a pass over a whole activation tensor (W3's first is 64x26x26x32 float32, 5.5 MB, from memory: these
passes are bandwidth-bound) and the pre-activation buffer. W3 compiled step on the quiet 2-core machine, separate
processes alternating: 7.54-7.65 ms -> 7.03-7.21 ms (forward), then -> 6.90-7.16 ms (backward mask).
Tried and dropped: a direct (no im2col) 3x3 one-channel forward for the first layer ran 0.74 ms on one thread, no
faster than im2col + GEMM (the 5.5 MB output write bounds both); splitting pooling and relu over numba's threads
lost (an empty parallel region costs ~45 us with the passive wait policy, and the loops are memory-bound).

Convolution + max pooling (``conv2d_max_pool2d_forward`` / ``_backward``: a convolution, linear or with the plain
relu, whose output only a max pooling with windows equal to its strides and no padding reads; the Program fuses
such pairs, see nbkeras/models/fuse_conv_pool.py). Per chunk of images, the convolution output z goes into the chunk's
slice of ``cols`` after its patches and is pooled there (max_pool2d_forward on the chunk); backward, the pooled
gradient (masked by pooled > 0 under relu: a pooled value is relu(z) at its argmax) is scattered into that slice
by max_pool2d_backward and feeds the same products as conv2d_backward. z and dz never reach memory whole. W3's
compiled step, two models in one process alternating (a core busy with other work): 7.3-7.6 -> 6.4-6.5 ms.
Tried and dropped: direct loops for the first layer (3x3 taps of one channel, four window positions and their
maximum per loop over the filters, no patches): 1.3-1.5 ms forward and 4 ms backward on one thread against
~0.9 ms for patches + GEMM; LLVM did not vectorise the 32-filter loop (scalar FMAs in the assembly).

Transposed convolution (kernel (KH, KW, F, C), x (N, H, W, C) -> out (N, OH, OW, F)) is the input gradient of the
convolution that maps ``out``'s shape to ``x``'s with the same kernel, strides, dilations and pad_top/pad_left:

    out[n, o_h, o_w, f] = bias[f] + sum over (h, p) with h*sh + p*dh - pad_top == o_h (and the same for w)
                          of x[n, h, w, c] * kernel[p, q, f, c]

i.e. the full (uncropped) output of length (H - 1)*sh + K, cropped by pad_top/pad_left at the front and cut (or
zero-extended) to OH/OW at the end. Its backward reuses the convolution's pieces: dx is a convolution of dy,
dkernel the convolution's kernel gradient with the roles of input and output swapped.
"""

import os

import numba
import numpy as np
from numba import prange, types
from numba.extending import intrinsic

from .. import policy
from ..policy import kernel
from .gemm import gemm
from .pooling import max_pool2d_backward, max_pool2d_forward

#: Most parts a batch is cut into for numba's threads (dealt out to them in contiguous runs).
PARTS = 8
#: Multiply-adds of a whole call below which it runs on the calling thread (a parallel region costs 10-50 us).
PARALLEL_MIN_WORK = 1 << 21
#: Patch-matrix values per product (images per GEMM are cut to fit, at least one image): the copy writes them
#: and the product reads them back at once, so they should still be in the L2 cache. 1 << 17 (512 KB of float32,
#: half of a 1 MB L2): W3's second layer (34,848 patch values per image) got one image per product at 1 << 16 --
#: a 121-row GEMM -- and three now; one thread's CPU time, in one process, alternating: forward 2.00 -> 1.74 ms,
#: backward 3.60 -> 3.28 ms (1 << 18 measured the same as 1 << 17; the first layer does not change).
CHUNK_VALUES = 1 << 17


def _configure_threads():
    """Make numba's (libgomp's) idle threads sleep instead of spinning, when nobody chose otherwise and they have
    not started yet (the setting is read once, when they start): spinning pools collapse under load. And use no
    more of them than NBKERAS_NUM_THREADS asks for, when it is set (numba.set_num_threads applies to the calling
    thread, the one importing this module)."""
    if policy.DISABLE_JIT:
        return
    try:
        numba.threading_layer()
    except ValueError:  # numba's threads are not running yet
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    wanted = policy.REQUESTED_THREADS
    if wanted is not None and wanted < numba.config.NUMBA_NUM_THREADS:
        numba.set_num_threads(wanted)
    # Start numba's thread pool now. A parallel kernel compiled into a caller (a generated train step) and then
    # loaded from the disk cache does not start it itself: without this, the first cached step that reaches a
    # prange segfaulted (reproduced: the second process to run the same CNN crashed in its first predict).
    from numba.np.ufunc import parallel as _parallel

    _parallel._launch_threads()


_configure_threads()


if policy.DISABLE_JIT:
    def _fetch_add(counter, delta):
        """counter[0] += delta, returning the value before (plain Python: no threads run)."""
        old = int(counter[0])
        counter[0] += delta
        return old
else:
    @intrinsic
    def _fetch_add(typingctx, counter, delta):
        """Atomically counter[0] += delta (an int64 array), returning the value before: how the threads of a
        parallel region claim the next images (numba has no atomics of its own)."""
        if not (isinstance(counter, types.Array) and counter.dtype == types.int64
                and isinstance(delta, types.Integer)):
            return None
        sig = types.int64(counter, delta)

        def codegen(context, builder, signature, args):
            array = context.make_array(signature.args[0])(context, builder, args[0])
            step = context.cast(builder, args[1], signature.args[1], types.int64)
            return builder.atomic_rmw("add", array.data, step, "seq_cst")

        return sig, codegen

# ---------------------------------------------------------------------------------------- sizes and checks


def conv2d_scratch_min(OH, OW, KH, KW, C, groups):  # noqa: N803 (the caller's names for the dimensions)
    """Smallest ``cols`` length the convolution kernels accept: the patch matrix of one image and one group."""
    return OH * OW * KH * KW * (C // groups)


def conv2d_scratch_size(N, OH, OW, KH, KW, C, groups, budget):  # noqa: N803
    """``cols`` length for min(N, budget // per_image) images per GEMM, at least one image (budget in floats)."""
    per_image = conv2d_scratch_min(OH, OW, KH, KW, C, groups)
    return max(1, min(N, budget // per_image if per_image else 1)) * per_image


@kernel
def _length_ok(n_in, n_out, k, stride, pad, dil):
    """Whether n_out windows of k taps (dilation dil, step stride) over n_in values with ``pad`` zeros in front
    are consistent: 0 <= pad <= K - 1 and some implied back padding in 0 .. K - 1 gives n_out windows."""
    extent = (k - 1) * dil + 1
    if k < 1 or stride < 1 or dil < 1 or n_in < 1 or n_out < 1 or pad < 0 or pad > extent - 1:
        return False
    for back in range(extent):
        span = n_in + pad + back - extent
        if span >= 0 and span // stride + 1 == n_out:
            return True
    return False


@kernel
def _contiguous(a, b, c, d):
    return a.flags.c_contiguous and b.flags.c_contiguous and c.flags.c_contiguous and d.flags.c_contiguous


@kernel
def _one_dtype(a, b, c, d, e):
    t = a.dtype
    return b.dtype == t and c.dtype == t and d.dtype == t and e.dtype == t and t.type(0.5) == 0.5


# ------------------------------------------------------------------------------------------ shared pieces


@kernel
def _start(out, bias):
    """out = bias broadcast over positions (zero without a bias)."""
    rows = out.reshape(-1, out.shape[-1])
    zero = out.dtype.type(0.0)
    for r in range(rows.shape[0]):
        row = rows[r]
        for f in range(row.shape[0]):
            row[f] = bias[f] if bias.size != 0 else zero


@kernel
def _channel_sums(dy, dbias, accumulate):
    """dbias (+)= dy summed over every axis but the last."""
    rows = dy.reshape(-1, dy.shape[-1])
    if not accumulate:
        dbias[:] = dbias.dtype.type(0.0)
    for r in range(rows.shape[0]):
        row = rows[r]
        for f in range(row.shape[0]):
            dbias[f] += row[f]


@kernel
def _tap_columns(ow, sw, pl, q, dw, w):
    """(j0, j1): the output columns j whose tap q reads inside the row, j*sw - pl + q*dw in [0, w)."""
    j0 = min(ow, max(0, -((q * dw - pl) // sw)))
    j1 = min(ow, max(0, (w - 1 + pl - q * dw) // sw + 1))
    return j0, max(j0, j1)


@kernel
def _im2col(x, c2, n0, m, c0, cg, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw):
    """c2[(b*OH + i)*OW + j, (p*KW + q)*cg + c] = xpad[n0 + b, i*sh + p*dh, j*sw + q*dw, c0 + c], b < m.

    Loops run per (image, output row, tap) over the output columns that tap reads inside x (``_tap_columns``),
    so the inner loops hold no bounds tests, and index flat arrays (a view made per position costs a reference
    count update each time). One input channel gets its own loop: a copy loop of length 1 per element cost ~4x.
    """
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    xf = x.reshape(-1)
    cf = c2.reshape(-1)
    kdim = kh * kw * cg
    zero = c2.dtype.type(0.0)
    for b in range(m):
        xb = (n0 + b) * h * w * c + c0
        for i in range(oh):
            rbase = (b * oh + i) * ow * kdim
            for p in range(kh):
                ih = i * sh - pt + p * dh
                for q in range(kw):
                    dcol = rbase + (p * kw + q) * cg
                    if ih < 0 or ih >= h:
                        j0, j1 = ow, ow
                    else:
                        j0, j1 = _tap_columns(ow, sw, pl, q, dw, w)
                    for j in range(0, j0):
                        for e in range(cg):
                            cf[dcol + j * kdim + e] = zero
                    for j in range(j1, ow):
                        for e in range(cg):
                            cf[dcol + j * kdim + e] = zero
                    if j1 <= j0:
                        continue
                    src = xb + (ih * w + j0 * sw - pl + q * dw) * c
                    dst = dcol + j0 * kdim
                    if cg == 1:
                        to = cf[dst:dst + (j1 - j0) * kdim:kdim]
                        fro = xf[src:src + (j1 - j0) * sw * c:sw * c]  # one channel of c (groups)
                        for t in range(j1 - j0):
                            to[t] = fro[t]
                    else:
                        for t in range(j1 - j0):
                            s = src + t * sw * c
                            d = dst + t * kdim
                            to = cf[d:d + cg]
                            fro = xf[s:s + cg]
                            for e in range(cg):
                                to[e] = fro[e]


@kernel
def _col2im(c2, dx, n0, m, c0, cg, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw):
    """The transpose of _im2col: dx[n0 + b, ih, iw, c0 + c] += c2[row, column] for every patch entry inside dx."""
    h, w, c = dx.shape[1], dx.shape[2], dx.shape[3]
    df = dx.reshape(-1)
    cf = c2.reshape(-1)
    kdim = kh * kw * cg
    for b in range(m):
        xb = (n0 + b) * h * w * c + c0
        for i in range(oh):
            rbase = (b * oh + i) * ow * kdim
            for p in range(kh):
                ih = i * sh - pt + p * dh
                if ih < 0 or ih >= h:
                    continue
                for q in range(kw):
                    j0, j1 = _tap_columns(ow, sw, pl, q, dw, w)
                    src = rbase + (p * kw + q) * cg + j0 * kdim
                    dst = xb + (ih * w + j0 * sw - pl + q * dw) * c
                    if j1 <= j0:
                        continue
                    if cg == 1:
                        to = df[dst:dst + (j1 - j0) * sw * c:sw * c]  # one channel of c (groups)
                        fro = cf[src:src + (j1 - j0) * kdim:kdim]
                        for t in range(j1 - j0):
                            to[t] += fro[t]
                    else:
                        for t in range(j1 - j0):
                            s = src + t * kdim
                            d = dst + t * sw * c
                            to = df[d:d + cg]
                            fro = cf[s:s + cg]
                            for e in range(cg):
                                to[e] += fro[e]


@kernel
def _im2col_taps(x, ct, n0, m, c0, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw):
    """The patch matrix of one input channel (c0) transposed, tap-major: ct[p*KW + q, (b*OH + i)*OW + j] =
    xpad[n0 + b, i*sh + p*dh, j*sw + q*dw, c0], b < m. Each (tap, image, output row) is one run of OW values read
    at stride sw*C and written contiguously, where _im2col's row-major layout writes one value per KW*KH stride:
    for W3's first layer (one channel, 9 taps) patches + product took 0.26 instead of 0.55 ms forward, and 0.37
    instead of 0.68 ms for the kernel gradient (one thread, 64 images, best of 30)."""
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    xf = x.reshape(-1)
    zero = ct.dtype.type(0.0)
    step = sw * c
    for p in range(kh):
        for q in range(kw):
            row = ct[p * kw + q]
            j0, j1 = _tap_columns(ow, sw, pl, q, dw, w)
            for b in range(m):
                xb = (n0 + b) * h * w * c + c0
                for i in range(oh):
                    d = (b * oh + i) * ow
                    ih = i * sh - pt + p * dh
                    if ih < 0 or ih >= h or j1 <= j0:
                        row[d:d + ow] = zero
                        continue
                    row[d:d + j0] = zero
                    row[d + j1:d + ow] = zero
                    src = xb + (ih * w + j0 * sw - pl + q * dw) * c
                    to = row[d + j0:d + j1]
                    fro = xf[src:src + (j1 - j0 - 1) * step + 1:step]
                    for t in range(j1 - j0):
                        to[t] = fro[t]


@kernel
def _patches_product(x, cols, n0, m, c0, cg, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw, b, beta, out, gradient):
    """For images n0 .. n0 + m - 1 and input channels c0 .. c0 + cg - 1 (one group), with the patch matrix P built
    in ``cols`` (row-major by _im2col, or tap-major by _im2col_taps for one channel):
    out = beta * out + P @ b (the forward's product), or with ``gradient`` out = beta * out + P^T @ b (the kernel
    gradient's). Which operand GEMM reads transposed follows from the layout and the product."""
    rows, kdim = m * oh * ow, kh * kw * cg
    if cg == 1:
        p = cols[:rows * kdim].reshape(kdim, rows)
        _im2col_taps(x, p, n0, m, c0, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw)
    else:
        p = cols[:rows * kdim].reshape(rows, kdim)
        _im2col(x, p, n0, m, c0, cg, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw)
    gemm((cg == 1) != gradient, False, 1.0, p, b, beta, out)


@kernel
def _relu_in_place(v):
    """v = v if v > 0 else 0 (Keras's plain relu, as activations.relu_forward: NaN stays NaN, -0.0 becomes 0)."""
    zero = v.dtype.type(0.0)
    for i in range(v.shape[0]):
        e = v[i]
        v[i] = zero if e <= zero else e


@kernel
def _relu_mask(d, y):
    """d = d * [y > 0] (as activations.relu_backward(y, y, d, d) with Keras's plain relu)."""
    zero = d.dtype.type(0.0)
    one = d.dtype.type(1.0)
    for i in range(d.shape[0]):
        d[i] = d[i] * (one if y[i] > zero else zero)


@kernel
def _chunk(per, cap):
    """Images per product for a part whose slice of ``cols`` holds ``cap`` values: as many as fit, but no more
    than CHUNK_VALUES' worth, so the patch matrix a copy has just written is still in cache for the product."""
    return max(1, min(cap, max(CHUNK_VALUES, per)) // per)


@kernel
def _parts(n, per, extra, cols_size, work):
    """Parts a batch of n images is cut into for numba's threads: 1 (run on the calling thread) when the work
    (multiply-adds) is below PARALLEL_MIN_WORK or ``cols`` cannot give each part one image's patches (``per``
    values) plus ``extra`` values of its own."""
    if work < PARALLEL_MIN_WORK or n < 2:
        return 1
    return max(1, min(PARTS, n, cols_size // (per + extra)))


@kernel
def _forward_range(x, k2, bias, o2, cols, i0, i1, kh, kw, cg, oh, ow, sh, sw, pt, pl, dh, dw, groups, relu):
    """Images i0 .. i1 - 1: per chunk, the bias (or zeros) into out, then out[chunk] += cols @ kernel2d per group,
    then (``relu``) out[chunk] = max(out[chunk], 0) while the chunk is still in cache."""
    rows, kdim = oh * ow, kh * kw * cg
    f = k2.shape[1]
    fg = f // groups
    per = rows * kdim
    nb = _chunk(per, cols.size)
    for n0 in range(i0, i1, nb):
        m = min(nb, i1 - n0)
        ob = o2[n0 * rows:(n0 + m) * rows]
        if bias.size != 0:
            _start(ob, bias)
        for g in range(groups):
            _patches_product(x, cols, n0, m, g * cg, cg, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw,
                             k2[:, g * fg:(g + 1) * fg], 1.0 if bias.size != 0 else 0.0, ob[:, g * fg:(g + 1) * fg],
                             False)
        if relu:
            _relu_in_place(o2.reshape(-1)[n0 * rows * f:(n0 + m) * rows * f])


@kernel(parallel=True)
def _forward_parts(x, k2, bias, o2, cols, parts, kh, kw, cg, oh, ow, sh, sw, pt, pl, dh, dw, groups, relu):
    """_forward_range by ``parts`` workers, each with its own slice of cols, claiming chunks of images as they go."""
    n = x.shape[0]
    cap = cols.size // parts
    nb = _chunk(oh * ow * kh * kw * cg, cap)
    claimed = np.zeros(1, np.int64)
    for t in prange(parts):
        mine = cols[t * cap:(t + 1) * cap]
        i0 = _fetch_add(claimed, nb)
        while i0 < n:
            _forward_range(x, k2, bias, o2, mine, i0, min(i0 + nb, n), kh, kw, cg, oh, ow, sh, sw, pt, pl, dh, dw,
                           groups, relu)
            i0 = _fetch_add(claimed, nb)


@kernel
def _convolve(x, kernel, bias, out, cols, sh, sw, pt, pl, dh, dw, groups, relu):
    """out = conv(x, kernel) + bias (then max(out, 0) when ``relu``) on checked arguments, over parts of the batch
    (see _parts)."""
    n = x.shape[0]
    kh, kw, cg, f = kernel.shape
    oh, ow = out.shape[1], out.shape[2]
    per = oh * ow * kh * kw * cg
    k2 = kernel.reshape(kh * kw * cg, f)
    o2 = out.reshape(n * oh * ow, f)
    parts = _parts(n, per, 0, cols.size, n * per * (f // groups))
    if parts > 1:
        _forward_parts(x, k2, bias, o2, cols, parts, kh, kw, cg, oh, ow, sh, sw, pt, pl, dh, dw, groups, relu)
    else:
        _forward_range(x, k2, bias, o2, cols, 0, n, kh, kw, cg, oh, ow, sh, sw, pt, pl, dh, dw, groups, relu)


@kernel
def _kernel_grad_range(x, d2, k2, cols, i0, i1, beta, kh, kw, cg, oh, ow, sh, sw, pt, pl, dh, dw, groups, y2,
                       relu, db):
    """k2[:, group] = beta * k2[:, group] + sum over images i0 .. i1 - 1 of cols^T @ dy[chunk, group]; with
    ``relu``, each chunk's dy rows are first multiplied in place by [y > 0] (y2: y as dy's (rows, F) matrix), and
    when db has entries, db += the chunk's dy rows (summed while they are in cache)."""
    rows, kdim = oh * ow, kh * kw * cg
    fg = k2.shape[1] // groups
    per = rows * kdim
    nb = _chunk(per, cols.size)
    if i1 <= i0 and beta == 0.0:
        k2[:, :] = k2.dtype.type(0.0)
    for n0 in range(i0, i1, nb):
        m = min(nb, i1 - n0)
        b = beta if n0 == i0 else 1.0
        if relu:
            e0, e1 = n0 * rows * d2.shape[1], (n0 + m) * rows * d2.shape[1]
            _relu_mask(d2.reshape(-1)[e0:e1], y2.reshape(-1)[e0:e1])
        if db.size != 0:
            _channel_sums(d2[n0 * rows:(n0 + m) * rows], db, True)
        for g in range(groups):
            _patches_product(x, cols, n0, m, g * cg, cg, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw,
                             d2[n0 * rows:(n0 + m) * rows, g * fg:(g + 1) * fg], b, k2[:, g * fg:(g + 1) * fg], True)


@kernel
def _part_scratch(cols, t, parts, size, fsz, cap):
    """Worker t's slices of a kernel-gradient call's ``cols``: its kernel partial (``size`` values; all the kernel
    partials come first), its bias partial (``fsz`` values after them, zeroed here) and its own working region of
    ``cap`` values after every partial. _sum_partials adds the partials up at the end."""
    bpart = cols[parts * size + t * fsz:parts * size + (t + 1) * fsz]
    bpart[:] = bpart.dtype.type(0.0)
    start = parts * (size + fsz) + t * cap
    return cols[t * size:(t + 1) * size], bpart, cols[start:start + cap]


@kernel(parallel=True)
def _kernel_grad_parts(x, d2, k2, cols, parts, accumulate, kh, kw, cg, oh, ow, sh, sw, pt, pl, dh, dw, groups, y2,
                       relu, db):
    """Worker t sums the products of the chunks it claims into partial t (the front of ``cols``; zeros when it
    claimed none), and its chunks' dy rows into bias partial t (after the kernel partials) when db has entries;
    then the partials are added into dkernel and db."""
    n = x.shape[0]
    size = k2.size
    fsz = db.size
    cap = (cols.size - parts * (size + fsz)) // parts
    nb = _chunk(oh * ow * kh * kw * cg, cap)
    claimed = np.zeros(1, np.int64)
    for t in prange(parts):
        partial, bpart, mine = _part_scratch(cols, t, parts, size, fsz, cap)
        partial = partial.reshape(k2.shape)
        beta = 0.0
        i0 = _fetch_add(claimed, nb)
        if i0 >= n:
            partial[:, :] = partial.dtype.type(0.0)
        while i0 < n:
            _kernel_grad_range(x, d2, partial, mine, i0, min(i0 + nb, n), beta, kh, kw, cg, oh, ow, sh, sw, pt,
                               pl, dh, dw, groups, y2, relu, bpart)
            beta = 1.0
            i0 = _fetch_add(claimed, nb)
    _sum_partials(cols, k2, db, parts, accumulate)


@kernel
def _kernel_grad(x, dy, dkernel, cols, sh, sw, pt, pl, dh, dw, groups, accumulate, y, relu, db):
    """dkernel2d[:, group] (+)= sum over chunks of cols^T @ dy[chunk, group], over parts of the batch (with
    ``relu``, dy *= [y > 0] in place first, chunk by chunk; db (+)= dy's channel sums, chunk by chunk, when it has
    entries)."""
    n = x.shape[0]
    kh, kw, cg, f = dkernel.shape
    oh, ow = dy.shape[1], dy.shape[2]
    per = oh * ow * kh * kw * cg
    k2 = dkernel.reshape(kh * kw * cg, f)
    d2 = dy.reshape(n * oh * ow, f)
    parts = _parts(n, per, k2.size + db.size, cols.size, n * per * (f // groups))
    y2 = y.reshape(d2.shape[0], d2.shape[1])
    if parts > 1:
        _kernel_grad_parts(x, d2, k2, cols, parts, accumulate, kh, kw, cg, oh, ow, sh, sw, pt, pl, dh, dw, groups,
                           y2, relu, db)
    else:
        if db.size != 0 and not accumulate:
            db[:] = db.dtype.type(0.0)
        _kernel_grad_range(x, d2, k2, cols, 0, n, 1.0 if accumulate else 0.0, kh, kw, cg, oh, ow, sh, sw, pt, pl,
                           dh, dw, groups, y2, relu, db)


@kernel
def _input_grad_range(d2, k2, dx, cols, i0, i1, kh, kw, cg, oh, ow, sh, sw, pt, pl, dh, dw, groups):
    """dx[i0 .. i1 - 1] = col2im(dy[chunk, group] @ kernel2d[:, group]^T) per chunk and group (overwritten)."""
    rows, kdim = oh * ow, kh * kw * cg
    fg = k2.shape[1] // groups
    per = rows * kdim
    nb = _chunk(per, cols.size)
    dx[i0:i1] = dx.dtype.type(0.0)
    for n0 in range(i0, i1, nb):
        m = min(nb, i1 - n0)
        c2 = cols[:m * per].reshape(m * rows, kdim)
        for g in range(groups):
            gemm(False, True, 1.0, d2[n0 * rows:(n0 + m) * rows, g * fg:(g + 1) * fg], k2[:, g * fg:(g + 1) * fg],
                 0.0, c2)
            _col2im(c2, dx, n0, m, g * cg, cg, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw)


@kernel(parallel=True)
def _input_grad_parts(d2, k2, dx, cols, parts, kh, kw, cg, oh, ow, sh, sw, pt, pl, dh, dw, groups):
    """_input_grad_range by ``parts`` workers claiming chunks of images (see _forward_parts)."""
    n = dx.shape[0]
    cap = cols.size // parts
    nb = _chunk(oh * ow * kh * kw * cg, cap)
    claimed = np.zeros(1, np.int64)
    for t in prange(parts):
        mine = cols[t * cap:(t + 1) * cap]
        i0 = _fetch_add(claimed, nb)
        while i0 < n:
            _input_grad_range(d2, k2, dx, mine, i0, min(i0 + nb, n), kh, kw, cg, oh, ow, sh, sw, pt, pl, dh, dw,
                              groups)
            i0 = _fetch_add(claimed, nb)


@kernel
def _input_grad(dy, kernel, dx, cols, sh, sw, pt, pl, dh, dw, groups):
    """dx = col2im(dy[chunk, group] @ kernel2d[:, group]^T) per chunk and group, over parts of the batch."""
    n = dx.shape[0]
    kh, kw, cg, f = kernel.shape
    oh, ow = dy.shape[1], dy.shape[2]
    per = oh * ow * kh * kw * cg
    k2 = kernel.reshape(kh * kw * cg, f)
    d2 = dy.reshape(n * oh * ow, f)
    parts = _parts(n, per, 0, cols.size, n * per * (f // groups))
    if parts > 1:
        _input_grad_parts(d2, k2, dx, cols, parts, kh, kw, cg, oh, ow, sh, sw, pt, pl, dh, dw, groups)
    else:
        _input_grad_range(d2, k2, dx, cols, 0, n, kh, kw, cg, oh, ow, sh, sw, pt, pl, dh, dw, groups)


# ------------------------------------------------------------------------------------------- convolution


@kernel
def conv2d_forward(x, kernel, bias, out, cols, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, groups):
    """out = conv(x, kernel) + bias (formula and shapes: module docstring); out's old contents are ignored.

    Keras's Conv2D/Conv1D: kernel (KH, KW, C // groups, filters), strides 1, dilation 1, groups 1, use_bias True;
    'valid' is pads 0; 'same' is total = max((OH - 1)*s + K - H, 0) with OH = ceil(H / s), pad_top = total // 2.
    """
    n, h, w, c = x.shape
    kh, kw, cg, f = kernel.shape
    if not _one_dtype(x, kernel, bias, out, cols):
        raise ValueError("conv2d_forward: x, kernel, bias, out and cols must share one float dtype")
    if groups < 1 or cg < 1 or cg * groups != c:
        raise ValueError("conv2d_forward: kernel.shape[2] * groups must equal the input channels")
    if f < 1 or f % groups != 0 or out.shape[3] != f or out.shape[0] != n:
        raise ValueError("conv2d_forward: out must be (N, OH, OW, filters) with filters a multiple of groups")
    if bias.size != 0 and bias.size != f:
        raise ValueError("conv2d_forward: bias must have length 0 or filters")
    if not (_length_ok(h, out.shape[1], kh, stride_h, pad_top, dil_h)
            and _length_ok(w, out.shape[2], kw, stride_w, pad_left, dil_w)):
        raise ValueError("conv2d_forward: out's height/width do not follow from the input, kernel, strides, "
                         "pads and dilations")
    if cols.size < out.shape[1] * out.shape[2] * kh * kw * cg:
        raise ValueError("conv2d_forward: cols is shorter than conv2d_scratch_min")
    if not _contiguous(x, kernel, out, cols):
        raise ValueError("conv2d_forward: x, kernel, out and cols must be C-contiguous")
    _convolve(x, kernel, bias, out, cols, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, groups, False)


@kernel
def conv2d_forward_relu(x, kernel, bias, out, cols, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, groups):
    """out = relu(conv(x, kernel) + bias): conv2d_forward followed by Keras's plain relu (negative_slope 0, no
    max_value, threshold 0: z if z > 0 else 0, as activations.relu_forward), applied to each chunk of images right
    after its product while it is in cache, instead of a separate pass over the whole output. Same arguments and
    checks as conv2d_forward.

    The pre-activation is not kept: out > 0 exactly where it was > 0, so relu_backward can take ``out`` as its x.
    """
    n, h, w, c = x.shape
    kh, kw, cg, f = kernel.shape
    if not _one_dtype(x, kernel, bias, out, cols):
        raise ValueError("conv2d_forward_relu: x, kernel, bias, out and cols must share one float dtype")
    if groups < 1 or cg < 1 or cg * groups != c:
        raise ValueError("conv2d_forward_relu: kernel.shape[2] * groups must equal the input channels")
    if f < 1 or f % groups != 0 or out.shape[3] != f or out.shape[0] != n:
        raise ValueError("conv2d_forward_relu: out must be (N, OH, OW, filters) with filters a multiple of groups")
    if bias.size != 0 and bias.size != f:
        raise ValueError("conv2d_forward_relu: bias must have length 0 or filters")
    if not (_length_ok(h, out.shape[1], kh, stride_h, pad_top, dil_h)
            and _length_ok(w, out.shape[2], kw, stride_w, pad_left, dil_w)):
        raise ValueError("conv2d_forward_relu: out's height/width do not follow from the input, kernel, strides, "
                         "pads and dilations")
    if cols.size < out.shape[1] * out.shape[2] * kh * kw * cg:
        raise ValueError("conv2d_forward_relu: cols is shorter than conv2d_scratch_min")
    if not _contiguous(x, kernel, out, cols):
        raise ValueError("conv2d_forward_relu: x, kernel, out and cols must be C-contiguous")
    _convolve(x, kernel, bias, out, cols, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, groups, True)


@kernel
def conv2d_backward(x, kernel, dy, dx, dkernel, dbias, cols, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w,
                    groups, accumulate):
    """Gradients of L = sum(dy * conv2d_forward(x, kernel, bias)) for an upstream gradient dy (N, OH, OW, F).

    dkernel[p, q, c, f] (+)= sum_{n, i, j} xpad[n, i*sh + p*dh, j*sw + q*dw, g*Cg + c] * dy[n, i, j, f]
    dbias[f]            (+)= sum_{n, i, j} dy[n, i, j, f]                  (skipped when dbias has size 0)
    dx[n, y, z, g*Cg + c] = sum of kernel[p, q, c, f] * dy[n, i, j, f] over the (i, j, p, q, f in group g)
                            that read x[n, y, z, g*Cg + c]                 (skipped when dx has size 0)

    ``accumulate`` adds into dkernel and dbias instead of overwriting them; dx is always overwritten.
    """
    n, h, w, c = x.shape
    kh, kw, cg, f = kernel.shape
    if not (_one_dtype(x, kernel, dy, dx, cols) and dkernel.dtype == x.dtype and dbias.dtype == x.dtype):
        raise ValueError("conv2d_backward: every array must share one float dtype")
    if groups < 1 or cg < 1 or cg * groups != c:
        raise ValueError("conv2d_backward: kernel.shape[2] * groups must equal the input channels")
    if f < 1 or f % groups != 0 or dy.shape[3] != f or dy.shape[0] != n:
        raise ValueError("conv2d_backward: dy must be (N, OH, OW, filters) with filters a multiple of groups")
    if dkernel.shape != kernel.shape:
        raise ValueError("conv2d_backward: dkernel must have the kernel's shape")
    if dbias.size != 0 and dbias.size != f:
        raise ValueError("conv2d_backward: dbias must have length 0 or filters")
    if dx.size != 0 and dx.shape != x.shape:
        raise ValueError("conv2d_backward: dx must have x's shape, or size 0")
    if not (_length_ok(h, dy.shape[1], kh, stride_h, pad_top, dil_h)
            and _length_ok(w, dy.shape[2], kw, stride_w, pad_left, dil_w)):
        raise ValueError("conv2d_backward: dy's height/width do not follow from the input, kernel, strides, "
                         "pads and dilations")
    if cols.size < dy.shape[1] * dy.shape[2] * kh * kw * cg:
        raise ValueError("conv2d_backward: cols is shorter than conv2d_scratch_min")
    if not (_contiguous(x, kernel, dy, cols) and _contiguous(dx, dkernel, dbias, cols)):
        raise ValueError("conv2d_backward: every array must be C-contiguous")
    if dbias.size != 0:
        _channel_sums(dy, dbias, accumulate)
    _kernel_grad(x, dy, dkernel, cols, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, groups, accumulate, dy,
                 False, dbias[:0])
    if dx.size != 0:
        _input_grad(dy, kernel, dx, cols, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, groups)


@kernel
def conv2d_backward_relu(x, kernel, y, dy, dx, dkernel, dbias, cols, stride_h, stride_w, pad_top, pad_left, dil_h,
                         dil_w, groups, accumulate):
    """conv2d_backward for out = relu(conv(x, kernel) + bias) (conv2d_forward_relu's output ``y``): dy is first
    multiplied in place by relu'(z) = [y > 0] (exactly activations.relu_backward(y, y, dy, dy, 0, inf, 0)), then
    the gradients are conv2d_backward's of the masked dy. The mask is applied to each chunk of images right before
    its kernel-gradient product reads it, while it is in cache, and summed into dbias there too (per thread part,
    added at the end), instead of separate passes over the whole of dy.
    On return dy holds the masked gradient (the gradient with respect to the pre-activation).
    """
    n, h, w, c = x.shape
    kh, kw, cg, f = kernel.shape
    if not (_one_dtype(x, kernel, dy, dx, cols) and dkernel.dtype == x.dtype and dbias.dtype == x.dtype):
        raise ValueError("conv2d_backward_relu: every array must share one float dtype")
    if groups < 1 or cg < 1 or cg * groups != c:
        raise ValueError("conv2d_backward_relu: kernel.shape[2] * groups must equal the input channels")
    if f < 1 or f % groups != 0 or dy.shape[3] != f or dy.shape[0] != n:
        raise ValueError("conv2d_backward_relu: dy must be (N, OH, OW, filters) with filters a multiple of groups")
    if y.shape != dy.shape or not (y.dtype == dy.dtype) or not y.flags.c_contiguous:
        raise ValueError("conv2d_backward_relu: y must have dy's shape and dtype and be C-contiguous")
    if dkernel.shape != kernel.shape:
        raise ValueError("conv2d_backward_relu: dkernel must have the kernel's shape")
    if dbias.size != 0 and dbias.size != f:
        raise ValueError("conv2d_backward_relu: dbias must have length 0 or filters")
    if dx.size != 0 and dx.shape != x.shape:
        raise ValueError("conv2d_backward_relu: dx must have x's shape, or size 0")
    if not (_length_ok(h, dy.shape[1], kh, stride_h, pad_top, dil_h)
            and _length_ok(w, dy.shape[2], kw, stride_w, pad_left, dil_w)):
        raise ValueError("conv2d_backward_relu: dy's height/width do not follow from the input, kernel, strides, "
                         "pads and dilations")
    if cols.size < dy.shape[1] * dy.shape[2] * kh * kw * cg:
        raise ValueError("conv2d_backward_relu: cols is shorter than conv2d_scratch_min")
    if not (_contiguous(x, kernel, dy, cols) and _contiguous(dx, dkernel, dbias, cols)):
        raise ValueError("conv2d_backward_relu: every array must be C-contiguous")
    _kernel_grad(x, dy, dkernel, cols, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, groups, accumulate, y,
                 True, dbias)
    if dx.size != 0:
        _input_grad(dy, kernel, dx, cols, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, groups)


# ------------------------------------------------------- convolution followed by non-overlapping max pooling


def conv2d_max_pool2d_scratch_size(N, OH, OW, KH, KW, C, F, groups, budget):  # noqa: N803
    """``cols`` length for the fused convolution + max pooling kernels: min(N, budget // per_image) images, at
    least one, where an image needs its patch matrix (one group's) and its convolution output (OH * OW * F)."""
    per_image = conv2d_scratch_min(OH, OW, KH, KW, C, groups) + OH * OW * F
    return max(1, min(N, budget // per_image if per_image else 1)) * per_image


@kernel
def _conv_pool_problem(x, kernel, pooled, argmax, cols, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, oh,
                       ow, pool_h, pool_w, groups):
    """0 when the fused kernels' arguments agree, else the number of the first disagreement (the callers raise
    the matching message)."""
    n, h, w, c = x.shape
    kh, kw, cg, f = kernel.shape
    if groups < 1 or cg < 1 or cg * groups != c:
        return 1
    if f < 1 or f % groups != 0:
        return 2
    if not (_length_ok(h, oh, kh, stride_h, pad_top, dil_h) and _length_ok(w, ow, kw, stride_w, pad_left, dil_w)):
        return 3
    if pool_h < 1 or pool_w < 1 or oh < pool_h or ow < pool_w:
        return 4
    if (pooled.shape[0] != n or pooled.shape[1] != oh // pool_h or pooled.shape[2] != ow // pool_w
            or pooled.shape[3] != f):
        return 5
    if (argmax.shape[0] != n or argmax.shape[1] != pooled.shape[1] or argmax.shape[2] != pooled.shape[2]
            or argmax.shape[3] != f):
        return 6
    if cols.size < oh * ow * (kh * kw * cg + f):
        return 7
    if not (_contiguous(x, kernel, pooled, argmax) and cols.flags.c_contiguous):
        return 8
    if oh * ow > (2**24 if argmax.itemsize == 4 else 2**53):
        return 9
    return 0


@kernel
def _conv_pool_forward_range(x, k2, bias, pooled, argmax, cols, i0, i1, kh, kw, cg, oh, ow, sh, sw, pt, pl, dh,
                             dw, groups, ph, pw, relu):
    """Images i0 .. i1 - 1, a chunk at a time: z = conv(x) + bias (then relu) into the chunk's slice of cols, then
    pooled / argmax of the chunk by max_pool2d_forward, while z is in cache."""
    rows, kdim = oh * ow, kh * kw * cg
    f = k2.shape[1]
    fg = f // groups
    per = rows * (kdim + f)
    nb = _chunk(per, cols.size)
    for n0 in range(i0, i1, nb):
        m = min(nb, i1 - n0)
        z = cols[m * rows * kdim:m * per]
        z2 = z.reshape(m * rows, f)
        if bias.size != 0:
            _start(z2, bias)
        for g in range(groups):
            _patches_product(x, cols, n0, m, g * cg, cg, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw,
                             k2[:, g * fg:(g + 1) * fg], 1.0 if bias.size != 0 else 0.0, z2[:, g * fg:(g + 1) * fg],
                             False)
        if relu:
            _relu_in_place(z)
        max_pool2d_forward(z.reshape(m, oh, ow, f), pooled[n0:n0 + m], argmax[n0:n0 + m], ph, pw, ph, pw, 0, 0)


@kernel(parallel=True)
def _conv_pool_forward_parts(x, k2, bias, pooled, argmax, cols, parts, kh, kw, cg, oh, ow, sh, sw, pt, pl, dh, dw,
                             groups, ph, pw, relu):
    """_conv_pool_forward_range by ``parts`` workers claiming chunks of images (see _forward_parts)."""
    n = x.shape[0]
    cap = cols.size // parts
    nb = _chunk(oh * ow * (kh * kw * cg + k2.shape[1]), cap)
    claimed = np.zeros(1, np.int64)
    for t in prange(parts):
        mine = cols[t * cap:(t + 1) * cap]
        i0 = _fetch_add(claimed, nb)
        while i0 < n:
            _conv_pool_forward_range(x, k2, bias, pooled, argmax, mine, i0, min(i0 + nb, n), kh, kw, cg, oh, ow, sh,
                                     sw, pt, pl, dh, dw, groups, ph, pw, relu)
            i0 = _fetch_add(claimed, nb)


@kernel
def conv2d_max_pool2d_forward(x, kernel, bias, pooled, argmax, cols, stride_h, stride_w, pad_top, pad_left, dil_h,
                              dil_w, oh, ow, pool_h, pool_w, groups, relu):
    """pooled = max_pool(act(conv(x, kernel) + bias)) over non-overlapping pool_h x pool_w windows (strides equal to
    the pool, no padding: windows past the last full one are dropped, as Keras's 'valid' pooling), act relu when
    ``relu`` else the identity; the convolution output z (N, OH, OW, F) is never stored whole.

    Exactly conv2d_forward (or conv2d_forward_relu) into z, then pooling.max_pool2d_forward(z, pooled, argmax,
    pool_h, pool_w, pool_h, pool_w, 0, 0), but a chunk of images at a time, z's chunk in ``cols`` (length from
    conv2d_max_pool2d_scratch_size), so that z never travels to memory and back: for a small first layer those
    two passes over a large activation, not the arithmetic, were the cost. argmax (pooled's shape) holds, as
    max_pool2d_forward's, the spatial index i * OW + j within z's image of each maximum (first maximum wins, NaN
    wins). OH and OW are the convolution's output size (they do not follow from pooled's shape, which drops a
    partial window). Other arguments as conv2d_forward's.
    """
    problem = _conv_pool_problem(x, kernel, pooled, argmax, cols, stride_h, stride_w, pad_top, pad_left, dil_h,
                                 dil_w, oh, ow, pool_h, pool_w, groups)
    if not (_one_dtype(x, kernel, bias, pooled, cols) and argmax.dtype == x.dtype):
        raise ValueError("conv2d_max_pool2d_forward: every array must share one float dtype")
    if bias.size != 0 and bias.size != kernel.shape[3]:
        raise ValueError("conv2d_max_pool2d_forward: bias must have length 0 or filters")
    _conv_pool_raise(problem)
    n = x.shape[0]
    kh, kw, cg, f = kernel.shape
    per = oh * ow * (kh * kw * cg + f)
    k2 = kernel.reshape(kh * kw * cg, f)
    parts = _parts(n, per, 0, cols.size, n * oh * ow * kh * kw * cg * (f // groups))
    if parts > 1:
        _conv_pool_forward_parts(x, k2, bias, pooled, argmax, cols, parts, kh, kw, cg, oh, ow, stride_h, stride_w,
                                 pad_top, pad_left, dil_h, dil_w, groups, pool_h, pool_w, relu)
    else:
        _conv_pool_forward_range(x, k2, bias, pooled, argmax, cols, 0, n, kh, kw, cg, oh, ow, stride_h, stride_w,
                                 pad_top, pad_left, dil_h, dil_w, groups, pool_h, pool_w, relu)


@kernel
def _conv_pool_raise(problem):
    if problem == 1:
        raise ValueError("conv2d_max_pool2d: kernel.shape[2] * groups must equal the input channels")
    if problem == 2:
        raise ValueError("conv2d_max_pool2d: filters must be a positive multiple of groups")
    if problem == 3:
        raise ValueError("conv2d_max_pool2d: OH/OW do not follow from the input, kernel, strides, pads and "
                         "dilations")
    if problem == 4:
        raise ValueError("conv2d_max_pool2d: the pool must be at least 1 and at most OH x OW")
    if problem == 5:
        raise ValueError("conv2d_max_pool2d: pooled must be (N, OH // pool_h, OW // pool_w, filters)")
    if problem == 6:
        raise ValueError("conv2d_max_pool2d: argmax must have pooled's shape")
    if problem == 7:
        raise ValueError("conv2d_max_pool2d: cols is shorter than one image's patches and convolution output")
    if problem == 8:
        raise ValueError("conv2d_max_pool2d: every array must be C-contiguous")
    if problem == 9:
        raise ValueError("conv2d_max_pool2d: OH * OW exceeds the integers argmax's dtype holds exactly")


@kernel
def _conv_pool_backward_range(x, k2, pooled, argmax, dpooled, dx, dk2, db, cols, i0, i1, beta, kh, kw, cg, oh, ow,
                              sh, sw, pt, pl, dh, dw, groups, relu):
    """Images i0 .. i1 - 1, a chunk at a time: dpooled masked by [pooled > 0] (relu), scattered into dz (the chunk's
    slice of cols) by max_pool2d_backward, then dk2 = beta * dk2 + the chunk's cols^T @ dz (beta 1 after the first
    chunk), db += dz's channel sums (when db has entries), dx = col2im(dz @ kernel^T) (when dx has entries)."""
    rows, kdim = oh * ow, kh * kw * cg
    f = k2.shape[1]
    fg = f // groups
    per = rows * (kdim + f)
    nb = _chunk(per, cols.size)
    if i1 <= i0 and beta == 0.0:
        dk2[:, :] = dk2.dtype.type(0.0)
    for n0 in range(i0, i1, nb):
        m = min(nb, i1 - n0)
        c2 = cols[:m * rows * kdim].reshape(m * rows, kdim)
        z = cols[m * rows * kdim:m * per]
        z2 = z.reshape(m * rows, f)
        if relu:
            _relu_mask(dpooled[n0:n0 + m].reshape(-1), pooled[n0:n0 + m].reshape(-1))
        max_pool2d_backward(argmax[n0:n0 + m], dpooled[n0:n0 + m], z.reshape(m, oh, ow, f))
        if db.size != 0:
            _channel_sums(z2, db, True)
        b = beta if n0 == i0 else 1.0
        for g in range(groups):
            _patches_product(x, cols, n0, m, g * cg, cg, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw,
                             z2[:, g * fg:(g + 1) * fg], b, dk2[:, g * fg:(g + 1) * fg], True)
        if dx.size != 0:
            dx[n0:n0 + m] = dx.dtype.type(0.0)
            for g in range(groups):
                gemm(False, True, 1.0, z2[:, g * fg:(g + 1) * fg], k2[:, g * fg:(g + 1) * fg], 0.0, c2)
                _col2im(c2, dx, n0, m, g * cg, cg, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw)


@kernel(parallel=True)
def _conv_pool_backward_parts(x, k2, pooled, argmax, dpooled, dx, dk2, db, cols, parts, accumulate, kh, kw, cg, oh,
                              ow, sh, sw, pt, pl, dh, dw, groups, relu):
    """_conv_pool_backward_range by ``parts`` workers claiming chunks of images, each summing its kernel and bias
    gradients into its own partial (the front of cols), added into dk2 / db at the end (see _kernel_grad_parts)."""
    n = x.shape[0]
    size = dk2.size
    fsz = db.size
    cap = (cols.size - parts * (size + fsz)) // parts
    nb = _chunk(oh * ow * (kh * kw * cg + k2.shape[1]), cap)
    claimed = np.zeros(1, np.int64)
    for t in prange(parts):
        partial, bpart, mine = _part_scratch(cols, t, parts, size, fsz, cap)
        partial = partial.reshape(dk2.shape)
        beta = 0.0
        i0 = _fetch_add(claimed, nb)
        if i0 >= n:
            partial[:, :] = partial.dtype.type(0.0)
        while i0 < n:
            _conv_pool_backward_range(x, k2, pooled, argmax, dpooled, dx, partial, bpart, mine, i0, min(i0 + nb, n),
                                      beta, kh, kw, cg, oh, ow, sh, sw, pt, pl, dh, dw, groups, relu)
            beta = 1.0
            i0 = _fetch_add(claimed, nb)
    _sum_partials(cols, dk2, db, parts, accumulate)


@kernel
def _sum_partials(cols, dk2, db, parts, accumulate):
    """dk2 (+)= the ``parts`` kernel partials at the front of cols; db (+)= the bias partials after them."""
    size = dk2.size
    fsz = db.size
    kf = dk2.reshape(-1)
    if not accumulate:
        kf[:] = cols[:size]
    else:
        for e in range(size):
            kf[e] += cols[e]
    for t in range(1, parts):
        pf = cols[t * size:(t + 1) * size]
        for e in range(size):
            kf[e] += pf[e]
    if fsz != 0:
        if not accumulate:
            db[:] = db.dtype.type(0.0)
        for t in range(parts):
            bf = cols[parts * size + t * fsz:parts * size + (t + 1) * fsz]
            for e in range(fsz):
                db[e] += bf[e]


@kernel
def conv2d_max_pool2d_backward(x, kernel, pooled, argmax, dpooled, dx, dkernel, dbias, cols, stride_h, stride_w,
                               pad_top, pad_left, dil_h, dil_w, oh, ow, pool_h, pool_w, groups, relu, accumulate):
    """Gradients of L = sum(dpooled * conv2d_max_pool2d_forward(x, kernel, bias)) from the forward's pooled and
    argmax: the upstream gradient of z is dz = max_pool2d_backward(argmax, dpooled * [pooled > 0] (relu) or dpooled)
    -- a pooled value is z's relu at its argmax, so [pooled > 0] is relu's mask there -- and the gradients are
    conv2d_backward's for dz: dkernel and dbias (+)= (``accumulate``), dx overwritten (skipped when dx has size 0).
    dz is built a chunk of images at a time in ``cols`` and never stored whole. With ``relu``, dpooled holds the
    masked gradient on return (as conv2d_backward_relu's dy)."""
    problem = _conv_pool_problem(x, kernel, pooled, argmax, cols, stride_h, stride_w, pad_top, pad_left, dil_h,
                                 dil_w, oh, ow, pool_h, pool_w, groups)
    if not (_one_dtype(x, kernel, pooled, dpooled, cols) and dx.dtype == x.dtype and dkernel.dtype == x.dtype
            and dbias.dtype == x.dtype and argmax.dtype == x.dtype):
        raise ValueError("conv2d_max_pool2d_backward: every array must share one float dtype")
    if dpooled.shape != pooled.shape or not dpooled.flags.c_contiguous:
        raise ValueError("conv2d_max_pool2d_backward: dpooled must have pooled's shape and be C-contiguous")
    if dkernel.shape != kernel.shape or not dkernel.flags.c_contiguous:
        raise ValueError("conv2d_max_pool2d_backward: dkernel must have the kernel's shape")
    if dbias.size != 0 and dbias.size != kernel.shape[3]:
        raise ValueError("conv2d_max_pool2d_backward: dbias must have length 0 or filters")
    if dx.size != 0 and (dx.shape != x.shape or not dx.flags.c_contiguous):
        raise ValueError("conv2d_max_pool2d_backward: dx must have x's shape, or size 0")
    _conv_pool_raise(problem)
    n = x.shape[0]
    kh, kw, cg, f = kernel.shape
    per = oh * ow * (kh * kw * cg + f)
    k2 = kernel.reshape(kh * kw * cg, f)
    dk2 = dkernel.reshape(kh * kw * cg, f)
    work = n * oh * ow * kh * kw * cg * (f // groups) * (2 if dx.size != 0 else 1)
    parts = _parts(n, per, dk2.size + dbias.size, cols.size, work)
    if parts > 1:
        _conv_pool_backward_parts(x, k2, pooled, argmax, dpooled, dx, dk2, dbias, cols, parts, accumulate, kh, kw,
                                  cg, oh, ow, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, groups, relu)
    else:
        if dbias.size != 0 and not accumulate:
            dbias[:] = dbias.dtype.type(0.0)
        _conv_pool_backward_range(x, k2, pooled, argmax, dpooled, dx, dk2, dbias, cols, 0, n,
                                  1.0 if accumulate else 0.0, kh, kw, cg, oh, ow, stride_h, stride_w, pad_top,
                                  pad_left, dil_h, dil_w, groups, relu)


# ------------------------------------------------------------------------------ transposed convolution


@kernel
def conv2d_transpose_forward(x, kernel, bias, out, cols, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w):
    """out = conv_transpose(x, kernel) + bias: x (N, H, W, C), kernel (KH, KW, F, C), out (N, OH, OW, F).

    The input gradient of the convolution from out's shape to x's (module docstring); pad_top/pad_left are the
    rows/columns cropped from the front of the full output. ``cols`` needs conv2d_scratch_min(H, W, KH, KW, F, 1).
    """
    n, h, w, c = x.shape
    kh, kw, f, kc = kernel.shape
    if not _one_dtype(x, kernel, bias, out, cols):
        raise ValueError("conv2d_transpose_forward: x, kernel, bias, out and cols must share one float dtype")
    if kc != c or f < 1 or c < 1:
        raise ValueError("conv2d_transpose_forward: kernel.shape[3] must equal the input channels")
    if out.shape[3] != f or out.shape[0] != n:
        raise ValueError("conv2d_transpose_forward: out must be (N, OH, OW, kernel.shape[2])")
    if bias.size != 0 and bias.size != f:
        raise ValueError("conv2d_transpose_forward: bias must have length 0 or filters")
    if not (_length_ok(out.shape[1], h, kh, stride_h, pad_top, dil_h)
            and _length_ok(out.shape[2], w, kw, stride_w, pad_left, dil_w)):
        raise ValueError("conv2d_transpose_forward: the input's height/width do not follow from out's, the "
                         "kernel, strides, pads and dilations")
    if cols.size < h * w * kh * kw * f:
        raise ValueError("conv2d_transpose_forward: cols is shorter than conv2d_scratch_min(H, W, KH, KW, F, 1)")
    if not _contiguous(x, kernel, out, cols):
        raise ValueError("conv2d_transpose_forward: x, kernel, out and cols must be C-contiguous")
    _input_grad(x, kernel, out, cols, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, 1)
    if bias.size != 0:
        rows = out.reshape(-1, f)
        for r in range(rows.shape[0]):
            row = rows[r]
            for o in range(f):
                row[o] += bias[o]


@kernel
def conv2d_transpose_backward(x, kernel, dy, dx, dkernel, dbias, cols, stride_h, stride_w, pad_top, pad_left,
                              dil_h, dil_w, accumulate):
    """Gradients of L = sum(dy * conv2d_transpose_forward(x, kernel, bias)), dy (N, OH, OW, F).

    dx      = conv2d_forward(dy, kernel) (no bias), shape (N, H, W, C)     (skipped when dx has size 0)
    dkernel[p, q, f, c] (+)= sum_{n, h, w} dypad[n, h*sh + p*dh, w*sw + q*dw, f] * x[n, h, w, c]
    dbias[f] (+)= sum of dy over n, OH, OW                                 (skipped when dbias has size 0)
    """
    n, h, w, c = x.shape
    kh, kw, f, kc = kernel.shape
    if not (_one_dtype(x, kernel, dy, dx, cols) and dkernel.dtype == x.dtype and dbias.dtype == x.dtype):
        raise ValueError("conv2d_transpose_backward: every array must share one float dtype")
    if kc != c or f < 1 or c < 1:
        raise ValueError("conv2d_transpose_backward: kernel.shape[3] must equal the input channels")
    if dy.shape[3] != f or dy.shape[0] != n:
        raise ValueError("conv2d_transpose_backward: dy must be (N, OH, OW, kernel.shape[2])")
    if dkernel.shape != kernel.shape:
        raise ValueError("conv2d_transpose_backward: dkernel must have the kernel's shape")
    if dbias.size != 0 and dbias.size != f:
        raise ValueError("conv2d_transpose_backward: dbias must have length 0 or filters")
    if dx.size != 0 and dx.shape != x.shape:
        raise ValueError("conv2d_transpose_backward: dx must have x's shape, or size 0")
    if not (_length_ok(dy.shape[1], h, kh, stride_h, pad_top, dil_h)
            and _length_ok(dy.shape[2], w, kw, stride_w, pad_left, dil_w)):
        raise ValueError("conv2d_transpose_backward: the input's height/width do not follow from dy's, the "
                         "kernel, strides, pads and dilations")
    if cols.size < h * w * kh * kw * f:
        raise ValueError("conv2d_transpose_backward: cols is shorter than conv2d_scratch_min(H, W, KH, KW, F, 1)")
    if not (_contiguous(x, kernel, dy, cols) and _contiguous(dx, dkernel, dbias, cols)):
        raise ValueError("conv2d_transpose_backward: every array must be C-contiguous")
    if dbias.size != 0:
        _channel_sums(dy, dbias, accumulate)
    # In the convolution's terms the input is dy and the output gradient is x.
    _kernel_grad(dy, x, dkernel, cols, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, 1, accumulate, x, False,
                 dbias[:0])
    if dx.size != 0:
        _convolve(dy, kernel, dbias[:0], dx, cols, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, 1, False)


# --------------------------------------------------------------------------------- depthwise convolution


@kernel
def _depthwise_checks_ok(x, kernel, out_shape, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w):
    return (kernel.shape[2] == x.shape[3] and kernel.shape[3] >= 1 and x.shape[3] >= 1
            and out_shape[0] == x.shape[0] and out_shape[3] == x.shape[3] * kernel.shape[3]
            and _length_ok(x.shape[1], out_shape[1], kernel.shape[0], stride_h, pad_top, dil_h)
            and _length_ok(x.shape[2], out_shape[2], kernel.shape[1], stride_w, pad_left, dil_w))


@kernel
def depthwise_conv2d_forward(x, kernel, bias, out, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w):
    """out[n, i, j, c*M + m] = bias[c*M + m] + sum_{p, q} xpad[n, i*sh + p*dh, j*sw + q*dw, c] * kernel[p, q, c, m].

    Keras's DepthwiseConv2D: kernel (KH, KW, C, depth_multiplier), bias (C * depth_multiplier,) or size 0;
    out (N, OH, OW, C*M), padding and geometry as conv2d_forward.
    """
    kh, kw, c, mult = kernel.shape
    if not _one_dtype(x, kernel, bias, out, out):
        raise ValueError("depthwise_conv2d_forward: x, kernel, bias and out must share one float dtype")
    if not _depthwise_checks_ok(x, kernel, out.shape, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w):
        raise ValueError("depthwise_conv2d_forward: shapes do not agree: kernel (KH, KW, C, M), out (N, OH, OW, "
                         "C*M) with OH, OW following from the input, strides, pads and dilations")
    if bias.size != 0 and bias.size != c * mult:
        raise ValueError("depthwise_conv2d_forward: bias must have length 0 or C * M")
    if not _contiguous(x, kernel, out, out):
        raise ValueError("depthwise_conv2d_forward: x, kernel and out must be C-contiguous")
    n, h, w, _ = x.shape
    oh, ow = out.shape[1], out.shape[2]
    k3 = kernel.reshape(kh, kw, c * mult)  # entry c*M + m of a tap is kernel[p, q, c, m]: out's channel order
    _start(out, bias)
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                orow = out[b, i, j]
                for p in range(kh):
                    ih = i * stride_h - pad_top + p * dil_h
                    if ih < 0 or ih >= h:
                        continue
                    for q in range(kw):
                        iw = j * stride_w - pad_left + q * dil_w
                        if iw < 0 or iw >= w:
                            continue
                        src = x[b, ih, iw]
                        tap = k3[p, q]
                        if mult == 1:
                            for o in range(c):
                                orow[o] += src[o] * tap[o]
                        else:
                            for ci in range(c):
                                v = src[ci]
                                for o in range(ci * mult, (ci + 1) * mult):
                                    orow[o] += v * tap[o]


@kernel
def depthwise_conv2d_backward(x, kernel, dy, dx, dkernel, dbias, stride_h, stride_w, pad_top, pad_left, dil_h,
                              dil_w, accumulate):
    """Gradients of L = sum(dy * depthwise_conv2d_forward(x, kernel, bias)), dy (N, OH, OW, C*M).

    dkernel[p, q, c, m] (+)= sum_{n, i, j} xpad[n, i*sh + p*dh, j*sw + q*dw, c] * dy[n, i, j, c*M + m]
    dbias[c*M + m]      (+)= sum_{n, i, j} dy[n, i, j, c*M + m]                   (skipped when size 0)
    dx[n, y, z, c]        = sum over taps reading x[n, y, z, c] of kernel[p, q, c, m] * dy[n, i, j, c*M + m]
                                                                                (skipped when dx has size 0)
    ``accumulate`` adds into dkernel and dbias instead of overwriting them; dx is always overwritten.
    """
    kh, kw, c, mult = kernel.shape
    if not (_one_dtype(x, kernel, dy, dx, dkernel) and dbias.dtype == x.dtype):
        raise ValueError("depthwise_conv2d_backward: every array must share one float dtype")
    if not _depthwise_checks_ok(x, kernel, dy.shape, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w):
        raise ValueError("depthwise_conv2d_backward: shapes do not agree: kernel (KH, KW, C, M), dy (N, OH, OW, "
                         "C*M) with OH, OW following from the input, strides, pads and dilations")
    if dkernel.shape != kernel.shape:
        raise ValueError("depthwise_conv2d_backward: dkernel must have the kernel's shape")
    if dbias.size != 0 and dbias.size != c * mult:
        raise ValueError("depthwise_conv2d_backward: dbias must have length 0 or C * M")
    if dx.size != 0 and dx.shape != x.shape:
        raise ValueError("depthwise_conv2d_backward: dx must have x's shape, or size 0")
    if not (_contiguous(x, kernel, dy, dx) and _contiguous(dkernel, dbias, dy, dy)):
        raise ValueError("depthwise_conv2d_backward: every array must be C-contiguous")
    n, h, w, _ = x.shape
    oh, ow = dy.shape[1], dy.shape[2]
    k3 = kernel.reshape(kh, kw, c * mult)
    dk3 = dkernel.reshape(kh, kw, c * mult)
    if dbias.size != 0:
        _channel_sums(dy, dbias, accumulate)
    if not accumulate:
        dk3[...] = dkernel.dtype.type(0.0)
    need_dx = dx.size != 0
    if need_dx:
        dx[...] = dx.dtype.type(0.0)
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                grow = dy[b, i, j]
                for p in range(kh):
                    ih = i * stride_h - pad_top + p * dil_h
                    if ih < 0 or ih >= h:
                        continue
                    for q in range(kw):
                        iw = j * stride_w - pad_left + q * dil_w
                        if iw < 0 or iw >= w:
                            continue
                        src = x[b, ih, iw]
                        dtap = dk3[p, q]
                        for ci in range(c):
                            v = src[ci]
                            for o in range(ci * mult, (ci + 1) * mult):
                                dtap[o] += v * grow[o]
                        if need_dx:
                            dst = dx[b, ih, iw]
                            tap = k3[p, q]
                            for ci in range(c):
                                s = dst.dtype.type(0.0)
                                for o in range(ci * mult, (ci + 1) * mult):
                                    s += tap[o] * grow[o]
                                dst[ci] += s
