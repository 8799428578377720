"""Losses and metrics written with keras.ops: traced into the compiled step, same numbers as the built-ins."""

import numpy as np
import pytest

import nbkeras as keras
from nbkeras import ops


def my_mse(y_true, y_pred):
    return ops.mean(ops.square(y_true - y_pred), axis=-1)


def elementwise_abs(y_true, y_pred):
    return ops.abs(y_true - y_pred)  # not reduced: Keras averages over every element


class ScaledMSE(keras.losses.Loss):
    def __init__(self, scale=2.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, y_true, y_pred):
        return self.scale * keras.losses.mean_squared_error(y_true, y_pred)


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(48, 4)).astype("float32")
    return x, (x @ rng.normal(size=(4, 2))).astype("float32")


def _fit(loss, metrics=(), eager=False, sample_weight=None):
    keras.utils.set_random_seed(0)
    x, y = _data()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="tanh"), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss=loss, metrics=list(metrics), run_eagerly=eager)
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0, sample_weight=sample_weight, shuffle=False)
    return history.history, model.get_weights()


@pytest.mark.parametrize("eager", [False, True])
def test_custom_loss_function_trains_like_the_builtin(eager):
    custom, w_custom = _fit(my_mse, eager=eager)
    builtin, w_builtin = _fit("mse", eager=eager)
    np.testing.assert_allclose(custom["loss"], builtin["loss"], rtol=1e-5)
    for a, b in zip(w_custom, w_builtin):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_unreduced_custom_loss_is_averaged_over_elements_as_keras_does():
    custom, _ = _fit(elementwise_abs, sample_weight=np.linspace(0.5, 1.5, 48).astype("float32"))
    builtin, _ = _fit("mae", sample_weight=np.linspace(0.5, 1.5, 48).astype("float32"))
    np.testing.assert_allclose(custom["loss"], builtin["loss"], rtol=1e-5)


def test_loss_subclass_with_call_and_builtin_function_inside():
    custom, _ = _fit(ScaledMSE(scale=2.0))
    keras.utils.set_random_seed(0)
    x, y = _data()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="tanh"), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", loss_weights=2.0)
    builtin = model.fit(x, y, epochs=3, batch_size=16, verbose=0, shuffle=False).history
    np.testing.assert_allclose(custom["loss"], builtin["loss"], rtol=1e-5)


def test_custom_metric_function_is_a_mean_of_its_values():
    history, _ = _fit("mae", metrics=[my_mse, "mse"])
    np.testing.assert_allclose(history["my_mse"], history["mse"], rtol=1e-5)
    metric = keras.metrics.MeanMetricWrapper(my_mse)
    metric.update_state(np.ones((2, 3)), np.zeros((2, 3)))
    assert float(metric.result()) == pytest.approx(1.0)


def test_custom_loss_on_arrays_and_a_numpy_loss_is_refused_with_a_clear_error():
    assert float(keras.losses.get(my_mse)(np.ones((2, 3)), np.zeros((2, 3)))) == pytest.approx(1.0)

    def numpy_loss(y_true, y_pred):
        return np.mean((np.asarray(y_true) - np.asarray(y_pred)) ** 2, axis=-1)

    x, y = _data()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss=numpy_loss)
    with pytest.raises((ValueError, TypeError), match="keras.ops|symbolic"):
        model.fit(x, y, epochs=1, verbose=0)


def test_a_final_batch_wide_mean_or_sum_reduces_over_the_batch_as_keras_does():
    def scalar_mse(y_true, y_pred):
        return ops.mean(ops.square(y_true - y_pred))

    def scalar_sse(y_true, y_pred):
        return ops.sum(ops.square(y_true - y_pred))

    mean_hist, _ = _fit(scalar_mse)
    builtin, _ = _fit("mse")
    np.testing.assert_allclose(mean_hist["loss"], builtin["loss"], rtol=1e-5)
    x, y = _data()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss=scalar_sse)
    w, b = model.get_weights()
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=48, verbose=0), np.sum((x @ w + b - y) ** 2),
                               rtol=1e-5)

    def not_last(y_true, y_pred):
        return ops.sqrt(ops.mean(ops.square(y_true - y_pred)))

    model.compile(optimizer="sgd", loss=not_last)
    with pytest.raises(ValueError, match="last operation"):
        model.fit(x, y, epochs=1, verbose=0)
