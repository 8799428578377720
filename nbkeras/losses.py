"""Keras losses: classes and functions on arrays, and the kernel specs the trainer compiles.

Each loss names a kernel pair ``<kernel>_forward`` / ``<kernel>_backward`` in ``kernels/cpu/losses.py`` with its
parameters. Values are per sample (and position): the last axis is reduced, as Keras's loss functions do; a
``Loss`` object then weights and reduces them (default "sum_over_batch_size": sum(w * values) / values.size).
"""

import numpy as np

from . import backend
from .layers.base import Layer, to_snake_case

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


def _as_float(a, name):
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got an array of dtype {a.dtype}")
    dtype = a.dtype if a.dtype in (np.float32, np.float64) else backend.floatx()
    return np.ascontiguousarray(a, dtype=dtype)


def align_ranks(y_true, y_pred, sparse):
    """Keras's squeeze_or_expand_to_same_rank, then a strict shape check (we refuse silent broadcasting).

    Returns (y_true 2-D (rows, d) or labels (rows,), y_pred 2-D (rows, d), per-sample value shape).
    """
    if y_pred.ndim == 0:
        raise ValueError("y_pred must have at least one dimension")
    if y_pred.ndim == 1:
        y_pred = y_pred.reshape(1, -1) if not sparse else y_pred.reshape(-1, 1)
        y_true = y_true.reshape(1, -1) if not sparse else y_true.reshape(-1)
        values_shape = (y_pred.shape[0],) if sparse else ()
    else:
        values_shape = y_pred.shape[:-1]
    if sparse:
        if y_true.shape == values_shape + (1,):
            y_true = y_true.reshape(values_shape)
        if y_true.shape != values_shape:
            raise ValueError(f"sparse labels must have shape {values_shape} (or with a trailing 1) for predictions of "
                             f"shape {y_pred.shape}; got {y_true.shape}")
        return y_true.reshape(-1), y_pred.reshape(-1, y_pred.shape[-1]), values_shape
    if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
        y_true = y_true.reshape(y_true.shape + (1,))
    elif y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = y_true.reshape(y_true.shape[:-1])
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}")
    d = y_pred.shape[-1]
    return y_true.reshape(-1, d), y_pred.reshape(-1, d), values_shape


class LossSpec:
    """What the trainer needs to run a loss: kernel base name, extra kernel args, label kind."""

    traced = False

    def __init__(self, kernel, args=(), sparse=False):
        self.kernel = kernel
        self.args = tuple(args)
        self.sparse = sparse

    @property
    def forward_kernel(self):
        """'losses.<kernel>_forward(y_true, y_pred, values, *args)': per-row loss values."""
        return f"losses.{self.kernel}_forward"

    @property
    def backward_kernel(self):
        """'losses.<kernel>_backward(y_true, y_pred, dvalues, dpred, *args)'."""
        return f"losses.{self.kernel}_backward"

    def values(self, y_true, y_pred):
        """Per-sample values of the loss on arrays (the Keras loss *function*); on symbolic tensors (inside a custom
        loss or layer traced with keras.ops), a graph node computing them with the same kernels."""
        from .layers.base import is_symbolic

        if is_symbolic([y_true, y_pred]):
            return LossValues(self)([y_true, y_pred])
        y_pred = _as_float(y_pred, "y_pred")
        y_true = np.ascontiguousarray(_as_float(y_true, "y_true"), dtype=y_pred.dtype)
        yt, yp, shape = align_ranks(y_true, y_pred, self.sparse)
        out = np.empty(yp.shape[0], yp.dtype)
        backend.kernel(self.forward_kernel)(yt, yp, out, *self.args)
        return out.reshape(shape)


class TracedLossSpec:
    """A loss written in Python with keras.ops (a function, or a Loss subclass's ``call``): traced into graph nodes
    when the training step is built (``nbkeras/layers/traced_function.py``)."""

    traced = True
    sparse = False
    kernel = None
    args = ()

    def __init__(self, fn, name):
        self.fn, self.name = fn, name

    def finish(self, total, count):  # as a metric: the mean of its values
        return total / count if count else 0.0


def _values_shape(y_true_shape, y_pred_shape):
    """The shape of per-sample loss values for y_pred of this shape: the last axis reduced."""
    return tuple(y_pred_shape[:-1]) if len(y_pred_shape) > 1 else (None,)


class LossValues(Layer):
    """A built-in loss function called on symbolic tensors (inside a custom loss): its kernels as a graph node."""

    n_inputs = None

    def __init__(self, spec, **kwargs):
        super().__init__(**kwargs)
        self.spec = spec
        self._is_op = True

    def compute_output_shape(self, input_shape):
        return _values_shape(input_shape[0], input_shape[1])

    def gradient_inputs(self, count):
        return [False, True]  # targets carry no gradient

    def _views(self, ctx, yp_ref):
        last = ctx.input_shapes[1][-1]
        yt = ctx.input(0) if self.spec.sparse else ctx.input(0, (last,))
        return yt, yp_ref(1, (last,)), last

    def describe_forward(self, ctx):
        yt, yp, _ = self._views(ctx, ctx.input)
        ctx.call(self.spec.forward_kernel, yt, yp, ctx.output(), *map(ctx.const, self.spec.args))

    def describe_backward(self, ctx):
        yt, yp, last = self._views(ctx, ctx.input)
        ctx.call(self.spec.backward_kernel, yt, yp, ctx.d_output(), ctx.d_input(1, (last,)),
                 *map(ctx.const, self.spec.args))


class Loss:
    """Base class: ``loss(y_true, y_pred, sample_weight=None)`` reduces per-sample values to a scalar. A subclass
    may define ``call(y_true, y_pred)`` with keras.ops: it is traced into the compiled step."""

    kernel = None
    sparse = False

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        if reduction not in REDUCTIONS:
            raise ValueError(f"Invalid value for argument `reduction`: {reduction!r}. Expected one of {REDUCTIONS}")
        self.name = name or to_snake_case(type(self).__name__)
        self.reduction = reduction
        self.dtype = dtype

    def kernel_args(self):
        return ()

    def spec(self):
        if self.kernel is None:
            if type(self).call is Loss.call:
                raise ValueError(f"Loss {type(self).__name__}: define call(y_true, y_pred) (with keras.ops)")
            return TracedLossSpec(self.call, self.name)
        return LossSpec(self.kernel, self.kernel_args(), self.sparse)

    def call(self, y_true, y_pred):
        return self.spec().values(y_true, y_pred)

    def __call__(self, y_true, y_pred, sample_weight=None):
        values = self.call(y_true, y_pred)
        return reduce_weighted(values, sample_weight, self.reduction)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def reduce_weighted(values, sample_weight, reduction):
    """Keras's reduce_weighted_values on arrays; on symbolic values (a loss object called inside a custom layer's
    call(), its result given to add_loss), the same with keras.ops."""
    from .layers.base import KerasTensor

    if isinstance(values, KerasTensor) or isinstance(sample_weight, KerasTensor):
        return _reduce_symbolic(values, sample_weight, reduction)
    values = np.asarray(values)
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=values.dtype)
        while w.ndim > values.ndim and w.shape[-1] == 1:
            w = w.reshape(w.shape[:-1])
        while w.ndim < values.ndim:
            w = w.reshape(w.shape + (1,))
        try:
            values = values * w
        except ValueError:
            raise ValueError(f"sample_weight of shape {np.shape(sample_weight)} does not match loss values of shape "
                             f"{values.shape}") from None
    if reduction in (None, "none"):
        return values
    total = values.sum(dtype=values.dtype)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = np.sum(w * np.ones_like(values))
    else:
        divisor = values.size
    return values.dtype.type(total / divisor) if divisor else values.dtype.type(0.0)


def _reduce_symbolic(values, sample_weight, reduction):
    from . import ops

    if sample_weight is not None:
        if reduction == "mean_with_sample_weight":
            raise ValueError("A loss with reduction='mean_with_sample_weight' and sample weights cannot be computed "
                             "on symbolic tensors in nbkeras (a ratio of two batch sums); use "
                             "'sum_over_batch_size' or 'sum'")
        values = ops.multiply(values, sample_weight)
    if reduction in (None, "none"):
        return values
    if reduction == "sum":
        return ops.sum(values)
    return ops.mean(values)


def _simple(class_name, kernel, default_name):
    def __init__(self, reduction="sum_over_batch_size", name=default_name, dtype=None):
        Loss.__init__(self, name=name, reduction=reduction, dtype=dtype)

    return type(class_name, (Loss,), {"kernel": kernel, "__init__": __init__,
                                      "__doc__": f"Keras's {class_name}: per-sample `{kernel}`, reduced."})


MeanSquaredError = _simple("MeanSquaredError", "mean_squared_error", "mean_squared_error")
MeanAbsoluteError = _simple("MeanAbsoluteError", "mean_absolute_error", "mean_absolute_error")
MeanAbsolutePercentageError = _simple("MeanAbsolutePercentageError", "mean_absolute_percentage_error",
                                      "mean_absolute_percentage_error")
MeanSquaredLogarithmicError = _simple("MeanSquaredLogarithmicError", "mean_squared_logarithmic_error",
                                      "mean_squared_logarithmic_error")
LogCosh = _simple("LogCosh", "log_cosh", "log_cosh")
Hinge = _simple("Hinge", "hinge", "hinge")
SquaredHinge = _simple("SquaredHinge", "squared_hinge", "squared_hinge")
CategoricalHinge = _simple("CategoricalHinge", "categorical_hinge", "categorical_hinge")
KLDivergence = _simple("KLDivergence", "kl_divergence", "kl_divergence")
Poisson = _simple("Poisson", "poisson", "poisson")


def _check_axis(axis, owner):
    if axis != -1:
        raise ValueError(f"{owner}: nbkeras supports axis=-1 only, got axis={axis}")


class Huber(Loss):
    kernel = "huber"

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.delta = float(delta)

    def kernel_args(self):
        return (self.delta,)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


class CosineSimilarity(Loss):
    kernel = "cosine_similarity"

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        _check_axis(axis, "CosineSimilarity")
        self.axis = axis

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class BinaryCrossentropy(Loss):
    kernel = "binary_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        _check_axis(axis, "BinaryCrossentropy")
        self.from_logits, self.label_smoothing, self.axis = bool(from_logits), float(label_smoothing), axis

    def kernel_args(self):
        return (self.from_logits, self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis}


class CategoricalCrossentropy(BinaryCrossentropy):
    kernel = "categorical_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy", dtype=None):
        super().__init__(from_logits, label_smoothing, axis, reduction, name, dtype)


class SparseCategoricalCrossentropy(Loss):
    kernel = "sparse_categorical_crossentropy"
    sparse = True

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if ignore_class is not None:
            raise ValueError("SparseCategoricalCrossentropy: ignore_class is not supported by nbkeras yet")
        self.from_logits = bool(from_logits)
        self.ignore_class = None

    def kernel_args(self):
        return (self.from_logits,)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "ignore_class": None}


class LossFunctionWrapper(Loss):
    """Wraps one of this module's functions (with fixed keyword arguments) as a Loss."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        cls = _FUNCTION_CLASSES.get(fn)
        super().__init__(name=name or getattr(fn, "__name__", "loss"), reduction=reduction, dtype=dtype)
        self.fn, self._kwargs = fn, kwargs
        if cls is None:  # the user's own function: traced with keras.ops
            self._inner = None
            self.kernel, self.sparse = None, False
        else:
            self._inner = cls(**kwargs)
            self.kernel, self.sparse = self._inner.kernel, self._inner.sparse

    def kernel_args(self):
        return self._inner.kernel_args()

    def spec(self):
        if self._inner is None:
            fn, kwargs = self.fn, self._kwargs
            return TracedLossSpec((lambda y_true, y_pred: fn(y_true, y_pred, **kwargs)) if kwargs else fn, self.name)
        return super().spec()

    def call(self, y_true, y_pred):
        if self._inner is None:
            return self.fn(y_true, y_pred, **self._kwargs)
        return super().call(y_true, y_pred)


# ------------------------------------------------------------------ functions
def mean_squared_error(y_true, y_pred):
    return MeanSquaredError().call(y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    return MeanAbsoluteError().call(y_true, y_pred)


def mean_absolute_percentage_error(y_true, y_pred):
    return MeanAbsolutePercentageError().call(y_true, y_pred)


def mean_squared_logarithmic_error(y_true, y_pred):
    return MeanSquaredLogarithmicError().call(y_true, y_pred)


def huber(y_true, y_pred, delta=1.0):
    return Huber(delta=delta).call(y_true, y_pred)


def log_cosh(y_true, y_pred):
    return LogCosh().call(y_true, y_pred)


def hinge(y_true, y_pred):
    return Hinge().call(y_true, y_pred)


def squared_hinge(y_true, y_pred):
    return SquaredHinge().call(y_true, y_pred)


def categorical_hinge(y_true, y_pred):
    return CategoricalHinge().call(y_true, y_pred)


def kl_divergence(y_true, y_pred):
    return KLDivergence().call(y_true, y_pred)


def poisson(y_true, y_pred):
    return Poisson().call(y_true, y_pred)


def cosine_similarity(y_true, y_pred, axis=-1):
    return CosineSimilarity(axis=axis).call(y_true, y_pred)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    return BinaryCrossentropy(from_logits, label_smoothing, axis).call(y_true, y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    return CategoricalCrossentropy(from_logits, label_smoothing, axis).call(y_true, y_pred)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    _check_axis(axis, "sparse_categorical_crossentropy")
    return SparseCategoricalCrossentropy(from_logits, ignore_class).call(y_true, y_pred)


_FUNCTION_CLASSES = {
    mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError,
    mean_absolute_percentage_error: MeanAbsolutePercentageError,
    mean_squared_logarithmic_error: MeanSquaredLogarithmicError, huber: Huber, log_cosh: LogCosh, hinge: Hinge,
    squared_hinge: SquaredHinge, categorical_hinge: CategoricalHinge, kl_divergence: KLDivergence,
    poisson: Poisson, cosine_similarity: CosineSimilarity, binary_crossentropy: BinaryCrossentropy,
    categorical_crossentropy: CategoricalCrossentropy, sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
}

# Keras's aliases (Keras 2 and 3 spellings).
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
logcosh = log_cosh
kld = KLD = kullback_leibler_divergence = kl_divergence
huber_loss = huber

_NAMES = {
    "mean_squared_error": mean_squared_error, "mse": mse, "MSE": mse,
    "mean_absolute_error": mean_absolute_error, "mae": mae, "MAE": mae,
    "mean_absolute_percentage_error": mape, "mape": mape, "MAPE": mape,
    "mean_squared_logarithmic_error": msle, "msle": msle, "MSLE": msle,
    "huber": huber, "huber_loss": huber, "log_cosh": log_cosh, "logcosh": log_cosh, "hinge": hinge,
    "squared_hinge": squared_hinge, "categorical_hinge": categorical_hinge, "kl_divergence": kld,
    "kld": kld, "KLD": kld, "kullback_leibler_divergence": kld, "poisson": poisson,
    "cosine_similarity": cosine_similarity, "binary_crossentropy": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
}
_CLASS_NAMES = {cls.__name__: cls for cls in set(_FUNCTION_CLASSES.values())}


def get(identifier):
    """A Loss from a name, a function of this module, a Loss class or instance, or a config dict."""
    if identifier is None:
        return None
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, str):
        fn = _NAMES.get(identifier)
        if fn is not None:
            return LossFunctionWrapper(fn, name=identifier)
        cls = _CLASS_NAMES.get(identifier)
        if cls is not None:
            return cls()
        raise ValueError(f"Unknown loss: {identifier!r}. Expected one of {sorted(_NAMES)} or a Loss instance")
    if isinstance(identifier, dict) and "class_name" in identifier:
        cls = _CLASS_NAMES.get(identifier["class_name"])
        if cls is None:
            raise ValueError(f"Unknown loss config: {identifier!r}")
        return cls.from_config(identifier.get("config", {}))
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}")


def serialize(loss):
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(config):
    return get(config)
