"""Weight regularizers with Keras 3's names, defaults and formulas (keras/src/regularizers/regularizers.py).

    L1(l1=0.01)                 penalty = l1 * sum(|x|)
    L2(l2=0.01)                 penalty = l2 * sum(x^2)          (no 1/2 in front)
    L1L2(l1=0.0, l2=0.0)        the sum of both; the string "l1_l2" means L1L2(l1=0.01, l2=0.01)
    OrthogonalRegularizer(factor=0.01, mode="rows")
                                factor * mean over pairs of rows (or columns) of |cos angle|

How Keras adds them to the training loss (read in keras/src/layers/layer.py and trainers/trainer.py, Keras 3.16):
a weight's penalty is computed on the current value of each *trainable* weight that has a regularizer
(``Layer._get_regularization_losses``) and added to the loss unscaled, once per step, after the per-output losses
(``Trainer.compute_loss`` sums ``self.losses``), in ``fit`` and in ``evaluate`` alike. An ``activity_regularizer`` is
called on each output tensor of the layer, and its penalty divided by that output's batch size (``shape[0]``) before
``add_loss`` (Keras 2 did the same; Keras 3.0-3.13 did not divide).

The compiled train step cannot differentiate arbitrary Python: ``kernel_spec()`` names the kernel a built-in
regularizer runs (``nbkeras.kernels.cpu.penalties``), and a custom ``Regularizer`` subclass is accepted for
``__call__`` but raises there. Plain functions are refused by ``get`` with an explanation.
"""

import math
import numbers

import numpy as np

from . import _registry, backend


def _penalties():
    """The penalties kernel module of the active kernel set."""
    return backend.kernels().penalties


def validate_float_arg(value, name):
    """A finite, non-negative real number as a float, else ValueError (Keras's message)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or math.isinf(value) or math.isnan(value) or value < 0:
        raise ValueError(f"Invalid value for argument {name}: expected a non-negative float. "
                         f"Received: {name}={value!r}")
    return float(value)


def _as_float_array(x):
    """x as a float ndarray (integer input becomes floatx, as Keras converts it to a tensor)."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(backend.floatx())
    return x


class Regularizer:
    """Base class: ``__call__(x)`` returns a scalar penalty. The base penalty is 0.0, as in Keras.

    Subclass it and override ``__call__`` and ``get_config`` for your own penalty: it then works when called
    directly, but nbkeras's compiled train step cannot differentiate it (``kernel_spec`` raises).
    """

    def __call__(self, x):
        return 0.0

    def get_config(self):
        if type(self) is Regularizer:
            return {}
        raise NotImplementedError(f"{self} does not implement get_config()")

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def kernel_spec(self):
        """(family, args) naming the kernels that compute this penalty and its gradient, or None for no penalty.

        ("l1l2", (l1, l2)):    penalties.l1l2_penalty_into(flat_w, l1, l2, acc) (or l1l2_penalty) and
                               penalties.l1l2_penalty_grad(flat_w, l1, l2, scale, flat_g), flat 1-D views;
                               for activity regularization l1l2_activity_penalty_into(flat_y, l1, l2, rows, acc)
                               and l1l2_activity_penalty_grad(flat_y, l1, l2, rows, flat_dy).
        ("orthogonal", (factor, by_columns)):
                               penalties.orthogonal_penalty_into(w, factor, by_columns, scratch, acc) and
                               penalties.orthogonal_penalty_grad(w, factor, by_columns, scale, g, scratch) on the
                               2-D weight w, with flat float64 scratch of w.size elements.
        """
        if type(self) is Regularizer:
            return None
        raise ValueError(
            f"nbkeras cannot train with the custom regularizer {type(self).__name__}: its compiled train step "
            "differentiates only L1, L2, L1L2 and OrthogonalRegularizer (no autodiff of Python code yet)")

    def add_gradient(self, w, g, scale=1.0):
        """g += scale * d penalty(w) / d w, in place (eager counterpart of the compiled step's call)."""
        if self.kernel_spec() is None:
            return
        raise NotImplementedError  # every built-in overrides this; kernel_spec() raised for anything else

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class _L1L2Penalty(Regularizer):
    """What L1, L2 and L1L2 share: penalty = l1 * sum(|x|) + l2 * sum(x^2), a term with factor 0 skipped.

    Both ``l1`` and ``l2`` exist as floats on all three classes, so the compiled step treats them alike; each
    class's config holds only its own arguments, as in Keras.
    """

    def __init__(self, l1, l2):
        self.l1 = validate_float_arg(l1, "l1")
        self.l2 = validate_float_arg(l2, "l2")

    def __call__(self, x):
        x = _as_float_array(x)
        flat = np.ascontiguousarray(x).reshape(-1)
        return x.dtype.type(_penalties().l1l2_penalty(flat, self.l1, self.l2))

    def add_gradient(self, w, g, scale=1.0):
        if w.shape != g.shape or not g.flags.c_contiguous:
            raise ValueError("add_gradient: g must be a C-contiguous array of w's shape")
        flat = np.ascontiguousarray(w).reshape(-1)
        _penalties().l1l2_penalty_grad(flat, self.l1, self.l2, float(scale), g.reshape(-1))

    def kernel_spec(self):
        return "l1l2", (self.l1, self.l2)


class L1L2(_L1L2Penalty):
    """penalty = l1 * sum(|x|) + l2 * sum(x^2). Defaults l1=0.0, l2=0.0 (the string "l1_l2" uses 0.01 and 0.01).

    A factor of None means 0.0, as in Keras.
    """

    def __init__(self, l1=0.0, l2=0.0):
        super().__init__(0.0 if l1 is None else l1, 0.0 if l2 is None else l2)

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(_L1L2Penalty):
    """penalty = l1 * sum(|x|). Default l1=0.01 (also for None). ``l2`` is 0.0 (for the kernels, not in the config)."""

    def __init__(self, l1=0.01):
        super().__init__(0.01 if l1 is None else l1, 0.0)

    def get_config(self):
        return {"l1": self.l1}


class L2(_L1L2Penalty):
    """penalty = l2 * sum(x^2). Default l2=0.01 (also for None). ``l1`` is 0.0 (for the kernels, not in the config)."""

    def __init__(self, l2=0.01):
        super().__init__(0.0, 0.01 if l2 is None else l2)

    def get_config(self):
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Encourages the rows (``mode="rows"``) or columns (``mode="columns"``) of a 2-D weight to be orthogonal.

    With n_i the i-th row (column) scaled to unit length (Keras's normalize: x * rsqrt(max(|x|^2, eps^2))) and r
    rows (columns):  penalty = factor * 0.5 * sum_{i != j} |n_i . n_j| / (r (r - 1) / 2).
    Defaults factor=0.01, mode="rows". Keras's penalty is NaN for a single row (0 / 0 pairs), and so is this one.
    """

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = validate_float_arg(factor, "factor")
        if mode not in ("rows", "columns"):
            raise ValueError(f'Invalid value for argument `mode`. Expected one of {{"rows", "columns"}}. '
                             f"Received: mode={mode}")
        self.mode = mode

    @staticmethod
    def _check_rank(x):
        if x.ndim != 2:
            raise ValueError(f"Inputs to OrthogonalRegularizer must have rank 2. Received: inputs.shape={x.shape}")

    def __call__(self, inputs):
        x = _as_float_array(inputs)
        self._check_rank(x)
        scratch = np.empty(x.size, np.float64)
        return x.dtype.type(_penalties().orthogonal_penalty(x, self.factor, self.mode == "columns", scratch))

    def add_gradient(self, w, g, scale=1.0):
        self._check_rank(w)
        if w.shape != g.shape:
            raise ValueError("add_gradient: g must have w's shape")
        scratch = np.empty(w.size, np.float64)
        _penalties().orthogonal_penalty_grad(w, self.factor, self.mode == "columns", float(scale), g, scratch)

    def kernel_spec(self):
        return "orthogonal", (self.factor, self.mode == "columns")

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


# Keras 3 exports the lower-case names as aliases of the classes. (Keras 2's ``l1_l2`` was a function defaulting
# to l1=l2=0.01; with Keras 3's alias, ``l1_l2()`` without arguments means no penalty. Pass the factors.)
l1, l2, l1_l2, orthogonal_regularizer = L1, L2, L1L2, OrthogonalRegularizer

_BUILTINS = (Regularizer, L1, L2, L1L2, OrthogonalRegularizer)
# Keras 3 looks names up by class name and by its to_snake_case(class name): "L1L2" becomes "l1l2".
_BY_NAME = {cls.__name__: cls for cls in _BUILTINS}
_BY_NAME.update({"regularizer": Regularizer, "l1": L1, "l2": L2, "l1l2": L1L2,
                 "orthogonal_regularizer": OrthogonalRegularizer})


def serialize(regularizer):
    """Keras 3's serialized form: {"module", "class_name", "config", "registered_name"}."""
    return _registry.serialize(regularizer, _BUILTINS, "keras.regularizers")


def deserialize(config, custom_objects=None):
    """A regularizer from ``serialize``'s dict (Keras 3 form, or Keras 2's {"class_name", "config"}) or a name."""
    return _registry.deserialize(config, _BY_NAME, "regularizer", get, custom_objects)


def get(identifier):
    """A Regularizer from None, a name, a config dict, a Regularizer class or instance.

    Names as Keras 3 spells them ("l1", "l2", "L1L2", "l1l2", "orthogonal_regularizer", ...) give the class with
    its defaults; "l1_l2" gives L1L2(l1=0.01, l2=0.01) (Keras 2's rule and Keras 3's documentation -- Keras 3's own
    ``get`` rejects this name). Other callables raise ValueError: nbkeras trains only with Regularizer objects whose
    gradient it knows.
    """
    if identifier is None:
        return None
    if isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Regularizer):
        return identifier()
    if isinstance(identifier, str):
        if identifier == "l1_l2":
            return L1L2(l1=0.01, l2=0.01)
        cls = _BY_NAME.get(identifier)
        if cls is None:
            raise ValueError(f"Could not interpret regularizer identifier: {identifier!r}. "
                             f"Expected one of {sorted(set(_BY_NAME) | {'l1_l2'})}")
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        raise ValueError(
            f"Could not use {identifier!r} as a regularizer: nbkeras needs a keras.regularizers.Regularizer object "
            "(L1, L2, L1L2, OrthogonalRegularizer), because its compiled train step cannot differentiate Python "
            "functions yet. For example, `lambda w: 0.01 * sum(|w|)` is L1(0.01).")
    raise ValueError(f"Could not interpret regularizer identifier: {identifier!r}")
