"""norm_ops kernels: layer, unit and given-statistics normalization and the affine map, against NumPy references;
gradients against central differences (float64), float32 against float64, accumulate semantics, skipped input
gradients, no mutation of inputs, bad shapes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbkeras.kernels.cpu import norm_ops
from tests.support.gradcheck import assert_f32_close, check_gradient, upstream_like
from tests.support.strategies import dims, floats_array, seeds

EMPTY = np.empty(0)


# ------------------------------------------------------------------------------------------ layer normalization
def ln_reference(x, gamma, beta, eps, rms):
    mean = x.mean(axis=1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=1, keepdims=True)
    g = gamma if gamma.size else 1.0
    if rms:
        return x / np.sqrt(var + eps) * g
    return (x - mean) / np.sqrt(var + eps) * g + (beta if beta.size else 0.0)


@st.composite
def ln_cases(draw):
    rows, d = draw(dims(1, 4)), draw(dims(2, 6))
    x = draw(floats_array((rows, d)))
    rms = draw(st.booleans())
    gamma = draw(floats_array((d,), 0.5, 2.0)) if (rms or draw(st.booleans())) else EMPTY
    beta = draw(floats_array((d,))) if (not rms and draw(st.booleans())) else EMPTY
    eps = draw(st.sampled_from([1e-3, 1e-2, 0.5]))
    return x, gamma, beta, eps, rms


def ln_forward(x, gamma, beta, eps, rms):
    out = np.empty_like(x)
    norm_ops.layer_norm_forward(x, gamma, beta, out, eps, rms)
    return out


def ln_backward(x, gamma, beta, dy, eps, rms, accumulate=False, start=None):
    dx = np.full_like(x, np.nan)
    dgamma = np.full_like(gamma, np.nan) if start is None else start[0].copy()
    dbeta = np.full_like(beta, np.nan) if start is None else start[1].copy()
    norm_ops.layer_norm_backward(x, gamma, dy, dx, dgamma, dbeta, eps, rms, accumulate)
    return dx, dgamma, dbeta


@given(ln_cases())
def test_layer_norm_forward_matches_numpy(case):
    x, gamma, beta, eps, rms = case
    np.testing.assert_allclose(ln_forward(*case), ln_reference(*case), rtol=1e-12, atol=1e-12)


@given(ln_cases(), seeds())
def test_layer_norm_gradients(case, seed):
    x, gamma, beta, eps, rms = case
    dy = upstream_like(x.shape, np.random.default_rng(seed))
    dx, dgamma, dbeta = ln_backward(x, gamma, beta, dy, eps, rms)

    def f(x, gamma, beta):
        return ln_forward(x, gamma, beta, eps, rms)

    check_gradient(f, [x, gamma, beta], dx, 0, dy)
    if gamma.size:
        check_gradient(f, [x, gamma, beta], dgamma, 1, dy)
    if beta.size:
        check_gradient(f, [x, gamma, beta], dbeta, 2, dy)


@given(ln_cases(), seeds())
def test_layer_norm_float32_agrees(case, seed):
    x, gamma, beta, eps, rms = case
    dy = upstream_like(x.shape, np.random.default_rng(seed))
    f32 = [a.astype(np.float32) for a in (x, gamma, beta)]
    assert_f32_close(ln_forward(*f32, eps, rms), ln_forward(x, gamma, beta, eps, rms))
    for got, want in zip(ln_backward(*f32, dy.astype(np.float32), eps, rms), ln_backward(x, gamma, beta, dy, eps, rms)):
        if want.size:
            assert_f32_close(got, want, rtol=1e-3, atol=1e-4)


def test_layer_norm_accumulate_and_skipped_dx(rng):
    x, gamma, beta, dy = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=4), rng.normal(size=(3, 4))
    _, dg, db = ln_backward(x, gamma, beta, dy, 1e-3, False)
    start = (rng.normal(size=4), rng.normal(size=4))
    _, dg2, db2 = ln_backward(x, gamma, beta, dy, 1e-3, False, accumulate=True, start=start)
    np.testing.assert_allclose(dg2, start[0] + dg, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db2, start[1] + db, rtol=1e-12, atol=1e-12)
    dgamma, dbeta = np.empty(4), np.empty(4)
    norm_ops.layer_norm_backward(x, gamma, dy, np.empty((0, 0)), dgamma, dbeta, 1e-3, False, False)
    np.testing.assert_allclose(dgamma, dg, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm_keeps_dtype_and_inputs(dtype, rng):
    x, gamma, beta, dy = (rng.normal(size=s).astype(dtype) for s in [(3, 4), (4,), (4,), (3, 4)])
    copies = [a.copy() for a in (x, gamma, beta, dy)]
    out = ln_forward(x, gamma, beta, 1e-3, False)
    grads = ln_backward(x, gamma, beta, dy, 1e-3, False)
    assert out.dtype == dtype and all(g.dtype == dtype for g in grads)
    for a, a0 in zip((x, gamma, beta, dy), copies):
        np.testing.assert_array_equal(a, a0)


def test_layer_norm_bad_shapes():
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match="out must have the shape"):
        norm_ops.layer_norm_forward(x, EMPTY, EMPTY, np.empty((2, 4)), 1e-3, False)
    with pytest.raises(ValueError, match="gamma and beta must have length 0 or D"):
        norm_ops.layer_norm_forward(x, np.ones(2), EMPTY, np.empty((2, 3)), 1e-3, False)
    with pytest.raises(ValueError, match="rms_scaling takes no beta"):
        norm_ops.layer_norm_forward(x, np.ones(3), np.ones(3), np.empty((2, 3)), 1e-3, True)
    with pytest.raises(ValueError, match="dx must have the shape of x"):
        norm_ops.layer_norm_backward(x, EMPTY, x, np.empty((3, 3)), EMPTY, EMPTY, 1e-3, False, False)


# ------------------------------------------------------------------------------------------- unit normalization
@st.composite
def unit_cases(draw):
    shape = (draw(dims(1, 3)), draw(dims(1, 4)), draw(dims(1, 3)))
    x = draw(floats_array(shape, 0.1, 3.0)) * np.where(draw(floats_array(shape)) < 0, -1.0, 1.0)
    return x


def unit_forward(x, eps=1e-12):
    out = np.empty_like(x)
    norm_ops.unit_norm_forward(x, out, eps)
    return out


@given(unit_cases(), seeds())
def test_unit_norm_forward_and_gradient(x, seed):
    np.testing.assert_allclose(unit_forward(x), x / np.linalg.norm(x, axis=1, keepdims=True), rtol=1e-12)
    dy = upstream_like(x.shape, np.random.default_rng(seed))
    dx = np.full_like(x, np.nan)
    norm_ops.unit_norm_backward(x, dy, dx, 1e-12)
    check_gradient(unit_forward, [x], dx, 0, dy)
    dx32 = np.empty(x.shape, np.float32)
    norm_ops.unit_norm_backward(x.astype(np.float32), dy.astype(np.float32), dx32, 1e-12)
    assert_f32_close(unit_forward(x.astype(np.float32)), unit_forward(x))
    assert_f32_close(dx32, dx, rtol=1e-3, atol=1e-4)


def test_unit_norm_cap_on_tiny_and_zero_slices():
    x = np.zeros((1, 3, 1))
    x[0, 0, 0] = 1e-9  # norm 1e-9 < ... but above the 1e-12 cap: normalized
    np.testing.assert_allclose(unit_forward(x)[0, :, 0], [1.0, 0.0, 0.0])
    z = np.zeros((2, 3, 1))
    np.testing.assert_array_equal(unit_forward(z), 0.0)  # no NaN for an all-zero slice
    dx = np.empty_like(z)
    norm_ops.unit_norm_backward(z, np.ones_like(z), dx, 1e-7)
    np.testing.assert_allclose(dx, 1e7)  # the capped map is x / epsilon
    w = np.full((1, 2, 1), 1e-9)
    np.testing.assert_allclose(unit_forward(w, 1e-7), w * 1e7)  # sum x^2 <= eps^2: x / eps


def test_unit_norm_skips_dx_and_checks_shapes():
    x = np.ones((1, 2, 1))
    norm_ops.unit_norm_backward(x, x, np.empty((0, 0, 0)), 1e-12)
    with pytest.raises(ValueError, match="out must have the shape"):
        norm_ops.unit_norm_forward(x, np.empty((1, 3, 1)), 1e-12)
    with pytest.raises(ValueError, match="dy must have the shape"):
        norm_ops.unit_norm_backward(x, np.ones((1, 1, 1)), np.empty((1, 2, 1)), 1e-12)


# ---------------------------------------------------------------------- given statistics and the affine map
@given(st.tuples(dims(1, 3), dims(1, 4), dims(1, 3)).flatmap(lambda s: floats_array(s)), st.booleans(), seeds())
def test_standardize_forward_and_gradient(x, invert, seed):
    rng = np.random.default_rng(seed)
    k = x.shape[1]
    mean = rng.normal(size=k)
    var = rng.uniform(0.2, 4.0, size=k)
    var[0] = 0.0  # the epsilon floor: divide by 1e-7 (or multiply by it)

    def f(x):
        out = np.empty_like(x)
        norm_ops.standardize_forward(x, mean, var, out, 1e-7, invert)
        return out

    denom = np.maximum(np.sqrt(var), 1e-7)[None, :, None]
    want = mean[None, :, None] + x * denom if invert else (x - mean[None, :, None]) / denom
    np.testing.assert_allclose(f(x), want, rtol=1e-12)
    dy = upstream_like(x.shape, rng)
    dx = np.empty_like(x)
    norm_ops.standardize_backward(var, dy, dx, 1e-7, invert)
    np.testing.assert_allclose(dx, dy * denom if invert else dy / denom, rtol=1e-12)
    var[0] = 1.0  # a central difference of x / 1e-7 loses its digits; the formula is checked just above
    norm_ops.standardize_backward(var, dy, dx, 1e-7, invert)
    check_gradient(f, [x], dx, 0, dy)


@given(st.tuples(dims(1, 4), dims(1, 4)).flatmap(lambda s: floats_array(s)), st.booleans(), seeds())
def test_affine_forward_and_gradient(x, per_column, seed):
    rng = np.random.default_rng(seed)
    n = x.shape[1] if per_column else 1
    scale, offset = rng.normal(size=n), rng.normal(size=x.shape[1])

    def f(x):
        out = np.empty_like(x)
        norm_ops.affine_forward(x, scale, offset, out)
        return out

    np.testing.assert_allclose(f(x), x * scale + offset, rtol=1e-12)
    dy = upstream_like(x.shape, rng)
    dx = np.empty_like(x)
    norm_ops.affine_backward(scale, dy, dx)
    check_gradient(f, [x], dx, 0, dy)
    out32 = np.empty(x.shape, np.float32)
    norm_ops.affine_forward(x.astype(np.float32), scale.astype(np.float32), offset.astype(np.float32), out32)
    assert_f32_close(out32, f(x))


def test_set_values_and_bad_shapes():
    out = np.zeros(10)
    norm_ops.set_values(out, 8, 2, 1.0, 2.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0)
    np.testing.assert_array_equal(out, [0] * 8 + [1, 2])
    with pytest.raises(ValueError, match="must fit in out"):
        norm_ops.set_values(out, 9, 2, 1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="mean and var must have length K"):
        norm_ops.standardize_forward(np.ones((1, 2, 1)), np.ones(3), np.ones(2), np.empty((1, 2, 1)), 1e-7, False)
    with pytest.raises(ValueError, match="scale and offset must have length 1 or C"):
        norm_ops.affine_forward(np.ones((2, 3)), np.ones(2), np.ones(1), np.empty((2, 3)))
    with pytest.raises(ValueError, match="dx must have the shape of dy"):
        norm_ops.affine_backward(np.ones(1), np.ones((2, 3)), np.empty((2, 2)))
