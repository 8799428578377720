"""Embedding kernels: gather against NumPy indexing, scatter-add gradient against central differences (float64,
random upstream, repeated indices), float32 against float64, accumulation, no mutation of inputs, indices given as
floats of the table's dtype (how a model's inputs arrive) or as ints, and indices outside the table, non-integral
or NaN, or bad shapes raising ValueError before anything is written."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nbkeras.kernels.cpu import embedding
from tests.support.gradcheck import assert_f32_close, check_gradient, upstream_like
from tests.support.strategies import dims, floats_array, seeds


@st.composite
def lookups(draw):
    """(indices, table): float64 indices holding integers (repeats likely) into a float64 (V, D) table of float32
    values."""
    vocab, width, n = draw(dims(1, 6)), draw(dims(1, 4)), draw(dims(0, 8))
    indices = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, vocab - 1))).astype(np.float64)
    return indices, draw(floats_array((vocab, width)))


def forward(indices, table):
    out = np.full((indices.shape[0], table.shape[1]), np.nan, table.dtype)
    embedding.embedding_forward(indices, table, out)
    return out


def backward(indices, dy, vocab, accumulate=False, start=None):
    dtable = np.full((vocab, dy.shape[1]), np.nan, dy.dtype) if start is None else start.copy()
    embedding.embedding_backward(indices, dy, dtable, accumulate)
    return dtable


@given(lookups())
def test_forward_matches_numpy(lookup):
    indices, table = lookup
    np.testing.assert_array_equal(forward(indices, table), table[indices.astype(np.int64)])


@given(lookups(), seeds())
def test_gradient_matches_finite_differences(lookup, seed):
    indices, table = lookup
    dy = upstream_like((indices.shape[0], table.shape[1]), np.random.default_rng(seed))
    dtable = backward(indices, dy, table.shape[0])
    check_gradient(lambda t: forward(indices, t), [table], dtable, 0, dy)


@given(lookups(), seeds())
def test_float32_agrees_with_float64(lookup, seed):
    indices, table = lookup
    dy = upstream_like((indices.shape[0], table.shape[1]), np.random.default_rng(seed))
    i32 = indices.astype(np.float32)
    assert_f32_close(forward(i32, table.astype(np.float32)), forward(indices, table))
    assert_f32_close(backward(i32, dy.astype(np.float32), table.shape[0]), backward(indices, dy, table.shape[0]))


def test_integer_and_float_indices_agree():
    table = np.arange(12.0).reshape(4, 3)
    ints = np.array([3, 0, 3, 1], np.int64)
    np.testing.assert_array_equal(forward(ints, table), forward(ints.astype(np.float64), table))
    dy = np.arange(12.0).reshape(4, 3)
    np.testing.assert_array_equal(backward(ints, dy, 4), backward(ints.astype(np.float64), dy, 4))


def test_repeated_indices_sum_and_unused_rows_are_zero():
    indices = np.array([2, 0, 2, 2], np.int64)
    dy = np.arange(8.0).reshape(4, 2)
    dtable = backward(indices, dy, 4)
    np.testing.assert_array_equal(dtable, [[2.0, 3.0], [0.0, 0.0], [0 + 4 + 6, 1 + 5 + 7], [0.0, 0.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inputs_are_not_mutated_and_accumulate_adds(dtype, rng):
    indices = np.array([1, 3, 1, 0], np.int64)
    table = rng.standard_normal((4, 3)).astype(dtype)
    dy = rng.standard_normal((4, 3)).astype(dtype)
    copies = [a.copy() for a in (indices, table, dy)]
    out = forward(indices, table)
    fresh = backward(indices, dy, 4)
    start = rng.standard_normal((4, 3)).astype(dtype)
    summed = backward(indices, dy, 4, accumulate=True, start=start)
    assert out.dtype == fresh.dtype == summed.dtype == dtype
    np.testing.assert_allclose(summed, start + fresh, rtol=1e-6)
    for a, a0 in zip((indices, table, dy), copies):
        np.testing.assert_array_equal(a, a0)


@pytest.mark.parametrize("bad", [-1, 4, 2**40, -1.0, 4.0, 1.5, -0.5, 3.999, np.nan, np.inf])
def test_bad_indices_raise_before_writing(bad):
    indices = np.array([0, bad, 1], np.int64 if isinstance(bad, int) else np.float64)
    table = np.ones((4, 2))
    out = np.zeros((3, 2))
    with pytest.raises(ValueError, match="embedding_forward: an index is not an integer in"):
        embedding.embedding_forward(indices, table, out)
    np.testing.assert_array_equal(out, 0.0)
    dtable = np.full((4, 2), 5.0)
    with pytest.raises(ValueError, match="embedding_backward: an index is not an integer in"):
        embedding.embedding_backward(indices, np.ones((3, 2)), dtable, False)
    np.testing.assert_array_equal(dtable, 5.0)


def test_bad_shapes_raise():
    indices = np.array([0, 1], np.int64)
    with pytest.raises(ValueError, match="out must have shape"):
        embedding.embedding_forward(indices, np.ones((4, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="out must have shape"):
        embedding.embedding_forward(indices, np.ones((4, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="dy must have shape"):
        embedding.embedding_backward(indices, np.ones((2, 3)), np.zeros((4, 2)), True)
