"""Elementwise ops by code, with NumPy broadcasting, and the kernels that move elements around (slices, gathers,
one-hot): the compute behind ``keras.ops``.

Unary ops (``unary_forward(code, x, out)`` / ``unary_backward(code, x, y, dy, dx)``) work on flat views; ``code``
picks the function from ``UNARY`` below, where each line states f and the gradient rule side by side.

Binary ops (``binary_forward`` / ``binary_backward``) take each operand flat plus its strides, in elements, along
the five axes of the output (batch + 4 per-sample axes; a lower-rank output is left-padded with 1s after the batch
axis). A stride is 0 along an axis the operand is broadcast over -- the batch axis of a weight or a constant, or any
axis of size 1. The batch size is not an argument: it is ``out.size // (n1 * n2 * n3 * n4)``, so one description
serves every batch. Shapes and strides are plain int arguments because a step description passes scalars and
views only, never int arrays. Backward sums each operand's gradient over the axes it was broadcast along.

Ops with a Python scalar (``x * 2``, ``1 - x``, ``x ** 3``) use ``scalar_forward`` / ``scalar_backward``: the
binary codes with one side a float, ``scalar_first`` saying which side.

A chain of these ops (``tanh(2 x + 1) * exp(-x)``) runs as one blocked pass with ``chain_forward``: the same per-code
loops over blocks of a few thousand elements, intermediates in a small scratch that stays in cache; a long chain's
blocks are shared among numba's threads.

Every kernel works for float32 and float64; integer and boolean results are stored as floats (0.0 / 1.0), as
every buffer of a model is. ``out`` may alias ``x`` in the unary and scalar kernels.
"""

import math

import numpy as np
from numba import prange

from ..policy import kernel
from . import vmath
from .conv import _fetch_add

# ---------------------------------------------------------------------------------------------- unary codes
# code      f(x)                       d f / d x (the backward rule, as dx = dy * this)
NEG = 0  # -x                          -1
ABS = 1  # |x|                         sign(x)
SIGN = 2  # sign(x)                    0
EXP = 3  # e^x                         y
LOG = 4  # ln x                        1 / x
LOG1P = 5  # ln(1 + x)                 1 / (1 + x)
EXPM1 = 6  # e^x - 1                   y + 1
SQRT = 7  # sqrt(x)                    0.5 / y
SQUARE = 8  # x^2                      2 x
RECIPROCAL = 9  # 1 / x                -y^2
RSQRT = 10  # 1 / sqrt(x)              -0.5 y^3
SIN = 11  # sin x                      cos x
COS = 12  # cos x                      -sin x
TAN = 13  # tan x                      1 + y^2
ARCSIN = 14  # asin x                  1 / sqrt(1 - x^2)
ARCCOS = 15  # acos x                  -1 / sqrt(1 - x^2)
ARCTAN = 16  # atan x                  1 / (1 + x^2)
SINH = 17  # sinh x                    cosh x
COSH = 18  # cosh x                    sinh x
TANH = 19  # tanh x                    1 - y^2
ARCSINH = 20  # asinh x                1 / sqrt(x^2 + 1)
ARCCOSH = 21  # acosh x                1 / sqrt(x^2 - 1)
ARCTANH = 22  # atanh x                1 / (1 - x^2)
SIGMOID = 23  # 1 / (1 + e^-x)         y (1 - y)
RELU = 24  # max(x, 0)                 1 if x > 0 else 0
SOFTPLUS = 25  # ln(1 + e^x)           sigmoid(x)
LOG2 = 26  # log2 x                    1 / (x ln 2)
LOG10 = 27  # log10 x                  1 / (x ln 10)
EXP2 = 28  # 2^x                       y ln 2
ERF = 29  # erf x                      2 / sqrt(pi) e^(-x^2)
FLOOR = 30  # floor x                  0 (piecewise constant: zero almost everywhere, as JAX)
CEIL = 31  # ceil x                    0
ROUND = 32  # round half to even       0
TRUNC = 33  # toward zero (int casts)  0
COPY = 34  # x (float casts, stop_gradient's forward)   1
LOGICAL_NOT = 35  # x == 0             no gradient (boolean output)
ISNAN = 36  # x is NaN                 no gradient
ISINF = 37  # x is +-inf               no gradient
ISFINITE = 38  # x is finite           no gradient
NONZERO = 39  # x != 0 (bool casts)    no gradient
N_UNARY = 40

# ---------------------------------------------------------------------------------------------- binary codes
# code        f(a, b)                  d f / d a              d f / d b
ADD = 0  # a + b                       1                      1
SUBTRACT = 1  # a - b                  1                      -1
MULTIPLY = 2  # a * b                  b                      a
DIVIDE = 3  # a / b                    1 / b                  -y / b
POWER = 4  # a^b                       b a^(b-1)              y ln a (0 where a <= 0, as JAX gives at a = 0)
MAXIMUM = 5  # max(a, b)               a >= b                 a < b   (a tie goes to a)
MINIMUM = 6  # min(a, b)               a <= b                 a > b
MOD = 7  # a - b floor(a / b)          1                      -floor(a / b)   (sign of b, as NumPy)
FLOOR_DIVIDE = 8  # floor(a / b)       0                      0
ARCTAN2 = 9  # atan2(a, b)             b / (a^2 + b^2)        -a / (a^2 + b^2)
EQUAL = 10  # a == b                   no gradient (boolean output) -- from here on
NOT_EQUAL = 11
LESS = 12
LESS_EQUAL = 13
GREATER = 14
GREATER_EQUAL = 15
LOGICAL_AND = 16  # a != 0 and b != 0
LOGICAL_OR = 17
LOGICAL_XOR = 18
N_BINARY = 19

_LN2 = 0.6931471805599453
_LN10 = 2.302585092994046
_TWO_OVER_SQRT_PI = 1.1283791670955126


# ---------------------------------------------------------------------------------------------- unary
@kernel
def _sigmoid(v):
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


@kernel
def _unary(code, v):
    """f(v) for one element, computed in v's precision (the caller stores it into out's dtype)."""
    if code == NEG:
        return -v
    if code == ABS:
        return abs(v)
    if code == SIGN:
        return (v > 0) - (v < 0) if v == v else v
    if code == EXP:
        return math.exp(v)
    if code == LOG:
        return math.log(v) if v > 0 else (-math.inf if v == 0 else math.nan)
    if code == LOG1P:
        return math.log1p(v) if v > -1 else (-math.inf if v == -1 else math.nan)
    if code == EXPM1:
        return math.expm1(v)
    if code == SQRT:
        return math.sqrt(v) if v >= 0 else math.nan
    if code == SQUARE:
        return v * v
    if code == RECIPROCAL:
        return 1.0 / v
    if code == RSQRT:
        return 1.0 / math.sqrt(v) if v >= 0 else math.nan
    if code == SIN:
        return math.sin(v)
    if code == COS:
        return math.cos(v)
    if code == TAN:
        return math.tan(v)
    if code == ARCSIN:
        return math.asin(v) if -1 <= v <= 1 else math.nan
    if code == ARCCOS:
        return math.acos(v) if -1 <= v <= 1 else math.nan
    if code == ARCTAN:
        return math.atan(v)
    if code == SINH:
        return math.sinh(v)
    if code == COSH:
        return math.cosh(v)
    if code == TANH:
        return math.tanh(v)
    if code == ARCSINH:
        return math.asinh(v)
    if code == ARCCOSH:
        return math.acosh(v) if v >= 1 else math.nan
    if code == ARCTANH:
        if -1 < v < 1:
            return math.atanh(v)
        return math.copysign(math.inf, v) if abs(v) == 1 else math.nan
    if code == SIGMOID:
        return _sigmoid(v)
    if code == RELU:
        return v if v > 0 else (0.0 if v == v else v)
    if code == SOFTPLUS:  # log(1 + e^v) = max(v, 0) + log1p(e^-|v|): no overflow
        return max(v, 0.0) + math.log1p(math.exp(-abs(v))) if v == v else v
    if code == LOG2:
        return math.log(v) / _LN2 if v > 0 else (-math.inf if v == 0 else math.nan)
    if code == LOG10:
        return math.log(v) / _LN10 if v > 0 else (-math.inf if v == 0 else math.nan)
    if code == EXP2:
        return math.exp(v * _LN2)
    if code == ERF:
        return math.erf(v)
    if code == FLOOR:
        return np.floor(v)
    if code == CEIL:
        return np.ceil(v)
    if code == ROUND:
        return np.rint(v)
    if code == TRUNC:
        return np.trunc(v)
    if code == COPY:
        return v
    if code == LOGICAL_NOT:
        return 1.0 if v == 0 else 0.0
    if code == ISNAN:
        return 1.0 if v != v else 0.0
    if code == ISINF:
        return 1.0 if math.isinf(v) else 0.0
    if code == ISFINITE:
        return 1.0 if math.isfinite(v) else 0.0
    if code == NONZERO:
        return 1.0 if v != 0 else 0.0
    return math.nan


@kernel
def _unary_slope(code, v, y):
    """d f / d v at v, given y = f(v): the right-hand column of the code table."""
    if code == NEG:
        return -1.0
    if code == ABS:
        return (v > 0) - (v < 0)
    if code == EXP:
        return y
    if code == LOG:
        return 1.0 / v
    if code == LOG1P:
        return 1.0 / (1.0 + v)
    if code == EXPM1:
        return y + 1.0
    if code == SQRT:
        return 0.5 / y
    if code == SQUARE:
        return 2.0 * v
    if code == RECIPROCAL:
        return -y * y
    if code == RSQRT:
        return -0.5 * y * y * y
    if code == SIN:
        return math.cos(v)
    if code == COS:
        return -math.sin(v)
    if code == TAN:
        return 1.0 + y * y
    if code == ARCSIN:
        return 1.0 / math.sqrt(1.0 - v * v)
    if code == ARCCOS:
        return -1.0 / math.sqrt(1.0 - v * v)
    if code == ARCTAN:
        return 1.0 / (1.0 + v * v)
    if code == SINH:
        return math.cosh(v)
    if code == COSH:
        return math.sinh(v)
    if code == TANH:
        return 1.0 - y * y
    if code == ARCSINH:
        return 1.0 / math.sqrt(v * v + 1.0)
    if code == ARCCOSH:
        return 1.0 / math.sqrt(v * v - 1.0)
    if code == ARCTANH:
        return 1.0 / (1.0 - v * v)
    if code == SIGMOID:
        return y * (1.0 - y)
    if code == RELU:
        return 1.0 if v > 0 else 0.0
    if code == SOFTPLUS:
        return _sigmoid(v)
    if code == LOG2:
        return 1.0 / (v * _LN2)
    if code == LOG10:
        return 1.0 / (v * _LN10)
    if code == EXP2:
        return y * _LN2
    if code == ERF:
        return _TWO_OVER_SQRT_PI * math.exp(-v * v)
    if code == COPY:
        return 1.0
    return 0.0  # sign, floor, ceil, round, trunc, and the boolean codes


@kernel
def unary_forward(code, x, out):
    """out = f(x) elementwise, f chosen by ``code`` (see the code table). x and out are 1-D of one length."""
    n = x.shape[0]
    if out.shape[0] != n:
        raise ValueError("unary_forward: x and out must have the same length")
    if code < 0 or code >= N_UNARY:
        raise ValueError("unary_forward: unknown code")
    t = out.dtype.type
    # One branch-free loop per code, so that LLVM vectorises each (an op-code test or a libm call inside the loop
    # blocks it); exp/log/tanh/sigmoid and their kin run through vmath's vectorisable implementations. Only the
    # trigonometric, hyperbolic and erf codes still call libm per element, through the shared dispatching loop.
    if code == NEG:
        for i in range(n):
            out[i] = -x[i]
    elif code == SQUARE:
        for i in range(n):
            out[i] = x[i] * x[i]
    elif code == ABS:
        for i in range(n):
            out[i] = abs(x[i])
    elif code == COPY:
        for i in range(n):
            out[i] = x[i]
    elif code == SQRT:
        for i in range(n):
            out[i] = np.sqrt(x[i])
    elif code == EXP:
        vmath.exp(x, out)
    elif code == EXPM1:
        vmath.expm1(x, out)
    elif code == LOG:
        vmath.log(x, out)
    elif code == LOG1P:
        vmath.log1p(x, out)
    elif code == TANH:
        vmath.tanh(x, out)
    elif code == SIGMOID:
        vmath.sigmoid(x, out)
    elif code == SOFTPLUS:
        vmath.softplus(x, out)
    elif code == LOG2 or code == LOG10:
        vmath.log(x, out)
        c = t(1.0 / _LN2) if code == LOG2 else t(1.0 / _LN10)
        for i in range(n):
            out[i] = out[i] * c
    elif code == SIGN:
        zero = t(0.0)
        one = t(1.0)
        for i in range(n):
            v = x[i]
            r = one if v > zero else zero
            r = -one if v < zero else r
            out[i] = r if v == v else v
    elif code == RECIPROCAL:
        one = t(1.0)
        for i in range(n):
            out[i] = one / x[i]
    elif code == RSQRT:
        one = t(1.0)
        for i in range(n):
            out[i] = one / np.sqrt(x[i])
    elif code == RELU:
        zero = t(0.0)
        for i in range(n):
            v = x[i]
            out[i] = v if (v > zero or v != v) else zero
    elif code == FLOOR:
        for i in range(n):
            out[i] = np.floor(x[i])
    elif code == CEIL:
        for i in range(n):
            out[i] = np.ceil(x[i])
    elif code == ROUND:
        for i in range(n):
            out[i] = np.rint(x[i])
    elif code == TRUNC:
        for i in range(n):
            out[i] = np.trunc(x[i])
    elif code == LOGICAL_NOT or code == ISNAN or code == ISINF or code == ISFINITE or code == NONZERO:
        _unary_predicate(code, x, out)
    else:
        for i in range(n):
            out[i] = t(_unary(code, x[i]))


@kernel
def _unary_predicate(code, x, out):
    """The boolean unary codes, stored as 0.0 / 1.0, one loop each."""
    n = x.shape[0]
    t = out.dtype.type
    zero = t(0.0)
    one = t(1.0)
    inf = t(math.inf)
    if code == LOGICAL_NOT:
        for i in range(n):
            out[i] = one if x[i] == zero else zero
    elif code == ISNAN:
        for i in range(n):
            v = x[i]
            out[i] = one if v != v else zero
    elif code == ISINF:
        for i in range(n):
            out[i] = one if abs(x[i]) == inf else zero
    elif code == ISFINITE:
        for i in range(n):
            out[i] = one if abs(x[i]) < inf else zero
    else:
        for i in range(n):
            out[i] = one if x[i] != zero else zero


@kernel
def unary_backward(code, x, y, dy, dx):
    """dx = dy * f'(x), with y = f(x) the forward's output. Skipped when dx has size 0."""
    if dx.size == 0:
        return
    n = x.shape[0]
    if y.shape[0] != n or dy.shape[0] != n or dx.shape[0] != n:
        raise ValueError("unary_backward: x, y, dy and dx must have the same length")
    if code < 0 or code >= N_UNARY:
        raise ValueError("unary_backward: unknown code")
    t = dx.dtype.type
    if code == NEG:
        for i in range(n):
            dx[i] = -dy[i]
    elif code == SQUARE:
        for i in range(n):
            dx[i] = t(2.0) * x[i] * dy[i]
    elif code == COPY:
        for i in range(n):
            dx[i] = dy[i]
    elif code == EXP:
        for i in range(n):
            dx[i] = dy[i] * y[i]
    elif code == TANH:
        for i in range(n):
            dx[i] = dy[i] * (t(1.0) - y[i] * y[i])
    else:
        for i in range(n):
            dx[i] = t(dy[i] * _unary_slope(code, x[i], y[i]))


# ---------------------------------------------------------------------------------------------- binary
@kernel
def _binary(code, a, b):
    """f(a, b) for one pair of elements."""
    if code == ADD:
        return a + b
    if code == SUBTRACT:
        return a - b
    if code == MULTIPLY:
        return a * b
    if code == DIVIDE:
        return a / b
    if code == POWER:
        return a ** b
    if code == MAXIMUM:
        return a if (a >= b or a != a) else b
    if code == MINIMUM:
        return a if (a <= b or a != a) else b
    if code == MOD:
        if b == 0:
            return math.nan
        r = a - np.floor(a / b) * b
        return r
    if code == FLOOR_DIVIDE:
        return np.floor(a / b)
    if code == ARCTAN2:
        return math.atan2(a, b)
    if code == EQUAL:
        return 1.0 if a == b else 0.0
    if code == NOT_EQUAL:
        return 1.0 if a != b else 0.0
    if code == LESS:
        return 1.0 if a < b else 0.0
    if code == LESS_EQUAL:
        return 1.0 if a <= b else 0.0
    if code == GREATER:
        return 1.0 if a > b else 0.0
    if code == GREATER_EQUAL:
        return 1.0 if a >= b else 0.0
    if code == LOGICAL_AND:
        return 1.0 if (a != 0 and b != 0) else 0.0
    if code == LOGICAL_OR:
        return 1.0 if (a != 0 or b != 0) else 0.0
    if code == LOGICAL_XOR:
        return 1.0 if ((a != 0) != (b != 0)) else 0.0
    return math.nan


@kernel
def _slope_a(code, a, b, y):
    """d f / d a (the middle column of the binary code table)."""
    if code == ADD or code == SUBTRACT or code == MOD:
        return 1.0
    if code == MULTIPLY:
        return b
    if code == DIVIDE:
        return 1.0 / b
    if code == POWER:
        if b == 0:
            return 0.0
        return b * a ** (b - 1.0)
    if code == MAXIMUM:
        return 1.0 if a >= b else 0.0
    if code == MINIMUM:
        return 1.0 if a <= b else 0.0
    if code == ARCTAN2:
        return b / (a * a + b * b)
    return 0.0


@kernel
def _slope_b(code, a, b, y):
    """d f / d b (the right-hand column of the binary code table)."""
    if code == ADD:
        return 1.0
    if code == SUBTRACT:
        return -1.0
    if code == MULTIPLY:
        return a
    if code == DIVIDE:
        return -y / b
    if code == POWER:
        return y * math.log(a) if a > 0 else 0.0
    if code == MAXIMUM:
        return 1.0 if a < b else 0.0
    if code == MINIMUM:
        return 1.0 if a > b else 0.0
    if code == MOD:
        return -np.floor(a / b)
    if code == ARCTAN2:
        return -a / (a * a + b * b)
    return 0.0


@kernel
def _binary_row(code, a, oa, sa, b, ob, sb, out, oo, n):
    """out[oo:oo + n] = f(a[oa + i sa], b[ob + i sb]) for strides 0 or 1. The common codes get loops of their own
    with the strides known (both 1, or one side a single value) so that LLVM vectorises them; measured on 1M
    float32 values, a loop with run-time strides ran 6x slower than NumPy, these run at NumPy's speed."""
    if code == ADD or code == SUBTRACT or code == MULTIPLY or code == DIVIDE or code == MAXIMUM or code == MINIMUM:
        if sa == 1 and sb == 1:
            _row_vv(code, a[oa:oa + n], b[ob:ob + n], out[oo:oo + n])
            return
        if sa == 1 and sb == 0:
            _row_vs(code, a[oa:oa + n], b[ob], out[oo:oo + n], False)
            return
        if sa == 0 and sb == 1:
            _row_vs(code, b[ob:ob + n], a[oa], out[oo:oo + n], True)
            return
    t = out.dtype.type
    for i in range(n):
        out[oo + i] = t(_binary(code, a[oa + i * sa], b[ob + i * sb]))


@kernel(inline="always")
def _arith_vv(code, a, b, out):
    """out = a + b, a - b, a * b or a / b for contiguous rows of one length (one IEEE operation an element);
    False for any other code. Inlined into its callers (_row_vv and chain_forward, whose blocks are short enough
    that a kernel call, ~30 ns, would show)."""
    n = out.shape[0]
    if code == ADD:
        for i in range(n):
            out[i] = a[i] + b[i]
    elif code == SUBTRACT:
        for i in range(n):
            out[i] = a[i] - b[i]
    elif code == MULTIPLY:
        for i in range(n):
            out[i] = a[i] * b[i]
    elif code == DIVIDE:
        for i in range(n):
            out[i] = a[i] / b[i]
    else:
        return False
    return True


@kernel(inline="always")
def _arith_vs(code, scalar_first, x, s, out):
    """The four arithmetic codes of a contiguous row x and one value s, f(x, s) (or f(s, x) with
    ``scalar_first``); False for any other code. Inlined like _arith_vv."""
    n = out.shape[0]
    c = out.dtype.type(s)
    if code == ADD:
        for i in range(n):
            out[i] = x[i] + c
    elif code == MULTIPLY:
        for i in range(n):
            out[i] = x[i] * c
    elif code == SUBTRACT and not scalar_first:
        for i in range(n):
            out[i] = x[i] - c
    elif code == SUBTRACT:
        for i in range(n):
            out[i] = c - x[i]
    elif code == DIVIDE and not scalar_first:
        for i in range(n):
            out[i] = x[i] / c
    elif code == DIVIDE:
        for i in range(n):
            out[i] = c / x[i]
    else:
        return False
    return True


@kernel
def _row_vv(code, a, b, out):
    """out = f(a, b) for contiguous rows of one length (the vectorisable codes)."""
    if _arith_vv(code, a, b, out):
        return
    n = out.shape[0]
    if code == MAXIMUM:  # NaN propagates from either side, as np.maximum
        for i in range(n):
            u, v = a[i], b[i]
            out[i] = u if (u >= v or u != u) else v
    else:
        for i in range(n):
            u, v = a[i], b[i]
            out[i] = u if (u <= v or u != u) else v


@kernel
def _row_vs(code, x, s, out, scalar_first):
    """out = f(x, s), or f(s, x) with ``scalar_first``, for a contiguous row x and one value s."""
    if _arith_vs(code, scalar_first, x, s, out):
        return
    n = out.shape[0]
    c = out.dtype.type(s)
    if code == MAXIMUM:  # max is symmetric, but NaN from either side must win
        for i in range(n):
            u = x[i]
            out[i] = u if (u >= c or u != u) else c
    else:
        for i in range(n):
            u = x[i]
            out[i] = u if (u <= c or u != u) else c


@kernel
def _extent_ok(size, n0, n1, n2, n3, n4, s0, s1, s2, s3, s4):
    """True when every offset sum(i_k s_k) over the index box lies inside an operand of ``size`` elements."""
    if s0 < 0 or s1 < 0 or s2 < 0 or s3 < 0 or s4 < 0:
        return False
    if n0 == 0 or n1 == 0 or n2 == 0 or n3 == 0 or n4 == 0:
        return True
    last = (n0 - 1) * s0 + (n1 - 1) * s1 + (n2 - 1) * s2 + (n3 - 1) * s3 + (n4 - 1) * s4
    return last < size


@kernel
def _batch(out_size, n1, n2, n3, n4):
    """The batch size implied by the output's length, or -1 when the per-sample dims do not tile it."""
    if n1 < 0 or n2 < 0 or n3 < 0 or n4 < 0:
        return -1
    per = n1 * n2 * n3 * n4
    if per == 0:
        return 0 if out_size == 0 else -1
    if out_size % per != 0:
        return -1
    return out_size // per


@kernel
def _contiguous(n1, n2, n3, n4, s0, s1, s2, s3, s4):
    """True when strides (s0..s4) are those of a C-contiguous array of shape (n0, n1..n4) (size-1 axes free)."""
    c4 = 1
    c3 = n4
    c2 = n3 * c3
    c1 = n2 * c2
    c0 = n1 * c1
    return ((s4 == c4 or n4 == 1) and (s3 == c3 or n3 == 1) and (s2 == c2 or n2 == 1)
            and (s1 == c1 or n1 == 1) and s0 == c0)


@kernel
def binary_forward(code, a, b, out, n1, n2, n3, n4, sa0, sa1, sa2, sa3, sa4, sb0, sb1, sb2, sb3, sb4):
    """out = f(a, b) elementwise with broadcasting, f chosen by ``code`` (the binary code table).

    out is a flat C-contiguous (n0, n1, n2, n3, n4) array, n0 = out.size // (n1 n2 n3 n4) (the batch);
    out[i0, .., i4] = f(a[sum_k i_k sa_k], b[sum_k i_k sb_k]), a and b flat. A stride of 0 broadcasts.
    """
    n0 = _batch(out.size, n1, n2, n3, n4)
    if n0 < 0:
        raise ValueError("binary_forward: the dims (n1..n4) do not tile out")
    if code < 0 or code >= N_BINARY:
        raise ValueError("binary_forward: unknown code")
    if not _extent_ok(a.size, n0, n1, n2, n3, n4, sa0, sa1, sa2, sa3, sa4):
        raise ValueError("binary_forward: a is too small for its strides")
    if not _extent_ok(b.size, n0, n1, n2, n3, n4, sb0, sb1, sb2, sb3, sb4):
        raise ValueError("binary_forward: b is too small for its strides")
    a_full = _contiguous(n1, n2, n3, n4, sa0, sa1, sa2, sa3, sa4)
    b_full = _contiguous(n1, n2, n3, n4, sb0, sb1, sb2, sb3, sb4)
    a_one = sa0 == 0 and sa1 == 0 and sa2 == 0 and sa3 == 0 and sa4 == 0
    b_one = sb0 == 0 and sb1 == 0 and sb2 == 0 and sb3 == 0 and sb4 == 0
    if (a_full or a_one) and (b_full or b_one):  # same shapes, or one side a single value: one flat pass
        _binary_row(code, a, 0, 0 if a_one else 1, b, 0, 0 if b_one else 1, out, 0, out.size)
        return
    o = 0
    for i0 in range(n0):
        for i1 in range(n1):
            for i2 in range(n2):
                for i3 in range(n3):
                    oa = i0 * sa0 + i1 * sa1 + i2 * sa2 + i3 * sa3
                    ob = i0 * sb0 + i1 * sb1 + i2 * sb2 + i3 * sb3
                    _binary_row(code, a, oa, sa4, b, ob, sb4, out, o, n4)
                    o += n4


@kernel
def binary_backward(code, a, b, y, dy, da, db, accumulate_a, accumulate_b, n1, n2, n3, n4,
                    sa0, sa1, sa2, sa3, sa4, sb0, sb1, sb2, sb3, sb4):
    """da (+)= sum over broadcast positions of dy * df/da, db likewise; arguments as ``binary_forward`` (y is its
    output). da or db of size 0 is skipped. ``accumulate_a`` adds into da instead of overwriting it (a weight's
    gradient already written this step); likewise ``accumulate_b``."""
    n0 = _batch(dy.size, n1, n2, n3, n4)
    if n0 < 0 or y.size != dy.size:
        raise ValueError("binary_backward: the dims (n1..n4) do not tile dy and y")
    if code < 0 or code >= N_BINARY:
        raise ValueError("binary_backward: unknown code")
    if not _extent_ok(a.size, n0, n1, n2, n3, n4, sa0, sa1, sa2, sa3, sa4):
        raise ValueError("binary_backward: a is too small for its strides")
    if not _extent_ok(b.size, n0, n1, n2, n3, n4, sb0, sb1, sb2, sb3, sb4):
        raise ValueError("binary_backward: b is too small for its strides")
    if (da.size != 0 and da.size != a.size) or (db.size != 0 and db.size != b.size):
        raise ValueError("binary_backward: da and db must have the sizes of a and b (or 0)")
    want_a = da.size != 0
    want_b = db.size != 0
    zero = dy.dtype.type(0.0)
    if want_a and not accumulate_a:
        for i in range(da.size):
            da[i] = zero
    if want_b and not accumulate_b:
        for i in range(db.size):
            db[i] = zero
    if not (want_a or want_b):
        return
    t = dy.dtype.type
    o = 0
    for i0 in range(n0):
        for i1 in range(n1):
            for i2 in range(n2):
                for i3 in range(n3):
                    oa = i0 * sa0 + i1 * sa1 + i2 * sa2 + i3 * sa3
                    ob = i0 * sb0 + i1 * sb1 + i2 * sb2 + i3 * sb3
                    for i4 in range(n4):
                        ia = oa + i4 * sa4
                        ib = ob + i4 * sb4
                        g = dy[o]
                        if want_a:
                            da[ia] += t(g * _slope_a(code, a[ia], b[ib], y[o]))
                        if want_b:
                            db[ib] += t(g * _slope_b(code, a[ia], b[ib], y[o]))
                        o += 1


# ---------------------------------------------------------------------------------------------- with a scalar
@kernel
def scalar_forward(code, x, s, scalar_first, out):
    """out = f(x, s) elementwise (or f(s, x) with ``scalar_first``), f a binary code: ``x * 2``, ``1 - x``."""
    n = x.shape[0]
    if out.shape[0] != n:
        raise ValueError("scalar_forward: x and out must have the same length")
    if code < 0 or code >= N_BINARY:
        raise ValueError("scalar_forward: unknown code")
    if code == ADD or code == SUBTRACT or code == MULTIPLY or code == DIVIDE or code == MAXIMUM or code == MINIMUM:
        _row_vs(code, x, s, out, scalar_first)
        return
    t = out.dtype.type
    c = t(s)
    if code == POWER and s == 2.0 and not scalar_first:
        for i in range(n):
            out[i] = x[i] * x[i]
    elif scalar_first:
        for i in range(n):
            out[i] = t(_binary(code, c, x[i]))
    else:
        for i in range(n):
            out[i] = t(_binary(code, x[i], c))


@kernel
def scalar_backward(code, x, s, scalar_first, y, dy, dx):
    """dx = dy * d f(x, s) / dx (or of f(s, x)); y is the forward's output. Skipped when dx has size 0."""
    if dx.size == 0:
        return
    n = x.shape[0]
    if y.shape[0] != n or dy.shape[0] != n or dx.shape[0] != n:
        raise ValueError("scalar_backward: x, y, dy and dx must have the same length")
    t = dx.dtype.type
    c = t(s)
    if code == ADD:
        for i in range(n):
            dx[i] = dy[i]
    elif code == MULTIPLY:
        for i in range(n):
            dx[i] = dy[i] * c
    elif scalar_first:
        for i in range(n):
            dx[i] = t(dy[i] * _slope_b(code, c, x[i], y[i]))
    else:
        for i in range(n):
            dx[i] = t(dy[i] * _slope_a(code, x[i], c, y[i]))


# ---------------------------------------------------------------------------------------------- fused chains
# An elementwise chain (``tanh(2 x + 1) * exp(-x)``) as one pass: ``chain_forward`` runs up to CHAIN_MAX_OPS
# instructions block by block, so each value is read from memory once and the intermediates stay in cache.
#
# Instruction word:  op = kind | code << 2 | a << 8 | b << 12 | dst << 16   (``chain_op`` builds one)
#   kind  CHAIN_UNARY         r = f(A)        f a unary code        (unary_forward)
#         CHAIN_SCALAR        r = f(A, s)     f a binary code       (scalar_forward, scalar_first False)
#         CHAIN_SCALAR_FIRST  r = f(s, A)                           (scalar_forward, scalar_first True)
#         CHAIN_BINARY        r = f(A, B)     same-length operands  (binary_forward without broadcasting)
#   a, b  operands: 0..3 the inputs x0..x3, 4 + k register k (regs[k]); b only for CHAIN_BINARY (else 0)
#   dst   the register r is written to (0..CHAIN_MAX_REGS-1); the last instruction writes ``out`` (dst ignored)
#   s     instruction i's scalar is s_i (ignored by unary and binary instructions)
CHAIN_UNARY = 0
CHAIN_SCALAR = 1
CHAIN_SCALAR_FIRST = 2
CHAIN_BINARY = 3
CHAIN_INPUTS = 4
CHAIN_MAX_OPS = 8
CHAIN_MAX_REGS = 8
#: Most workers a chain's blocks are shared among (regs rows: CHAIN_PARTS times those of one worker, at most).
CHAIN_PARTS = 4
#: Weighted element-instructions below which a chain runs on the calling thread: an arithmetic instruction weighs 1,
#: a transcendental one (``_chain_heavy``: exp, tanh, log, trigonometric, power ...) 4 -- in a chain they cost
#: ~0.05 and ~0.2 ns an element. Measured on the 2-core dev machine (chain_forward alone, one worker against four
#: rows' worth, alternating, medians of 20-64 calls): the split lost or tied wherever one thread took under ~200 us
#: (tanh(x) 512K elements 1.31x the time, 1M 0.98x; tanh(2x+1)*exp(-x) 256K 1.18x; x*2+1 1.00x up to 1M) and gained
#: above it (tanh(x) 2M 0.76x; the tanh chain 512K 0.86x, 1M 0.69x; 8 arithmetic ops 512K 0.88x, 1M 0.68x; x*2+1
#: 2M 0.90x). This threshold splits those from 1M, 350K, 512K and 2M elements.
CHAIN_PARALLEL_WORK = 1 << 22
#: Blocks a worker claims at a time.
CHAIN_CLAIM = 8


def chain_op(kind, code, a, b=0, dst=0):
    """One instruction word of ``chain_forward`` (plain Python, for the callers that build chains)."""
    if not (0 <= kind < 4 and 0 <= code < 64 and 0 <= a < CHAIN_INPUTS + CHAIN_MAX_REGS
            and 0 <= b < CHAIN_INPUTS + CHAIN_MAX_REGS and 0 <= dst < CHAIN_MAX_REGS):
        raise ValueError(f"chain_op: field out of range (kind={kind}, code={code}, a={a}, b={b}, dst={dst})")
    return int(kind) | int(code) << 2 | int(a) << 8 | int(b) << 12 | int(dst) << 16


@kernel(inline="always")
def _pick_op(i, op0, op1, op2, op3, op4, op5, op6, op7):
    if i == 0:
        return op0
    if i == 1:
        return op1
    if i == 2:
        return op2
    if i == 3:
        return op3
    if i == 4:
        return op4
    if i == 5:
        return op5
    if i == 6:
        return op6
    return op7


@kernel(inline="always")
def _pick_scalar(i, s0, s1, s2, s3, s4, s5, s6, s7):
    if i == 0:
        return s0
    if i == 1:
        return s1
    if i == 2:
        return s2
    if i == 3:
        return s3
    if i == 4:
        return s4
    if i == 5:
        return s5
    if i == 6:
        return s6
    return s7


@kernel
def _chain_source_error(k, written, n_regs, n, n0, n1, n2, n3):
    """0 when operand k can be read (an input of length n, or a register an earlier instruction wrote), else a
    reason code: 1 an input of the wrong length, 2 a register out of range or not written yet."""
    if k < CHAIN_INPUTS:
        m = n0 if k == 0 else (n1 if k == 1 else (n2 if k == 2 else n3))
        return 0 if m == n else 1
    r = k - CHAIN_INPUTS
    if r >= n_regs or (written >> r) & 1 == 0:
        return 2
    return 0


@kernel
def chain_forward(n_ops, op0, op1, op2, op3, op4, op5, op6, op7, s0, s1, s2, s3, s4, s5, s6, s7,
                  x0, x1, x2, x3, out, regs):
    """out = the last of ``n_ops`` elementwise instructions (words op0.., scalars s0..; the encoding is in the
    comment above), run over blocks of ``regs.shape[1]`` elements: for each block [lo, hi), instruction i computes

        r_i[lo:hi] = f_i(operands of i over [lo:hi])   (into regs[dst_i, :hi - lo], the last into out[lo:hi])

    with the same per-code loops as the separate kernels (unary_forward, scalar_forward, the same-shape path of
    binary_forward; + - * / through the inlined _arith_vv / _arith_vs those use too), so every
    element equals, bit for bit, what the unfused calls give. x0..x3 are flat inputs of
    out's length (those no instruction reads may have any length: pass an empty array); regs (R, block) is the
    caller's scratch, 1 <= R <= CHAIN_MAX_REGS * CHAIN_PARTS, at least one row past the highest register written.
    An instruction may not write a register it reads. out may alias an input (every block reads its inputs before
    the last instruction writes that block of out).

    Threads: when len(out) times the instructions' weight (see CHAIN_PARALLEL_WORK) reaches CHAIN_PARALLEL_WORK and
    regs holds the registers twice or more, the blocks
    are shared among up to CHAIN_PARTS workers of numba's threads (each with its own rows of regs), claimed
    CHAIN_CLAIM blocks at a time through an atomic counter as the convolutions' are (a thread that starts late
    or shares its core takes fewer). Each element is computed the same way on any thread: results do not depend
    on the split."""
    n = out.shape[0]
    n_regs = regs.shape[0]
    block = regs.shape[1]
    if n_ops < 1 or n_ops > CHAIN_MAX_OPS:
        raise ValueError("chain_forward: n_ops must be in [1, 8]")
    if n_regs < 1 or n_regs > CHAIN_MAX_REGS * CHAIN_PARTS or block < 1:
        raise ValueError("chain_forward: regs must be (R, block) with 1 <= R <= 32 and block >= 1")
    written = 0
    need = 1  # register rows one worker uses
    weight = 0  # of the instructions, for the thread split
    for i in range(n_ops):
        op = _pick_op(i, op0, op1, op2, op3, op4, op5, op6, op7)
        if op < 0 or op >= 1 << 20:
            raise ValueError("chain_forward: an instruction word is out of range")
        kind = op & 3
        code = (op >> 2) & 63
        a = (op >> 8) & 15
        b = (op >> 12) & 15
        d = (op >> 16) & 15
        if (kind == CHAIN_UNARY and code >= N_UNARY) or (kind != CHAIN_UNARY and code >= N_BINARY):
            raise ValueError("chain_forward: unknown code")
        weight += 4 if _chain_heavy(kind, code) else 1
        err = _chain_source_error(a, written, n_regs, n, x0.shape[0], x1.shape[0], x2.shape[0], x3.shape[0])
        if kind == CHAIN_BINARY and err == 0:
            err = _chain_source_error(b, written, n_regs, n, x0.shape[0], x1.shape[0], x2.shape[0], x3.shape[0])
        if err == 1:
            raise ValueError("chain_forward: an input an instruction reads does not have out's length")
        if err == 2:
            raise ValueError("chain_forward: an instruction reads a register that is out of range or not written")
        if i < n_ops - 1:
            if d >= n_regs or d >= CHAIN_MAX_REGS:
                raise ValueError("chain_forward: a destination register is out of range (regs has too few rows)")
            if d + CHAIN_INPUTS == a or (kind == CHAIN_BINARY and d + CHAIN_INPUTS == b):
                raise ValueError("chain_forward: an instruction writes a register it reads")
            written |= 1 << d
            need = max(need, d + 1)
    parts = _chain_workers(n, weight, n_regs, need, block)
    if parts > 1:
        _chain_parts(parts, need, n_ops, op0, op1, op2, op3, op4, op5, op6, op7, s0, s1, s2, s3, s4, s5, s6,
                     s7, x0, x1, x2, x3, out, regs)
    else:
        _chain_range(0, n, n_ops, op0, op1, op2, op3, op4, op5, op6, op7, s0, s1, s2, s3, s4, s5, s6, s7,
                     x0, x1, x2, x3, out, regs)


@kernel(inline="always")
def _chain_heavy(kind, code):
    """Whether an instruction costs several arithmetic ones an element (vector math or a libm call)."""
    if kind == CHAIN_UNARY:
        return (EXP <= code <= EXPM1) or (SIN <= code <= SIGMOID) or (SOFTPLUS <= code <= ERF)
    return code == POWER or code == ARCTAN2 or code == MOD or code == FLOOR_DIVIDE


@kernel
def _chain_workers(n, weight, rows, need, block):
    """Workers chain_forward shares ``n`` elements among, for instructions of total ``weight`` (see
    CHAIN_PARALLEL_WORK), ``rows`` rows of regs of which one worker needs ``need``, ``block`` elements a block: 1
    (the calling thread) below CHAIN_PARALLEL_WORK."""
    if n * weight < CHAIN_PARALLEL_WORK:
        return 1
    step = CHAIN_CLAIM * block
    return max(1, min(rows // need, CHAIN_PARTS, (n + step - 1) // step))


@kernel(parallel=True)
def _chain_parts(parts, need, n_ops, op0, op1, op2, op3, op4, op5, op6, op7, s0, s1, s2, s3, s4, s5, s6, s7,
                 x0, x1, x2, x3, out, regs):
    """_chain_range over runs of CHAIN_CLAIM blocks, claimed by ``parts`` workers, worker t on regs rows
    [t * need, (t + 1) * need)."""
    n = out.shape[0]
    step = CHAIN_CLAIM * regs.shape[1]
    claimed = np.zeros(1, np.int64)
    for t in prange(parts):
        mine = regs[t * need:(t + 1) * need]
        lo = _fetch_add(claimed, step)
        while lo < n:
            _chain_range(lo, min(lo + step, n), n_ops, op0, op1, op2, op3, op4, op5, op6, op7, s0, s1, s2, s3, s4,
                         s5, s6, s7, x0, x1, x2, x3, out, mine)
            lo = _fetch_add(claimed, step)


@kernel
def _chain_range(start, stop, n_ops, op0, op1, op2, op3, op4, op5, op6, op7, s0, s1, s2, s3, s4, s5, s6, s7,
                 x0, x1, x2, x3, out, regs):
    """The checked chain over elements [start, stop), block by block (regs.shape[1] elements)."""
    block = regs.shape[1]
    for lo in range(start, stop, block):
        hi = min(lo + block, stop)
        m = hi - lo
        for i in range(n_ops):
            op = _pick_op(i, op0, op1, op2, op3, op4, op5, op6, op7)
            kind = op & 3
            code = (op >> 2) & 63
            # Operands picked inline: a helper function returning the slice cost ~50 ns an instruction a block.
            k = (op >> 8) & 15
            if k == 0:
                src = x0[lo:hi]
            elif k == 1:
                src = x1[lo:hi]
            elif k == 2:
                src = x2[lo:hi]
            elif k == 3:
                src = x3[lo:hi]
            else:
                src = regs[k - CHAIN_INPUTS, :m]
            dst = out[lo:hi] if i == n_ops - 1 else regs[(op >> 16) & 15, :m]
            if kind == CHAIN_UNARY:
                unary_forward(code, src, dst)
            elif kind == CHAIN_BINARY:
                k = (op >> 12) & 15
                if k == 0:
                    other = x0[lo:hi]
                elif k == 1:
                    other = x1[lo:hi]
                elif k == 2:
                    other = x2[lo:hi]
                elif k == 3:
                    other = x3[lo:hi]
                else:
                    other = regs[k - CHAIN_INPUTS, :m]
                if not _arith_vv(code, src, other, dst):
                    _binary_row(code, src, 0, 1, other, 0, 1, dst, 0, m)
            else:
                s = _pick_scalar(i, s0, s1, s2, s3, s4, s5, s6, s7)
                if not _arith_vs(code, kind == CHAIN_SCALAR_FIRST, src, s, dst):
                    scalar_forward(code, src, s, kind == CHAIN_SCALAR_FIRST, dst)


# ---------------------------------------------------------------------------------------------- where, clip
@kernel
def where_forward(c, a, b, out, n1, n2, n3, n4, sc0, sc1, sc2, sc3, sc4, sa0, sa1, sa2, sa3, sa4,
                  sb0, sb1, sb2, sb3, sb4):
    """out = a where c != 0 else b, all three broadcast by strides as in ``binary_forward``."""
    n0 = _batch(out.size, n1, n2, n3, n4)
    if n0 < 0:
        raise ValueError("where_forward: the dims (n1..n4) do not tile out")
    if not (_extent_ok(c.size, n0, n1, n2, n3, n4, sc0, sc1, sc2, sc3, sc4)
            and _extent_ok(a.size, n0, n1, n2, n3, n4, sa0, sa1, sa2, sa3, sa4)
            and _extent_ok(b.size, n0, n1, n2, n3, n4, sb0, sb1, sb2, sb3, sb4)):
        raise ValueError("where_forward: an operand is too small for its strides")
    o = 0
    for i0 in range(n0):
        for i1 in range(n1):
            for i2 in range(n2):
                for i3 in range(n3):
                    oc = i0 * sc0 + i1 * sc1 + i2 * sc2 + i3 * sc3
                    oa = i0 * sa0 + i1 * sa1 + i2 * sa2 + i3 * sa3
                    ob = i0 * sb0 + i1 * sb1 + i2 * sb2 + i3 * sb3
                    for i4 in range(n4):
                        out[o] = a[oa + i4 * sa4] if c[oc + i4 * sc4] != 0 else b[ob + i4 * sb4]
                        o += 1


@kernel
def where_backward(c, dy, da, db, accumulate_a, accumulate_b, n1, n2, n3, n4, sc0, sc1, sc2, sc3, sc4,
                   sa0, sa1, sa2, sa3, sa4, sb0, sb1, sb2, sb3, sb4):
    """da (+)= dy where c != 0, db (+)= dy elsewhere, summed over broadcast positions; size 0 skips one."""
    n0 = _batch(dy.size, n1, n2, n3, n4)
    if n0 < 0:
        raise ValueError("where_backward: the dims (n1..n4) do not tile dy")
    if not _extent_ok(c.size, n0, n1, n2, n3, n4, sc0, sc1, sc2, sc3, sc4):
        raise ValueError("where_backward: c is too small for its strides")
    want_a = da.size != 0
    want_b = db.size != 0
    if (want_a and not _extent_ok(da.size, n0, n1, n2, n3, n4, sa0, sa1, sa2, sa3, sa4)) or (
            want_b and not _extent_ok(db.size, n0, n1, n2, n3, n4, sb0, sb1, sb2, sb3, sb4)):
        raise ValueError("where_backward: da or db is too small for its strides")
    zero = dy.dtype.type(0.0)
    if want_a and not accumulate_a:
        for i in range(da.size):
            da[i] = zero
    if want_b and not accumulate_b:
        for i in range(db.size):
            db[i] = zero
    o = 0
    for i0 in range(n0):
        for i1 in range(n1):
            for i2 in range(n2):
                for i3 in range(n3):
                    oc = i0 * sc0 + i1 * sc1 + i2 * sc2 + i3 * sc3
                    oa = i0 * sa0 + i1 * sa1 + i2 * sa2 + i3 * sa3
                    ob = i0 * sb0 + i1 * sb1 + i2 * sb2 + i3 * sb3
                    for i4 in range(n4):
                        if c[oc + i4 * sc4] != 0:
                            if want_a:
                                da[oa + i4 * sa4] += dy[o]
                        elif want_b:
                            db[ob + i4 * sb4] += dy[o]
                        o += 1


@kernel
def clip_forward(x, lo, hi, out):
    """out = min(max(x, lo), hi) (Keras's ops.clip with scalar bounds)."""
    n = x.shape[0]
    if out.shape[0] != n:
        raise ValueError("clip_forward: x and out must have the same length")
    t = out.dtype.type
    a = t(lo)
    b = t(hi)
    for i in range(n):
        v = x[i]
        v = a if v < a else v
        out[i] = b if v > b else v


@kernel
def clip_backward(x, lo, hi, dy, dx):
    """dx = dy where lo <= x <= hi, else 0. Skipped when dx has size 0."""
    if dx.size == 0:
        return
    n = x.shape[0]
    if dy.shape[0] != n or dx.shape[0] != n:
        raise ValueError("clip_backward: x, dy and dx must have the same length")
    zero = dx.dtype.type(0.0)
    for i in range(n):
        dx[i] = dy[i] if lo <= x[i] <= hi else zero


# ---------------------------------------------------------------------------------------------- slices
@kernel
def _slice_ok(x_size, out_size, d1, d2, d3, d4, b1, b2, b3, b4, t1, t2, t3, t4, o1, o2, o3, o4):
    """The batch size, or -1 when the slice does not fit: every axis's first and last index inside [0, d)."""
    n0 = _batch(x_size, d1, d2, d3, d4)
    if n0 < 0 or o1 < 0 or o2 < 0 or o3 < 0 or o4 < 0 or out_size != n0 * o1 * o2 * o3 * o4:
        return -1
    if not (_axis_ok(d1, b1, t1, o1) and _axis_ok(d2, b2, t2, o2) and _axis_ok(d3, b3, t3, o3)
            and _axis_ok(d4, b4, t4, o4)):
        return -1
    return n0


@kernel
def _axis_ok(d, b, t, o):
    """o indices b, b + t, .. b + (o - 1) t all lie in [0, d)."""
    if o == 0:
        return True
    last = b + (o - 1) * t
    return 0 <= b < d and 0 <= last < d


@kernel
def slice_forward(x, out, d1, d2, d3, d4, b1, b2, b3, b4, t1, t2, t3, t4, o1, o2, o3, o4):
    """out[n, i1, .., i4] = x[n, b1 + i1 t1, .., b4 + i4 t4] for each sample n: a basic slice of per-sample
    axes (x[:, 1:3], x[..., ::-1], x[:, 0]). x is flat (n0, d1..d4), out flat (n0, o1..o4); starts b, steps t
    (negative steps walk backwards), out dims o. Lower ranks are left-padded with (d=1, b=0, t=1, o=1)."""
    n0 = _slice_ok(x.size, out.size, d1, d2, d3, d4, b1, b2, b3, b4, t1, t2, t3, t4, o1, o2, o3, o4)
    if n0 < 0:
        raise ValueError("slice_forward: the slice does not fit in x or out")
    per = d1 * d2 * d3 * d4
    o = 0
    for n in range(n0):
        for i1 in range(o1):
            for i2 in range(o2):
                for i3 in range(o3):
                    base = n * per + (((b1 + i1 * t1) * d2 + b2 + i2 * t2) * d3 + b3 + i3 * t3) * d4 + b4
                    for i4 in range(o4):
                        out[o] = x[base + i4 * t4]
                        o += 1


@kernel
def slice_backward(dy, dx, d1, d2, d3, d4, b1, b2, b3, b4, t1, t2, t3, t4, o1, o2, o3, o4):
    """dx = 0 outside the slice, dy inside it (a slice never repeats an element). Skipped when dx has size 0."""
    if dx.size == 0:
        return
    n0 = _slice_ok(dx.size, dy.size, d1, d2, d3, d4, b1, b2, b3, b4, t1, t2, t3, t4, o1, o2, o3, o4)
    if n0 < 0:
        raise ValueError("slice_backward: the slice does not fit in dx or dy")
    zero = dx.dtype.type(0.0)
    for i in range(dx.size):
        dx[i] = zero
    per = d1 * d2 * d3 * d4
    o = 0
    for n in range(n0):
        for i1 in range(o1):
            for i2 in range(o2):
                for i3 in range(o3):
                    base = n * per + (((b1 + i1 * t1) * d2 + b2 + i2 * t2) * d3 + b3 + i3 * t3) * d4 + b4
                    for i4 in range(o4):
                        dx[base + i4 * t4] = dy[o]
                        o += 1


# ---------------------------------------------------------------------------------------------- gathers
@kernel
def _index(v, n):
    """An index stored as a float, wrapped like NumPy's negative indices; -1 when out of range."""
    if not (v == v) or abs(v) > 1e15:
        return -1
    k = int(v)
    if k != v:
        return -1
    if k < 0:
        k += n
    if k < 0 or k >= n:
        return -1
    return k


@kernel
def take_forward(x, idx, out):
    """out[p, q, :] = x[p, idx[q], :]: x (outer, n, inner), idx flat (m,), out flat (outer, m, inner).

    Keras's ops.take along one axis (outer = product of the axes before it, inner = after it). An embedding
    lookup is the case outer = 1 (a weight gathered by a batch of ids). Indices are floats holding integers;
    negative ones count from the end; out-of-range indices raise.
    """
    outer, n, inner = x.shape
    m = idx.shape[0]
    if out.size != outer * m * inner:
        raise ValueError("take_forward: out must have outer * len(idx) * inner elements")
    for q in range(m):
        if _index(idx[q], n) < 0:
            raise ValueError("take_forward: an index is out of range (or not an integer)")
    o = 0
    for p in range(outer):
        for q in range(m):
            src = x[p, _index(idx[q], n)]
            for j in range(inner):
                out[o + j] = src[j]
            o += inner


@kernel
def take_backward(idx, dy, dx, accumulate):
    """dx[p, idx[q], :] += dy[p, q, :] (repeated indices add up); dx (outer, n, inner) is zeroed first unless
    ``accumulate`` (a weight's gradient already written this step). Skipped when dx has size 0."""
    if dx.size == 0:
        return
    outer, n, inner = dx.shape
    m = idx.shape[0]
    if dy.size != outer * m * inner:
        raise ValueError("take_backward: dy must have outer * len(idx) * inner elements")
    for q in range(m):
        if _index(idx[q], n) < 0:
            raise ValueError("take_backward: an index is out of range (or not an integer)")
    if not accumulate:
        zero = dx.dtype.type(0.0)
        for p in range(outer):
            for k in range(n):
                for j in range(inner):
                    dx[p, k, j] = zero
    o = 0
    for p in range(outer):
        for q in range(m):
            dst = dx[p, _index(idx[q], n)]
            for j in range(inner):
                dst[j] += dy[o + j]
            o += inner


@kernel
def take_along_axis_forward(x, idx, out):
    """out[p, q, r] = x[p, idx[p, q, r], r]: x (outer, n, inner), idx and out (outer, m, inner) (Keras's
    ops.take_along_axis after both are viewed around the axis)."""
    outer, n, inner = x.shape
    if idx.shape[0] != outer or idx.shape[2] != inner or out.shape != idx.shape:
        raise ValueError("take_along_axis_forward: x, idx and out disagree in outer or inner size")
    for p in range(outer):
        for q in range(idx.shape[1]):
            for r in range(inner):
                k = _index(idx[p, q, r], n)
                if k < 0:
                    raise ValueError("take_along_axis_forward: an index is out of range (or not an integer)")
                out[p, q, r] = x[p, k, r]


@kernel
def take_along_axis_backward(idx, dy, dx):
    """dx = 0, then dx[p, idx[p, q, r], r] += dy[p, q, r]. Skipped when dx has size 0."""
    if dx.size == 0:
        return
    outer, n, inner = dx.shape
    if idx.shape[0] != outer or idx.shape[2] != inner or dy.shape != idx.shape:
        raise ValueError("take_along_axis_backward: dx, idx and dy disagree in outer or inner size")
    zero = dx.dtype.type(0.0)
    for p in range(outer):
        for k in range(n):
            for r in range(inner):
                dx[p, k, r] = zero
    for p in range(outer):
        for q in range(idx.shape[1]):
            for r in range(inner):
                k = _index(idx[p, q, r], n)
                if k < 0:
                    raise ValueError("take_along_axis_backward: an index is out of range (or not an integer)")
                dx[p, k, r] += dy[p, q, r]


@kernel
def one_hot_forward(idx, out):
    """out[p, c, r] = 1 if idx[p, r] == c else 0: idx (outer, inner) class ids as floats, out (outer, C, inner).
    An id outside [0, C) (negative ones included) gives an all-zero vector, as Keras's one_hot."""
    outer, c_, inner = out.shape
    if idx.shape[0] != outer or idx.shape[1] != inner:
        raise ValueError("one_hot_forward: idx must be (outer, inner) for out (outer, C, inner)")
    zero = out.dtype.type(0.0)
    one = out.dtype.type(1.0)
    for p in range(outer):
        for c in range(c_):
            for r in range(inner):
                out[p, c, r] = zero
        for r in range(inner):
            v = idx[p, r]
            if v >= 0 and v < c_:
                out[p, int(v), r] = one
