"""Reductions over the middle axis of an (outer, n, inner) view, by code, and top-k.

Any reduction over a run of adjacent axes is this one: outer = product of the axes before the run, n = of the run,
inner = of the axes after it (keepdims changes only the output's shape, not its values). A non-adjacent set of
axes is first moved to the end by the caller (a permute), then reduced as (outer, n, 1).

    reduce_forward(code, x, out)          x (outer, n, inner) -> out (outer, inner)
    reduce_backward(code, x, y, dy, dx)   dy (outer, inner) -> dx (outer, n, inner); y is the forward's output

The code table states each reduction and its gradient rule side by side. Keras's conventions: ``var`` and ``std``
are the population ones (divide by n); ``max``/``min`` share the gradient evenly among tied maxima (JAX and TF do);
``argmax``/``argmin`` return the first extreme index; an empty reduction (n = 0) gives sum 0, prod 1, mean NaN,
max -inf, min +inf.
"""

import math

from ..policy import kernel

# code           y = reduce over the axis           dx / dy (the backward rule)
SUM = 0  # sum x                                    1
MEAN = 1  # sum x / n                               1 / n
MAX = 2  # max x                                    [x == y] / count(x == y)
MIN = 3  # min x                                    [x == y] / count(x == y)
PROD = 4  # prod x                                  prod of the other entries
VAR = 5  # mean (x - m)^2, m = mean x               2 (x - m) / n
STD = 6  # sqrt(var)                                (x - m) / (n y)   (0 where y == 0)
LOGSUMEXP = 7  # log sum e^x (shifted by max x)     e^(x - y)
NORM2 = 8  # sqrt(sum x^2)                          x / y   (0 where y == 0)
NORM1 = 9  # sum |x|                                sign(x)
NORMINF = 10  # max |x|                             sign(x) [|x| == y] / count(|x| == y)
ARGMAX = 11  # first index of max x                 no gradient
ARGMIN = 12  # first index of min x                 no gradient
ANY = 13  # 1 if any x != 0                         no gradient
ALL = 14  # 1 if all x != 0                         no gradient
N_REDUCE = 15


@kernel
def _reduce_line(code, x, p, r):
    """The reduction of x[p, :, r] (float64 accumulation)."""
    n = x.shape[1]
    if code == SUM or code == MEAN:
        s = 0.0
        for k in range(n):
            s += x[p, k, r]
        return s / n if code == MEAN else s
    if code == MAX or code == MIN or code == ARGMAX or code == ARGMIN:
        if n == 0:
            return -math.inf if code == MAX else (math.inf if code == MIN else -1.0)
        best = x[p, 0, r]
        at = 0
        for k in range(1, n):
            v = x[p, k, r]
            if best != best:  # a NaN wins, as in NumPy
                break
            if (code == MAX or code == ARGMAX) and (v > best or v != v):
                best, at = v, k
            elif (code == MIN or code == ARGMIN) and (v < best or v != v):
                best, at = v, k
        return float(at) if (code == ARGMAX or code == ARGMIN) else best
    if code == PROD:
        s = 1.0
        for k in range(n):
            s *= x[p, k, r]
        return s
    if code == VAR or code == STD:
        m = 0.0
        for k in range(n):
            m += x[p, k, r]
        m /= n
        s = 0.0
        for k in range(n):
            d = x[p, k, r] - m
            s += d * d
        s /= n
        return math.sqrt(s) if code == STD else s
    if code == LOGSUMEXP:
        m = -math.inf
        for k in range(n):
            m = max(m, x[p, k, r])
        if not math.isfinite(m):
            return m
        s = 0.0
        for k in range(n):
            s += math.exp(x[p, k, r] - m)
        return m + math.log(s)
    if code == NORM2:
        s = 0.0
        for k in range(n):
            s += x[p, k, r] * x[p, k, r]
        return math.sqrt(s)
    if code == NORM1:
        s = 0.0
        for k in range(n):
            s += abs(x[p, k, r])
        return s
    if code == NORMINF:
        s = 0.0
        for k in range(n):
            s = max(s, abs(x[p, k, r]))
        return s
    if code == ANY:
        for k in range(n):
            if x[p, k, r] != 0:
                return 1.0
        return 0.0
    if code == ALL:
        for k in range(n):
            if x[p, k, r] == 0:
                return 0.0
        return 1.0
    return math.nan


@kernel
def reduce_forward(code, x, out):
    """out[p, r] = reduce_k x[p, k, r], the reduction chosen by ``code`` (see the code table)."""
    outer, n, inner = x.shape
    if out.shape[0] != outer or out.shape[1] != inner:
        raise ValueError("reduce_forward: out must be (outer, inner) for x (outer, n, inner)")
    if code < 0 or code >= N_REDUCE:
        raise ValueError("reduce_forward: unknown code")
    t = out.dtype.type
    if code == SUM and inner == 1:  # the common last-axis sum: one contiguous run per row
        for p in range(outer):
            s = t(0.0)
            for k in range(n):
                s += x[p, k, 0]
            out[p, 0] = s
        return
    for p in range(outer):
        for r in range(inner):
            out[p, r] = t(_reduce_line(code, x, p, r))


@kernel
def reduce_backward(code, x, y, dy, dx):
    """dx[p, k, r] = dy[p, r] * d y[p, r] / d x[p, k, r] (the code table's right-hand column). Skipped when dx has
    size 0; codes without a gradient (argmax, argmin, any, all) write zeros."""
    if dx.size == 0:
        return
    outer, n, inner = x.shape
    if dx.shape != x.shape or y.shape[0] != outer or y.shape[1] != inner or dy.shape != y.shape:
        raise ValueError("reduce_backward: x, dx (outer, n, inner) and y, dy (outer, inner) disagree")
    if code < 0 or code >= N_REDUCE:
        raise ValueError("reduce_backward: unknown code")
    t = dx.dtype.type
    for p in range(outer):
        for r in range(inner):
            g = dy[p, r]
            yv = y[p, r]
            if code == SUM or code == MEAN:
                v = g / n if code == MEAN else g
                for k in range(n):
                    dx[p, k, r] = t(v)
            elif code == MAX or code == MIN or code == NORMINF:
                ties = 0
                for k in range(n):
                    a = abs(x[p, k, r]) if code == NORMINF else x[p, k, r]
                    if a == yv:
                        ties += 1
                for k in range(n):
                    v = x[p, k, r]
                    a = abs(v) if code == NORMINF else v
                    s = 0.0 if a != yv else g / ties
                    if code == NORMINF and v < 0:
                        s = -s
                    dx[p, k, r] = t(s)
            elif code == PROD:
                for k in range(n):
                    v = x[p, k, r]
                    if v != 0:
                        dx[p, k, r] = t(g * (yv / v))
                    else:  # the product of the others, computed directly (y / x is 0 / 0 here)
                        s = 1.0
                        for q in range(n):
                            if q != k:
                                s *= x[p, q, r]
                        dx[p, k, r] = t(g * s)
            elif code == VAR or code == STD:
                m = 0.0
                for k in range(n):
                    m += x[p, k, r]
                m /= n
                if code == VAR:
                    c = 2.0 * g / n
                else:
                    c = g / (n * yv) if yv != 0 else 0.0
                for k in range(n):
                    dx[p, k, r] = t(c * (x[p, k, r] - m))
            elif code == LOGSUMEXP:
                for k in range(n):
                    dx[p, k, r] = t(g * math.exp(x[p, k, r] - yv))
            elif code == NORM2:
                c = g / yv if yv != 0 else 0.0
                for k in range(n):
                    dx[p, k, r] = t(c * x[p, k, r])
            elif code == NORM1:
                for k in range(n):
                    v = x[p, k, r]
                    dx[p, k, r] = t(g if v > 0 else (-g if v < 0 else 0.0))
            else:
                for k in range(n):
                    dx[p, k, r] = t(0.0)


@kernel
def top_k_forward(x, values, indices):
    """The k largest entries of each row of x (rows, n), largest first: values (rows, k) and their indices
    (rows, k, stored as floats). Equal values keep their order (the lower index first), as Keras's top_k."""
    rows, n = x.shape
    k = values.shape[1]
    if values.shape[0] != rows or indices.shape[0] != rows or indices.shape[1] != k or k > n:
        raise ValueError("top_k_forward: values and indices must be (rows, k) with k <= n for x (rows, n)")
    t = values.dtype.type
    for p in range(rows):
        # Insertion into a sorted list of k: O(n k), cheap for the small k that top_k is used with.
        filled = 0
        for q in range(n):
            v = x[p, q]
            pos = filled
            while pos > 0 and v > values[p, pos - 1]:
                pos -= 1
            if pos >= k:
                continue
            last = min(filled, k - 1)
            for s in range(last, pos, -1):
                values[p, s] = values[p, s - 1]
                indices[p, s] = indices[p, s - 1]
            values[p, pos] = v
            indices[p, pos] = t(q)
            if filled < k:
                filled += 1
