"""CUDA twin of kernels/cpu/reduce.py: reductions over the middle axis of (outer, n, inner) views, and top-k.

Geometry shared by every kernel here that reduces along lines (also used by the row-wise activations): a *line*
is one (o, k) pair, the n values x[o, :, k]; there are outer * inner of them, numbered L = o * inner + k. A block
is ``(kx, jy)`` threads: threadIdx.x picks one of kx consecutive lines, threadIdx.y one of jy lanes that stride
over the line's n values (lane ty reads j = ty, ty + jy, ...), and the lanes of a line combine their partial
results in shared memory by a tree (``line_sum``, ``line_max``, ...), after which every lane knows the line's
result and writes its own elements.

Why this and not one thread per line, or always one block per row: with inner == 1 (the common last-axis case) a
line is a contiguous row, so lanes over j read consecutive addresses (coalesced) and a long row (a vocabulary)
gets up to 256 threads instead of one thread looping over it; short rows (10 classes) pack 256 / 16 rows into
one block instead of launching mostly idle blocks. With inner > 1 consecutive lines are consecutive addresses,
so 32 lines go side by side in x (coalesced) and at most 8 lanes per line share the walk along j. Threads past
the last line still take part in every barrier (they add the reduction's identity and write nothing).
"""

import math

from numba import cuda, float64, int64

from . import _launch
from ._launch import device, kernel

# The codes of kernels.cpu.reduce (same numbers; the test checks they agree).
SUM, MEAN, MAX, MIN, PROD, VAR, STD, LOGSUMEXP, NORM2, NORM1, NORMINF, ARGMAX, ARGMIN, ANY, ALL = range(15)
N_REDUCE = 15

THREADS = _launch.THREADS


# ------------------------------------------------------------------ line geometry and block reductions
def _pow2(n):
    p = 1
    while p < n:
        p *= 2
    return p


def line_grid(lines, n, inner):
    """[blocks, (kx, jy)] for ``lines`` lines of ``n`` values, consecutive lines ``inner`` apart being adjacent in
    memory when inner > 1 (see the module docstring). jy is a power of two (the trees halve it)."""
    if inner == 1:
        jy = min(_pow2(n), THREADS)
        kx = min(THREADS // jy, _pow2(lines))
    else:
        kx = min(32, _pow2(lines))
        jy = min(THREADS // kx, 8, _pow2(n))
    return _launch.blocks(lines, kx), (kx, jy)


@device
def this_line(outer, inner):
    """(o, k, live) of the calling thread's line; live is False past the last line (o is then out of range)."""
    line = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    o = line // inner
    return o, line - o * inner, o < outer


@device
def line_sum(sh, v):
    """The sum of v over the lanes of the calling thread's line, returned to all of them. ``sh`` is a shared array
    of THREADS entries; every thread of the block must call this (it synchronises)."""
    tx, ty, kx = cuda.threadIdx.x, cuda.threadIdx.y, cuda.blockDim.x
    sh[ty * kx + tx] = v
    cuda.syncthreads()
    s = cuda.blockDim.y // 2
    while s > 0:
        if ty < s:
            sh[ty * kx + tx] += sh[(ty + s) * kx + tx]
        cuda.syncthreads()
        s //= 2
    r = sh[tx]
    cuda.syncthreads()  # sh may be reused at once
    return r


@device
def line_prod(sh, v):
    """As line_sum, the product."""
    tx, ty, kx = cuda.threadIdx.x, cuda.threadIdx.y, cuda.blockDim.x
    sh[ty * kx + tx] = v
    cuda.syncthreads()
    s = cuda.blockDim.y // 2
    while s > 0:
        if ty < s:
            sh[ty * kx + tx] *= sh[(ty + s) * kx + tx]
        cuda.syncthreads()
        s //= 2
    r = sh[tx]
    cuda.syncthreads()
    return r


@device
def line_max(sh, v):
    """As line_sum, the maximum; a NaN partial never wins (``b > a`` is false), as the CPU's ``if v > m`` scans
    (partials that start from -inf or 0 and skip NaNs never are NaN)."""
    tx, ty, kx = cuda.threadIdx.x, cuda.threadIdx.y, cuda.blockDim.x
    sh[ty * kx + tx] = v
    cuda.syncthreads()
    s = cuda.blockDim.y // 2
    while s > 0:
        if ty < s:
            a, b = sh[ty * kx + tx], sh[(ty + s) * kx + tx]
            sh[ty * kx + tx] = b if b > a else a  # noqa: FURB136 - NaN rule explicit, not max()'s
        cuda.syncthreads()
        s //= 2
    r = sh[tx]
    cuda.syncthreads()
    return r


@device
def line_most(shc, shv, c, v):
    """(c, v) of the lane with the largest count c (ties: any; callers guarantee equal c means equal v)."""
    tx, ty, kx = cuda.threadIdx.x, cuda.threadIdx.y, cuda.blockDim.x
    shc[ty * kx + tx] = c
    shv[ty * kx + tx] = v
    cuda.syncthreads()
    s = cuda.blockDim.y // 2
    while s > 0:
        if ty < s:
            a, b = ty * kx + tx, (ty + s) * kx + tx
            if shc[b] > shc[a]:
                shc[a] = shc[b]
                shv[a] = shv[b]
        cuda.syncthreads()
        s //= 2
    rc, rv = shc[tx], shv[tx]
    cuda.syncthreads()
    return rc, rv


@device
def _better(largest, v, i, w, q):
    """Whether (w, q) beats (v, i) in a first-extreme scan: a NaN beats numbers, the earlier index wins ties and
    among NaNs; i < 0 marks an empty partial."""
    if q < 0:
        return False
    if i < 0:
        return True
    if math.isnan(w) or math.isnan(v):
        return math.isnan(w) and (not math.isnan(v) or q < i)
    if w == v:
        return q < i
    return w > v if largest else w < v


@device
def _line_extreme(shv, shi, v, i, largest):
    """(value, index) of the first maximum (largest) or minimum along the line, a NaN first of all, as the CPU's
    scan that stops at the first NaN. Index -1 for an empty line."""
    tx, ty, kx = cuda.threadIdx.x, cuda.threadIdx.y, cuda.blockDim.x
    shv[ty * kx + tx] = v
    shi[ty * kx + tx] = i
    cuda.syncthreads()
    s = cuda.blockDim.y // 2
    while s > 0:
        if ty < s:
            a, b = ty * kx + tx, (ty + s) * kx + tx
            if _better(largest, shv[a], shi[a], shv[b], shi[b]):
                shv[a] = shv[b]
                shi[a] = shi[b]
        cuda.syncthreads()
        s //= 2
    rv, ri = shv[tx], shi[tx]
    cuda.syncthreads()
    return rv, ri


# ------------------------------------------------------------------ reduce_forward / reduce_backward
@kernel("void(int64, F[:, :, ::1], F[:, ::1])")
def _reduce_forward(code, x, out):
    shv = cuda.shared.array(THREADS, dtype=float64)
    shi = cuda.shared.array(THREADS, dtype=int64)
    outer, n, inner = x.shape
    o, k, live = this_line(outer, inner)
    ty, jy = cuda.threadIdx.y, cuda.blockDim.y
    res = 0.0
    if code == MAX or code == MIN or code == ARGMAX or code == ARGMIN:
        largest = code == MAX or code == ARGMAX
        best = 0.0
        at = -1
        if live:
            for j in range(ty, n, jy):
                v = float64(x[o, j, k])
                if _better(largest, best, at, v, j):
                    best, at = v, j
        best, at = _line_extreme(shv, shi, best, at, largest)
        if code == ARGMAX or code == ARGMIN:
            res = float64(at)
        elif n == 0:
            res = -math.inf if code == MAX else math.inf
        else:
            res = best
    elif code == PROD:
        p = 1.0
        if live:
            for j in range(ty, n, jy):
                p *= float64(x[o, j, k])
        res = line_prod(shv, p)
    elif code == LOGSUMEXP or code == NORMINF:
        m = -math.inf if code == LOGSUMEXP else 0.0
        if live:
            for j in range(ty, n, jy):
                v = float64(x[o, j, k])
                if code == NORMINF:
                    v = abs(v)
                m = v if v > m else m  # noqa: FURB136 - skips a NaN, as the CPU's max(m, v)
        m = line_max(shv, m)
        res = m
        if code == LOGSUMEXP and math.isfinite(m):
            s = 0.0
            if live:
                for j in range(ty, n, jy):
                    s += math.exp(float64(x[o, j, k]) - m)
            res = m + math.log(line_sum(shv, s))
    else:  # sums: SUM MEAN VAR STD NORM2 NORM1, and ANY / ALL as counts of non-zeros / zeros
        s = 0.0
        if live:
            for j in range(ty, n, jy):
                v = float64(x[o, j, k])
                if code == NORM2:
                    s += v * v
                elif code == NORM1:
                    s += abs(v)
                elif code == ANY:
                    s += 1.0 if v != 0 else 0.0
                elif code == ALL:
                    s += 1.0 if v == 0 else 0.0
                else:
                    s += v
        s = line_sum(shv, s)
        if code == SUM or code == NORM1:
            res = s
        elif code == NORM2:
            res = math.sqrt(s)
        elif code == ANY:
            res = 1.0 if s > 0 else 0.0
        elif code == ALL:
            res = 0.0 if s > 0 else 1.0
        elif n == 0:  # mean, var, std of nothing: 0 / 0
            res = math.nan
        else:
            m = s / n
            if code == MEAN:
                res = m
            else:
                d2 = 0.0
                if live:
                    for j in range(ty, n, jy):
                        d = float64(x[o, j, k]) - m
                        d2 += d * d
                res = line_sum(shv, d2) / n
                if code == STD:
                    res = math.sqrt(res)
    if live and ty == 0:
        out[o, k] = res


def reduce_forward(code, x, out):
    """out[p, r] = reduce_k x[p, k, r] by ``code``, as kernels.cpu.reduce.reduce_forward (float64 accumulation,
    the CPU's general path; its float32 last-axis sum accumulates in float32). One launch, a line per (p, r)."""
    outer, n, inner = x.shape
    if out.shape[0] != outer or out.shape[1] != inner:
        raise ValueError("reduce_forward: out must be (outer, inner) for x (outer, n, inner)")
    if code < 0 or code >= N_REDUCE:
        raise ValueError("reduce_forward: unknown code")
    if outer * inner:
        _reduce_forward[line_grid(outer * inner, n, inner)](int(code), x, out)


@kernel("void(int64, F[:, :, ::1], F[:, ::1], F[:, ::1], F[:, :, ::1])")
def _reduce_backward(code, x, y, dy, dx):
    shv = cuda.shared.array(THREADS, dtype=float64)
    outer, n, inner = x.shape
    o, k, live = this_line(outer, inner)
    ty, jy = cuda.threadIdx.y, cuda.blockDim.y
    g = 0.0
    yv = 0.0
    if live:
        g = float64(dy[o, k])
        yv = float64(y[o, k])
    stat = 0.0  # the line's statistic: ties (max, min, norm-inf) or the mean (var, std)
    if code == MAX or code == MIN or code == NORMINF:
        c = 0.0
        if live:
            for j in range(ty, n, jy):
                a = float64(x[o, j, k])
                if code == NORMINF:
                    a = abs(a)
                if a == yv:
                    c += 1.0
        stat = line_sum(shv, c)
    elif code == VAR or code == STD:
        s = 0.0
        if live:
            for j in range(ty, n, jy):
                s += float64(x[o, j, k])
        stat = line_sum(shv, s) / n  # n > 0: dx is not empty
    if not live:
        return
    for j in range(ty, n, jy):
        v = float64(x[o, j, k])
        r = 0.0
        if code == SUM:
            r = g
        elif code == MEAN:
            r = g / n
        elif code == MAX or code == MIN or code == NORMINF:
            a = abs(v) if code == NORMINF else v
            if a == yv:
                r = g / stat
                if code == NORMINF and v < 0:
                    r = -r
        elif code == PROD:
            if v != 0:
                r = g * (yv / v)
            else:  # the product of the others, directly (y / x is 0 / 0 here)
                p = 1.0
                for q in range(n):
                    if q != j:
                        p *= float64(x[o, q, k])
                r = g * p
        elif code == VAR:
            r = 2.0 * g / n * (v - stat)
        elif code == STD:
            r = (g / (n * yv) if yv != 0 else 0.0) * (v - stat)
        elif code == LOGSUMEXP:
            r = g * math.exp(v - yv)
        elif code == NORM2:
            r = (g / yv if yv != 0 else 0.0) * v
        elif code == NORM1:
            r = g if v > 0 else (-g if v < 0 else 0.0)
        dx[o, j, k] = r


def reduce_backward(code, x, y, dy, dx):
    """dx[p, k, r] = dy[p, r] * d y[p, r] / d x[p, k, r], as kernels.cpu.reduce.reduce_backward: skipped when dx has
    size 0; argmax, argmin, any and all write zeros. One launch; the per-line statistic a rule needs (the count of
    tied extremes, the mean) is a block reduction before the lanes write their elements."""
    if dx.size == 0:
        return
    outer, n, inner = x.shape
    if tuple(dx.shape) != tuple(x.shape) or y.shape[0] != outer or y.shape[1] != inner or \
            tuple(dy.shape) != tuple(y.shape):
        raise ValueError("reduce_backward: x, dx (outer, n, inner) and y, dy (outer, inner) disagree")
    if code < 0 or code >= N_REDUCE:
        raise ValueError("reduce_backward: unknown code")
    _reduce_backward[line_grid(outer * inner, n, inner)](int(code), x, y, dy, dx)


# ------------------------------------------------------------------ top_k
@kernel("void(F[:, ::1], F[:, ::1], F[:, ::1])")
def _top_k_forward(x, values, indices):
    t = cuda.grid(1)
    rows, n = x.shape
    k = values.shape[1]
    p = t // n
    q = t - p * n
    if p >= rows:
        return
    v = x[p, q]
    rank = 0  # entries that come before x[p, q]: larger ones, and equal ones at lower indices (a stable order)
    for i in range(n):
        w = x[p, i]
        if w > v or (w == v and i < q):
            rank += 1
            if rank >= k:
                return
    values[p, rank] = v
    indices[p, rank] = q


def top_k_forward(x, values, indices):
    """The k largest entries of each row of x (rows, n), largest first, their indices as floats, ties in index
    order: as kernels.cpu.reduce.top_k_forward.

    CUDA: one thread per entry counts the entries ranked before it (O(n) each, reads of one row broadcast across a
    warp) and writes itself to that rank if it is below k -- no sort, no scratch, one launch; it suits the small
    rows top_k is used on (O(n^2) work per row). Difference: in a row with NaNs the ranks are not a permutation,
    so some of the row's k outputs may stay unwritten or be written by several threads (always in bounds); the
    CPU's insertion gives a defined but arbitrary order there too."""
    rows, n = x.shape
    k = values.shape[1]
    if values.shape[0] != rows or indices.shape[0] != rows or indices.shape[1] != k or k > n:
        raise ValueError("top_k_forward: values and indices must be (rows, k) with k <= n for x (rows, n)")
    if rows * n and k:
        _top_k_forward[_launch.grid(rows * n)](x, values, indices)
