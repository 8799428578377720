"""CUDA twin of kernels/cpu/elementwise.py: elementwise ops by code with broadcasting, slices, gathers, one-hot.

Same functions, arguments and meanings as the CPU module (its docstring has the code tables and the stride
convention). On the device:

- one thread per output element; the op code is dispatched inside the device code (``_unary_f``, ``_binary_f``
  and their slopes: a chain of ``if code == ...``), so one compiled kernel serves every code;
- a broadcast operand's gradient is summed over its broadcast positions on the device with ``cuda.atomic.add``
  (after a zeroing launch when not accumulating); in binary_backward a single-value operand's is first summed
  over each block in shared memory (one atomic per block); an operand that is not broadcast (C-contiguous strides
  covering it exactly) gets plain stores instead, in the same launch. Atomics add in an unspecified order, so a
  reduced gradient may differ from the CPU's sequential sum in the last bits;
- values the CPU kernels check by reading them (gather indices) cannot be checked on the host without a copy per
  call: an index that is out of range or not an integer leaves its output element untouched (forward) or adds
  nothing (backward) where the CPU kernel raises ValueError. Shapes, strides and codes are checked on the host
  with the CPU kernels' messages.

Arithmetic follows the CPU kernels: math functions run in the array's precision, the constants of the code table
are float64, results are rounded to the output's dtype when stored.
"""

import math

import numpy as np
from numba import cuda

from ..cpu.elementwise import (
    ABS,
    ADD,
    ARCCOS,
    ARCCOSH,
    ARCSIN,
    ARCSINH,
    ARCTAN,
    ARCTAN2,
    ARCTANH,
    CEIL,
    CHAIN_BINARY,
    CHAIN_INPUTS,
    CHAIN_MAX_OPS,
    CHAIN_MAX_REGS,
    CHAIN_PARTS,
    CHAIN_SCALAR_FIRST,
    CHAIN_UNARY,
    COPY,
    COS,
    COSH,
    DIVIDE,
    EQUAL,
    ERF,
    EXP,
    EXP2,
    EXPM1,
    FLOOR,
    FLOOR_DIVIDE,
    GREATER,
    GREATER_EQUAL,
    ISFINITE,
    ISINF,
    ISNAN,
    LESS,
    LESS_EQUAL,
    LOG,
    LOG1P,
    LOG2,
    LOG10,
    LOGICAL_AND,
    LOGICAL_NOT,
    LOGICAL_OR,
    LOGICAL_XOR,
    MAXIMUM,
    MINIMUM,
    MOD,
    MULTIPLY,
    N_BINARY,
    N_UNARY,
    NEG,
    NONZERO,
    NOT_EQUAL,
    POWER,
    RECIPROCAL,
    RELU,
    ROUND,
    RSQRT,
    SIGMOID,
    SIGN,
    SIN,
    SINH,
    SOFTPLUS,
    SQRT,
    SQUARE,
    SUBTRACT,
    TAN,
    TANH,
    TRUNC,
)
from . import _launch
from ._launch import device, kernel

_LN2 = 0.6931471805599453
_LN10 = 2.302585092994046
_TWO_OVER_SQRT_PI = 1.1283791670955126

# math.floor is a float function on the CUDA target; the simulator runs Python, where it returns an int (and
# fails on inf/nan), so there NumPy's floor stands in.
_floor = np.floor if _launch.SIMULATED else math.floor

#: Threads per block of the one-dimensional launches (the size of a block-sum buffer).
_BLOCK = _launch.THREADS

_V = "F[::1]"
_I = "int64"
_B = "boolean"


def _sig(*parts):
    return "void(" + ", ".join(parts) + ")"


# ---------------------------------------------------------------------------------------------- device helpers
@device
def _sigmoid(v):
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


@device
def _rint(v):
    """Round half to even (np.rint), from floor."""
    if not math.isfinite(v):
        return v
    f = _floor(v)
    d = v - f
    if d > 0.5:
        return f + 1.0
    if d < 0.5:
        return f
    h = 0.5 * f
    return f if _floor(h) == h else f + 1.0


@device
def _trunc(v):
    return _floor(v) if v >= 0 else -_floor(-v)


@device
def _unary_f(code, v):
    """f(v) for one element (the CPU's code table), computed in v's precision."""
    if code == NEG:
        return -v
    if code == ABS:
        return abs(v)
    if code == SIGN:
        if math.isnan(v):
            return v
        return 1.0 if v > 0 else (-1.0 if v < 0 else 0.0)
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
        if abs(v) == 1:
            return math.inf if v > 0 else -math.inf
        return math.nan
    if code == SIGMOID:
        return _sigmoid(v)
    if code == RELU:
        return v if v > 0 else (v if math.isnan(v) else 0.0)
    if code == SOFTPLUS:
        return (v if v > 0.0 else 0.0) + math.log1p(math.exp(-abs(v))) if not math.isnan(v) else v
    if code == LOG2:
        return math.log(v) / _LN2 if v > 0 else (-math.inf if v == 0 else math.nan)
    if code == LOG10:
        return math.log(v) / _LN10 if v > 0 else (-math.inf if v == 0 else math.nan)
    if code == EXP2:
        return math.exp(v * _LN2)
    if code == ERF:
        return math.erf(v)
    if code == FLOOR:
        return _floor(v)
    if code == CEIL:
        return -_floor(-v)
    if code == ROUND:
        return _rint(v)
    if code == TRUNC:
        return _trunc(v)
    if code == COPY:
        return v
    if code == LOGICAL_NOT:
        return 1.0 if v == 0 else 0.0
    if code == ISNAN:
        return 1.0 if math.isnan(v) else 0.0
    if code == ISINF:
        return 1.0 if math.isinf(v) else 0.0
    if code == ISFINITE:
        return 1.0 if math.isfinite(v) else 0.0
    if code == NONZERO:
        return 1.0 if v != 0 else 0.0
    return math.nan


@device
def _unary_slope(code, v, y):
    """d f / d v at v, given y = f(v)."""
    if code == NEG:
        return -1.0
    if code == ABS:
        return 1.0 if v > 0 else (-1.0 if v < 0 else 0.0)
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
    return 0.0


@device
def _binary_f(code, a, b):
    """f(a, b) for one pair of elements (the CPU's binary code table)."""
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
        return a if (a >= b or math.isnan(a)) else b
    if code == MINIMUM:
        return a if (a <= b or math.isnan(a)) else b
    if code == MOD:
        if b == 0:
            return math.nan
        return a - _floor(a / b) * b
    if code == FLOOR_DIVIDE:
        return _floor(a / b)
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


@device
def _slope_a(code, a, b, y):
    """d f / d a."""
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


@device
def _slope_b(code, a, b, y):
    """d f / d b."""
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
        return -_floor(a / b)
    if code == ARCTAN2:
        return -a / (a * a + b * b)
    return 0.0


@device
def _offset(o, n1, n2, n3, n4, s0, s1, s2, s3, s4):
    """The operand offset sum_k i_k s_k of flat output index o of a C-ordered (n0, n1, n2, n3, n4) box."""
    i4 = o % n4
    r = o // n4
    i3 = r % n3
    r = r // n3
    i2 = r % n2
    r = r // n2
    i1 = r % n1
    i0 = r // n1
    return i0 * s0 + i1 * s1 + i2 * s2 + i3 * s3 + i4 * s4


@device
def _index(v, n):
    """An index stored as a float, wrapped like NumPy's negative indices; -1 when out of range."""
    if math.isnan(v) or abs(v) > 1e15:
        return -1
    k = int(v)
    if k != v:
        return -1
    if k < 0:
        k += n
    if k < 0 or k >= n:
        return -1
    return k


# ---------------------------------------------------------------------------------------------- host helpers
_DUMMIES = {}


def _or_dummy(a, ndim):
    """``a``, or (when it has size 0: an argument the kernel skips) a cached one-element device array of its dtype
    with ``ndim`` axes, so that a skipped argument of any rank still matches the declared signature."""
    if a.size != 0:
        return a
    key = (np.dtype(a.dtype).str, ndim)
    if key not in _DUMMIES:
        _DUMMIES[key] = cuda.device_array((1,) * ndim, dtype=a.dtype)
    return _DUMMIES[key]


def _batch(size, n1, n2, n3, n4):
    if n1 < 0 or n2 < 0 or n3 < 0 or n4 < 0:
        return -1
    per = n1 * n2 * n3 * n4
    if per == 0:
        return 0 if size == 0 else -1
    return -1 if size % per else size // per


def _extent_ok(size, dims, strides):
    if any(s < 0 for s in strides):
        return False
    if any(n == 0 for n in dims):
        return True
    return sum((n - 1) * s for n, s in zip(dims, strides)) < size


def _contiguous(n1, n2, n3, n4, s):
    c4, c3 = 1, n4
    c2 = n3 * c3
    c1 = n2 * c2
    c0 = n1 * c1
    return ((s[4] == c4 or n4 == 1) and (s[3] == c3 or n3 == 1) and (s[2] == c2 or n2 == 1)
            and (s[1] == c1 or n1 == 1) and s[0] == c0)


# How a kernel writes one operand's gradient (see _grad_mode).
_SKIP, _STORE, _ADD, _ATOMIC, _REDUCE = 0, 1, 2, 3, 4


def _grad_mode(g, total, dims, strides, accumulate, reducible=False):
    """_SKIP for an empty gradient; _STORE / _ADD when the strides map the output onto g one to one (plain stores,
    overwriting or adding); else (after zeroing g unless accumulating) _REDUCE for a single value (all strides 0)
    where the kernel can (``reducible``): a block sum, then one atomic add per block instead of one per thread on
    a single address; else _ATOMIC."""
    if g.size == 0:
        return _SKIP
    if g.size == total and total > 0 and _contiguous(*dims[1:], strides):
        return _ADD if accumulate else _STORE
    if not accumulate:
        _zero1[_launch.grid(g.size)](g)
    return _REDUCE if reducible and not any(strides) else _ATOMIC


@device
def _block_sum(buf, v):
    """Sum of v over the block (blockDim.x a power of two); every thread gets the total."""
    tid = cuda.threadIdx.x
    buf[tid] = v
    cuda.syncthreads()
    s = cuda.blockDim.x // 2
    while s > 0:
        if tid < s:
            buf[tid] += buf[tid + s]
        cuda.syncthreads()
        s //= 2
    total = buf[0]
    cuda.syncthreads()
    return total


@device
def _put(g, i, v, mode):
    if mode == _STORE:
        g[i] = v
    elif mode == _ADD:
        g[i] += v
    elif mode == _ATOMIC:
        cuda.atomic.add(g, i, v)


@kernel(_sig(_V))
def _zero1(a):
    t = cuda.grid(1)
    if t < a.shape[0]:
        a[t] = 0.0


@kernel(_sig("F[:, :, ::1]"))
def _zero3(a):
    t = cuda.grid(1)
    n1, n2 = a.shape[1], a.shape[2]
    if t < a.shape[0] * n1 * n2:
        a[t // (n1 * n2), (t // n2) % n1, t % n2] = 0.0


# ---------------------------------------------------------------------------------------------- unary
@kernel(_sig(_I, _V, _V))
def _unary_forward(code, x, out):
    i = cuda.grid(1)
    if i < out.shape[0]:
        out[i] = _unary_f(code, x[i])


@kernel(_sig(_I, _V, _V, _V, _V))
def _unary_backward(code, x, y, dy, dx):
    i = cuda.grid(1)
    if i < dx.shape[0]:
        if code == NEG:
            dx[i] = -dy[i]
        elif code == COPY:
            dx[i] = dy[i]
        elif code == EXP:
            dx[i] = dy[i] * y[i]
        else:
            dx[i] = dy[i] * _unary_slope(code, x[i], y[i])


def unary_forward(code, x, out):
    """out = f(x) elementwise, as kernels.cpu.elementwise.unary_forward (one thread per element; out may be x)."""
    n = x.shape[0]
    if out.shape[0] != n:
        raise ValueError("unary_forward: x and out must have the same length")
    if code < 0 or code >= N_UNARY:
        raise ValueError("unary_forward: unknown code")
    if n:
        _unary_forward[_launch.grid(n)](int(code), x, out)


def unary_backward(code, x, y, dy, dx):
    """dx = dy * f'(x), as kernels.cpu.elementwise.unary_backward. Skipped when dx has size 0."""
    if dx.size == 0:
        return
    n = x.shape[0]
    if y.shape[0] != n or dy.shape[0] != n or dx.shape[0] != n:
        raise ValueError("unary_backward: x, y, dy and dx must have the same length")
    if code < 0 or code >= N_UNARY:
        raise ValueError("unary_backward: unknown code")
    _unary_backward[_launch.grid(n)](int(code), x, y, dy, dx)


# ---------------------------------------------------------------------------------------------- binary
_DIMS = (_I,) * 4
_STRIDES = (_I,) * 5


@kernel(_sig(_I, _V, _V, _V, *_DIMS, *_STRIDES, *_STRIDES))
def _binary_forward(code, a, b, out, n1, n2, n3, n4, sa0, sa1, sa2, sa3, sa4, sb0, sb1, sb2, sb3, sb4):
    o = cuda.grid(1)
    if o < out.shape[0]:
        ia = _offset(o, n1, n2, n3, n4, sa0, sa1, sa2, sa3, sa4)
        ib = _offset(o, n1, n2, n3, n4, sb0, sb1, sb2, sb3, sb4)
        out[o] = _binary_f(code, a[ia], b[ib])


@kernel(_sig(_I, _V, _V, _V, _V, _V, _V, _I, _I, *_DIMS, *_STRIDES, *_STRIDES))
def _binary_backward(code, a, b, y, dy, da, db, mode_a, mode_b, n1, n2, n3, n4, sa0, sa1, sa2, sa3, sa4,
                     sb0, sb1, sb2, sb3, sb4):
    buf = cuda.shared.array(_BLOCK, dtype=dy.dtype)
    o = cuda.grid(1)
    va = 0.0
    vb = 0.0
    if o < dy.shape[0]:
        ia = _offset(o, n1, n2, n3, n4, sa0, sa1, sa2, sa3, sa4)
        ib = _offset(o, n1, n2, n3, n4, sb0, sb1, sb2, sb3, sb4)
        g = dy[o]
        if mode_a != _SKIP:
            va = g * _slope_a(code, a[ia], b[ib], y[o])
            _put(da, ia, va, mode_a)
        if mode_b != _SKIP:
            vb = g * _slope_b(code, a[ia], b[ib], y[o])
            _put(db, ib, vb, mode_b)
    # A single-value operand: the block's sum, one atomic add (every thread of the block takes part).
    if mode_a == _REDUCE:
        va = _block_sum(buf, va)
        if cuda.threadIdx.x == 0:
            cuda.atomic.add(da, 0, va)
    if mode_b == _REDUCE:
        vb = _block_sum(buf, vb)
        if cuda.threadIdx.x == 0:
            cuda.atomic.add(db, 0, vb)


def binary_forward(code, a, b, out, n1, n2, n3, n4, sa0, sa1, sa2, sa3, sa4, sb0, sb1, sb2, sb3, sb4):
    """out = f(a, b) with broadcasting by strides, as kernels.cpu.elementwise.binary_forward (one thread per
    output element, its five indices recovered from the flat index)."""
    dims = (n1, n2, n3, n4)
    sa, sb = (sa0, sa1, sa2, sa3, sa4), (sb0, sb1, sb2, sb3, sb4)
    n0 = _batch(out.size, *dims)
    if n0 < 0:
        raise ValueError("binary_forward: the dims (n1..n4) do not tile out")
    if code < 0 or code >= N_BINARY:
        raise ValueError("binary_forward: unknown code")
    if not _extent_ok(a.size, (n0, *dims), sa):
        raise ValueError("binary_forward: a is too small for its strides")
    if not _extent_ok(b.size, (n0, *dims), sb):
        raise ValueError("binary_forward: b is too small for its strides")
    if out.size:
        _binary_forward[_launch.grid(out.size)](int(code), a, b, out, *map(int, dims + sa + sb))


def binary_backward(code, a, b, y, dy, da, db, accumulate_a, accumulate_b, n1, n2, n3, n4,
                    sa0, sa1, sa2, sa3, sa4, sb0, sb1, sb2, sb3, sb4):
    """da (+)= sum over broadcast positions of dy * df/da, db likewise, as kernels.cpu.elementwise.binary_backward.

    One thread per dy element; a broadcast operand's gradient is reduced with atomics (zeroed by a launch of its
    own first unless accumulating) -- a single value's by a block sum and one atomic add per block --, a
    one-to-one operand's is stored directly."""
    dims = (n1, n2, n3, n4)
    sa, sb = (sa0, sa1, sa2, sa3, sa4), (sb0, sb1, sb2, sb3, sb4)
    n0 = _batch(dy.size, *dims)
    if n0 < 0 or y.size != dy.size:
        raise ValueError("binary_backward: the dims (n1..n4) do not tile dy and y")
    if code < 0 or code >= N_BINARY:
        raise ValueError("binary_backward: unknown code")
    if not _extent_ok(a.size, (n0, *dims), sa):
        raise ValueError("binary_backward: a is too small for its strides")
    if not _extent_ok(b.size, (n0, *dims), sb):
        raise ValueError("binary_backward: b is too small for its strides")
    if (da.size != 0 and da.size != a.size) or (db.size != 0 and db.size != b.size):
        raise ValueError("binary_backward: da and db must have the sizes of a and b (or 0)")
    mode_a = _grad_mode(da, dy.size, (n0, *dims), sa, accumulate_a, True)
    mode_b = _grad_mode(db, dy.size, (n0, *dims), sb, accumulate_b, True)
    if (mode_a == _SKIP and mode_b == _SKIP) or dy.size == 0:
        return
    _binary_backward[_launch.grid(dy.size)](int(code), a, b, y, dy, _or_dummy(da, 1), _or_dummy(db, 1), mode_a,
                                            mode_b, *map(int, dims + sa + sb))


# ---------------------------------------------------------------------------------------------- with a scalar
@kernel(_sig(_I, _V, "F", _B, _V))
def _scalar_forward(code, x, c, scalar_first, out):
    i = cuda.grid(1)
    if i < out.shape[0]:
        v = x[i]
        if code == POWER and c == 2.0 and not scalar_first:
            out[i] = v * v
        elif scalar_first:
            out[i] = _binary_f(code, c, v)
        else:
            out[i] = _binary_f(code, v, c)


@kernel(_sig(_I, _V, "F", _B, _V, _V, _V))
def _scalar_backward(code, x, c, scalar_first, y, dy, dx):
    i = cuda.grid(1)
    if i < dx.shape[0]:
        if code == ADD:
            dx[i] = dy[i]
        elif code == MULTIPLY:
            dx[i] = dy[i] * c
        elif scalar_first:
            dx[i] = dy[i] * _slope_b(code, c, x[i], y[i])
        else:
            dx[i] = dy[i] * _slope_a(code, x[i], c, y[i])


def scalar_forward(code, x, s, scalar_first, out):
    """out = f(x, s) (or f(s, x)), as kernels.cpu.elementwise.scalar_forward; s is rounded to x's dtype first, as
    the CPU kernel does."""
    n = x.shape[0]
    if out.shape[0] != n:
        raise ValueError("scalar_forward: x and out must have the same length")
    if code < 0 or code >= N_BINARY:
        raise ValueError("scalar_forward: unknown code")
    if n:
        _scalar_forward[_launch.grid(n)](int(code), x, out.dtype.type(s), bool(scalar_first), out)


def scalar_backward(code, x, s, scalar_first, y, dy, dx):
    """dx = dy * d f(x, s) / dx (or of f(s, x)), as kernels.cpu.elementwise.scalar_backward. Skipped when dx has
    size 0."""
    if dx.size == 0:
        return
    n = x.shape[0]
    if y.shape[0] != n or dy.shape[0] != n or dx.shape[0] != n:
        raise ValueError("scalar_backward: x, y, dy and dx must have the same length")
    if n:
        _scalar_backward[_launch.grid(n)](int(code), x, dx.dtype.type(s), bool(scalar_first), y, dy, dx)


# ---------------------------------------------------------------------------------------------- fused chains
@device
def _pick(i, v0, v1, v2, v3, v4, v5, v6, v7):
    if i == 0:
        return v0
    if i == 1:
        return v1
    if i == 2:
        return v2
    if i == 3:
        return v3
    if i == 4:
        return v4
    if i == 5:
        return v5
    if i == 6:
        return v6
    return v7


@device
def _chain_value(k, t, x0, x1, x2, x3, r):
    if k == 0:
        return x0[t]
    if k == 1:
        return x1[t]
    if k == 2:
        return x2[t]
    if k == 3:
        return x3[t]
    return r[k - CHAIN_INPUTS]


@kernel(_sig(_I, *(_I,) * CHAIN_MAX_OPS, *("F",) * CHAIN_MAX_OPS, _V, _V, _V, _V, _V))
def _chain_forward(n_ops, op0, op1, op2, op3, op4, op5, op6, op7, s0, s1, s2, s3, s4, s5, s6, s7,
                   x0, x1, x2, x3, out):
    t = cuda.grid(1)
    if t >= out.shape[0]:
        return
    r = cuda.local.array(CHAIN_MAX_REGS, dtype=out.dtype)
    for i in range(n_ops):
        op = _pick(i, op0, op1, op2, op3, op4, op5, op6, op7)
        kind = op & 3
        code = (op >> 2) & 63
        v = _chain_value((op >> 8) & 15, t, x0, x1, x2, x3, r)
        if kind == CHAIN_UNARY:
            y = _unary_f(code, v)
        elif kind == CHAIN_BINARY:
            y = _binary_f(code, v, _chain_value((op >> 12) & 15, t, x0, x1, x2, x3, r))
        else:
            c = _pick(i, s0, s1, s2, s3, s4, s5, s6, s7)
            if code == POWER and c == 2.0 and kind != CHAIN_SCALAR_FIRST:
                y = v * v
            elif kind == CHAIN_SCALAR_FIRST:
                y = _binary_f(code, c, v)
            else:
                y = _binary_f(code, v, c)
        if i == n_ops - 1:
            out[t] = y
        else:
            r[(op >> 16) & 15] = y


def chain_forward(n_ops, op0, op1, op2, op3, op4, op5, op6, op7, s0, s1, s2, s3, s4, s5, s6, s7,
                  x0, x1, x2, x3, out, regs):
    """out = a chain of up to 8 elementwise instructions, as kernels.cpu.elementwise.chain_forward (same words,
    same checks): one thread per element runs the whole chain, its registers in local memory (each value rounded
    to out's dtype when stored, as the CPU's register rows are); ``regs`` is only checked (its rows bound the
    register numbers), the device needs no scratch. Inputs no instruction reads are replaced by a dummy."""
    n = out.shape[0]
    ops = (op0, op1, op2, op3, op4, op5, op6, op7)
    n_regs, block = regs.shape
    if n_ops < 1 or n_ops > CHAIN_MAX_OPS:
        raise ValueError("chain_forward: n_ops must be in [1, 8]")
    if n_regs < 1 or n_regs > CHAIN_MAX_REGS * CHAIN_PARTS or block < 1:
        raise ValueError("chain_forward: regs must be (R, block) with 1 <= R <= 32 and block >= 1")
    lengths = [x.shape[0] for x in (x0, x1, x2, x3)]
    written, used = 0, set()
    for i in range(n_ops):
        op = int(ops[i])
        if op < 0 or op >= 1 << 20:
            raise ValueError("chain_forward: an instruction word is out of range")
        kind, code, a, b, d = op & 3, (op >> 2) & 63, (op >> 8) & 15, (op >> 12) & 15, (op >> 16) & 15
        if code >= (N_UNARY if kind == CHAIN_UNARY else N_BINARY):
            raise ValueError("chain_forward: unknown code")
        for k in ((a, b) if kind == CHAIN_BINARY else (a,)):
            if k < CHAIN_INPUTS:
                if lengths[k] != n:
                    raise ValueError("chain_forward: an input an instruction reads does not have out's length")
                used.add(k)
            elif k - CHAIN_INPUTS >= n_regs or not (written >> (k - CHAIN_INPUTS)) & 1:
                raise ValueError("chain_forward: an instruction reads a register that is out of range or not "
                                 "written")
        if i < n_ops - 1:
            if d >= n_regs or d >= CHAIN_MAX_REGS:
                raise ValueError("chain_forward: a destination register is out of range (regs has too few rows)")
            if d + CHAIN_INPUTS == a or (kind == CHAIN_BINARY and d + CHAIN_INPUTS == b):
                raise ValueError("chain_forward: an instruction writes a register it reads")
            written |= 1 << d
    if n == 0:
        return
    xs = [x if k in used else _or_dummy(out[:0], 1) for k, x in enumerate((x0, x1, x2, x3))]
    t = out.dtype.type
    _chain_forward[_launch.grid(n)](int(n_ops), *(int(o) for o in ops), *(t(s) for s in (s0, s1, s2, s3, s4, s5,
                                                                                      s6, s7)), *xs, out)


# ---------------------------------------------------------------------------------------------- where, clip
@kernel(_sig(_V, _V, _V, _V, *_DIMS, *_STRIDES, *_STRIDES, *_STRIDES))
def _where_forward(c, a, b, out, n1, n2, n3, n4, sc0, sc1, sc2, sc3, sc4, sa0, sa1, sa2, sa3, sa4,
                   sb0, sb1, sb2, sb3, sb4):
    o = cuda.grid(1)
    if o < out.shape[0]:
        if c[_offset(o, n1, n2, n3, n4, sc0, sc1, sc2, sc3, sc4)] != 0:
            out[o] = a[_offset(o, n1, n2, n3, n4, sa0, sa1, sa2, sa3, sa4)]
        else:
            out[o] = b[_offset(o, n1, n2, n3, n4, sb0, sb1, sb2, sb3, sb4)]


@kernel(_sig(_V, _V, _V, _V, _I, _I, *_DIMS, *_STRIDES, *_STRIDES, *_STRIDES))
def _where_backward(c, dy, da, db, mode_a, mode_b, n1, n2, n3, n4, sc0, sc1, sc2, sc3, sc4,
                    sa0, sa1, sa2, sa3, sa4, sb0, sb1, sb2, sb3, sb4):
    o = cuda.grid(1)
    if o < dy.shape[0]:
        chosen = c[_offset(o, n1, n2, n3, n4, sc0, sc1, sc2, sc3, sc4)] != 0
        if mode_a != _SKIP:
            ia = _offset(o, n1, n2, n3, n4, sa0, sa1, sa2, sa3, sa4)
            if chosen:
                _put(da, ia, dy[o], mode_a)
            elif mode_a == _STORE:  # a one-to-one gradient is overwritten everywhere: 0 where b was chosen
                da[ia] = 0.0
        if mode_b != _SKIP:
            ib = _offset(o, n1, n2, n3, n4, sb0, sb1, sb2, sb3, sb4)
            if not chosen:
                _put(db, ib, dy[o], mode_b)
            elif mode_b == _STORE:
                db[ib] = 0.0


def where_forward(c, a, b, out, n1, n2, n3, n4, sc0, sc1, sc2, sc3, sc4, sa0, sa1, sa2, sa3, sa4,
                  sb0, sb1, sb2, sb3, sb4):
    """out = a where c != 0 else b, broadcast by strides, as kernels.cpu.elementwise.where_forward."""
    dims = (n1, n2, n3, n4)
    sc, sa, sb = (sc0, sc1, sc2, sc3, sc4), (sa0, sa1, sa2, sa3, sa4), (sb0, sb1, sb2, sb3, sb4)
    n0 = _batch(out.size, *dims)
    if n0 < 0:
        raise ValueError("where_forward: the dims (n1..n4) do not tile out")
    box = (n0, *dims)
    if not (_extent_ok(c.size, box, sc) and _extent_ok(a.size, box, sa) and _extent_ok(b.size, box, sb)):
        raise ValueError("where_forward: an operand is too small for its strides")
    if out.size:
        _where_forward[_launch.grid(out.size)](c, a, b, out, *map(int, dims + sc + sa + sb))


def where_backward(c, dy, da, db, accumulate_a, accumulate_b, n1, n2, n3, n4, sc0, sc1, sc2, sc3, sc4,
                   sa0, sa1, sa2, sa3, sa4, sb0, sb1, sb2, sb3, sb4):
    """da (+)= dy where c != 0, db (+)= dy elsewhere, summed over broadcast positions, as
    kernels.cpu.elementwise.where_backward (atomics for broadcast gradients, as binary_backward)."""
    dims = (n1, n2, n3, n4)
    sc, sa, sb = (sc0, sc1, sc2, sc3, sc4), (sa0, sa1, sa2, sa3, sa4), (sb0, sb1, sb2, sb3, sb4)
    n0 = _batch(dy.size, *dims)
    if n0 < 0:
        raise ValueError("where_backward: the dims (n1..n4) do not tile dy")
    box = (n0, *dims)
    if not _extent_ok(c.size, box, sc):
        raise ValueError("where_backward: c is too small for its strides")
    if (da.size != 0 and not _extent_ok(da.size, box, sa)) or (db.size != 0 and not _extent_ok(db.size, box, sb)):
        raise ValueError("where_backward: da or db is too small for its strides")
    mode_a = _grad_mode(da, dy.size, box, sa, accumulate_a)
    mode_b = _grad_mode(db, dy.size, box, sb, accumulate_b)
    if (mode_a == _SKIP and mode_b == _SKIP) or dy.size == 0:
        return
    _where_backward[_launch.grid(dy.size)](c, dy, _or_dummy(da, 1), _or_dummy(db, 1), mode_a, mode_b,
                                           *map(int, dims + sc + sa + sb))


@kernel(_sig(_V, "F", "F", _V))
def _clip_forward(x, lo, hi, out):
    i = cuda.grid(1)
    if i < out.shape[0]:
        v = x[i]
        v = lo if v < lo else v  # noqa: FURB136 - NaN passes through, as the CPU kernel
        out[i] = hi if v > hi else v  # noqa: FURB136


@kernel(_sig(_V, "float64", "float64", _V, _V))
def _clip_backward(x, lo, hi, dy, dx):
    i = cuda.grid(1)
    if i < dx.shape[0]:
        dx[i] = dy[i] if lo <= x[i] <= hi else 0.0


def clip_forward(x, lo, hi, out):
    """out = min(max(x, lo), hi), as kernels.cpu.elementwise.clip_forward (bounds rounded to x's dtype)."""
    n = x.shape[0]
    if out.shape[0] != n:
        raise ValueError("clip_forward: x and out must have the same length")
    if n:
        t = out.dtype.type
        _clip_forward[_launch.grid(n)](x, t(lo), t(hi), out)


def clip_backward(x, lo, hi, dy, dx):
    """dx = dy where lo <= x <= hi, else 0, as kernels.cpu.elementwise.clip_backward. Skipped when dx has size 0."""
    if dx.size == 0:
        return
    n = x.shape[0]
    if dy.shape[0] != n or dx.shape[0] != n:
        raise ValueError("clip_backward: x, dy and dx must have the same length")
    if n:
        _clip_backward[_launch.grid(n)](x, float(lo), float(hi), dy, dx)


# ---------------------------------------------------------------------------------------------- slices
def _slice_ok(x_size, out_size, d, b, t, o):
    n0 = _batch(x_size, *d)
    if n0 < 0 or min(o) < 0 or out_size != n0 * o[0] * o[1] * o[2] * o[3]:
        return -1
    for dk, bk, tk, ok in zip(d, b, t, o):
        if ok != 0 and not (0 <= bk < dk and 0 <= bk + (ok - 1) * tk < dk):
            return -1
    return n0


_SLICE = (_I,) * 16


@kernel(_sig(_V, _V, *_SLICE))
def _slice_forward(x, out, d1, d2, d3, d4, b1, b2, b3, b4, t1, t2, t3, t4, o1, o2, o3, o4):
    o = cuda.grid(1)
    if o < out.shape[0]:
        i4 = o % o4
        r = o // o4
        i3 = r % o3
        r = r // o3
        i2 = r % o2
        r = r // o2
        i1 = r % o1
        n = r // o1
        out[o] = x[(((n * d1 + b1 + i1 * t1) * d2 + b2 + i2 * t2) * d3 + b3 + i3 * t3) * d4 + b4 + i4 * t4]


@device
def _slice_pos(j, b, t, o):
    """Which output index i of an axis (indices b + i t, i < o) reads input index j, or -1 if none does (with a
    zero step every i reads b: the last one wins, as in the CPU's loop)."""
    if t == 0:
        return o - 1 if (j == b and o > 0) else -1
    d = j - b
    if t < 0:
        d = -d
        t = -t
    if d < 0 or d % t != 0:
        return -1
    q = d // t
    return q if q < o else -1


@kernel(_sig(_V, _V, *_SLICE))
def _slice_backward(dy, dx, d1, d2, d3, d4, b1, b2, b3, b4, t1, t2, t3, t4, o1, o2, o3, o4):
    e = cuda.grid(1)
    if e < dx.shape[0]:
        j4 = e % d4
        r = e // d4
        j3 = r % d3
        r = r // d3
        j2 = r % d2
        r = r // d2
        j1 = r % d1
        n = r // d1
        q1 = _slice_pos(j1, b1, t1, o1)
        q2 = _slice_pos(j2, b2, t2, o2)
        q3 = _slice_pos(j3, b3, t3, o3)
        q4 = _slice_pos(j4, b4, t4, o4)
        if q1 < 0 or q2 < 0 or q3 < 0 or q4 < 0:
            dx[e] = 0.0
        else:
            dx[e] = dy[(((n * o1 + q1) * o2 + q2) * o3 + q3) * o4 + q4]


def slice_forward(x, out, d1, d2, d3, d4, b1, b2, b3, b4, t1, t2, t3, t4, o1, o2, o3, o4):
    """A basic slice of each sample's per-sample axes, as kernels.cpu.elementwise.slice_forward (one thread per
    output element)."""
    args = (d1, d2, d3, d4, b1, b2, b3, b4, t1, t2, t3, t4, o1, o2, o3, o4)
    if _slice_ok(x.size, out.size, args[0:4], args[4:8], args[8:12], args[12:16]) < 0:
        raise ValueError("slice_forward: the slice does not fit in x or out")
    if out.size:
        _slice_forward[_launch.grid(out.size)](x, out, *map(int, args))


def slice_backward(dy, dx, d1, d2, d3, d4, b1, b2, b3, b4, t1, t2, t3, t4, o1, o2, o3, o4):
    """dx = 0 outside the slice, dy inside it, as kernels.cpu.elementwise.slice_backward: one thread per dx element
    finds the dy element (if any) that reads it, so there is no separate zeroing pass. Skipped when dx has size 0."""
    if dx.size == 0:
        return
    args = (d1, d2, d3, d4, b1, b2, b3, b4, t1, t2, t3, t4, o1, o2, o3, o4)
    if _slice_ok(dx.size, dy.size, args[0:4], args[4:8], args[8:12], args[12:16]) < 0:
        raise ValueError("slice_backward: the slice does not fit in dx or dy")
    _slice_backward[_launch.grid(dx.size)](dy, dx, *map(int, args))


# ---------------------------------------------------------------------------------------------- gathers
_A3 = "F[:, :, ::1]"
_A2 = "F[:, ::1]"


@kernel(_sig(_A3, _V, _V))
def _take_forward(x, idx, out):
    o = cuda.grid(1)
    if o < out.shape[0]:
        n, inner = x.shape[1], x.shape[2]
        m = idx.shape[0]
        j = o % inner
        r = o // inner
        q = r % m
        p = r // m
        k = _index(idx[q], n)
        if k >= 0:
            out[o] = x[p, k, j]


@kernel(_sig(_V, _V, _A3))
def _take_backward(idx, dy, dx):
    o = cuda.grid(1)
    if o < dy.shape[0]:
        n, inner = dx.shape[1], dx.shape[2]
        m = idx.shape[0]
        j = o % inner
        r = o // inner
        q = r % m
        p = r // m
        k = _index(idx[q], n)
        if k >= 0:
            cuda.atomic.add(dx, (p, k, j), dy[o])


def take_forward(x, idx, out):
    """out[p, q, :] = x[p, idx[q], :], as kernels.cpu.elementwise.take_forward (one thread per output element).

    An index out of range or not an integer leaves its output elements untouched (the CPU kernel raises)."""
    outer, _, inner = x.shape
    m = idx.shape[0]
    if out.size != outer * m * inner:
        raise ValueError("take_forward: out must have outer * len(idx) * inner elements")
    if out.size:
        _take_forward[_launch.grid(out.size)](x, idx, out)


def take_backward(idx, dy, dx, accumulate):
    """dx[p, idx[q], :] += dy[p, q, :] after zeroing dx unless ``accumulate``, as
    kernels.cpu.elementwise.take_backward: repeated indices meet in atomic adds. A bad index adds nothing (the CPU
    kernel raises). Skipped when dx has size 0."""
    if dx.size == 0:
        return
    outer, _, inner = dx.shape
    m = idx.shape[0]
    if dy.size != outer * m * inner:
        raise ValueError("take_backward: dy must have outer * len(idx) * inner elements")
    if not accumulate:
        _zero3[_launch.grid(dx.size)](dx)
    if dy.size:
        _take_backward[_launch.grid(dy.size)](idx, dy, dx)


@kernel(_sig(_A3, _A3, _A3))
def _take_along_axis_forward(x, idx, out):
    t = cuda.grid(1)
    m, inner = idx.shape[1], idx.shape[2]
    if t < idx.shape[0] * m * inner:
        r = t % inner
        q = (t // inner) % m
        p = t // (inner * m)
        k = _index(idx[p, q, r], x.shape[1])
        if k >= 0:
            out[p, q, r] = x[p, k, r]


@kernel(_sig(_A3, _A3, _A3))
def _take_along_axis_backward(idx, dy, dx):
    t = cuda.grid(1)
    m, inner = idx.shape[1], idx.shape[2]
    if t < idx.shape[0] * m * inner:
        r = t % inner
        q = (t // inner) % m
        p = t // (inner * m)
        k = _index(idx[p, q, r], dx.shape[1])
        if k >= 0:
            cuda.atomic.add(dx, (p, k, r), dy[p, q, r])


def take_along_axis_forward(x, idx, out):
    """out[p, q, r] = x[p, idx[p, q, r], r], as kernels.cpu.elementwise.take_along_axis_forward (one thread per
    output element; a bad index leaves its element untouched where the CPU kernel raises)."""
    outer, _, inner = x.shape
    if idx.shape[0] != outer or idx.shape[2] != inner or tuple(out.shape) != tuple(idx.shape):
        raise ValueError("take_along_axis_forward: x, idx and out disagree in outer or inner size")
    if out.size:
        _take_along_axis_forward[_launch.grid(out.size)](x, idx, out)


def take_along_axis_backward(idx, dy, dx):
    """dx = 0, then dx[p, idx[p, q, r], r] += dy[p, q, r] (atomics), as
    kernels.cpu.elementwise.take_along_axis_backward; a bad index adds nothing. Skipped when dx has size 0."""
    if dx.size == 0:
        return
    outer, _, inner = dx.shape
    if idx.shape[0] != outer or idx.shape[2] != inner or tuple(dy.shape) != tuple(idx.shape):
        raise ValueError("take_along_axis_backward: dx, idx and dy disagree in outer or inner size")
    _zero3[_launch.grid(dx.size)](dx)
    if dy.size:
        _take_along_axis_backward[_launch.grid(dy.size)](idx, dy, dx)


@kernel(_sig(_A2, _A3))
def _one_hot_forward(idx, out):
    t = cuda.grid(1)
    c_, inner = out.shape[1], out.shape[2]
    if t < out.shape[0] * c_ * inner:
        r = t % inner
        c = (t // inner) % c_
        p = t // (inner * c_)
        v = idx[p, r]
        out[p, c, r] = 1.0 if (v >= 0 and v < c_ and int(v) == c) else 0.0


def one_hot_forward(idx, out):
    """out[p, c, r] = 1 if idx[p, r] == c else 0, as kernels.cpu.elementwise.one_hot_forward (one thread per
    output element)."""
    outer, _, inner = out.shape
    if idx.shape[0] != outer or idx.shape[1] != inner:
        raise ValueError("one_hot_forward: idx must be (outer, inner) for out (outer, C, inner)")
    if out.size:
        _one_hot_forward[_launch.grid(out.size)](idx, out)
