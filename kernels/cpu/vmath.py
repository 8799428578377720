"""Vectorisable exp, expm1, log, log1p, tanh, sigmoid and softplus over 1-D arrays, for the elementwise kernels.

Why: numba lowers ``math.exp``/``math.tanh`` to scalar libm calls (no vector math library here), ~2 and ~14 ns an
element, where NumPy's SIMD loops take ~0.3. These are written in plain arithmetic that LLVM vectorises:

* exp / expm1: x = k ln2 + r with k = round(x / ln2) (the 1.5 * 2^52 shifter trick: adding it rounds, and the
  sum's low mantissa bits hold k), |r| <= ln2 / 2, ln2 split in two (Cody-Waite) so k ln2 is exact to ~2^-86;
  e^r by its Taylor polynomial (degree 13 for float64, 8 for float32), then 2^k built from bits: the shifter
  sum's bits minus the shifter's give k, and (k + 1023) << 52 reinterpreted as a float64 is 2^k (two tiny LLVM
  bitcast intrinsics, ``_f2i``/``_i2f``; under NUMBA_DISABLE_JIT NumPy views do the same).
  2^k is applied as two factors 2^(k >> 1) 2^(k - (k >> 1)) so results that overflow or fall into the
  subnormal range round once, as libm's do. Inputs are clamped to [-746, 710] first (beyond them the result is
  0 / inf either way); NaN passes every clamp (comparisons with NaN are false) and propagates.
  expm1 = 2^k (e^r - 1) + (2^k - 1) (no cancellation for small x), or (e^r) 2^k - 1 once 2^k > 2^52.
* log / log1p: x = 2^e m with m in [sqrt(1/2), sqrt(2)) read from the bits (subnormals scaled by 2^54 first);
  ln m = 2 atanh(s), s = (m - 1) / (m + 1), by its odd series; ln x = e ln2 + ln m. log1p(x) = ln(u) +
  (x - (u - 1)) / u with u = 1 + x, the correction restoring what rounding 1 + x lost. x < 0 (x < -1) gives NaN,
  0 (-1) gives -inf, inf gives inf.
* tanh(x) = sign(x) e / (e + 2) with e = expm1(2 min(|x|, 20)) (tanh(20) rounds to 1 in float64).
* sigmoid(x) = 1 / (1 + e) for x >= 0, e / (1 + e) for x < 0, e = exp(-|x|): nothing overflows.
* softplus(x) = max(x, 0) + log1p(exp(-|x|)).

float32 arrays are computed in float64 with shorter polynomials and rounded once at the store, so their results
are within an ulp -- but for the array tanh and exp, computed in float32 arithmetic (``_tanh32f``, ``_exp32f``: 16
lanes instead of 8; tanh 0.18 ns an element instead of 0.45, like NumPy's float32 tanh, within 3 ulp; exp 0.18
instead of 0.29, NumPy's 0.33, within 1 ulp; the scalar ``tanh32``/``exp32`` that other kernels call stay correctly
rounded); float64 results are within a few ulp (tests/kernels/test_vmath.py states and asserts the maxima). Every
scalar function here is branch-free (selects only) and inlined into its caller's loop, so a loop
``out[i] = _tanh64(x[i])`` vectorises whole; the array functions run one such loop, with a separate one for out = x
(LLVM's runtime overlap check would send an in-place call to the scalar loop). Strided views work (slower).
Kernels may call the scalar functions (``exp64``, ``tanh64``, ... full float64 accuracy; ``exp32``, ... for
values to be rounded to float32) inside their own loops.

These functions are compiled without ``reassoc`` (unlike the kernels, see ``policy``): reassociation would fold
(v * log2e + shifter) - shifter into v * log2e and break the rounding, and merge the two Cody-Waite products.
``contract`` (FMA) is kept: it only makes the reductions more exact.

Public functions here are helpers for CPU kernels, not kernels (no CUDA twin). The array ones take (x, out),
both 1-D float32 or float64 arrays of one length (the caller checks), and write out = f(x); float64 precision is
used when either is float64.
"""

import math
from decimal import Decimal, getcontext

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from .. import policy

def _vfunc(f=None, *, inline="always"):
    """Compile like a kernel but without reassoc; under NUMBA_DISABLE_JIT keep it as Python, silencing NumPy's
    overflow / invalid warnings (inf * 0 and the like are intended in the scratch arithmetic)."""
    if f is None:
        return lambda g: _vfunc(g, inline=inline)
    if policy.DISABLE_JIT:
        def quiet(*args):
            with np.errstate(all="ignore"):
                return f(*args)
        quiet.__name__ = f.__name__
        quiet.__doc__ = f.__doc__
        return quiet
    d = numba.njit(error_model="numpy", fastmath=policy.FASTMATH & {"contract"}, nogil=True, inline=inline)(f)
    policy._enable_cache(d)
    return d


if policy.DISABLE_JIT:
    def _f2i(v):
        return int(np.array(v, np.float64).view(np.int64))

    def _i2f(k):
        return np.array(int(k) & 0xFFFFFFFFFFFFFFFF, np.uint64).view(np.float64)[()]

    def _f2i32(v):
        return int(np.array(v, np.float32).view(np.int32))

    def _i2f32(k):
        return np.array(int(k) & 0xFFFFFFFF, np.uint32).view(np.float32)[()]
else:
    @intrinsic
    def _f2i32(typingctx, v):
        """The bits of a float32 as an int32."""
        if v != types.float32:
            return None

        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], ir.IntType(32))
        return types.int32(types.float32), codegen

    @intrinsic
    def _i2f32(typingctx, k):
        """An integer's low 32 bits as a float32."""
        if not isinstance(k, types.Integer):
            return None

        def codegen(context, builder, sig, args):
            return builder.bitcast(context.cast(builder, args[0], k, types.int32), ir.FloatType())
        return types.float32(k), codegen

    @intrinsic
    def _f2i(typingctx, v):
        """The bits of a float64 as an int64."""
        if v != types.float64:
            return None

        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], ir.IntType(64))
        return types.int64(types.float64), codegen

    @intrinsic
    def _i2f(typingctx, k):
        """An int64's bits as a float64."""
        if not isinstance(k, types.Integer):
            return None

        def codegen(context, builder, sig, args):
            return builder.bitcast(context.cast(builder, args[0], k, types.int64), ir.DoubleType())
        return types.float64(k), codegen


# ------------------------------------------------------------------ constants
def _split_ln2():
    """ln 2 = hi + lo with hi's low 32 bits zero, so k * hi is exact for |k| < 2^20."""
    getcontext().prec = 50
    ln2 = Decimal(2).ln()
    bits = np.array([float(ln2)]).view(np.int64)
    bits &= ~np.int64(0xFFFFFFFF)
    hi = float(bits.view(np.float64)[0])
    return hi, float(ln2 - Decimal(hi))


_LN2_HI, _LN2_LO = _split_ln2()
_LN2 = math.log(2.0)
_LOG2E = 1.0 / math.log(2.0)
_SHIFT = 6755399441055744.0  # 1.5 * 2^52: v + _SHIFT rounds v to an integer, kept in the low mantissa bits
_SHIFT_BITS = 0x4338000000000000  # the bits of _SHIFT
_EXP_HI = 710.0  # e^710 overflows float64
_EXP_LO = -746.0  # e^-746 < half the smallest subnormal
_TANH_CLAMP = 20.0  # tanh(20) = 1 - 8.5e-18 rounds to 1
_SQRT2 = math.sqrt(2.0)
_TINY = 2.2250738585072014e-308  # smallest normal float64
_TWO54 = 18014398509481984.0  # 2^54
_MANT = 0x000FFFFFFFFFFFFF
_ONE_BITS = 0x3FF0000000000000

# Taylor coefficients 1/n!
_C2 = 1.0 / 2.0
_C3 = 1.0 / 6.0
_C4 = 1.0 / 24.0
_C5 = 1.0 / 120.0
_C6 = 1.0 / 720.0
_C7 = 1.0 / 5040.0
_C8 = 1.0 / 40320.0
_C9 = 1.0 / 362880.0
_C10 = 1.0 / 3628800.0
_C11 = 1.0 / 39916800.0
_C12 = 1.0 / 479001600.0
_C13 = 1.0 / 6227020800.0
# 2 / (2n + 1): ln m = 2 s + s z (L1 + z (L2 + ...)), z = s^2
_L1 = 2.0 / 3.0
_L2 = 2.0 / 5.0
_L3 = 2.0 / 7.0
_L4 = 2.0 / 9.0
_L5 = 2.0 / 11.0
_L6 = 2.0 / 13.0
_L7 = 2.0 / 15.0
_L8 = 2.0 / 17.0
_L9 = 2.0 / 19.0
_L10 = 2.0 / 21.0


# ------------------------------------------------------------------ scalar pieces (inlined, branch-free)
@_vfunc
def _reduce(v):
    """(r, t): v clamped to [-746, 710] = k ln2 + r, |r| <= ln2/2, t = k + 1.5 * 2^52 (k in its low bits)."""
    v = _EXP_HI if v > _EXP_HI else v
    v = _EXP_LO if v < _EXP_LO else v
    t = v * _LOG2E + _SHIFT
    kd = t - _SHIFT
    return (v - kd * _LN2_HI) - kd * _LN2_LO, t


@_vfunc
def _scales(t):
    """2^(k >> 1) and 2^(k - (k >> 1)) for the k held in t (their product is 2^k, each factor normal)."""
    k = _f2i(t) - _SHIFT_BITS
    k1 = k >> 1
    return _i2f((k1 + 1023) << 52), _i2f((k - k1 + 1023) << 52)


@_vfunc
def _reduce32(v):
    """_reduce for results rounded to float32: clamp to [-104, 89] (beyond them float32 gives 0 / inf), one ln2
    constant (the product's rounding error, < 2e-14, is far below float32's precision)."""
    v = 89.0 if v > 89.0 else v
    v = -104.0 if v < -104.0 else v
    t = v * _LOG2E + _SHIFT
    return v - (t - _SHIFT) * _LN2, t


@_vfunc
def _scale32(t):
    """2^k for the k in t, |k| <= 151 (a normal float64)."""
    return _i2f((_f2i(t) - _SHIFT_BITS + 1023) << 52)


@_vfunc
def _pexp64(x):
    return 1.0 + x * (1.0 + x * (_C2 + x * (_C3 + x * (_C4 + x * (_C5 + x * (_C6 + x * (
        _C7 + x * (_C8 + x * (_C9 + x * (_C10 + x * (_C11 + x * (_C12 + x * _C13))))))))))))


@_vfunc
def _pexp32(x):
    return 1.0 + x * (1.0 + x * (_C2 + x * (_C3 + x * (_C4 + x * (_C5 + x * (_C6 + x * (_C7 + x * _C8)))))))


@_vfunc
def _pexpm1_64(x):
    return x + x * x * (_C2 + x * (_C3 + x * (_C4 + x * (_C5 + x * (_C6 + x * (_C7 + x * (
        _C8 + x * (_C9 + x * (_C10 + x * (_C11 + x * (_C12 + x * _C13)))))))))))


@_vfunc
def _pexpm1_32(x):
    return x + x * x * (_C2 + x * (_C3 + x * (_C4 + x * (_C5 + x * (_C6 + x * (_C7 + x * (_C8 + x * _C9)))))))


@_vfunc
def _expm1_join(v, em, t):
    """e^v - 1 from em = e^r - 1 and t (see _reduce)."""
    s1, s2 = _scales(t)
    s = s1 * s2
    small = (em * s1) * s2 + (s - 1.0)
    small = em if s == 1.0 else small  # k = 0: em itself
    small = v if v == 0.0 else small  # keeps -0.0
    big = ((em + 1.0) * s1) * s2 - 1.0
    return big if s > 4503599627370496.0 else small  # 2^52


@_vfunc
def _log_parts(v):
    """(e, f): v = 2^e (1 + f) with 1 + f in [sqrt(1/2), sqrt(2)), e as a float; for v > 0 (others fixed later)."""
    sub = v < _TINY
    b = _f2i(v * _TWO54 if sub else v)
    e = ((b >> 52) & 0x7FF) - (1023 + 54 if sub else 1023)
    m = _i2f((b & _MANT) | _ONE_BITS)
    hi = m > _SQRT2
    m = 0.5 * m if hi else m
    return float(e + 1 if hi else e), m - 1.0


@_vfunc
def _log_fix(v, r):
    """The special cases of ln v around the computed r."""
    r = math.nan if v < 0.0 else r
    r = -math.inf if v == 0.0 else r
    return v if (v == math.inf or v != v) else r


# ------------------------------------------------------------------ scalar functions (float64 / float32 accuracy)
# Private and inlined into vmath's own loops; kernels call the public wrappers below.
@_vfunc
def _exp64(v):
    r, t = _reduce(v)
    s1, s2 = _scales(t)
    return (_pexp64(r) * s1) * s2


@_vfunc
def _exp32(v):
    r, t = _reduce32(v)
    return _pexp32(r) * _scale32(t)


@_vfunc
def _expm1_64(v):
    r, t = _reduce(v)
    return _expm1_join(v, _pexpm1_64(r), t)


@_vfunc
def _expm1_32(v):
    r, t = _reduce32(v)
    em = _pexpm1_32(r)
    sc = _scale32(t)
    y = em * sc + (sc - 1.0)  # k <= 129: sc - 1 and the sum round below float32's precision
    y = em if sc == 1.0 else y
    return v if v == 0.0 else y  # keeps -0.0


@_vfunc
def _log64(v):
    e, f = _log_parts(v)
    s = f / (2.0 + f)
    z = s * s
    lm = 2.0 * s + s * z * (_L1 + z * (_L2 + z * (_L3 + z * (_L4 + z * (_L5 + z * (_L6 + z * (
        _L7 + z * (_L8 + z * (_L9 + z * _L10)))))))))
    return _log_fix(v, e * _LN2_HI + (lm + e * _LN2_LO))


@_vfunc
def _log32(v):
    e, f = _log_parts(v)
    s = f / (2.0 + f)
    z = s * s
    lm = 2.0 * s + s * z * (_L1 + z * (_L2 + z * (_L3 + z * (_L4 + z * (_L5 + z * _L6)))))
    return _log_fix(v, e * _LN2_HI + (lm + e * _LN2_LO))


@_vfunc
def _log1p_join(v, u, lu):
    """ln(1 + v) from u = 1 + v and lu = ln u: adds back what rounding 1 + v lost."""
    r = lu if (u == 0.0 or u == math.inf or u != u) else lu + (v - (u - 1.0)) / u
    return v if u == 1.0 else r  # |v| < 2^-53: log1p(v) = v (keeps -0.0)


@_vfunc
def _log1p64(v):
    u = 1.0 + v
    return _log1p_join(v, u, _log64(u))


@_vfunc
def _log1p32(v):
    u = 1.0 + v
    return _log1p_join(v, u, _log32(u))


@_vfunc
def _tanh64(v):
    a = abs(v)
    e = _expm1_64(2.0 * (_TANH_CLAMP if a > _TANH_CLAMP else a))
    return math.copysign(e / (e + 2.0), v)


@_vfunc
def _tanh32(v):
    """tanh for float32 results: |v| clamped to 9.5 (tanh(9.5) rounds to 1 in float32), so 2|v| = k ln2 + r
    with 0 <= k <= 28 and e^2|v| - 1 = 2^k em + (2^k - 1) needs no overflow handling."""
    a = abs(v)
    a = 19.0 if a > 9.5 else 2.0 * a
    t = a * _LOG2E + _SHIFT
    r = a - (t - _SHIFT) * _LN2
    em = _pexpm1_32(r)
    sc = _scale32(t)
    e = em * sc + (sc - 1.0)
    return math.copysign(e / (e + 2.0), v)


# float32 constants of the native float32 tanh (numba keeps a NumPy float32 global a float32 constant)
_F32_TWO = np.float32(2.0)
_F32_ONE = np.float32(1.0)
_F32_CLAMP = np.float32(9.5)
_F32_LOG2E = np.float32(_LOG2E)
_F32_SHIFT = np.float32(12582912.0)  # 1.5 * 2^23: v + it rounds v to an integer, kept in the low mantissa bits
_F32_SHIFT_BITS = np.int32(0x4B400000)
_F32_LN2_HI = np.float32(0.693145751953125)  # ln 2 to 16 bits: k * hi is exact for |k| < 256
_F32_LN2_LO = np.float32(_LN2 - 0.693145751953125)
_F32_E2, _F32_E3, _F32_E4, _F32_E5, _F32_E6, _F32_E7 = (np.float32(1.0 / math.factorial(k)) for k in range(2, 8))


@_vfunc
def _reduce32f(v):
    """(r, t) in float32 arithmetic: v = k ln2 + r, |r| <= ln2 / 2, t = k + 1.5 * 2^23 (k in its low bits)."""
    t = v * _F32_LOG2E + _F32_SHIFT
    kd = t - _F32_SHIFT
    return (v - kd * _F32_LN2_HI) - kd * _F32_LN2_LO, t


@_vfunc
def _tanh32f(v):
    """tanh of a float32 in float32 arithmetic (twice the lanes of _tanh32's float64; 2.3 ulp where _tanh32 is
    correctly rounded): 2|v| clamped to 19 = k ln2 + r (ln2 in two parts, |r| <= ln2 / 2, 0 <= k <= 28),
    e^r - 1 by its Taylor polynomial to r^7, e^2|v| - 1 = 2^k em + (2^k - 1), tanh = sign(v) e / (e + 2)."""
    a = abs(v)
    a = _F32_TWO * (_F32_CLAMP if a > _F32_CLAMP else a)
    r, t = _reduce32f(a)
    em = r + r * r * (_F32_E2 + r * (_F32_E3 + r * (_F32_E4 + r * (_F32_E5 + r * (_F32_E6 + r * _F32_E7)))))
    sc = _i2f32(((_f2i32(t) - _F32_SHIFT_BITS) + 127) << 23)
    e = em * sc + (sc - _F32_ONE)
    return math.copysign(e / (e + _F32_TWO), v)


_F32_EXP_HI = np.float32(89.0)  # e^88.73 overflows float32
_F32_EXP_LO = np.float32(-104.0)  # e^-103.98 is below half the smallest float32 subnormal


@_vfunc
def _exp32f(v):
    """e^v of a float32 in float32 arithmetic (twice the lanes of _exp32's float64; measured within 0.92 ulp
    where _exp32 is correctly rounded): v clamped to [-104, 89] = k ln2 + r (ln2 in two parts, |r| <= ln2 / 2,
    -150 <= k <= 129), e^r by its Taylor polynomial to r^7, times 2^k as two normal factors 2^(k >> 1)
    2^(k - (k >> 1)), so a subnormal result rounds once. NaN passes the clamps and propagates."""
    v = _F32_EXP_HI if v > _F32_EXP_HI else v
    v = _F32_EXP_LO if v < _F32_EXP_LO else v
    r, t = _reduce32f(v)
    p = _F32_ONE + r * (_F32_ONE + r * (_F32_E2 + r * (_F32_E3 + r * (_F32_E4 + r * (_F32_E5 + r * (
        _F32_E6 + r * _F32_E7))))))
    k = _f2i32(t) - _F32_SHIFT_BITS
    k1 = k >> 1
    return (p * _i2f32((k1 + 127) << 23)) * _i2f32((k - k1 + 127) << 23)


@_vfunc
def _sigmoid64(v):
    e = _exp64(-abs(v))
    q = 1.0 / (1.0 + e)
    return q if v >= 0.0 else e * q  # NaN: e is NaN, so is either


@_vfunc
def _sigmoid32(v):
    e = _exp32(-abs(v))
    q = 1.0 / (1.0 + e)
    return q if v >= 0.0 else e * q


@_vfunc
def _softplus64(v):
    """ln(1 + e^v) = max(v, 0) + log1p(e^-|v|)."""
    r = (v if v > 0.0 else 0.0) + _log1p64(_exp64(-abs(v)))
    return r if v == v else v


@_vfunc
def _softplus32(v):
    r = (v if v > 0.0 else 0.0) + _log1p32(_exp32(-abs(v)))
    return r if v == v else v


# ------------------------------------------------------------------ public scalar functions, for kernels' loops
# Not inlined at numba's level: inlined there, a function takes on its caller's fastmath flags, and the kernels'
# reassoc folds the shifter and log1p's correction away. LLVM still inlines these calls into a kernel's loop (the
# instructions keep their own flags) and vectorises it.
@_vfunc(inline="never")
def exp64(v):
    return _exp64(v)


@_vfunc(inline="never")
def exp32(v):
    return _exp32(v)


@_vfunc(inline="never")
def expm1_64(v):
    return _expm1_64(v)


@_vfunc(inline="never")
def expm1_32(v):
    return _expm1_32(v)


@_vfunc(inline="never")
def log64(v):
    return _log64(v)


@_vfunc(inline="never")
def log32(v):
    return _log32(v)


@_vfunc(inline="never")
def log1p64(v):
    return _log1p64(v)


@_vfunc(inline="never")
def log1p32(v):
    return _log1p32(v)


@_vfunc(inline="never")
def tanh64(v):
    return _tanh64(v)


@_vfunc(inline="never")
def tanh32(v):
    return _tanh32(v)


@_vfunc(inline="never")
def sigmoid64(v):
    return _sigmoid64(v)


@_vfunc(inline="never")
def sigmoid32(v):
    return _sigmoid32(v)


@_vfunc(inline="never")
def softplus64(v):
    return _softplus64(v)


@_vfunc(inline="never")
def softplus32(v):
    return _softplus32(v)


# ------------------------------------------------------------------ array functions
@_vfunc
def _same(x, out):
    return x.ctypes.data == out.ctypes.data and x.strides[0] == out.strides[0]


@_vfunc(inline="never")
def exp(x, out):
    """out = e^x."""
    n = x.shape[0]
    t = out.dtype.type
    if x.itemsize == 8 or out.itemsize == 8:
        if _same(x, out):
            for i in range(n):
                out[i] = t(_exp64(np.float64(out[i])))
        else:
            for i in range(n):
                out[i] = t(_exp64(np.float64(x[i])))
    elif _same(x, out):
        for i in range(n):
            out[i] = t(_exp32f(np.float32(out[i])))
    else:
        for i in range(n):
            out[i] = t(_exp32f(np.float32(x[i])))


@_vfunc(inline="never")
def expm1(x, out):
    """out = e^x - 1."""
    n = x.shape[0]
    t = out.dtype.type
    if x.itemsize == 8 or out.itemsize == 8:
        if _same(x, out):
            for i in range(n):
                out[i] = t(_expm1_64(np.float64(out[i])))
        else:
            for i in range(n):
                out[i] = t(_expm1_64(np.float64(x[i])))
    elif _same(x, out):
        for i in range(n):
            out[i] = t(_expm1_32(np.float64(out[i])))
    else:
        for i in range(n):
            out[i] = t(_expm1_32(np.float64(x[i])))


@_vfunc(inline="never")
def log(x, out):
    """out = ln x (NaN for x < 0, -inf at 0)."""
    n = x.shape[0]
    t = out.dtype.type
    if x.itemsize == 8 or out.itemsize == 8:
        if _same(x, out):
            for i in range(n):
                out[i] = t(_log64(np.float64(out[i])))
        else:
            for i in range(n):
                out[i] = t(_log64(np.float64(x[i])))
    elif _same(x, out):
        for i in range(n):
            out[i] = t(_log32(np.float64(out[i])))
    else:
        for i in range(n):
            out[i] = t(_log32(np.float64(x[i])))


@_vfunc(inline="never")
def log1p(x, out):
    """out = ln(1 + x) (NaN for x < -1, -inf at -1)."""
    n = x.shape[0]
    t = out.dtype.type
    if x.itemsize == 8 or out.itemsize == 8:
        if _same(x, out):
            for i in range(n):
                out[i] = t(_log1p64(np.float64(out[i])))
        else:
            for i in range(n):
                out[i] = t(_log1p64(np.float64(x[i])))
    elif _same(x, out):
        for i in range(n):
            out[i] = t(_log1p32(np.float64(out[i])))
    else:
        for i in range(n):
            out[i] = t(_log1p32(np.float64(x[i])))


@_vfunc(inline="never")
def tanh(x, out):
    """out = tanh x."""
    n = x.shape[0]
    t = out.dtype.type
    if x.itemsize == 8 or out.itemsize == 8:
        if _same(x, out):
            for i in range(n):
                out[i] = t(_tanh64(np.float64(out[i])))
        else:
            for i in range(n):
                out[i] = t(_tanh64(np.float64(x[i])))
    elif _same(x, out):
        for i in range(n):
            out[i] = t(_tanh32f(np.float32(out[i])))
    else:
        for i in range(n):
            out[i] = t(_tanh32f(np.float32(x[i])))


@_vfunc(inline="never")
def sigmoid(x, out):
    """out = 1 / (1 + e^-x)."""
    n = x.shape[0]
    t = out.dtype.type
    if x.itemsize == 8 or out.itemsize == 8:
        if _same(x, out):
            for i in range(n):
                out[i] = t(_sigmoid64(np.float64(out[i])))
        else:
            for i in range(n):
                out[i] = t(_sigmoid64(np.float64(x[i])))
    elif _same(x, out):
        for i in range(n):
            out[i] = t(_sigmoid32(np.float64(out[i])))
    else:
        for i in range(n):
            out[i] = t(_sigmoid32(np.float64(x[i])))


@_vfunc(inline="never")
def softplus(x, out):
    """out = ln(1 + e^x)."""
    n = x.shape[0]
    t = out.dtype.type
    if x.itemsize == 8 or out.itemsize == 8:
        if _same(x, out):
            for i in range(n):
                out[i] = t(_softplus64(np.float64(out[i])))
        else:
            for i in range(n):
                out[i] = t(_softplus64(np.float64(x[i])))
    elif _same(x, out):
        for i in range(n):
            out[i] = t(_softplus32(np.float64(out[i])))
    else:
        for i in range(n):
            out[i] = t(_softplus32(np.float64(x[i])))
