"""Stateful metrics (AUC, Precision, Recall, ...) inside compile/fit/evaluate, against the same metric updated on
the arrays (the eager API runs the same kernels; real-Keras parity lives in tests/parity)."""

import numpy as np
import pytest

import nbkeras as keras


@pytest.mark.parametrize("eager", [False, True])
def test_auc_precision_recall_in_evaluate_equal_the_metric_on_the_predictions(eager):
    keras.backend.clear_session()  # unnamed metrics are numbered per session (auc, auc_1, ...), as in Keras
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6)).astype("float32")
    y = (x[:, 0] + 0.5 * rng.normal(size=200) > 0).astype("float32").reshape(-1, 1)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", run_eagerly=eager,
                  metrics=[keras.metrics.AUC(), keras.metrics.Precision(), keras.metrics.Recall(name="rec"),
                           keras.metrics.AUC(curve="PR", name="pr_auc")])
    history = model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    assert set(history.history) >= {"auc", "precision", "rec", "pr_auc", "loss"}
    logs = model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    pred = model.predict(x, verbose=0)
    for name, metric in (("auc", keras.metrics.AUC()), ("precision", keras.metrics.Precision()),
                         ("rec", keras.metrics.Recall()), ("pr_auc", keras.metrics.AUC(curve="PR"))):
        metric.update_state(y, pred)
        assert logs[name] == pytest.approx(float(metric.result()), rel=1e-5, abs=1e-6), name
