"""`MonitorCallback`: the shared "did the monitored metric improve?" logic of EarlyStopping and ReduceLROnPlateau.

Improvement test (Keras 3): with mode min, `current + min_delta < best`; with mode max, `current - min_delta > best`;
the first value seen (best is None) always counts as an improvement.

Mode "auto" picks the direction from the monitored name, `val_` prefix removed:
1. `loss` (or any name ending in `loss`) is minimised;
2. a model metric of that name that declares `_direction` "up" or "down" decides (Keras 3's rule);
3. otherwise names ending like Keras's maximised metrics (accuracy, acc, auc, precision, recall, f1_score, ...)
   are maximised and anything else minimised. Keras 3 raises ValueError at this point; Keras 2 minimised
   everything but `acc`/`accuracy`/`auc`. We take Keras 2's leniency with Keras 3's list of maximised metrics.
"""

import warnings

import numpy as np

from .callback import Callback

_MAXIMISED_SUFFIXES = (
    "acc", "accuracy", "auc", "precision", "recall", "sensitivity", "specificity", "f1_score", "fbeta_score",
    "r2_score", "iou", "cosine_similarity", "correlation",
)


def _declared_direction(model, name):
    """The `_direction` ("up"/"down") of the model metric called `name`, looking inside metric containers."""
    try:
        pending = list(getattr(model, "metrics", None) or [])
    except (TypeError, ValueError, RuntimeError):  # e.g. a model not compiled yet
        return None
    while pending:
        metric = pending.pop()
        pending.extend(getattr(metric, "metrics", None) or [])
        direction = getattr(metric, "_direction", None)
        if getattr(metric, "name", None) == name and direction in ("up", "down"):
            return direction
    return None


class MonitorCallback(Callback):
    """Base for callbacks that watch one metric. Args as in EarlyStopping: monitor, mode, baseline, min_delta."""

    def __init__(self, monitor="val_loss", mode="auto", baseline=None, min_delta=0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"{self.__class__.__name__} mode '{mode}' is unknown, fallback to auto mode.", stacklevel=2)
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.best = baseline
        self.min_delta = abs(min_delta)
        self.monitor_op = None  # np.less or np.greater, chosen at the first epoch end (metrics exist by then)

    def _set_monitor_op(self):
        if self.mode == "auto":
            maximise = self._infer_maximise()
        else:
            maximise = self.mode == "max"
        self.monitor_op = np.greater if maximise else np.less
        if not maximise:
            self.min_delta *= -1  # `current - min_delta` then reads `current + |min_delta|`

    def _infer_maximise(self):
        name = self.monitor.removeprefix("val_")
        if name.endswith("loss"):
            return False
        direction = _declared_direction(self.model, name)
        if direction is not None:
            return direction == "up"
        return name.endswith(_MAXIMISED_SUFFIXES)

    def _is_improvement(self, monitor_value, reference_value):
        if reference_value is None:
            return True
        return bool(self.monitor_op(monitor_value - self.min_delta, reference_value))
