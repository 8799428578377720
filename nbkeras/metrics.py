"""Keras metrics: stateful classes, functions on arrays, and the kernel specs the trainer compiles.

Every metric here is a mean of per-sample values (Keras's ``MeanMetricWrapper``): the values come from an
accuracy kernel (``kernels/cpu/metrics.py``) or a loss kernel, and the state is (total, count) with
total += sum(w * v), count += sum(w) (or the number of values without weights). A few report a transform of the
mean (RootMeanSquaredError: sqrt; CosineSimilarity: the negated loss value).
"""

import math

import numpy as np

from . import backend
from . import losses as losses_module
from .layers.base import to_snake_case
from .losses import _as_float, align_ranks


class MetricSpec:
    """Kernel family and name, extra args, label kind, and how the mean turns into the reported value."""

    traced = False

    def __init__(self, family, kernel, args=(), sparse=False, transform="mean"):
        self.family, self.kernel, self.args, self.sparse, self.transform = family, kernel, tuple(args), sparse, transform

    @property
    def forward_kernel(self):
        """'<family>.<kernel>_forward(y_true, y_pred, values, *args)': per-row metric values."""
        return f"{self.family}.{self.kernel}_forward"

    def values_into(self, yt, yp, out):
        backend.kernel(self.forward_kernel)(yt, yp, out, *self.args)

    def finish(self, total, count):
        mean = total / count if count else 0.0
        if self.transform == "sqrt":
            return math.sqrt(mean)
        if self.transform == "neg":
            return -mean
        return mean


class Metric:
    """Base class: ``update_state``, ``result``, ``reset_state``."""

    def __init__(self, name=None, dtype=None):
        # Keras 3's auto_name: a metric without a name is numbered per session (auc, auc_1, ...); metrics whose
        # class gives a default name (mean, accuracy, ...) keep it.
        self.name = name or backend.unique_name(to_snake_case(type(self).__name__))
        self.dtype = dtype or backend.floatx()
        self._state = np.zeros(2, np.float64)
        self._metric_variables = []

    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum", name=None):
        """A state variable of a custom metric (Keras 3); ``update_state`` updates it with ``assign_add``."""
        from . import initializers
        from .layers.base import Variable

        if isinstance(shape, str):  # Keras 2's add_weight(name, shape=...) order
            shape, name = (), shape
        shape = tuple(int(s) for s in (shape or ()))
        dtype = dtype or self.dtype
        value = np.array(initializers.get(initializer)(shape, dtype=dtype), dtype=dtype)
        name = name or f"variable_{len(self._variables_list())}"
        var = Variable(value, name, trainable=False, path=f"{self.name}/{name}")
        var._initial = value.copy()
        self._variables_list().append(var)
        return var

    def add_weight(self, name=None, shape=(), initializer="zeros", dtype=None, aggregation="sum", **kwargs):
        return self.add_variable(shape=shape, initializer=initializer, dtype=dtype, aggregation=aggregation,
                                 name=name)

    def _variables_list(self):
        if "_metric_variables" not in vars(self):  # a subclass that set variables before super().__init__
            self._metric_variables = []
        return self._metric_variables

    def reset_state(self):
        self._state[:] = 0.0
        for var in self._variables_list():
            var.assign(var._initial)

    reset_states = reset_state  # Keras 2 spelling

    @property
    def variables(self):
        if self._variables_list():
            return list(self._variables_list())
        return [self._state[0:1], self._state[1:2]]

    def result(self):
        raise NotImplementedError

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()


def _sample_weights(sample_weight, values_shape, dtype):
    """Per-value weights broadcast as Keras's reduce_to_samplewise_values does (flattened to one per value)."""
    w = np.asarray(sample_weight, dtype=dtype)
    while w.ndim > len(values_shape) and w.shape[-1] == 1:
        w = w.reshape(w.shape[:-1])
    while w.ndim < len(values_shape):
        w = w.reshape(w.shape + (1,))
    try:
        return np.ascontiguousarray(np.broadcast_to(w, values_shape)).reshape(-1)
    except ValueError:
        raise ValueError(f"sample_weight of shape {np.shape(sample_weight)} does not match values of shape "
                         f"{values_shape}") from None


class Mean(Metric):
    """Weighted mean of the values passed to update_state."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, values, sample_weight=None):
        values = np.ascontiguousarray(np.asarray(values, dtype=np.float64).reshape(-1))
        weights = np.empty(0) if sample_weight is None else _sample_weights(sample_weight, np.shape(values),
                                                                           np.float64)
        backend.kernels().metrics.mean_update(self._state, values, weights)

    def result(self):
        total, count = self._state
        return np.asarray(total / count if count else 0.0, dtype=self.dtype)


class MeanMetricWrapper(Metric):
    """A mean of per-sample values of a metric or loss function."""

    def __init__(self, fn=None, name=None, dtype=None, **kwargs):
        if fn is not None:
            self._spec = _function_spec(fn, kwargs)
            name = name or fn.__name__
        super().__init__(name=name, dtype=dtype)

    def spec(self):
        return self._spec

    def update_state(self, y_true, y_pred, sample_weight=None):
        spec = self.spec()
        if spec.traced:  # the user's function, on arrays: keras.ops computes at once
            values = np.asarray(spec.fn(y_true, y_pred), dtype=self.dtype).reshape(-1)
            weights = np.empty(0, values.dtype) if sample_weight is None else np.ascontiguousarray(
                np.broadcast_to(np.asarray(sample_weight, values.dtype).reshape(-1), values.shape))
            backend.kernels().metrics.mean_update(self._state, values, weights)
            return
        y_pred = _as_float(y_pred, "y_pred")
        y_true = np.ascontiguousarray(_as_float(y_true, "y_true"), dtype=y_pred.dtype)
        yt, yp, shape = align_ranks(y_true, y_pred, spec.sparse)
        values = np.empty(yp.shape[0], yp.dtype)
        spec.values_into(yt, yp, values)
        weights = np.empty(0, values.dtype) if sample_weight is None else _sample_weights(sample_weight, shape,
                                                                                         values.dtype)
        backend.kernels().metrics.mean_update(self._state, values, weights)

    def result(self):
        total, count = self._state
        return np.asarray(self.spec().finish(total, count), dtype=self.dtype)


def _metric_class(class_name, family, kernel, default_name, sparse=False, transform="mean", params=()):
    """A MeanMetricWrapper subclass with Keras's constructor arguments ``params`` ((name, default), ...)."""

    def __init__(self, *args, **kwargs):
        names = [p for p, _ in params] + ["name", "dtype"]
        if len(args) > len(names):
            raise TypeError(f"{class_name} takes at most {len(names)} positional arguments")
        bound = dict(zip(names, args))
        for key in kwargs:
            if key not in names or key in bound:
                raise TypeError(f"{class_name}: unexpected or repeated argument {key!r}")
        bound.update(kwargs)
        self._params = {p: bound.get(p, d) for p, d in params}
        MeanMetricWrapper.__init__(self, name=bound.get("name", default_name), dtype=bound.get("dtype"))

    def spec(self):
        return MetricSpec(family, kernel, tuple(_param_value(v) for v in self._params.values()), sparse, transform)

    def get_config(self):
        return {**Metric.get_config(self), **self._params}

    return type(class_name, (MeanMetricWrapper,), {"__init__": __init__, "spec": spec, "get_config": get_config})


def _param_value(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, np.integer)):
        return int(v)
    return float(v)


BinaryAccuracy = _metric_class("BinaryAccuracy", "metrics", "binary_accuracy", "binary_accuracy",
                               params=(("threshold", 0.5),))
CategoricalAccuracy = _metric_class("CategoricalAccuracy", "metrics", "categorical_accuracy", "categorical_accuracy")
SparseCategoricalAccuracy = _metric_class("SparseCategoricalAccuracy", "metrics", "sparse_categorical_accuracy",
                                          "sparse_categorical_accuracy", sparse=True)
TopKCategoricalAccuracy = _metric_class("TopKCategoricalAccuracy", "metrics", "top_k_categorical_accuracy",
                                        "top_k_categorical_accuracy", params=(("k", 5),))
SparseTopKCategoricalAccuracy = _metric_class("SparseTopKCategoricalAccuracy", "metrics",
                                              "sparse_top_k_categorical_accuracy",
                                              "sparse_top_k_categorical_accuracy", sparse=True, params=(("k", 5),))
MeanSquaredError = _metric_class("MeanSquaredError", "losses", "mean_squared_error", "mean_squared_error")
MeanAbsoluteError = _metric_class("MeanAbsoluteError", "losses", "mean_absolute_error", "mean_absolute_error")
MeanAbsolutePercentageError = _metric_class("MeanAbsolutePercentageError", "losses",
                                            "mean_absolute_percentage_error", "mean_absolute_percentage_error")
MeanSquaredLogarithmicError = _metric_class("MeanSquaredLogarithmicError", "losses",
                                            "mean_squared_logarithmic_error", "mean_squared_logarithmic_error")
RootMeanSquaredError = _metric_class("RootMeanSquaredError", "losses", "mean_squared_error",
                                     "root_mean_squared_error", transform="sqrt")
LogCoshError = _metric_class("LogCoshError", "losses", "log_cosh", "logcosh")
Hinge = _metric_class("Hinge", "losses", "hinge", "hinge")
SquaredHinge = _metric_class("SquaredHinge", "losses", "squared_hinge", "squared_hinge")
CategoricalHinge = _metric_class("CategoricalHinge", "losses", "categorical_hinge", "categorical_hinge")
KLDivergence = _metric_class("KLDivergence", "losses", "kl_divergence", "kl_divergence")
Poisson = _metric_class("Poisson", "losses", "poisson", "poisson")
BinaryCrossentropy = _metric_class("BinaryCrossentropy", "losses", "binary_crossentropy", "binary_crossentropy",
                                   params=(("from_logits", False), ("label_smoothing", 0.0)))
CategoricalCrossentropy = _metric_class("CategoricalCrossentropy", "losses", "categorical_crossentropy",
                                        "categorical_crossentropy",
                                        params=(("from_logits", False), ("label_smoothing", 0.0)))
SparseCategoricalCrossentropy = _metric_class("SparseCategoricalCrossentropy", "losses",
                                              "sparse_categorical_crossentropy", "sparse_categorical_crossentropy",
                                              sparse=True, params=(("from_logits", False),))


class CosineSimilarity(_metric_class("_CosineSimilarityBase", "losses", "cosine_similarity",
                                     "cosine_similarity", params=(("axis", -1),))):
    """Mean cosine similarity (positive: the negated cosine_similarity loss)."""

    def spec(self):
        if self._params["axis"] != -1:
            raise ValueError("CosineSimilarity: nbkeras supports axis=-1 only")
        return MetricSpec("losses", "cosine_similarity", (), False, "neg")


# ------------------------------------------------------------------ functions
def _values(cls, y_true, y_pred, **kwargs):
    spec = cls(**kwargs).spec()
    y_pred = _as_float(y_pred, "y_pred")
    y_true = np.ascontiguousarray(_as_float(y_true, "y_true"), dtype=y_pred.dtype)
    yt, yp, shape = align_ranks(y_true, y_pred, spec.sparse)
    out = np.empty(yp.shape[0], yp.dtype)
    spec.values_into(yt, yp, out)
    return out.reshape(shape)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    return _values(BinaryAccuracy, y_true, y_pred, threshold=threshold)


def categorical_accuracy(y_true, y_pred):
    return _values(CategoricalAccuracy, y_true, y_pred)


def sparse_categorical_accuracy(y_true, y_pred):
    return _values(SparseCategoricalAccuracy, y_true, y_pred)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    return _values(TopKCategoricalAccuracy, y_true, y_pred, k=k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    return _values(SparseTopKCategoricalAccuracy, y_true, y_pred, k=k)


_FUNCTION_SPECS = {
    binary_accuracy: BinaryAccuracy, categorical_accuracy: CategoricalAccuracy,
    sparse_categorical_accuracy: SparseCategoricalAccuracy, top_k_categorical_accuracy: TopKCategoricalAccuracy,
    sparse_top_k_categorical_accuracy: SparseTopKCategoricalAccuracy,
}


def _function_spec(fn, kwargs):
    cls = _FUNCTION_SPECS.get(fn)
    if cls is not None:
        return cls(**kwargs).spec()
    loss = losses_module.get(fn)
    if loss is None:
        raise ValueError(f"Unknown metric function: {fn!r}")
    spec = loss.spec()
    if spec.traced:  # the user's own function, written with keras.ops
        return spec
    return MetricSpec("losses", spec.kernel, spec.args, spec.sparse)


# Loss functions double as metric functions, as in Keras.
mean_squared_error = mse = MSE = losses_module.mean_squared_error
mean_absolute_error = mae = MAE = losses_module.mean_absolute_error
mean_absolute_percentage_error = mape = MAPE = losses_module.mean_absolute_percentage_error
mean_squared_logarithmic_error = msle = MSLE = losses_module.mean_squared_logarithmic_error
binary_crossentropy = losses_module.binary_crossentropy
categorical_crossentropy = losses_module.categorical_crossentropy
sparse_categorical_crossentropy = losses_module.sparse_categorical_crossentropy
hinge = losses_module.hinge
squared_hinge = losses_module.squared_hinge
categorical_hinge = losses_module.categorical_hinge
kl_divergence = kld = KLD = losses_module.kl_divergence
poisson = losses_module.poisson
log_cosh = logcosh = losses_module.log_cosh


def cosine_similarity(y_true, y_pred, axis=-1):
    """Keras's metric function: the (positive) cosine similarity per sample."""
    return -losses_module.cosine_similarity(y_true, y_pred, axis=axis)


_NAMES = {
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError, "mape": MeanAbsolutePercentageError,
    "MAPE": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError, "msle": MeanSquaredLogarithmicError,
    "MSLE": MeanSquaredLogarithmicError,
    "root_mean_squared_error": RootMeanSquaredError, "logcosh": LogCoshError, "log_cosh": LogCoshError,
    "cosine_similarity": CosineSimilarity, "hinge": Hinge, "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge, "kl_divergence": KLDivergence, "kld": KLDivergence,
    "KLD": KLDivergence, "kullback_leibler_divergence": KLDivergence, "poisson": Poisson,
    "binary_crossentropy": BinaryCrossentropy, "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}
_CLASSES = {c.__name__: c for c in set(_NAMES.values())}
_CLASSES.update(Mean=Mean, MeanMetricWrapper=MeanMetricWrapper)


def get(identifier):
    """A metric object from a name (kept as its display name, as Keras does), class, instance or function."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(f"Unknown metric function: {identifier!r}")
        m = cls()
        m.name = identifier
        return m
    if isinstance(identifier, dict) and "class_name" in identifier:
        cls = _CLASSES.get(identifier["class_name"])
        if cls is None:
            raise ValueError(f"Unknown metric config: {identifier!r}")
        return cls.from_config(identifier.get("config", {}))
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}")


def serialize(metric):
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


def deserialize(config):
    return get(config)


# Keras 3's stateful metrics (confusion counts, AUC, F-beta, IoU, R2, Sum) live in metrics_stateful.py; imported
# here, at the end, because they build on Metric above.
from .metrics_stateful import (AUC, F1Score, FalseNegatives, FalsePositives, FBetaScore, BinaryIoU,  # noqa: E402
                               IoU, MeanIoU, Precision, PrecisionAtRecall, R2Score, Recall, RecallAtPrecision,
                               SensitivityAtSpecificity, SpecificityAtSensitivity, StatefulMetric, Sum,
                               TrueNegatives, TruePositives)

for _cls in (AUC, F1Score, FalseNegatives, FalsePositives, FBetaScore, BinaryIoU, IoU, MeanIoU, Precision,
             PrecisionAtRecall, R2Score, Recall, RecallAtPrecision, SensitivityAtSpecificity,
             SpecificityAtSensitivity, Sum, TrueNegatives, TruePositives):
    _CLASSES[_cls.__name__] = _cls  # get("AUC"), configs by class name
    _NAMES.setdefault(to_snake_case(_cls.__name__), _cls)  # get("auc"), get("f1_score"), as Keras's get does
