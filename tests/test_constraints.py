"""keras.constraints API: Keras 3's defaults and formulas (written out here in NumPy), axis handling, the in-place
view the compiled step uses, get() identifiers, config and serialization round trips, and error messages."""

import numpy as np
import pytest

from nbkeras import constraints

EPS = 1e-7  # keras.backend.epsilon()


def keras_norms(w, axis):
    return np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))


def keras_max_norm(w, max_value, axis):
    norms = keras_norms(w, axis)
    return w * (np.clip(norms, 0, max_value) / (EPS + norms))


def keras_unit_norm(w, axis):
    return w / (EPS + keras_norms(w, axis))


def keras_min_max_norm(w, min_value, max_value, rate, axis):
    norms = keras_norms(w, axis)
    return w * ((rate * np.clip(norms, min_value, max_value) + (1 - rate) * norms) / (EPS + norms))


def example_array():
    """Keras's constraints_test array: uniform in [-50, 50) with a zero at [0, 0]."""
    a = np.random.default_rng(3537).random((10, 8)) * 100.0 - 50.0
    a[0, 0] = 0.0
    return a


def test_defaults_match_keras_3():
    assert constraints.MaxNorm().get_config() == {"max_value": 2, "axis": 0}
    assert constraints.UnitNorm().get_config() == {"axis": 0}
    assert constraints.MinMaxNorm().get_config() == {"min_value": 0.0, "max_value": 1.0, "rate": 1.0, "axis": 0}
    assert constraints.NonNeg().get_config() == {}
    assert constraints.max_norm is constraints.MaxNorm and constraints.non_neg is constraints.NonNeg
    assert constraints.unit_norm is constraints.UnitNorm and constraints.min_max_norm is constraints.MinMaxNorm


CASES = [
    (constraints.MaxNorm(2.0), lambda w, ax: keras_max_norm(w, 2.0, ax)),
    (constraints.MaxNorm(0.5), lambda w, ax: keras_max_norm(w, 0.5, ax)),
    (constraints.UnitNorm(), keras_unit_norm),
    (constraints.MinMaxNorm(0.5, 40.0, 1.0), lambda w, ax: keras_min_max_norm(w, 0.5, 40.0, 1.0, ax)),
    (constraints.MinMaxNorm(60.0, 80.0, 0.4), lambda w, ax: keras_min_max_norm(w, 60.0, 80.0, 0.4, ax)),
]


@pytest.mark.parametrize("constraint,formula", CASES)
@pytest.mark.parametrize("axis", [0, 1, -1, [0], [0, 1], None])
def test_call_matches_keras_formula_for_any_axis(constraint, formula, axis):
    w = example_array()
    c = type(constraint).from_config({**constraint.get_config(), "axis": axis})
    w0 = w.copy()
    out = c(w)
    ax = tuple(axis) if isinstance(axis, list) else axis
    np.testing.assert_allclose(out, formula(w, ax), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(w, w0)  # __call__ returns a new array


@pytest.mark.parametrize("constraint,formula", CASES)
def test_conv_kernel_leading_axes_view_in_place(constraint, formula, rng):
    w = rng.standard_normal((3, 3, 2, 4)) * 3.0  # (kh, kw, cin, filters)
    c = type(constraint).from_config({**constraint.get_config(), "axis": [0, 1, 2]})
    assert c.view_shape(w.shape) == (18, 4)
    want = formula(w, (0, 1, 2))
    inplace = w.copy()
    c.apply_view(inplace)
    np.testing.assert_allclose(inplace, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(c(w), want, rtol=1e-12, atol=1e-12)
    w32 = w.astype(np.float32)
    c.apply_view(w32)
    assert w32.dtype == np.float32
    np.testing.assert_allclose(w32, want, rtol=2e-6, atol=2e-6)
    assert c(w.astype(np.float32)).dtype == np.float32


def test_view_shapes():
    dense = (5, 3)
    assert constraints.MaxNorm().view_shape(dense) == (5, 3)
    assert constraints.UnitNorm(axis=[0]).view_shape(dense) == (5, 3)
    assert constraints.MaxNorm(axis=[0, 1]).view_shape(dense) == (15, 1)  # one norm over everything
    assert constraints.MaxNorm(axis=None).view_shape(dense) == (15, 1)
    assert constraints.MaxNorm(axis=[]).view_shape(dense) == (1, 15)  # a norm per element
    assert constraints.MaxNorm().view_shape((4,)) == (4, 1)  # a bias: its whole-vector norm
    assert constraints.MaxNorm(axis=[1, 0, -2]).view_shape((3, 2, 4, 5)) == (24, 5)
    assert constraints.MaxNorm(axis=[0, 1]).view_shape((3, 2, 4)) == (6, 4)  # Conv1D (k, cin, filters)
    assert constraints.NonNeg().view_shape((3, 2, 4)) is None


def test_non_leading_axes_are_refused_for_the_in_place_view():
    with pytest.raises(ValueError, match=r"UnitNorm\(axis=1\) on a weight of shape \(5, 3\).*leading axes"):
        constraints.UnitNorm(axis=1).view_shape((5, 3))
    with pytest.raises(ValueError, match="leading axes"):
        constraints.MaxNorm(axis=[0, 2]).apply_view(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="out of range for a weight of rank 2"):
        constraints.MaxNorm(axis=2).view_shape((5, 3))
    with pytest.raises(ValueError, match="repeats an axis"):
        constraints.MaxNorm(axis=[0, -2]).view_shape((5, 3))
    with pytest.raises(ValueError, match="writeable C-contiguous"):
        constraints.MaxNorm().apply_view(np.ones((4, 3)).T)


def test_keras_by_hand_examples():
    w = np.array([[3.0, 0.0], [4.0, 0.0]])  # columns: norm 5, norm 0
    np.testing.assert_allclose(constraints.MaxNorm(2.0)(w), [[6 / (5 + EPS), 0], [8 / (5 + EPS), 0]], rtol=1e-15)
    np.testing.assert_allclose(constraints.UnitNorm()(w), [[3 / (5 + EPS), 0], [4 / (5 + EPS), 0]], rtol=1e-15)
    got = constraints.MinMaxNorm(6.0, 8.0, 0.5)(w)  # desired 0.5 * 6 + 0.5 * 5
    np.testing.assert_allclose(got, [[3 * 5.5 / (5 + EPS), 0], [4 * 5.5 / (5 + EPS), 0]], rtol=1e-15)


def test_non_neg():
    w = example_array()
    np.testing.assert_array_equal(constraints.NonNeg()(w), np.maximum(w, 0))
    inplace = w.astype(np.float32)
    constraints.NonNeg().apply_view(inplace)
    np.testing.assert_array_equal(inplace, np.maximum(w.astype(np.float32), 0))
    assert constraints.NonNeg()(np.array([-2, 3])).dtype == np.float32  # integer input becomes floatx


def test_get_identifiers():
    assert constraints.get(None) is None
    c = constraints.MaxNorm(3.0)
    assert constraints.get(c) is c
    assert type(constraints.get(constraints.UnitNorm)) is constraints.UnitNorm
    for name, cls in [("max_norm", constraints.MaxNorm), ("MaxNorm", constraints.MaxNorm),
                      ("non_neg", constraints.NonNeg), ("NonNeg", constraints.NonNeg),
                      ("unit_norm", constraints.UnitNorm), ("UnitNorm", constraints.UnitNorm),
                      ("min_max_norm", constraints.MinMaxNorm), ("MinMaxNorm", constraints.MinMaxNorm)]:
        assert type(constraints.get(name)) is cls, name
    got = constraints.get({"class_name": "MaxNorm", "config": {"max_value": 3.0, "axis": [0, 1, 2]}})
    assert (got.max_value, got.axis) == (3.0, [0, 1, 2])


def test_get_errors_explain_themselves():
    with pytest.raises(ValueError, match="Could not interpret constraint identifier: 'maxnorm'"):
        constraints.get("maxnorm")
    with pytest.raises(ValueError, match="needs a keras.constraints.Constraint object"):
        constraints.get(lambda w: np.maximum(w, 0))
    with pytest.raises(ValueError, match="Unknown constraint: 'Clip'"):
        constraints.get({"class_name": "Clip", "config": {}})
    with pytest.raises(TypeError, match="MaxNorm could not be deserialized"):
        constraints.get({"class_name": "MaxNorm", "config": {"rate": 1.0}})


@pytest.mark.parametrize("c", [constraints.MaxNorm(3.0, axis=1), constraints.UnitNorm(axis=[0, 1]),
                               constraints.MinMaxNorm(0.1, 2.0, 0.5, 1), constraints.NonNeg()])
def test_config_and_serialization_round_trip(c):
    config = c.get_config()
    back = type(c).from_config(config)
    assert back.get_config() == config
    w = example_array()
    np.testing.assert_array_equal(back(w), c(w))
    s = constraints.serialize(c)
    assert s == {"module": "keras.constraints", "class_name": type(c).__name__, "config": config,
                 "registered_name": None}
    assert constraints.deserialize(s).get_config() == config


def test_kernel_specs():
    assert constraints.MaxNorm(3).kernel_spec() == ("max_norm_apply", (3.0,))
    assert constraints.UnitNorm().kernel_spec() == ("unit_norm_apply", ())
    assert constraints.MinMaxNorm(0.1, 2, 0.5).kernel_spec() == ("min_max_norm_apply", (0.1, 2.0, 0.5))
    assert constraints.NonNeg().kernel_spec() == ("non_neg_apply", ())
    assert constraints.Constraint().kernel_spec() is None


class Clip(constraints.Constraint):
    def __init__(self, limit=1.0):
        self.limit = limit

    def __call__(self, w):
        return np.clip(w, -self.limit, self.limit)

    def get_config(self):
        return {"limit": self.limit}


def test_custom_constraint_applies_eagerly_but_not_compiled():
    c = Clip(0.5)
    assert constraints.get(c) is c
    w = np.array([[-2.0, 0.25], [1.0, -0.1]])
    c.apply_view(w)
    np.testing.assert_array_equal(w, [[-0.5, 0.25], [0.5, -0.1]])
    with pytest.raises(ValueError, match="custom constraint Clip"):
        c.kernel_spec()
    s = constraints.serialize(c)
    assert s["registered_name"] == "Clip"
    assert constraints.deserialize(s, custom_objects={"Clip": Clip}).limit == 0.5
    w = np.ones(3)
    constraints.Constraint().apply_view(w)  # the identity
    np.testing.assert_array_equal(w, 1.0)


def test_describe_for_the_compiled_step():
    assert constraints.MaxNorm(3, axis=[0, 1, 2]).describe((3, 3, 2, 8)) == ("penalties.max_norm_apply", (8,), (3.0,))
    assert constraints.UnitNorm().describe((5, 4)) == ("penalties.unit_norm_apply", (4,), ())
    assert constraints.MinMaxNorm().describe((4,)) == ("penalties.min_max_norm_apply", (1,), (0.0, 1.0, 1.0))
    assert constraints.NonNeg().describe((5, 4)) == ("penalties.non_neg_apply", (), ())
    assert constraints.Constraint().describe((5, 4)) is None
    with pytest.raises(ValueError, match="leading axes"):
        constraints.MaxNorm(axis=1).describe((5, 4))
