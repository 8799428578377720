"""General matrix product: c = alpha * op(a) @ op(b) + beta * c, op(x) = x.T when its trans flag is set.

a, b and c are 2-D arrays of one float dtype with unit stride along their last axis (C-contiguous rows; a row
stride larger than the row is fine). A transposed view is not accepted: pass the array itself and set its trans
flag. Anything else (strides, shapes that do not agree, mixed dtypes, c overlapping a or b) raises ValueError on
both paths, before anything is written. With beta == 0, c is overwritten and its old contents (even NaN) are
ignored, as in BLAS.

Which implementation runs is decided once, in ``policy.GEMM_MODE``:

* ``blas32``/``blas64``: NumPy's own OpenBLAS, called from compiled code through symbols registered in
  ``kernels/blas.py``. It is the same library as ``np.matmul`` and matches it (bench/README.md), threads included.
* ``numba``: ``gemm_numba`` below, the always-available fallback (NBKERAS_GEMM=numba, or no BLAS found).

How ``gemm_numba`` is built, and why. Numbers: 2-vCPU AMD EPYC (Zen, AVX2+FMA) shared with other jobs, float32;
single-thread figures are CPU time against single-threaded OpenBLAS (31-36 GFLOP/s on these shapes), two-thread
figures are in bench/README.md.

* Numba runs LLVM's loop vectorizer but not its SLP vectorizer (NUMBA_SLP_VECTORIZE defaults to 0), so the
  textbook micro-kernel -- a 4x8 block of c held in scalar accumulators, vectorised along a row of c -- stays
  scalar: 4-7 GFLOP/s. Only innermost loops are vectorised, which leaves two kernels:
* DOT (``_dot_2x4``): c[i, j] = dot(a[i, :], b[j, :]) for a 2x4 block, both operands contiguous along k; the 8
  sums become vector accumulators held in registers. 10 GFLOP/s at k = 32, 16 at 64, 23 at 128, 28 at 256,
  33 at 784-1024 (the horizontal sums at the end of each dot product are the fixed cost).
* ROW (``_row_4x4``): c[i, :] += sum over 4 steps of k of op(a)[i, p] * b[p, :], for 4 rows of c at once; the 16
  coefficients of op(a) are broadcasts in registers and the loop runs along rows of b and c. 24-26 GFLOP/s at
  n >= 256, 20 at 128, 10 at 32 (4 loads and 4 stores of c per 16 FMAs; every R x U from 1..4 x 2..8 measured
  17-28). It reads op(a) as scalars, so a^T costs nothing extra.
* Which kernel: dy @ w^T is DOT as given; x @ w is DOT on a copy of w^T (copying costs ~1/m of the product,
  at 1.4-1.9 G elements/s), except with few rows (ROW, no copy); x^T @ dy is ROW. A short side is rerouted:
  a 10-column c (last layer) would make ROW 5x slower, so x @ w takes DOT and x^T @ dy computes c^T into a
  small scratch; a short k (dy @ w^T with 10 units) copies w^T (small) and runs ROW.
* Per-product ratio to single-threaded OpenBLAS: 0.75-1.0 for the 784-256 and 128-10 layers, 0.6-0.75 for the
  256-128 layer (k or n = 128, where both kernels lose to their fixed costs).
* Threads: above ``PARALLEL_MIN_WORK`` multiply-adds, slices of rows (or columns) go to numba's threads in one
  parallel region, with OpenMP told not to spin (``_configure_threads``). Quiet machine, two threads: 1.3-1.4x
  at 1M multiply-adds, 1.6-1.7x at 2M, 1.9-2.1x at 6-25M; 0.6-0.9x below 0.5M (a region costs ~15-20 us).
* Two traps met on the way, both guarded against in the code: (1) LLVM vectorises the ROW loop only when the
  four rows of c arrive as separate arrays; given views of one c it gives up ("unsafe dependent memory
  operations"), and since a process that compiles a kernel runs the standalone copy of each callee, the speed
  then depended on whether the code came from the cache (4x slower when freshly compiled). (2) Literal trans
  flags at a call site let LLVM clone the whole tree per flag combination (19 s of compile per caller instead
  of 6): ``_gemm_contiguous`` makes the flags opaque first.
* Compile cost: ~8-20 s per dtype cold (the most expensive kernel here), then loaded from the cache.
"""

import os

import numba
import numpy as np
from numba import prange, types

from .. import policy
from ..policy import kernel

#: Rows of b (steps of k) one ROW pass keeps hot, so the slab of b stays in L2 while rows of c stream past it.
ROW_KC = 256
#: Shortest row of c worth a ROW pass (8 float32 lanes; at n = 32 ROW runs at ~10 GFLOP/s, at 256 at ~25).
ROW_MIN_N = 32
#: Shortest reduction worth a DOT pass (DOT: ~10 GFLOP/s at k = 32, 16 at 64, 23 at 128, 33 at 1024).
DOT_MIN_K = 64
#: Fewest rows of c for which x @ w packs w^T and runs DOT rather than ROW: the copy of w^T costs about as
#: much as 10/m of the product, so below ~64 rows the two are even and ROW needs no copy.
DOT_PACK_MIN_M = 64
#: Rows of a one DOT pass keeps in L2 while it visits every group of rows of b (a 64 x 784 float32 block is
#: 200 KB; L2 is 512 KB here).
DOT_MB = 64
#: From this many rows of c, x @ w copies w^T in one go and slices the rows among threads; with fewer rows
#: each thread copies its own columns of w^T (the copy costs ~1/m of the product, so it is worth sharing).
#: Measured on two threads, x @ w at batch 1024: 256-128 layer 35 GFLOP/s with column slices, 51 with row
#: slices; at batch 128 the 784-256 layer ran at 50 with column slices and 43 with row slices.
DOT_SPLIT_ROWS_M = 256
#: Multiply-adds (m * n * k) above which the product is split between threads (break-even measured at
#: 0.5-1M; see the module docstring).
PARALLEL_MIN_WORK = 1 << 20
#: At most this many slices per threaded product. Numba's prange deals them out to its threads in contiguous
#: runs, so the kernels never ask for the thread count (numba.get_num_threads() in compiled code goes through a
#: ctypes pointer, which makes every caller uncacheable).
PARALLEL_PARTS = 16

# What a pass computes (see _run).
_ROW, _DOT, _DOT_PACKED = 0, 1, 2


# ------------------------------------------------------------------------------------------------ checks


@kernel
def _rows_ok(x):
    """Unit stride along the last axis and rows that do not overlap (a transposed view fails)."""
    rows, cols = x.shape
    size = x.itemsize
    if rows == 0 or cols == 0:  # nothing is read or written; NumPy gives such arrays arbitrary strides
        return True
    if cols > 1 and x.strides[1] != size:
        return False
    if rows > 1 and (x.strides[0] < cols * size or x.strides[0] % size != 0):
        return False
    return True


@kernel
def _overlap(x, y):
    """Whether the memory spans of x and y intersect (both 2-D with non-negative strides, checked before)."""
    if x.size == 0 or y.size == 0:
        return False
    x0 = np.int64(x.ctypes.data)  # as a signed integer: uint64 mixed with int64 strides would become float64
    y0 = np.int64(y.ctypes.data)
    x1 = x0 + (x.shape[0] - 1) * x.strides[0] + x.shape[1] * x.itemsize
    y1 = y0 + (y.shape[0] - 1) * y.strides[0] + y.shape[1] * y.itemsize
    return x0 < y1 and y0 < x1


@kernel
def check_gemm(trans_a, trans_b, a, b, c):
    """Raise ValueError unless a, b, c fit the contract; return k, the length of the reduction."""
    if not (a.dtype == c.dtype and b.dtype == c.dtype and c.dtype.type(0.5) == 0.5):
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
    return k


@kernel
def _scale(c, beta):
    """c *= beta, where beta == 0 clears c (NaN included), as BLAS does."""
    zero = c.dtype.type(0.0)
    be = c.dtype.type(beta)
    for i in range(c.shape[0]):
        ci = c[i]
        if be == zero:
            ci[:] = zero
        elif be != c.dtype.type(1.0):
            for j in range(ci.shape[0]):
                ci[j] *= be


@kernel
def _cut(total, t, parts, align):
    """Start of slice t of ``parts`` near-equal slices of range(total), on a multiple of ``align``."""
    if t >= parts:
        return total
    return t * total // parts // align * align


# --------------------------------------------------------------------------------------- ROW: op(b) = b


@kernel
def _row_4x4(al, blk, b0, b1, b2, b3, c0, c1, c2, c3):
    """c_r += al * sum_u blk[r, u] * b_u for r, u < 4: four rows of c updated from four rows of b.

    The 16 scalars of blk stay in registers as broadcasts, one pass along the rows (why: module docstring).
    The rows arrive as separate arguments on purpose: given views of one c, LLVM cannot tell that the rows do
    not overlap and leaves the loop scalar ("unsafe dependent memory operations"), 4-5x slower.
    """
    x00 = al * blk[0, 0]; x01 = al * blk[0, 1]; x02 = al * blk[0, 2]; x03 = al * blk[0, 3]  # noqa: E702
    x10 = al * blk[1, 0]; x11 = al * blk[1, 1]; x12 = al * blk[1, 2]; x13 = al * blk[1, 3]  # noqa: E702
    x20 = al * blk[2, 0]; x21 = al * blk[2, 1]; x22 = al * blk[2, 2]; x23 = al * blk[2, 3]  # noqa: E702
    x30 = al * blk[3, 0]; x31 = al * blk[3, 1]; x32 = al * blk[3, 2]; x33 = al * blk[3, 3]  # noqa: E702
    for j in range(c0.shape[0]):
        y0 = b0[j]
        y1 = b1[j]
        y2 = b2[j]
        y3 = b3[j]
        c0[j] += x00 * y0 + x01 * y1 + x02 * y2 + x03 * y3
        c1[j] += x10 * y0 + x11 * y1 + x12 * y2 + x13 * y3
        c2[j] += x20 * y0 + x21 * y1 + x22 * y2 + x23 * y3
        c3[j] += x30 * y0 + x31 * y1 + x32 * y2 + x33 * y3


@kernel
def _row_1x1(ta, al, a, b, c, i, p, j0, j1):
    """c[i, j0:j1] += al * op(a)[i, p] * b[p, j0:j1]: the edges _row_4x4 leaves (m or k not a multiple of 4)."""
    x = al * (a[p, i] if ta else a[i, p])
    bp = b[p, j0:j1]
    ci = c[i, j0:j1]
    for j in range(j1 - j0):
        ci[j] += x * bp[j]


@kernel
def _row_panel(ta, al, a, b, c, i0, i1, j0, j1):
    """c[i0:i1, j0:j1] += al * op(a)[i0:i1, :] @ b[:, j0:j1], four steps of k at a time, in slabs of ROW_KC."""
    k = b.shape[0]
    for s0 in range(0, k, ROW_KC):
        s1 = min(k, s0 + ROW_KC)
        for p in range(s0, s1, 4):
            i = i0
            if p + 4 <= s1:
                while i + 4 <= i1:
                    blk = a[p:p + 4, i:i + 4].T if ta else a[i:i + 4, p:p + 4]
                    _row_4x4(al, blk, b[p, j0:j1], b[p + 1, j0:j1], b[p + 2, j0:j1], b[p + 3, j0:j1],
                             c[i, j0:j1], c[i + 1, j0:j1], c[i + 2, j0:j1], c[i + 3, j0:j1])
                    i += 4
            # Edges (rows past the last block of 4, or the last steps of k) one row and one step at a time.
            for q in range(p, min(s1, p + 4)):
                for r in range(i, i1):
                    _row_1x1(ta, al, a, b, c, r, q, j0, j1)


# ------------------------------------------------------------------------------------ DOT: a @ b^T


@kernel
def _dot_2x4(al, a, b, c, i, j):
    """c[i:i+2, j:j+4] += al * a[i:i+2, :] @ b[j:j+4, :]^T, eight dot products in one pass along k."""
    a0 = a[i]
    a1 = a[i + 1]
    b0 = b[j]
    b1 = b[j + 1]
    b2 = b[j + 2]
    b3 = b[j + 3]
    zero = c.dtype.type(0.0)
    s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = zero
    for p in range(a.shape[1]):
        u0 = a0[p]
        u1 = a1[p]
        v0 = b0[p]
        v1 = b1[p]
        v2 = b2[p]
        v3 = b3[p]
        s00 += u0 * v0
        s01 += u0 * v1
        s02 += u0 * v2
        s03 += u0 * v3
        s10 += u1 * v0
        s11 += u1 * v1
        s12 += u1 * v2
        s13 += u1 * v3
    c[i, j] += al * s00
    c[i, j + 1] += al * s01
    c[i, j + 2] += al * s02
    c[i, j + 3] += al * s03
    c[i + 1, j] += al * s10
    c[i + 1, j + 1] += al * s11
    c[i + 1, j + 2] += al * s12
    c[i + 1, j + 3] += al * s13


@kernel
def _dot_1x1(al, a, b, c, i, j):
    """c[i, j] += al * a[i, :] . b[j, :]: the edges _dot_2x4 leaves."""
    ai = a[i]
    bj = b[j]
    s = c.dtype.type(0.0)
    for p in range(ai.shape[0]):
        s += ai[p] * bj[p]
    c[i, j] += al * s


@kernel
def _dot_panel(al, a, b, c, i0, i1, j0, j1):
    """c[i0:i1, j0:j1] += al * a[i0:i1, :] @ b[j0:j1, :]^T in 2x4 blocks.

    Blocked so both operands come from cache: DOT_MB rows of a (kept in L2) meet every group of 32 rows of b
    (kept in L1) before the next rows of a are read.
    """
    for r0 in range(i0, i1, DOT_MB):
        r1 = min(i1, r0 + DOT_MB)
        for g0 in range(j0, j1, 32):
            g1 = min(j1, g0 + 32)
            for i in range(r0, r1, 2):
                j = g0
                if i + 2 <= r1:
                    while j + 4 <= g1:
                        _dot_2x4(al, a, b, c, i, j)
                        j += 4
                for r in range(i, min(r1, i + 2)):
                    for q in range(j, g1):
                        _dot_1x1(al, a, b, c, r, q)


# ------------------------------------------------------------------------------------------ packing


@kernel
def _pack_t(src, dst, j0, j1):
    """dst[j0:j1, :] = src[:, j0:j1]^T.

    Four rows of src per pass, so each row of dst gets four adjacent values: 1.4-1.9 G elements/s against
    0.5-0.7 for a plain or 16x16-tiled element loop (the strided stores are the cost).
    """
    rows = src.shape[0]
    r = 0
    while r + 4 <= rows:
        s0 = src[r, j0:j1]
        s1 = src[r + 1, j0:j1]
        s2 = src[r + 2, j0:j1]
        s3 = src[r + 3, j0:j1]
        for j in range(j1 - j0):
            d = dst[j0 + j]
            d[r] = s0[j]
            d[r + 1] = s1[j]
            d[r + 2] = s2[j]
            d[r + 3] = s3[j]
        r += 4
    for q in range(r, rows):
        for j in range(j0, j1):
            dst[j, q] = src[q, j]


@kernel
def _add_transposed(src, dst):
    """dst += src^T (src is the small transposed product, n < ROW_MIN_N rows)."""
    for r in range(src.shape[0]):
        for q in range(src.shape[1]):
            dst[q, r] += src[r, q]


# ------------------------------------------------------------------------------------------ driving


@kernel
def _run(kind, ta, al, x, y, z, ws, i0, i1, j0, j1):
    """One pass over z[i0:i1, j0:j1] (the z, x, y roles: _gemm_contiguous).

    _ROW         z += al * op(x) @ y
    _DOT         z += al * x @ y^T
    _DOT_PACKED  z += al * x @ y, by copying columns j0:j1 of y into rows of ws first (needs all rows of z)
    """
    if kind == _ROW:
        _row_panel(ta, al, x, y, z, i0, i1, j0, j1)
    elif kind == _DOT:
        _dot_panel(al, x, y, z, i0, i1, j0, j1)
    else:
        _pack_t(y, ws, j0, j1)
        _dot_panel(al, x, ws, z, i0, i1, j0, j1)


@kernel
def _split(kind, rows, cols):
    """(by_rows, parts) for a threaded pass; fewer than 2 parts means it is not worth threads."""
    if kind != _DOT_PACKED and rows >= 32:
        return True, min(PARALLEL_PARTS, rows // 16)
    # Column slices must stay wide: each reads all of x, and a ROW pass over 64 columns runs at ~60% of its
    # speed over 256 (measured: x^T dy of a 128-10 layer at batch 1024 took longer on two threads, sliced in
    # two 64-column halves, than on one).
    return False, min(PARALLEL_PARTS, cols // (64 if kind == _DOT_PACKED else 128))


@kernel(parallel=True)
def _threaded(kind, ta, al, x, y, z, ws, by_rows, parts):
    """_run over all of z, cut into ``parts`` slices of rows or columns that numba deals out to its threads.

    A single prange for every kind of pass: each parallel loop is compiled as a function of its own, and the
    numba GEMM's compile time is already seconds.
    """
    rows, cols = z.shape
    for t in prange(parts):
        if by_rows:
            _run(kind, ta, al, x, y, z, ws, _cut(rows, t, parts, 4), _cut(rows, t + 1, parts, 4), 0, cols)
        else:
            _run(kind, ta, al, x, y, z, ws, 0, rows, _cut(cols, t, parts, 16), _cut(cols, t + 1, parts, 16))


@kernel
def gemm_numba(trans_a, trans_b, alpha, a, b, beta, c):
    """c = alpha * op(a) @ op(b) + beta * c without BLAS: the fallback (how and why: module docstring)."""
    check_gemm(trans_a, trans_b, a, b, c)
    # The product kernels are compiled for C-contiguous arrays only: each further layout would cost seconds of
    # compile (they are large), while rows with padding are rare; such operands are copied (c back afterwards).
    z = np.ascontiguousarray(c)
    _gemm_contiguous(trans_a, trans_b, alpha, np.ascontiguousarray(a), np.ascontiguousarray(b), beta, z)
    if z.ctypes.data != c.ctypes.data:
        for i in range(c.shape[0]):  # a loop: numba compiles ``c[...] = z`` for ~5 s
            for j in range(c.shape[1]):
                c[i, j] = z[i, j]


@kernel
def _gemm_contiguous(trans_a, trans_b, alpha, a, b, beta, c):
    """gemm_numba on checked, C-contiguous operands: choose the pass, then run it on one or more threads.

    x @ w       (NN)  DOT on a copy of w^T, made slice by slice inside the pass; ROW when rows are few
    dy @ w^T    (NT)  DOT as given; with a short k, ROW on a copy of w^T (k x n, small)
    x^T @ dy    (TN)  ROW, reading x^T as scalars; with short rows of c, ROW on c^T = dy^T x, added back
    a^T @ b^T   (TT)  ROW on a copy of b^T (rare)
    """
    # Callers pass literal flags; LLVM would then clone and re-vectorise this whole tree for each constant
    # combination at each call site (measured: a caller with literal flags compiled in 19 s, with runtime flags
    # in 6 s). Comparing with a condition it cannot evaluate (a shape is never negative) keeps them opaque.
    opaque = a.shape[0] >= 0
    trans_a = trans_a == opaque
    trans_b = trans_b == opaque
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    _scale(c, beta)
    al = c.dtype.type(alpha)
    if m == 0 or n == 0 or k == 0 or al == c.dtype.type(0.0):
        return
    kind, ta, x, y, z = _ROW, trans_a, a, b, c
    ws = np.empty((0, 0), c.dtype)  # scratch: a copy of b^T, or the transposed product
    transposed_out = False
    if trans_b:
        if not trans_a and k >= DOT_MIN_K:
            kind = _DOT
        else:
            ws = np.empty((k, n), c.dtype)
            _pack_t(b, ws, 0, k)
            y = ws
    elif trans_a:
        if n < ROW_MIN_N and n < m:
            ws = np.zeros((n, m), c.dtype)
            x, y, z = b, a, ws
            transposed_out = True
    elif k >= DOT_MIN_K and (m >= DOT_PACK_MIN_M or n < ROW_MIN_N):
        ws = np.empty((n, k), c.dtype)
        if m >= DOT_SPLIT_ROWS_M:
            # Many rows: copy w^T once, then slices of rows (each thread reads only its own rows of x).
            _pack_t(b, ws, 0, n)
            kind, y = _DOT, ws
        else:
            kind = _DOT_PACKED
    rows, cols = z.shape
    by_rows, parts = _split(kind, rows, cols)
    if parts >= 2 and rows * cols * k >= PARALLEL_MIN_WORK:
        _threaded(kind, ta, al, x, y, z, ws, by_rows, parts)
    else:
        _run(kind, ta, al, x, y, z, ws, 0, rows, 0, cols)
    if transposed_out:
        _add_transposed(ws, c)


def _gemm_python(trans_a, trans_b, alpha, a, b, beta, c):
    """NUMBA_DISABLE_JIT=1 path: NumPy's matmul, same contract and checks."""
    check_gemm(trans_a, trans_b, a, b, c)
    opa = a.T if trans_a else a
    opb = b.T if trans_b else b
    prod = alpha * (opa @ opb)
    if beta == 0:
        c[...] = prod
    else:
        c *= beta
        c += prod


if policy.GEMM_MODE.startswith("blas"):
    _int = types.int64 if policy.GEMM_MODE == "blas64" else types.int32
    _ptr = types.voidptr
    _args = (types.int32, types.int32, types.int32, _int, _int, _int)
    _sgemm = types.ExternalFunction(
        "nbkeras_sgemm",
        types.void(*_args, types.float32, _ptr, _int, _ptr, _int, types.float32, _ptr, _int),
    )
    _dgemm = types.ExternalFunction(
        "nbkeras_dgemm",
        types.void(*_args, types.float64, _ptr, _int, _ptr, _int, types.float64, _ptr, _int),
    )

    _gargs = (types.int32, types.int32, _int, _int)
    _sgemv = types.ExternalFunction(
        "nbkeras_sgemv", types.void(*_gargs, types.float32, _ptr, _int, _ptr, _int, types.float32, _ptr, _int))
    _dgemv = types.ExternalFunction(
        "nbkeras_dgemv", types.void(*_gargs, types.float64, _ptr, _int, _ptr, _int, types.float64, _ptr, _int))

    _ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112

    @kernel
    def gemm_blas(trans_a, trans_b, alpha, a, b, beta, c):
        """c = alpha * op(a) @ op(b) + beta * c through CBLAS ?gemm (row-major; leading dimensions from strides)."""
        k = check_gemm(trans_a, trans_b, a, b, c)
        m, n = c.shape
        if m == 0 or n == 0:
            return
        if k == 0:  # BLAS rejects lda == 0; the product is empty, so only the beta scaling remains
            _scale(c, beta)
            return
        ta = _TRANS if trans_a else _NO_TRANS
        tb = _TRANS if trans_b else _NO_TRANS
        # Row-major leading dimensions, in elements; at least 1 as BLAS requires.
        lda = max(a.strides[0] // a.itemsize, a.shape[1], 1)
        ldb = max(b.strides[0] // b.itemsize, b.shape[1], 1)
        ldc = max(c.strides[0] // c.itemsize, n, 1)
        if m == 1 or n == 1:
            # A product with one output row or column is a matrix-vector product: OpenBLAS's ?gemm takes ~4x
            # longer there than its ?gemv (measured: 33 against 8 us for a 784 x 256 layer on one sample).
            if m == 1:  # c^T = op(b)^T @ op(a)^T, op(a)'s single row read with its own stride
                tv, rows, cols, mat, ld, vec = (_NO_TRANS if trans_b else _TRANS), b.shape[0], b.shape[1], b, ldb, a
                incx, incy = (lda if trans_a else 1), 1
            else:  # c = op(a) @ op(b)'s single column
                tv, rows, cols, mat, ld, vec = ta, a.shape[0], a.shape[1], a, lda, b
                incx, incy = (1 if trans_b else ldb), ldc
            if c.itemsize == 4:
                _sgemv(_ROW_MAJOR, tv, rows, cols, np.float32(alpha), mat.ctypes, ld, vec.ctypes, incx,
                       np.float32(beta), c.ctypes, incy)
            else:
                _dgemv(_ROW_MAJOR, tv, rows, cols, np.float64(alpha), mat.ctypes, ld, vec.ctypes, incx,
                       np.float64(beta), c.ctypes, incy)
            return
        if c.itemsize == 4:
            _sgemm(_ROW_MAJOR, ta, tb, m, n, k, np.float32(alpha), a.ctypes, lda, b.ctypes, ldb,
                   np.float32(beta), c.ctypes, ldc)
        else:
            _dgemm(_ROW_MAJOR, ta, tb, m, n, k, np.float64(alpha), a.ctypes, lda, b.ctypes, ldb,
                   np.float64(beta), c.ctypes, ldc)

    gemm = gemm_blas
elif policy.DISABLE_JIT:
    gemm = _gemm_python
else:
    gemm = gemm_numba


def _configure_threads():
    """Make numba's worker threads sleep when idle, and use policy.NUM_THREADS of them.

    Numba picks TBB, else OpenMP (libgomp), else its workqueue. libgomp's threads spin after each parallel
    region unless OMP_WAIT_POLICY=PASSIVE: measured here, three products of a 784-256 layer at batch 128 ran in
    3.0 ms either way on a quiet machine, but with another process busy on one of the two cores the spinning pool
    took 7.0 ms against 5.9 ms passive (and 5.8 ms on one thread), and it burnt ~40% of a core between calls.
    The variable only takes effect before libgomp starts, so it is set (unless the user set it) while numba's
    threads are not running yet. ``numba.set_num_threads`` applies to the calling thread (the one importing
    this module) and starts numba's threads, so it runs only when NBKERAS_NUM_THREADS asks for fewer threads.
    """
    if policy.DISABLE_JIT or policy.GEMM_MODE != "numba":
        return  # with BLAS, numba's threads never run: leave libgomp's settings to whoever uses it
    try:
        numba.threading_layer()
    except ValueError:  # numba's threads are not running yet
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if policy.NUM_THREADS < numba.config.NUMBA_NUM_THREADS:
        numba.set_num_threads(policy.NUM_THREADS)


_configure_threads()
