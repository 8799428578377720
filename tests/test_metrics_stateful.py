"""Stateful metric classes: Keras's documented examples, NumPy references for every result, sample weights,
the compiled-step interface (state_size / update_kernel / result_from_state) agreeing with the eager API,
configs, resets, variables and argument errors."""

import numpy as np
import pytest

from nbkeras import metrics_stateful as M
from nbkeras.kernels.cpu import confusion

def fit(metric, *batches):
    for batch in batches:
        metric.update_state(*batch)
    return metric.result()


# --- Keras's documented examples ---------------------------------------------------------------------------------

BINARY = ([0, 1, 1, 1], [1, 0, 1, 1])
CURVE = ([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
SENS = ([0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8])


@pytest.mark.parametrize("metric, batch, expected", [
    (M.AUC(num_thresholds=3), CURVE, 0.75),
    (M.AUC(), CURVE, 0.75),
    (M.Precision(), BINARY, 2 / 3),
    (M.Precision(), BINARY + ([0, 0, 1, 0],), 1.0),
    (M.Precision(top_k=2), ([0, 0, 1, 1], [1, 1, 1, 1]), 0.0),
    (M.Precision(top_k=4), ([0, 0, 1, 1], [1, 1, 1, 1]), 0.5),
    (M.Recall(), BINARY, 2 / 3),
    (M.Recall(), BINARY + ([0, 0, 1, 0],), 1.0),
    (M.TruePositives(), BINARY, 2.0),
    (M.TruePositives(), BINARY + ([0, 0, 1, 0],), 1.0),
    (M.FalsePositives(), ([0, 1, 0, 0], [0, 0, 1, 1]), 2.0),
    (M.TrueNegatives(), ([0, 1, 0, 0], [1, 1, 0, 0]), 2.0),
    (M.FalseNegatives(), ([0, 1, 1, 1], [0, 1, 0, 0]), 2.0),
    (M.SensitivityAtSpecificity(0.5), SENS, 0.5),
    (M.SpecificityAtSensitivity(0.5), SENS, 2 / 3),
    (M.PrecisionAtRecall(0.5), SENS, 0.5),
    (M.RecallAtPrecision(0.8), CURVE, 0.5),
    (M.MeanIoU(num_classes=2), ([0, 0, 1, 1], [0, 1, 0, 1]), 1 / 3),
    (M.BinaryIoU(target_class_ids=[0, 1], threshold=0.3), ([0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7]), 1 / 3),
    (M.R2Score(), ([[1], [4], [3]], [[2], [4], [4]]), 0.57142854),
])
def test_documented_examples(metric, batch, expected):
    np.testing.assert_allclose(fit(metric, batch), expected, rtol=1e-6)


def test_f1_documented_example():
    y_true = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]], np.float32)
    y_pred = np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]], np.float32)
    np.testing.assert_allclose(fit(M.F1Score(threshold=0.5), (y_true, y_pred)), [0.5, 0.8, 0.6666667], rtol=1e-6)


# --- NumPy references ---------------------------------------------------------------------------------------------


def weighted_batches(n=40, d=1, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(3):
        y_true = (rng.random((n, d)) < 0.4).astype(np.float32)
        y_pred = rng.random((n, d)).astype(np.float32)
        out.append((y_true, y_pred, rng.random(n).astype(np.float32)))
    return out


def test_roc_auc_is_the_rank_statistic():
    """With distinct scores more than one threshold step apart, interpolated ROC AUC = P(s_pos > s_neg)."""
    rng = np.random.default_rng(1)
    scores = (rng.permutation(199)[:60] + 0.5) / 199  # one score per threshold interval
    labels = (rng.random(60) < 0.5).astype(np.float64)
    pos, neg = scores[labels == 1], scores[labels == 0]
    want = np.mean(pos[:, None] > neg[None, :])
    np.testing.assert_allclose(fit(M.AUC(), (labels, scores)), want, rtol=1e-6)


def counts_at(batches, thresholds):
    tp = fp = tn = fn = 0.0
    for y_true, y_pred, w in batches:
        w = np.broadcast_to(w[:, None], y_pred.shape).astype(np.float64)
        above = y_pred[..., None] > np.asarray(thresholds, np.float32)
        pos = (y_true != 0)[..., None]
        w = w[..., None]
        tp = tp + (w * (pos & above)).sum((0, 1))
        fp = fp + (w * (~pos & above)).sum((0, 1))
        tn = tn + (w * (~pos & ~above)).sum((0, 1))
        fn = fn + (w * (pos & ~above)).sum((0, 1))
    return tp, fp, tn, fn


@pytest.mark.parametrize("thresholds", [None, 0.3, [0.8, 0.2, 0.5]])
def test_counts_precision_recall_against_numpy(thresholds):
    batches = weighted_batches(d=3)
    t = [0.5] if thresholds is None else np.atleast_1d(thresholds).tolist()
    tp, fp, tn, fn = counts_at(batches, t)
    squeeze = (lambda v: v[0]) if len(t) == 1 else (lambda v: v)
    for cls, want in ((M.TruePositives, tp), (M.FalsePositives, fp), (M.TrueNegatives, tn),
                      (M.FalseNegatives, fn), (M.Precision, tp / (tp + fp)), (M.Recall, tp / (tp + fn))):
        np.testing.assert_allclose(fit(cls(thresholds=thresholds), *batches), squeeze(want), rtol=1e-6)


def test_roc_and_pr_auc_against_numpy_trapezoid():
    batches = weighted_batches(d=2, seed=3)
    grid = [-1e-7] + [(i + 1) / 9 for i in range(8)] + [1 + 1e-7]
    tp, fp, tn, fn = counts_at(batches, grid)
    tpr, fpr = tp / (tp + fn), fp / (fp + tn)
    precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1e-300), 0.0)
    roc = np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2)
    np.testing.assert_allclose(fit(M.AUC(num_thresholds=10), *batches), roc, rtol=1e-6)
    pr_major = np.sum((tpr[:-1] - tpr[1:]) * np.maximum(precision[:-1], precision[1:]))
    np.testing.assert_allclose(fit(M.AUC(num_thresholds=10, curve="PR", summation_method="majoring"), *batches),
                               pr_major, rtol=1e-6)
    # Explicit thresholds equal to the grid take the same (bucketed) path and give the same value.
    np.testing.assert_allclose(fit(M.AUC(thresholds=grid[1:-1]), *batches), roc, rtol=1e-6)


def test_multi_label_auc_is_the_mean_of_per_label_aucs():
    batches = weighted_batches(d=3, seed=4)
    per_label = [fit(M.AUC(), *[(t[:, [j]], p[:, [j]], w) for t, p, w in batches]) for j in range(3)]
    np.testing.assert_allclose(fit(M.AUC(multi_label=True), *batches), np.mean(per_label), rtol=1e-6)
    lw = [0.2, 0.5, 0.3]
    np.testing.assert_allclose(fit(M.AUC(multi_label=True, label_weights=lw), *batches),
                               np.dot(per_label, lw) / np.sum(lw), rtol=1e-6)


def test_pooled_auc_with_label_weights_counts_weighted_columns():
    t, p, w = weighted_batches(d=2, seed=5)[0]
    lw = np.array([1.0, 3.0])
    # Column 1 weighted 3x equals column 1 repeated three times.
    t3 = np.concatenate([t[:, [0]], t[:, [1]], t[:, [1]], t[:, [1]]], axis=0)
    p3 = np.concatenate([p[:, [0]], p[:, [1]], p[:, [1]], p[:, [1]]], axis=0)
    w3 = np.concatenate([w, w, w, w])
    np.testing.assert_allclose(fit(M.AUC(label_weights=lw), (t, p, w)), fit(M.AUC(), (t3, p3, w3)), rtol=1e-6)


def test_from_logits_equals_sigmoid_first():
    t, p, w = weighted_batches(seed=6)[0]
    logits = (p - 0.5) * 8
    probs = (1 / (1 + np.exp(-logits.astype(np.float64)))).astype(np.float32)
    np.testing.assert_allclose(fit(M.AUC(from_logits=True), (t, logits, w)), fit(M.AUC(), (t, probs, w)),
                               rtol=1e-6)


def test_at_constraint_metrics_against_numpy():
    batches = weighted_batches(seed=8)
    grid = [0.0] + [(i + 1) / 199 for i in range(198)] + [1.0]
    tp, fp, tn, fn = counts_at(batches, grid)
    sens, spec, prec = tp / (tp + fn), tn / (tn + fp), np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1e-300), 0)
    best = lambda feasible, dep: np.max(np.where(feasible, dep, 0.0), initial=0.0)  # noqa: E731
    cases = [(M.SensitivityAtSpecificity(0.6), best(spec >= 0.6, sens)),
             (M.SpecificityAtSensitivity(0.6), best(sens >= 0.6, spec)),
             (M.PrecisionAtRecall(0.6), best(sens >= 0.6, prec)),
             (M.RecallAtPrecision(0.4), best(prec >= 0.4, sens))]
    for metric, want in cases:
        np.testing.assert_allclose(fit(metric, *batches), want, rtol=1e-5)


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("threshold", [None, 0.4])
def test_fbeta_against_numpy(average, threshold):
    batches = weighted_batches(d=3, seed=9)
    beta = 2.0
    tp = fp = fn = iw = 0.0
    for y, p, w in batches:
        pred = (p >= p.max(1, keepdims=True)) if threshold is None else (p > np.float32(threshold))
        pred, y, w = pred.astype(np.float64), y.astype(np.float64), w[:, None].astype(np.float64)
        tp, fp = tp + (w * pred * y).sum(0), fp + (w * pred * (1 - y)).sum(0)
        fn, iw = fn + (w * (1 - pred) * y).sum(0), iw + (w * y).sum(0)
    if average == "micro":
        tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
    P, R = tp / (tp + fp), tp / (tp + fn)
    f = (1 + beta ** 2) * P * R / (beta ** 2 * P + R)
    want = {None: f, "micro": f, "macro": np.mean(f), "weighted": np.sum(f * iw) / np.sum(iw)}[average]
    got = fit(M.FBetaScore(average=average, beta=beta, threshold=threshold), *batches)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_mean_iou_against_numpy():
    rng = np.random.default_rng(10)
    labels = rng.integers(0, 4, 50)
    probs = rng.random((50, 4)).astype(np.float32)
    w = rng.integers(0, 3, 50).astype(np.float32)
    cm = np.zeros((4, 4))
    np.add.at(cm, (labels, probs.argmax(1)), w)
    inter = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - inter
    want = np.mean(inter[union > 0] / union[union > 0])
    got = fit(M.MeanIoU(4, sparse_y_pred=False), (labels, probs, w))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    one_hot = np.eye(4, dtype=np.float32)[labels]
    np.testing.assert_allclose(fit(M.MeanIoU(4, sparse_y_true=False, sparse_y_pred=False), (one_hot, probs, w)),
                               want, rtol=1e-6)
    # ignore_class drops those pixels; float dtype keeps fractional weights.
    keep = labels != 2
    cm2 = np.zeros((4, 4))
    np.add.at(cm2, (labels[keep], probs.argmax(1)[keep]), w[keep] * 0.5)
    inter, union = np.diag(cm2), cm2.sum(0) + cm2.sum(1) - np.diag(cm2)
    got = fit(M.MeanIoU(4, ignore_class=2, sparse_y_pred=False, dtype="float32"), (labels, probs, w * 0.5))
    np.testing.assert_allclose(got, np.mean(inter[union > 0] / union[union > 0]), rtol=1e-6)


def test_int_dtype_truncates_weights():
    # Keras's default IoU dtype is int32: a weight of 0.5 counts as 0.
    m = M.MeanIoU(2)
    m.update_state([0, 1], [0, 1], sample_weight=[0.5, 1.5])
    np.testing.assert_array_equal(m.variables[0], [[0, 0], [0, 1]])


@pytest.mark.parametrize("aggregation", [None, "uniform_average", "variance_weighted_average"])
def test_r2_against_numpy(aggregation):
    rng = np.random.default_rng(11)
    y = rng.normal(size=(30, 2)).astype(np.float32)
    p = (y + rng.normal(scale=0.5, size=y.shape)).astype(np.float32)
    w = rng.random(30).astype(np.float32)
    yy, pp, ww = y.astype(np.float64), p.astype(np.float64), w[:, None].astype(np.float64)
    mean = (ww * yy).sum(0) / ww.sum()
    total = (ww * (yy - mean) ** 2).sum(0)
    raw = 1 - (ww * (yy - pp) ** 2).sum(0) / total
    want = {None: raw, "uniform_average": raw.mean(),
            "variance_weighted_average": (raw * total).sum() / total.sum()}[aggregation]
    np.testing.assert_allclose(fit(M.R2Score(class_aggregation=aggregation), (y[:12], p[:12], w[:12]),
                                   (y[12:], p[12:], w[12:])), want, rtol=1e-5)
    # Adjusted: n counts entries (60), p regressors.
    adj = 1 - (1 - raw.mean()) * (60 - 1) / (60 - 3 - 1)
    np.testing.assert_allclose(fit(M.R2Score(num_regressors=3), (y, p, w)), adj, rtol=1e-5)
    with pytest.warns(UserWarning, match="More independent predictors"):
        fit(M.R2Score(num_regressors=100), (y, p, w))


def test_sum():
    s = M.Sum()
    s.update_state([1.0, 3.0, 5.0, 7.0])
    assert float(s.result()) == 16.0
    s.update_state([[1.0, 2.0], [3.0, 4.0]], sample_weight=[1.0, 0.5])
    assert float(s.result()) == 16.0 + 3.0 + 3.5
    s.reset_state()
    assert float(s.result()) == 0.0


# --- the compiled-step interface agrees with the eager API ---------------------------------------------------------


def all_metrics():
    return [M.AUC(), M.AUC(curve="PR"), M.AUC(multi_label=True), M.AUC(thresholds=[0.3, 0.1, 0.9]),
            M.AUC(label_weights=[1.0, 2.0, 0.5]), M.Precision(thresholds=[0.2, 0.6]), M.Recall(top_k=2),
            M.Precision(class_id=1), M.TruePositives(), M.FalseNegatives(thresholds=[0.0, 0.5, 1.0]),
            M.SensitivityAtSpecificity(0.5), M.RecallAtPrecision(0.3, num_thresholds=1),
            M.F1Score(average="macro"), M.FBetaScore(beta=0.5), M.R2Score(), M.MeanIoU(3, sparse_y_pred=False),
            M.MeanIoU(3, sparse_y_true=False, sparse_y_pred=False), M.IoU(3, [0, 2], sparse_y_pred=False)]


@pytest.mark.parametrize("metric", all_metrics(), ids=lambda m: type(m).__name__)
def test_interface_matches_eager(metric):
    rng = np.random.default_rng(12)
    shape = (None, 3)
    sparse_labels = isinstance(metric, M.IoU) and metric.sparse_y_true
    y_pred = rng.random((8, 3)).astype(np.float32)
    y_true = rng.integers(0, 3, 8).astype(np.float32) if sparse_labels else (rng.random((8, 3)) < 0.5).astype(
        np.float32)
    weights = rng.random(8).astype(np.float32)
    if isinstance(metric, M.IoU):
        weights = np.round(weights * 3)
    name, args, sparse = metric.update_kernel(shape)
    assert sparse == sparse_labels
    assert all(isinstance(a, (bool, int, float)) for a in args)
    state = np.zeros(metric.state_size(shape))
    family, fn = name.split(".")
    assert family == "confusion" and fn.endswith("_update")
    getattr(confusion, fn)(y_true, y_pred, weights, state, *args)
    metric.update_state(y_true, y_pred, sample_weight=weights)
    np.testing.assert_allclose(metric.result_from_state(state), metric.result(), rtol=1e-6)
    np.testing.assert_array_equal(state, metric._state)


@pytest.mark.parametrize("metric", all_metrics(), ids=lambda m: type(m).__name__)
def test_config_round_trip_reset_and_variables(metric):
    clone = type(metric).from_config(metric.get_config())
    assert clone.get_config() == metric.get_config()
    assert clone.name == metric.name
    rng = np.random.default_rng(13)
    sparse_labels = isinstance(metric, M.IoU) and metric.sparse_y_true
    y_pred = rng.random((6, 3)).astype(np.float32)
    y_true = rng.integers(0, 3, 6) if sparse_labels else (rng.random((6, 3)) < 0.5).astype(np.float32)
    metric.update_state(y_true, y_pred)
    assert all(isinstance(v, np.ndarray) for v in metric.variables) and metric.variables
    metric.reset_state()
    assert all(not np.any(v) for v in metric.variables)
    empty = np.asarray(metric.result())
    if isinstance(metric, M.R2Score):
        assert np.isnan(empty)  # 0 / 0, as in Keras
    else:
        assert np.all(empty == 0.0)


def test_names_and_configs_as_keras():
    import nbkeras

    nbkeras.backend.clear_session()  # default names are numbered per session, as Keras's auto_name does
    assert M.AUC().name == "auc" and M.MeanIoU(2).name == "mean_io_u" and M.BinaryIoU().name == "binary_io_u"
    assert M.F1Score().name == "f1_score" and M.FBetaScore().name == "fbeta_score" and M.R2Score().name == "r2_score"
    assert M.SensitivityAtSpecificity(0.5).name == "sensitivity_at_specificity"
    nbkeras.backend.clear_session()
    assert M.AUC().get_config() == {"name": "auc", "dtype": "float32", "num_thresholds": 200, "curve": "ROC",
                                    "summation_method": "interpolation", "multi_label": False, "num_labels": None,
                                    "label_weights": None, "from_logits": False}
    assert M.AUC(thresholds=[0.5, 0.2]).get_config()["thresholds"] == [0.2, 0.5]
    nbkeras.backend.clear_session()
    assert M.MeanIoU(3).get_config() == {"name": "mean_io_u", "dtype": "int32", "num_classes": 3,
                                         "ignore_class": None, "sparse_y_true": True, "sparse_y_pred": True,
                                         "axis": -1}
    assert "beta" not in M.F1Score().get_config()
    assert len(M.AUC().thresholds) == 200 and M.AUC().thresholds[0] == -1e-7


def test_vector_results():
    m = M.Precision(thresholds=[0.9, 0.1])
    m.update_state([[1.0], [0.0]], [[0.5], [0.5]])
    np.testing.assert_array_equal(m.result(), [0.0, 0.5])
    assert M.F1Score().result().shape == ()  # unbuilt: 0.0


# --- argument errors ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make, match", [
    (lambda: M.Precision(thresholds=[0.5, 1.5]), "Threshold values must be in \\[0, 1\\]"),
    (lambda: M.TruePositives(thresholds=-0.1), "Threshold values"),
    (lambda: M.AUC(curve="XY"), "Invalid AUC curve"),
    (lambda: M.AUC(summation_method="trapezoid"), "Invalid AUC summation"),
    (lambda: M.AUC(num_thresholds=1), "num_thresholds"),
    (lambda: M.AUC(num_labels=3), "only when `multi_label`"),
    (lambda: M.SensitivityAtSpecificity(1.5), "specificity"),
    (lambda: M.PrecisionAtRecall(0.5, num_thresholds=0), "num_thresholds"),
    (lambda: M.FBetaScore(beta=2), "beta"),
    (lambda: M.FBetaScore(average="samples"), "average"),
    (lambda: M.F1Score(threshold=1.5), "threshold"),
    (lambda: M.R2Score(class_aggregation="median"), "class_aggregation"),
    (lambda: M.R2Score(num_regressors=-1), "num_regressors"),
    (lambda: M.IoU(2, [0, 2]), "out of range"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_shapes():
    with pytest.raises(ValueError, match="2D"):
        M.F1Score().state_size((None, 4, 3))
    with pytest.raises(ValueError, match="2D"):
        M.R2Score().update_state(np.zeros((2, 3, 1)), np.zeros((2, 3, 1)))
    with pytest.raises(ValueError, match="rank 2"):
        M.AUC(multi_label=True).state_size((None, 4, 3))
    with pytest.raises(ValueError, match="class_id"):
        M.Precision(class_id=5).update_state(np.zeros((2, 3)), np.zeros((2, 3)))
    m = M.F1Score()
    m.update_state(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="does not fit"):
        m.update_state(np.zeros((2, 4)), np.zeros((2, 4)))
