"""Penalty and constraint kernels: values against NumPy transcriptions of Keras 3's formulas, gradients against
central differences (float64, away from the kinks at 0), float32 against float64, accumulation, no mutation of
inputs that are not outputs, and bad shapes."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from nbkeras.kernels.cpu import penalties
from tests.support.gradcheck import assert_f32_close, check_gradient, upstream_like
from tests.support.strategies import dims, matrices, seeds, vectors

EPS = 1e-7  # keras.backend.epsilon()
factors = st.sampled_from([0.0, 0.01, 0.3, 1.5])


# --- NumPy references, written from Keras's source -----------------------------------------------------------

def ref_l1l2(w, l1, l2):
    return (l1 * np.sum(np.abs(w)) if l1 else 0.0) + (l2 * np.sum(np.square(w)) if l2 else 0.0)


def ref_orthogonal(w, factor):
    """OrthogonalRegularizer(mode="rows"): rows normalized by rsqrt(max(|row|^2, eps^2)), mean |cos| over pairs."""
    n = w / np.sqrt(np.maximum(np.sum(w * w, axis=1, keepdims=True), EPS * EPS))
    size = w.shape[0]
    product = (n @ n.T) * (1.0 - np.eye(size))
    return factor * 0.5 * np.sum(np.abs(product)) / (size * (size - 1.0) / 2.0)


def ref_norms(w):
    return np.sqrt(np.sum(np.square(w), axis=0, keepdims=True))


def ref_max_norm(w, max_value):
    norms = ref_norms(w)
    return w * (np.clip(norms, 0, max_value) / (EPS + norms))


def ref_unit_norm(w):
    return w / (EPS + ref_norms(w))


def ref_min_max_norm(w, min_value, max_value, rate):
    norms = ref_norms(w)
    desired = rate * np.clip(norms, min_value, max_value) + (1 - rate) * norms
    return w * (desired / (EPS + norms))


# --- L1 / L2 ---------------------------------------------------------------------------------------------------

@given(vectors(), factors, factors)
def test_l1l2_penalty_matches_numpy(w, l1, l2):
    got = penalties.l1l2_penalty(w, l1, l2)
    np.testing.assert_allclose(got, ref_l1l2(w, l1, l2), rtol=1e-12, atol=1e-12)
    # float32 input is summed in float64: the same number up to summation order
    np.testing.assert_allclose(penalties.l1l2_penalty(w.astype(np.float32), l1, l2), got, rtol=1e-12, atol=1e-12)


def test_l1l2_penalty_skips_a_zero_factor_as_keras_does():
    w = np.array([np.inf, 1.0])
    assert penalties.l1l2_penalty(w, 0.0, 0.5) == np.inf  # 0 * inf would be NaN
    assert penalties.l1l2_penalty(w, 0.5, 0.0) == np.inf
    assert penalties.l1l2_penalty(np.empty(0), 0.1, 0.1) == 0.0


@given(vectors(avoid=(0.0,)), factors, factors, seeds())
def test_l1l2_gradient_matches_finite_differences(w, l1, l2, seed):
    u = upstream_like((1,), np.random.default_rng(seed))
    g = np.zeros_like(w)
    penalties.l1l2_penalty_grad(w, l1, l2, float(u[0]), g)  # scale folds in the upstream gradient
    check_gradient(lambda w: np.array([penalties.l1l2_penalty(w, l1, l2)]), [w], g, 0, u)


@given(vectors(), factors, factors, seeds())
def test_l1l2_gradient_accumulates_and_float32_agrees(w, l1, l2, seed):
    rng = np.random.default_rng(seed)
    start = rng.standard_normal(w.shape)
    g = start.copy()
    penalties.l1l2_penalty_grad(w, l1, l2, 0.5, g)
    np.testing.assert_allclose(g, start + 0.5 * (l1 * np.sign(w) + 2 * l2 * w), rtol=1e-12, atol=1e-12)
    g32 = start.astype(np.float32)
    penalties.l1l2_penalty_grad(w.astype(np.float32), l1, l2, 0.5, g32)
    assert_f32_close(g32, start.astype(np.float32).astype(np.float64) + (g - start))


def test_l1l2_gradient_sign_at_zero_is_zero_and_inputs_are_kept():
    w = np.array([0.0, 2.0, -3.0])
    g = np.zeros(3)
    penalties.l1l2_penalty_grad(w, 0.1, 0.0, 1.0, g)
    np.testing.assert_array_equal(g, [0.0, 0.1, -0.1])
    np.testing.assert_array_equal(w, [0.0, 2.0, -3.0])
    g = np.zeros(1)
    penalties.l1l2_penalty_grad(np.array([np.nan]), 0.1, 0.2, 1.0, g)
    assert np.isnan(g[0])


def test_l1l2_gradient_length_mismatch_raises_before_writing():
    g = np.zeros(2)
    with pytest.raises(ValueError, match="g must have the length of w"):
        penalties.l1l2_penalty_grad(np.ones(3), 0.1, 0.1, 1.0, g)
    np.testing.assert_array_equal(g, 0.0)


@given(vectors(), factors, factors, st.integers(0, 4))
def test_penalty_into_and_activity_kernels(y, l1, l2, rows):
    acc = np.array([0.25])
    penalties.l1l2_penalty_into(y, l1, l2, acc)
    np.testing.assert_allclose(acc[0], 0.25 + ref_l1l2(y, l1, l2), rtol=1e-12, atol=1e-12)
    acc = np.array([0.25])
    penalties.l1l2_activity_penalty_into(y, l1, l2, rows, acc)
    want = ref_l1l2(y, l1, l2) / rows if rows else 0.0  # Keras: divide_no_nan by the batch size
    np.testing.assert_allclose(acc[0], 0.25 + want, rtol=1e-12, atol=1e-12)
    dy = np.ones_like(y)
    penalties.l1l2_activity_penalty_grad(y, l1, l2, rows, dy)
    want = (l1 * np.sign(y) + 2 * l2 * y) / rows if rows else 0.0
    np.testing.assert_allclose(dy, 1.0 + want, rtol=1e-12, atol=1e-12)


# --- Orthogonal ------------------------------------------------------------------------------------------------

@st.composite
def orthogonal_cases(draw):
    w = draw(matrices(rows=dims(2, 5), cols=dims(1, 4)))
    assume(np.all(np.sum(w * w, axis=1) > 1e-2))  # rows well away from the zero-norm clamp
    return w


@given(orthogonal_cases(), st.sampled_from([0.01, 0.7]))
def test_orthogonal_penalty_matches_numpy(w, factor):
    got = penalties.orthogonal_penalty(w, factor, False, np.empty(w.size))
    np.testing.assert_allclose(got, ref_orthogonal(w, factor), rtol=1e-12, atol=1e-14)
    if w.shape[1] >= 2:  # mode="columns": the rows of the transpose
        got_t = penalties.orthogonal_penalty(w, factor, True, np.empty(w.size + 3))  # longer scratch is fine
        np.testing.assert_allclose(got_t, ref_orthogonal(np.ascontiguousarray(w.T), factor), rtol=1e-12, atol=1e-14)
    got32 = penalties.orthogonal_penalty(w.astype(np.float32), factor, False, np.empty(w.size))
    np.testing.assert_allclose(got32, got, rtol=1e-12, atol=1e-14)  # normalized in float64 either way
    acc = np.array([0.5])
    penalties.orthogonal_penalty_into(w, factor, False, np.empty(w.size), acc)
    np.testing.assert_allclose(acc[0], 0.5 + got, rtol=1e-15)


@given(orthogonal_cases(), seeds())
def test_orthogonal_gradient_matches_finite_differences(w, seed):
    n = w / np.linalg.norm(w, axis=1, keepdims=True)
    gram = n @ n.T
    assume(np.min(np.abs(gram[~np.eye(len(w), dtype=bool)])) > 1e-3)  # |.| has a kink at 0
    u = upstream_like((1,), np.random.default_rng(seed))
    g = np.zeros_like(w)
    penalties.orthogonal_penalty_grad(w, 0.3, False, float(u[0]), g, np.empty(w.size))
    check_gradient(lambda w: np.array([penalties.orthogonal_penalty(w, 0.3, False, np.empty(w.size))]), [w], g, 0, u)
    # mode="columns" is mode="rows" on the transpose; the gradient accumulates into g
    wt = np.ascontiguousarray(w.T)
    start = np.ones_like(wt)
    gt = start.copy()
    penalties.orthogonal_penalty_grad(wt, 0.3, True, float(u[0]), gt, np.empty(w.size))
    np.testing.assert_allclose(gt - start, g.T, rtol=1e-12, atol=1e-14)


def test_orthogonal_edge_cases():
    one_row = np.array([[1.0, 2.0]])
    assert np.isnan(penalties.orthogonal_penalty(one_row, 0.01, False, np.empty(2)))  # Keras: 0 / 0 pairs
    g = np.zeros((1, 2))
    penalties.orthogonal_penalty_grad(one_row, 0.01, False, 1.0, g, np.empty(2))
    np.testing.assert_array_equal(g, 0.0)
    zero_row = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(penalties.orthogonal_penalty(zero_row, 0.01, False, np.empty(6)),
                               ref_orthogonal(zero_row, 0.01), rtol=1e-12)
    with pytest.raises(ValueError, match="scratch n needs w.size elements"):
        penalties.orthogonal_penalty(zero_row, 0.01, False, np.empty(5))
    with pytest.raises(ValueError, match="g must have the shape of w"):
        penalties.orthogonal_penalty_grad(zero_row, 0.01, False, 1.0, np.zeros((3, 3)), np.empty(6))


# --- Constraints -----------------------------------------------------------------------------------------------

weights = matrices(rows=dims(1, 6), cols=dims(1, 5))


@given(weights, st.sampled_from([0.5, 1.0, 2, 10.0]))
def test_max_norm_matches_keras_formula(w, max_value):
    out = w.copy()
    penalties.max_norm_apply(out, max_value)
    np.testing.assert_allclose(out, ref_max_norm(w, max_value), rtol=1e-12, atol=1e-14)
    assert np.all(np.linalg.norm(out, axis=0) <= max_value + 1e-12)
    out32 = w.astype(np.float32)
    penalties.max_norm_apply(out32, max_value)
    assert_f32_close(out32, out)


@given(weights)
def test_unit_norm_matches_keras_formula(w):
    out = w.copy()
    penalties.unit_norm_apply(out)
    np.testing.assert_allclose(out, ref_unit_norm(w), rtol=1e-12, atol=1e-14)
    out32 = w.astype(np.float32)
    penalties.unit_norm_apply(out32)
    assert_f32_close(out32, out)


@given(weights, st.sampled_from([(0.0, 1.0, 1.0), (0.5, 2.0, 1.0), (1.0, 1.5, 0.3), (2.0, 3.0, 0.0)]))
def test_min_max_norm_matches_keras_formula(w, bounds):
    min_value, max_value, rate = bounds
    out = w.copy()
    penalties.min_max_norm_apply(out, min_value, max_value, rate)
    np.testing.assert_allclose(out, ref_min_max_norm(w, min_value, max_value, rate), rtol=1e-12, atol=1e-14)
    out32 = w.astype(np.float32)
    penalties.min_max_norm_apply(out32, min_value, max_value, rate)
    assert_f32_close(out32, out)


def test_norm_constraints_by_hand():
    # one column [3, 4] (norm 5), one all-zero column (stays zero: 0 / (eps + 0))
    w = np.array([[3.0, 0.0], [4.0, 0.0]])
    out = w.copy()
    penalties.max_norm_apply(out, 2.0)
    np.testing.assert_allclose(out, [[3 * 2 / (5 + EPS), 0.0], [4 * 2 / (5 + EPS), 0.0]], rtol=1e-15)
    out = w.copy()
    penalties.unit_norm_apply(out)
    np.testing.assert_allclose(out, [[3 / (5 + EPS), 0.0], [4 / (5 + EPS), 0.0]], rtol=1e-15)
    out = w.copy()
    penalties.min_max_norm_apply(out, 6.0, 8.0, 0.5)  # desired = 0.5 * 6 + 0.5 * 5 = 5.5
    np.testing.assert_allclose(out, [[3 * 5.5 / (5 + EPS), 0.0], [4 * 5.5 / (5 + EPS), 0.0]], rtol=1e-15)
    # a column inside the ball still shrinks by norm / (eps + norm), as Keras does
    inside = np.array([[0.3], [0.4]])
    penalties.max_norm_apply(inside, 2.0)
    np.testing.assert_allclose(inside, [[0.3 * 0.5 / (0.5 + EPS)], [0.4 * 0.5 / (0.5 + EPS)]], rtol=1e-15)


def test_constraints_on_a_transposed_view_norm_over_the_other_axis():
    w = np.arange(1.0, 7.0).reshape(2, 3)
    out = w.copy()
    penalties.unit_norm_apply(out.T)  # norm over axis 1 of w
    np.testing.assert_allclose(out, w / (EPS + np.sqrt(np.sum(w * w, axis=1, keepdims=True))), rtol=1e-15)


@given(vectors(), st.booleans())
def test_non_neg_matches_maximum(w, as_f32):
    w = w.astype(np.float32) if as_f32 else w
    out = w.copy()
    penalties.non_neg_apply(out)
    np.testing.assert_array_equal(out, np.maximum(w, 0))
    assert out.dtype == w.dtype


def test_non_neg_keeps_nan():
    w = np.array([np.nan, -1.0, 1.0])
    penalties.non_neg_apply(w)
    np.testing.assert_array_equal(w, [np.nan, 0.0, 1.0])
