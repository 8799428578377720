"""Pooling kernels: forward against explicit-loop NumPy references over random geometry (pools, strides, pads,
output sizes), gradients against central differences (max pooling on tie-free inputs), float32 against float64,
Keras 3's valid-count divisor for padded average windows, tie and NaN rules, skipped dx, no mutation of inputs,
and ValueError for inconsistent shapes. Max pooling's argmax is a float array of the input's dtype holding integer
indices (the step's scratch is all float)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbkeras.kernels.cpu import pooling
from tests.support.gradcheck import assert_f32_close, check_gradient, upstream_like
from tests.support.strategies import as_f32_representable, floats_array, seeds


@st.composite
def axis_geometry(draw, size):
    """(pool, stride, pad, out_size) along one axis of length ``size``: every window overlaps the input."""
    pool = draw(st.integers(1, 3))
    stride = draw(st.integers(1, 3))
    pad = draw(st.integers(0, pool - 1))
    most = (size - 1 + pad) // stride + 1  # windows whose first row is inside the input
    return pool, stride, pad, draw(st.integers(1, most))


@st.composite
def pool_cases(draw, distinct=False):
    """(x (N, H, W, C), geometry (pool_h, pool_w, stride_h, stride_w, pad_top, pad_left), (OH, OW))."""
    n, h, w, c = draw(st.integers(1, 2)), draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.integers(1, 3))
    ph, sh, pt, oh = draw(axis_geometry(h))
    pw, sw, pl, ow = draw(axis_geometry(w))
    if distinct:  # well-separated distinct values: a max never changes hands under +-h
        order = np.array(draw(st.permutations(range(n * h * w * c))), np.float64)
        x = as_f32_representable(((order - order.size / 2) * 0.1).reshape(n, h, w, c))
    else:
        x = draw(floats_array((n, h, w, c)))
    return x, (ph, pw, sh, sw, pt, pl), (oh, ow)


def windows(x, geom, oh, ow):
    """Yield (n, i, j, [(h, w) valid positions in row-major order]) for every window, by explicit loops."""
    ph, pw, sh, sw, pt, pl = geom
    for n in range(x.shape[0]):
        for i in range(oh):
            for j in range(ow):
                rows = range(i * sh - pt, i * sh - pt + ph)
                cols = range(j * sw - pl, j * sw - pl + pw)
                pos = [(h, w) for h in rows for w in cols if 0 <= h < x.shape[1] and 0 <= w < x.shape[2]]
                yield n, i, j, pos


def ref_max(x, geom, oh, ow):
    out = np.empty((x.shape[0], oh, ow, x.shape[3]))
    arg = np.empty(out.shape, np.int64)
    for n, i, j, pos in windows(x, geom, oh, ow):
        for c in range(x.shape[3]):
            vals = [x[n, h, w, c] for h, w in pos]
            k = int(np.argmax(vals))  # first maximum in row-major window order
            out[n, i, j, c] = vals[k]
            arg[n, i, j, c] = pos[k][0] * x.shape[2] + pos[k][1]
    return out, arg


def ref_avg(x, geom, oh, ow):
    out = np.empty((x.shape[0], oh, ow, x.shape[3]))
    for n, i, j, pos in windows(x, geom, oh, ow):
        out[n, i, j] = sum(x[n, h, w] for h, w in pos) / len(pos)
    return out


def max_fwd(x, geom, oh, ow):
    out = np.full((x.shape[0], oh, ow, x.shape[3]), np.nan, x.dtype)
    arg = np.full(out.shape, -7, x.dtype)
    pooling.max_pool2d_forward(x, out, arg, *geom)
    return out, arg


def max_bwd(arg, dy, x_shape, dtype):
    dx = np.full(x_shape, np.nan, dtype)
    pooling.max_pool2d_backward(arg, dy, dx)
    return dx


def avg_fwd(x, geom, oh, ow):
    out = np.full((x.shape[0], oh, ow, x.shape[3]), np.nan, x.dtype)
    pooling.avg_pool2d_forward(x, out, *geom)
    return out


def avg_bwd(dy, x_shape, geom, dtype):
    dx = np.full(x_shape, np.nan, dtype)
    pooling.avg_pool2d_backward(dy, dx, *geom)
    return dx


# ---------------------------------------------------------------------------------------------- max pooling

@given(pool_cases())
def test_max_forward_matches_reference(case):
    x, geom, (oh, ow) = case
    out, arg = max_fwd(x, geom, oh, ow)
    want, want_arg = ref_max(x, geom, oh, ow)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(arg, want_arg)


@given(pool_cases(distinct=True), seeds())
def test_max_gradient_matches_finite_differences(case, seed):
    x, geom, (oh, ow) = case
    _, arg = max_fwd(x, geom, oh, ow)
    dy = upstream_like(arg.shape, np.random.default_rng(seed))
    dx = max_bwd(arg, dy, x.shape, np.float64)
    check_gradient(lambda a: max_fwd(a, geom, oh, ow)[0], [x], dx, 0, dy)


@given(pool_cases(distinct=True), seeds())
def test_max_float32_agrees_with_float64(case, seed):
    x, geom, (oh, ow) = case
    dy = upstream_like((x.shape[0], oh, ow, x.shape[3]), np.random.default_rng(seed)).astype(np.float32)
    out32, arg32 = max_fwd(x.astype(np.float32), geom, oh, ow)
    out64, arg64 = max_fwd(x, geom, oh, ow)
    assert_f32_close(out32, out64)
    assert arg32.dtype == np.float32 and arg64.dtype == np.float64
    np.testing.assert_array_equal(arg32, arg64)
    assert_f32_close(max_bwd(arg32, dy, x.shape, np.float32),
                     max_bwd(arg64, dy.astype(np.float64), x.shape, np.float64))


def test_max_ties_go_to_the_first_position_and_padding_never_wins():
    x = np.full((1, 3, 3, 1), -5.0)  # all tied, all below the padding's 0 -- which must still lose (it is -inf)
    out, arg = max_fwd(x, (2, 2, 1, 1, 1, 1), 3, 3)
    np.testing.assert_array_equal(out, -5.0)
    # window (i, j) starts at input (i - 1, j - 1); its first valid position in row-major order:
    want = np.array([[0, 0, 1], [0, 0, 1], [3, 3, 4]])
    np.testing.assert_array_equal(arg[0, :, :, 0], want)


def test_max_propagates_nan():
    x = np.array([1.0, np.nan, 3.0, 2.0]).reshape(1, 1, 4, 1)
    out, arg = max_fwd(x, (1, 2, 1, 2, 0, 0), 1, 2)
    assert np.isnan(out[0, 0, 0, 0]) and arg[0, 0, 0, 0] == 1
    assert out[0, 0, 1, 0] == 3.0


def test_max_backward_accumulates_overlapping_windows():
    x = np.array([0.0, 5.0, 1.0]).reshape(1, 1, 3, 1)  # 5 wins both windows of width 2, stride 1
    out, arg = max_fwd(x, (1, 2, 1, 1, 0, 0), 1, 2)
    dx = max_bwd(arg, np.array([2.0, 3.0]).reshape(1, 1, 2, 1), x.shape, np.float64)
    np.testing.assert_array_equal(dx.ravel(), [0.0, 5.0, 0.0])


# ---------------------------------------------------------------------------------------------- average pooling

@given(pool_cases())
def test_avg_forward_matches_reference(case):
    x, geom, (oh, ow) = case
    np.testing.assert_allclose(avg_fwd(x, geom, oh, ow), ref_avg(x, geom, oh, ow), rtol=1e-12, atol=1e-12)


@given(pool_cases(), seeds())
def test_avg_gradient_matches_finite_differences(case, seed):
    x, geom, (oh, ow) = case
    dy = upstream_like((x.shape[0], oh, ow, x.shape[3]), np.random.default_rng(seed))
    dx = avg_bwd(dy, x.shape, geom, np.float64)
    check_gradient(lambda a: avg_fwd(a, geom, oh, ow), [x], dx, 0, dy)


@given(pool_cases(), seeds())
def test_avg_float32_agrees_with_float64(case, seed):
    x, geom, (oh, ow) = case
    dy = upstream_like((x.shape[0], oh, ow, x.shape[3]), np.random.default_rng(seed))
    assert_f32_close(avg_fwd(x.astype(np.float32), geom, oh, ow), avg_fwd(x, geom, oh, ow))
    assert_f32_close(avg_bwd(dy.astype(np.float32), x.shape, geom, np.float32), avg_bwd(dy, x.shape, geom, np.float64))


def test_avg_same_padding_divides_by_the_valid_count():
    """Keras 3 AveragePooling2D(2, strides=1, padding="same") on 3x3: pads 0 before, 1 after each axis."""
    x = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    out = avg_fwd(x, (2, 2, 1, 1, 0, 0), 3, 3)[0, :, :, 0]
    want = [[(1 + 2 + 4 + 5) / 4, (2 + 3 + 5 + 6) / 4, (3 + 6) / 2],
            [(4 + 5 + 7 + 8) / 4, (5 + 6 + 8 + 9) / 4, (6 + 9) / 2],
            [(7 + 8) / 2, (8 + 9) / 2, 9.0]]
    np.testing.assert_allclose(out, want, rtol=1e-15)


# ---------------------------------------------------------------------------------------------- global pooling

@st.composite
def global_cases(draw, distinct=False):
    n, s, c = draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 4))
    if distinct:
        order = np.array(draw(st.permutations(range(n * s * c))), np.float64)
        return as_f32_representable(((order - order.size / 2) * 0.1).reshape(n, s, c))
    return draw(floats_array((n, s, c)))


def gavg_fwd(x):
    out = np.full((x.shape[0], x.shape[2]), np.nan, x.dtype)
    pooling.global_avg_pool_forward(x, out)
    return out


def gavg_bwd(dy, x_shape, dtype):
    dx = np.full(x_shape, np.nan, dtype)
    pooling.global_avg_pool_backward(dy, dx)
    return dx


def gmax_fwd(x):
    out = np.full((x.shape[0], x.shape[2]), np.nan, x.dtype)
    arg = np.full(out.shape, -7, x.dtype)
    pooling.global_max_pool_forward(x, out, arg)
    return out, arg


def gmax_bwd(arg, dy, x_shape, dtype):
    dx = np.full(x_shape, np.nan, dtype)
    pooling.global_max_pool_backward(arg, dy, dx)
    return dx


@given(global_cases(), seeds())
def test_global_avg_forward_gradient_and_float32(x, seed):
    want = np.array([[sum(x[n, s, c] for s in range(x.shape[1])) / x.shape[1] for c in range(x.shape[2])]
                     for n in range(x.shape[0])])
    np.testing.assert_allclose(gavg_fwd(x), want, rtol=1e-12, atol=1e-12)
    dy = upstream_like(want.shape, np.random.default_rng(seed))
    dx = gavg_bwd(dy, x.shape, np.float64)
    check_gradient(gavg_fwd, [x], dx, 0, dy)
    assert_f32_close(gavg_fwd(x.astype(np.float32)), want)
    assert_f32_close(gavg_bwd(dy.astype(np.float32), x.shape, np.float32), dx)


@given(global_cases(distinct=True), seeds())
def test_global_max_forward_gradient_and_float32(x, seed):
    out, arg = gmax_fwd(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[2]):
            col = [x[n, s, c] for s in range(x.shape[1])]
            assert out[n, c] == max(col) and arg[n, c] == col.index(max(col))
    dy = upstream_like(out.shape, np.random.default_rng(seed))
    dx = gmax_bwd(arg, dy, x.shape, np.float64)
    check_gradient(lambda a: gmax_fwd(a)[0], [x], dx, 0, dy)
    out32, arg32 = gmax_fwd(x.astype(np.float32))
    assert_f32_close(out32, out)
    np.testing.assert_array_equal(arg32, arg)
    assert_f32_close(gmax_bwd(arg32, dy.astype(np.float32), x.shape, np.float32), dx)


def test_global_max_ties_and_nan():
    x = np.array([[[2.0, 1.0], [2.0, np.nan], [1.0, 5.0]]])  # (1, 3, 2)
    out, arg = gmax_fwd(x)
    assert out[0, 0] == 2.0 and arg[0, 0] == 0
    assert np.isnan(out[0, 1]) and arg[0, 1] == 1


# ---------------------------------------------------------------------------------------------- common contracts

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inputs_are_not_mutated_and_dtype_is_kept(dtype, rng):
    x = rng.standard_normal((2, 4, 5, 3)).astype(dtype)
    geom = (2, 3, 2, 1, 1, 1)
    dy = rng.standard_normal((2, 2, 5, 3)).astype(dtype)
    copies = [x.copy(), dy.copy()]
    out, arg = max_fwd(x, geom, 2, 5)
    arg_copy = arg.copy()
    grads = [max_bwd(arg, dy, x.shape, dtype), avg_bwd(dy, x.shape, geom, dtype)]
    outs = [out, avg_fwd(x, geom, 2, 5)]
    g = x.reshape(2, 20, 3)
    outs += [gavg_fwd(g), gmax_fwd(g)[0]]
    assert all(a.dtype == dtype for a in outs + grads)
    for a, a0 in zip((x, dy, arg), copies + [arg_copy]):
        np.testing.assert_array_equal(a, a0)


def test_empty_dx_is_skipped(rng):
    x = rng.standard_normal((1, 3, 3, 2))
    out, arg = max_fwd(x, (2, 2, 1, 1, 0, 0), 2, 2)
    empty = np.empty((0, 0, 0, 0))
    pooling.max_pool2d_backward(arg, out, empty)
    pooling.avg_pool2d_backward(out, empty, 2, 2, 1, 1, 0, 0)
    pooling.global_avg_pool_backward(np.ones((1, 2)), np.empty((0, 0, 0)))
    pooling.global_max_pool_backward(np.zeros((1, 2)), np.ones((1, 2)), np.empty((0, 0, 0)))


def test_bad_arguments_raise(rng):
    x = rng.standard_normal((2, 4, 4, 3))
    out, arg = np.zeros((2, 2, 2, 3)), np.zeros((2, 2, 2, 3))
    geometry = "x, out and the pool geometry do not agree"
    for geom, shape in [((2, 2, 2, 2, 2, 0), (2, 2, 2, 3)),   # pad >= pool
                        ((2, 2, 2, 2, 0, 0), (2, 3, 2, 3)),   # window 3 starts at row 4, past the input
                        ((2, 2, 0, 2, 0, 0), (2, 2, 2, 3)),   # stride 0
                        ((2, 2, 2, 2, 0, 0), (1, 2, 2, 3)),   # batch differs
                        ((2, 2, 2, 2, 0, 0), (2, 2, 2, 2))]:  # channels differ
        o, a = np.zeros(shape), np.zeros(shape)
        with pytest.raises(ValueError, match="max_pool2d_forward: " + geometry):
            pooling.max_pool2d_forward(x, o, a, *geom)
        with pytest.raises(ValueError, match="avg_pool2d_forward: " + geometry):
            pooling.avg_pool2d_forward(x, o, *geom)
        with pytest.raises(ValueError, match="avg_pool2d_backward: dy, dx and the pool geometry do not agree"):
            pooling.avg_pool2d_backward(o, np.zeros_like(x), *geom)
    with pytest.raises(ValueError, match="argmax must have the shape of out"):
        pooling.max_pool2d_forward(x, out, np.zeros((2, 2, 1, 3)), 2, 2, 2, 2, 0, 0)
    dx = np.zeros_like(x)
    with pytest.raises(ValueError, match="argmax holds an index outside dx"):
        pooling.max_pool2d_backward(np.full_like(arg, 16), out, dx)
    np.testing.assert_array_equal(dx, 0.0)  # nothing written before the check
    with pytest.raises(ValueError, match="argmax must have the shape of dy"):
        pooling.max_pool2d_backward(np.zeros((2, 2, 1, 3)), out, dx)
    with pytest.raises(ValueError, match="out must be"):
        pooling.global_avg_pool_forward(x.reshape(2, 16, 3), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="out must be"):
        pooling.global_max_pool_forward(x.reshape(2, 16, 3), np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="argmax must have the shape of out"):
        pooling.global_max_pool_forward(x.reshape(2, 16, 3), np.zeros((2, 3)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="argmax holds an index outside dx"):
        pooling.global_max_pool_backward(np.full((2, 3), 16.0), np.zeros((2, 3)), np.zeros((2, 16, 3)))


@pytest.mark.parametrize("bad", [-1.0, 1.5, np.nan, np.inf])
def test_max_backward_rejects_non_index_argmax(bad):
    dy = np.ones((1, 1, 1, 1))
    dx = np.zeros((1, 2, 2, 1))
    with pytest.raises(ValueError, match="max_pool2d_backward: argmax holds an index outside dx"):
        pooling.max_pool2d_backward(np.full((1, 1, 1, 1), bad), dy, dx)
    with pytest.raises(ValueError, match="global_max_pool_backward: argmax holds an index outside dx"):
        pooling.global_max_pool_backward(np.full((1, 1), bad), np.ones((1, 1)), np.zeros((1, 4, 1)))
    np.testing.assert_array_equal(dx, 0.0)


def test_index_space_beyond_float32_integers_raises():
    """float32 holds every integer up to 2**24: more positions per image than that cannot be indexed exactly.
    Zero channels keep the arrays empty while the spatial sizes are huge."""
    side = 4097  # 4097**2 > 2**24
    x = np.empty((1, side, side, 0), np.float32)
    with pytest.raises(ValueError, match="max_pool2d_forward: H \\* W exceeds"):
        pooling.max_pool2d_forward(x, np.empty((1, side, side, 0), np.float32),
                                   np.empty((1, side, side, 0), np.float32), 1, 1, 1, 1, 0, 0)
    # float64 indices are exact far beyond that
    pooling.max_pool2d_forward(x.astype(np.float64), np.empty((1, side, side, 0)), np.empty((1, side, side, 0)),
                               1, 1, 1, 1, 0, 0)
    g = np.empty((1, 2**24 + 1, 0), np.float32)
    with pytest.raises(ValueError, match="global_max_pool_forward: S exceeds"):
        pooling.global_max_pool_forward(g, np.empty((1, 0), np.float32), np.empty((1, 0), np.float32))


def test_max_backward_takes_strided_views(rng):
    """Non-contiguous argmax, dy and dx (views of every other channel) give what np.add.at gives."""
    x = rng.standard_normal((2, 6, 8, 8))[..., ::2]
    out, arg = np.empty((2, 3, 4, 4)), np.empty((2, 3, 4, 8))[..., ::2]
    pooling.max_pool2d_forward(x, out, arg, 2, 2, 2, 2, 0, 0)
    dy = rng.standard_normal((2, 3, 4, 8))[..., ::2]
    dx = np.full((2, 6, 8, 8), np.nan)[..., ::2]
    pooling.max_pool2d_backward(arg, dy, dx)
    want = np.zeros((2, 6 * 8, 4))
    n, _, _, c = np.indices(arg.shape)
    np.add.at(want, (n.ravel(), arg.astype(int).ravel(), c.ravel()), dy.ravel())
    np.testing.assert_array_equal(dx, want.reshape(2, 6, 8, 4))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("h, w, stride, pad, oh, ow", [
    (6, 7, 2, 0, 3, 3),    # Keras's MaxPooling2D(2), 'valid': an odd width leaves a column out
    (5, 7, 2, 1, 3, 4),    # 'same'-like front padding: edge windows are partial
    (5, 6, 1, 0, 4, 5),    # overlapping full windows
    (4, 9, 3, 1, 2, 3),    # stride beyond the pool: columns skipped
])
def test_max_2x2_rows_match_the_reference(h, w, stride, pad, oh, ow, dtype, rng):
    """2x2 pools take a separate loop for the full windows of a row: it must agree with the reference on every
    window kind, with ties (rounded values) and NaNs present, and its backward with np.add.at."""
    x = np.round(rng.standard_normal((3, h, w, 19)) * 2.0).astype(dtype)  # many ties; 19 channels: a remainder
    x[0, 1, 1, :5] = np.nan
    x[1, 2, 3, 4] = np.nan
    x[1, 2, 2, 4] = np.nan
    geom = (2, 2, stride, stride, pad, pad)
    out, arg = max_fwd(x, geom, oh, ow)
    want, want_arg = ref_max(x.astype(np.float64), geom, oh, ow)
    np.testing.assert_array_equal(out, want.astype(dtype))
    np.testing.assert_array_equal(arg, want_arg)
    dy = rng.standard_normal(out.shape).astype(dtype)
    dx = max_bwd(arg, dy, x.shape, dtype)
    expected = np.zeros((3, h * w, 19), dtype)
    n, _, _, c = np.indices(arg.shape)
    np.add.at(expected, (n.ravel(), arg.astype(int).ravel(), c.ravel()), dy.ravel())
    np.testing.assert_array_equal(dx, expected.reshape(x.shape))


def test_max_backward_contiguous_and_strided_agree(rng):
    """The backward has a flat loop for C-contiguous arrays and a general one: same result, overlapping windows
    included (stride 1 under pool 2: an input wins several windows)."""
    x = rng.standard_normal((2, 5, 6, 3))
    out, arg = max_fwd(x, (2, 2, 1, 1, 0, 0), 4, 5)
    dy = rng.standard_normal(out.shape)
    flat = max_bwd(arg, dy, x.shape, np.float64)
    arg_s = np.full((2, 4, 5, 6), np.nan)[..., ::2]
    dy_s = np.full((2, 4, 5, 6), np.nan)[..., ::2]
    arg_s[...], dy_s[...] = arg, dy
    dx_s = np.full((2, 5, 6, 6), np.nan)[..., ::2]
    pooling.max_pool2d_backward(arg_s, dy_s, dx_s)
    np.testing.assert_array_equal(dx_s, flat)
