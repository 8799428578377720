"""Dense kernels: forward against NumPy, gradients against central finite differences (float64, random upstream),
float32 against float64, accumulation, the skipped input gradient, no mutation of inputs, and bad arguments."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbkeras.kernels.cpu import dense
from tests.support.gradcheck import assert_f32_close, check_gradient, upstream_like
from tests.support.strategies import dims, floats_array, seeds


@st.composite
def layers(draw, with_bias=st.booleans()):
    """(x, kernel, bias) as float64 arrays of float32-representable values; bias is empty without a bias."""
    rows, fan_in, units = draw(dims(1, 6)), draw(dims(1, 6)), draw(dims(1, 6))
    x = draw(floats_array((rows, fan_in)))
    kernel = draw(floats_array((fan_in, units)))
    bias = draw(floats_array((units,))) if draw(with_bias) else np.empty(0)
    return x, kernel, bias


def forward(x, kernel, bias):
    out = np.empty((x.shape[0], kernel.shape[1]), x.dtype)
    dense.dense_forward(x, kernel, bias, out)
    return out


def backward(x, kernel, bias, dy, need_dx=True):
    """(dx, dkernel, dbias) from dense_backward, overwriting (accumulate=False)."""
    dx = np.full_like(x, np.nan) if need_dx else np.empty((0, 0), x.dtype)
    dkernel = np.full_like(kernel, np.nan)
    dbias = np.full_like(bias, np.nan)
    dense.dense_backward(x, kernel, dy, dx, dkernel, dbias, False)
    return dx, dkernel, dbias


@given(layers())
def test_forward_matches_numpy(layer):
    x, kernel, bias = layer
    expected = x @ kernel + (bias if bias.size else 0.0)
    np.testing.assert_allclose(forward(x, kernel, bias), expected, rtol=1e-12, atol=1e-12)


@given(layers(), seeds())
def test_gradients_match_finite_differences(layer, seed):
    x, kernel, bias = layer
    rng = np.random.default_rng(seed)
    dy = upstream_like((x.shape[0], kernel.shape[1]), rng)
    dx, dkernel, dbias = backward(x, kernel, bias, dy)
    inputs = [x, kernel, bias]
    check_gradient(forward, inputs, dx, 0, dy)
    check_gradient(forward, inputs, dkernel, 1, dy)
    if bias.size:
        check_gradient(forward, inputs, dbias, 2, dy)


@given(layers(), seeds())
def test_float32_agrees_with_float64(layer, seed):
    x, kernel, bias = layer
    dy = upstream_like((x.shape[0], kernel.shape[1]), np.random.default_rng(seed)).astype(np.float32)
    f32 = [a.astype(np.float32) for a in (x, kernel, bias)]
    assert_f32_close(forward(*f32), forward(x, kernel, bias))
    for got, want in zip(backward(*f32, dy), backward(x, kernel, bias, dy.astype(np.float64))):
        if want.size:
            assert_f32_close(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inputs_are_not_mutated(dtype, rng):
    x, kernel, bias = (rng.standard_normal(s).astype(dtype) for s in [(5, 4), (4, 3), (3,)])
    dy = rng.standard_normal((5, 3)).astype(dtype)
    copies = [a.copy() for a in (x, kernel, bias, dy)]
    out = forward(x, kernel, bias)
    grads = backward(x, kernel, bias, dy)
    assert out.dtype == dtype and all(g.dtype == dtype for g in grads)
    for a, a0 in zip((x, kernel, bias, dy), copies):
        np.testing.assert_array_equal(a, a0)


@given(layers(with_bias=st.just(True)), seeds())
def test_accumulate_adds_to_dkernel_and_dbias(layer, seed):
    x, kernel, bias = layer
    rng = np.random.default_rng(seed)
    dy = upstream_like((x.shape[0], kernel.shape[1]), rng)
    _, dkernel, dbias = backward(x, kernel, bias, dy)
    start_k, start_b = rng.standard_normal(kernel.shape), rng.standard_normal(bias.shape)
    acc_k, acc_b, dx = start_k.copy(), start_b.copy(), np.full_like(x, np.nan)
    dense.dense_backward(x, kernel, dy, dx, acc_k, acc_b, True)
    np.testing.assert_allclose(acc_k, start_k + dkernel, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(acc_b, start_b + dbias, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, dy @ kernel.T, rtol=1e-12, atol=1e-12)  # dx is overwritten, not accumulated


def test_empty_dx_skips_the_input_gradient(rng):
    x, kernel, bias = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    dy = rng.standard_normal((5, 3))
    _, dkernel, dbias = backward(x, kernel, bias, dy, need_dx=False)
    np.testing.assert_allclose(dkernel, x.T @ dy, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dbias, dy.sum(axis=0), rtol=1e-12, atol=1e-12)


def test_bad_arguments_raise_before_writing(rng):
    x, kernel, dy = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal((5, 3))
    out = np.zeros((5, 3))
    with pytest.raises(ValueError, match="bias must have length 0 or units"):
        dense.dense_forward(x, kernel, np.ones(2), out)
    dkernel = np.zeros((4, 3))
    with pytest.raises(ValueError, match="dbias must have length 0 or units"):
        dense.dense_backward(x, kernel, dy, np.empty((5, 4)), dkernel, np.zeros(2), True)
    with pytest.raises(ValueError, match="shapes do not agree"):
        dense.dense_backward(x, kernel, dy, np.empty((5, 5)), dkernel, np.zeros(3), True)
    np.testing.assert_array_equal(dkernel, 0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [dense.PARALLEL_MIN_ROWS, 5 * dense.CHUNK_ROWS + 17])
@pytest.mark.parametrize("with_bias", [True, False])
def test_large_calls_cut_into_chunks_match_numpy_and_one_product(rows, with_bias, dtype, rng):
    """Above PARALLEL_MIN_WORK multiply-adds and PARALLEL_MIN_ROWS rows the rows are cut into CHUNK_ROWS-row
    products claimed by numba's threads (a remainder chunk included): every row as NumPy computes it, each chunk
    equal to the same rows computed alone (so the result does not depend on which thread took which chunk)."""
    fan_in = dense.PARALLEL_MIN_WORK // (rows * 64) + 3
    x = rng.standard_normal((rows, fan_in)).astype(dtype)
    kernel = rng.standard_normal((fan_in, 64)).astype(dtype)
    bias = rng.standard_normal(64).astype(dtype) if with_bias else np.empty(0, dtype)
    assert rows * fan_in * 64 >= dense.PARALLEL_MIN_WORK
    out = np.full((rows, 64), np.nan, dtype)
    dense.dense_forward(x, kernel, bias, out)
    expected = x.astype(np.float64) @ kernel + (bias if with_bias else 0.0)
    np.testing.assert_allclose(out, expected, rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-3)
    last = (rows // dense.CHUNK_ROWS) * dense.CHUNK_ROWS
    for r0 in (0, last):
        r1 = min(r0 + dense.CHUNK_ROWS, rows)
        alone = np.empty((r1 - r0, 64), dtype)
        dense.dense_forward(np.ascontiguousarray(x[r0:r1]), kernel, bias, alone)
        np.testing.assert_array_equal(out[r0:r1], alone)
