"""CUDA twin of kernels/cpu/penalties.py: L1/L2 and orthogonal regularizers, and the weight constraints.

Penalties are reduced on the device in float64, as the CPU kernel sums them: each block reduces its grid-stride
share in shared memory and adds its (already weighted) part to the float64 accumulator with one atomic add. So
``*_into`` kernels add straight into the caller's ``acc`` (one launch for L1/L2); ``l1l2_penalty`` and
``orthogonal_penalty`` return the value, as the CPU kernels do, through a module-level float64 device scalar that is
zeroed (an 8-byte host-to-device copy), accumulated into, and copied back. Atomic float64 additions arrive in no
fixed order, so penalties agree with the CPU to float64 rounding, not bit for bit.

Orthogonal regularizer (w viewed as r rows of c values, the transposed view when ``by_columns``): one block per row
normalizes it into the caller's float64 scratch ``n`` (as the CPU kernel does) and records its squared norm; the
penalty is one thread per pair (i < j) computing n_i . n_j, block-reduced and added atomically; the gradient first
forms the Gram matrix G = n n^T (one thread per entry) and then gives one thread to each entry of g, which loops
over the rows j in the CPU kernel's order and arithmetic. Module-level device scratch (allocated once, grown when
needed, never per call): the squared row norms (r float64) and G (r * r float64).

Constraints: one block per 32 columns, 8 row lanes reducing the column norms in float64 in shared memory, then the
same block scales its columns (one launch, no scratch; consecutive threads touch consecutive columns of a row).
"""

import math

import numpy as np
from numba import cuda, float64

from . import _launch
from ._launch import THREADS, kernel

EPSILON = 1e-7
MAX_BLOCKS = 256
LANES = 8
CH = 32
ROW_THREADS = 64  # threads per row when normalizing the orthogonal regularizer's rows (rows are a few hundred long)

_SCRATCH = {}


def _scratch(name, size, dtype=np.float64):
    key = (name, np.dtype(dtype).str)
    a = _SCRATCH.get(key)
    if a is None or a.shape[0] < size:
        a = cuda.to_device(np.zeros(max(size, 1), dtype))
        _SCRATCH[key] = a
    return a


def _zeroed_result():
    res = _scratch("result", 1)
    res.copy_to_device(np.zeros(1, np.float64))
    return res


@_launch.device
def _block_sum(sh, v):
    """Sum of v over the 1-D block (a power of two <= THREADS threads), returned to every thread (sh: shared float64
    scratch)."""
    tid = cuda.threadIdx.x
    sh[tid] = v
    cuda.syncthreads()
    s = cuda.blockDim.x // 2
    while s > 0:
        if tid < s:
            sh[tid] += sh[tid + s]
        cuda.syncthreads()
        s //= 2
    r = sh[0]
    cuda.syncthreads()
    return r


def _reduce_grid(n):
    return min(_launch.blocks(n), MAX_BLOCKS), THREADS


# --- L1 / L2 ------------------------------------------------------------------------------------------------------


@kernel("void(F[::1], float64, float64, float64, float64[::1])")
def _l1l2_into(w, l1, l2, divisor, acc):
    """acc[0] += (l1 * sum|w| + l2 * sum w^2) / divisor, a term skipped when its factor is 0."""
    sh = cuda.shared.array(THREADS, dtype=float64)
    s1 = 0.0
    s2 = 0.0
    for i in range(cuda.grid(1), w.shape[0], cuda.gridsize(1)):
        v = float64(w[i])
        s1 += abs(v)
        s2 += v * v
    t1 = _block_sum(sh, s1)
    t2 = _block_sum(sh, s2)
    if cuda.threadIdx.x == 0:
        total = 0.0
        if l1 != 0.0:
            total += l1 * t1
        if l2 != 0.0:
            total += l2 * t2
        cuda.atomic.add(acc, 0, total / divisor)


def _l1l2_launch(w, l1, l2, divisor, acc):
    if w.shape[0]:
        _l1l2_into[_reduce_grid(w.shape[0])](w, float(l1), float(l2), float(divisor), acc)


def l1l2_penalty(w, l1, l2):
    """l1 * sum|w| + l2 * sum w^2 as a float, as kernels.cpu.penalties.l1l2_penalty. One launch plus the copy
    back of the value (the CPU kernel returns it)."""
    if w.shape[0] == 0:
        return 0.0
    res = _zeroed_result()
    _l1l2_launch(w, l1, l2, 1.0, res)
    return float(res.copy_to_host()[0])


def l1l2_penalty_into(w, l1, l2, acc):
    """acc[0] += l1l2_penalty(w, l1, l2) (acc: float64 device array), as kernels.cpu.penalties.l1l2_penalty_into.
    One launch, no copy."""
    _l1l2_launch(w, l1, l2, 1.0, acc)


def l1l2_activity_penalty_into(y, l1, l2, rows, acc):
    """acc[0] += l1l2_penalty(y, l1, l2) / rows (nothing when rows is 0), as
    kernels.cpu.penalties.l1l2_activity_penalty_into. One launch."""
    if rows > 0:
        _l1l2_launch(y, l1, l2, float(rows), acc)


@kernel("void(F[::1], float64, float64, boolean, F[::1])")
def _l1l2_grad(w, c1, c2, with_l1, g):
    i = cuda.grid(1)
    if i < g.shape[0]:
        t = g.dtype.type
        v = w[i]
        if with_l1:
            zero = t(0.0)
            one = t(1.0)
            sign = (one if v > zero else zero) - (one if v < zero else zero)
            g[i] += t(c1) * sign + t(c2) * v
        else:
            g[i] += t(c2) * v


def l1l2_penalty_grad(w, l1, l2, scale, g):
    """g += scale * (l1 * sign(w) + 2 * l2 * w), as kernels.cpu.penalties.l1l2_penalty_grad. One launch."""
    n = w.shape[0]
    if g.shape[0] != n:
        raise ValueError("l1l2_penalty_grad: g must have the length of w")
    if n and (l1 != 0.0 or l2 != 0.0):
        _l1l2_grad[_launch.grid(n)](w, float(scale * l1), float(2.0 * scale * l2), bool(l1 != 0.0), g)


def l1l2_activity_penalty_grad(y, l1, l2, rows, dy):
    """dy += (l1 * sign(y) + 2 * l2 * y) / rows, as kernels.cpu.penalties.l1l2_activity_penalty_grad."""
    if rows > 0:
        l1l2_penalty_grad(y, l1, l2, 1.0 / rows, dy)


# --- orthogonal regularizer ---------------------------------------------------------------------------------------


@_launch.device
def _at(w, i, k, by_columns):
    """Entry (i, k) of the logical view: w itself, or w transposed when by_columns."""
    return float64(w[k, i] if by_columns else w[i, k])


@kernel("void(F[:, ::1], boolean, float64[::1], float64[::1])")
def _ortho_normalize(w, by_columns, n, q):
    """Block i (ROW_THREADS threads): n[i, :] = w_i * rsqrt(max(|w_i|^2, eps^2)) (n flat, rows of c values);
    q[i] = |w_i|^2."""
    sh = cuda.shared.array(THREADS, dtype=float64)
    i = cuda.blockIdx.x
    cols = w.shape[0] if by_columns else w.shape[1]
    part = 0.0
    for k in range(cuda.threadIdx.x, cols, cuda.blockDim.x):
        v = _at(w, i, k, by_columns)
        part += v * v
    qi = _block_sum(sh, part)
    s = 1.0 / math.sqrt(max(qi, EPSILON * EPSILON))
    for k in range(cuda.threadIdx.x, cols, cuda.blockDim.x):
        n[i * cols + k] = _at(w, i, k, by_columns) * s
    if cuda.threadIdx.x == 0:
        q[i] = qi


@kernel("void(float64[::1], int64, int64, float64, float64[::1])")
def _ortho_pairs(n, rows, cols, coef, acc):
    """acc[0] += coef * sum_{i < j} |n_i . n_j| (one thread per (i, j), grid-stride)."""
    sh = cuda.shared.array(THREADS, dtype=float64)
    part = 0.0
    for p in range(cuda.grid(1), rows * rows, cuda.gridsize(1)):
        i = p // rows
        j = p - i * rows
        if j > i:
            d = 0.0
            for k in range(cols):
                d += n[i * cols + k] * n[j * cols + k]
            part += abs(d)
    total = _block_sum(sh, part)
    if cuda.threadIdx.x == 0:
        cuda.atomic.add(acc, 0, coef * total)


@kernel("void(float64[::1], int64, int64, float64[::1])")
def _ortho_gram(n, rows, cols, gram):
    p = cuda.grid(1)
    if p < rows * rows:
        i = p // rows
        j = p - i * rows
        d = 0.0
        for k in range(cols):
            d += n[i * cols + k] * n[j * cols + k]
        gram[p] = d


@kernel("void(F[:, ::1], boolean, float64, F[:, ::1], float64[::1], float64[::1], float64[::1])")
def _ortho_grad(w, by_columns, c, g, n, q, gram):
    """One thread per entry of g (in g's memory order): the CPU kernel's sum over j for that entry, in its order."""
    p = cuda.grid(1)
    if p >= g.size:
        return
    pr = p // g.shape[1]
    pc = p - pr * g.shape[1]
    i, k = (pc, pr) if by_columns else (pr, pc)
    rows = w.shape[1] if by_columns else w.shape[0]
    cols = w.shape[0] if by_columns else w.shape[1]
    t = g.dtype.type
    floor = EPSILON * EPSILON
    qi = q[i]
    s = 1.0 / math.sqrt(max(qi, floor))
    acc = g[pr, pc]
    abs_sum = 0.0
    for j in range(rows):
        if j == i:
            continue
        d = gram[i * rows + j]
        abs_sum += abs(d)
        sg = 1.0 if d > 0.0 else (-1.0 if d < 0.0 else 0.0)
        if sg != 0.0:
            acc += t(c * s * sg * n[j * cols + k])
    if qi > floor:
        acc -= t(c * s * abs_sum * n[i * cols + k])
    g[pr, pc] = acc


@kernel("void(float64[::1], float64)")
def _add_value(acc, value):
    if cuda.grid(1) == 0:
        acc[0] += value


def _ortho_shape(w, by_columns):
    return (w.shape[1], w.shape[0]) if by_columns else (w.shape[0], w.shape[1])


def _ortho_normalize_launch(w, by_columns, n):
    rows, _ = _ortho_shape(w, by_columns)
    q = _scratch("ortho_q", rows)
    if rows:
        _ortho_normalize[rows, ROW_THREADS](w, bool(by_columns), n, q)
    return q


def _ortho_into(w, factor, by_columns, n, acc):
    rows, cols = _ortho_shape(w, by_columns)
    _ortho_normalize_launch(w, by_columns, n)
    pairs = rows * (rows - 1) / 2.0
    if pairs == 0.0:
        _add_value[1, 1](acc, float(np.nan))  # Keras divides 0 by 0 pairs
        return
    _ortho_pairs[_reduce_grid(rows * rows)](n, int(rows), int(cols), float(factor / pairs), acc)


def orthogonal_penalty(w, factor, by_columns, n):
    """Keras's OrthogonalRegularizer penalty of a 2-D w as a float, as kernels.cpu.penalties.orthogonal_penalty
    (``n``: flat float64 scratch of at least w.size, left holding the normalized rows). Two launches plus the copy
    back of the value (the CPU kernel returns it)."""
    if n.shape[0] < w.size:
        raise ValueError("orthogonal_penalty: scratch n needs w.size elements")
    res = _zeroed_result()
    _ortho_into(w, factor, by_columns, n, res)
    return float(res.copy_to_host()[0])


def orthogonal_penalty_into(w, factor, by_columns, n, acc):
    """acc[0] += orthogonal_penalty(w, factor, by_columns, n), as kernels.cpu.penalties.orthogonal_penalty_into.
    Two launches, no copy."""
    if n.shape[0] < w.size:
        raise ValueError("orthogonal_penalty: scratch n needs w.size elements")
    _ortho_into(w, factor, by_columns, n, acc)


def orthogonal_penalty_grad(w, factor, by_columns, scale, g, n):
    """g += scale * d orthogonal_penalty / d w, as kernels.cpu.penalties.orthogonal_penalty_grad. Three launches
    (normalize, Gram matrix, gradient); module-level Gram scratch (module docstring)."""
    if n.shape[0] < w.size:
        raise ValueError("orthogonal_penalty_grad: scratch n needs w.size elements")
    if g.shape[0] != w.shape[0] or g.shape[1] != w.shape[1]:
        raise ValueError("orthogonal_penalty_grad: g must have the shape of w")
    rows, cols = _ortho_shape(w, by_columns)
    q = _ortho_normalize_launch(w, by_columns, n)
    if rows < 2:
        return
    gram = _scratch("ortho_gram", rows * rows)
    _ortho_gram[_launch.grid(rows * rows)](n, int(rows), int(cols), gram)
    c = scale * factor / (rows * (rows - 1) / 2.0)
    if g.size:
        _ortho_grad[_launch.grid(g.size)](w, bool(by_columns), float(c), g, n, q, gram)


# --- constraints --------------------------------------------------------------------------------------------------


@kernel("void(F[:, ::1], int64, float64, float64, float64)")
def _column_constraint(w, mode, min_value, max_value, rate):
    """Block of 32 columns x 8 row lanes: the columns' float64 norms, then each column scaled.
    mode 0 MaxNorm(max_value), 1 UnitNorm, 2 MinMaxNorm(min_value, max_value, rate)."""
    sh = cuda.shared.array((LANES, CH), dtype=float64)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    rows, cols = w.shape
    j = cuda.blockIdx.x * CH + tx
    part = 0.0
    if j < cols:
        for r in range(ty, rows, LANES):
            v = float64(w[r, j])
            part += v * v
    sh[ty, tx] = part
    cuda.syncthreads()
    s = LANES // 2
    while s > 0:
        if ty < s:
            sh[ty, tx] += sh[ty + s, tx]
        cuda.syncthreads()
        s //= 2
    if j >= cols:
        return
    norm = math.sqrt(sh[0, tx])
    t = w.dtype.type
    if mode == 1:
        den = t(EPSILON + norm)
        for r in range(ty, rows, LANES):
            w[r, j] = w[r, j] / den
        return
    if mode == 0:
        desired = min(max(norm, 0.0), max_value)
    else:
        desired = rate * min(max(norm, min_value), max_value) + (1.0 - rate) * norm
    f = t(desired / (EPSILON + norm))
    for r in range(ty, rows, LANES):
        w[r, j] = w[r, j] * f


def _constraint(w, mode, min_value, max_value, rate):
    rows, cols = w.shape
    if rows and cols:
        _column_constraint[(math.ceil(cols / CH),), (CH, LANES)](w, int(mode), float(min_value), float(max_value),
                                                                 float(rate))


def max_norm_apply(w, max_value):
    """Keras's MaxNorm in place on w (rows, cols), as kernels.cpu.penalties.max_norm_apply. One launch."""
    _constraint(w, 0, 0.0, max_value, 1.0)


def unit_norm_apply(w):
    """Keras's UnitNorm in place on w (rows, cols), as kernels.cpu.penalties.unit_norm_apply. One launch."""
    _constraint(w, 1, 0.0, 0.0, 1.0)


def min_max_norm_apply(w, min_value, max_value, rate):
    """Keras's MinMaxNorm in place on w (rows, cols), as kernels.cpu.penalties.min_max_norm_apply. One launch."""
    _constraint(w, 2, min_value, max_value, rate)


@kernel("void(F[::1])")
def _non_neg(w):
    i = cuda.grid(1)
    if i < w.shape[0] and w[i] < w.dtype.type(0.0):
        w[i] = w.dtype.type(0.0)


def non_neg_apply(w):
    """w = maximum(w, 0) in place on a flat view (NaN stays NaN), as kernels.cpu.penalties.non_neg_apply."""
    if w.shape[0]:
        _non_neg[_launch.grid(w.shape[0])](w)
