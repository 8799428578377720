"""Merges of several same-shaped tensors (product, difference, mean, elementwise max/min), the batched dot product,
and the repeat that broadcasts one vector along a new axis. Forward and backward side by side.

Elementwise kernels take flat views and are called once per input (the number of inputs is a layer's business,
not a kernel's): ``multiply_forward(x_i, out, first)`` builds the product input by input, as Keras's Multiply
folds ``ops.multiply`` over its inputs.

Ties in max/min: Keras (JAX) splits the gradient between tied inputs; here the whole gradient goes to the first
input holding the extreme value (``extreme_forward`` keeps its index), like an argmax.
"""

from ..policy import kernel


# ------------------------------------------------------------------------------------------ elementwise merges
@kernel
def multiply_forward(x, out, first):
    """out = x (the first input) or out *= x (the others): Keras's Multiply, one input at a time."""
    if x.shape[0] != out.shape[0]:
        raise ValueError("multiply_forward: x and out must have the same length")
    if first:
        for i in range(out.shape[0]):
            out[i] = x[i]
    else:
        for i in range(out.shape[0]):
            out[i] *= x[i]


@kernel
def multiply_into(dst, src):
    """dst *= src. The gradient of a product for input i is dy times every other input: dx_i starts as dy and
    is multiplied by each x_j, j != i (no division, so a zero input is fine)."""
    if dst.shape[0] != src.shape[0]:
        raise ValueError("multiply_into: dst and src must have the same length")
    for i in range(dst.shape[0]):
        dst[i] *= src[i]


@kernel
def subtract_forward(a, b, out):
    """out = a - b (Keras's Subtract: exactly two inputs)."""
    if a.shape[0] != out.shape[0] or b.shape[0] != out.shape[0]:
        raise ValueError("subtract_forward: a, b and out must have the same length")
    for i in range(out.shape[0]):
        out[i] = a[i] - b[i]


@kernel
def negate_into(dst, src):
    """dst = -src: the gradient of the subtrahend."""
    if dst.shape[0] != src.shape[0]:
        raise ValueError("negate_into: dst and src must have the same length")
    for i in range(dst.shape[0]):
        dst[i] = -src[i]


@kernel
def divide_into(dst, src, divisor):
    """dst = src / divisor (dst may be src): Keras's Average divides the sum of its n inputs by n, and each input's
    gradient is dy / n."""
    if dst.shape[0] != src.shape[0]:
        raise ValueError("divide_into: dst and src must have the same length")
    d = dst.dtype.type(divisor)
    for i in range(dst.shape[0]):
        dst[i] = src[i] / d


@kernel
def extreme_forward(x, out, winner, index, take_max):
    """Input number ``index`` of Keras's Maximum (take_max) or Minimum: the first input (index 0) is copied into
    out; a later one replaces out where it is strictly greater (smaller), so a tie keeps the earlier input.
    ``winner`` records which input holds each result (as a float: exact for any input count)."""
    n = out.shape[0]
    if x.shape[0] != n or winner.shape[0] != n:
        raise ValueError("extreme_forward: x, out and winner must have the same length")
    w = winner.dtype.type(index)
    if index == 0:
        for i in range(n):
            out[i] = x[i]
            winner[i] = w
    elif take_max:
        for i in range(n):
            if x[i] > out[i]:
                out[i] = x[i]
                winner[i] = w
    else:
        for i in range(n):
            if x[i] < out[i]:
                out[i] = x[i]
                winner[i] = w


@kernel
def extreme_backward(dy, winner, index, dx):
    """dx = dy where input ``index`` won (``extreme_forward``'s record), else 0; skipped when dx has size 0."""
    if dx.size == 0:
        return
    n = dy.shape[0]
    if dx.shape[0] != n or winner.shape[0] != n:
        raise ValueError("extreme_backward: dy, winner and dx must have the same length")
    w = winner.dtype.type(index)
    zero = dx.dtype.type(0.0)
    for i in range(n):
        dx[i] = dy[i] if winner[i] == w else zero


# ------------------------------------------------------------------------------------------------- batch dot
@kernel
def _check_batch_dot(x, y, out, x_axis, y_axis):
    """(M, N, K) of a batch dot, or raise: x (B, P, Q) contracts axis x_axis (1 or 2), y (B, R, S) axis y_axis."""
    if (x_axis != 1 and x_axis != 2) or (y_axis != 1 and y_axis != 2):
        raise ValueError("batch_dot: x_axis and y_axis must be 1 or 2")
    b_ = x.shape[0]
    k_ = x.shape[x_axis]
    m_ = x.shape[3 - x_axis]
    n_ = y.shape[3 - y_axis]
    if y.shape[0] != b_ or y.shape[y_axis] != k_:
        raise ValueError("batch_dot: x and y must share the batch and the contracted size")
    if out.shape[0] != b_ or out.shape[1] != m_ or out.shape[2] != n_:
        raise ValueError("batch_dot: out must be (B, M, N), the free sizes of x and y")
    return m_, n_, k_


@kernel
def batch_dot_forward(x, y, out, x_axis, y_axis):
    """out[b, m, n] = sum_k X[b, m, k] Y[b, k, n], Keras's ``batch_dot`` for 3-D operands.

    X[b] is x[b] (x_axis = 2) or x[b] transposed (x_axis = 1); Y[b] is y[b] (y_axis = 1) or y[b] transposed
    (y_axis = 2). A 2-D operand is viewed as (B, 1, D) for x and (B, D, 1) for y: Keras's squeezed output shapes
    have the same layout as (B, M, N). Plain loops: Dot's operands are a few vectors per sample, where a GEMM call
    per sample would cost more than the arithmetic.
    """
    m_, n_, k_ = _check_batch_dot(x, y, out, x_axis, y_axis)
    xt, yt = x_axis == 1, y_axis == 2
    for b in range(x.shape[0]):
        for m in range(m_):
            for n in range(n_):
                s = out.dtype.type(0.0)
                for k in range(k_):
                    xv = x[b, k, m] if xt else x[b, m, k]
                    yv = y[b, n, k] if yt else y[b, k, n]
                    s += xv * yv
                out[b, m, n] = s


@kernel
def batch_dot_backward(x, y, dy, dx, dyy, x_axis, y_axis):
    """Gradients of L = sum(dy * batch_dot(x, y)) (dy (B, M, N)); dx / dyy of size 0 are skipped.

        dX[b] = dy[b] Y[b]^T   -> dx[b, m, k] (x_axis = 2) or dx[b, k, m] (x_axis = 1)
        dY[b] = X[b]^T dy[b]   -> dyy[b, k, n] (y_axis = 1) or dyy[b, n, k] (y_axis = 2)
    """
    m_, n_, k_ = _check_batch_dot(x, y, dy, x_axis, y_axis)
    if dx.size != 0 and (dx.shape[0] != x.shape[0] or dx.shape[1] != x.shape[1] or dx.shape[2] != x.shape[2]):
        raise ValueError("batch_dot_backward: dx must have the shape of x or size 0")
    if dyy.size != 0 and (dyy.shape[0] != y.shape[0] or dyy.shape[1] != y.shape[1] or dyy.shape[2] != y.shape[2]):
        raise ValueError("batch_dot_backward: dyy must have the shape of y or size 0")
    xt, yt = x_axis == 1, y_axis == 2
    zero = dy.dtype.type(0.0)
    for b in range(x.shape[0]):
        if dx.size != 0:
            for m in range(m_):
                for k in range(k_):
                    s = zero
                    for n in range(n_):
                        s += dy[b, m, n] * (y[b, n, k] if yt else y[b, k, n])
                    if xt:
                        dx[b, k, m] = s
                    else:
                        dx[b, m, k] = s
        if dyy.size != 0:
            for k in range(k_):
                for n in range(n_):
                    s = zero
                    for m in range(m_):
                        s += (x[b, k, m] if xt else x[b, m, k]) * dy[b, m, n]
                    if yt:
                        dyy[b, n, k] = s
                    else:
                        dyy[b, k, n] = s


# ---------------------------------------------------------------------------------------------------- repeat
@kernel
def repeat_forward(x, out):
    """out[b, t, :] = x[b, :] for t < n: Keras's RepeatVector, x (B, F), out (B, n, F)."""
    b_, f_ = x.shape
    if out.shape[0] != b_ or out.shape[2] != f_:
        raise ValueError("repeat_forward: out must be (B, n, F) for x (B, F)")
    for b in range(b_):
        for t in range(out.shape[1]):
            for f in range(f_):
                out[b, t, f] = x[b, f]


@kernel
def repeat_backward(dy, dx):
    """dx[b, :] = sum over t of dy[b, t, :] (each copy's gradient flows back to the one vector); size 0 skips."""
    if dx.size == 0:
        return
    b_, f_ = dx.shape
    if dy.shape[0] != b_ or dy.shape[2] != f_:
        raise ValueError("repeat_backward: dy must be (B, n, F) for dx (B, F)")
    for b in range(b_):
        for f in range(f_):
            dx[b, f] = dy.dtype.type(0.0)
        for t in range(dy.shape[1]):
            for f in range(f_):
                dx[b, f] += dy[b, t, f]
