"""Batch normalization kernels: forward against an explicit-loop NumPy reference in training and inference mode,
the moving-statistics update against Keras 3's formula, gradients (training and inference) against central
differences, float32 against float64, accumulate, skipped outputs of size 0, dx aliasing dy, no mutation of inputs,
and ValueError for inconsistent shapes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbkeras.kernels.cpu import normalization as bn
from tests.support.gradcheck import assert_f32_close, check_gradient, upstream_like
from tests.support.strategies import floats_array, seeds

MOMENTUM, EPSILON = 0.99, 1e-3  # Keras's defaults


@st.composite
def bn_cases(draw, scale=st.booleans(), center=st.booleans()):
    """(x (R, C), gamma, beta, moving_mean, moving_var); gamma / beta empty for scale=False / center=False."""
    rows, ch = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    x = draw(floats_array((rows, ch)))
    gamma = draw(floats_array((ch,), 0.5, 2.0)) if draw(scale) else np.empty(0)
    beta = draw(floats_array((ch,))) if draw(center) else np.empty(0)
    moving_mean = draw(floats_array((ch,)))
    moving_var = draw(floats_array((ch,), 0.1, 3.0))
    return x, gamma, beta, moving_mean, moving_var


def forward(x, gamma, beta, moving_mean, moving_var, training, momentum=MOMENTUM, epsilon=EPSILON):
    """(out, xhat, mean, inv_std, new moving_mean, new moving_var); the moving statistics passed are not touched."""
    mm, mv = moving_mean.copy(), moving_var.copy()
    out, xhat = np.full_like(x, np.nan), np.full_like(x, np.nan)
    mean, inv_std = np.full(x.shape[1], np.nan, x.dtype), np.full(x.shape[1], np.nan, x.dtype)
    bn.batch_norm_forward(x, gamma, beta, mm, mv, out, xhat, mean, inv_std, momentum, epsilon, training)
    return out, xhat, mean, inv_std, mm, mv


def backward(dy, gamma, xhat, inv_std, training, need=(True, True, True)):
    dx = np.full_like(dy, np.nan) if need[0] else np.empty((0, 0), dy.dtype)
    dgamma = np.full(gamma.size, np.nan, dy.dtype) if need[1] else np.empty(0, dy.dtype)
    dbeta = np.full(dy.shape[1], np.nan, dy.dtype) if need[2] else np.empty(0, dy.dtype)
    bn.batch_norm_backward(dy, gamma, xhat, inv_std, dx, dgamma, dbeta, training, False)
    return dx, dgamma, dbeta


def reference(x, gamma, beta, moving_mean, moving_var, training):
    rows, ch = x.shape
    out = np.empty_like(x)
    mm, mv = moving_mean.copy(), moving_var.copy()
    for c in range(ch):
        if training:
            mean = sum(x[r, c] for r in range(rows)) / rows
            var = sum((x[r, c] - mean) ** 2 for r in range(rows)) / rows  # biased
            mm[c] = moving_mean[c] * MOMENTUM + mean * (1 - MOMENTUM)
            mv[c] = moving_var[c] * MOMENTUM + var * (1 - MOMENTUM)
        else:
            mean, var = moving_mean[c], moving_var[c]
        g = gamma[c] if gamma.size else 1.0
        b = beta[c] if beta.size else 0.0
        for r in range(rows):
            out[r, c] = g * (x[r, c] - mean) / np.sqrt(var + EPSILON) + b
    return out, mm, mv


@given(bn_cases(), st.booleans())
def test_forward_and_moving_update_match_reference(case, training):
    x, gamma, beta, moving_mean, moving_var = case
    out, xhat, mean, inv_std, mm, mv = forward(*case, training)
    want, want_mm, want_mv = reference(*case, training)
    np.testing.assert_allclose(out, want, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(mm, want_mm, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mv, want_mv, rtol=1e-12, atol=1e-12)
    if not training:  # inference leaves the moving statistics alone, bit for bit
        np.testing.assert_array_equal(mm, moving_mean)
        np.testing.assert_array_equal(mv, moving_var)
    np.testing.assert_allclose(xhat, (x - mean) * inv_std, rtol=1e-12, atol=1e-12)


@given(bn_cases(), st.booleans(), seeds())
def test_gradients_match_finite_differences(case, training, seed):
    x, gamma, beta, moving_mean, moving_var = case
    _, xhat, _, inv_std, _, _ = forward(*case, training)
    dy = upstream_like(x.shape, np.random.default_rng(seed))
    dx, dgamma, dbeta = backward(dy, gamma, xhat, inv_std, training)

    def f(x_, gamma_, beta_):
        return forward(x_, gamma_, beta_, moving_mean, moving_var, training)[0]

    inputs = [x, gamma, beta]
    check_gradient(f, inputs, dx, 0, dy)
    if gamma.size:
        check_gradient(f, inputs, dgamma, 1, dy)
    if beta.size:
        check_gradient(f, inputs, dbeta, 2, dy)


@given(bn_cases(), st.booleans(), seeds())
def test_float32_agrees_with_float64(case, training, seed):
    dy = upstream_like(case[0].shape, np.random.default_rng(seed))
    f32 = [a.astype(np.float32) for a in case]
    got, want = forward(*f32, training), forward(*case, training)
    for g, w in zip(got, want):
        assert_f32_close(g, w)
    for g, w in zip(backward(dy.astype(np.float32), f32[1], got[1], got[3], training),
                    backward(dy, case[1], want[1], want[3], training)):
        if w.size:
            assert_f32_close(g, w)


def test_keras_momentum_rule_by_hand():
    x = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 13.0]])
    _, _, mean, inv_std, mm, mv = forward(x, np.empty(0), np.empty(0), np.array([0.5, 0.0]), np.array([1.0, 2.0]),
                                          True, momentum=0.9, epsilon=0.01)
    np.testing.assert_allclose(mean, [3.0, 11.0])
    np.testing.assert_allclose(inv_std, 1 / np.sqrt(np.array([8 / 3, 2.0]) + 0.01))  # biased variances 8/3, 2
    np.testing.assert_allclose(mm, [0.5 * 0.9 + 3.0 * 0.1, 11.0 * 0.1])
    np.testing.assert_allclose(mv, [1.0 * 0.9 + 8 / 3 * 0.1, 2.0 * 0.9 + 2.0 * 0.1])


@given(bn_cases(scale=st.just(True), center=st.just(True)), st.booleans(), seeds())
def test_accumulate_adds_to_dgamma_and_dbeta(case, training, seed):
    x, gamma = case[0], case[1]
    rng = np.random.default_rng(seed)
    _, xhat, _, inv_std, _, _ = forward(*case, training)
    dy = upstream_like(x.shape, rng)
    dx, dgamma, dbeta = backward(dy, gamma, xhat, inv_std, training)
    start_g, start_b = rng.standard_normal(gamma.shape), rng.standard_normal(gamma.shape)
    acc_g, acc_b, dx2 = start_g.copy(), start_b.copy(), np.full_like(x, np.nan)
    bn.batch_norm_backward(dy, gamma, xhat, inv_std, dx2, acc_g, acc_b, training, True)
    np.testing.assert_allclose(acc_g, start_g + dgamma, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(acc_b, start_b + dbeta, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(dx2, dx)  # dx is overwritten, not accumulated


@pytest.mark.parametrize("training", [True, False])
def test_outputs_of_size_zero_are_skipped_and_dx_may_alias_dy(training, rng):
    x, gamma, beta = rng.standard_normal((5, 3)), rng.uniform(0.5, 2, 3), rng.standard_normal(3)
    case = (x, gamma, beta, rng.standard_normal(3), rng.uniform(0.5, 2, 3))
    _, xhat, _, inv_std, _, _ = forward(*case, training)
    dy = rng.standard_normal((5, 3))
    dx, dgamma, dbeta = backward(dy, gamma, xhat, inv_std, training)
    for need in [(False, True, True), (True, False, False), (False, False, True)]:
        got = backward(dy, gamma, xhat, inv_std, training, need)
        for g, w, wanted in zip(got, (dx, dgamma, dbeta), need):
            if wanted:
                np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-13)
            else:
                assert g.size == 0
    alias = dy.copy()
    bn.batch_norm_backward(alias, gamma, xhat, inv_std, alias, np.empty(0), np.empty(0), training, False)
    np.testing.assert_allclose(alias, dx, rtol=1e-13, atol=1e-13)
    # xhat of size 0: prediction needs no backward
    out = np.empty_like(x)
    bn.batch_norm_forward(x, gamma, beta, case[3].copy(), case[4].copy(), out, np.empty((0, 0)), np.empty(3),
                          np.empty(3), MOMENTUM, EPSILON, training)
    np.testing.assert_allclose(out, forward(*case, training)[0], rtol=1e-13, atol=1e-13)  # FMA may differ


def test_inference_backward_is_a_per_channel_scaling(rng):
    case = (rng.standard_normal((4, 3)), rng.uniform(0.5, 2, 3), np.empty(0), rng.standard_normal(3),
            rng.uniform(0.5, 2, 3))
    _, xhat, _, inv_std, _, _ = forward(*case, False)
    dy = rng.standard_normal((4, 3))
    dx, _, dbeta = backward(dy, case[1], xhat, inv_std, False, (True, False, True))
    np.testing.assert_allclose(dx, dy * case[1] / np.sqrt(case[4] + EPSILON), rtol=1e-13)
    np.testing.assert_allclose(dbeta, dy.sum(axis=0), rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inputs_are_not_mutated_and_dtype_is_kept(dtype, rng):
    case = [rng.standard_normal((5, 3)), rng.uniform(0.5, 2, 3), rng.standard_normal(3), rng.standard_normal(3),
            rng.uniform(0.5, 2, 3)]
    case = [a.astype(dtype) for a in case]
    x, gamma, beta = case[:3]
    dy = rng.standard_normal((5, 3)).astype(dtype)
    copies = [a.copy() for a in (x, gamma, beta, dy)]
    results = forward(*case, True)
    xhat, inv_std = results[1], results[3]
    xhat0, inv0 = xhat.copy(), inv_std.copy()
    grads = backward(dy, gamma, xhat, inv_std, True)
    assert all(a.dtype == dtype for a in list(results) + list(grads))
    for a, a0 in zip((x, gamma, beta, dy, xhat, inv_std), copies + [xhat0, inv0]):
        np.testing.assert_array_equal(a, a0)


def test_bad_arguments_raise(rng):
    x = rng.standard_normal((4, 3))
    c3, c2 = np.ones(3), np.ones(2)

    def fwd(x=x, gamma=c3, beta=c3, mm=c3, mv=c3, out=None, xhat=None, mean=c3, inv=c3, training=True):
        out = np.empty_like(x) if out is None else out
        xhat = np.empty_like(x) if xhat is None else xhat
        bn.batch_norm_forward(x, gamma, beta, mm.copy(), mv.copy(), out, xhat, mean.copy(), inv.copy(),
                              MOMENTUM, EPSILON, training)

    for kwargs, message in [(dict(out=np.empty((4, 2))), "out must have the shape of x"),
                            (dict(xhat=np.empty((3, 3))), "xhat must have the shape of x or size 0"),
                            (dict(gamma=c2), "gamma must have length 0 or C"),
                            (dict(beta=c2), "beta must have length 0 or C"),
                            (dict(mv=c2), "moving_mean, moving_var, mean and inv_std must have length C"),
                            (dict(inv=c2), "moving_mean, moving_var, mean and inv_std must have length C"),
                            (dict(x=np.empty((0, 3))), "training needs at least one row")]:
        with pytest.raises(ValueError, match="batch_norm_forward: " + message):
            fwd(**kwargs)
    fwd(x=np.empty((0, 3)), training=False)  # inference on an empty batch is fine

    dy, xhat = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))

    def bwd(xhat=xhat, inv=c3, gamma=c3, dx=None, dgamma=None, dbeta=None):
        dx = np.empty_like(dy) if dx is None else dx
        dgamma = np.zeros(3) if dgamma is None else dgamma
        dbeta = np.zeros(3) if dbeta is None else dbeta
        bn.batch_norm_backward(dy, gamma, xhat, inv, dx, dgamma, dbeta, True, True)

    for kwargs, message in [(dict(xhat=np.empty((4, 2))), "xhat must have the shape of dy"),
                            (dict(inv=c2), "inv_std must have length C"),
                            (dict(gamma=c2), "gamma must have length 0 or C"),
                            (dict(dgamma=np.zeros(2)), "dgamma must have length 0 or C"),
                            (dict(dbeta=np.zeros(2)), "dbeta must have length 0 or C"),
                            (dict(dx=np.empty((4, 2))), "dx must have the shape of dy or size 0")]:
        with pytest.raises(ValueError, match="batch_norm_backward: " + message):
            bwd(**kwargs)
