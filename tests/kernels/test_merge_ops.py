"""merge_ops kernels: elementwise merges, max/min with first-index ties, batch dot and repeat, against NumPy;
gradients against central differences (float64), float32 against float64, skipped gradients, bad shapes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbkeras.kernels.cpu import merge_ops
from tests.support.gradcheck import assert_f32_close, check_gradient, upstream_like
from tests.support.strategies import dims, floats_array, no_ties, seeds


@st.composite
def same_length(draw, count=st.integers(1, 4), lo=-3.0, hi=3.0):
    n, k = draw(dims(1, 8)), draw(count)
    return [draw(floats_array((n,), lo, hi)) for _ in range(k)]


def product(*xs):
    out = np.empty_like(xs[0])
    for i, x in enumerate(xs):
        merge_ops.multiply_forward(x, out, i == 0)
    return out


@given(same_length(), seeds())
def test_multiply_forward_and_gradients(xs, seed):
    np.testing.assert_allclose(product(*xs), np.prod(xs, axis=0), rtol=1e-12)
    dy = upstream_like(xs[0].shape, np.random.default_rng(seed))
    for i in range(len(xs)):
        dx = dy.copy()
        for j, x in enumerate(xs):
            if j != i:
                merge_ops.multiply_into(dx, x)
        check_gradient(product, xs, dx, i, dy)


@given(same_length(st.just(2)), seeds())
def test_subtract_negate_divide(xs, seed):
    a, b = xs
    out = np.empty_like(a)
    merge_ops.subtract_forward(a, b, out)
    np.testing.assert_array_equal(out, a - b)
    neg = np.empty_like(a)
    merge_ops.negate_into(neg, a)
    np.testing.assert_array_equal(neg, -a)
    merge_ops.divide_into(out, out, 3.0)  # in place, as Average uses it
    np.testing.assert_array_equal(out, (a - b) / 3.0)


def extreme(take_max):
    def f(*xs):
        out, winner = np.empty_like(xs[0]), np.empty_like(xs[0])
        for i, x in enumerate(xs):
            merge_ops.extreme_forward(x, out, winner, i, take_max)
        return out
    return f


@given(same_length(st.integers(1, 4)), st.booleans(), seeds())
def test_extreme_forward_and_gradients(xs, take_max, seed):
    stacked = no_ties(np.stack(xs), axis=0)  # +-h must not cross a tie (ties are tested below)
    f = extreme(take_max)
    np.testing.assert_array_equal(f(*xs), stacked.max(0) if take_max else stacked.min(0))
    out, winner = np.empty_like(xs[0]), np.empty_like(xs[0])
    for i, x in enumerate(xs):
        merge_ops.extreme_forward(x, out, winner, i, take_max)
    dy = upstream_like(out.shape, np.random.default_rng(seed))
    for i in range(len(xs)):
        dx = np.full_like(dy, np.nan)
        merge_ops.extreme_backward(dy, winner, i, dx)
        check_gradient(f, xs, dx, i, dy)


def test_extreme_ties_send_the_gradient_to_the_first_input():
    a = np.array([1.0, 2.0, 5.0])
    b = np.array([1.0, 3.0, 5.0])
    c = np.array([0.0, 3.0, 5.0])
    out, winner = np.empty(3), np.empty(3)
    for i, x in enumerate((a, b, c)):
        merge_ops.extreme_forward(x, out, winner, i, True)
    np.testing.assert_array_equal(winner, [0, 1, 0])
    dy = np.array([10.0, 20.0, 30.0])
    grads = []
    for i in range(3):
        dx = np.empty(3)
        merge_ops.extreme_backward(dy, winner, i, dx)
        grads.append(dx)
    np.testing.assert_array_equal(grads, [[10, 0, 30], [0, 20, 0], [0, 0, 0]])
    merge_ops.extreme_backward(dy, winner, 0, np.empty(0))  # size 0: skipped


@st.composite
def dot_cases(draw):
    b, m, n, k = draw(dims(1, 3)), draw(dims(1, 3)), draw(dims(1, 3)), draw(dims(1, 4))
    xa, ya = draw(st.sampled_from([1, 2])), draw(st.sampled_from([1, 2]))
    x = draw(floats_array((b, k, m) if xa == 1 else (b, m, k)))
    y = draw(floats_array((b, k, n) if ya == 1 else (b, n, k)))
    return x, y, xa, ya


def bdot(x, y, xa, ya):
    xm = np.swapaxes(x, 1, 2) if xa == 1 else x
    ym = np.swapaxes(y, 1, 2) if ya == 2 else y
    out = np.empty((x.shape[0], xm.shape[1], ym.shape[2]))
    merge_ops.batch_dot_forward(x, y, out, xa, ya)
    return out


@given(dot_cases(), seeds())
def test_batch_dot_forward_and_gradients(case, seed):
    x, y, xa, ya = case
    xm = np.swapaxes(x, 1, 2) if xa == 1 else x
    ym = np.swapaxes(y, 1, 2) if ya == 2 else y
    np.testing.assert_allclose(bdot(x, y, xa, ya), xm @ ym, rtol=1e-12, atol=1e-12)
    dy = upstream_like((x.shape[0], xm.shape[1], ym.shape[2]), np.random.default_rng(seed))
    dx, dyy = np.full_like(x, np.nan), np.full_like(y, np.nan)
    merge_ops.batch_dot_backward(x, y, dy, dx, dyy, xa, ya)

    def f(x, y):
        return bdot(x, y, xa, ya)

    check_gradient(f, [x, y], dx, 0, dy)
    check_gradient(f, [x, y], dyy, 1, dy)
    dx32 = np.empty(x.shape, np.float32)
    merge_ops.batch_dot_backward(x.astype(np.float32), y.astype(np.float32), dy.astype(np.float32), dx32,
                                 np.empty((0, 0, 0), np.float32), xa, ya)
    assert_f32_close(dx32, dx)


def test_batch_dot_bad_shapes():
    x, y = np.ones((2, 3, 4)), np.ones((2, 4, 5))
    with pytest.raises(ValueError, match="must be 1 or 2"):
        merge_ops.batch_dot_forward(x, y, np.empty((2, 3, 5)), 0, 1)
    with pytest.raises(ValueError, match="share the batch and the contracted size"):
        merge_ops.batch_dot_forward(x, y, np.empty((2, 3, 5)), 1, 1)
    with pytest.raises(ValueError, match="out must be"):
        merge_ops.batch_dot_forward(x, y, np.empty((2, 3, 4)), 2, 1)
    with pytest.raises(ValueError, match="dx must have the shape of x"):
        merge_ops.batch_dot_backward(x, y, np.ones((2, 3, 5)), np.empty((2, 4, 3)), np.empty((0, 0, 0)), 2, 1)


@given(st.tuples(dims(1, 3), dims(1, 4)).flatmap(lambda s: floats_array(s)), dims(1, 3), seeds())
def test_repeat_forward_and_gradient(x, n, seed):
    def f(x):
        out = np.empty((x.shape[0], n, x.shape[1]))
        merge_ops.repeat_forward(x, out)
        return out

    np.testing.assert_array_equal(f(x), np.repeat(x[:, None, :], n, axis=1))
    dy = upstream_like((x.shape[0], n, x.shape[1]), np.random.default_rng(seed))
    dx = np.full_like(x, np.nan)
    merge_ops.repeat_backward(dy, dx)
    check_gradient(f, [x], dx, 0, dy)
    merge_ops.repeat_backward(dy, np.empty((0, 0)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes_kept_inputs_not_mutated_and_lengths_checked(dtype, rng):
    a, b = rng.normal(size=5).astype(dtype), rng.normal(size=5).astype(dtype)
    copies = a.copy(), b.copy()
    out = np.empty(5, dtype)
    merge_ops.multiply_forward(a, out, True)
    merge_ops.multiply_forward(b, out, False)
    assert out.dtype == dtype
    np.testing.assert_array_equal(a, copies[0])
    np.testing.assert_array_equal(b, copies[1])
    for call in (lambda: merge_ops.multiply_forward(a, np.empty(4, dtype), True),
                 lambda: merge_ops.subtract_forward(a, b[:4], out),
                 lambda: merge_ops.extreme_forward(a, out, np.empty(3, dtype), 0, True),
                 lambda: merge_ops.repeat_forward(a.reshape(1, 5), np.empty((1, 2, 4), dtype))):
        with pytest.raises(ValueError):
            call()
