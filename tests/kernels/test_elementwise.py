"""Elementwise kernels: every unary and binary code against NumPy, gradients against central differences in float64
(binary ops over broadcasting shapes, the backward summing over broadcast axes), float32 against float64,
accumulation, skipped gradients, no mutation of inputs, and bad arguments; where, clip, slices, gathers, one_hot."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from nbkeras.kernels.cpu import elementwise as E
from tests.support.gradcheck import assert_f32_close, check_gradient, upstream_like
from tests.support.strategies import floats_array, seeds

# code -> (NumPy reference, (lo, hi) domain kept away from singularities, kinks to avoid)
_ERF = np.vectorize(__import__("math").erf)
UNARY = {
    E.NEG: (np.negative, (-3, 3), ()), E.ABS: (np.abs, (-3, 3), (0,)), E.SIGN: (np.sign, (-3, 3), (0,)),
    E.EXP: (np.exp, (-3, 3), ()), E.LOG: (np.log, (0.2, 3), ()), E.LOG1P: (np.log1p, (-0.8, 3), ()),
    E.EXPM1: (np.expm1, (-3, 3), ()), E.SQRT: (np.sqrt, (0.2, 3), ()), E.SQUARE: (np.square, (-3, 3), ()),
    E.RECIPROCAL: (np.reciprocal, (0.3, 3), ()), E.RSQRT: (lambda x: 1 / np.sqrt(x), (0.3, 3), ()),
    E.SIN: (np.sin, (-3, 3), ()), E.COS: (np.cos, (-3, 3), ()), E.TAN: (np.tan, (-1.2, 1.2), ()),
    E.ARCSIN: (np.arcsin, (-0.9, 0.9), ()), E.ARCCOS: (np.arccos, (-0.9, 0.9), ()),
    E.ARCTAN: (np.arctan, (-3, 3), ()), E.SINH: (np.sinh, (-3, 3), ()), E.COSH: (np.cosh, (-3, 3), ()),
    E.TANH: (np.tanh, (-3, 3), ()), E.ARCSINH: (np.arcsinh, (-3, 3), ()), E.ARCCOSH: (np.arccosh, (1.2, 3), ()),
    E.ARCTANH: (np.arctanh, (-0.9, 0.9), ()), E.SIGMOID: (lambda x: 1 / (1 + np.exp(-x)), (-3, 3), ()),
    E.RELU: (lambda x: np.maximum(x, 0), (-3, 3), (0,)), E.SOFTPLUS: (lambda x: np.logaddexp(x, 0), (-3, 3), ()),
    E.LOG2: (np.log2, (0.2, 3), ()), E.LOG10: (np.log10, (0.2, 3), ()), E.EXP2: (np.exp2, (-3, 3), ()),
    E.ERF: (_ERF, (-2, 2), ()), E.FLOOR: (np.floor, (-3, 3), (-3, -2, -1, 0, 1, 2, 3)),
    E.CEIL: (np.ceil, (-3, 3), (-3, -2, -1, 0, 1, 2, 3)),
    E.ROUND: (np.round, (-3, 3), (-2.5, -1.5, -0.5, 0.5, 1.5, 2.5)), E.TRUNC: (np.trunc, (-3, 3), (-3, -2, -1, 0, 1, 2, 3)),
    E.COPY: (np.array, (-3, 3), ()),
}
NO_GRAD_UNARY = {E.LOGICAL_NOT: np.logical_not, E.ISNAN: np.isnan, E.ISINF: np.isinf, E.ISFINITE: np.isfinite,
                 E.NONZERO: lambda x: x != 0}


def test_every_unary_code_is_tested():
    assert set(UNARY) | set(NO_GRAD_UNARY) == set(range(E.N_UNARY))


def unary(code, x):
    out = np.empty_like(x)
    E.unary_forward(code, x, out)
    return out


@pytest.mark.parametrize("code", sorted(UNARY))
@given(data=st.data())
def test_unary_forward_and_gradient(code, data):
    ref, (lo, hi), kinks = UNARY[code]
    x = data.draw(floats_array((data.draw(st.integers(1, 6)),), lo, hi, avoid=kinks, margin=0.02))
    x0 = x.copy()
    y = unary(code, x)
    np.testing.assert_allclose(y, ref(x), rtol=1e-12, atol=1e-12)
    dy = upstream_like(x.shape, np.random.default_rng(data.draw(seeds())))
    dx = np.full_like(x, np.nan)
    E.unary_backward(code, x, y, dy, dx)
    check_gradient(lambda v: unary(code, v), [x], dx, 0, dy)
    np.testing.assert_array_equal(x, x0)
    y32 = unary(code, x.astype(np.float32))
    assert_f32_close(y32, y)


@pytest.mark.parametrize("code", sorted(NO_GRAD_UNARY))
def test_boolean_unary_codes(code):
    x = np.array([0.0, -1.5, 2.0, np.nan, np.inf, -np.inf])
    np.testing.assert_array_equal(unary(code, x), NO_GRAD_UNARY[code](x).astype(np.float64))


def test_unary_special_values_follow_numpy():
    x = np.array([-1.0, 0.0, np.nan, np.inf])
    with np.errstate(all="ignore"):
        for code in (E.LOG, E.SQRT, E.RELU, E.SIGN, E.ABS, E.SOFTPLUS, E.FLOOR):
            np.testing.assert_array_equal(unary(code, x), UNARY[code][0](x))


def test_unary_bad_arguments():
    with pytest.raises(ValueError, match="same length"):
        E.unary_forward(E.EXP, np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="unknown code"):
        E.unary_forward(99, np.zeros(3), np.zeros(3))
    E.unary_backward(E.EXP, np.zeros(3), np.zeros(3), np.zeros(3), np.empty(0))  # skipped dx


# ------------------------------------------------------------------------------------------ binary
BINARY = {
    E.ADD: (np.add, None), E.SUBTRACT: (np.subtract, None), E.MULTIPLY: (np.multiply, None),
    E.DIVIDE: (np.divide, "b_away_from_0"), E.POWER: (np.power, "a_positive"), E.MAXIMUM: (np.maximum, "no_ties"),
    E.MINIMUM: (np.minimum, "no_ties"), E.MOD: (np.mod, "mod"), E.FLOOR_DIVIDE: (np.floor_divide, "mod"),
    E.ARCTAN2: (np.arctan2, "b_away_from_0"),
}
NO_GRAD_BINARY = {E.EQUAL: np.equal, E.NOT_EQUAL: np.not_equal, E.LESS: np.less, E.LESS_EQUAL: np.less_equal,
                  E.GREATER: np.greater, E.GREATER_EQUAL: np.greater_equal, E.LOGICAL_AND: np.logical_and,
                  E.LOGICAL_OR: np.logical_or, E.LOGICAL_XOR: np.logical_xor}


def test_every_binary_code_is_tested():
    assert set(BINARY) | set(NO_GRAD_BINARY) == set(range(E.N_BINARY))


def geometry(shape_a, shape_b, out_shape):
    """(n1..n4, strides of a, strides of b) for the kernels, from NumPy's own broadcasting: the strides of each
    operand broadcast to the 5-D output (0 along broadcast axes), in elements."""
    out5 = (1,) * (5 - len(out_shape)) + tuple(out_shape)

    def strides(shape):
        a = np.empty(shape, np.int8)
        return tuple(s // a.itemsize for s in np.broadcast_to(a.reshape((1,) * (5 - a.ndim) + shape), out5).strides)

    return out5[1:], strides(shape_a), strides(shape_b)


@st.composite
def broadcast_pairs(draw):
    """Shapes (a, b, out) of rank 1-5 where a or b may have 1s (or be shorter) along any axis."""
    rank = draw(st.integers(1, 5))
    out = tuple(draw(st.integers(1, 3)) for _ in range(rank))

    def operand():
        r = draw(st.integers(0, rank))
        return tuple(d if draw(st.booleans()) else 1 for d in out[rank - r:])

    a, b = operand(), operand()
    return a, b, np.broadcast_shapes(a, b, out) if out else out


def binary(code, a, b, out_shape):
    dims, sa, sb = geometry(a.shape, b.shape, out_shape)
    out = np.empty(out_shape, a.dtype)
    E.binary_forward(code, a.reshape(-1), b.reshape(-1), out.reshape(-1), *dims, *sa, *sb)
    return out


def binary_grads(code, a, b, out_shape, dy, acc=None):
    dims, sa, sb = geometry(a.shape, b.shape, out_shape)
    y = binary(code, a, b, out_shape)
    da = np.full(a.shape, np.nan) if acc is None else acc[0].copy()
    db = np.full(b.shape, np.nan) if acc is None else acc[1].copy()
    E.binary_backward(code, a.reshape(-1), b.reshape(-1), y.reshape(-1), dy.reshape(-1), da.reshape(-1),
                      db.reshape(-1), acc is not None, acc is not None, *dims, *sa, *sb)
    return da, db


def _operands(data, code, a_shape, b_shape):
    rule = BINARY.get(code, (None, None))[1]
    a = data.draw(floats_array(a_shape, 0.3 if rule == "a_positive" else -3, 3))
    b = data.draw(floats_array(b_shape, -3, 3, avoid=(0,), margin=0.3 if rule in ("b_away_from_0", "mod") else 0.01))
    if rule == "a_positive":
        b = np.array(np.clip(b, -2, 2))
    if rule == "no_ties":
        assume(np.min(np.abs(np.subtract(a, b))) > 0.02)
    if code == E.ARCTAN2:  # atan2 jumps by 2 pi across a = 0 where b < 0
        assume(np.min(np.abs(a)) > 0.05)
    if rule == "mod":  # keep a / b away from integers: floor(a / b) must not jump under +-h
        q = np.divide(a, b)
        assume(np.min(np.abs(q - np.round(q))) > 0.02)
    return a, b


@pytest.mark.parametrize("code", sorted(BINARY))
@given(data=st.data(), shapes=broadcast_pairs())
def test_binary_forward_and_gradients_with_broadcasting(code, data, shapes):
    a_shape, b_shape, out_shape = shapes
    a, b = _operands(data, code, a_shape, b_shape)
    a0, b0 = a.copy(), b.copy()
    with np.errstate(all="ignore"):
        expected = np.broadcast_to(BINARY[code][0](a, b), out_shape)
    np.testing.assert_allclose(binary(code, a, b, out_shape), expected, rtol=1e-12, atol=1e-12)
    dy = upstream_like(out_shape, np.random.default_rng(data.draw(seeds())))
    da, db = binary_grads(code, a, b, out_shape, dy)
    fwd = lambda u, v: binary(code, u, v, out_shape)  # noqa: E731
    check_gradient(fwd, [a, b], da, 0, dy)
    check_gradient(fwd, [a, b], db, 1, dy)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)
    assert_f32_close(binary(code, a.astype(np.float32), b.astype(np.float32), out_shape), expected)
    # accumulate adds to what is there
    acc = (np.ones(a.shape), np.full(b.shape, 2.0))
    da2, db2 = binary_grads(code, a, b, out_shape, dy, acc)
    np.testing.assert_allclose(da2, da + 1.0, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db2, db + 2.0, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("code", sorted(NO_GRAD_BINARY))
def test_boolean_binary_codes(code):
    a = np.array([[0.0, 1.0, -2.0], [3.0, 0.0, 1.0]])
    b = np.array([0.0, 1.0, 2.0])
    np.testing.assert_array_equal(binary(code, a, b, (2, 3)), NO_GRAD_BINARY[code](a, b).astype(np.float64))


def test_binary_batch_broadcast_of_a_weight_sums_over_the_batch():
    """A weight (no batch axis) added to a batch: its gradient is dy summed over the batch."""
    x = np.arange(12.0).reshape(4, 3)
    w = np.array([1.0, 2.0, 3.0])
    dy = np.arange(12.0).reshape(4, 3) * 0.5
    dx, dw = binary_grads(E.ADD, x, w, (4, 3), dy)
    np.testing.assert_array_equal(dw, dy.sum(axis=0))
    np.testing.assert_array_equal(dx, dy)


def test_binary_skips_empty_gradients_and_rejects_bad_strides():
    a, b = np.ones(6), np.ones(3)
    y, dy = np.ones(6), np.ones(6)
    E.binary_backward(E.MULTIPLY, a, b, y, dy, np.empty(0), np.empty(0), False, False, 1, 1, 2, 3,
                      3, 0, 0, 3, 1, 0, 0, 0, 0, 1)
    with pytest.raises(ValueError, match="too small"):
        E.binary_forward(E.ADD, a, b, np.empty(6), 1, 1, 2, 3, 3, 0, 0, 3, 1, 0, 0, 0, 1, 1)
    with pytest.raises(ValueError, match="do not tile"):
        E.binary_forward(E.ADD, a, b, np.empty(5), 1, 1, 2, 3, 3, 0, 0, 3, 1, 0, 0, 0, 0, 1)
    with pytest.raises(ValueError, match="sizes of a and b"):
        E.binary_backward(E.ADD, a, b, y, dy, np.empty(5), np.empty(0), False, False, 1, 1, 2, 3,
                          3, 0, 0, 3, 1, 0, 0, 0, 0, 1)


# ------------------------------------------------------------------------------------------ scalar
@pytest.mark.parametrize("code", sorted(BINARY))
@pytest.mark.parametrize("scalar_first", [False, True])
@given(data=st.data())
def test_scalar_forward_and_gradient(code, scalar_first, data):
    n = data.draw(st.integers(1, 6))
    s = data.draw(st.sampled_from([2.0, -1.5, 0.75, 3.0]))
    a, _ = _operands(data, code, (n,), (1,))
    if code == E.POWER and scalar_first:
        s, a = abs(s), np.clip(a, -2, 2)
    if code in (E.DIVIDE, E.MOD, E.FLOOR_DIVIDE, E.ARCTAN2) and scalar_first:
        assume(np.min(np.abs(a)) > 0.3)
    if code == E.ARCTAN2 and not scalar_first:
        assume(np.min(np.abs(a)) > 0.05)
    if code in (E.MAXIMUM, E.MINIMUM):
        assume(np.min(np.abs(a - s)) > 0.02)
    if code in (E.MOD, E.FLOOR_DIVIDE):
        q = s / a if scalar_first else a / s
        assume(np.min(np.abs(q - np.round(q))) > 0.02)

    def fwd(v):
        out = np.empty_like(v)
        E.scalar_forward(code, v, s, scalar_first, out)
        return out

    y = fwd(a)
    with np.errstate(all="ignore"):
        ref = BINARY[code][0](s, a) if scalar_first else BINARY[code][0](a, s)
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
    dy = upstream_like(a.shape, np.random.default_rng(data.draw(seeds())))
    dx = np.full_like(a, np.nan)
    E.scalar_backward(code, a, s, scalar_first, y, dy, dx)
    check_gradient(fwd, [a], dx, 0, dy)


# ------------------------------------------------------------------------------------------ where, clip
@given(data=st.data(), shapes=broadcast_pairs())
def test_where_forward_and_gradients(data, shapes):
    a_shape, b_shape, out_shape = shapes
    c = data.draw(floats_array(out_shape[-1:] if out_shape else (), 0, 1))
    c = (c > 0.5).astype(np.float64)
    a, b = data.draw(floats_array(a_shape)), data.draw(floats_array(b_shape))
    out5 = (1,) * (5 - len(out_shape)) + tuple(out_shape)

    def st5(x):
        return tuple(s // 8 for s in np.broadcast_to(x.reshape((1,) * (5 - x.ndim) + x.shape), out5).strides)

    geo = (*out5[1:], *st5(c), *st5(a), *st5(b))

    def fwd(u, v):
        out = np.empty(out_shape)
        E.where_forward(c.reshape(-1), u.reshape(-1), v.reshape(-1), out.reshape(-1), *geo)
        return out

    np.testing.assert_array_equal(fwd(a, b), np.broadcast_to(np.where(c != 0, a, b), out_shape))
    dy = upstream_like(out_shape, np.random.default_rng(data.draw(seeds())))
    da, db = np.full(a.shape, np.nan), np.full(b.shape, np.nan)
    E.where_backward(c.reshape(-1), dy.reshape(-1), da.reshape(-1), db.reshape(-1), False, False, *geo)
    check_gradient(fwd, [a, b], da, 0, dy)
    check_gradient(fwd, [a, b], db, 1, dy)


@given(data=st.data())
def test_clip_forward_and_gradient(data):
    x = data.draw(floats_array((data.draw(st.integers(1, 8)),), -3, 3, avoid=(-1.0, 1.5)))
    out = np.empty_like(x)
    E.clip_forward(x, -1.0, 1.5, out)
    np.testing.assert_array_equal(out, np.clip(x, -1.0, 1.5))
    dy = upstream_like(x.shape, np.random.default_rng(0))
    dx = np.empty_like(x)
    E.clip_backward(x, -1.0, 1.5, dy, dx)

    def fwd(v):
        o = np.empty_like(v)
        E.clip_forward(v, -1.0, 1.5, o)
        return o

    check_gradient(fwd, [x], dx, 0, dy)


# ------------------------------------------------------------------------------------------ slices, gathers
@st.composite
def slices(draw):
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    key = []
    for d in shape:
        start, stop = draw(st.integers(-d, d)), draw(st.integers(-d, d))
        step = draw(st.sampled_from([1, 2, -1]))
        key.append(slice(start, stop, step))
    return shape, tuple(key)


def slice_args(shape, key):
    pad = 4 - len(shape)
    plan = []
    for d, k in zip(shape, key):
        s, e, t = k.indices(d)
        n = len(range(s, e, t))
        plan.append((s if n else 0, t, n))
    return ((1,) * pad + shape + (0,) * pad + tuple(p[0] for p in plan) + (1,) * pad + tuple(p[1] for p in plan)
            + (1,) * pad + tuple(p[2] for p in plan))


@given(slices(), st.integers(1, 3), seeds())
def test_slice_matches_numpy_and_scatters_back(sl, batch, seed):
    shape, key = sl
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch,) + shape)
    expected = x[(slice(None),) + key]
    args = slice_args(shape, key)
    out = np.empty(expected.shape)
    E.slice_forward(x.reshape(-1), out.reshape(-1), *args)
    np.testing.assert_array_equal(out, expected)
    dy = rng.normal(size=expected.shape)
    dx = np.full(x.shape, np.nan)
    E.slice_backward(dy.reshape(-1), dx.reshape(-1), *args)
    ref = np.zeros_like(x)
    ref[(slice(None),) + key] = dy
    np.testing.assert_array_equal(dx, ref)


def test_slice_out_of_range_raises():
    with pytest.raises(ValueError, match="does not fit"):
        E.slice_forward(np.zeros(6), np.zeros(2), 1, 1, 1, 3, 0, 0, 0, 2, 1, 1, 1, 1, 1, 1, 1, 2)


@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 3), st.integers(1, 5), seeds())
def test_take_matches_numpy_with_repeated_indices(outer, n, inner, m, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(outer, n, inner))
    idx = rng.integers(-n, n, size=m).astype(np.float64)
    out = np.empty((outer, m, inner))
    E.take_forward(x, idx, out.reshape(-1))
    np.testing.assert_array_equal(out, np.take(x, idx.astype(int), axis=1))
    dy = upstream_like(out.shape, rng)
    dx = np.full(x.shape, np.nan)
    E.take_backward(idx, dy.reshape(-1), dx, False)

    def fwd(v):
        o = np.empty((outer, m, inner))
        E.take_forward(v, idx, o.reshape(-1))
        return o

    check_gradient(fwd, [x], dx, 0, dy)
    dx2 = np.ones_like(x)
    E.take_backward(idx, dy.reshape(-1), dx2, True)
    np.testing.assert_allclose(dx2, dx + 1, rtol=1e-12)


def test_take_rejects_bad_indices():
    x = np.zeros((1, 3, 1))
    for bad in (3.0, -4.0, 0.5, np.nan):
        with pytest.raises(ValueError, match="out of range"):
            E.take_forward(x, np.array([bad]), np.zeros(1))


@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 3), st.integers(1, 4), seeds())
def test_take_along_axis(outer, n, inner, m, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(outer, n, inner))
    idx = rng.integers(0, n, size=(outer, m, inner)).astype(np.float64)
    out = np.empty((outer, m, inner))
    E.take_along_axis_forward(x, idx, out)
    np.testing.assert_array_equal(out, np.take_along_axis(x, idx.astype(int), axis=1))
    dy = upstream_like(out.shape, rng)
    dx = np.empty_like(x)
    E.take_along_axis_backward(idx, dy, dx)

    def fwd(v):
        o = np.empty((outer, m, inner))
        E.take_along_axis_forward(v, idx, o)
        return o

    check_gradient(fwd, [x], dx, 0, dy)


def test_one_hot_zero_outside_the_range():
    idx = np.array([[0.0, 2.0], [-1.0, 3.0]])  # (outer 2, inner 2); C = 3
    out = np.full((2, 3, 2), np.nan, np.float32)
    E.one_hot_forward(idx.astype(np.float32), out)
    expected = np.zeros((2, 3, 2), np.float32)
    expected[0, 0, 0] = expected[0, 2, 1] = 1
    np.testing.assert_array_equal(out, expected)


SPECIALS = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, -2.5, 3.7, -3.7, 1e-30, -1e-30, 1e-310, 50.0, -50.0,
                     88.5, -103.0, 709.0, -745.0, 800.0, -800.0, 1e300, -1e300, np.inf, -np.inf, np.nan])


@pytest.mark.parametrize("code", range(E.N_UNARY))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unary_forward_special_values_and_in_place(code, dtype):
    """Each code's own loop (vmath for exp/log/tanh/...) against the per-element scalar rule ``_unary`` over
    signed zeros, subnormals, overflow, infinities and NaN: the same value (NaN where it gives NaN, the same
    infinity, the sign of a zero), to 4 ulp; and the same result in place (out = x)."""
    with np.errstate(all="ignore"):
        x = SPECIALS.astype(dtype)
    got = unary(code, x)
    with np.errstate(all="ignore"):
        want = np.array([E._unary(code, float(v)) for v in x.astype(np.float64)]).astype(dtype)
    assert np.array_equal(np.isnan(got), np.isnan(want)), (code, x, got, want)
    finite = np.isfinite(want)
    assert np.array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)]), (code, got, want)
    zero = finite & (want == 0)
    assert np.array_equal(np.signbit(got[zero]), np.signbit(want[zero])), (code, got, want)
    assert np.array_equal(got[zero], want[zero])
    tol = 4 * np.spacing(np.abs(want[finite]))
    assert np.all(np.abs(got[finite].astype(np.float64) - want[finite]) <= tol), (code, x, got, want)
    y = x.copy()
    E.unary_forward(code, y, y)
    np.testing.assert_array_equal(y, got)
