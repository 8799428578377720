"""CUDA twin of kernels/cpu/merge_ops.py: elementwise merges, the batched dot product and RepeatVector.

Elementwise kernels are one thread per value. ``batch_dot_forward`` is one thread per output entry looping over the
(small) contracted size, ``batch_dot_backward`` one launch with one thread per entry of dx and of dyy; ``repeat``
one thread per entry of the output (forward) or of dx (backward, looping over the repeats). Dot's operands are a
few short vectors per sample, so these plain loops are the right size (a tiled GEMM would idle).
"""

from numba import cuda

from . import _launch
from ._launch import kernel


@kernel("void(F[::1], F[::1], int64)")
def _elementwise(src, dst, mode):
    """mode 0: dst = src; 1: dst *= src; 2: dst = -src."""
    i = cuda.grid(1)
    if i < dst.shape[0]:
        if mode == 0:
            dst[i] = src[i]
        elif mode == 1:
            dst[i] *= src[i]
        else:
            dst[i] = -src[i]


def _run(src, dst, mode):
    if dst.shape[0]:
        _elementwise[_launch.grid(dst.shape[0])](src, dst, int(mode))


def multiply_forward(x, out, first):
    """out = x (first) or out *= x, as kernels.cpu.merge_ops.multiply_forward. One launch."""
    if x.shape[0] != out.shape[0]:
        raise ValueError("multiply_forward: x and out must have the same length")
    _run(x, out, 0 if first else 1)


def multiply_into(dst, src):
    """dst *= src, as kernels.cpu.merge_ops.multiply_into. One launch."""
    if dst.shape[0] != src.shape[0]:
        raise ValueError("multiply_into: dst and src must have the same length")
    _run(src, dst, 1)


@kernel("void(F[::1], F[::1], F[::1])")
def _subtract(a, b, out):
    i = cuda.grid(1)
    if i < out.shape[0]:
        out[i] = a[i] - b[i]


def subtract_forward(a, b, out):
    """out = a - b, as kernels.cpu.merge_ops.subtract_forward. One launch."""
    if a.shape[0] != out.shape[0] or b.shape[0] != out.shape[0]:
        raise ValueError("subtract_forward: a, b and out must have the same length")
    if out.shape[0]:
        _subtract[_launch.grid(out.shape[0])](a, b, out)


def negate_into(dst, src):
    """dst = -src, as kernels.cpu.merge_ops.negate_into. One launch."""
    if dst.shape[0] != src.shape[0]:
        raise ValueError("negate_into: dst and src must have the same length")
    _run(src, dst, 2)


@kernel("void(F[::1], F[::1], float64)")
def _divide(dst, src, divisor):
    i = cuda.grid(1)
    if i < dst.shape[0]:
        dst[i] = src[i] / dst.dtype.type(divisor)


def divide_into(dst, src, divisor):
    """dst = src / divisor (dst may be src), as kernels.cpu.merge_ops.divide_into. One launch."""
    if dst.shape[0] != src.shape[0]:
        raise ValueError("divide_into: dst and src must have the same length")
    if dst.shape[0]:
        _divide[_launch.grid(dst.shape[0])](dst, src, float(divisor))


@kernel("void(F[::1], F[::1], F[::1], int64, boolean)")
def _extreme_forward(x, out, winner, index, take_max):
    i = cuda.grid(1)
    if i < out.shape[0]:
        w = winner.dtype.type(index)
        xi = x[i]
        if index == 0 or (take_max and xi > out[i]) or (not take_max and xi < out[i]):
            out[i] = xi
            winner[i] = w


def extreme_forward(x, out, winner, index, take_max):
    """Input ``index`` of Maximum (take_max) / Minimum, recording the winner, as
    kernels.cpu.merge_ops.extreme_forward. One launch."""
    n = out.shape[0]
    if x.shape[0] != n or winner.shape[0] != n:
        raise ValueError("extreme_forward: x, out and winner must have the same length")
    if n:
        _extreme_forward[_launch.grid(n)](x, out, winner, int(index), bool(take_max))


@kernel("void(F[::1], F[::1], int64, F[::1])")
def _extreme_backward(dy, winner, index, dx):
    i = cuda.grid(1)
    if i < dx.shape[0]:
        dx[i] = dy[i] if winner[i] == winner.dtype.type(index) else dx.dtype.type(0.0)


def extreme_backward(dy, winner, index, dx):
    """dx = dy where input ``index`` won, else 0; size 0 skips, as kernels.cpu.merge_ops.extreme_backward."""
    if dx.size == 0:
        return
    n = dy.shape[0]
    if dx.shape[0] != n or winner.shape[0] != n:
        raise ValueError("extreme_backward: dy, winner and dx must have the same length")
    _extreme_backward[_launch.grid(n)](dy, winner, int(index), dx)


def _check_batch_dot(x, y, out, x_axis, y_axis):
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


@_launch.device
def _xv(x, b, m, k, xt):
    return x[b, k, m] if xt else x[b, m, k]


@_launch.device
def _yv(y, b, k, n, yt):
    return y[b, n, k] if yt else y[b, k, n]


@kernel("void(F[:, :, ::1], F[:, :, ::1], F[:, :, ::1], int64, int64, int64, boolean, boolean)")
def _batch_dot_forward(x, y, out, m_, n_, k_, xt, yt):
    t = cuda.grid(1)
    if t < out.shape[0] * m_ * n_:
        n = t % n_
        m = (t // n_) % m_
        b = t // (n_ * m_)
        s = out.dtype.type(0.0)
        for k in range(k_):
            s += _xv(x, b, m, k, xt) * _yv(y, b, k, n, yt)
        out[b, m, n] = s


def batch_dot_forward(x, y, out, x_axis, y_axis):
    """out[b, m, n] = sum_k X[b, m, k] Y[b, k, n], as kernels.cpu.merge_ops.batch_dot_forward. One launch, one
    thread per output entry."""
    m_, n_, k_ = _check_batch_dot(x, y, out, x_axis, y_axis)
    total = x.shape[0] * m_ * n_
    if total:
        _batch_dot_forward[_launch.grid(total)](x, y, out, int(m_), int(n_), int(k_), bool(x_axis == 1),
                                                bool(y_axis == 2))


@kernel("void(F[:, :, ::1], F[:, :, ::1], F[:, :, ::1], F[:, :, ::1], F[:, :, ::1], int64, int64, int64, "
        "boolean, boolean)")
def _batch_dot_backward(x, y, dy, dx, dyy, m_, n_, k_, xt, yt):
    """Threads [0, dx.size) write dx (in dx's memory order), the rest dyy (in dyy's)."""
    t = cuda.grid(1)
    zero = dy.dtype.type(0.0)
    if t < dx.size:
        b = t // (dx.shape[1] * dx.shape[2])
        p = (t // dx.shape[2]) % dx.shape[1]
        q = t % dx.shape[2]
        m, k = (q, p) if xt else (p, q)
        s = zero
        for n in range(n_):
            s += dy[b, m, n] * _yv(y, b, k, n, yt)
        dx[b, p, q] = s
        return
    t -= dx.size
    if t < dyy.size:
        b = t // (dyy.shape[1] * dyy.shape[2])
        p = (t // dyy.shape[2]) % dyy.shape[1]
        q = t % dyy.shape[2]
        n, k = (p, q) if yt else (q, p)
        s = zero
        for m in range(m_):
            s += _xv(x, b, m, k, xt) * dy[b, m, n]
        dyy[b, p, q] = s


def batch_dot_backward(x, y, dy, dx, dyy, x_axis, y_axis):
    """Gradients of sum(dy * batch_dot(x, y)); dx / dyy of size 0 are skipped, as
    kernels.cpu.merge_ops.batch_dot_backward. One launch for both."""
    m_, n_, k_ = _check_batch_dot(x, y, dy, x_axis, y_axis)
    if dx.size != 0 and (dx.shape[0] != x.shape[0] or dx.shape[1] != x.shape[1] or dx.shape[2] != x.shape[2]):
        raise ValueError("batch_dot_backward: dx must have the shape of x or size 0")
    if dyy.size != 0 and (dyy.shape[0] != y.shape[0] or dyy.shape[1] != y.shape[1] or dyy.shape[2] != y.shape[2]):
        raise ValueError("batch_dot_backward: dyy must have the shape of y or size 0")
    total = dx.size + dyy.size
    if total:
        _batch_dot_backward[_launch.grid(total)](x, y, dy, dx, dyy, int(m_), int(n_), int(k_), bool(x_axis == 1),
                                                 bool(y_axis == 2))


@kernel("void(F[:, ::1], F[:, :, ::1])")
def _repeat_forward(x, out):
    i = cuda.grid(1)
    if i < out.size:
        f_ = out.shape[2]
        f = i % f_
        b = i // (f_ * out.shape[1])
        out[b, (i // f_) % out.shape[1], f] = x[b, f]


def repeat_forward(x, out):
    """out[b, t, :] = x[b, :], as kernels.cpu.merge_ops.repeat_forward. One launch, one thread per out entry."""
    b_, f_ = x.shape
    if out.shape[0] != b_ or out.shape[2] != f_:
        raise ValueError("repeat_forward: out must be (B, n, F) for x (B, F)")
    if out.size:
        _repeat_forward[_launch.grid(out.size)](x, out)


@kernel("void(F[:, :, ::1], F[:, ::1])")
def _repeat_backward(dy, dx):
    i = cuda.grid(1)
    if i < dx.size:
        f_ = dx.shape[1]
        b = i // f_
        f = i % f_
        s = dx.dtype.type(0.0)
        for t in range(dy.shape[1]):
            s += dy[b, t, f]
        dx[b, f] = s


def repeat_backward(dy, dx):
    """dx[b, :] = sum_t dy[b, t, :]; size 0 skips, as kernels.cpu.merge_ops.repeat_backward. One launch."""
    if dx.size == 0:
        return
    b_, f_ = dx.shape
    if dy.shape[0] != b_ or dy.shape[2] != f_:
        raise ValueError("repeat_backward: dy must be (B, n, F) for dx (B, F)")
    _repeat_backward[_launch.grid(dx.size)](dy, dx)
