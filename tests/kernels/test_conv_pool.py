"""The fused convolution + non-overlapping max pooling kernels (conv.conv2d_max_pool2d_forward / _backward).

They must mean exactly the composition they replace -- conv2d_forward (or conv2d_forward_relu) followed by
max_pool2d_forward with strides equal to the pool and no padding, and backward max_pool2d_backward followed by
conv2d_backward (or conv2d_backward_relu) -- so the references here are those kernels, which tests/kernels/
test_conv.py and test_pooling.py check against NumPy loops; the gradients are also checked against central
differences (float64), away from the kinks (ties in a window, a convolution output near 0 under relu).
"""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from nbkeras.kernels.cpu import conv, pooling

from tests.kernels.test_conv import args, axis
from tests.support.gradcheck import assert_f32_close, check_gradient, upstream_like
from tests.support.strategies import floats_array, seeds


@st.composite
def problems(draw, relu=st.booleans()):
    n = draw(st.integers(1, 3))
    h, kh, sh, pt, dh, oh = draw(axis(max_side=7))
    w, kw, sw, pl, dw, ow = draw(axis(max_side=7))
    ph, pw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    assume(oh >= ph and ow >= pw)
    groups = draw(st.integers(1, 2))
    cg, fg = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    x = draw(floats_array((n, h, w, cg * groups)))
    kernel = draw(floats_array((kh, kw, cg, fg * groups)))
    bias = draw(floats_array((fg * groups,))) if draw(st.booleans()) else np.empty(0)
    geo = dict(sh=sh, sw=sw, pt=pt, pl=pl, dh=dh, dw=dw, groups=groups, oh=oh, ow=ow, ph=ph, pw=pw)
    return x, kernel, bias, geo, draw(relu)


def pool_args(geo):
    return (geo["oh"], geo["ow"], geo["ph"], geo["pw"], geo["groups"])


def fused_cols(x, kernel, geo, images):
    size = conv.conv2d_max_pool2d_scratch_size(images, geo["oh"], geo["ow"], kernel.shape[0], kernel.shape[1],
                                               x.shape[3], kernel.shape[3], geo["groups"], 1 << 30)
    return np.full(size, np.nan, x.dtype)


def pooled_shape(x, kernel, geo):
    return (x.shape[0], geo["oh"] // geo["ph"], geo["ow"] // geo["pw"], kernel.shape[3])


def fused_forward(x, kernel, bias, geo, relu, images=None):
    pooled = np.full(pooled_shape(x, kernel, geo), np.nan, x.dtype)
    argmax = np.full(pooled.shape, np.nan, x.dtype)
    conv.conv2d_max_pool2d_forward(x, kernel, bias.astype(x.dtype), pooled, argmax,
                                   fused_cols(x, kernel, geo, images or x.shape[0]), *args(geo, groups=False),
                                   *pool_args(geo), relu)
    return pooled, argmax


def composed_forward(x, kernel, bias, geo, relu):
    """The unfused kernels: (pooled, argmax, z)."""
    z = np.full((x.shape[0], geo["oh"], geo["ow"], kernel.shape[3]), np.nan, x.dtype)
    cols = np.full(conv.conv2d_scratch_min(geo["oh"], geo["ow"], kernel.shape[0], kernel.shape[1], x.shape[3],
                                           geo["groups"]) * x.shape[0], np.nan, x.dtype)
    (conv.conv2d_forward_relu if relu else conv.conv2d_forward)(x, kernel, bias.astype(x.dtype), z, cols,
                                                                  *args(geo))
    pooled = np.full(pooled_shape(x, kernel, geo), np.nan, x.dtype)
    argmax = np.full(pooled.shape, np.nan, x.dtype)
    pooling.max_pool2d_forward(z, pooled, argmax, geo["ph"], geo["pw"], geo["ph"], geo["pw"], 0, 0)
    return pooled, argmax, z


def fused_backward(x, kernel, bias, dpooled, geo, relu, need_dx=True, images=None, accumulate=False, dk=None,
                   db=None):
    pooled, argmax = fused_forward(x, kernel, bias, geo, relu)
    dx = np.full(x.shape, np.nan, x.dtype) if need_dx else np.empty((0, 0, 0, 0), x.dtype)
    dk = np.full(kernel.shape, np.nan, x.dtype) if dk is None else dk
    db = (np.full(bias.shape, np.nan, x.dtype) if db is None else db) if bias.size else np.empty(0, x.dtype)
    conv.conv2d_max_pool2d_backward(x, kernel, pooled, argmax, dpooled.astype(x.dtype).copy(), dx, dk, db,
                                    fused_cols(x, kernel, geo, images or x.shape[0]), *args(geo, groups=False),
                                    *pool_args(geo), relu, accumulate)
    return dx, dk, db


def composed_backward(x, kernel, bias, dpooled, geo, relu):
    pooled, argmax, z = composed_forward(x, kernel, bias, geo, relu)
    dz = np.full(z.shape, np.nan, x.dtype)
    pooling.max_pool2d_backward(argmax, dpooled.astype(x.dtype).copy(), dz)
    dx = np.full(x.shape, np.nan, x.dtype)
    dk = np.full(kernel.shape, np.nan, x.dtype)
    db = np.full(bias.shape, np.nan, x.dtype) if bias.size else np.empty(0, x.dtype)
    cols = np.full(conv.conv2d_scratch_min(geo["oh"], geo["ow"], kernel.shape[0], kernel.shape[1], x.shape[3],
                                           geo["groups"]) * x.shape[0], np.nan, x.dtype)
    if relu:
        conv.conv2d_backward_relu(x, kernel, z, dz, dx, dk, db, cols, *args(geo), False)
    else:
        conv.conv2d_backward(x, kernel, dz, dx, dk, db, cols, *args(geo), False)
    return dx, dk, db


@given(problems(), st.sampled_from([None, 1]))
def test_forward_is_conv_then_pool(problem, images):
    x, kernel, bias, geo, relu = problem
    pooled, argmax = fused_forward(x, kernel, bias, geo, relu, images)
    want, want_arg, _ = composed_forward(x, kernel, bias, geo, relu)
    np.testing.assert_allclose(pooled, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(argmax, want_arg)


@given(problems(), seeds(), st.sampled_from([None, 1]), st.booleans())
def test_backward_is_pool_then_conv(problem, seed, images, need_dx):
    x, kernel, bias, geo, relu = problem
    dpooled = upstream_like(pooled_shape(x, kernel, geo), np.random.default_rng(seed))
    got = fused_backward(x, kernel, bias, dpooled, geo, relu, need_dx, images)
    want = composed_backward(x, kernel, bias, dpooled, geo, relu)
    for g, w in zip(got if need_dx else got[1:], want if need_dx else want[1:]):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


def _random_values(problem, seed):
    """The drawn geometry with normal random values (hypothesis's simplest arrays are all ties)."""
    x, kernel, bias, geo, relu = problem
    rng = np.random.default_rng(seed)
    return rng.normal(size=x.shape), rng.normal(size=kernel.shape), rng.normal(size=bias.shape), geo, relu


def _away_from_kinks(x, kernel, bias, geo, relu, margin=1e-4):
    """assume() that +-h moves no argmax and no relu: window values distinct, convolution outputs away from 0."""
    _, _, z = composed_forward(x, kernel, bias, geo, False)
    ph, pw = geo["ph"], geo["pw"]
    n, _, _, f = z.shape
    rows, cols_ = geo["oh"] // ph, geo["ow"] // pw
    win = z[:, :rows * ph, :cols_ * pw].reshape(n, rows, ph, cols_, pw, f).transpose(0, 1, 3, 5, 2, 4)
    win = np.sort(win.reshape(n, rows, cols_, f, ph * pw), axis=-1)
    assume(ph * pw < 2 or bool(np.all(np.diff(win, axis=-1) >= margin)))
    if relu:
        assume(bool(np.all(np.abs(win) >= margin)))


@given(problems(), seeds())
def test_gradients_match_central_differences(problem, seed):
    x, kernel, bias, geo, relu = _random_values(problem, seed)
    _away_from_kinks(x, kernel, bias, geo, relu)
    dpooled = upstream_like(pooled_shape(x, kernel, geo), np.random.default_rng(seed))
    dx, dk, db = fused_backward(x, kernel, bias, dpooled, geo, relu)

    def f(x_, k_, b_):
        return fused_forward(x_, k_, b_, geo, relu)[0]

    check_gradient(f, [x, kernel, bias], dx, 0, dpooled)
    check_gradient(f, [x, kernel, bias], dk, 1, dpooled)
    if bias.size:
        check_gradient(f, [x, kernel, bias], db, 2, dpooled)


@given(problems(), seeds())
def test_float32_agrees_with_float64(problem, seed):
    x, kernel, bias, geo, relu = _random_values(problem, seed)
    _away_from_kinks(x, kernel, bias, geo, relu)
    dpooled = upstream_like(pooled_shape(x, kernel, geo), np.random.default_rng(seed))
    p64, _ = fused_forward(x, kernel, bias, geo, relu)
    p32, _ = fused_forward(x.astype(np.float32), kernel.astype(np.float32), bias, geo, relu)
    assert_f32_close(p32, p64)
    for g32, g64 in zip(fused_backward(x.astype(np.float32), kernel.astype(np.float32), bias, dpooled, geo, relu),
                        fused_backward(x, kernel, bias, dpooled, geo, relu)):
        assert_f32_close(g32, g64)


@given(problems(), seeds())
def test_accumulate_adds_and_inputs_are_not_mutated(problem, seed):
    x, kernel, bias, geo, relu = problem
    dpooled = upstream_like(pooled_shape(x, kernel, geo), np.random.default_rng(seed))
    before = [a.copy() for a in (x, kernel, bias)]
    _, dk, db = fused_backward(x, kernel, bias, dpooled, geo, relu)
    dk0, db0 = np.full(kernel.shape, 0.5), np.full(bias.shape, -0.25)
    _, dk1, db1 = fused_backward(x, kernel, bias, dpooled, geo, relu, accumulate=True, dk=dk0.copy(),
                                 db=db0.copy())
    np.testing.assert_allclose(dk1, dk + dk0, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db1, db + db0, rtol=1e-12, atol=1e-12)
    for a, b in zip(before, (x, kernel, bias)):
        np.testing.assert_array_equal(a, b)


def test_threaded_batch_matches_one_chunk():
    """A batch large enough to be split among numba's threads (checked: more than one part each way) gives the
    composition's result."""
    n = 40
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 14, 14, 3))
    kernel = rng.normal(size=(3, 3, 3, 16))
    bias = rng.normal(size=16)
    geo = dict(sh=1, sw=1, pt=0, pl=0, dh=1, dw=1, groups=1, oh=12, ow=12, ph=2, pw=2)
    per = 12 * 12 * (27 + 16)
    cols = fused_cols(x, kernel, geo, n).size
    macs = n * 12 * 12 * 27 * 16
    assert conv._parts(n, per, 0, cols, macs) > 1
    assert conv._parts(n, per, kernel.size + bias.size, cols, 2 * macs) > 1
    dpooled = rng.normal(size=pooled_shape(x, kernel, geo))
    got, got_arg = fused_forward(x, kernel, bias, geo, True, images=n)
    want, want_arg, _ = composed_forward(x, kernel, bias, geo, True)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(got_arg, want_arg)
    got = fused_backward(x, kernel, bias, dpooled, geo, True, images=n)
    for g, w in zip(got, composed_backward(x, kernel, bias, dpooled, geo, True)):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-10)


def _call_forward(x, kernel, bias, pooled, argmax, cols, geo):
    conv.conv2d_max_pool2d_forward(x, kernel, bias, pooled, argmax, cols, *args(geo, groups=False),
                                   *pool_args(geo), True)


@pytest.mark.parametrize("change, message", [
    (dict(oh=5), "OH/OW do not follow"),
    (dict(ph=0), "pool must be"),
    (dict(ph=7), "pool must be"),
    (dict(pooled=(2, 2, 3, 4)), "pooled must be"),
    (dict(argmax=(2, 3, 2, 4)), "argmax must have"),
    (dict(cols=10), "cols is shorter"),
    (dict(groups=2), "groups must equal"),
    (dict(dtype=np.float32), "one float dtype"),
])
def test_bad_arguments_raise(change, message):
    x = np.zeros((2, 8, 8, 3))
    kernel = np.zeros((3, 3, 3, 4))
    geo = dict(sh=1, sw=1, pt=0, pl=0, dh=1, dw=1, groups=1, oh=6, ow=6, ph=2, pw=2)
    geo.update({k: v for k, v in change.items() if k in geo})
    pooled = np.zeros(change.get("pooled", (2, 3, 3, 4)))
    argmax = np.zeros(change.get("argmax", (2, 3, 3, 4)), change.get("dtype", np.float64))
    cols = np.zeros(change.get("cols", 10_000))
    with pytest.raises(ValueError, match=message):
        _call_forward(x, kernel, np.zeros(4), pooled, argmax, cols, geo)


def test_backward_rejects_a_bad_argmax():
    x = np.ones((2, 4, 4, 1))
    kernel = np.ones((1, 1, 1, 4))
    geo = dict(sh=1, sw=1, pt=0, pl=0, dh=1, dw=1, groups=1, oh=4, ow=4, ph=2, pw=2)
    pooled, argmax = fused_forward(x, kernel, np.empty(0), geo, False)
    for bad in (99.0, np.nan, 1.5):
        a = argmax.copy()
        a[1, 1, 1, 2] = bad
        with pytest.raises(ValueError, match="argmax"):
            conv.conv2d_max_pool2d_backward(x, kernel, pooled, a, np.ones_like(pooled), np.zeros_like(x),
                                            np.zeros_like(kernel), np.empty(0), fused_cols(x, kernel, geo, 2),
                                            *args(geo, groups=False), *pool_args(geo), False, False)
