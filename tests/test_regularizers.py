"""keras.regularizers API: Keras 3's defaults and formulas, get() identifiers, config and serialization round trips,
error messages, and what the compiled step reads (l1/l2, kernel_spec, add_gradient)."""

import numpy as np
import pytest

from nbkeras import regularizers
from tests.support.gradcheck import check_gradient, upstream_like


def test_defaults_match_keras_3():
    assert (regularizers.L1().l1, regularizers.L1().l2) == (0.01, 0.0)
    assert (regularizers.L2().l1, regularizers.L2().l2) == (0.0, 0.01)
    assert (regularizers.L1L2().l1, regularizers.L1L2().l2) == (0.0, 0.0)
    assert (regularizers.L1(None).l1, regularizers.L2(None).l2) == (0.01, 0.01)  # None means the default
    assert regularizers.L1L2(None, None).get_config() == {"l1": 0.0, "l2": 0.0}
    o = regularizers.OrthogonalRegularizer()
    assert (o.factor, o.mode) == (0.01, "rows")
    assert regularizers.l1 is regularizers.L1 and regularizers.l2 is regularizers.L2
    assert regularizers.l1_l2 is regularizers.L1L2
    assert regularizers.orthogonal_regularizer is regularizers.OrthogonalRegularizer
    assert isinstance(regularizers.l1(0.3), regularizers.Regularizer)


def test_keras_docstring_examples():
    assert regularizers.L2(2.0)(np.ones((5, 5))) == 50.0
    # Dense(5) kernel of ones (5x5) with L1(0.01): 0.25
    assert np.isclose(regularizers.L1(0.01)(np.ones((5, 5))), 0.25)


def test_call_values_and_dtypes(rng):
    x = rng.standard_normal((3, 4))
    got = regularizers.L1L2(0.1, 0.2)(x)
    assert np.isclose(got, 0.1 * np.abs(x).sum() + 0.2 * np.square(x).sum(), rtol=1e-12)
    assert isinstance(got, np.float64)
    got32 = regularizers.L1L2(0.1, 0.2)(x.astype(np.float32))
    assert isinstance(got32, np.float32) and np.isclose(got32, got, rtol=1e-6)
    assert isinstance(regularizers.L1()(np.arange(4)), np.float32)  # integer input becomes floatx
    assert regularizers.Regularizer()(x) == 0.0
    x0 = x.copy()
    regularizers.L2()(x.T)  # a non-contiguous view is fine and nothing is mutated
    np.testing.assert_array_equal(x, x0)


def test_orthogonal_call_matches_keras_formula(rng):
    x = rng.standard_normal((4, 3))
    for mode, m in (("rows", x), ("columns", x.T)):
        n = m / np.linalg.norm(m, axis=1, keepdims=True)
        size = m.shape[0]
        want = 0.2 * 0.5 * np.sum(np.abs((n @ n.T) * (1 - np.eye(size)))) / (size * (size - 1) / 2)
        assert np.isclose(regularizers.OrthogonalRegularizer(0.2, mode)(x), want, rtol=1e-12)
    with pytest.raises(ValueError, match="must have rank 2"):
        regularizers.OrthogonalRegularizer()(np.ones(3))
    with pytest.raises(ValueError, match="Invalid value for argument `mode`"):
        regularizers.OrthogonalRegularizer(mode="diag")


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "0.1", True])
def test_invalid_factors_raise(bad):
    with pytest.raises(ValueError, match="Invalid value for argument l1: expected a non-negative float"):
        regularizers.L1(bad)
    with pytest.raises(ValueError, match="argument l2"):
        regularizers.L1L2(0.0, bad)
    with pytest.raises(ValueError, match="argument factor"):
        regularizers.OrthogonalRegularizer(bad)


def test_get_identifiers():
    assert regularizers.get(None) is None
    r = regularizers.L2(0.3)
    assert regularizers.get(r) is r
    assert type(regularizers.get(regularizers.L1)) is regularizers.L1
    for name, cls, config in [("l1", regularizers.L1, {"l1": 0.01}), ("L1", regularizers.L1, {"l1": 0.01}),
                              ("l2", regularizers.L2, {"l2": 0.01}), ("L2", regularizers.L2, {"l2": 0.01}),
                              ("L1L2", regularizers.L1L2, {"l1": 0.0, "l2": 0.0}),
                              ("l1l2", regularizers.L1L2, {"l1": 0.0, "l2": 0.0}),
                              ("l1_l2", regularizers.L1L2, {"l1": 0.01, "l2": 0.01}),
                              ("orthogonal_regularizer", regularizers.OrthogonalRegularizer,
                               {"factor": 0.01, "mode": "rows"})]:
        got = regularizers.get(name)
        assert type(got) is cls and got.get_config() == config, name
    got = regularizers.get({"class_name": "L1L2", "config": {"l1": 0.5, "l2": 0.25}})
    assert (got.l1, got.l2) == (0.5, 0.25)


def test_get_errors_explain_themselves():
    with pytest.raises(ValueError, match="Could not interpret regularizer identifier: 'l3'"):
        regularizers.get("l3")
    with pytest.raises(ValueError, match="needs a keras.regularizers.Regularizer object"):
        regularizers.get(lambda w: 0.01 * np.abs(w).sum())
    with pytest.raises(ValueError, match="Could not interpret regularizer identifier"):
        regularizers.get(3)
    with pytest.raises(ValueError, match="Unknown regularizer: 'L3'"):
        regularizers.get({"class_name": "L3", "config": {}})
    with pytest.raises(TypeError, match="L1 could not be deserialized"):
        regularizers.get({"class_name": "L1", "config": {"l2": 0.1}})


@pytest.mark.parametrize("reg", [regularizers.L1(0.2), regularizers.L2(0.3), regularizers.L1L2(0.1, 0.4),
                                 regularizers.OrthogonalRegularizer(0.5, "columns")])
def test_config_and_serialization_round_trip(reg):
    config = reg.get_config()
    assert type(reg).from_config(config).get_config() == config
    s = regularizers.serialize(reg)
    assert s == {"module": "keras.regularizers", "class_name": type(reg).__name__, "config": config,
                 "registered_name": None}
    back = regularizers.deserialize(s)
    assert type(back) is type(reg) and back.get_config() == config
    assert regularizers.get(s).get_config() == config


def test_configs_as_keras_writes_them():
    assert regularizers.L1(0.2).get_config() == {"l1": 0.2}
    assert regularizers.L2(0.3).get_config() == {"l2": 0.3}
    assert regularizers.L1L2(0.1, 0.4).get_config() == {"l1": 0.1, "l2": 0.4}
    # a Keras 2 style config without module/registered_name
    assert regularizers.deserialize({"class_name": "L2", "config": {"l2": 0.5}}).l2 == 0.5


class Scaled(regularizers.Regularizer):
    def __init__(self, k=1.0):
        self.k = k

    def __call__(self, x):
        return self.k * float(np.sum(x))

    def get_config(self):
        return {"k": self.k}


def test_custom_regularizer_is_accepted_but_not_compiled():
    r = Scaled(2.0)
    assert regularizers.get(r) is r
    assert r(np.ones(3)) == 6.0
    s = regularizers.serialize(r)
    assert s["class_name"] == "Scaled" and s["registered_name"] == "Scaled"
    assert regularizers.deserialize(s, custom_objects={"Scaled": Scaled}).k == 2.0
    with pytest.raises(ValueError, match="custom regularizer Scaled"):
        r.kernel_spec()
    assert regularizers.Regularizer().kernel_spec() is None


def test_kernel_spec_names_the_kernels():
    assert regularizers.L1(0.2).kernel_spec() == ("l1l2", (0.2, 0.0))
    assert regularizers.L2(0.3).kernel_spec() == ("l1l2", (0.0, 0.3))
    assert regularizers.get("l1_l2").kernel_spec() == ("l1l2", (0.01, 0.01))
    assert regularizers.OrthogonalRegularizer(0.5, "columns").kernel_spec() == ("orthogonal", (0.5, True))


@pytest.mark.parametrize("reg", [regularizers.L1L2(0.3, 0.7), regularizers.OrthogonalRegularizer(0.5, "rows"),
                                 regularizers.OrthogonalRegularizer(0.5, "columns")])
def test_add_gradient_matches_finite_differences(reg, rng):
    w = rng.uniform(0.2, 1.0, (4, 3)) * rng.choice([-1.0, 1.0], (4, 3))  # away from 0 and from orthogonal pairs
    u = upstream_like((1,), rng)
    start = rng.standard_normal(w.shape)
    g = start.copy()
    reg.add_gradient(w, g, scale=float(u[0]))
    check_gradient(lambda w: np.array([float(reg(w))]), [w], g - start, 0, u)
