"""CUDA twin of kernels/cpu/activations.py: the same functions, names, arguments and formulas.

Elementwise activations (1-D x, out, y, dy, dx) are one thread per element. Each formula is written once, as a
branch of two device functions -- ``_value`` (the forward, f(x)) and ``_slope`` (the backward, dx from dy and
whichever of x and y the CPU kernel reads) -- copying the CPU kernel's expression, comparisons and float32
constants, so NaNs and kinks go the same way. All of them compile into two kernels, ``_forward`` and
``_backward``, that take the formula's code and up to three float parameters: the code is the same for every
thread, so the branch costs no divergence, and there are 4 kernels to compile instead of 104. The public
launchers carry the CPU names and parameters. ``out`` may alias ``x`` and ``dx`` may alias ``dy``, as on the CPU
(each thread reads its element before writing it).

softmax, log_softmax and sparsemax reduce along the middle axis of (outer, n, inner): they use the line grid of
``kernels.cuda.reduce`` (see its docstring for the choice): a line x[o, :, k] is reduced by the lanes of a block
that share threadIdx.x, with a tree in shared memory -- a block per row when rows are long and contiguous
(inner == 1), many short rows or 32 adjacent columns per block otherwise -- rather than one thread looping over
a row, which would leave a long row to one thread and read a row-major batch uncoalesced. Each is one launch. glu
needs no reduction (each output pairs x[o, j, k] with x[o, m + j, k]): one thread per output element.

Differences from the CPU kernels: the elementwise launchers and softmax / log_softmax check on the host that the
arrays they read have the length / shape of the output (the CPU kernels assume it and would read past the end);
every CPU ValueError is kept with its message. Sums along a line are added in a different order (a tree), so
float32 results differ by rounding.
"""

# Comparisons are spelled out (no min/max) so that a NaN goes exactly the CPU kernels' way.
# ruff: noqa: PLR1730, FURB136

import math

from numba import cuda, int64

from ._launch import device, grid, kernel
from .reduce import THREADS, line_grid, line_max, line_most, line_sum, this_line

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_2_OVER_PI = 0.7978845608028654
_INV_SQRT_2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327
_GELU_CUBIC = 0.044715
_SIXTH = 1.0 / 6.0

(LINEAR, RELU, RELU6, LEAKY_RELU, SIGMOID, HARD_SIGMOID, SWISH, TANH, SOFTSIGN, SOFTPLUS, ELU, SELU, EXPONENTIAL,
 GELU, CELU, MISH, LOG_SIGMOID, SQUAREPLUS, TANH_SHRINK, HARD_SILU, HARD_TANH, SPARSE_PLUS, SPARSE_SIGMOID,
 SOFT_SHRINK, HARD_SHRINK, THRESHOLD) = range(26)

#: What each backward reads besides dy: x, y, both or neither (the host checks the lengths of those).
READS = {LINEAR: "", RELU: "x", RELU6: "x", LEAKY_RELU: "x", SIGMOID: "y", HARD_SIGMOID: "x", SWISH: "x",
         TANH: "y", SOFTSIGN: "x", SOFTPLUS: "x", ELU: "xy", SELU: "xy", EXPONENTIAL: "y", GELU: "x", CELU: "xy",
         MISH: "x", LOG_SIGMOID: "x", SQUAREPLUS: "x", TANH_SHRINK: "x", HARD_SILU: "x", HARD_TANH: "x",
         SPARSE_PLUS: "x", SPARSE_SIGMOID: "x", SOFT_SHRINK: "x", HARD_SHRINK: "x", THRESHOLD: "x"}


# ------------------------------------------------------------------ the formulas
@device
def _sigmoid(v, one):
    """1 / (1 + exp(-v)) without overflow: exp is only ever taken of -|v|."""
    if v >= 0:
        return one / (one + math.exp(-v))
    e = math.exp(v)
    return e / (one + e)


@device
def _softplus(v, zero):
    return (v if v > zero else zero) + math.log1p(math.exp(-abs(v)))


@device
def _value(code, x, v, p0, p1, p2):
    """f(v) for formula ``code`` (x gives the dtype), parameters p0..p2 in the CPU kernel's order."""
    zero = x.dtype.type(0.0)
    one = x.dtype.type(1.0)
    half = x.dtype.type(0.5)
    three = x.dtype.type(3.0)
    six = x.dtype.type(6.0)
    if code == LINEAR:
        return v
    if code == RELU:  # p0 negative_slope, p1 max_value (inf: None), p2 threshold
        t = x.dtype.type(p2)
        a = zero if v <= t else v
        if p1 < math.inf:
            cap = x.dtype.type(p1)
            if a < zero:
                a = zero
            if a > cap:
                a = cap
        if v < t and x.dtype.type(p0) != zero:  # Keras skips the slope term at slope 0: relu(-inf) is 0, not 0 * inf
            a -= x.dtype.type(p0) * (t - v)
        return a
    if code == RELU6:
        if v < zero:
            v = zero
        if v > six:
            v = six
        return v
    if code == LEAKY_RELU:
        return v if v >= zero else x.dtype.type(p0) * v
    if code == SIGMOID:
        return _sigmoid(v, one)
    if code == HARD_SIGMOID:
        w = v + three
        if w < zero:
            w = zero
        if w > six:
            w = six
        return w / six
    if code == SWISH:
        return v * _sigmoid(v, one)
    if code == TANH:
        return math.tanh(v)
    if code == SOFTSIGN:
        return v / (one + abs(v))
    if code == SOFTPLUS:
        return _softplus(v, zero)
    if code == ELU:
        return v if v > zero else x.dtype.type(p0) * math.expm1(v)
    if code == SELU:
        sc = x.dtype.type(_SELU_SCALE)
        return sc * v if v > zero else sc * x.dtype.type(_SELU_ALPHA) * math.expm1(v)
    if code == EXPONENTIAL:
        return math.exp(v)
    if code == GELU:  # p0 != 0: the tanh approximation
        if p0 != 0.0:
            u = x.dtype.type(_SQRT_2_OVER_PI) * (v + x.dtype.type(_GELU_CUBIC) * v * v * v)
            return half * v * (one + math.tanh(u))
        return half * v * (one + math.erf(v * x.dtype.type(_INV_SQRT_2)))
    if code == CELU:
        a = x.dtype.type(p0)
        return v if v > zero else a * math.expm1(v / a)
    if code == MISH:
        return v * math.tanh(_softplus(v, zero))
    if code == LOG_SIGMOID:
        return (v if v < zero else zero) - math.log1p(math.exp(-abs(v)))
    if code == SQUAREPLUS:
        b = x.dtype.type(p0)
        r = math.sqrt(v * v + b)
        return half * (v + r) if v >= zero else half * b / (r - v)
    if code == TANH_SHRINK:
        return v - math.tanh(v)
    if code == HARD_SILU:
        w = v + three
        if w < zero:
            w = zero
        if w > six:
            w = six
        return v * w * x.dtype.type(_SIXTH)
    if code == HARD_TANH:
        if v < -one:
            v = -one
        if v > one:
            v = one
        return v
    if code == SPARSE_PLUS:
        if v <= -one:
            return zero
        if v < one:
            w = v + one
            return x.dtype.type(0.25) * w * w
        return v
    if code == SPARSE_SIGMOID:
        if v <= -one:
            return zero
        if v >= one:
            return one
        return half * (v + one)
    if code == SOFT_SHRINK:
        t = x.dtype.type(p0)
        if v > t:
            return v - t
        if v >= -t:
            return zero
        return v + t  # also NaN, which fails both tests above
    if code == HARD_SHRINK:
        return zero if abs(v) <= x.dtype.type(p0) else v
    # THRESHOLD: p0 threshold, p1 default_value
    return x.dtype.type(p1) if v <= x.dtype.type(p0) else v


@device
def _slope(code, x, y, i, d, p0, p1, p2):
    """dx[i] for formula ``code`` given d = dy[i], reading x[i] and / or y[i] as the CPU kernel does."""
    zero = x.dtype.type(0.0)
    one = x.dtype.type(1.0)
    half = x.dtype.type(0.5)
    three = x.dtype.type(3.0)
    if code == LINEAR:
        return d
    if code == SIGMOID:
        yi = y[i]
        return d * yi * (one - yi)
    if code == TANH:
        yi = y[i]
        return d * (one - yi * yi)
    if code == EXPONENTIAL:
        return d * y[i]
    v = x[i]
    if code == RELU:
        t = x.dtype.type(p2)
        g = zero
        if v > t and (not p1 < math.inf or (v > zero and v < x.dtype.type(p1))):
            g = one
        if v < t:
            g += x.dtype.type(p0)
        return d * g
    if code == RELU6:
        return d if (v > zero and v < x.dtype.type(6.0)) else zero
    if code == LEAKY_RELU:
        return d if v >= zero else x.dtype.type(p0) * d
    if code == HARD_SIGMOID:
        return d * x.dtype.type(1.0 / 6.0) if (v > -three and v < three) else zero
    if code == SWISH:
        s = _sigmoid(v, one)
        return d * s * (one + v * (one - s))
    if code == SOFTSIGN:
        e = one + abs(v)
        return d / (e * e)
    if code == SOFTPLUS:
        return d * _sigmoid(v, one)
    if code == ELU:
        return d if v > zero else d * (y[i] + x.dtype.type(p0))
    if code == SELU:
        return d * x.dtype.type(_SELU_SCALE) if v > zero else d * (y[i] + x.dtype.type(_SELU_SCALE * _SELU_ALPHA))
    if code == GELU:
        c = x.dtype.type(_SQRT_2_OVER_PI)
        x2 = v * v
        if p0 != 0.0:
            t = math.tanh(c * (v + x.dtype.type(_GELU_CUBIC) * x2 * v))
            g = half * (one + t) + half * v * (one - t * t) * c * (one + x.dtype.type(3.0 * _GELU_CUBIC) * x2)
        else:
            g = half * (one + math.erf(v * x.dtype.type(_INV_SQRT_2))) + \
                v * x.dtype.type(_INV_SQRT_2PI) * math.exp(-half * x2)
        return d * g
    if code == CELU:
        return d if v > zero else d * (y[i] / x.dtype.type(p0) + one)
    if code == MISH:
        t = math.tanh(_softplus(v, zero))
        return d * (t + v * _sigmoid(v, one) * (one - t * t))
    if code == LOG_SIGMOID:
        return d * _sigmoid(-v, one)
    if code == SQUAREPLUS:
        b = x.dtype.type(p0)
        r = math.sqrt(v * v + b)
        return d * (half * (one + v / r) if v >= zero else half * b / (r * (r - v)))
    if code == TANH_SHRINK:
        t = math.tanh(v)
        return d * t * t
    if code == HARD_SILU:
        if v < -three:
            return d * zero
        if v > three:
            return d * one
        return d * ((x.dtype.type(2.0) * v + three) * x.dtype.type(_SIXTH))
    if code == HARD_TANH:
        return d if (v > -one and v < one) else zero
    if code == SPARSE_PLUS:
        if v <= -one:
            return d * zero
        if v < one:
            return d * (half * (v + one))
        return d * one
    if code == SPARSE_SIGMOID:
        return d * half if (v > -one and v < one) else zero
    if code == SOFT_SHRINK or code == HARD_SHRINK:
        return zero if abs(v) <= x.dtype.type(p0) else d
    # THRESHOLD
    return zero if v <= x.dtype.type(p0) else d


# ------------------------------------------------------------------ the elementwise kernels and their launchers
@kernel("void(int64, F[::1], F[::1], float64, float64, float64)")
def _forward_kernel(code, x, out, p0, p1, p2):
    i = cuda.grid(1)
    if i < out.shape[0]:
        out[i] = _value(code, x, x[i], p0, p1, p2)


@kernel("void(int64, F[::1], F[::1], F[::1], F[::1], float64, float64, float64)")
def _backward_kernel(code, x, y, dy, dx, p0, p1, p2):
    i = cuda.grid(1)
    if i < dx.shape[0]:
        dx[i] = _slope(code, x, y, i, dy[i], p0, p1, p2)


def _forward(name, code, x, out, p0=0.0, p1=0.0, p2=0.0):
    n = out.shape[0]
    if x.shape[0] != n:
        raise ValueError(f"{name}: x and out must have the same length")
    if n:
        _forward_kernel[grid(n)](code, x, out, float(p0), float(p1), float(p2))


def _backward(name, code, x, y, dy, dx, p0=0.0, p1=0.0, p2=0.0):
    n = dx.shape[0]
    if dy.shape[0] != n or ("x" in READS[code] and x.shape[0] != n) or ("y" in READS[code] and y.shape[0] != n):
        raise ValueError(f"{name}: x, y, dy and dx must have the same length")
    if n:
        _backward_kernel[grid(n)](code, x, y, dy, dx, float(p0), float(p1), float(p2))


def linear_forward(x, out):
    """As kernels.cpu.activations.linear_forward."""
    _forward("linear_forward", LINEAR, x, out)


def linear_backward(x, y, dy, dx):
    """As kernels.cpu.activations.linear_backward."""
    _backward("linear_backward", LINEAR, x, y, dy, dx)


def relu_forward(x, out, negative_slope, max_value, threshold):
    """As kernels.cpu.activations.relu_forward."""
    _forward("relu_forward", RELU, x, out, negative_slope, max_value, threshold)


def relu_backward(x, y, dy, dx, negative_slope, max_value, threshold):
    """As kernels.cpu.activations.relu_backward."""
    _backward("relu_backward", RELU, x, y, dy, dx, negative_slope, max_value, threshold)


def relu6_forward(x, out):
    """As kernels.cpu.activations.relu6_forward."""
    _forward("relu6_forward", RELU6, x, out)


def relu6_backward(x, y, dy, dx):
    """As kernels.cpu.activations.relu6_backward."""
    _backward("relu6_backward", RELU6, x, y, dy, dx)


def leaky_relu_forward(x, out, negative_slope):
    """As kernels.cpu.activations.leaky_relu_forward."""
    _forward("leaky_relu_forward", LEAKY_RELU, x, out, negative_slope)


def leaky_relu_backward(x, y, dy, dx, negative_slope):
    """As kernels.cpu.activations.leaky_relu_backward."""
    _backward("leaky_relu_backward", LEAKY_RELU, x, y, dy, dx, negative_slope)


def sigmoid_forward(x, out):
    """As kernels.cpu.activations.sigmoid_forward."""
    _forward("sigmoid_forward", SIGMOID, x, out)


def sigmoid_backward(x, y, dy, dx):
    """As kernels.cpu.activations.sigmoid_backward."""
    _backward("sigmoid_backward", SIGMOID, x, y, dy, dx)


def hard_sigmoid_forward(x, out):
    """As kernels.cpu.activations.hard_sigmoid_forward."""
    _forward("hard_sigmoid_forward", HARD_SIGMOID, x, out)


def hard_sigmoid_backward(x, y, dy, dx):
    """As kernels.cpu.activations.hard_sigmoid_backward."""
    _backward("hard_sigmoid_backward", HARD_SIGMOID, x, y, dy, dx)


def swish_forward(x, out):
    """As kernels.cpu.activations.swish_forward."""
    _forward("swish_forward", SWISH, x, out)


def swish_backward(x, y, dy, dx):
    """As kernels.cpu.activations.swish_backward."""
    _backward("swish_backward", SWISH, x, y, dy, dx)

silu_forward = swish_forward
silu_backward = swish_backward


def tanh_forward(x, out):
    """As kernels.cpu.activations.tanh_forward."""
    _forward("tanh_forward", TANH, x, out)


def tanh_backward(x, y, dy, dx):
    """As kernels.cpu.activations.tanh_backward."""
    _backward("tanh_backward", TANH, x, y, dy, dx)


def softsign_forward(x, out):
    """As kernels.cpu.activations.softsign_forward."""
    _forward("softsign_forward", SOFTSIGN, x, out)


def softsign_backward(x, y, dy, dx):
    """As kernels.cpu.activations.softsign_backward."""
    _backward("softsign_backward", SOFTSIGN, x, y, dy, dx)


def softplus_forward(x, out):
    """As kernels.cpu.activations.softplus_forward."""
    _forward("softplus_forward", SOFTPLUS, x, out)


def softplus_backward(x, y, dy, dx):
    """As kernels.cpu.activations.softplus_backward."""
    _backward("softplus_backward", SOFTPLUS, x, y, dy, dx)


def elu_forward(x, out, alpha):
    """As kernels.cpu.activations.elu_forward."""
    _forward("elu_forward", ELU, x, out, alpha)


def elu_backward(x, y, dy, dx, alpha):
    """As kernels.cpu.activations.elu_backward."""
    _backward("elu_backward", ELU, x, y, dy, dx, alpha)


def selu_forward(x, out):
    """As kernels.cpu.activations.selu_forward."""
    _forward("selu_forward", SELU, x, out)


def selu_backward(x, y, dy, dx):
    """As kernels.cpu.activations.selu_backward."""
    _backward("selu_backward", SELU, x, y, dy, dx)


def exponential_forward(x, out):
    """As kernels.cpu.activations.exponential_forward."""
    _forward("exponential_forward", EXPONENTIAL, x, out)


def exponential_backward(x, y, dy, dx):
    """As kernels.cpu.activations.exponential_backward."""
    _backward("exponential_backward", EXPONENTIAL, x, y, dy, dx)


def gelu_forward(x, out, approximate):
    """As kernels.cpu.activations.gelu_forward."""
    _forward("gelu_forward", GELU, x, out, bool(approximate))


def gelu_backward(x, y, dy, dx, approximate):
    """As kernels.cpu.activations.gelu_backward."""
    _backward("gelu_backward", GELU, x, y, dy, dx, bool(approximate))


def celu_forward(x, out, alpha):
    """As kernels.cpu.activations.celu_forward."""
    _forward("celu_forward", CELU, x, out, alpha)


def celu_backward(x, y, dy, dx, alpha):
    """As kernels.cpu.activations.celu_backward."""
    _backward("celu_backward", CELU, x, y, dy, dx, alpha)


def mish_forward(x, out):
    """As kernels.cpu.activations.mish_forward."""
    _forward("mish_forward", MISH, x, out)


def mish_backward(x, y, dy, dx):
    """As kernels.cpu.activations.mish_backward."""
    _backward("mish_backward", MISH, x, y, dy, dx)


def log_sigmoid_forward(x, out):
    """As kernels.cpu.activations.log_sigmoid_forward."""
    _forward("log_sigmoid_forward", LOG_SIGMOID, x, out)


def log_sigmoid_backward(x, y, dy, dx):
    """As kernels.cpu.activations.log_sigmoid_backward."""
    _backward("log_sigmoid_backward", LOG_SIGMOID, x, y, dy, dx)


def squareplus_forward(x, out, b):
    """As kernels.cpu.activations.squareplus_forward."""
    _forward("squareplus_forward", SQUAREPLUS, x, out, b)


def squareplus_backward(x, y, dy, dx, b):
    """As kernels.cpu.activations.squareplus_backward."""
    _backward("squareplus_backward", SQUAREPLUS, x, y, dy, dx, b)


def tanh_shrink_forward(x, out):
    """As kernels.cpu.activations.tanh_shrink_forward."""
    _forward("tanh_shrink_forward", TANH_SHRINK, x, out)


def tanh_shrink_backward(x, y, dy, dx):
    """As kernels.cpu.activations.tanh_shrink_backward."""
    _backward("tanh_shrink_backward", TANH_SHRINK, x, y, dy, dx)


def hard_silu_forward(x, out):
    """As kernels.cpu.activations.hard_silu_forward."""
    _forward("hard_silu_forward", HARD_SILU, x, out)


def hard_silu_backward(x, y, dy, dx):
    """As kernels.cpu.activations.hard_silu_backward."""
    _backward("hard_silu_backward", HARD_SILU, x, y, dy, dx)

hard_swish_forward = hard_silu_forward
hard_swish_backward = hard_silu_backward


def hard_tanh_forward(x, out):
    """As kernels.cpu.activations.hard_tanh_forward."""
    _forward("hard_tanh_forward", HARD_TANH, x, out)


def hard_tanh_backward(x, y, dy, dx):
    """As kernels.cpu.activations.hard_tanh_backward."""
    _backward("hard_tanh_backward", HARD_TANH, x, y, dy, dx)


def sparse_plus_forward(x, out):
    """As kernels.cpu.activations.sparse_plus_forward."""
    _forward("sparse_plus_forward", SPARSE_PLUS, x, out)


def sparse_plus_backward(x, y, dy, dx):
    """As kernels.cpu.activations.sparse_plus_backward."""
    _backward("sparse_plus_backward", SPARSE_PLUS, x, y, dy, dx)


def sparse_sigmoid_forward(x, out):
    """As kernels.cpu.activations.sparse_sigmoid_forward."""
    _forward("sparse_sigmoid_forward", SPARSE_SIGMOID, x, out)


def sparse_sigmoid_backward(x, y, dy, dx):
    """As kernels.cpu.activations.sparse_sigmoid_backward."""
    _backward("sparse_sigmoid_backward", SPARSE_SIGMOID, x, y, dy, dx)


def soft_shrink_forward(x, out, threshold):
    """As kernels.cpu.activations.soft_shrink_forward."""
    _forward("soft_shrink_forward", SOFT_SHRINK, x, out, threshold)


def soft_shrink_backward(x, y, dy, dx, threshold):
    """As kernels.cpu.activations.soft_shrink_backward."""
    _backward("soft_shrink_backward", SOFT_SHRINK, x, y, dy, dx, threshold)


def hard_shrink_forward(x, out, threshold):
    """As kernels.cpu.activations.hard_shrink_forward."""
    _forward("hard_shrink_forward", HARD_SHRINK, x, out, threshold)


def hard_shrink_backward(x, y, dy, dx, threshold):
    """As kernels.cpu.activations.hard_shrink_backward."""
    _backward("hard_shrink_backward", HARD_SHRINK, x, y, dy, dx, threshold)


def threshold_forward(x, out, threshold, default_value):
    """As kernels.cpu.activations.threshold_forward."""
    _forward("threshold_forward", THRESHOLD, x, out, threshold, default_value)


def threshold_backward(x, y, dy, dx, threshold, default_value):
    """As kernels.cpu.activations.threshold_backward."""
    _backward("threshold_backward", THRESHOLD, x, y, dy, dx, threshold, default_value)



# ------------------------------------------------------------------ softmax and log_softmax over the middle axis
@kernel("void(F[:, :, ::1], F[:, :, ::1], boolean)")
def _softmax_forward(x, out, log):
    sh = cuda.shared.array(THREADS, dtype=x.dtype)
    outer, n, inner = x.shape
    o, k, live = this_line(outer, inner)
    ty, jy = cuda.threadIdx.y, cuda.blockDim.y
    m = x.dtype.type(-math.inf)
    if live:
        for j in range(ty, n, jy):
            v = x[o, j, k]
            if v > m:
                m = v
    m = line_max(sh, m)
    total = x.dtype.type(0.0)
    if live:
        for j in range(ty, n, jy):
            if log:
                shifted = x[o, j, k] - m  # stored, then lse subtracted: see the CPU kernel's float32 trap
                out[o, j, k] = shifted
                total += math.exp(shifted)
            else:
                e = math.exp(x[o, j, k] - m)
                out[o, j, k] = e
                total += e
    total = line_sum(sh, total)
    if live:
        if log:
            lse = math.log(total)
            for j in range(ty, n, jy):
                out[o, j, k] -= lse
        else:
            inv = x.dtype.type(1.0) / total
            for j in range(ty, n, jy):
                out[o, j, k] *= inv


@kernel("void(F[:, :, ::1], F[:, :, ::1], F[:, :, ::1], boolean)")
def _softmax_backward(y, dy, dx, log):
    sh = cuda.shared.array(THREADS, dtype=y.dtype)
    outer, n, inner = y.shape
    o, k, live = this_line(outer, inner)
    ty, jy = cuda.threadIdx.y, cuda.blockDim.y
    s = y.dtype.type(0.0)  # softmax: sum dy * y; log_softmax: sum dy
    if live:
        for j in range(ty, n, jy):
            s += dy[o, j, k] if log else dy[o, j, k] * y[o, j, k]
    s = line_sum(sh, s)
    if live:
        for j in range(ty, n, jy):
            if log:
                dx[o, j, k] = dy[o, j, k] - math.exp(y[o, j, k]) * s
            else:
                dx[o, j, k] = y[o, j, k] * (dy[o, j, k] - s)


def _rows(name, a, *others):
    if any(tuple(b.shape) != tuple(a.shape) for b in others):
        raise ValueError(f"{name}: the arrays must have the same (outer, n, inner) shape")
    outer, n, inner = a.shape
    return line_grid(outer * inner, n, inner) if outer * inner else None


def softmax_forward(x, out):
    """As kernels.cpu.activations.softmax_forward; one launch, a block tree per line (module docstring)."""
    g = _rows("softmax_forward", x, out)
    if g:
        _softmax_forward[g](x, out, False)


def softmax_backward(x, y, dy, dx):
    """As kernels.cpu.activations.softmax_backward (x is not read)."""
    g = _rows("softmax_backward", y, dy, dx)
    if g:
        _softmax_backward[g](y, dy, dx, False)


def log_softmax_forward(x, out):
    """As kernels.cpu.activations.log_softmax_forward."""
    g = _rows("log_softmax_forward", x, out)
    if g:
        _softmax_forward[g](x, out, True)


def log_softmax_backward(x, y, dy, dx):
    """As kernels.cpu.activations.log_softmax_backward (x is not read)."""
    g = _rows("log_softmax_backward", y, dy, dx)
    if g:
        _softmax_backward[g](y, dy, dx, True)


# ------------------------------------------------------------------ sparsemax and glu over the middle axis
@kernel("void(F[:, :, ::1], F[:, :, ::1])")
def _sparsemax_forward(x, out):
    sh = cuda.shared.array(THREADS, dtype=x.dtype)
    shc = cuda.shared.array(THREADS, dtype=int64)
    outer, n, inner = x.shape
    o, k, live = this_line(outer, inner)
    ty, jy = cuda.threadIdx.y, cuda.blockDim.y
    zero = x.dtype.type(0.0)
    one = x.dtype.type(1.0)
    m = x.dtype.type(-math.inf)
    if live:
        for j in range(ty, n, jy):
            v = x[o, j, k]
            if v > m:
                m = v
    m = line_max(sh, m)
    if live:
        for j in range(ty, n, jy):
            out[o, j, k] = x[o, j, k] - m
    cuda.syncthreads()  # the whole line of x - max is in out before any lane reads it; x is not read again
    best_k = 0
    best_s = zero
    if live:
        for j in range(ty, n, jy):
            zj = out[o, j, k]
            cnt = 0
            total = zero
            for i in range(n):
                if out[o, i, k] >= zj:
                    cnt += 1
                    total += out[o, i, k]
            if one + x.dtype.type(cnt) * zj > total and cnt > best_k:
                best_k = cnt
                best_s = total
    # Equal counts come from equal values, which sum the same set in the same order: any lane's total will do.
    best_k, best_s = line_most(shc, sh, best_k, best_s)
    tau = (best_s - one) / x.dtype.type(best_k) if best_k > 0 else zero
    if live:
        for j in range(ty, n, jy):
            d = out[o, j, k] - tau
            out[o, j, k] = zero if d <= zero else d


def sparsemax_forward(x, out):
    """As kernels.cpu.activations.sparsemax_forward: one launch; the lanes of a line test their own candidates
    (O(n) each, reading the line of x - max from ``out``) and a tree keeps the largest support."""
    if tuple(out.shape) != tuple(x.shape):
        raise ValueError("sparsemax_forward: x and out must have the same shape")
    outer, n, inner = x.shape
    if outer * inner:
        _sparsemax_forward[line_grid(outer * inner, n, inner)](x, out)


@kernel("void(F[:, :, ::1], F[:, :, ::1], F[:, :, ::1])")
def _sparsemax_backward(y, dy, dx):
    sh = cuda.shared.array(THREADS, dtype=y.dtype)
    outer, n, inner = y.shape
    o, k, live = this_line(outer, inner)
    ty, jy = cuda.threadIdx.y, cuda.blockDim.y
    zero = y.dtype.type(0.0)
    cnt = zero
    total = zero
    if live:
        for j in range(ty, n, jy):
            if y[o, j, k] > zero:
                cnt += y.dtype.type(1.0)
                total += dy[o, j, k]
    cnt = line_sum(sh, cnt)
    total = line_sum(sh, total)
    if live:
        mean = total / cnt if cnt > zero else zero
        for j in range(ty, n, jy):
            dx[o, j, k] = dy[o, j, k] - mean if y[o, j, k] > zero else zero


def sparsemax_backward(x, y, dy, dx):
    """As kernels.cpu.activations.sparsemax_backward (x is not read; the support size is counted in y's dtype,
    exact below 2^24 entries per line)."""
    outer, n, inner = y.shape
    if tuple(dy.shape) != tuple(y.shape) or tuple(dx.shape) != tuple(y.shape):
        raise ValueError("sparsemax_backward: y, dy and dx must have the same shape")
    if outer * inner:
        _sparsemax_backward[line_grid(outer * inner, n, inner)](y, dy, dx)


@kernel("void(F[:, :, ::1], F[:, :, ::1])")
def _glu_forward(x, out):
    t = cuda.grid(1)
    outer, m, inner = out.shape
    o = t // (m * inner)
    r = t - o * m * inner
    j = r // inner
    k = r - j * inner
    if o < outer:
        out[o, j, k] = x[o, j, k] * _sigmoid(x[o, m + j, k], x.dtype.type(1.0))


def glu_forward(x, out):
    """As kernels.cpu.activations.glu_forward: one thread per output element (no reduction)."""
    outer, n2, inner = x.shape
    m = out.shape[1]
    if out.shape[0] != outer or out.shape[2] != inner or n2 != 2 * m:
        raise ValueError("glu_forward: out must be x with its middle axis halved (and that axis even)")
    if out.size:
        _glu_forward[grid(out.size)](x, out)


@kernel("void(F[:, :, ::1], F[:, :, ::1], F[:, :, ::1])")
def _glu_backward(x, dy, dx):
    t = cuda.grid(1)
    outer, m, inner = dy.shape
    o = t // (m * inner)
    r = t - o * m * inner
    j = r // inner
    k = r - j * inner
    if o < outer:
        one = x.dtype.type(1.0)
        s = _sigmoid(x[o, m + j, k], one)
        g = dy[o, j, k]
        a = x[o, j, k]
        dx[o, j, k] = g * s
        dx[o, m + j, k] = g * a * s * (one - s)


def glu_backward(x, y, dy, dx):
    """As kernels.cpu.activations.glu_backward: one thread per element of dy, writing both halves of dx (y is
    not read)."""
    outer, n2, inner = x.shape
    m = dy.shape[1]
    if dy.shape[0] != outer or dy.shape[2] != inner or n2 != 2 * m or dx.shape[0] != outer or \
            dx.shape[1] != n2 or dx.shape[2] != inner:
        raise ValueError("glu_backward: x and dx must have dy's middle axis doubled, the other axes equal")
    if dy.size:
        _glu_backward[grid(dy.size)](x, dy, dx)
