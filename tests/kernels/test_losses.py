"""Loss kernels: gradients against finite differences, values against NumPy transcriptions of Keras's formulas.

Every case draws (y_true, y_pred) away from the loss's kinks (|error| away from 0 for MAE/MAPE and from delta for
huber, hinge margins away from 0, probabilities >= 0.05 so no clip is active); the clipped regions get their own
tests below.
"""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nbkeras.kernels.cpu import losses
from tests.support.gradcheck import assert_f32_close, check_gradient, upstream_like
from tests.support.strategies import (
    as_f32_representable,
    class_labels,
    dims,
    floats_array,
    no_ties,
    one_hot,
    probabilities,
    seeds,
)

EPS = 1e-7  # keras.backend.epsilon()


def f32(x):
    """Nearest float32 value: hypothesis's width-32 floats need bounds representable in float32."""
    return float(np.float32(x))


# --- calling the kernels ----------------------------------------------------------------------------------------


def forward(name, params, y_true, y_pred):
    out = np.full(y_pred.shape[0], np.nan, y_pred.dtype)
    getattr(losses, name + "_forward")(y_true, y_pred, out, *params)
    return out


def backward(name, params, y_true, y_pred, dout):
    dpred = np.full_like(y_pred, np.nan)
    getattr(losses, name + "_backward")(y_true, y_pred, dout, dpred, *params)
    return dpred


# --- NumPy transcriptions of Keras 3's loss functions (keras/src/losses/losses.py, backend/jax/nn.py) -------------


def ref_mse(t, p):
    return np.mean(np.square(t - p), axis=-1)


def ref_mae(t, p):
    return np.mean(np.abs(t - p), axis=-1)


def ref_mape(t, p):
    return 100.0 * np.mean(np.abs((t - p) / np.maximum(np.abs(t), EPS)), axis=-1)


def ref_msle(t, p):
    return np.mean(np.square(np.log(np.maximum(p, EPS) + 1.0) - np.log(np.maximum(t, EPS) + 1.0)), axis=-1)


def ref_huber(t, p, delta):
    e = np.abs(p - t)
    return np.mean(np.where(e <= delta, 0.5 * e**2, delta * e - 0.5 * delta**2), axis=-1)


def ref_log_cosh(t, p):
    return np.mean(np.log(np.cosh(p - t)), axis=-1)  # the textbook form; Keras's overflow-safe one must agree


def hinge_labels(t):
    return 2.0 * t - 1.0 if np.all((t == 0) | (t == 1)) else t


def ref_hinge(t, p):
    return np.mean(np.maximum(1.0 - hinge_labels(t) * p, 0.0), axis=-1)


def ref_squared_hinge(t, p):
    return np.mean(np.maximum(1.0 - hinge_labels(t) * p, 0.0) ** 2, axis=-1)


def ref_categorical_hinge(t, p):
    pos = np.sum(t * p, axis=-1)
    neg = np.max((1.0 - t) * p, axis=-1)
    return np.maximum(neg - pos + 1.0, 0.0)


def ref_kl_divergence(t, p):
    t, p = np.clip(t, EPS, 1.0), np.clip(p, EPS, 1.0)
    return np.sum(t * np.log(t / p), axis=-1)


def ref_poisson(t, p):
    return np.mean(p - t * np.log(p + EPS), axis=-1)


def ref_cosine_similarity(t, p):
    def unit(x):
        return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), EPS)

    return -np.sum(unit(t) * unit(p), axis=-1)


def ref_binary_crossentropy(t, p, from_logits, label_smoothing):
    t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
    p = 1.0 / (1.0 + np.exp(-p)) if from_logits else np.clip(p, EPS, 1.0 - EPS)
    return np.mean(-(t * np.log(p) + (1.0 - t) * np.log(1.0 - p)), axis=-1)


def ref_categorical_crossentropy(t, p, from_logits, label_smoothing):
    t = t * (1.0 - label_smoothing) + label_smoothing / p.shape[-1]
    if from_logits:
        q = np.exp(p) / np.sum(np.exp(p), axis=-1, keepdims=True)
    else:
        q = np.clip(p / np.sum(p, axis=-1, keepdims=True), EPS, 1.0 - EPS)
    return -np.sum(t * np.log(q), axis=-1)


def ref_sparse_categorical_crossentropy(labels, p, from_logits):
    t = np.eye(p.shape[-1])[labels.astype(np.int64)]
    return ref_categorical_crossentropy(t, p, from_logits, 0.0)


REFERENCES = {
    "mean_squared_error": ref_mse,
    "mean_absolute_error": ref_mae,
    "mean_absolute_percentage_error": ref_mape,
    "mean_squared_logarithmic_error": ref_msle,
    "huber": ref_huber,
    "log_cosh": ref_log_cosh,
    "hinge": ref_hinge,
    "squared_hinge": ref_squared_hinge,
    "categorical_hinge": ref_categorical_hinge,
    "kl_divergence": ref_kl_divergence,
    "poisson": ref_poisson,
    "cosine_similarity": ref_cosine_similarity,
    "binary_crossentropy": ref_binary_crossentropy,
    "categorical_crossentropy": ref_categorical_crossentropy,
    "sparse_categorical_crossentropy": ref_sparse_categorical_crossentropy,
}


# --- inputs kept away from each loss's kinks --------------------------------------------------------------------


@st.composite
def free_pairs(draw, t_lo=-3.0, t_hi=3.0, p_lo=-3.0, p_hi=3.0):
    r, c = draw(dims()), draw(dims())
    t = draw(floats_array((r, c), f32(t_lo), f32(t_hi)))
    p = draw(floats_array((r, c), f32(p_lo), f32(p_hi)))
    return t, p


@st.composite
def offset_pairs(draw, avoid, t_avoid=(), margin=0.05):
    """y_pred = y_true + e with the error e at least ``margin`` from every kink in ``avoid``."""
    r, c = draw(dims()), draw(dims())
    t = draw(floats_array((r, c), -3.0, 3.0, avoid=t_avoid, margin=0.2))
    e = draw(floats_array((r, c), -2.0, 2.0, avoid=avoid, margin=margin))
    p = as_f32_representable(t + e)
    assume(all(np.all(np.abs((p - t) - k) >= margin / 2) for k in avoid))
    return t, p


@st.composite
def hinge_pairs(draw):
    """Labels in {0, 1} (converted by Keras), {-1, 1}, or a {-1, 0, 1} mix (not converted); margins away from 0."""
    r, c = draw(dims()), draw(dims())
    scheme = np.array(draw(st.sampled_from([(0.0, 1.0), (-1.0, 1.0), (-1.0, 0.0, 1.0)])))
    idx = draw(hnp.arrays(np.int64, (r, c), elements=st.integers(0, len(scheme) - 1)))
    p = draw(floats_array((r, c), avoid=(1.0, -1.0), margin=0.05))
    return scheme[idx], p


@st.composite
def categorical_hinge_pairs(draw):
    r, c = draw(dims()), draw(dims(2, 5))
    t = draw(one_hot(r, c))
    # Distinct by construction (random draws tie too often to filter): shuffled cumulative sums of gaps >= 0.05.
    gaps = draw(floats_array((r, c), f32(0.05), 1.0))
    shift = draw(st.floats(-3.0, 0.0, width=32))
    p = np.cumsum(gaps, axis=1) + shift
    p = as_f32_representable(np.stack([row[draw(st.permutations(range(c)))] for row in p]))
    no_ties((1.0 - t) * p)  # the true class enters the max as 0
    margin = np.max((1.0 - t) * p, axis=-1) - np.sum(t * p, axis=-1) + 1.0
    assume(np.all(np.abs(margin) >= 1e-2))
    return t, p


@st.composite
def kl_pairs(draw):
    r, c = draw(dims()), draw(dims(2, 5))
    if draw(st.booleans()):
        t = draw(one_hot(r, c))  # zeros exercise the clip of y_true, which y_pred's gradient goes through
    else:
        t = draw(probabilities(st.just(r), st.just(c), lo=f32(0.05)))
    return t, draw(probabilities(st.just(r), st.just(c), lo=f32(0.05)))


@st.composite
def cosine_pairs(draw):
    t, p = draw(free_pairs())
    assume(np.all(np.linalg.norm(p, axis=-1) >= 0.1))  # far from the clamped norm
    return t, p


@st.composite
def binary_pairs(draw, from_logits):
    r, c = draw(dims()), draw(dims())
    if draw(st.booleans()):
        t = draw(hnp.arrays(np.float64, (r, c), elements=st.sampled_from([0.0, 1.0])))
    else:
        t = draw(floats_array((r, c), 0.0, 1.0))
    if from_logits:
        return t, draw(floats_array((r, c), -4.0, 4.0))
    return t, draw(floats_array((r, c), f32(0.05), f32(0.95)))


def class_scores(r, c, from_logits):
    """Logits, or unnormalised positive scores (Keras renormalises them: the kernels must differentiate that)."""
    return floats_array((r, c), -4.0, 4.0) if from_logits else floats_array((r, c), f32(0.05), 1.0)


@st.composite
def categorical_pairs(draw, from_logits):
    r, c = draw(dims()), draw(dims(2, 5))
    if draw(st.booleans()):
        t = draw(one_hot(r, c))
    else:
        t = draw(probabilities(st.just(r), st.just(c), lo=f32(0.05)))
    return t, draw(class_scores(r, c, from_logits))


@st.composite
def sparse_pairs(draw, from_logits):
    r, c = draw(dims()), draw(dims(2, 5))
    return draw(class_labels(r, c)), draw(class_scores(r, c, from_logits))


CASES = [
    ("mean_squared_error", (), free_pairs()),
    ("mean_absolute_error", (), offset_pairs(avoid=(0.0,))),
    ("mean_absolute_percentage_error", (), offset_pairs(avoid=(0.0,), t_avoid=(0.0,))),
    ("mean_squared_logarithmic_error", (), free_pairs(t_lo=-0.5, p_lo=0.05)),
    ("huber", (1.0,), offset_pairs(avoid=(1.0, -1.0))),
    ("huber", (0.3,), offset_pairs(avoid=(0.3, -0.3))),
    ("log_cosh", (), free_pairs()),
    ("hinge", (), hinge_pairs()),
    ("squared_hinge", (), hinge_pairs()),
    ("categorical_hinge", (), categorical_hinge_pairs()),
    ("kl_divergence", (), kl_pairs()),
    ("poisson", (), free_pairs(t_lo=0.0, p_lo=0.1)),
    ("cosine_similarity", (), cosine_pairs()),
    *[("binary_crossentropy", (fl, ls), binary_pairs(fl)) for fl in (False, True) for ls in (0.0, 0.1)],
    *[("categorical_crossentropy", (fl, ls), categorical_pairs(fl)) for fl in (False, True) for ls in (0.0, 0.2)],
    *[("sparse_categorical_crossentropy", (fl,), sparse_pairs(fl)) for fl in (False, True)],
]
CASE_IDS = [f"{name}{params}" for name, params, _ in CASES]


@pytest.mark.parametrize("name,params,pairs", CASES, ids=CASE_IDS)
@given(data=st.data())
def test_gradient_matches_finite_differences(name, params, pairs, data):
    y_true, y_pred = data.draw(pairs)
    u = upstream_like((y_pred.shape[0],), np.random.default_rng(data.draw(seeds())))
    analytic = backward(name, params, y_true, y_pred, u)
    check_gradient(lambda t, p: forward(name, params, t, p), [y_true, y_pred], analytic, wrt=1, upstream=u)


@pytest.mark.parametrize("name,params,pairs", CASES, ids=CASE_IDS)
@given(data=st.data())
def test_forward_matches_keras_formula(name, params, pairs, data):
    y_true, y_pred = data.draw(pairs)
    expected = REFERENCES[name](y_true, y_pred, *params)
    np.testing.assert_allclose(forward(name, params, y_true, y_pred), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,params,pairs", CASES, ids=CASE_IDS)
@given(data=st.data())
def test_float32_agrees_with_float64(name, params, pairs, data):
    y_true, y_pred = data.draw(pairs)
    u = as_f32_representable(upstream_like((y_pred.shape[0],), np.random.default_rng(data.draw(seeds()))))
    t32, p32, u32 = (a.astype(np.float32) for a in (y_true, y_pred, u))
    assert_f32_close(forward(name, params, t32, p32), forward(name, params, y_true, y_pred))
    assert_f32_close(backward(name, params, t32, p32, u32), backward(name, params, y_true, y_pred, u))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,params,pairs", CASES, ids=CASE_IDS)
@given(data=st.data())
def test_dtype_preserved_and_inputs_not_mutated(name, params, pairs, dtype, data):
    y_true, y_pred = (a.astype(dtype) for a in data.draw(pairs))
    dout = np.linspace(0.5, 1.5, y_pred.shape[0]).astype(dtype)
    before = [a.copy() for a in (y_true, y_pred, dout)]
    out = forward(name, params, y_true, y_pred)
    dpred = backward(name, params, y_true, y_pred, dout)
    assert out.dtype == dtype and dpred.dtype == dtype
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(dpred)), "every output element must be written"
    for a, b in zip((y_true, y_pred, dout), before):
        assert a.dtype == dtype
        np.testing.assert_array_equal(a, b)


# --- Keras details worth a test of their own ----------------------------------------------------------------------


def test_hinge_converts_binary_labels_only_when_the_whole_batch_is_binary():
    p = np.array([[0.5, 0.5], [0.5, 0.5]])
    binary = np.array([[0.0, 1.0], [1.0, 0.0]])  # -> {-1, 1}: row loss mean(1.5, 0.5) = 1.0
    mixed = np.array([[0.0, 1.0], [-1.0, 0.0]])  # one -1 anywhere: nothing converted, a 0 label gives margin 1
    np.testing.assert_allclose(forward("hinge", (), binary, p), [1.0, 1.0])
    np.testing.assert_allclose(forward("hinge", (), mixed, p), [0.75, 1.25])
    np.testing.assert_allclose(forward("squared_hinge", (), mixed, p), [0.625, 1.625])


def test_categorical_crossentropy_renormalises_probabilities():
    t = np.array([[0.2, 0.5, 0.3], [0.0, 0.0, 1.0]])
    p = np.array([[0.2, 0.3, 0.5], [0.1, 0.6, 0.3]])
    dout = np.array([0.7, -1.3])
    params = (False, 0.0)
    np.testing.assert_allclose(forward("categorical_crossentropy", params, t, 3.0 * p),
                               forward("categorical_crossentropy", params, t, p), rtol=1e-14)
    np.testing.assert_allclose(backward("categorical_crossentropy", params, t, 3.0 * p, dout),
                               backward("categorical_crossentropy", params, t, p, dout) / 3.0, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_fused_softmax_crossentropy_backward_is_softmax_minus_labels(label_smoothing):
    z = np.array([[2.0, -1.0, 0.5, 0.0], [-3.0, 1.0, 1.0, 2.5]])
    y = np.array([[0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    dout = np.array([0.8, -1.2])
    softmax = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    y_smoothed = y * (1.0 - label_smoothing) + label_smoothing / 4
    expected = (softmax - y_smoothed) * dout[:, None]
    params = (True, label_smoothing)
    np.testing.assert_allclose(backward("categorical_crossentropy", params, y, z, dout), expected, rtol=1e-12)
    expected_sparse = (softmax - y) * dout[:, None]
    np.testing.assert_allclose(
        backward("sparse_categorical_crossentropy", (True,), np.array([2.0, 0.0]), z, dout), expected_sparse,
        rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logit_losses_stay_finite_for_huge_logits(dtype):
    z = np.array([[100.0, -100.0]], dtype)
    t = np.array([[0.0, 1.0]], dtype)
    dout = np.ones(1, dtype)
    out = forward("binary_crossentropy", (True, 0.0), t, z)
    np.testing.assert_allclose(out, [100.0], rtol=1e-6)
    np.testing.assert_allclose(backward("binary_crossentropy", (True, 0.0), t, z, dout), [[0.5, -0.5]], rtol=1e-6)
    zc = np.array([[1000.0, 0.0, -1000.0]], dtype)
    tc = np.array([[0.0, 1.0, 0.0]], dtype)
    np.testing.assert_allclose(forward("categorical_crossentropy", (True, 0.0), tc, zc), [1000.0], rtol=1e-6)
    np.testing.assert_allclose(backward("categorical_crossentropy", (True, 0.0), tc, zc, dout),
                               [[1.0, -1.0, 0.0]], atol=1e-6)


def test_cosine_similarity_of_a_zero_row_is_zero_with_a_finite_gradient():
    t = np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    p = np.array([[0.0, 0.0, 0.0], [1.0, -1.0, 2.0]])
    u = np.array([0.9, -1.1])
    np.testing.assert_array_equal(forward("cosine_similarity", (), t, p), [0.0, 0.0])
    g = backward("cosine_similarity", (), t, p, u)
    assert np.all(np.isfinite(g))
    # The clamped norm makes the loss linear near p = 0 (x / 1e-7): tiny steps stay inside the clamp.
    check_gradient(lambda a, b: forward("cosine_similarity", (), a, b), [t, p], g, wrt=1, upstream=u, h=1e-9)


# --- clipping: zero gradient where the clip is active -------------------------------------------------------------
# A step of 1e-9 keeps every clipped entry clipped (the bounds are 1e-7 away), so the finite differences see the
# same flat region; the looser atol covers the larger rounding error of the smaller step.


def test_binary_crossentropy_gradient_is_zero_where_probabilities_are_clipped():
    t = np.array([[0.0, 1.0, 0.0, 1.0, 1.0, 0.0]])
    p = np.array([[0.0, 1.0, -0.5, 1.5, 0.3, 0.6]])
    u = np.array([1.3])
    g = backward("binary_crossentropy", (False, 0.0), t, p, u)
    np.testing.assert_array_equal(g[0, :4], 0.0)
    assert np.all(g[0, 4:] != 0.0)
    check_gradient(lambda a, b: forward("binary_crossentropy", (False, 0.0), a, b), [t, p], g, wrt=1,
                   upstream=u, h=1e-9, atol=1e-5)


def test_categorical_crossentropy_clip_contributes_no_gradient():
    t = np.array([[1.0, 0.0, 0.0], [0.1, 0.6, 0.3]])
    p = np.array([[1.0, 1e-12, 1e-12],  # q0 > 1 - 1e-7 and q1, q2 < 1e-7: the whole row is clipped
                  [1e-13, 0.4, 0.6]])  # q0 clipped; it still feels the renormalisation through the sum
    u = np.array([0.8, -1.4])
    params = (False, 0.0)
    g = backward("categorical_crossentropy", params, t, p, u)
    np.testing.assert_array_equal(g[0], 0.0)
    s = p[1].sum()
    np.testing.assert_allclose(g[1, 0], u[1] * (0.6 + 0.3) / s, rtol=1e-12)  # renormalisation share only
    check_gradient(lambda a, b: forward("categorical_crossentropy", params, a, b), [t, p], g, wrt=1,
                   upstream=u, h=1e-9, atol=1e-5)


def test_sparse_categorical_crossentropy_gradient_is_zero_when_the_true_class_is_clipped():
    labels = np.array([0.0, 0.0, 1.0])
    p = np.array([[1e-12, 0.5, 0.5], [1.0, 1e-12, 1e-12], [0.3, 0.3, 0.4]])
    u = np.array([0.8, -1.4, 1.1])
    g = backward("sparse_categorical_crossentropy", (False,), labels, p, u)
    np.testing.assert_array_equal(g[:2], 0.0)
    assert np.all(g[2] != 0.0)
    check_gradient(lambda a, b: forward("sparse_categorical_crossentropy", (False,), a, b), [labels, p], g,
                   wrt=1, upstream=u, h=1e-9, atol=1e-5)


def test_kl_divergence_and_msle_gradients_are_zero_where_clipped():
    t = np.array([[0.2, 0.3, 0.4, 0.1]])
    p = np.array([[-0.1, 0.5, 1.2, 1e-9]])
    u = np.array([1.2])
    g = backward("kl_divergence", (), t, p, u)
    np.testing.assert_array_equal(g[0, [0, 2, 3]], 0.0)
    check_gradient(lambda a, b: forward("kl_divergence", (), a, b), [t, p], g, wrt=1, upstream=u, h=1e-9,
                   atol=1e-5)
    g = backward("mean_squared_logarithmic_error", (), t, p, u)
    np.testing.assert_array_equal(g[0, [0, 3]], 0.0)
    check_gradient(lambda a, b: forward("mean_squared_logarithmic_error", (), a, b), [t, p], g, wrt=1,
                   upstream=u, h=1e-9, atol=1e-5)


# --- sparse labels out of range -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("bad", [-1.0, 3.0, 1.5, np.nan, np.inf])
def test_sparse_labels_outside_the_classes_raise(bad, from_logits, dtype):
    labels = np.array([0.0, bad], dtype)
    p = np.full((2, 3), 1.0 / 3.0, dtype)
    with pytest.raises(ValueError, match=r"labels must be integers in \[0, num_classes\)"):
        forward("sparse_categorical_crossentropy", (from_logits,), labels, p)
    with pytest.raises(ValueError, match=r"labels must be integers in \[0, num_classes\)"):
        backward("sparse_categorical_crossentropy", (from_logits,), labels, p, np.ones(2, dtype))


# --- reduction helpers --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weighted_sum(dtype):
    v = np.array([1.0, 2.0, 3.0, 4.0], dtype)
    w = np.array([1.0, 0.0, 0.5, 2.0], dtype)
    total = losses.weighted_sum(v, np.zeros(0, dtype))
    assert type(total) is float and total == 10.0
    assert losses.weighted_sum(v, w) == 1.0 + 1.5 + 8.0
    # Keras's "sum_over_batch_size": divide by the number of values, not by the sum of the weights.
    assert losses.weighted_sum(v, np.array([1.0, 0.0, 0.0, 0.0], dtype)) / v.size == 0.25
    np.testing.assert_array_equal(v, [1.0, 2.0, 3.0, 4.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loss_upstream(dtype):
    dout = np.full(3, np.nan, dtype)
    losses.loss_upstream(np.zeros(0, dtype), 0.25, dout)
    np.testing.assert_array_equal(dout, [0.25, 0.25, 0.25])
    w = np.array([2.0, 0.0, 1.5], dtype)
    losses.loss_upstream(w, 0.25, dout)
    assert dout.dtype == dtype
    np.testing.assert_array_equal(dout, [0.5, 0.0, 0.375])
    np.testing.assert_array_equal(w, [2.0, 0.0, 1.5])


@given(data=st.data())
def test_loss_upstream_is_the_gradient_of_the_scaled_weighted_sum(data):
    """Chained through a loss kernel: d(scale * weighted_sum(loss(y_pred), w)) / d y_pred."""
    y_true, y_pred = data.draw(categorical_pairs(False))
    rows = y_pred.shape[0]
    w = data.draw(st.one_of(st.just(np.zeros(0)), floats_array((rows,), 0.0, 2.0)))
    scale = 1.0 / rows
    params = (False, 0.1)
    dout = np.empty(rows)
    losses.loss_upstream(w, scale, dout)
    g = backward("categorical_crossentropy", params, y_true, y_pred, dout)

    def total(t, p):
        return np.array([scale * losses.weighted_sum(forward("categorical_crossentropy", params, t, p), w)])

    check_gradient(total, [y_true, y_pred], g, wrt=1, upstream=np.ones(1))


@pytest.mark.parametrize("kernel", ["weighted_sum", "loss_upstream"])
def test_reduction_helpers_reject_mismatched_weights(kernel):
    v = np.ones(3)
    with pytest.raises(ValueError, match="one weight per loss value"):
        if kernel == "weighted_sum":
            losses.weighted_sum(v, np.ones(2))
        else:
            losses.loss_upstream(np.ones(2), 1.0, v)
