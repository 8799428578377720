"""CUDA twin of kernels/cpu/gemm.py: c = alpha * op(a) @ op(b) + beta * c, op(x) = x.T when its trans flag is set.

Same contract as the CPU kernel: a, b and c 2-D device arrays of one float dtype, unit stride along the last axis
(C-contiguous rows; a row stride larger than the row is accepted too), shapes op(a) (m, k), op(b) (k, n), c (m, n),
c overlapping neither a nor b; anything else raises ValueError on the host, before a launch. beta == 0 overwrites c
and ignores its old contents (NaN included); alpha == 0 (or k == 0) only scales c by beta, as BLAS does.

How the product runs (``_gemm_tiled``): each block of 32 x 8 threads owns a 32 x 32 tile of c, each thread four
entries of one column of it (rows ty, ty + 8, ty + 16, ty + 24), so every value loaded from shared memory is used
four times. The reduction walks k in steps of 32: the block copies a 32 x 32 tile of op(a) and one of op(b) into
shared memory (each thread four values), syncs, and accumulates from shared memory. Loads are coalesced for every
trans flag: consecutive threads (tx) always read consecutive addresses of a row of a or b; a transposed operand is
written into the tile transposed (tile rows padded to 33 so that the column-wise stores and reads do not hit one
shared-memory bank). Edges (m, n, k not multiples of 32) load zeros and store nothing. Alpha and beta are applied
once per entry at the end (the epilogue), which also adds an optional bias row (``dense.dense_forward`` uses it, so
a Dense forward is one launch).

``gemm_naive`` is the reference the tiled kernel is measured against on a GPU: one thread per entry of c, reading
op(a) and op(b) straight from global memory.

Batched products (``linalg``) use ``_bmm_tiled``: the same tile loop with a third grid axis over the batch, and
optionally a sum over the batch inside the reduction (the gradient of an operand shared by every product).
"""

import numpy as np
from numba import cuda

from ._launch import kernel

#: Side of the square tile of c one block computes, and the step along k.
TILE = 32
#: Rows of threads per block: each thread computes TILE // ROWS entries of its column of the tile.
ROWS = 8
_PER = TILE // ROWS
_PAD = TILE + 1  # tile rows padded by one: a column of the tile spreads over all shared-memory banks
#: Threads per block of the naive kernel (one per entry of c): 16 x 16.
NAIVE = 16

_EMPTY = {}


def _empty(dtype):
    """A cached size-0 device array of ``dtype`` (the "no bias" argument of the tiled kernel)."""
    dtype = np.dtype(dtype)
    if dtype not in _EMPTY:
        _EMPTY[dtype] = cuda.device_array(0, dtype)
    return _EMPTY[dtype]


# ----------------------------------------------------------------------------------------------- device code


@cuda.jit(device=True)
def _load_tiles(ta, tb, a, b, sa, sb, i0, j0, p0, tx, ty):
    """sa[i, p] = op(a)[i0 + i, p0 + p] and sb[p, j] = op(b)[p0 + p, j0 + j] for a 32 x 32 tile (zeros outside).

    Every read is coalesced: tx runs along the last axis of a or b whatever the flags; a transposed operand is
    stored transposed into its tile.
    """
    m = a.shape[1] if ta else a.shape[0]
    k = a.shape[0] if ta else a.shape[1]
    n = b.shape[0] if tb else b.shape[1]
    zero = a.dtype.type(0.0)
    for r in range(_PER):
        y = ty + r * ROWS
        if ta:  # a is (k, m): row p0 + y, column i0 + tx
            p = p0 + y
            i = i0 + tx
            sa[tx, y] = a[p, i] if (p < k and i < m) else zero
        else:  # a is (m, k): row i0 + y, column p0 + tx
            i = i0 + y
            p = p0 + tx
            sa[y, tx] = a[i, p] if (i < m and p < k) else zero
        if tb:  # b is (n, k): row j0 + y, column p0 + tx
            j = j0 + y
            p = p0 + tx
            sb[tx, y] = b[j, p] if (j < n and p < k) else zero
        else:  # b is (k, n): row p0 + y, column j0 + tx
            p = p0 + y
            j = j0 + tx
            sb[y, tx] = b[p, j] if (p < k and j < n) else zero


@cuda.jit(device=True)
def _accumulate(ta, tb, a, b, sa, sb, acc, i0, j0, tx, ty):
    """acc[r] += sum_p op(a)[i0 + ty + 8 r, p] op(b)[p, j0 + tx] over all of k, one 32-step tile at a time.

    Every thread of the block must call this (it syncs the block)."""
    k = a.shape[0] if ta else a.shape[1]
    for p0 in range(0, k, TILE):
        _load_tiles(ta, tb, a, b, sa, sb, i0, j0, p0, tx, ty)
        cuda.syncthreads()
        for p in range(TILE):
            v = sb[p, tx]
            for r in range(_PER):
                acc[r] += sa[ty + r * ROWS, p] * v
        cuda.syncthreads()  # the next tiles overwrite sa and sb


@cuda.jit(device=True)
def _store(alpha, beta, c, bias, acc, i0, j0, tx, ty):
    """c[i, j] = alpha acc + beta c[i, j] (+ bias[j]); beta == 0 never reads c."""
    j = j0 + tx
    if j >= c.shape[1]:
        return
    for r in range(_PER):
        i = i0 + ty + r * ROWS
        if i < c.shape[0]:
            v = alpha * acc[r]
            if beta != 0:
                v += beta * c[i, j]
            if bias.shape[0] != 0:
                v += bias[j]
            c[i, j] = v


@kernel("void(boolean, boolean, F, F[:, ::1], F[:, ::1], F, F[:, ::1], F[::1])",
        "void(boolean, boolean, F, F[:, :], F[:, :], F, F[:, :], F[::1])")
def _gemm_tiled(ta, tb, alpha, a, b, beta, c, bias):
    """One block per 32 x 32 tile of c (grid x over columns, y over rows); threads (32, 8)."""
    sa = cuda.shared.array((TILE, _PAD), dtype=c.dtype)
    sb = cuda.shared.array((TILE, _PAD), dtype=c.dtype)
    acc = cuda.local.array(_PER, dtype=c.dtype)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    i0 = cuda.blockIdx.y * TILE
    j0 = cuda.blockIdx.x * TILE
    for r in range(_PER):
        acc[r] = 0
    _accumulate(ta, tb, a, b, sa, sb, acc, i0, j0, tx, ty)
    _store(alpha, beta, c, bias, acc, i0, j0, tx, ty)


@kernel("void(boolean, boolean, F, F[:, :, ::1], F[:, :, ::1], F, F[:, :, ::1], int64)")
def _bmm_tiled(ta, tb, alpha, a, b, beta, c, nsum):
    """c[z] = alpha sum_s op(a[ia]) @ op(b[ib]) + beta c[z] for z = blockIdx.z.

    nsum < 0:  one product per z, ia = z (or 0 when a holds one matrix), ib likewise.
    nsum >= 0: c has one matrix (z = 0) and the sum runs over s < nsum with ia = s (or 0), ib = s (or 0): the
    gradient of an operand shared by every product (nsum == 0 leaves alpha * 0 + beta * c)."""
    sa = cuda.shared.array((TILE, _PAD), dtype=c.dtype)
    sb = cuda.shared.array((TILE, _PAD), dtype=c.dtype)
    acc = cuda.local.array(_PER, dtype=c.dtype)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    i0 = cuda.blockIdx.y * TILE
    j0 = cuda.blockIdx.x * TILE
    z = cuda.blockIdx.z
    for r in range(_PER):
        acc[r] = 0
    if nsum >= 0:
        for s in range(nsum):
            ia = 0 if a.shape[0] == 1 else s
            ib = 0 if b.shape[0] == 1 else s
            _accumulate(ta, tb, a[ia], b[ib], sa, sb, acc, i0, j0, tx, ty)
    else:
        ia = 0 if a.shape[0] == 1 else z
        ib = 0 if b.shape[0] == 1 else z
        _accumulate(ta, tb, a[ia], b[ib], sa, sb, acc, i0, j0, tx, ty)
    cz = c[z]
    j = j0 + tx
    if j < cz.shape[1]:
        for r in range(_PER):
            i = i0 + ty + r * ROWS
            if i < cz.shape[0]:
                v = alpha * acc[r]
                if beta != 0:
                    v += beta * cz[i, j]
                cz[i, j] = v


@kernel("void(F, F[:, ::1])", "void(F, F[:, :])")
def _scale(beta, c):
    """c *= beta, where beta == 0 clears c (NaN included). One thread per entry."""
    t = cuda.grid(1)
    n = c.shape[1]
    i = t // n
    j = t - i * n
    if i < c.shape[0]:
        c[i, j] = c[i, j] * beta if beta != 0 else c.dtype.type(0.0)


@kernel("void(boolean, boolean, F, F[:, ::1], F[:, ::1], F, F[:, ::1])",
        "void(boolean, boolean, F, F[:, :], F[:, :], F, F[:, :])")
def _gemm_naive(ta, tb, alpha, a, b, beta, c):
    """One thread per entry of c (x along columns, y along rows), the whole dot product from global memory."""
    j, i = cuda.grid(2)
    if i >= c.shape[0] or j >= c.shape[1]:
        return
    k = a.shape[0] if ta else a.shape[1]
    s = c.dtype.type(0.0)
    for p in range(k):
        x = a[p, i] if ta else a[i, p]
        y = b[j, p] if tb else b[p, j]
        s += x * y
    v = alpha * s
    if beta != 0:
        v += beta * c[i, j]
    c[i, j] = v


# ----------------------------------------------------------------------------------------------- host side


def _address(x):
    face = getattr(x, "__cuda_array_interface__", None)
    if face is None:  # the simulator's arrays wrap NumPy arrays
        face = x.__array_interface__
    return int(face["data"][0])


def _rows_ok(x):
    """Unit stride along the last axis and rows that do not overlap (as the CPU kernel's _rows_ok)."""
    rows, cols = x.shape
    size = np.dtype(x.dtype).itemsize
    if rows == 0 or cols == 0:
        return True
    if cols > 1 and x.strides[1] != size:
        return False
    return rows == 1 or (x.strides[0] >= cols * size and x.strides[0] % size == 0)


def _overlap(x, y):
    if x.size == 0 or y.size == 0:
        return False
    item = np.dtype(x.dtype).itemsize
    x0, y0 = _address(x), _address(y)
    x1 = x0 + (x.shape[0] - 1) * x.strides[0] + x.shape[1] * item
    y1 = y0 + (y.shape[0] - 1) * y.strides[0] + y.shape[1] * np.dtype(y.dtype).itemsize
    return x0 < y1 and y0 < x1


def check_gemm(trans_a, trans_b, a, b, c):
    """As kernels.cpu.gemm.check_gemm, on the host (shapes, strides and addresses only): raise ValueError unless
    a, b, c fit the contract; return k, the length of the reduction."""
    if len(a.shape) != 2 or len(b.shape) != 2 or len(c.shape) != 2:
        raise ValueError("gemm: shapes do not agree: op(a) must be (m, k), op(b) (k, n) and c (m, n)")
    dt = np.dtype(c.dtype)
    if not (np.dtype(a.dtype) == dt and np.dtype(b.dtype) == dt and dt.kind == "f"):
        raise ValueError("gemm: a, b and c must be float arrays of one dtype")
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    m_a = a.shape[1] if trans_a else a.shape[0]
    k_b = b.shape[1] if trans_b else b.shape[0]
    n_b = b.shape[0] if trans_b else b.shape[1]
    if m_a != m or n_b != n or k_b != k:
        raise ValueError("gemm: shapes do not agree: op(a) must be (m, k), op(b) (k, n) and c (m, n)")
    if not (_rows_ok(a) and _rows_ok(b) and _rows_ok(c)):
        raise ValueError("gemm: a, b and c need unit stride along their last axis (pass the array, not a "
                         "transposed view, and set trans_a/trans_b)")
    if _overlap(c, a) or _overlap(c, b):
        raise ValueError("gemm: c must not overlap a or b")
    return int(k)


def tiled_grid(m, n, batch=1):
    """Launch configuration of the tiled kernels for an (m, n) result (per batch entry)."""
    gx = max(1, -(-n // TILE))
    gy = max(1, -(-m // TILE))
    return ((gx, gy, batch) if batch != 1 else (gx, gy)), ((TILE, ROWS, 1) if batch != 1 else (TILE, ROWS))


def _scalar(c, x):
    return np.dtype(c.dtype).type(x)


def _launch_scale(beta, c):
    n = c.shape[0] * c.shape[1]
    if n and beta != 1:
        _scale[max(1, -(-n // 256)), 256](_scalar(c, beta), c)


def gemm_bias(trans_a, trans_b, alpha, a, b, beta, c, bias):
    """c = alpha op(a) @ op(b) + beta c + bias (bias broadcast over rows; a size-0 bias adds nothing), one launch.

    The shared entry point of gemm and dense_forward; checks as gemm (the bias length is the caller's to check)."""
    k = check_gemm(trans_a, trans_b, a, b, c)
    m, n = c.shape
    if m == 0 or n == 0:
        return
    if bias is None:
        bias = _empty(c.dtype)
    if (k == 0 or alpha == 0) and bias.shape[0] == 0:
        _launch_scale(beta, c)  # the product is empty (or scaled away): BLAS only scales c
        return
    _gemm_tiled[tiled_grid(m, n)](bool(trans_a), bool(trans_b), _scalar(c, alpha), a, b, _scalar(c, beta), c,
                                  bias)


def gemm(trans_a, trans_b, alpha, a, b, beta, c):
    """c = alpha * op(a) @ op(b) + beta * c, as kernels.cpu.gemm.gemm: one launch of the shared-memory tiled
    kernel (module docstring). alpha and beta are cast to c's dtype (as the CPU paths do)."""
    gemm_bias(trans_a, trans_b, alpha, a, b, beta, c, None)


def gemm_numba(trans_a, trans_b, alpha, a, b, beta, c):
    """As kernels.cpu.gemm.gemm_numba (the CPU's BLAS-free product): on the device, the same tiled kernel as gemm."""
    gemm_bias(trans_a, trans_b, alpha, a, b, beta, c, None)


def gemm_blas(trans_a, trans_b, alpha, a, b, beta, c):
    """As kernels.cpu.gemm.gemm_blas: there is no BLAS on this path (cuBLAS is not used); the tiled kernel runs."""
    gemm_bias(trans_a, trans_b, alpha, a, b, beta, c, None)


def gemm_naive(trans_a, trans_b, alpha, a, b, beta, c):
    """gemm with one thread per entry of c reading its operands from global memory (no tiling): the baseline
    a GPU benchmark measures the tiled ``gemm`` against. Same contract, checks and results as gemm."""
    k = check_gemm(trans_a, trans_b, a, b, c)
    m, n = c.shape
    if m == 0 or n == 0:
        return
    if k == 0 or alpha == 0:
        _launch_scale(beta, c)
        return
    grid = (max(1, -(-n // NAIVE)), max(1, -(-m // NAIVE)))
    _gemm_naive[grid, (NAIVE, NAIVE)](bool(trans_a), bool(trans_b), _scalar(c, alpha), a, b, _scalar(c, beta), c)


def bmm(trans_a, trans_b, alpha, a, b, beta, c, nsum):
    """Batched products on 3-D C-contiguous operands, one launch (see _bmm_tiled; shapes checked by the caller):
    nsum < 0: c[z] = alpha op(a[z]) @ op(b[z]) + beta c[z]; nsum >= 0: c[0] = alpha sum_s<nsum ... + beta c[0]."""
    if c.shape[0] == 0 or c.shape[1] == 0 or c.shape[2] == 0:
        return
    grid, threads = tiled_grid(c.shape[1], c.shape[2], batch=c.shape[0])
    if c.shape[0] == 1:
        grid, threads = grid + (1,), threads + (1,)
    _bmm_tiled[grid, threads](bool(trans_a), bool(trans_b), _scalar(c, alpha), a, b, _scalar(c, beta), c,
                              int(nsum))
