"""Vectorisable exp, expm1, log, log1p, tanh, sigmoid and softplus over 1-D arrays, for the elementwise kernels.

Why: numba lowers ``math.exp``/``math.tanh`` to scalar libm calls (no vector math library here), ~2 and ~14 ns an
element, where NumPy's SIMD loops take ~0.3. These are written in plain arithmetic that LLVM vectorises:

* exp / expm1: x = k ln2 + r with k = round(x / ln2) (the 1.5 * 2^52 shifter trick: adding it rounds, and the
  sum's low mantissa bits hold k), |r| <= ln2 / 2, ln2 split in two (Cody-Waite) so k ln2 is exact to ~2^-86;
  e^r by its Taylor polynomial (degree 13 for float64, 8 for float32), then 2^k built from bits: the shifter sums
  are stored in a float64 scratch block, read back through its int64 view, and (k + 1023) << 52 written there.
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
are within an ulp; float64 results are within a few ulp (tests/kernels/test_vmath.py states and asserts the
maxima). Each function works through blocks of ``_BLOCK`` elements: the input block is copied into contiguous
float64 scratch, every stage is one branch-free loop over scratch, then the block is stored. So ``x`` and ``out``
may be strided views and may alias (out = x) without defeating vectorisation.

These functions are compiled without ``reassoc`` (unlike the kernels, see ``policy``): reassociation would fold
(v * log2e + shifter) - shifter into v * log2e and break the rounding, and merge the two Cody-Waite products.
``contract`` (FMA) is kept: it only makes the reductions more exact.

Public functions here are helpers for CPU kernels, not kernels (no CUDA twin): each takes (x, out), both 1-D
float32 or float64 arrays of one length (the caller checks), and writes out = f(x).
"""

import math
from decimal import Decimal, getcontext

import numba
import numpy as np

from .. import policy

_BLOCK = 512


def _vfunc(f):
    """Compile like a kernel but without reassoc; under NUMBA_DISABLE_JIT keep it as Python, silencing NumPy's
    overflow / invalid warnings (inf * 0 and the like are intended in the scratch arithmetic)."""
    if policy.DISABLE_JIT:
        def quiet(*args):
            with np.errstate(all="ignore"):
                return f(*args)
        quiet.__name__ = f.__name__
        quiet.__doc__ = f.__doc__
        return quiet
    d = numba.njit(error_model="numpy", fastmath={"contract"}, nogil=True, inline="never")(f)
    policy._enable_cache(d)
    return d


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


# ------------------------------------------------------------------ stages (each one loop over scratch)
@_vfunc
def _load(x, j0, m, a):
    for i in range(m):
        a[i] = x[j0 + i]


@_vfunc
def _store(a, m, out, j0):
    t = out.dtype.type
    for i in range(m):
        out[j0 + i] = t(a[i])


@_vfunc
def _reduce(a, m, r, kb):
    """r = a - k ln2 (|r| <= ln2/2) and kb = k + 1.5 * 2^52, after clamping a to [-746, 710]."""
    for i in range(m):
        v = a[i]
        v = _EXP_HI if v > _EXP_HI else v
        v = _EXP_LO if v < _EXP_LO else v
        t = v * _LOG2E + _SHIFT
        kd = t - _SHIFT
        r[i] = (v - kd * _LN2_HI) - kd * _LN2_LO
        kb[i] = t


@_vfunc
def _scales(kb, r, m):
    """Overwrite kb with 2^(k >> 1) and r with 2^(k - (k >> 1)), k from kb's bits (r must be consumed)."""
    kbits = kb.view(np.int64)
    rbits = r.view(np.int64)
    for i in range(m):
        k = kbits[i] - _SHIFT_BITS
        k1 = k >> 1
        kbits[i] = (k1 + 1023) << 52
        rbits[i] = (k - k1 + 1023) << 52


@_vfunc
def _poly_exp(r, m, p, full):
    """p = e^r."""
    if full:
        for i in range(m):
            x = r[i]
            p[i] = 1.0 + x * (1.0 + x * (_C2 + x * (_C3 + x * (_C4 + x * (_C5 + x * (_C6 + x * (
                _C7 + x * (_C8 + x * (_C9 + x * (_C10 + x * (_C11 + x * (_C12 + x * _C13))))))))))))
    else:
        for i in range(m):
            x = r[i]
            p[i] = 1.0 + x * (1.0 + x * (_C2 + x * (_C3 + x * (_C4 + x * (_C5 + x * (_C6 + x * (
                _C7 + x * _C8)))))))


@_vfunc
def _poly_expm1(r, m, p, full):
    """p = e^r - 1."""
    if full:
        for i in range(m):
            x = r[i]
            p[i] = x + x * x * (_C2 + x * (_C3 + x * (_C4 + x * (_C5 + x * (_C6 + x * (_C7 + x * (
                _C8 + x * (_C9 + x * (_C10 + x * (_C11 + x * (_C12 + x * _C13)))))))))))
    else:
        for i in range(m):
            x = r[i]
            p[i] = x + x * x * (_C2 + x * (_C3 + x * (_C4 + x * (_C5 + x * (_C6 + x * (_C7 + x * (
                _C8 + x * _C9)))))))


@_vfunc
def _exp_block(a, m, r, kb, p, full):
    """a = e^a on a[:m] (r, kb, p: scratch of at least m)."""
    _reduce(a, m, r, kb)
    _poly_exp(r, m, p, full)
    _scales(kb, r, m)
    for i in range(m):
        a[i] = (p[i] * kb[i]) * r[i]


@_vfunc
def _expm1_block(a, m, r, kb, p, full):
    """a = e^a - 1 on a[:m]."""
    _reduce(a, m, r, kb)
    _poly_expm1(r, m, p, full)
    _scales(kb, r, m)
    for i in range(m):
        em = p[i]
        s1 = kb[i]
        s2 = r[i]
        s = s1 * s2
        small = (em * s1) * s2 + (s - 1.0)
        big = ((em + 1.0) * s1) * s2 - 1.0
        small = em if s == 1.0 else small  # k = 0: em itself
        v = a[i]  # (still the input)
        small = v if v == 0.0 else small  # keeps -0.0
        a[i] = big if s > 4503599627370496.0 else small  # 2^52


@_vfunc
def _log_block(a, m, e, p, full):
    """a = ln a on a[:m] (e, p: scratch)."""
    bits = a.view(np.int64)
    for i in range(m):  # subnormals: scale into the normal range first, remember it in e
        v = a[i]
        sub = v < _TINY
        e[i] = -54.0 if sub else 0.0
        p[i] = v  # the input, for the special cases at the end
        a[i] = v * _TWO54 if sub else v
    for i in range(m):  # split the bits into exponent and mantissa in [1, 2)
        b = bits[i]
        e[i] += ((b >> 52) & 0x7FF) - 1023
        bits[i] = (b & _MANT) | _ONE_BITS
    if full:
        for i in range(m):
            mm = a[i]
            hi = mm > _SQRT2
            mm = 0.5 * mm if hi else mm
            ex = e[i] + 1.0 if hi else e[i]
            s = (mm - 1.0) / (mm + 1.0)
            z = s * s
            lm = 2.0 * s + s * z * (_L1 + z * (_L2 + z * (_L3 + z * (_L4 + z * (_L5 + z * (_L6 + z * (
                _L7 + z * (_L8 + z * (_L9 + z * _L10)))))))))
            r = ex * _LN2_HI + (lm + ex * _LN2_LO)
            v = p[i]
            r = math.nan if v < 0.0 else r
            r = -math.inf if v == 0.0 else r
            a[i] = v if (v == math.inf or v != v) else r
    else:
        for i in range(m):
            mm = a[i]
            hi = mm > _SQRT2
            mm = 0.5 * mm if hi else mm
            ex = e[i] + 1.0 if hi else e[i]
            s = (mm - 1.0) / (mm + 1.0)
            z = s * s
            lm = 2.0 * s + s * z * (_L1 + z * (_L2 + z * (_L3 + z * (_L4 + z * (_L5 + z * _L6)))))
            r = ex * _LN2_HI + (lm + ex * _LN2_LO)
            v = p[i]
            r = math.nan if v < 0.0 else r
            r = -math.inf if v == 0.0 else r
            a[i] = v if (v == math.inf or v != v) else r


@_vfunc
def _log1p_block(a, m, e, p, q):
    """a = ln(1 + a) on a[:m] (e, p, q: scratch)."""
    for i in range(m):
        v = a[i]
        q[i] = v
        a[i] = 1.0 + v
    _log_block(a, m, e, p, True)  # leaves u = 1 + x in p
    for i in range(m):
        u = p[i]
        c = (q[i] - (u - 1.0)) / u
        r = a[i]
        r = r if (u == 0.0 or u == math.inf or u != u) else r + c
        a[i] = q[i] if u == 1.0 else r  # |x| < 2^-53: log1p(x) = x (keeps -0.0)


@_vfunc
def _log1p_block_short(a, m, e, p, q):
    """_log1p_block with the float32-precision polynomial."""
    for i in range(m):
        v = a[i]
        q[i] = v
        a[i] = 1.0 + v
    _log_block(a, m, e, p, False)
    for i in range(m):
        u = p[i]
        c = (q[i] - (u - 1.0)) / u
        r = a[i]
        r = r if (u == 0.0 or u == math.inf or u != u) else r + c
        a[i] = q[i] if u == 1.0 else r  # |x| < 2^-53: log1p(x) = x (keeps -0.0)


# ------------------------------------------------------------------ the public helpers
@_vfunc
def _full(x, out):
    return x.itemsize == 8 or out.itemsize == 8


@_vfunc
def exp(x, out):
    """out = e^x."""
    n = x.shape[0]
    full = _full(x, out)
    a = np.empty(_BLOCK, np.float64)
    b = np.empty(_BLOCK, np.float64)
    c = np.empty(_BLOCK, np.float64)
    d = np.empty(_BLOCK, np.float64)
    for j0 in range(0, n, _BLOCK):
        m = min(_BLOCK, n - j0)
        _load(x, j0, m, a)
        _exp_block(a, m, b, c, d, full)
        _store(a, m, out, j0)


@_vfunc
def expm1(x, out):
    """out = e^x - 1."""
    n = x.shape[0]
    full = _full(x, out)
    a = np.empty(_BLOCK, np.float64)
    b = np.empty(_BLOCK, np.float64)
    c = np.empty(_BLOCK, np.float64)
    d = np.empty(_BLOCK, np.float64)
    for j0 in range(0, n, _BLOCK):
        m = min(_BLOCK, n - j0)
        _load(x, j0, m, a)
        _expm1_block(a, m, b, c, d, full)
        _store(a, m, out, j0)


@_vfunc
def log(x, out):
    """out = ln x (NaN for x < 0, -inf at 0)."""
    n = x.shape[0]
    full = _full(x, out)
    a = np.empty(_BLOCK, np.float64)
    b = np.empty(_BLOCK, np.float64)
    c = np.empty(_BLOCK, np.float64)
    for j0 in range(0, n, _BLOCK):
        m = min(_BLOCK, n - j0)
        _load(x, j0, m, a)
        _log_block(a, m, b, c, full)
        _store(a, m, out, j0)


@_vfunc
def log1p(x, out):
    """out = ln(1 + x) (NaN for x < -1, -inf at -1)."""
    n = x.shape[0]
    full = _full(x, out)
    a = np.empty(_BLOCK, np.float64)
    b = np.empty(_BLOCK, np.float64)
    c = np.empty(_BLOCK, np.float64)
    d = np.empty(_BLOCK, np.float64)
    for j0 in range(0, n, _BLOCK):
        m = min(_BLOCK, n - j0)
        _load(x, j0, m, a)
        if full:
            _log1p_block(a, m, b, c, d)
        else:
            _log1p_block_short(a, m, b, c, d)
        _store(a, m, out, j0)


@_vfunc
def tanh(x, out):
    """out = tanh x."""
    n = x.shape[0]
    full = _full(x, out)
    a = np.empty(_BLOCK, np.float64)
    b = np.empty(_BLOCK, np.float64)
    c = np.empty(_BLOCK, np.float64)
    d = np.empty(_BLOCK, np.float64)
    s = np.empty(_BLOCK, np.float64)
    for j0 in range(0, n, _BLOCK):
        m = min(_BLOCK, n - j0)
        _load(x, j0, m, s)
        for i in range(m):
            v = abs(s[i])
            a[i] = 2.0 * (_TANH_CLAMP if v > _TANH_CLAMP else v)
        _expm1_block(a, m, b, c, d, full)
        for i in range(m):
            e = a[i]
            a[i] = math.copysign(e / (e + 2.0), s[i])
        _store(a, m, out, j0)


@_vfunc
def sigmoid(x, out):
    """out = 1 / (1 + e^-x)."""
    n = x.shape[0]
    full = _full(x, out)
    a = np.empty(_BLOCK, np.float64)
    b = np.empty(_BLOCK, np.float64)
    c = np.empty(_BLOCK, np.float64)
    d = np.empty(_BLOCK, np.float64)
    s = np.empty(_BLOCK, np.float64)
    for j0 in range(0, n, _BLOCK):
        m = min(_BLOCK, n - j0)
        _load(x, j0, m, s)
        for i in range(m):
            a[i] = -abs(s[i])
        _exp_block(a, m, b, c, d, full)
        for i in range(m):
            e = a[i]
            q = 1.0 / (1.0 + e)
            a[i] = q if s[i] >= 0.0 else e * q  # NaN: e is NaN, so is either
        _store(a, m, out, j0)


@_vfunc
def softplus(x, out):
    """out = ln(1 + e^x) = max(x, 0) + log1p(e^-|x|)."""
    n = x.shape[0]
    full = _full(x, out)
    a = np.empty(_BLOCK, np.float64)
    b = np.empty(_BLOCK, np.float64)
    c = np.empty(_BLOCK, np.float64)
    d = np.empty(_BLOCK, np.float64)
    s = np.empty(_BLOCK, np.float64)
    for j0 in range(0, n, _BLOCK):
        m = min(_BLOCK, n - j0)
        _load(x, j0, m, s)
        for i in range(m):
            a[i] = -abs(s[i])
        _exp_block(a, m, b, c, d, full)
        if full:
            _log1p_block(a, m, b, c, d)
        else:
            _log1p_block_short(a, m, b, c, d)
        for i in range(m):
            v = s[i]
            a[i] = (v if v > 0.0 else 0.0) + a[i] if v == v else v
        _store(a, m, out, j0)
