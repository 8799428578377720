"""Step bookkeeping kernels: loss reduction and its gradient (central differences), row means, weights, state."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbkeras.kernels.cpu import step
from tests.support.gradcheck import check_gradient, upstream_like
from tests.support.strategies import dims, floats_array, seeds


def _reduce(values, weights, reduction, loss_weight):
    acc, tracker = np.zeros(1), np.zeros(2)
    step.loss_accumulate(values, weights, reduction, loss_weight, 3, acc, tracker)
    return acc[0], tracker


@given(st.data(), st.sampled_from([step.SUM_OVER_BATCH_SIZE, step.SUM, step.MEAN_WITH_SAMPLE_WEIGHT]))
def test_loss_reduction_matches_keras_formulas_and_its_upstream_is_the_gradient(data, reduction):
    n = data.draw(dims(1, 6))
    values = data.draw(floats_array((n,)))
    weights = data.draw(floats_array((n,), 0.1, 2.0))
    lw = 0.7
    total, tracker = _reduce(values, weights, reduction, lw)
    expected = {step.SUM_OVER_BATCH_SIZE: np.sum(weights * values) / n, step.SUM: np.sum(weights * values),
                step.MEAN_WITH_SAMPLE_WEIGHT: np.sum(weights * values) / np.sum(weights)}[reduction]
    assert total == pytest.approx(lw * expected, rel=1e-12)
    np.testing.assert_allclose(tracker, [expected * 3, 3])
    dv = np.empty(n)
    step.loss_upstream(weights, reduction, lw, dv)
    check_gradient(lambda v: np.array([_reduce(v, weights, reduction, lw)[0]]), [values.copy()], dv, 0,
                   np.ones(1))


@given(st.data(), seeds())
def test_row_mean_and_its_gradient(data, seed):
    r, k = data.draw(dims(1, 5)), data.draw(dims(1, 5))
    x = data.draw(floats_array((r, k)))
    out = np.empty(r)
    step.row_mean_forward(x, out)
    np.testing.assert_allclose(out, x.mean(axis=1), rtol=1e-12)
    u = upstream_like((r,), np.random.default_rng(seed))
    dx = np.empty_like(x)
    step.row_mean_backward(u, dx)

    def fwd(a):
        o = np.empty(r)
        step.row_mean_forward(a, o)
        return o

    check_gradient(fwd, [x.copy()], dx, 0, u)


def test_gather_or_fill_state_accumulate_and_bad_shapes():
    src, order = np.arange(12.0).reshape(6, 2), np.array([5, 0, 3, 1, 2, 4])
    dst = np.zeros((3, 2))
    step.gather_or_fill(src, order, 1, 4, dst, 1.0)
    np.testing.assert_array_equal(dst, src[[0, 3, 1]])
    step.gather_or_fill(np.zeros((0, 2)), order, 0, 2, dst, 1.0)
    np.testing.assert_array_equal(dst[:2], 1.0)
    state = np.array([1.0, 2.0])
    step.state_accumulate(np.array([[1.0, 2.0], [3.0, 4.0]]), state, False, 1.0)
    np.testing.assert_array_equal(state, [5.0, 8.0])
    step.state_accumulate(np.array([[1.0, 2.0], [3.0, 4.0]]), state, True, -1.0)
    np.testing.assert_array_equal(state, [3.0, 5.0])
    with pytest.raises(ValueError):
        step.loss_accumulate(np.ones(3), np.ones(2), 0, 1.0, 3, np.zeros(1), np.zeros(0))
    with pytest.raises(ValueError):
        step.state_accumulate(np.ones((2, 3)), np.zeros(2), False, 1.0)
    with pytest.raises(ValueError):
        step.gather_or_fill(src, np.array([9]), 0, 1, dst, 1.0)
