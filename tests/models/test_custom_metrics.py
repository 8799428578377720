"""Metric subclasses written as in Keras 3's guides: add_variable state, update_state with keras.ops, result()."""

import numpy as np
import pytest

import nbkeras as keras
from nbkeras import ops


class CategoricalTruePositives(keras.metrics.Metric):
    """The guide's example: how many samples were classified correctly."""

    def __init__(self, name="categorical_true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.reshape(ops.argmax(y_pred, axis=1), (-1, 1))
        values = ops.cast(y_true, "int32") == ops.cast(y_pred, "int32")
        values = ops.cast(values, "float32")
        if sample_weight is not None:
            sample_weight = ops.cast(sample_weight, "float32")
            values = ops.multiply(values, sample_weight)
        self.true_positives.assign_add(ops.sum(values))

    def result(self):
        return self.true_positives.value

    def reset_state(self):
        self.true_positives.assign(0.0)


class MeanAbs(keras.metrics.Metric):
    def __init__(self, name="mean_abs", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_weight(name="total", initializer="zeros")
        self.count = self.add_weight(name="count", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.total.assign_add(ops.sum(ops.abs(y_true - y_pred)))
        self.count.assign_add(ops.sum(ops.ones_like(y_pred)))

    def result(self):
        return self.total / self.count


def _classifier():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5)).astype("float32")
    y = (x[:, :3].argmax(axis=1)).reshape(-1, 1)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="softmax")])
    return model, x, y


@pytest.mark.parametrize("eager", [False, True])
def test_guide_metric_counts_true_positives_inside_fit_and_evaluate(eager):
    model, x, y = _classifier()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=[CategoricalTruePositives(), "sparse_categorical_accuracy"], run_eagerly=eager)
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert history.history["categorical_true_positives"][-1] == pytest.approx(
        60 * history.history["sparse_categorical_accuracy"][-1])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    correct = (model.predict(x, verbose=0).argmax(axis=1) == y[:, 0]).sum()
    assert logs["categorical_true_positives"] == pytest.approx(correct)


def test_guide_metric_on_arrays_and_reset():
    m = CategoricalTruePositives()
    m.update_state(np.array([[0], [1], [2]]), np.eye(3)[[0, 2, 2]])
    assert float(m.result()) == 2.0
    m.reset_state()
    assert float(m.result()) == 0.0


def test_metric_with_two_variables_matches_mae():
    model, x, y = _classifier()
    y1 = np.eye(3, dtype="float32")[y[:, 0]]
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=[MeanAbs(), "mae"])
    logs = model.evaluate(x, y1, verbose=0, return_dict=True)
    assert logs["mean_abs"] == pytest.approx(logs["mae"], rel=1e-5)
