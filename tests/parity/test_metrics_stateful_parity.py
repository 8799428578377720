"""The same update_state sequence on real Keras 3 (JAX backend) and on nbkeras's stateful metrics must give the
same result() to float32 tolerance, for every metric and option. Skipped where Keras is not installed."""

import os
import re
import warnings

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

real = pytest.importorskip("keras")
pytest.importorskip("jax")
from nbkeras import backend  # noqa: E402
from nbkeras import metrics_stateful as nb  # noqa: E402

if real.backend.backend() != "jax":
    pytest.skip("parity checks use Keras's JAX backend", allow_module_level=True)


def batches(kind, seed, n=24, d=3, shape=None):
    """Three (y_true, y_pred, sample_weight) batches; predictions include exact 0, 0.5 and 1 (bucket edges)."""
    rng = np.random.default_rng(seed)
    if kind == "binary1":  # one column: Keras's IoU flattens y and needs one weight per entry
        kind, d = "binary", 1
    out = []
    for b in range(3):
        s = shape or (n, d)
        p = rng.random(s).astype(np.float32)
        edges = rng.random(s) < 0.15
        p[edges] = rng.choice(np.array([0.0, 0.5, 1.0], np.float32), size=int(edges.sum()))
        t = (rng.random(s) < 0.4).astype(np.float32)
        w = rng.random(s[0]).astype(np.float32) * 2 if b != 1 else None
        if kind == "logits":
            p = ((p - 0.5) * 10).astype(np.float32)
        elif kind == "labels":  # sparse class labels against probabilities
            t = rng.integers(0, d, s[0]).astype(np.float32)
            w = None if w is None else np.round(w * 2)  # integer weights: Keras's IoU dtype is int32
        elif kind == "onehot":
            t = np.eye(d, dtype=np.float32)[rng.integers(0, d, s[0])]
            w = None if w is None else np.round(w * 2)
        elif kind == "ids":  # class ids on both sides
            t = rng.integers(0, d, s[0]).astype(np.float32)
            p = rng.integers(0, d, s[0]).astype(np.float32)
            w = None if w is None else np.round(w * 2)
        elif kind == "regression":
            t = rng.normal(size=s).astype(np.float32)
            p = (t + rng.normal(scale=0.7, size=s)).astype(np.float32)
        out.append((t, p, w))
    return out


CASES = [
    ("AUC", {}, "binary"),
    ("AUC", {"num_thresholds": 50}, "binary"),
    ("AUC", {"curve": "PR"}, "binary"),
    ("AUC", {"curve": "PR", "summation_method": "minoring"}, "binary"),
    ("AUC", {"curve": "PR", "summation_method": "majoring"}, "binary"),
    ("AUC", {"summation_method": "minoring"}, "binary"),
    ("AUC", {"summation_method": "majoring"}, "binary"),
    ("AUC", {"curve": "PRGAIN"}, "binary"),
    ("AUC", {"thresholds": [0.9, 0.1, 0.5]}, "binary"),
    ("AUC", {"thresholds": [0.25, 0.5, 0.75]}, "binary"),
    ("AUC", {"thresholds": [0.25, 0.5, 0.75], "curve": "PR"}, "binary"),
    ("AUC", {"multi_label": True}, "binary"),
    ("AUC", {"multi_label": True, "num_labels": 3, "curve": "PR"}, "binary"),
    ("AUC", {"multi_label": True, "label_weights": [0.2, 1.0, 0.5]}, "binary"),
    ("AUC", {"label_weights": [0.2, 1.0, 0.5]}, "binary"),
    ("AUC", {"from_logits": True}, "logits"),
    ("Precision", {}, "binary"),
    ("Precision", {"thresholds": [0.7, 0.2, 0.5]}, "binary"),
    ("Precision", {"thresholds": [0.0, 0.5, 1.0]}, "binary"),
    ("Precision", {"top_k": 1}, "binary"),
    ("Precision", {"top_k": 2, "class_id": 1}, "binary"),
    ("Precision", {"class_id": 2, "thresholds": 0.3}, "binary"),
    ("Recall", {}, "binary"),
    ("Recall", {"thresholds": [0.3, 0.6]}, "binary"),
    ("Recall", {"top_k": 2}, "binary"),
    ("Recall", {"class_id": 0}, "binary"),
    ("TruePositives", {}, "binary"),
    ("FalsePositives", {"thresholds": [0.2, 0.6]}, "binary"),
    ("TrueNegatives", {"thresholds": [0.0, 0.25, 0.5, 0.75, 1.0]}, "binary"),
    ("FalseNegatives", {}, "binary"),
    ("SensitivityAtSpecificity", {"specificity": 0.6}, "binary"),
    ("SensitivityAtSpecificity", {"specificity": 0.6, "num_thresholds": 1}, "binary"),
    ("SpecificityAtSensitivity", {"sensitivity": 0.4, "class_id": 1}, "binary"),
    ("PrecisionAtRecall", {"recall": 0.5, "num_thresholds": 20}, "binary"),
    ("RecallAtPrecision", {"precision": 0.4}, "binary"),
    ("F1Score", {}, "binary"),
    ("F1Score", {"average": "micro"}, "binary"),
    ("F1Score", {"average": "macro", "threshold": 0.4}, "binary"),
    ("F1Score", {"average": "weighted"}, "binary"),
    ("FBetaScore", {"beta": 2.0, "threshold": 0.5}, "binary"),
    ("FBetaScore", {"beta": 0.5, "average": "weighted"}, "binary"),
    ("MeanIoU", {"num_classes": 3, "sparse_y_pred": False}, "labels"),
    ("MeanIoU", {"num_classes": 3, "sparse_y_true": False, "sparse_y_pred": False}, "onehot"),
    ("MeanIoU", {"num_classes": 3}, "ids"),
    ("MeanIoU", {"num_classes": 3, "ignore_class": 1, "sparse_y_pred": False}, "labels"),
    ("MeanIoU", {"num_classes": 3, "sparse_y_pred": False, "dtype": "float32"}, "labels"),
    ("IoU", {"num_classes": 3, "target_class_ids": [0, 2], "sparse_y_pred": False}, "labels"),
    ("BinaryIoU", {}, "binary1"),
    ("BinaryIoU", {"target_class_ids": [1], "threshold": 0.3}, "binary1"),
    ("R2Score", {}, "regression"),
    ("R2Score", {"class_aggregation": None}, "regression"),
    ("R2Score", {"class_aggregation": "variance_weighted_average"}, "regression"),
    ("R2Score", {"num_regressors": 2}, "regression"),
]


def run(module, name, kwargs, data, reset_after=1):
    metric = getattr(module, name)(**kwargs)
    results = []
    for k, (t, p, w) in enumerate(data):
        metric.update_state(t, p, sample_weight=w)
        results.append(np.asarray(metric.result(), np.float64))
        if k == reset_after:
            metric.reset_state()
    return results


@pytest.mark.parametrize("name, kwargs, kind", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_same_results_as_keras(name, kwargs, kind):
    data = batches(kind, seed=len(name) + len(kwargs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras's float-weight-into-int-dtype warning for IoU
        want = run(real.metrics, name, kwargs, data)
    got = run(nb, name, kwargs, data)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("name, kwargs", [("AUC", {}), ("Precision", {"thresholds": [0.3, 0.7]}),
                                          ("Recall", {"top_k": 2}), ("MeanIoU", {"num_classes": 3,
                                                                                 "sparse_y_pred": False})])
def test_rank3_outputs_and_per_sample_weights(name, kwargs):
    """(batch, steps, classes) outputs with (batch, steps) weights: the kernels see batch*steps rows. (Keras
    cannot broadcast (batch,) weights to rank-3 confusion counts.)"""
    data = batches("binary", seed=5, shape=(6, 4, 3))
    rng = np.random.default_rng(0)
    data = [(t, p, rng.random((6, 4)).astype(np.float32)) for t, p, _ in data]
    if name == "MeanIoU":
        data = [(rng.integers(0, 3, (6, 4)).astype(np.float32), p, np.round(w * 2)) for _, p, w in data]
    want = run(real.metrics, name, kwargs, data)
    got = run(nb, name, kwargs, data)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("name, args", [("AUC", ()), ("Precision", ()), ("MeanIoU", (3,)), ("F1Score", ()),
                                        ("R2Score", ()), ("SensitivityAtSpecificity", (0.5,)), ("BinaryIoU", ()),
                                        ("TruePositives", ())])
def test_same_names_and_configs(name, args):
    k = getattr(real.metrics, name)(*args)
    backend.clear_session()  # a fresh session: the first unnamed AUC is "auc", as in Keras
    n = getattr(nb, name)(*args)
    # Keras 3 numbers default names per session (auc, auc_1, ...); the base name is what must agree.
    assert n.name == re.sub(r"_\d+$", "", k.name)
    kc, nc = k.get_config(), n.get_config()
    assert set(kc) == set(nc)
    for key in kc:
        if key not in ("dtype", "name"):
            assert nc[key] == kc[key], key


def test_sum_matches_keras():
    data = [(np.arange(6, dtype=np.float32).reshape(2, 3), None), (np.ones((2, 3), np.float32), [0.5, 2.0])]
    for module in (real.metrics, nb):
        s = module.Sum()
        for v, w in data:
            s.update_state(v, sample_weight=w)
        if module is real.metrics:
            want = float(s.result())
        else:
            assert float(s.result()) == pytest.approx(want)
