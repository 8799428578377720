"""Weight penalties (regularizers) and weight projections (constraints), Keras 3's formulas.

Regularizers work on flat 1-D views: a penalty is a sum over every element, so the shape does not matter.
Constraints project a weight in place after each optimizer update, on a (rows, cols) view whose norm is taken over
the rows of each column: a Dense kernel (in, units) is its own view (Keras's default ``axis=0``); a convolution
kernel (kh, kw, cin, filters) with Keras's ``axis=[0, 1, 2]`` is the (kh * kw * cin, filters) view. The callers
(``nbkeras/constraints.py`` and the compiled step) build that view; these kernels only see the matrix.

Precision: sums are accumulated in float64 (the penalty is returned as a float64 scalar), per-column factors are
computed in float64 and applied in the weight's dtype. Keras on a float32 weight does the same arithmetic in float32,
so results agree to float32 rounding, not bit for bit.

Formulas checked against keras/src/regularizers/regularizers.py, keras/src/constraints/constraints.py and
keras/src/ops/nn.py (``normalize``) of Keras 3.16; ``eps`` is ``backend.epsilon()`` = 1e-7.
"""

import math

import numpy as np

from ..policy import kernel

EPSILON = 1e-7  # keras.backend.epsilon()'s default: the constraints' denominators and normalize's floor


# ---------------------------------------------------------------------------------------------------------------
# L1 / L2 penalties (L1, L2, L1L2 regularizers; the lead also uses them for activity regularization)


@kernel
def l1l2_penalty(w, l1, l2):
    """penalty = l1 * sum |w| + l2 * sum w^2, as a float64 scalar.

    Keras: ``L1(l1=0.01)`` is l1 * sum(abs(x)), ``L2(l2=0.01)`` is l2 * sum(square(x)) -- no 1/2 in front of the L2
    term -- and ``L1L2(l1=0.0, l2=0.0)`` is their sum. Like Keras's ``L1L2``, a term whose factor is 0 is skipped
    rather than multiplied by 0, so an infinite weight gives inf (not NaN) under a pure L1 or pure L2 penalty.
    ``w`` is a flat 1-D view of the weight (or of a layer's output, for activity regularization).
    """
    s1 = 0.0
    s2 = 0.0
    for i in range(w.shape[0]):
        v = np.float64(w[i])
        s1 += abs(v)
        s2 += v * v
    total = 0.0
    if l1 != 0.0:
        total += l1 * s1
    if l2 != 0.0:
        total += l2 * s2
    return total


@kernel
def l1l2_penalty_grad(w, l1, l2, scale, g):
    """g += scale * (l1 * sign(w) + 2 * l2 * w): the gradient of ``scale * l1l2_penalty(w, l1, l2)``, added in place.

    sign(0) = 0, as in Keras/JAX (the subgradient JAX takes for |x| at 0). ``scale`` lets the
    caller fold in a factor without a second pass: 1 for a weight penalty, 1 / batch_size for Keras's activity
    regularization. Always accumulates: the penalty's gradient is added to the loss gradient already in ``g``.
    ``g`` and ``w`` are flat 1-D views of the same length and must not overlap.
    """
    n = w.shape[0]
    if g.shape[0] != n:
        raise ValueError("l1l2_penalty_grad: g must have the length of w")
    c1 = g.dtype.type(scale * l1)
    c2 = g.dtype.type(2.0 * scale * l2)
    zero = g.dtype.type(0.0)
    if l1 != 0.0:
        # Branch-free sign in one fused loop (measured 28 -> 14 us on 784x256 float32, best of 5); a NaN weight
        # gets sign 0 here instead of NaN, but its penalty (and so the loss) is NaN already.
        for i in range(n):
            v = w[i]
            g[i] += c1 * (g.dtype.type(v > zero) - g.dtype.type(v < zero)) + c2 * v
    elif l2 != 0.0:
        for i in range(n):
            g[i] += c2 * w[i]


@kernel
def l1l2_penalty_into(w, l1, l2, acc):
    """acc[0] += l1l2_penalty(w, l1, l2): a weight penalty added to the step's loss (Keras adds it unscaled)."""
    acc[0] += l1l2_penalty(w, l1, l2)


@kernel
def l1l2_activity_penalty_into(y, l1, l2, rows, acc):
    """acc[0] += l1l2_penalty(y, l1, l2) / rows: Keras's activity regularization of a layer output y (flat view).

    Keras 3.14+ (and Keras 2) divide the penalty of the whole output by its batch size ``output.shape[0]``
    (``divide_no_nan``: nothing is added for an empty batch).
    """
    if rows > 0:
        acc[0] += l1l2_penalty(y, l1, l2) / rows


@kernel
def l1l2_activity_penalty_grad(y, l1, l2, rows, dy):
    """dy += (l1 * sign(y) + 2 * l2 * y) / rows: the gradient of ``l1l2_activity_penalty_into``, added to the
    upstream gradient of the layer's output (flat views of the same length)."""
    if rows > 0:
        l1l2_penalty_grad(y, l1, l2, 1.0 / rows, dy)


# ---------------------------------------------------------------------------------------------------------------
# Orthogonal regularizer


@kernel
def _normalize_rows(w, n):
    """n[i] = w[i] * rsqrt(max(sum_k w[i, k]^2, eps^2)) (Keras's ops.normalize, order 2); the sizes are checked."""
    rows, cols = w.shape
    if n.shape[0] != rows or n.shape[1] != cols:
        raise ValueError("orthogonal_penalty: scratch n must have the shape of w")
    floor = EPSILON * EPSILON
    for i in range(rows):
        q = 0.0
        for k in range(cols):
            v = np.float64(w[i, k])
            q += v * v
        s = 1.0 / math.sqrt(max(q, floor))
        for k in range(cols):
            n[i, k] = np.float64(w[i, k]) * s


@kernel
def _orthogonal_rows_penalty(w, factor, n):
    """Keras's ``OrthogonalRegularizer(factor=0.01, mode="rows")`` on the rows of w (r, c), as a float64 scalar.

    n_i = w_i * rsqrt(max(|w_i|^2, eps^2))                   (each row scaled to unit length)
    penalty = factor * 0.5 * sum_{i != j} |n_i . n_j| / (r (r - 1) / 2)
            = factor * mean over pairs i < j of |n_i . n_j|

    With fewer than two rows Keras divides 0 by 0 pairs; this returns NaN the same way. ``n`` is float64 scratch of
    w's shape (the normalized rows).
    """
    rows, cols = w.shape
    _normalize_rows(w, n)
    total = 0.0
    for i in range(rows):
        for j in range(i + 1, rows):
            d = 0.0
            for k in range(cols):
                d += n[i, k] * n[j, k]
            total += abs(d)
    pairs = rows * (rows - 1) / 2.0
    if pairs == 0.0:
        return np.nan
    return factor * total / pairs


@kernel
def _orthogonal_rows_grad(w, factor, scale, g, n):
    """g += scale * d penalty / d w for ``_orthogonal_rows_penalty``.

    With G_ij = n_i . n_j and c = factor / (r (r - 1) / 2), the gradient with respect to the normalized row n_i is
    a_i = c * sum_{j != i} sign(G_ij) n_j (each pair appears twice in Keras's sum, cancelling its 0.5). Through
    n_i = s_i w_i, s_i = rsqrt(|w_i|^2), and using w_i . n_j = G_ij / s_i:
        d penalty / d w_i = s_i (a_i - (n_i . a_i) n_i)
                          = c s_i (sum_{j != i} sign(G_ij) n_j - (sum_{j != i} |G_ij|) n_i)
    Where |w_i|^2 < eps^2 the clamp is active, s_i = 1 / eps is a constant and only c s_i sum_j sign(G_ij) n_j
    remains. Nothing is added with fewer than two rows (Keras's penalty is NaN there). ``n`` is float64 scratch of
    w's shape. sign(0) = 0 (JAX's derivative of |x| at 0).
    """
    rows, cols = w.shape
    if g.shape[0] != rows or g.shape[1] != cols:
        raise ValueError("orthogonal_penalty_grad: g must have the shape of w")
    _normalize_rows(w, n)
    if rows < 2:
        return
    c = scale * factor / (rows * (rows - 1) / 2.0)
    floor = EPSILON * EPSILON
    for i in range(rows):
        q = 0.0
        for k in range(cols):
            v = np.float64(w[i, k])
            q += v * v
        s = 1.0 / math.sqrt(max(q, floor))
        abs_sum = 0.0
        for j in range(rows):
            if j == i:
                continue
            d = 0.0
            for k in range(cols):
                d += n[i, k] * n[j, k]
            abs_sum += abs(d)
            sg = 1.0 if d > 0.0 else (-1.0 if d < 0.0 else 0.0)
            if sg != 0.0:
                for k in range(cols):
                    g[i, k] += g.dtype.type(c * s * sg * n[j, k])
        if q > floor:
            for k in range(cols):
                g[i, k] -= g.dtype.type(c * s * abs_sum * n[i, k])


@kernel
def orthogonal_penalty(w, factor, by_columns, n):
    """Keras's ``OrthogonalRegularizer(factor=0.01, mode="rows")`` on a 2-D weight w, as a float64 scalar;
    ``by_columns`` is ``mode="columns"`` (the same on w transposed). See ``_orthogonal_rows_penalty``.

    ``n`` is flat float64 scratch of at least w.size elements.
    """
    if n.shape[0] < w.size:
        raise ValueError("orthogonal_penalty: scratch n needs w.size elements")
    if by_columns:
        return _orthogonal_rows_penalty(w.T, factor, n[:w.size].reshape(w.shape[1], w.shape[0]))
    return _orthogonal_rows_penalty(w, factor, n[:w.size].reshape(w.shape[0], w.shape[1]))


@kernel
def orthogonal_penalty_into(w, factor, by_columns, n, acc):
    """acc[0] += orthogonal_penalty(w, factor, by_columns, n)."""
    acc[0] += orthogonal_penalty(w, factor, by_columns, n)


@kernel
def orthogonal_penalty_grad(w, factor, by_columns, scale, g, n):
    """g += scale * d orthogonal_penalty(w, factor, by_columns) / d w (g of w's shape, added in place).

    ``n`` is flat float64 scratch of at least w.size elements. See ``_orthogonal_rows_grad`` for the formula.
    """
    if n.shape[0] < w.size:
        raise ValueError("orthogonal_penalty_grad: scratch n needs w.size elements")
    if g.shape[0] != w.shape[0] or g.shape[1] != w.shape[1]:
        raise ValueError("orthogonal_penalty_grad: g must have the shape of w")
    if by_columns:
        _orthogonal_rows_grad(w.T, factor, scale, g.T, n[:w.size].reshape(w.shape[1], w.shape[0]))
    else:
        _orthogonal_rows_grad(w, factor, scale, g, n[:w.size].reshape(w.shape[0], w.shape[1]))


# ---------------------------------------------------------------------------------------------------------------
# Constraints, applied in place after each optimizer update


@kernel
def _column_norms(w, norms):
    """norms[j] = sqrt(sum_r w[r, j]^2) in float64; row by row, so the inner loop runs along contiguous memory."""
    for j in range(norms.shape[0]):
        norms[j] = 0.0
    for r in range(w.shape[0]):
        row = w[r]
        for j in range(row.shape[0]):
            v = np.float64(row[j])
            norms[j] += v * v
    for j in range(norms.shape[0]):
        norms[j] = math.sqrt(norms[j])


@kernel
def _scale_columns(w, factors):
    """w[r, j] *= factors[j], the factor rounded to w's dtype first (Keras multiplies by a tensor of that dtype)."""
    for r in range(w.shape[0]):
        row = w[r]
        for j in range(row.shape[0]):
            row[j] = row[j] * w.dtype.type(factors[j])


@kernel
def max_norm_apply(w, max_value):
    """Keras's ``MaxNorm(max_value=2, axis=0)``, in place on w (rows, cols), the norm over rows for each column:

        norm_j = sqrt(sum_r w[r, j]^2)
        w[:, j] *= clip(norm_j, 0, max_value) / (eps + norm_j)

    Keras applies the factor to every column, so a column already inside the ball still shrinks by
    norm / (eps + norm); an all-zero column stays zero. The per-column norms are a small float64 buffer (cols).
    """
    cols = w.shape[1]
    norms = np.empty(cols, np.float64)  # one float per column: small, and keeps the kernel's Keras-like signature
    _column_norms(w, norms)
    for j in range(cols):
        norm = norms[j]
        desired = min(max(norm, 0.0), max_value)
        norms[j] = desired / (EPSILON + norm)
    _scale_columns(w, norms)


@kernel
def unit_norm_apply(w):
    """Keras's ``UnitNorm(axis=0)``, in place on w (rows, cols): w[:, j] = w[:, j] / (eps + norm_j).

    A division, as Keras writes it (not a multiplication by the reciprocal), so float64 results match it exactly.
    """
    cols = w.shape[1]
    norms = np.empty(cols, np.float64)
    _column_norms(w, norms)
    denominators = np.empty(cols, w.dtype)  # in w's dtype, so the division loop vectorises
    for j in range(cols):
        denominators[j] = EPSILON + norms[j]
    for r in range(w.shape[0]):
        row = w[r]
        for j in range(cols):
            row[j] = row[j] / denominators[j]


@kernel
def min_max_norm_apply(w, min_value, max_value, rate):
    """Keras's ``MinMaxNorm(min_value=0.0, max_value=1.0, rate=1.0, axis=0)``, in place on w (rows, cols):

        desired_j = rate * clip(norm_j, min_value, max_value) + (1 - rate) * norm_j
        w[:, j] *= desired_j / (eps + norm_j)

    rate = 1 enforces the bounds strictly; rate < 1 moves the norm part of the way each step. Clip is
    min(max(norm, min_value), max_value), as ops.clip is.
    """
    cols = w.shape[1]
    norms = np.empty(cols, np.float64)
    _column_norms(w, norms)
    for j in range(cols):
        norm = norms[j]
        desired = rate * min(max(norm, min_value), max_value) + (1.0 - rate) * norm
        norms[j] = desired / (EPSILON + norm)
    _scale_columns(w, norms)


@kernel
def non_neg_apply(w):
    """Keras's ``NonNeg()``, in place on a flat 1-D view: w = maximum(w, 0). NaN stays NaN (as jnp.maximum)."""
    zero = w.dtype.type(0.0)
    for i in range(w.shape[0]):
        if w[i] < zero:
            w[i] = zero
