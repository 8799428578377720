"""Activation kernels: values against NumPy formulas written here, gradients against finite differences.

Elementwise activations run from one table (``CASES``): each row names the kernel pair, the parameters it is
called with, an independent NumPy reference, the kinks the drawn inputs must stay 1e-2 away from, and the range
inputs are drawn from. softmax and log_softmax have their own tests at the end, on (outer, n, inner) views.
"""

import math
import warnings
from typing import Callable, NamedTuple

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import nbkeras.activations as keras_activations
from nbkeras.kernels.cpu import activations
from tests.support.gradcheck import assert_f32_close, check_gradient, upstream_like
from tests.support.strategies import floats_array, shapes, vectors

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_erf = np.vectorize(math.erf, otypes=[np.float64])


# --------------------------------------------------------------- NumPy references
def ref_relu(x, negative_slope, max_value, threshold):
    """Transcribes the branches of Keras 3's ReLU.static_call (max_value = inf stands for None)."""
    max_value = None if np.isinf(max_value) else max_value
    if negative_slope != 0 and max_value is None and threshold == 0:
        return np.where(x >= 0, x, negative_slope * x)
    negative_part = np.maximum(threshold - x, 0.0)
    a = x * (x > threshold) if threshold != 0 else np.maximum(x, 0.0)
    if max_value is not None:
        a = np.minimum(np.maximum(a, 0.0), max_value)
    return a - negative_slope * negative_part


def ref_elu(x, alpha):
    return np.where(x > 0, x, alpha * (np.exp(x) - 1.0))


def ref_gelu(x, approximate):
    if approximate:
        return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)))


def ref_softplus(x):
    return np.logaddexp(x, 0.0)


def ref_sigmoid(x):
    return np.exp(-np.logaddexp(0.0, -x))


def ref_squareplus(x, b):
    return (x + np.sqrt(x * x + b)) / 2.0


def ref_soft_shrink(x, t):
    return np.where(x > t, x - t, np.where(x < -t, x + t, 0.0))


class Case(NamedTuple):
    name: str
    params: tuple
    ref: Callable
    kinks: tuple = ()
    lo: float = -5.0
    hi: float = 5.0

    def __str__(self):
        return f"{self.name}{self.params}" if self.params else self.name


INF = math.inf
CASES = [
    Case("linear", (), lambda x: x),
    Case("relu", (0.0, INF, 0.0), ref_relu, (0.0,)),  # Keras defaults
    Case("relu", (0.1, INF, 0.0), ref_relu, (0.0,)),  # Keras takes its leaky_relu shortcut here
    Case("relu", (0.0, 6.0, 0.0), ref_relu, (0.0, 6.0), -2.0, 8.0),  # Keras's relu6 shortcut
    Case("relu", (0.3, 2.5, 0.5), ref_relu, (0.0, 0.5, 2.5)),
    Case("relu", (0.2, INF, -1.0), ref_relu, (0.0, -1.0)),  # negative outputs on (-1, 0)
    Case("relu", (0.2, 2.0, -1.0), ref_relu, (0.0, -1.0, 2.0)),  # ... which any max_value floors at 0
    Case("relu", (0.0, 1.5, 2.0), ref_relu, (0.0, 1.5, 2.0)),  # cap below threshold: flat above it
    Case("relu6", (), lambda x: np.clip(x, 0.0, 6.0), (0.0, 6.0), -2.0, 8.0),
    Case("leaky_relu", (0.2,), lambda x, s: np.where(x >= 0, x, s * x), (0.0,)),
    Case("leaky_relu", (1.5,), lambda x, s: np.where(x >= 0, x, s * x), (0.0,)),
    Case("sigmoid", (), lambda x: 1.0 / (1.0 + np.exp(-x))),
    Case("hard_sigmoid", (), lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0), (-3.0, 3.0)),
    Case("tanh", (), np.tanh),
    Case("elu", (1.0,), ref_elu, (0.0,)),
    Case("elu", (0.5,), ref_elu, (0.0,)),
    Case("selu", (), lambda x: SELU_SCALE * ref_elu(x, SELU_ALPHA), (0.0,)),
    Case("softplus", (), lambda x: np.log(1.0 + np.exp(x))),
    Case("softsign", (), lambda x: x / (1.0 + np.abs(x)), (0.0,)),  # f'' jumps at 0
    Case("swish", (), lambda x: x / (1.0 + np.exp(-x))),
    Case("gelu", (False,), ref_gelu),
    Case("gelu", (True,), ref_gelu),
    Case("exponential", (), np.exp, (), -3.0, 3.0),
    # Keras 3 additions
    Case("celu", (1.0,), lambda x, a: np.where(x > 0, x, a * (np.exp(x / a) - 1.0)), (0.0,)),
    Case("celu", (0.4,), lambda x, a: np.where(x > 0, x, a * (np.exp(x / a) - 1.0)), (0.0,)),
    Case("mish", (), lambda x: x * np.tanh(ref_softplus(x))),
    Case("log_sigmoid", (), lambda x: np.log(ref_sigmoid(x))),
    Case("squareplus", (4.0,), ref_squareplus),
    Case("squareplus", (0.5,), ref_squareplus),
    Case("tanh_shrink", (), lambda x: x - np.tanh(x)),
    Case("hard_silu", (), lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0, (-3.0, 3.0)),
    Case("hard_tanh", (), lambda x: np.clip(x, -1.0, 1.0), (-1.0, 1.0)),
    Case("sparse_plus", (), lambda x: np.where(x <= -1, 0.0, np.where(x < 1, (x + 1.0) ** 2 / 4.0, x)), (-1.0, 1.0)),
    Case("sparse_sigmoid", (), lambda x: np.clip((x + 1.0) / 2.0, 0.0, 1.0), (-1.0, 1.0)),
    Case("soft_shrink", (0.5,), ref_soft_shrink, (-0.5, 0.5)),
    Case("soft_shrink", (1.5,), ref_soft_shrink, (-1.5, 1.5)),
    Case("hard_shrink", (0.5,), lambda x, t: np.where(np.abs(x) > t, x, 0.0), (-0.5, 0.5)),
    Case("threshold", (1.0, -2.0), lambda x, t, v: np.where(x > t, x, v), (1.0,)),
    Case("threshold", (-0.5, 0.0), lambda x, t, v: np.where(x > t, x, v), (-0.5,)),
]
IDS = [str(c) for c in CASES]


def forward(case, x):
    out = np.empty_like(x)
    getattr(activations, f"{case.name}_forward")(x, out, *case.params)
    return out


def backward(case, x, y, dy):
    dx = np.empty_like(x)
    getattr(activations, f"{case.name}_backward")(x, y, dy, dx, *case.params)
    return dx


def draw_x(data, case):
    return data.draw(vectors(lo=case.lo, hi=case.hi, avoid=case.kinks))


# --------------------------------------------------------------- elementwise properties
@pytest.mark.parametrize("case", CASES, ids=IDS)
@given(data=st.data())
def test_forward_matches_numpy(case, data):
    x = draw_x(data, case)
    x0 = x.copy()
    out = forward(case, x)
    np.testing.assert_allclose(out, case.ref(x, *case.params), rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(x, x0)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_gradient_matches_finite_differences(case, data, seed):
    x = draw_x(data, case)
    u = upstream_like(x.shape, np.random.default_rng(seed))
    dx = backward(case, x, forward(case, x), u)
    check_gradient(lambda v: forward(case, v), [x], dx, wrt=0, upstream=u)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_float32_agrees_with_float64_and_inputs_are_kept(case, data, seed):
    x64 = draw_x(data, case)
    u64 = upstream_like(x64.shape, np.random.default_rng(seed)).astype(np.float32).astype(np.float64)
    x32, u32 = x64.astype(np.float32), u64.astype(np.float32)
    y64, y32 = forward(case, x64), forward(case, x32)
    assert_f32_close(y32, y64)
    kept = (x32.copy(), y32.copy(), u32.copy())
    dx32 = backward(case, x32, y32, u32)
    assert_f32_close(dx32, backward(case, x64, y64, u64))
    for before, after in zip(kept, (x32, y32, u32)):
        np.testing.assert_array_equal(after, before)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_out_may_alias_x_and_dx_may_alias_dy(case, rng):
    x = rng.uniform(case.lo, case.hi, 37)
    dy = upstream_like(x.shape, rng)
    y = forward(case, x)
    dx = backward(case, x, y, dy)
    buf = x.copy()
    getattr(activations, f"{case.name}_forward")(buf, buf, *case.params)
    np.testing.assert_array_equal(buf, y)
    buf = dy.copy()
    getattr(activations, f"{case.name}_backward")(x, y, buf, buf, *case.params)
    np.testing.assert_array_equal(buf, dx)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_nan_input_gives_nan_output(case):
    out = forward(case, np.array([np.nan, -1.25, 0.75]))
    assert np.isnan(out[0])
    assert np.all(np.isfinite(out[1:]))


@pytest.mark.parametrize("case", [CASES[4], CASES[11]], ids=str)  # relu with every parameter active; sigmoid
def test_strided_views_are_indexed_correctly(case, rng):
    x_base = rng.uniform(-5.0, 5.0, 40)
    out_base = np.full(60, 7.0)
    x, out = x_base[::2], out_base[::3]
    getattr(activations, f"{case.name}_forward")(x, out, *case.params)
    np.testing.assert_array_equal(out, forward(case, x.copy()))
    untouched = np.ones(60, bool)
    untouched[::3] = False
    assert np.all(out_base[untouched] == 7.0)
    dy_base = upstream_like((40,), rng)
    dx_base = np.full(60, 7.0)
    getattr(activations, f"{case.name}_backward")(x, out, dy_base[::2], dx_base[::3], *case.params)
    np.testing.assert_array_equal(dx_base[::3], backward(case, x.copy(), out.copy(), dy_base[::2].copy()))
    assert np.all(dx_base[untouched] == 7.0)


EXTREMES = np.array([-1e4, -100.0, -89.5, -20.0, 20.0, 89.5, 100.0, 1e4])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, ref", [
    ("sigmoid", lambda x: np.exp(-np.logaddexp(0.0, -x))),
    ("softplus", lambda x: np.logaddexp(x, 0.0)),
    ("swish", lambda x: x * np.exp(-np.logaddexp(0.0, -x))),
    ("tanh", np.tanh),
    ("softsign", lambda x: x / (1.0 + np.abs(x))),
    ("mish", lambda x: x * np.tanh(np.logaddexp(x, 0.0))),
    ("log_sigmoid", lambda x: -np.logaddexp(0.0, -x)),
    ("tanh_shrink", lambda x: x - np.tanh(x)),
])
def test_large_inputs_stay_finite_without_warnings(name, ref, dtype):
    x = EXTREMES.astype(dtype)
    out, dx = np.empty_like(x), np.empty_like(x)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        getattr(activations, f"{name}_forward")(x, out)
        getattr(activations, f"{name}_backward")(x, out, np.ones_like(x), dx)
    assert out.dtype == dtype and dx.dtype == dtype
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(dx))
    np.testing.assert_allclose(out, ref(x.astype(np.float64)), rtol=1e-6, atol=1e-30)


def test_sigmoid_saturates_exactly():
    x = np.array([-1e4, 1e4], np.float32)
    out = np.empty_like(x)
    activations.sigmoid_forward(x, out)
    assert out.tolist() == [0.0, 1.0]


def test_relu_without_max_value_differs_from_a_huge_one():
    """max_value=None (inf) leaves the (threshold, 0) band negative; any finite cap floors it at 0."""
    x = np.array([-0.5, 0.5])
    none_cap, huge_cap = np.empty(2), np.empty(2)
    activations.relu_forward(x, none_cap, 0.0, INF, -1.0)
    activations.relu_forward(x, huge_cap, 0.0, 1e30, -1.0)
    assert none_cap.tolist() == [-0.5, 0.5]
    assert huge_cap.tolist() == [0.0, 0.5]


def test_silu_is_swish():
    assert activations.silu_forward is activations.swish_forward
    assert activations.silu_backward is activations.swish_backward


def test_hard_swish_is_hard_silu():
    assert activations.hard_swish_forward is activations.hard_silu_forward
    assert activations.hard_swish_backward is activations.hard_silu_backward


def test_squareplus_keeps_precision_for_large_negative_inputs():
    """(x + sqrt(x^2 + b)) / 2 cancels to 0 at x = -1e4 in float32; the true value is b / (4 |x|) approximately."""
    x = np.array([-1e4, -1e3], np.float32)
    out = np.empty_like(x)
    activations.squareplus_forward(x, out, 4.0)
    np.testing.assert_allclose(out, 4.0 / (2.0 * (np.sqrt(x.astype(np.float64) ** 2 + 4.0) - x)), rtol=1e-6)


# --------------------------------------------------------------- softmax over the middle axis
def ref_softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def ref_log_softmax(x):
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def ref_sparsemax_tau(x):
    """Sort-based: the k largest values z_(1..k) with 1 + k z_(k) > their sum form the support."""
    z = -np.sort(-x, axis=1)
    k = np.arange(1, x.shape[1] + 1).reshape(1, -1, 1)
    cums = np.cumsum(z, axis=1)
    size = (1.0 + k * z > cums).sum(axis=1, keepdims=True)
    return (np.take_along_axis(cums, size - 1, axis=1) - 1.0) / size


def ref_sparsemax(x):
    return np.maximum(x - ref_sparsemax_tau(x), 0.0)


AXIS_CASES = [("softmax", ref_softmax), ("log_softmax", ref_log_softmax), ("sparsemax", ref_sparsemax)]
AXIS_IDS = [name for name, _ in AXIS_CASES]


def axis_forward(name, x):
    out = np.empty_like(x)
    getattr(activations, f"{name}_forward")(x, out)
    return out


def axis_backward(name, x, y, dy):
    dx = np.empty_like(x)
    getattr(activations, f"{name}_backward")(x, y, dy, dx)
    return dx


def views(max_side=4):
    return shapes(min_dims=3, max_dims=3, max_side=max_side).flatmap(lambda s: floats_array(s, -5.0, 5.0))


def away_from_kinks(name, x):
    """sparsemax is piecewise linear: keep every entry 1e-2 from the support's edge (x = tau) for differences."""
    if name == "sparsemax":
        assume(bool(np.all(np.abs(x - ref_sparsemax_tau(x)) > 1e-2)))
    return x


@pytest.mark.parametrize("name, ref", AXIS_CASES, ids=AXIS_IDS)
@given(x=views())
def test_axis_forward_matches_numpy_and_normalises(name, ref, x):
    x0 = x.copy()
    out = axis_forward(name, x)
    np.testing.assert_allclose(out, ref(x), rtol=1e-12, atol=1e-14)
    probs = np.exp(out) if name == "log_softmax" else out
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(x, x0)


@pytest.mark.parametrize("name", AXIS_IDS)
@given(x=views(), seed=st.integers(0, 2**32 - 1))
def test_axis_gradient_matches_finite_differences(name, x, seed):
    x = away_from_kinks(name, x)
    u = upstream_like(x.shape, np.random.default_rng(seed))
    dx = axis_backward(name, x, axis_forward(name, x), u)
    check_gradient(lambda v: axis_forward(name, v), [x], dx, wrt=0, upstream=u)


@pytest.mark.parametrize("name", AXIS_IDS)
@given(x64=views(), seed=st.integers(0, 2**32 - 1))
def test_axis_float32_agrees_with_float64_and_inputs_are_kept(name, x64, seed):
    x64 = away_from_kinks(name, x64)
    u64 = upstream_like(x64.shape, np.random.default_rng(seed)).astype(np.float32).astype(np.float64)
    x32, u32 = x64.astype(np.float32), u64.astype(np.float32)
    y64, y32 = axis_forward(name, x64), axis_forward(name, x32)
    assert_f32_close(y32, y64)
    kept = (x32.copy(), y32.copy(), u32.copy())
    assert_f32_close(axis_backward(name, x32, y32, u32), axis_backward(name, x64, y64, u64))
    for before, after in zip(kept, (x32, y32, u32)):
        np.testing.assert_array_equal(after, before)


@pytest.mark.parametrize("name", AXIS_IDS)
def test_axis_out_may_alias_x_and_dx_may_alias_dy(name, rng):
    x = rng.uniform(-5.0, 5.0, (3, 5, 2))
    dy = upstream_like(x.shape, rng)
    y = axis_forward(name, x)
    dx = axis_backward(name, x, y, dy)
    buf = x.copy()
    getattr(activations, f"{name}_forward")(buf, buf)
    np.testing.assert_array_equal(buf, y)
    buf = dy.copy()
    getattr(activations, f"{name}_backward")(x, y, buf, buf)
    np.testing.assert_array_equal(buf, dx)


@pytest.mark.parametrize("name", AXIS_IDS)
def test_axis_kernels_are_correct_on_non_contiguous_views(name, rng):
    """The axis kernels index with strides: a transposed view gives the same numbers as a contiguous copy."""
    x = rng.uniform(-5.0, 5.0, (3, 2, 4)).transpose(0, 2, 1)  # (outer=3, n=4, inner=2), not C-contiguous
    assert not x.flags.c_contiguous
    out = np.empty((3, 2, 4)).transpose(0, 2, 1)
    getattr(activations, f"{name}_forward")(x, out)
    y = axis_forward(name, np.ascontiguousarray(x))
    np.testing.assert_array_equal(out, y)
    dy = upstream_like((3, 2, 4), rng).transpose(0, 2, 1)
    dx = np.empty((3, 2, 4)).transpose(0, 2, 1)
    getattr(activations, f"{name}_backward")(x, out, dy, dx)
    np.testing.assert_array_equal(dx, axis_backward(name, np.ascontiguousarray(x), y, np.ascontiguousarray(dy)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, ref", AXIS_CASES, ids=AXIS_IDS)
def test_axis_large_logits_are_stable(name, ref, dtype):
    x = np.array([[1e4, 0.0, -1e4], [1000.0, 999.0, 998.0], [-1e4, -1e4, -1e4]], dtype).reshape(3, 3, 1)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        out = axis_forward(name, x)
    assert out.dtype == dtype
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, ref(x.astype(np.float64)), rtol=1e-6)


def test_sparsemax_is_sparse_and_matches_keras_example():
    x = np.array([[-1.0, 0.0, 1.0], [0.1, 0.2, 0.3], [2.0, 2.0, -3.0]]).reshape(3, 3, 1)
    out = axis_forward("sparsemax", x).reshape(3, 3)
    np.testing.assert_allclose(out, [[0.0, 0.0, 1.0], [0.2333333333333333, 0.3333333333333333, 0.4333333333333333],
                                     [0.5, 0.5, 0.0]], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ["sparsemax", "glu"])
def test_axis_kernels_reject_mismatched_shapes(name):
    x = np.zeros((2, 4, 3))
    bad = np.zeros((2, 3, 3))
    with pytest.raises(ValueError, match=f"{name}_forward"):
        getattr(activations, f"{name}_forward")(x, bad)
    with pytest.raises(ValueError, match=f"{name}_backward"):
        getattr(activations, f"{name}_backward")(x, bad, np.zeros((2, 4, 4)), x.copy())


# --------------------------------------------------------------- glu: (outer, 2m, inner) -> (outer, m, inner)
def ref_glu(x):
    m = x.shape[1] // 2
    return x[:, :m] / (1.0 + np.exp(-x[:, m:]))


def glu_views(max_side=3):
    return st.tuples(st.integers(1, max_side), st.integers(1, max_side), st.integers(1, max_side)).flatmap(
        lambda s: floats_array((s[0], 2 * s[1], s[2]), -5.0, 5.0))


def glu_forward(x):
    out = np.empty((x.shape[0], x.shape[1] // 2, x.shape[2]), x.dtype)
    activations.glu_forward(x, out)
    return out


def glu_backward(x, y, dy):
    dx = np.empty_like(x)
    activations.glu_backward(x, y, dy, dx)
    return dx


@given(x=glu_views())
def test_glu_forward_matches_numpy(x):
    x0 = x.copy()
    np.testing.assert_allclose(glu_forward(x), ref_glu(x), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(x, x0)


@given(x=glu_views(), seed=st.integers(0, 2**32 - 1))
def test_glu_gradient_matches_finite_differences(x, seed):
    y = glu_forward(x)
    u = upstream_like(y.shape, np.random.default_rng(seed))
    check_gradient(glu_forward, [x], glu_backward(x, y, u), wrt=0, upstream=u)


@given(x64=glu_views(), seed=st.integers(0, 2**32 - 1))
def test_glu_float32_agrees_with_float64_and_inputs_are_kept(x64, seed):
    y64 = glu_forward(x64)
    u64 = upstream_like(y64.shape, np.random.default_rng(seed)).astype(np.float32).astype(np.float64)
    x32, u32 = x64.astype(np.float32), u64.astype(np.float32)
    y32 = glu_forward(x32)
    assert y32.dtype == np.float32
    assert_f32_close(y32, y64)
    kept = (x32.copy(), y32.copy(), u32.copy())
    assert_f32_close(glu_backward(x32, y32, u32), glu_backward(x64, y64, u64))
    for before, after in zip(kept, (x32, y32, u32)):
        np.testing.assert_array_equal(after, before)


# --------------------------------------------------------------- the Keras functions on arrays (nbkeras.activations)
KERAS_3_ACTIVATIONS = [
    "celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid", "hard_silu", "hard_swish",
    "hard_tanh", "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish", "relu", "relu6", "selu", "sigmoid",
    "silu", "soft_shrink", "softmax", "softplus", "softsign", "sparse_plus", "sparse_sigmoid", "sparsemax",
    "squareplus", "swish", "tanh", "tanh_shrink", "threshold",
]  # keras.activations.ALL_OBJECTS_DICT of Keras 3


@pytest.mark.parametrize("name", KERAS_3_ACTIVATIONS)
def test_every_keras_3_activation_exists(name):
    fn = getattr(keras_activations, name)
    if name == "threshold":
        spec = keras_activations.get({"class_name": name, "config": {"threshold": 0.0, "default_value": -1.0}})
    else:
        spec = keras_activations.get(name)
        assert keras_activations.get(fn) == spec
    assert spec.name == name


@pytest.mark.parametrize("name, args, x, expected", [  # the examples in Keras 3's docstrings
    ("celu", (), [-1.0, 0.0, 1.0], [-0.63212056, 0.0, 1.0]),
    ("glu", (), [-1.0, 0.0, 1.0, 1.0], [-0.73105858, 0.0]),
    ("hard_silu", (), [-3.0, -1.0, 0.0, 1.0, 3.0], [0.0, -0.3333333, 0.0, 0.6666667, 3.0]),
    ("log_sigmoid", (), [-0.541391, 0.0, 0.50, 5.0], [-1.0000418, -0.6931472, -0.474077, -0.00671535]),
    ("squareplus", (), [-1.0, 0.0, 1.0], [0.6180, 1.0, 1.6180]),
    ("sparse_plus", (), [-1.0, 0.0, 1.0], [0.0, 0.25, 1.0]),
    ("sparse_sigmoid", (), [-6.0, 1.0, 0.0, 1.0, 6.0], [0.0, 1.0, 0.5, 1.0, 1.0]),
    ("soft_shrink", (), [-1.0, 0.0, 1.0], [-0.5, 0.0, 0.5]),
    ("hard_shrink", (), [-0.5, 0.0, 1.0], [0.0, 0.0, 1.0]),
    ("hard_tanh", (), [-2.0, -1.0, 0.0, 1.0, 2.0], [-1.0, -1.0, 0.0, 1.0, 1.0]),
    ("tanh_shrink", (), [-1.0, 0.0, 1.0], [-0.23840584, 0.0, 0.23840584]),
    ("threshold", (1, 0), [-1.0, 0.0, 1.0, 2.0], [0.0, 0.0, 0.0, 2.0]),
    ("sparsemax", (), [-1.0, 0.0, 1.0], [0.0, 0.0, 1.0]),
])
def test_keras_docstring_examples(name, args, x, expected):
    out = getattr(keras_activations, name)(np.array(x), *args)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-6)


def test_glu_halves_its_axis_and_rejects_an_odd_one():
    x = np.arange(24, dtype=np.float32).reshape(2, 4, 3) / 10.0
    out = keras_activations.glu(x, axis=1)
    assert out.shape == (2, 2, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, x[:, :2] / (1.0 + np.exp(-x[:, 2:])), rtol=1e-6)
    assert keras_activations.get("glu").output_shape((None, 5, 8)) == (None, 5, 4)
    with pytest.raises(ValueError, match="even size"):
        keras_activations.glu(x, axis=2)


def test_threshold_by_name_needs_its_arguments():
    with pytest.raises(TypeError, match="needs the arguments"):
        keras_activations.get("threshold")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("params, expected", [((0.0, INF, 0.0), [0.0, 0.0, 1.0, INF]),
                                              ((0.0, 6.0, 0.0), [0.0, 0.0, 1.0, 6.0])])
def test_relu_without_slope_maps_minus_inf_to_zero(params, expected, dtype):
    """Keras adds the slope term only when negative_slope != 0 and relu / relu6 are max(x, 0) / clip(x, 0, 6),
    so relu(-inf) is 0, not 0 - 0 * inf = NaN; the same in place (out is x), which runs another loop."""
    x = np.array([-np.inf, -3.0, 1.0, np.inf], dtype)
    out = np.empty_like(x)
    activations.relu_forward(x, out, *params)
    assert out.tolist() == expected
    buf = x.copy()
    activations.relu_forward(buf, buf, *params)
    assert buf.tolist() == expected


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plain_relu_in_place_and_out_of_place_agree(dtype, rng):
    """The plain relu (no slope, no cap) has separate loops for dx is dy and for distinct arrays, and for
    out is x; both give the general formula's values, on a length that leaves a vector remainder."""
    x = rng.uniform(-2.0, 2.0, 1027).astype(dtype)
    x[::7] = 0.0
    dy = upstream_like(x.shape, rng).astype(dtype)
    y = np.empty_like(x)
    activations.relu_forward(x, y, 0.0, INF, 0.0)
    np.testing.assert_array_equal(y, np.where(x > 0, x, 0).astype(dtype))
    buf = x.copy()
    activations.relu_forward(buf, buf, 0.0, INF, 0.0)
    np.testing.assert_array_equal(buf, y)
    dx = np.empty_like(x)
    activations.relu_backward(x, y, dy, dx, 0.0, INF, 0.0)
    np.testing.assert_array_equal(dx, np.where(x > 0, dy, 0).astype(dtype))
    buf = dy.copy()
    activations.relu_backward(x, y, buf, buf, 0.0, INF, 0.0)
    np.testing.assert_array_equal(buf, dx)
