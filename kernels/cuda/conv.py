"""CUDA twin of kernels/cpu/conv.py: 2-D convolution, grouped, depthwise and transposed, forward and backward.

Shapes, formulas and argument meanings are the CPU module's (channels-last; read its docstring). The twins are
direct convolutions, four generic kernels over a convolution that maps an input ``a`` (N, H, W, C) to an output
(N, OH, OW, F) with a kernel (KH, KW, C // groups, F):

    _forward      one thread per output element (n, i, j, f), f fastest (coalesced writes and kernel reads):
                  out = bias + sum over the taps inside the input and the group's channels.
    _input_grad   one thread per input-gradient element (n, y, z, c), c fastest: a gather over the taps (p, q)
                  whose output position (i, j) = ((y + pad_top - p*dh) / sh, ...) is whole and inside dy, and the
                  group's filters. No atomics, overwrites.
    _kernel_grad  a 2-D grid: x over kernel-gradient elements (p, q, c, f), f fastest; y over chunks of the
                  N*OH*OW output positions. Each thread sums its chunk in a register and adds it into dkernel with
                  one atomic add, so the batch reduction stays on the device and spreads over many threads.
    _channel_sums dbias: blocks of 32 channels x 8 row-lanes over chunks of rows, a shared-memory reduction per
                  block, one atomic add per channel and block.

The other layers are these four with the roles swapped, as on the CPU: a transposed convolution's forward is the
input gradient of the convolution from out's shape to x's (plus bias by out channel), its dx a forward of dy, its
dkernel the kernel gradient with input dy and output gradient x. A depthwise convolution is the grouped one with
groups = C and the kernel (KH, KW, C, M) read as (KH, KW, 1, C*M) (the same memory), which is its channel order.

``cols`` (the CPU's im2col scratch) is checked as on the CPU (so a caller sized for the CPU works here) but not
used. Launches per call: forward 1; backward up to 4 (zeroing dkernel/dbias when not accumulating, dkernel, dbias
when it has entries, dx when it has entries).

Differences from the CPU kernels: sums run in a different order (dkernel and dbias through atomic adds, so the
last bits of those two can vary between runs); the host checks accept float32 and float64 only.
"""

import math
import threading

import numpy as np
from numba import cuda

from . import _launch
from . import activations as _activations
from . import pooling as _pooling
from ._launch import kernel

#: Kernel-gradient threads a backward call aims for (kernel elements x row chunks), and the fewest output positions
#: one thread sums before a chunk is worth splitting again.
KGRAD_THREADS = 1 << 20
KGRAD_MIN_ROWS = 16
#: Rows (output positions) one block of the dbias reduction sums: 8 lanes of this many / 8 rows each.
BIAS_ROWS = 256
#: The largest grid y dimension CUDA allows.
GRID_Y_MAX = 65535


# ---------------------------------------------------------------------------------------- sizes and checks


def conv2d_scratch_min(OH, OW, KH, KW, C, groups):
    """As kernels.cpu.conv.conv2d_scratch_min: the shortest ``cols`` the twins accept (one image's patch matrix
    for one group). The CUDA twins check that length, to accept what the CPU accepts, but do not use ``cols``."""
    return OH * OW * KH * KW * (C // groups)


def conv2d_scratch_size(N, OH, OW, KH, KW, C, groups, budget):
    """As kernels.cpu.conv.conv2d_scratch_size: a whole number of images' patch matrices, at least one, at most N,
    within ``budget`` floats. (Unused by the CUDA twins beyond the length check; the CPU's size keeps one
    allocation valid for both.)"""
    one = conv2d_scratch_min(OH, OW, KH, KW, C, groups)
    if one == 0:
        return 0
    return max(1, min(N, budget // one)) * one


def _length_ok(n_in, n_out, k, stride, pad, dil):
    """The CPU's geometry rule: n_out windows of k taps (dilation dil, step stride) after ``pad`` front zeros,
    0 <= pad <= K - 1 with K = (k - 1) * dil + 1, and some back padding in 0 .. K - 1 giving n_out windows."""
    extent = (k - 1) * dil + 1
    if k < 1 or stride < 1 or dil < 1 or n_in < 1 or n_out < 1 or pad < 0 or pad > extent - 1:
        return False
    return any(n_in + pad + back - extent >= 0 and (n_in + pad + back - extent) // stride + 1 == n_out
               for back in range(extent))


def _one_float_dtype(*arrays):
    t = np.dtype(arrays[0].dtype)
    return t in (np.dtype(np.float32), np.dtype(np.float64)) and all(np.dtype(a.dtype) == t for a in arrays)


def _c_contiguous(*arrays):
    for a in arrays:
        check = getattr(a, "is_c_contiguous", None)
        if check is not None:
            if not check():
                return False
        elif not _launch._c_contiguous(a):
            return False
    return True


# ------------------------------------------------------------------------------------------- device kernels

_GEOMETRY = "int64, int64, int64, int64, int64, int64, int64"  # sh, sw, pt, pl, dh, dw, groups


@kernel("void(F[:, :, :, ::1], F[:, :, :, ::1], F[::1], boolean, F[:, :, :, ::1], " + _GEOMETRY + ")")
def _forward(a, k, bias, has_bias, out, sh, sw, pt, pl, dh, dw, groups):
    """out[n, i, j, f] = (bias[f]) + sum_{p, q, c} apad[n, i*sh + p*dh, j*sw + q*dw, g*Cg + c] * k[p, q, c, f]."""
    t = cuda.grid(1)
    nn, oh, ow, nf = out.shape
    if t >= nn * oh * ow * nf:
        return
    h, w = a.shape[1], a.shape[2]
    kh, kw, cg = k.shape[0], k.shape[1], k.shape[2]
    f = t % nf
    r = t // nf
    j = r % ow
    r = r // ow
    i = r % oh
    n = r // oh
    c0 = (f // (nf // groups)) * cg
    acc = out.dtype.type(0.0)
    if has_bias:
        acc = bias[f]
    for p in range(kh):
        ih = i * sh - pt + p * dh
        if ih < 0 or ih >= h:
            continue
        for q in range(kw):
            iw = j * sw - pl + q * dw
            if iw < 0 or iw >= w:
                continue
            for c in range(cg):
                acc += a[n, ih, iw, c0 + c] * k[p, q, c, f]
    out[n, i, j, f] = acc


@kernel("void(F[:, :, :, ::1], F[:, :, :, ::1], F[::1], boolean, F[:, :, :, ::1], " + _GEOMETRY + ")")
def _input_grad(g, k, bias, has_bias, dx, sh, sw, pt, pl, dh, dw, groups):
    """dx[n, y, z, gi*Cg + c] = (bias[gi*Cg + c]) + sum of k[p, q, c, f] * g[n, i, j, f] over the taps with
    i*sh - pt + p*dh == y, j*sw - pl + q*dw == z (i, j inside g) and the filters f of group gi. Overwrites dx."""
    t = cuda.grid(1)
    nn, h, w, nc = dx.shape
    if t >= nn * h * w * nc:
        return
    oh, ow = g.shape[1], g.shape[2]
    kh, kw, cg, nf = k.shape
    fg = nf // groups
    ch = t % nc
    r = t // nc
    z = r % w
    r = r // w
    y = r % h
    n = r // h
    gi = ch // cg
    c = ch - gi * cg
    acc = dx.dtype.type(0.0)
    if has_bias:
        acc = bias[ch]
    for p in range(kh):
        ay = y + pt - p * dh
        if ay < 0:
            break  # later taps reach further back
        i = ay // sh
        if i * sh != ay or i >= oh:
            continue
        for q in range(kw):
            az = z + pl - q * dw
            if az < 0:
                break
            j = az // sw
            if j * sw != az or j >= ow:
                continue
            for f in range(gi * fg, gi * fg + fg):
                acc += k[p, q, c, f] * g[n, i, j, f]
    dx[n, y, z, ch] = acc


@kernel("void(F[:, :, :, ::1], F[:, :, :, ::1], F[:, :, :, ::1], " + _GEOMETRY + ", int64)")
def _kernel_grad(a, g, dk, sh, sw, pt, pl, dh, dw, groups, chunk):
    """dk[p, q, c, f] += sum over the output positions (n, i, j) of chunk blockIdx.y of
    apad[n, i*sh + p*dh, j*sw + q*dw, gi*Cg + c] * g[n, i, j, f] (one atomic add per thread)."""
    e = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    kh, kw, cg, nf = dk.shape
    if e >= kh * kw * cg * nf:
        return
    nn, oh, ow = g.shape[0], g.shape[1], g.shape[2]
    h, w = a.shape[1], a.shape[2]
    rows = nn * oh * ow
    r0 = cuda.blockIdx.y * chunk
    r1 = min(r0 + chunk, rows)
    if r0 >= r1:
        return
    f = e % nf
    rest = e // nf
    c = rest % cg
    rest = rest // cg
    q = rest % kw
    p = rest // kw
    ch = (f // (nf // groups)) * cg + c
    j = r0 % ow
    i = (r0 // ow) % oh
    n = r0 // (ow * oh)
    acc = dk.dtype.type(0.0)
    for _ in range(r1 - r0):
        ih = i * sh - pt + p * dh
        iw = j * sw - pl + q * dw
        if ih >= 0 and ih < h and iw >= 0 and iw < w:
            acc += a[n, ih, iw, ch] * g[n, i, j, f]
        j += 1
        if j == ow:
            j = 0
            i += 1
            if i == oh:
                i = 0
                n += 1
    cuda.atomic.add(dk, (p, q, c, f), acc)


@kernel("void(F[:, ::1], F[::1], int64)")
def _channel_sums(rows, db, chunk):
    """db[f] += sum of rows[r, f] over the rows of chunk blockIdx.y: block (32, 8), channels across threadIdx.x
    (coalesced reads of a row), 8 row lanes reduced in shared memory, one atomic add per channel and block."""
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    f = cuda.blockIdx.x * 32 + tx
    nr, nf = rows.shape
    r0 = cuda.blockIdx.y * chunk
    r1 = min(r0 + chunk, nr)
    part = cuda.shared.array((8, 32), dtype=db.dtype)
    acc = db.dtype.type(0.0)
    if f < nf:
        for r in range(r0 + ty, r1, 8):
            acc += rows[r, f]
    part[ty, tx] = acc
    cuda.syncthreads()
    if ty == 0 and f < nf:
        for lane in range(1, 8):
            acc += part[lane, tx]
        cuda.atomic.add(db, f, acc)


@kernel("void(F[::1], F[::1])")
def _zero2(u, v):
    """u[:] = 0 and v[:] = 0 (a grid over the longer one)."""
    t = cuda.grid(1)
    if t < u.shape[0]:
        u[t] = u.dtype.type(0.0)
    if t < v.shape[0]:
        v[t] = v.dtype.type(0.0)


# ------------------------------------------------------------------------------------------------ launchers


def _geo(sh, sw, pt, pl, dh, dw, groups):
    return int(sh), int(sw), int(pt), int(pl), int(dh), int(dw), int(groups)


def _run_forward(a, k, bias, has_bias, out, geo):
    if out.size:
        _forward[_launch.grid(out.size)](a, k, bias, bool(has_bias), out, *geo)


def _run_input_grad(g, k, bias, has_bias, dx, geo):
    if dx.size:
        _input_grad[_launch.grid(dx.size)](g, k, bias, bool(has_bias), dx, *geo)


def _flat(a):
    return a.reshape(a.size)


def _run_weight_grads(a, g, dk, dbias, geo, accumulate, bias_from):
    """dk (+)= kernel gradient of the convolution a -> g; dbias (+)= channel sums of ``bias_from`` when dbias
    has entries. Zeroes both first unless accumulating."""
    if not accumulate:
        longest = max(dk.size, dbias.size)
        if longest:
            _zero2[_launch.grid(longest)](_flat(dk), dbias)
    rows = g.shape[0] * g.shape[1] * g.shape[2]
    if dk.size and rows:
        chunks = max(1, min(GRID_Y_MAX, math.ceil(KGRAD_THREADS / dk.size), math.ceil(rows / KGRAD_MIN_ROWS)))
        chunk = math.ceil(rows / chunks)
        chunks = math.ceil(rows / chunk)
        threads = min(_launch.THREADS, 32 * math.ceil(dk.size / 32))
        _kernel_grad[(_launch.blocks(dk.size, threads), chunks), threads](a, g, dk, *geo, int(chunk))
    if dbias.size:
        nf = bias_from.shape[3]
        brows = bias_from.shape[0] * bias_from.shape[1] * bias_from.shape[2]
        if brows:
            chunks = min(GRID_Y_MAX, math.ceil(brows / BIAS_ROWS))
            chunk = math.ceil(brows / chunks)
            chunks = math.ceil(brows / chunk)
            _channel_sums[(math.ceil(nf / 32), chunks), (32, 8)](bias_from.reshape(brows, nf), dbias, int(chunk))


# ------------------------------------------------------------------------------------------- convolution


def _check_forward(name, x, kernel, bias, out, cols, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, groups):
    """The host checks of conv2d_forward (and conv2d_forward_relu), with the CPU kernel's messages."""
    n, h, w, c = x.shape
    kh, kw, cg, f = kernel.shape
    if not _one_float_dtype(x, kernel, bias, out, cols):
        raise ValueError(f"{name}: x, kernel, bias, out and cols must share one float dtype")
    if groups < 1 or cg < 1 or cg * groups != c:
        raise ValueError(f"{name}: kernel.shape[2] * groups must equal the input channels")
    if f < 1 or f % groups != 0 or out.shape[3] != f or out.shape[0] != n:
        raise ValueError(f"{name}: out must be (N, OH, OW, filters) with filters a multiple of groups")
    if bias.size != 0 and bias.size != f:
        raise ValueError(f"{name}: bias must have length 0 or filters")
    if not (_length_ok(h, out.shape[1], kh, stride_h, pad_top, dil_h)
            and _length_ok(w, out.shape[2], kw, stride_w, pad_left, dil_w)):
        raise ValueError(f"{name}: out's height/width do not follow from the input, kernel, strides, "
                         "pads and dilations")
    if cols.size < out.shape[1] * out.shape[2] * kh * kw * cg:
        raise ValueError(f"{name}: cols is shorter than conv2d_scratch_min")
    if not _c_contiguous(x, kernel, out, cols):
        raise ValueError(f"{name}: x, kernel, out and cols must be C-contiguous")


def conv2d_forward(x, kernel, bias, out, cols, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, groups):
    """out = conv(x, kernel) + bias, as kernels.cpu.conv.conv2d_forward (one launch, a thread per output
    element; ``cols`` is checked but unused)."""
    _check_forward("conv2d_forward", x, kernel, bias, out, cols, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w,
                   groups)
    geo = _geo(stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, groups)
    _run_forward(x, kernel, bias, bias.size != 0, out, geo)


def conv2d_forward_relu(x, kernel, bias, out, cols, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, groups):
    """out = relu(conv(x, kernel) + bias), as kernels.cpu.conv.conv2d_forward_relu: the forward launch, then
    activations.relu_forward in place over ``out`` (two launches; the CPU kernel fuses them to save a pass over
    memory, which matters less here)."""
    _check_forward("conv2d_forward_relu", x, kernel, bias, out, cols, stride_h, stride_w, pad_top, pad_left, dil_h,
                   dil_w, groups)
    geo = _geo(stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, groups)
    _run_forward(x, kernel, bias, bias.size != 0, out, geo)
    flat = out.reshape(out.size)
    _activations.relu_forward(flat, flat, 0.0, math.inf, 0.0)


def _check_backward(name, x, kernel, y, dy, dx, dkernel, dbias, cols, stride_h, stride_w, pad_top, pad_left, dil_h,
                    dil_w, groups):
    """The host checks of conv2d_backward (y None) and conv2d_backward_relu, with the CPU kernel's messages."""
    n, h, w, c = x.shape
    kh, kw, cg, f = kernel.shape
    if not _one_float_dtype(x, kernel, dy, dx, cols, dkernel, dbias):
        raise ValueError(f"{name}: every array must share one float dtype")
    if groups < 1 or cg < 1 or cg * groups != c:
        raise ValueError(f"{name}: kernel.shape[2] * groups must equal the input channels")
    if f < 1 or f % groups != 0 or dy.shape[3] != f or dy.shape[0] != n:
        raise ValueError(f"{name}: dy must be (N, OH, OW, filters) with filters a multiple of groups")
    if y is not None and (tuple(y.shape) != tuple(dy.shape) or y.dtype != dy.dtype or not _c_contiguous(y)):
        raise ValueError(f"{name}: y must have dy's shape and dtype and be C-contiguous")
    if tuple(dkernel.shape) != tuple(kernel.shape):
        raise ValueError(f"{name}: dkernel must have the kernel's shape")
    if dbias.size != 0 and dbias.size != f:
        raise ValueError(f"{name}: dbias must have length 0 or filters")
    if dx.size != 0 and tuple(dx.shape) != tuple(x.shape):
        raise ValueError(f"{name}: dx must have x's shape, or size 0")
    if not (_length_ok(h, dy.shape[1], kh, stride_h, pad_top, dil_h)
            and _length_ok(w, dy.shape[2], kw, stride_w, pad_left, dil_w)):
        raise ValueError(f"{name}: dy's height/width do not follow from the input, kernel, strides, "
                         "pads and dilations")
    if cols.size < dy.shape[1] * dy.shape[2] * kh * kw * cg:
        raise ValueError(f"{name}: cols is shorter than conv2d_scratch_min")
    if not _c_contiguous(x, kernel, dy, cols, dx, dkernel, dbias):
        raise ValueError(f"{name}: every array must be C-contiguous")


def conv2d_backward(x, kernel, dy, dx, dkernel, dbias, cols, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w,
                    groups, accumulate):
    """Gradients of sum(dy * conv2d_forward(x, kernel, bias)), as kernels.cpu.conv.conv2d_backward: dkernel and
    dbias (+)= (``accumulate``), dx overwritten (skipped when size 0). dkernel and dbias are reduced over the batch
    on the device with atomic adds; ``cols`` is checked but unused."""
    _check_backward("conv2d_backward", x, kernel, None, dy, dx, dkernel, dbias, cols, stride_h, stride_w, pad_top,
                    pad_left, dil_h, dil_w, groups)
    geo = _geo(stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, groups)
    _run_weight_grads(x, dy, dkernel, dbias, geo, accumulate, dy)
    if dx.size != 0:
        _run_input_grad(dy, kernel, dbias, False, dx, geo)


def conv2d_backward_relu(x, kernel, y, dy, dx, dkernel, dbias, cols, stride_h, stride_w, pad_top, pad_left, dil_h,
                         dil_w, groups, accumulate):
    """As kernels.cpu.conv.conv2d_backward_relu: activations.relu_backward(y, y, dy, dy) in place over dy (one
    launch), then conv2d_backward's launches on the masked dy."""
    _check_backward("conv2d_backward_relu", x, kernel, y, dy, dx, dkernel, dbias, cols, stride_h, stride_w, pad_top,
                    pad_left, dil_h, dil_w, groups)
    flat_y, flat_dy = y.reshape(y.size), dy.reshape(dy.size)
    _activations.relu_backward(flat_y, flat_y, flat_dy, flat_dy, 0.0, math.inf, 0.0)
    geo = _geo(stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, groups)
    _run_weight_grads(x, dy, dkernel, dbias, geo, accumulate, dy)
    if dx.size != 0:
        _run_input_grad(dy, kernel, dbias, False, dx, geo)


# ------------------------------------------------------- convolution followed by non-overlapping max pooling


def conv2d_max_pool2d_scratch_size(N, OH, OW, KH, KW, C, F, groups, budget):
    """As kernels.cpu.conv.conv2d_max_pool2d_scratch_size (checked, not used, by the twins below)."""
    per_image = conv2d_scratch_min(OH, OW, KH, KW, C, groups) + OH * OW * F
    return max(1, min(N, budget // per_image if per_image else 1)) * per_image


#: Device buffers the fused twins keep the convolution output (or its gradient) in, by shape, dtype and thread.
_Z = {}


def _z_buffer(shape, dtype):
    key = (tuple(int(v) for v in shape), np.dtype(dtype).str, threading.get_ident())
    z = _Z.get(key)
    if z is None:
        z = _Z[key] = cuda.device_array(key[0], np.dtype(dtype))
    return z


def _check_conv_pool(name, x, kernel, pooled, argmax, cols, others, stride_h, stride_w, pad_top, pad_left, dil_h,
                     dil_w, oh, ow, pool_h, pool_w, groups):
    """The CPU kernels' checks of the fused pair, with their messages (``others``: the remaining float arrays)."""
    n, h, w, c = x.shape
    kh, kw, cg, f = kernel.shape
    if not _one_float_dtype(x, kernel, pooled, argmax, cols, *others):
        raise ValueError(f"{name}: every array must share one float dtype")
    problems = [
        (groups < 1 or cg < 1 or cg * groups != c, "kernel.shape[2] * groups must equal the input channels"),
        (f < 1 or f % groups != 0, "filters must be a positive multiple of groups"),
        (not (_length_ok(h, oh, kh, stride_h, pad_top, dil_h) and _length_ok(w, ow, kw, stride_w, pad_left, dil_w)),
         "OH/OW do not follow from the input, kernel, strides, pads and dilations"),
        (pool_h < 1 or pool_w < 1 or oh < pool_h or ow < pool_w, "the pool must be at least 1 and at most OH x OW"),
        (tuple(pooled.shape) != (n, oh // max(pool_h, 1), ow // max(pool_w, 1), f),
         "pooled must be (N, OH // pool_h, OW // pool_w, filters)"),
        (tuple(argmax.shape) != tuple(pooled.shape), "argmax must have pooled's shape"),
        (cols.size < oh * ow * (kh * kw * cg + f), "cols is shorter than one image's patches and convolution output"),
        (not _c_contiguous(x, kernel, pooled, argmax, cols), "every array must be C-contiguous"),
        (oh * ow > (2**24 if np.dtype(argmax.dtype).itemsize == 4 else 2**53),
         "OH * OW exceeds the integers argmax's dtype holds exactly"),
    ]
    for bad, message in problems:
        if bad:
            raise ValueError(f"conv2d_max_pool2d: {message}")


def conv2d_max_pool2d_forward(x, kernel, bias, pooled, argmax, cols, stride_h, stride_w, pad_top, pad_left, dil_h,
                              dil_w, oh, ow, pool_h, pool_w, groups, relu):
    """As kernels.cpu.conv.conv2d_max_pool2d_forward: the forward launch into a kept device buffer z (N, OH, OW, F),
    relu in place when ``relu``, then pooling.max_pool2d_forward's launch (pool_h x pool_w windows, strides equal to
    the pool, no padding). The CPU kernel keeps z in cache a few images at a time; here it is one device buffer."""
    _check_conv_pool("conv2d_max_pool2d_forward", x, kernel, pooled, argmax, cols, (bias,), stride_h, stride_w,
                     pad_top, pad_left, dil_h, dil_w, oh, ow, pool_h, pool_w, groups)
    if bias.size != 0 and bias.size != kernel.shape[3]:
        raise ValueError("conv2d_max_pool2d_forward: bias must have length 0 or filters")
    z = _z_buffer((x.shape[0], oh, ow, kernel.shape[3]), x.dtype)
    _run_forward(x, kernel, bias, bias.size != 0, z, _geo(stride_h, stride_w, pad_top, pad_left, dil_h, dil_w,
                                                          groups))
    if relu:
        flat = z.reshape(z.size)
        _activations.relu_forward(flat, flat, 0.0, math.inf, 0.0)
    _pooling.max_pool2d_forward(z, pooled, argmax, int(pool_h), int(pool_w), int(pool_h), int(pool_w), 0, 0)


def conv2d_max_pool2d_backward(x, kernel, pooled, argmax, dpooled, dx, dkernel, dbias, cols, stride_h, stride_w,
                               pad_top, pad_left, dil_h, dil_w, oh, ow, pool_h, pool_w, groups, relu, accumulate):
    """As kernels.cpu.conv.conv2d_max_pool2d_backward: dpooled *= [pooled > 0] in place (relu), scattered into a
    kept device buffer dz by pooling.max_pool2d_backward, then conv2d_backward's launches on dz."""
    _check_conv_pool("conv2d_max_pool2d_backward", x, kernel, pooled, argmax, cols, (dpooled, dx, dkernel, dbias),
                     stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, oh, ow, pool_h, pool_w, groups)
    if tuple(dpooled.shape) != tuple(pooled.shape):
        raise ValueError("conv2d_max_pool2d_backward: dpooled must have pooled's shape and be C-contiguous")
    if tuple(dkernel.shape) != tuple(kernel.shape):
        raise ValueError("conv2d_max_pool2d_backward: dkernel must have the kernel's shape")
    if dbias.size != 0 and dbias.size != kernel.shape[3]:
        raise ValueError("conv2d_max_pool2d_backward: dbias must have length 0 or filters")
    if dx.size != 0 and tuple(dx.shape) != tuple(x.shape):
        raise ValueError("conv2d_max_pool2d_backward: dx must have x's shape, or size 0")
    if relu:
        flat_p, flat_d = pooled.reshape(pooled.size), dpooled.reshape(dpooled.size)
        _activations.relu_backward(flat_p, flat_p, flat_d, flat_d, 0.0, math.inf, 0.0)
    dz = _z_buffer((x.shape[0], oh, ow, kernel.shape[3]), x.dtype)
    _pooling.max_pool2d_backward(argmax, dpooled, dz)
    geo = _geo(stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, groups)
    _run_weight_grads(x, dz, dkernel, dbias, geo, accumulate, dz)
    if dx.size != 0:
        _run_input_grad(dz, kernel, dbias, False, dx, geo)


# ------------------------------------------------------------------------------ transposed convolution


def conv2d_transpose_forward(x, kernel, bias, out, cols, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w):
    """out = conv_transpose(x, kernel) + bias, as kernels.cpu.conv.conv2d_transpose_forward: x (N, H, W, C),
    kernel (KH, KW, F, C), out (N, OH, OW, F). One launch (the convolution's input-gradient gather, bias added in
    the same thread); ``cols`` is checked but unused."""
    n, h, w, c = x.shape
    kh, kw, f, kc = kernel.shape
    if not _one_float_dtype(x, kernel, bias, out, cols):
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
    if not _c_contiguous(x, kernel, out, cols):
        raise ValueError("conv2d_transpose_forward: x, kernel, out and cols must be C-contiguous")
    geo = _geo(stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, 1)
    _run_input_grad(x, kernel, bias, bias.size != 0, out, geo)


def conv2d_transpose_backward(x, kernel, dy, dx, dkernel, dbias, cols, stride_h, stride_w, pad_top, pad_left,
                              dil_h, dil_w, accumulate):
    """Gradients of sum(dy * conv2d_transpose_forward(x, kernel, bias)), as
    kernels.cpu.conv.conv2d_transpose_backward: dx = the convolution of dy (skipped when size 0), dkernel and dbias
    (+)= (``accumulate``), reduced on the device with atomic adds; ``cols`` is checked but unused."""
    n, h, w, c = x.shape
    kh, kw, f, kc = kernel.shape
    if not _one_float_dtype(x, kernel, dy, dx, cols, dkernel, dbias):
        raise ValueError("conv2d_transpose_backward: every array must share one float dtype")
    if kc != c or f < 1 or c < 1:
        raise ValueError("conv2d_transpose_backward: kernel.shape[3] must equal the input channels")
    if dy.shape[3] != f or dy.shape[0] != n:
        raise ValueError("conv2d_transpose_backward: dy must be (N, OH, OW, kernel.shape[2])")
    if tuple(dkernel.shape) != tuple(kernel.shape):
        raise ValueError("conv2d_transpose_backward: dkernel must have the kernel's shape")
    if dbias.size != 0 and dbias.size != f:
        raise ValueError("conv2d_transpose_backward: dbias must have length 0 or filters")
    if dx.size != 0 and tuple(dx.shape) != tuple(x.shape):
        raise ValueError("conv2d_transpose_backward: dx must have x's shape, or size 0")
    if not (_length_ok(dy.shape[1], h, kh, stride_h, pad_top, dil_h)
            and _length_ok(dy.shape[2], w, kw, stride_w, pad_left, dil_w)):
        raise ValueError("conv2d_transpose_backward: the input's height/width do not follow from dy's, the "
                         "kernel, strides, pads and dilations")
    if cols.size < h * w * kh * kw * f:
        raise ValueError("conv2d_transpose_backward: cols is shorter than conv2d_scratch_min(H, W, KH, KW, F, 1)")
    if not _c_contiguous(x, kernel, dy, cols, dx, dkernel, dbias):
        raise ValueError("conv2d_transpose_backward: every array must be C-contiguous")
    geo = _geo(stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, 1)
    # In the convolution's terms the input is dy and the output gradient is x.
    _run_weight_grads(dy, x, dkernel, dbias, geo, accumulate, dy)
    if dx.size != 0:
        _run_forward(dy, kernel, dbias, False, dx, geo)


# --------------------------------------------------------------------------------- depthwise convolution


def _depthwise_shapes_ok(x, kernel, out_shape, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w):
    return (kernel.shape[2] == x.shape[3] and kernel.shape[3] >= 1 and x.shape[3] >= 1
            and out_shape[0] == x.shape[0] and out_shape[3] == x.shape[3] * kernel.shape[3]
            and _length_ok(x.shape[1], out_shape[1], kernel.shape[0], stride_h, pad_top, dil_h)
            and _length_ok(x.shape[2], out_shape[2], kernel.shape[1], stride_w, pad_left, dil_w))


def depthwise_conv2d_forward(x, kernel, bias, out, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w):
    """out[n, i, j, c*M + m], as kernels.cpu.conv.depthwise_conv2d_forward: the grouped convolution with groups = C
    and the kernel viewed as (KH, KW, 1, C*M). One launch."""
    kh, kw, c, mult = kernel.shape
    if not _one_float_dtype(x, kernel, bias, out):
        raise ValueError("depthwise_conv2d_forward: x, kernel, bias and out must share one float dtype")
    if not _depthwise_shapes_ok(x, kernel, out.shape, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w):
        raise ValueError("depthwise_conv2d_forward: shapes do not agree: kernel (KH, KW, C, M), out (N, OH, OW, "
                         "C*M) with OH, OW following from the input, strides, pads and dilations")
    if bias.size != 0 and bias.size != c * mult:
        raise ValueError("depthwise_conv2d_forward: bias must have length 0 or C * M")
    if not _c_contiguous(x, kernel, out):
        raise ValueError("depthwise_conv2d_forward: x, kernel and out must be C-contiguous")
    geo = _geo(stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, c)
    _run_forward(x, kernel.reshape(kh, kw, 1, c * mult), bias, bias.size != 0, out, geo)


def depthwise_conv2d_backward(x, kernel, dy, dx, dkernel, dbias, stride_h, stride_w, pad_top, pad_left, dil_h,
                              dil_w, accumulate):
    """Gradients of sum(dy * depthwise_conv2d_forward(x, kernel, bias)), as
    kernels.cpu.conv.depthwise_conv2d_backward: dkernel and dbias (+)= (``accumulate``, atomic adds on the
    device), dx overwritten (skipped when size 0)."""
    kh, kw, c, mult = kernel.shape
    if not _one_float_dtype(x, kernel, dy, dx, dkernel, dbias):
        raise ValueError("depthwise_conv2d_backward: every array must share one float dtype")
    if not _depthwise_shapes_ok(x, kernel, dy.shape, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w):
        raise ValueError("depthwise_conv2d_backward: shapes do not agree: kernel (KH, KW, C, M), dy (N, OH, OW, "
                         "C*M) with OH, OW following from the input, strides, pads and dilations")
    if tuple(dkernel.shape) != tuple(kernel.shape):
        raise ValueError("depthwise_conv2d_backward: dkernel must have the kernel's shape")
    if dbias.size != 0 and dbias.size != c * mult:
        raise ValueError("depthwise_conv2d_backward: dbias must have length 0 or C * M")
    if dx.size != 0 and tuple(dx.shape) != tuple(x.shape):
        raise ValueError("depthwise_conv2d_backward: dx must have x's shape, or size 0")
    if not _c_contiguous(x, kernel, dy, dx, dkernel, dbias):
        raise ValueError("depthwise_conv2d_backward: every array must be C-contiguous")
    geo = _geo(stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, c)
    _run_weight_grads(x, dy, dkernel.reshape(kh, kw, 1, c * mult), dbias, geo, accumulate, dy)
    if dx.size != 0:
        _run_input_grad(dy, kernel.reshape(kh, kw, 1, c * mult), dbias, False, dx, geo)
