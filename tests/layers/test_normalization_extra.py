"""LayerNormalization and UnitNormalization: the shared layer test (both interpreters, gradients), NumPy
references, penalties and constraints, Keras's configs, and errors before any compiled code runs."""

import numpy as np
import pytest

import nbkeras as keras
from support.layer_test import check_description, run_layer_test


L = keras.layers


def ln_reference(x, gamma, beta, axes, eps=1e-3, rms=False):
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    if rms:
        return x / np.sqrt(var + eps) * gamma
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


@pytest.mark.parametrize("kwargs,weights", [
    ({}, [(4,), (4,)]),
    ({"axis": [-2, -1], "epsilon": 0.1}, [(3, 4), (3, 4)]),
    ({"axis": [1, 2], "center": False}, [(3, 4)]),
    ({"scale": False}, [(4,)]),
    ({"center": False, "scale": False}, []),
    ({"rms_scaling": True}, [(4,)]),
])
def test_layer_normalization_layer_test_and_reference(kwargs, weights):
    layer = run_layer_test(L.LayerNormalization, kwargs, (2, 3, 4), (2, 3, 4), weights)
    rng = np.random.default_rng(3)
    layer.set_weights([rng.normal(size=w).astype("float32") for w in weights])
    x = rng.normal(size=(2, 3, 4)).astype("float32")
    axes = (1, 2) if len(kwargs.get("axis", [-1])) == 2 else (2,)
    params = {v.name: v.numpy().astype(np.float64) for v in layer.weights}
    want = ln_reference(x.astype(np.float64), params.get("gamma", 1.0), params.get("beta", 0.0), axes,
                        kwargs.get("epsilon", 1e-3), kwargs.get("rms_scaling", False))
    np.testing.assert_allclose(layer(x), want, rtol=1e-5, atol=1e-5)


def test_layer_normalization_config_and_weight_names():
    layer = L.LayerNormalization(gamma_initializer="random_normal", beta_regularizer="l2", gamma_constraint="non_neg")
    layer(keras.Input((5,)))
    assert [w.name for w in layer.weights] == ["gamma", "beta"]
    config = layer.get_config()
    assert config["axis"] == [-1] and config["epsilon"] == 1e-3 and config["rms_scaling"] is False
    assert config["beta_regularizer"] is not None and config["gamma_constraint"] is not None
    clone = L.LayerNormalization.from_config(config)
    clone(keras.Input((5,)))
    assert [v for v, _ in clone.weight_regularizers()] == [clone.beta]


def test_layer_normalization_penalties_and_constraints_in_training():
    # Gradient checks include the beta penalty; the constraint keeps gamma non-negative after a step.
    check_description(lambda: L.LayerNormalization(beta_regularizer=keras.regularizers.L2(0.3)), [(3, 4)])
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), L.LayerNormalization(gamma_constraint="non_neg")])
    model.compile(optimizer=keras.optimizers.SGD(10.0), loss="mse")
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    model.train_on_batch(x, -x)
    assert np.all(model.layers[0].get_weights()[0] >= 0)


def test_layer_normalization_trains_in_both_interpreters():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    for eager in (False, True):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((6,)), L.Dense(8), L.LayerNormalization(), L.Dense(1, "sigmoid")])
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy", run_eagerly=eager)
        losses = model.fit(x, y, epochs=8, verbose=0).history["loss"]
        assert losses[-1] < losses[0]


def test_layer_normalization_errors():
    with pytest.raises(TypeError, match="LayerNormalization: `axis` must be an int"):
        L.LayerNormalization(axis="x")
    with pytest.raises(ValueError, match="LayerNormalization: `epsilon` must be positive"):
        L.LayerNormalization(epsilon=0)
    with pytest.raises(ValueError, match="must be the last axis or a block of trailing axes"):
        L.LayerNormalization(axis=1)(keras.Input((3, 4)))
    with pytest.raises(ValueError, match="includes the batch axis 0"):
        L.LayerNormalization(axis=[0, 1])(keras.Input((3,)))
    with pytest.raises(ValueError, match="out of bounds"):
        L.LayerNormalization(axis=3)(keras.Input((3, 4)))
    with pytest.raises(ValueError, match="must name adjacent axes"):
        L.LayerNormalization(axis=[1, 3])(keras.Input((3, 4, 5)))
    layer = L.LayerNormalization()
    layer(keras.Input((4,)))
    with pytest.raises(ValueError, match="built for normalized shape"):
        layer(keras.Input((5,)))


@pytest.mark.parametrize("axis,shape", [(-1, (2, 3, 4)), (1, (2, 3, 4)), ([1, 2], (2, 3, 4)), (-1, (3, 5))])
def test_unit_normalization(axis, shape):
    layer = run_layer_test(L.UnitNormalization, {"axis": axis}, shape, shape)
    x = np.random.default_rng(1).normal(size=shape).astype("float32")
    axes = tuple(a % len(shape) for a in (axis if isinstance(axis, list) else [axis]))
    np.testing.assert_allclose(layer(x), x / np.sqrt((x.astype(np.float64) ** 2).sum(axis=axes, keepdims=True)),
                               rtol=1e-5, atol=1e-6)
    assert layer.get_config()["axis"] == axis


def test_unit_normalization_zero_vector_and_errors():
    y = L.UnitNormalization()(np.zeros((2, 3), "float32"))
    np.testing.assert_array_equal(y, 0.0)
    with pytest.raises(TypeError, match="UnitNormalization: `axis` must be an int"):
        L.UnitNormalization(axis=1.5)
    with pytest.raises(ValueError, match="UnitNormalization: `axis`=\\[1, 3\\] must name adjacent axes"):
        L.UnitNormalization(axis=[1, 3])(keras.Input((2, 3, 4)))
    with pytest.raises(ValueError, match="UnitNormalization: `axis`=0 includes the batch axis"):
        L.UnitNormalization(axis=0)(keras.Input((3,)))
