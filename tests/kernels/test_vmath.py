"""vmath's vectorisable exp/expm1/log/log1p/tanh/sigmoid/softplus: error in ulps against a reference computed in
long double (80-bit on x86-64: 11 bits beyond float64, so the reference's own error is ~0.001 ulp), over wide
ranges and the special values (inf, NaN, overflow, underflow, subnormals, signed zero), in float64 and float32;
strided views, in-place use and lengths around the block size.

Max errors measured over ~360k points per function (random over the whole range, near zero, log-uniform
magnitudes, the special values): float64 exp 0.82, expm1 1.73, log 1.88, log1p 2.33, tanh 2.47, sigmoid 2.28,
softplus 2.67 ulp; float32 all 0.50 ulp (computed in float64, rounded once: correctly rounded but for rare ties)
except tanh and exp, computed in float32 arithmetic: tanh 2.3 ulp (NumPy's float32 tanh: 1.4), exp 0.82 (0.92
over 2.3M points of [-110, 89]; NumPy's float32 exp: 2.4 there).
Asserted: float64 exp 2, sigmoid 4, the others 3 ulp; float32 1 ulp, tanh 3.
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nbkeras.kernels.cpu import vmath

LD = np.longdouble
EXTENDED = np.finfo(LD).nmant >= 60

# name -> (reference on long double, ulp bound float64, the widest interesting domain)
FUNCS = {
    "exp": (np.exp, 2, (-750.0, 720.0)),
    "expm1": (np.expm1, 3, (-60.0, 720.0)),
    "log": (np.log, 3, (0.0, 1.7e308)),
    "log1p": (np.log1p, 3, (-1.0, 1e300)),
    "tanh": (np.tanh, 3, (-30.0, 30.0)),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), 4, (-760.0, 760.0)),
    "softplus": (lambda x: np.logaddexp(LD(0), x), 3, (-760.0, 760.0)),
}
F32_BOUND = 1.0
F32_BOUNDS = {"tanh": 3.0, "exp": 1.0}  # computed in float32 arithmetic (the others in float64, rounded once)


def run(name, x):
    out = np.empty_like(x)
    getattr(vmath, name)(x, out)
    return out


def ulp_error(got, want, dtype):
    """|got - want| in ulps of the result's type (at want); 0 where both are the same inf/NaN, inf where only one
    is special."""
    got = np.asarray(got, LD)
    with np.errstate(all="ignore"):
        want_d = np.asarray(want).astype(dtype)  # the correctly rounded answer (to within the reference's error)
        spacing = np.spacing(np.abs(want_d)).astype(LD)
        err = np.abs(got - np.asarray(want, LD)) / spacing
    both_nan = np.isnan(got) & np.isnan(want_d.astype(LD))
    same_special = (got == want_d.astype(LD)) & ~np.isfinite(got)
    special = ~np.isfinite(got) | ~np.isfinite(want_d)
    err = np.where(special, np.inf, err)
    return np.where(both_nan | same_special, 0.0, err)


def reference(name, x):
    with np.errstate(all="ignore"):
        return FUNCS[name][0](np.asarray(x, LD))


def check(name, x, dtype):
    x = np.asarray(x, dtype)
    got = run(name, x)
    err = ulp_error(got, reference(name, x), dtype)
    bound = FUNCS[name][1] if dtype == np.float64 else F32_BOUNDS.get(name, F32_BOUND)
    worst = int(np.argmax(err)) if err.size else 0
    assert err.size == 0 or err[worst] <= bound, (name, dtype, x[worst], got[worst], err[worst])


def wide_sample(name, rng, n=20000):
    lo, hi = FUNCS[name][2]
    mags = np.exp(rng.uniform(-745, 709, n))
    parts = [rng.uniform(lo, hi, n), rng.uniform(-1, 1, n) * rng.uniform(0, 1, n) ** 8,
             rng.uniform(max(lo, -3.0), min(hi, 3.0), n), mags, -mags, mags * 1e-8]
    return np.concatenate(parts)


SPECIAL = [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 2.2250738585072014e-308,
           1e-300, 1e-20, -1e-20, 1e-8, 0.3465, -0.3466, 0.5, -0.5, 0.7, 1.5, 2.0, 19.0, 20.5, 22.0, 36.7,
           87.0, 88.72, 89.0, 103.9, -104.0, 708.0, 709.6, 709.78, 709.8, 710.0, -708.0, -744.5, -745.13,
           -745.2, -746.0, -1000.0, 1e300, -1e300, 1.7e308, -1.7e308]


pytestmark = pytest.mark.skipif(not EXTENDED, reason="needs an extended-precision long double for the reference")


@pytest.mark.parametrize("name", sorted(FUNCS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dense_sweep_and_special_values(name, dtype):
    rng = np.random.default_rng(7)
    with np.errstate(over="ignore"):
        x = np.concatenate([wide_sample(name, rng), SPECIAL]).astype(dtype)
    check(name, x, dtype)


@pytest.mark.parametrize("name", sorted(FUNCS))
@given(x=hnp.arrays(np.float64, st.integers(1, 40),
                    elements=st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)))
def test_property_float64(name, x):
    check(name, x, np.float64)


@pytest.mark.parametrize("name", sorted(FUNCS))
@given(x=hnp.arrays(np.float32, st.integers(1, 40),
                    elements=st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True, width=32)))
def test_property_float32(name, x):
    check(name, x, np.float32)


@pytest.mark.parametrize("name", sorted(FUNCS))
@given(x=hnp.arrays(np.float64, st.integers(1, 40), elements=st.floats(-5, 5)))
def test_property_moderate_range(name, x):
    check(name, x, np.float64)
    check(name, x.astype(np.float32), np.float32)


def test_semantics_of_libm():
    """The values math.* gives (or its limits, where math raises) at the edges."""
    inf, nan = math.inf, math.nan
    for dt in (np.float64, np.float32):
        x = np.array([-inf, inf, nan, 0.0, -0.0, 800.0, -800.0], dt)
        e = run("exp", x)
        assert e[0] == 0 and e[1] == inf and np.isnan(e[2]) and e[3] == 1 and e[4] == 1 and e[5] == inf and e[6] == 0
        t = run("tanh", x)
        assert t[0] == -1 and t[1] == 1 and np.isnan(t[2]) and t[3] == 0 and np.signbit(t[4]) and t[5] == 1
        assert t[6] == -1
        m = run("expm1", x)
        assert m[0] == -1 and m[1] == inf and np.isnan(m[2]) and m[3] == 0 and np.signbit(m[4]) and m[6] == -1
        s = run("sigmoid", x)
        assert s[0] == 0 and s[1] == 1 and np.isnan(s[2]) and s[3] == 0.5 and s[5] == 1 and s[6] == 0
        p = run("softplus", x)
        assert p[0] == 0 and p[1] == inf and np.isnan(p[2]) and p[5] == 800 and p[6] == 0
        lg = run("log", np.array([0.0, -0.0, -1.0, inf, -inf, nan, 1.0], dt))
        assert lg[0] == -inf and lg[1] == -inf and np.isnan(lg[2]) and lg[3] == inf and np.isnan(lg[4])
        assert np.isnan(lg[5]) and lg[6] == 0
        l1 = run("log1p", np.array([-1.0, -2.0, inf, -inf, nan, 0.0, -0.0], dt))
        assert l1[0] == -inf and np.isnan(l1[1]) and l1[2] == inf and np.isnan(l1[3]) and np.isnan(l1[4])
        assert l1[5] == 0 and np.signbit(l1[6])
    # against math itself where it answers
    xs = np.array([-745.0, -700.0, -1.0, 1e-10, 0.69, 1.0, 300.0, 709.7])
    np.testing.assert_allclose(run("exp", xs), [math.exp(v) for v in xs], rtol=3e-16)
    np.testing.assert_allclose(run("tanh", xs / 100), [math.tanh(v / 100) for v in xs], rtol=5e-16)


@pytest.mark.parametrize("name", sorted(FUNCS))
@pytest.mark.parametrize("n", [0, 1, 511, 512, 513, 1500])
def test_lengths_strides_and_in_place(name, n):
    rng = np.random.default_rng(n)
    base = rng.uniform(0.01, 4, 2 * n)
    x = base[::2]
    want = run(name, np.ascontiguousarray(x))
    out = np.full(2 * n, 7.0)
    getattr(vmath, name)(x, out[1::2])  # strided in and out
    np.testing.assert_array_equal(out[1::2], want)
    np.testing.assert_array_equal(out[::2], 7.0)  # nothing written between
    y = x.copy()
    getattr(vmath, name)(y, y)  # in place
    np.testing.assert_array_equal(y, want)
    x32 = x.astype(np.float32)
    o32 = np.empty_like(x32)
    getattr(vmath, name)(x32, o32)
    rtol = 1.2e-7 * (F32_BOUNDS.get(name, F32_BOUND) + 0.5)  # rounded once, or (tanh, exp) float32 arithmetic
    np.testing.assert_allclose(o32, run(name, x32.astype(np.float64)), rtol=rtol)
