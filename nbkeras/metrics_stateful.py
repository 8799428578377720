"""Keras 3's stateful metrics: confusion counts at thresholds, AUC, F-beta, IoU, R2, and Sum.

Each metric keeps its whole state in one float64 array, updated by one kernel of ``kernels/cpu/confusion.py``, so
the compiled train step can hold it in its metric state and call the same kernel. The interface the step uses:

* ``state_size(y_pred_shape)``: float64 entries needed for a model output of this shape (batch None first).
* ``update_kernel(y_pred_shape)``: ``("confusion.<name>_update", args, sparse)``; the step calls
  ``kernel(y_true, y_pred, weights, state, *args)`` with y_pred (rows, d), y_true (rows, d) or (rows,) labels
  when ``sparse``, weights (rows,) (ones without sample weights) and ``state`` the metric's slice, accumulated.
  ``args`` are bool / int / float constants only.
* ``result_from_state(state)``: the reported value (a float, or an array where Keras reports a vector).

The eager API (``update_state``, ``result``, ``reset_state``, ``variables``, ``get_config``) runs the same
kernel on the metric's own state. Names, defaults, argument checks and formulas follow Keras 3
(``keras/src/metrics/confusion_metrics.py``, ``metrics_utils.py``, ``f_score_metrics.py``, ``iou_metrics.py``,
``regression_metrics.py``, ``reduction_metrics.py``). Results are computed in float64 from float64 sums; Keras
sums and divides in float32, so the two agree to float32 rounding.
"""

import importlib
import warnings

import numpy as np

from . import backend
from .losses import _as_float, align_ranks
from .metrics import Metric, _sample_weights

EPSILON = 1e-7  # backend.epsilon() at import in Keras; AUC's end thresholds and the F-beta / IoU guards use it
NEG_INF = -1e10  # metrics_utils.NEG_INF: the default threshold with top_k


def _kernel(name):
    family, fn = name.split(".")
    try:
        return backend.kernel(name)
    except AttributeError:  # the family is not (yet) in backend's list of kernel modules
        return getattr(importlib.import_module(f"nbkeras.kernels.{backend.device()}.{family}"), fn)


def _divide_no_nan(a, b):
    a, b = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64))
    out = np.zeros(a.shape)
    np.divide(a, b, out=out, where=b != 0)
    return out


class StatefulMetric(Metric):
    """Base class: a float64 state array built on the first update (or at once when its size is shape-free)."""

    def __init__(self, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._state = None
        self._built_size = None

    # -- the interface the compiled step uses (overridden) ---------------------------------------------------------
    def state_size(self, y_pred_shape):
        raise NotImplementedError

    def update_kernel(self, y_pred_shape):
        raise NotImplementedError

    def result_from_state(self, state):
        raise NotImplementedError

    def _variable_layout(self, size):
        """[(Keras variable name, shape)] in state order; what follows is scratch."""
        raise NotImplementedError

    # -- eager API ---------------------------------------------------------------------------------------------------
    def _build(self, y_pred_shape):
        size = self.state_size(y_pred_shape)
        if self._state is None:
            self._state = np.zeros(size, np.float64)
            self._built_size = size
        elif size != self._built_size:
            raise ValueError(f"{type(self).__name__}: y_pred of shape {tuple(y_pred_shape)} does not fit the state "
                             f"built for earlier inputs")

    def _float_dtype(self):
        return self.dtype if self.dtype in ("float32", "float64") else backend.floatx()

    def _prepare(self, y_true, y_pred, sample_weight, sparse):
        """(y_true, y_pred (rows, d), weights (rows,)) as the compiled step passes them; rank 1 is one value a row."""
        y_pred = np.ascontiguousarray(_as_float(y_pred, "y_pred"), dtype=self._float_dtype())
        y_true = np.ascontiguousarray(_as_float(y_true, "y_true"), dtype=y_pred.dtype)
        if y_pred.ndim == 1:
            # One value per sample (Keras pairs each with its own weight), except that top_k ranks along the
            # last axis: there a vector is one row, as Keras sees it.
            y_pred = y_pred.reshape(1, -1) if self._rank1_is_row() else y_pred.reshape(-1, 1)
            if not sparse and y_true.ndim == 1:
                y_true = y_true.reshape(y_pred.shape)
        yt, yp, shape = align_ranks(y_true, y_pred, sparse)
        if sample_weight is None:
            weights = np.ones(yp.shape[0], yp.dtype)
        else:
            weights = _sample_weights(sample_weight, shape, yp.dtype)
        return np.ascontiguousarray(yt), np.ascontiguousarray(yp), weights, (None,) + y_pred.shape[1:]

    def _rank1_is_row(self):
        return getattr(self, "_top_k", None) is not None

    def update_state(self, y_true, y_pred, sample_weight=None):
        probe = np.shape(y_pred)
        if len(probe) == 1:
            probe = (1,) + probe if self._rank1_is_row() else probe + (1,)
        shape = (None,) + tuple(probe[1:])
        name, args, sparse = self.update_kernel(shape)
        yt, yp, weights, shape = self._prepare(y_true, y_pred, sample_weight, sparse)
        self._build(shape)
        _kernel(name)(yt, yp, weights, self._state, *args)

    def result(self):
        if self._state is None:
            return np.asarray(0.0, dtype=self._float_dtype())
        return np.asarray(self.result_from_state(self._state), dtype=self._float_dtype())

    def reset_state(self):
        if self._state is not None:
            self._state[:] = 0.0

    reset_states = reset_state

    @property
    def variables(self):
        if self._state is None:
            return []
        out, at = [], 0
        for _, shape in self._variable_layout(self._state.shape[0]):
            n = int(np.prod(shape))
            out.append(self._state[at:at + n].reshape(shape))
            at += n
        return out

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


# ------------------------------------------------------------------ thresholded confusion counts


def _check_thresholds(thresholds):
    """Keras's parse_init_thresholds: a float or a list, each in [0, 1]."""
    values = list(thresholds) if isinstance(thresholds, (list, tuple, np.ndarray)) else [thresholds]
    bad = [t for t in values if t is None or t < 0 or t > 1]
    if bad:
        raise ValueError(f"Threshold values must be in [0, 1]. Received: {bad}")
    return [float(t) for t in values]


def _evenly_spaced(thresholds):
    """Keras's is_evenly_distributed_thresholds: at least 3, each within allclose(atol=1e-7) of i / (n - 1)."""
    n = len(thresholds)
    if n < 3:
        return False
    return bool(np.allclose(thresholds, np.arange(n, dtype=np.float32) / (n - 1), atol=EPSILON))


class _ThresholdMetric(StatefulMetric):
    """Counts tp, fp, tn, fn at thresholds through ``confusion.thresholds_update`` (see its docstring).

    Subclasses set ``_thresholds`` (the list Keras compares with, in Keras's order), ``_evenly``, ``_with_epsilon``,
    and optionally ``_top_k``, ``_class_id``, ``_multi_label``, ``_from_logits``, ``_label_weights``.
    """

    _top_k = None
    _class_id = None
    _multi_label = False
    _from_logits = False
    _label_weights = None

    def _setup(self, thresholds, evenly, with_epsilon=None):
        self._thresholds = [float(t) for t in thresholds]
        self._evenly = bool(evenly)
        if with_epsilon is None:
            with_epsilon = self._thresholds[0] < 0 or self._thresholds[-1] > 1
        self._with_epsilon = bool(with_epsilon)
        # The kernel wants ascending thresholds; results come back in the user's order through _order.
        self._order = np.argsort(np.asarray(self._thresholds), kind="stable")

    def _labels(self, y_pred_shape):
        if not self._multi_label:
            return 1
        if len(y_pred_shape) != 2:
            raise ValueError(f"`y_pred` must have rank 2 when `multi_label=True`. Found rank {len(y_pred_shape)}. "
                             f"Full shape received for `y_pred`: {tuple(y_pred_shape)}")
        return 1 if self._class_id is not None else int(y_pred_shape[-1])

    def state_size(self, y_pred_shape):
        T, L = len(self._thresholds), self._labels(y_pred_shape)
        return 4 * T * L + 2 * (T + 1) * L

    def update_kernel(self, y_pred_shape):
        d = int(y_pred_shape[-1]) if len(y_pred_shape) > 1 else 1
        self._labels(y_pred_shape)
        if self._class_id is not None and not 0 <= self._class_id < d:
            raise ValueError(f"class_id={self._class_id} is out of range for y_pred with {d} columns")
        if self._top_k is not None and len(y_pred_shape) < 2:
            raise ValueError("top_k needs y_pred of rank >= 2")
        values = [] if self._evenly else [self._thresholds[i] for i in self._order]
        lw = self._label_weights if not self._multi_label else None
        if lw is not None:
            if len(lw) != d:
                raise ValueError(f"label_weights has {len(lw)} entries but y_pred has {d} columns")
            values += [float(v) for v in lw]
        args = (len(self._thresholds), self._evenly, self._with_epsilon, bool(self._multi_label),
                int(self._top_k or 0), -1 if self._class_id is None else int(self._class_id), bool(self._from_logits),
                0 if lw is None else len(lw), *values, 0.0)
        return "confusion.thresholds_update", args, False

    def _counts(self, state):
        """tp, fp, tn, fn as (T, L) float64 arrays, thresholds in Keras's order."""
        T = len(self._thresholds)
        L = len(state) // (4 * T + 2 * (T + 1))
        parts = np.asarray(state[:4 * T * L], np.float64).reshape(4, T, L)
        inverse = np.empty(T, np.int64)
        inverse[self._order] = np.arange(T)
        return [p[inverse] for p in parts]

    def _variable_layout(self, size):
        T = len(self._thresholds)
        L = size // (4 * T + 2 * (T + 1))
        shape = (T, L) if self._multi_label else (T,)
        return [(n, shape) for n in ("true_positives", "false_positives", "true_negatives", "false_negatives")]

    def _vector_or_scalar(self, v):
        v = v[:, 0]
        return float(v[0]) if len(self._thresholds) == 1 else v


class _ConfusionMatrixConditionCount(_ThresholdMetric):
    _which = 0  # index of tp, fp, tn, fn

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.thresholds = _check_thresholds(0.5 if thresholds is None else thresholds)
        self._setup(self.thresholds, _evenly_spaced(self.thresholds))
        self._build((None, 1))

    def result_from_state(self, state):
        return self._vector_or_scalar(self._counts(state)[self._which])

    @property
    def variables(self):
        # The kernel keeps all four counts; Keras's only variable is the one this metric reports.
        T = len(self._thresholds)
        return [self._state[self._which * T:(self._which + 1) * T]]

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConfusionMatrixConditionCount):
    """Weighted count of positive labels predicted positive (y_pred > threshold; default threshold 0.5)."""
    _which = 0


class FalsePositives(_ConfusionMatrixConditionCount):
    """Weighted count of negative labels predicted positive."""
    _which = 1


class TrueNegatives(_ConfusionMatrixConditionCount):
    """Weighted count of negative labels predicted negative."""
    _which = 2


class FalseNegatives(_ConfusionMatrixConditionCount):
    """Weighted count of positive labels predicted negative."""
    _which = 3


class _PrecisionRecall(_ThresholdMetric):
    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        self._top_k, self._class_id = top_k, class_id
        if thresholds is None:
            self.thresholds = [0.5 if top_k is None else NEG_INF]
        else:
            self.thresholds = _check_thresholds(thresholds)
        self._setup(self.thresholds, _evenly_spaced(self.thresholds))
        self._build((None, 1))

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_PrecisionRecall):
    """tp / (tp + fp) at each threshold (0 when nothing is predicted positive); Keras's defaults and top_k rules."""

    def result_from_state(self, state):
        tp, fp, _, _ = self._counts(state)
        return self._vector_or_scalar(_divide_no_nan(tp, tp + fp))

    @property
    def variables(self):
        T = len(self._thresholds)
        return [self._state[:T], self._state[T:2 * T]]


class Recall(_PrecisionRecall):
    """tp / (tp + fn) at each threshold (0 when there are no positive labels)."""

    def result_from_state(self, state):
        tp, _, _, fn = self._counts(state)
        return self._vector_or_scalar(_divide_no_nan(tp, tp + fn))

    @property
    def variables(self):
        T = len(self._thresholds)
        return [self._state[:T], self._state[3 * T:4 * T]]


class SensitivitySpecificityBase(_ThresholdMetric):
    """Counts at ``num_thresholds`` evenly spaced thresholds 0, 1/(n-1), ..., 1 (one threshold 0.5 when n == 1);
    the result is the largest ``dependent`` among thresholds whose ``constrained`` >= ``value`` (0 if none)."""

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if num_thresholds <= 0:
            raise ValueError(f"Argument `num_thresholds` must be an integer > 0. Received: "
                             f"num_thresholds={num_thresholds}")
        self.value = value
        self.class_id = class_id
        self._class_id = class_id
        if num_thresholds == 1:
            self._setup([0.5], False)
        else:
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._setup([0.0] + inner + [1.0], True)
        self.thresholds = list(self._thresholds)
        self._build((None, 1))

    def _rates(self, state):
        tp, fp, tn, fn = (c[:, 0] for c in self._counts(state))
        return {"sensitivity": _divide_no_nan(tp, tp + fn), "specificity": _divide_no_nan(tn, tn + fp),
                "precision": _divide_no_nan(tp, tp + fp)}

    def _max_under_constraint(self, state, constrained, dependent):
        r = self._rates(state)
        feasible = r[constrained] >= self.value
        return float(np.max(np.where(feasible, r[dependent], 0.0), initial=0.0))

    def get_config(self):
        return {**super().get_config(), "class_id": self.class_id}


def _check_unit(name, value):
    if value < 0 or value > 1:
        raise ValueError(f"Argument `{name}` must be in the range [0, 1]. Received: {name}={value}")


class SensitivityAtSpecificity(SensitivitySpecificityBase):
    """Best sensitivity (recall) at thresholds whose specificity >= ``specificity``."""

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        _check_unit("specificity", specificity)
        self.specificity, self.num_thresholds = specificity, num_thresholds
        super().__init__(specificity, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)

    def result_from_state(self, state):
        return self._max_under_constraint(state, "specificity", "sensitivity")

    def get_config(self):
        return {**super().get_config(), "num_thresholds": self.num_thresholds, "specificity": self.specificity}


class SpecificityAtSensitivity(SensitivitySpecificityBase):
    """Best specificity at thresholds whose sensitivity >= ``sensitivity``."""

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        _check_unit("sensitivity", sensitivity)
        self.sensitivity, self.num_thresholds = sensitivity, num_thresholds
        super().__init__(sensitivity, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)

    def result_from_state(self, state):
        return self._max_under_constraint(state, "sensitivity", "specificity")

    def get_config(self):
        return {**super().get_config(), "num_thresholds": self.num_thresholds, "sensitivity": self.sensitivity}


class PrecisionAtRecall(SensitivitySpecificityBase):
    """Best precision at thresholds whose recall >= ``recall``."""

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        _check_unit("recall", recall)
        self.recall, self.num_thresholds = recall, num_thresholds
        super().__init__(recall, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)

    def result_from_state(self, state):
        return self._max_under_constraint(state, "sensitivity", "precision")

    def get_config(self):
        return {**super().get_config(), "num_thresholds": self.num_thresholds, "recall": self.recall}


class RecallAtPrecision(SensitivitySpecificityBase):
    """Best recall at thresholds whose precision >= ``precision``."""

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        _check_unit("precision", precision)
        self.precision, self.num_thresholds = precision, num_thresholds
        super().__init__(precision, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)

    def result_from_state(self, state):
        return self._max_under_constraint(state, "precision", "sensitivity")

    def get_config(self):
        return {**super().get_config(), "num_thresholds": self.num_thresholds, "precision": self.precision}


# ------------------------------------------------------------------ AUC

_CURVES = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
_SUMMATIONS = {"interpolation": "interpolation", "majoring": "majoring", "minoring": "minoring"}


class AUC(_ThresholdMetric):
    """Area under the ROC or PR curve, a Riemann sum over the counts at ``num_thresholds`` thresholds.

    Thresholds: -1e-7, 1/(n-1), ..., (n-2)/(n-1), 1 + 1e-7 (the ends shifted by epsilon so that predictions of
    exactly 0 and 1 fall inside), or -1e-7, sorted(thresholds), 1 + 1e-7 when ``thresholds`` is given.
    ROC: x = fp / (fp + tn), y = tp / (tp + fn); PR: x = recall, y = precision; heights between neighbouring
    thresholds by ``summation_method`` (interpolation: mean; minoring: min; majoring: max), area
    sum (x[m] - x[m+1]) height[m]. PR with interpolation integrates precision over recall piecewise in tp and
    tp + fp (Davis & Goadrich 2006), as Keras's interpolate_pr_auc. multi_label: one curve per column, averaged
    (weighted by label_weights if given); otherwise all columns pool into one curve, label_weights weighing them.
    """

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        key = str(getattr(curve, "value", curve))
        if key not in ("ROC", "roc", "PR", "pr", "PRGAIN", "prgain"):
            raise ValueError(f'Invalid AUC curve value: "{curve}". Expected values are ["PR", "ROC", "PRGAIN"]')
        method = str(getattr(summation_method, "value", summation_method))
        if method.lower() not in _SUMMATIONS or method not in (method.lower(), method.capitalize()):
            raise ValueError(f'Invalid AUC summation method value: "{summation_method}". Expected values are '
                             f'["interpolation", "majoring", "minoring"]')
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            self.num_thresholds = len(thresholds) + 2
            inner = sorted(float(t) for t in thresholds)
            evenly = _evenly_spaced(np.array([0.0] + inner + [1.0]))
        else:
            if num_thresholds <= 1:
                raise ValueError(f"Argument `num_thresholds` must be an integer > 1. Received: "
                                 f"num_thresholds={num_thresholds}")
            self.num_thresholds = num_thresholds
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            evenly = True
        super().__init__(name=name, dtype=dtype)
        self._setup([0.0 - EPSILON] + inner + [1.0 + EPSILON], evenly, True)
        self.curve = _CURVES[key.lower()]
        self.summation_method = method.lower()
        self.multi_label = self._multi_label = bool(multi_label)
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights, np.float64)
        self._label_weights = None if label_weights is None else [float(v) for v in self.label_weights]
        self._from_logits = bool(from_logits)
        if self.multi_label:
            if num_labels:
                self._build((None, num_labels))
        else:
            if num_labels:
                raise ValueError("`num_labels` is needed only when `multi_label` is True.")
            self._build((None, 1))

    @property
    def thresholds(self):
        return list(self._thresholds)

    def state_size(self, y_pred_shape):
        if self.multi_label and self.num_labels and int(y_pred_shape[-1]) != self.num_labels:
            raise ValueError(f"AUC was built for num_labels={self.num_labels}, got y_pred of shape "
                             f"{tuple(y_pred_shape)}")
        return super().state_size(y_pred_shape)

    def _average(self, by_label):
        if not self.multi_label:
            return float(by_label.sum())
        if self.label_weights is None:
            return float(np.mean(by_label))
        return float(_divide_no_nan(np.sum(by_label * self.label_weights), np.sum(self.label_weights)))

    def _interpolate_pr_auc(self, tp, fp, fn):
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, np.maximum(dp, 0.0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _divide_no_nan(p[:-1], np.maximum(p[1:], 0.0)), 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_ratio = np.log(np.where(both, ratio, 1.0))
        increments = _divide_no_nan(slope * (dtp + intercept * log_ratio), np.maximum(tp[1:] + fn[1:], 0.0))
        return self._average(increments.sum(axis=0))

    def result_from_state(self, state):
        tp, fp, tn, fn = self._counts(state)
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc(tp, fp, fn)
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, _divide_no_nan(tp, tp + fp)
        else:  # PRGAIN, with Keras's fixes: no true positives -> recall gain 0, precision gain 1; gains >= 0
            scale = _divide_no_nan(tp + fn, tn + fp)
            recall_gain = np.where(tp == 0, 0.0, 1.0 - scale * _divide_no_nan(fn, tp))
            precision_gain = np.where(tp == 0, 1.0, 1.0 - scale * _divide_no_nan(fp, tp))
            x, y = np.maximum(recall_gain, 0.0), precision_gain
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._average(((x[:-1] - x[1:]) * heights).sum(axis=0))

    def get_config(self):
        config = {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels,
                  "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
                  "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config


# ------------------------------------------------------------------ F-beta


class FBetaScore(StatefulMetric):
    """(1 + beta^2) P R / (beta^2 P + R) per class, from per-class tp, fp, fn (``confusion.fbeta_update``).

    P = tp / (tp + fp + eps), R = tp / (tp + fn + eps), the ratio's denominator + eps (eps = 1e-7).
    average None: one score per class; "macro": their mean; "weighted": weighted by each class's sum of weighted
    labels; "micro": counts summed over classes first. threshold None predicts every class tied with the row's
    maximum (unless it is 0); a float t predicts y_pred > t. Inputs must be rank 2 (batch, classes), as in Keras.
    """

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError("Invalid `average` argument value. Expected one of: {None, 'micro', 'macro', "
                             f"'weighted'}}. Received: average={average}")
        if not isinstance(beta, float):
            raise ValueError(f"Invalid `beta` argument value. It should be a Python float. Received: beta={beta} "
                             f"of type '{type(beta)}'")
        if beta <= 0.0:
            raise ValueError(f"Invalid `beta` argument value. It should be > 0. Received: beta={beta}")
        if threshold is not None:
            if not isinstance(threshold, float):
                raise ValueError(f"Invalid `threshold` argument value. It should be a Python float. Received: "
                                 f"threshold={threshold} of type '{type(threshold)}'")
            if threshold > 1.0 or threshold <= 0.0:
                raise ValueError(f"Invalid `threshold` argument value. It should verify 0 < threshold <= 1. "
                                 f"Received: threshold={threshold}")
        self.average, self.beta, self.threshold = average, beta, threshold

    def state_size(self, y_pred_shape):
        if len(y_pred_shape) != 2 or y_pred_shape[-1] is None:
            raise ValueError(f"FBetaScore expects 2D inputs with shape (batch_size, output_dim). Received input "
                             f"shapes: y_pred.shape={tuple(y_pred_shape)}")
        return 4 * int(y_pred_shape[-1])

    def update_kernel(self, y_pred_shape):
        self.state_size(y_pred_shape)
        has = self.threshold is not None
        return "confusion.fbeta_update", (float(self.threshold) if has else 0.0, has), False

    def _variable_layout(self, size):
        # Per class for every average ("micro" sums the classes in result_from_state; Keras keeps scalars).
        return [(n, (size // 4,)) for n in ("true_positives", "false_positives", "false_negatives",
                                            "intermediate_weights")]

    def result_from_state(self, state):
        tp, fp, fn, iw = np.asarray(state, np.float64).reshape(4, -1)
        if self.average == "micro":
            tp, fp, fn, iw = tp.sum(), fp.sum(), fn.sum(), iw.sum()
        precision = tp / (tp + fp + EPSILON)
        recall = tp / (tp + fn + EPSILON)
        b2 = self.beta ** 2
        f = precision * recall / (b2 * precision + recall + EPSILON) * (1.0 + b2)
        if self.average == "weighted":
            return float(np.sum(f * iw / (np.sum(iw) + EPSILON)))
        if self.average is not None:
            return float(np.mean(f))
        return f

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """FBetaScore with beta = 1: 2 P R / (P + R)."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config


# ------------------------------------------------------------------ IoU

_LABELS, _ELEMENTS, _ARGMAX, _THRESHOLD = 0, 1, 2, 3  # confusion.IDS_*


class IoU(StatefulMetric):
    """Intersection over union per class from a confusion matrix cm (``confusion.iou_update``), averaged over
    ``target_class_ids``: iou_c = cm[c, c] / (row_c + col_c - cm[c, c] + eps); classes with a zero denominator
    are left out of the mean, which is sum(iou) / (number kept + eps).

    Class ids: labels when sparse, else the argmax over the last axis; out-of-range ids and true ids equal to
    ``ignore_class`` are dropped. The default dtype is Keras's "int32": ids and sample weights truncate to
    integers (a float dtype keeps the weights).
    """

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        super().__init__(name=name, dtype=dtype or "int32")
        if axis != -1:
            raise ValueError("IoU: nbkeras supports axis=-1 only")
        if max(target_class_ids) >= num_classes:
            raise ValueError(f"Target class id {max(target_class_ids)} is out of range, which is "
                             f"[0, {num_classes}).")
        self.num_classes, self.target_class_ids = int(num_classes), list(target_class_ids)
        self.ignore_class, self.sparse_y_true, self.sparse_y_pred, self.axis = (ignore_class, sparse_y_true,
                                                                              sparse_y_pred, axis)
        self._threshold = 0.5
        self._build((None, 1))

    def _modes(self):
        if self.sparse_y_true and self.sparse_y_pred:
            return _ELEMENTS, _ELEMENTS
        if self.sparse_y_true:
            return _LABELS, _ARGMAX
        return _ARGMAX, (_ELEMENTS if self.sparse_y_pred else _ARGMAX)

    def state_size(self, y_pred_shape):
        return self.num_classes * self.num_classes

    def update_kernel(self, y_pred_shape):
        true_mode, pred_mode = self._modes()
        if true_mode == _ARGMAX and pred_mode == _ELEMENTS:
            raise ValueError("IoU with sparse_y_pred=True and sparse_y_true=False has y_true and y_pred of "
                             "different widths; the compiled step needs them aligned")
        return self._args(true_mode, pred_mode)

    def _args(self, true_mode, pred_mode):
        has_ignore = self.ignore_class is not None
        args = (self.num_classes, int(self.ignore_class) if has_ignore else 0, has_ignore, true_mode, pred_mode,
                float(self._threshold), "int" in str(self.dtype))
        return "confusion.iou_update", args, true_mode == _LABELS

    def _float_dtype(self):
        return backend.floatx() if "int" in str(self.dtype) else super()._float_dtype()

    def update_state(self, y_true, y_pred, sample_weight=None):
        # Keras flattens ids to one vector; this keeps rows of the last axis where it takes an argmax over it.
        true_mode, pred_mode = self._modes()
        dt = self._float_dtype()
        yp = np.asarray(_as_float(y_pred, "y_pred"), dt)
        yt = np.asarray(_as_float(y_true, "y_true"), dt)
        yp = yp.reshape(-1, yp.shape[-1]) if pred_mode == _ARGMAX else yp.reshape(-1, 1)
        if true_mode == _ARGMAX:
            yt = yt.reshape(-1, yt.shape[-1])
        else:
            yt = yt.reshape(-1) if true_mode == _LABELS else yt.reshape(-1, 1)
        if yt.shape[0] != yp.shape[0]:
            raise ValueError(f"IoU: y_true gives {yt.shape[0]} class ids but y_pred gives {yp.shape[0]}")
        w = np.ones(yp.shape[0], dt) if sample_weight is None else np.asarray(sample_weight, dt).reshape(-1)
        weights = np.ascontiguousarray(np.broadcast_to(w, (yp.shape[0],)))
        name, args, _ = self._args(true_mode, pred_mode)
        _kernel(name)(np.ascontiguousarray(yt), np.ascontiguousarray(yp), weights, self._state, *args)

    def result(self):
        return np.asarray(self.result_from_state(self._state), dtype=np.float32)

    def result_from_state(self, state):
        cm = np.asarray(state, np.float64).reshape(self.num_classes, self.num_classes)
        tp = np.diag(cm)
        denominator = (cm.sum(axis=0) + cm.sum(axis=1) - tp)[self.target_class_ids]
        tp = tp[self.target_class_ids]
        valid = denominator > 1e-9
        iou = np.where(valid, tp / (denominator + EPSILON), 0.0)
        return float(iou.sum() / (valid.sum() + EPSILON))

    def _variable_layout(self, size):
        return [("total_confusion_matrix", (self.num_classes, self.num_classes))]

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "target_class_ids": self.target_class_ids,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class MeanIoU(IoU):
    """IoU averaged over all ``num_classes`` classes (those present in labels or predictions)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        super().__init__(num_classes, list(range(num_classes)), name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["target_class_ids"]
        return config


class BinaryIoU(IoU):
    """IoU of two classes from y_pred >= threshold (class 1) against integer labels y_true."""

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(2, target_class_ids, name=name, dtype=dtype)
        self.threshold = self._threshold = threshold

    def _modes(self):
        return _ELEMENTS, _THRESHOLD

    def get_config(self):
        return {"target_class_ids": self.target_class_ids, "threshold": self.threshold, "name": self.name,
                "dtype": self.dtype}


# ------------------------------------------------------------------ R2


class R2Score(StatefulMetric):
    """Coefficient of determination per column (``confusion.r2_update``): 1 - residual / (squared_sum - sum*mean),
    mean = sum / count, an infinite score replaced by 0. class_aggregation "uniform_average" (mean over columns),
    "variance_weighted_average" (weighted by the total sums of squares) or None (the vector). With
    num_regressors p > 0 and n entries seen (rows x columns, as Keras counts): 1 - (1 - r2)(n - 1)/(n - p - 1),
    or the plain score with a warning when p >= n - 1.
    """

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        valid = (None, "uniform_average", "variance_weighted_average")
        if class_aggregation not in valid:
            raise ValueError(f"Invalid value for argument `class_aggregation`. Expected one of {valid}. "
                             f"Received: class_aggregation={class_aggregation}")
        if num_regressors < 0:
            raise ValueError(f"Invalid value for argument `num_regressors`. Expected a value >= 0. Received: "
                             f"num_regressors={num_regressors}")
        self.class_aggregation, self.num_regressors = class_aggregation, num_regressors

    def state_size(self, y_pred_shape):
        if len(y_pred_shape) != 2 or y_pred_shape[-1] is None:
            raise ValueError(f"R2Score expects 2D inputs with shape (batch_size, output_dim). Received input "
                             f"shapes: y_pred.shape={tuple(y_pred_shape)}")
        return 4 * int(y_pred_shape[-1]) + 1

    def update_kernel(self, y_pred_shape):
        self.state_size(y_pred_shape)
        return "confusion.r2_update", (), False

    def _variable_layout(self, size):
        c = (size - 1) // 4
        return [("squared_sum", (c,)), ("sum", (c,)), ("residual", (c,)), ("count", (c,)), ("num_samples", ())]

    @property
    def variables(self):
        if self._state is None:
            return []
        c = (self._state.shape[0] - 1) // 4
        s = self._state
        # Keras's order: num_samples, squared_sum, sum, residual, count (state order: sum, squared_sum, ...).
        return [s[4 * c:].reshape(()), s[c:2 * c], s[:c], s[2 * c:3 * c], s[3 * c:4 * c]]

    def result_from_state(self, state):
        state = np.asarray(state, np.float64)
        c = (state.shape[0] - 1) // 4
        total_sum, squared, residual, count = state[:4 * c].reshape(4, c)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = total_sum / count
            total = squared - total_sum * mean
            raw = 1.0 - residual / total
        raw = np.where(np.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            score = np.mean(raw)
        elif self.class_aggregation == "variance_weighted_average":
            with np.errstate(divide="ignore", invalid="ignore"):
                score = np.sum(total * raw) / np.sum(total)
        else:
            score = raw
        n, p = state[4 * c], self.num_regressors
        if p != 0:
            if p > n - 1:
                warnings.warn("More independent predictors than datapoints in adjusted R2 score. Falling back to "
                              "standard R2 score.", stacklevel=2)
            elif p == n - 1:
                warnings.warn("Division by zero in Adjusted R2 score. Falling back to standard R2 score.",
                              stacklevel=2)
            else:
                score = 1.0 - (1.0 - score) * (n - 1.0) / (n - p - 1.0)
        return float(score) if np.ndim(score) == 0 else score

    def get_config(self):
        return {**super().get_config(), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}


# ------------------------------------------------------------------ Sum


class Sum(Metric):
    """Weighted sum of the values passed to update_state: total += sum(w * v) (Keras's ``Sum``)."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, values, sample_weight=None):
        values = np.asarray(values, dtype=np.float64)
        weights = np.empty(0) if sample_weight is None else _sample_weights(sample_weight, values.shape, np.float64)
        backend.kernels().metrics.mean_update(self._state, np.ascontiguousarray(values.reshape(-1)), weights)

    def result(self):
        return np.asarray(self._state[0], dtype=self.dtype)

    @property
    def variables(self):
        return [self._state[0:1].reshape(())]


__all__ = ["StatefulMetric", "TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives", "Precision",
           "Recall", "SensitivitySpecificityBase", "SensitivityAtSpecificity", "SpecificityAtSensitivity",
           "PrecisionAtRecall", "RecallAtPrecision", "AUC", "FBetaScore", "F1Score", "IoU", "MeanIoU", "BinaryIoU",
           "R2Score", "Sum"]
