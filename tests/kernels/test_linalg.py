"""Batched matrix products: against np.matmul, gradients against central differences (float64), a shared operand
(Ba or Bb = 1) whose gradient sums over the products, accumulate, skipped gradients, empty batches, bad shapes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbkeras.kernels.cpu import linalg
from tests.support.gradcheck import assert_f32_close, check_gradient, upstream_like
from tests.support.strategies import floats_array, seeds


def forward(a, b):
    out = np.empty((max(a.shape[0], b.shape[0]), a.shape[1], b.shape[2]), a.dtype)
    linalg.bmm_forward(a, b, out)
    return out


@given(data=st.data(), shared=st.sampled_from(["none", "a", "b"]), seed=seeds())
def test_forward_and_gradients(data, shared, seed):
    B, m, k, n = (data.draw(st.integers(1, 3)) for _ in range(4))
    a = data.draw(floats_array((1 if shared == "a" else B, m, k)))
    b = data.draw(floats_array((1 if shared == "b" else B, k, n)))
    y = forward(a, b)
    np.testing.assert_allclose(y, np.matmul(a, b), rtol=1e-12, atol=1e-12)
    dy = upstream_like(y.shape, np.random.default_rng(seed))
    da, db = np.full_like(a, np.nan), np.full_like(b, np.nan)
    linalg.bmm_backward(a, b, dy, da, db, False, False)
    check_gradient(forward, [a, b], da, 0, dy)
    check_gradient(forward, [a, b], db, 1, dy)
    assert_f32_close(forward(a.astype(np.float32), b.astype(np.float32)), y)
    da2, db2 = np.ones_like(a), np.ones_like(b)
    linalg.bmm_backward(a, b, dy, da2, db2, True, True)
    np.testing.assert_allclose(da2, da + 1, rtol=1e-12)
    np.testing.assert_allclose(db2, db + 1, rtol=1e-12)


def test_skipped_and_empty_batch():
    a, b = np.ones((2, 2, 3)), np.ones((1, 3, 4))
    dy = np.ones((2, 2, 4))
    db = np.full_like(b, np.nan)
    linalg.bmm_backward(a, b, dy, np.empty((0, 0, 0)), db, False, False)
    np.testing.assert_array_equal(db, 2.0 * np.ones_like(b) * 2)  # sum over batch (2) of a^T @ dy (2 rows)
    db = np.full((1, 3, 4), np.nan)
    linalg.bmm_backward(np.ones((0, 2, 3)), b, np.ones((0, 2, 4)), np.empty((0, 0, 0)), db, False, False)
    np.testing.assert_array_equal(db, 0.0)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="bmm_forward"):
        linalg.bmm_forward(np.ones((2, 2, 3)), np.ones((3, 3, 4)), np.empty((2, 2, 4)))
    with pytest.raises(ValueError, match="bmm_forward"):
        linalg.bmm_forward(np.ones((2, 2, 3)), np.ones((2, 2, 4)), np.empty((2, 2, 4)))
