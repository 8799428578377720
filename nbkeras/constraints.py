"""Weight constraints with Keras 3's names, defaults and formulas (keras/src/constraints/constraints.py).

Keras applies a weight's constraint right after each optimizer update, to every trainable weight that has one
(``BaseOptimizer.apply``: ``variable.assign(variable.constraint(variable))``), before ``iterations`` is incremented.
With eps = ``backend.epsilon()`` = 1e-7 and norm = sqrt(sum of w^2 over ``axis``, keepdims):

    MaxNorm(max_value=2, axis=0)      w * clip(norm, 0, max_value) / (eps + norm)
    NonNeg()                          maximum(w, 0)
    UnitNorm(axis=0)                  w / (eps + norm)
    MinMaxNorm(min_value=0.0, max_value=1.0, rate=1.0, axis=0)
                                      w * (rate * clip(norm, min_value, max_value) + (1 - rate) * norm) / (eps + norm)

The kernels (``nbkeras.kernels.cpu.penalties``) take the weight as a (rows, cols) matrix and take the norm over the
rows of each column. When ``axis`` names the leading axes of the weight, that matrix is a reshape, no copy: a Dense
kernel (in, units) with axis=0 is itself; a Conv2D kernel (kh, kw, cin, filters) with axis=[0, 1, 2] is
(kh * kw * cin, filters). ``view_shape`` gives that shape, ``apply_view`` projects a weight in place through it.
``__call__`` (Keras's public call, which returns a new array) accepts any axes.
"""

import math

import numpy as np

from . import _registry, backend


def _penalties():
    """The penalties kernel module of the active kernel set."""
    return backend.kernels().penalties


def _as_float_array(w):
    w = np.asarray(w)
    if not np.issubdtype(w.dtype, np.floating):
        w = w.astype(backend.floatx())
    return w


def _norm_axes(axis, ndim):
    """``axis`` (int, list/tuple of ints, or None for all) as a sorted tuple of non-negative axes, or ValueError."""
    if axis is None:
        return tuple(range(ndim))
    axes = [axis] if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool) else list(axis)
    out = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)) or not -ndim <= a < ndim:
            raise ValueError(f"constraint axis {axis!r} is out of range for a weight of rank {ndim}")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"constraint axis {axis!r} repeats an axis")
    return tuple(sorted(out))


class Constraint:
    """Base class: ``__call__(w)`` returns the projected weight; the base one returns w unchanged, as in Keras.

    Subclass it and override ``__call__`` for your own projection: ``apply_view`` then writes ``self(w)`` back
    eagerly, but nbkeras's compiled train step cannot run Python code (``kernel_spec`` raises).
    """

    def __call__(self, w):
        return w

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def kernel_spec(self):
        """(kernel name in ``penalties``, extra arguments after the view), or None for the identity constraint.

        The compiled step calls ``penalties.<name>(view, *args)`` on the view ``view_shape`` describes (a flat view
        when it returns None).
        """
        if type(self) is Constraint:
            return None
        raise ValueError(
            f"nbkeras cannot apply the custom constraint {type(self).__name__} inside its compiled train step: "
            "only MaxNorm, NonNeg, UnitNorm and MinMaxNorm run there (no compiled Python code yet)")

    def view_shape(self, weight_shape):
        """(rows, cols) for the kernel's matrix view of a weight of this shape, or None for a flat view."""
        return None

    def describe(self, weight_shape):
        """(kernel, dims, args) for a compiled step: call ``kernel`` ("penalties.<name>") on the weight seen as
        (leading, *dims) -- dims (cols,) for the (rows, cols) view, () for flat -- followed by ``args``. None for
        the identity (base ``Constraint``); a custom constraint raises (see ``kernel_spec``)."""
        spec = self.kernel_spec()
        if spec is None:
            return None
        view = self.view_shape(weight_shape)
        return f"penalties.{spec[0]}", (() if view is None else (view[1],)), spec[1]

    def apply_view(self, w):
        """Project the weight array ``w`` in place. The base class writes ``self(w)`` back (custom constraints)."""
        w[...] = np.asarray(self(w), dtype=w.dtype)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class _NormConstraint(Constraint):
    """What MaxNorm, UnitNorm and MinMaxNorm share: the per-column matrix view, by the axes they norm over."""

    axis = 0

    def view_shape(self, weight_shape):
        """(prod of the ``axis`` dims, prod of the rest) when ``axis`` names the leading axes, else ValueError.

        axis covering every axis gives (size, 1), one norm over the whole weight (a bias with axis=0);
        an empty axis list gives (1, size), a norm per element.
        """
        shape = tuple(int(d) for d in weight_shape)
        axes = _norm_axes(self.axis, len(shape))
        if axes != tuple(range(len(axes))):
            raise ValueError(
                f"{type(self).__name__}(axis={self.axis!r}) on a weight of shape {shape}: nbkeras applies norm "
                "constraints in place only over the leading axes (axis=0 for Dense kernels, axis=[0, 1, 2] for "
                "Conv2D kernels, [0, 1] for Conv1D kernels)")
        k = len(axes)
        return math.prod(shape[:k]), math.prod(shape[k:])

    def _run(self, matrix):
        name, args = self.kernel_spec()
        getattr(_penalties(), name)(matrix, *args)

    def apply_view(self, w):
        if not w.flags.c_contiguous or not w.flags.writeable:
            raise ValueError(f"{type(self).__name__}.apply_view needs a writeable C-contiguous array")
        self._run(w.reshape(self.view_shape(w.shape)))

    def __call__(self, w):
        """The projected copy of ``w``; any ``axis``: the normed axes are moved to the front of a copy."""
        w = _as_float_array(w)
        axes = _norm_axes(self.axis, w.ndim)
        rest = tuple(a for a in range(w.ndim) if a not in axes)
        moved = np.array(np.transpose(w, axes + rest), order="C", copy=True)  # a copy even when w is C-ordered
        rows = math.prod(moved.shape[:len(axes)])
        self._run(moved.reshape(rows, moved.size // rows if rows else 0))
        return np.transpose(moved, np.argsort(axes + rest))


class MaxNorm(_NormConstraint):
    """w * clip(norm, 0, max_value) / (eps + norm), norm over ``axis``. Defaults max_value=2, axis=0."""

    def __init__(self, max_value=2, axis=0):
        self.max_value = max_value
        self.axis = axis

    def kernel_spec(self):
        return "max_norm_apply", (float(self.max_value),)

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class UnitNorm(_NormConstraint):
    """w / (eps + norm), norm over ``axis``. Default axis=0."""

    def __init__(self, axis=0):
        self.axis = axis

    def kernel_spec(self):
        return "unit_norm_apply", ()

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(_NormConstraint):
    """w * (rate * clip(norm, min_value, max_value) + (1 - rate) * norm) / (eps + norm), norm over ``axis``.

    Defaults min_value=0.0, max_value=1.0, rate=1.0 (strict), axis=0.
    """

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = axis

    def kernel_spec(self):
        return "min_max_norm_apply", (float(self.min_value), float(self.max_value), float(self.rate))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


class NonNeg(Constraint):
    """maximum(w, 0), elementwise (flat view)."""

    def kernel_spec(self):
        return "non_neg_apply", ()

    def view_shape(self, weight_shape):
        return None

    def apply_view(self, w):
        if not w.flags.c_contiguous or not w.flags.writeable:
            raise ValueError("NonNeg.apply_view needs a writeable C-contiguous array")
        _penalties().non_neg_apply(w.reshape(-1))

    def __call__(self, w):
        out = np.array(_as_float_array(w), copy=True, order="C")
        _penalties().non_neg_apply(out.reshape(-1))
        return out


# Keras exports the snake_case names as aliases of the classes.
max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm

_BUILTINS = (Constraint, MaxNorm, NonNeg, UnitNorm, MinMaxNorm)
# Keras 3 looks names up by class name and by its snake_case form.
_BY_NAME = {cls.__name__: cls for cls in _BUILTINS}
_BY_NAME.update({"constraint": Constraint, "max_norm": MaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm,
                 "min_max_norm": MinMaxNorm})


def serialize(constraint):
    """Keras 3's serialized form: {"module", "class_name", "config", "registered_name"}."""
    return _registry.serialize(constraint, _BUILTINS, "keras.constraints")


def deserialize(config, custom_objects=None):
    """A constraint from ``serialize``'s dict (Keras 3 form, or Keras 2's {"class_name", "config"}) or a name."""
    return _registry.deserialize(config, _BY_NAME, "constraint", get, custom_objects)


def get(identifier):
    """A Constraint from None, a name ("max_norm", "MaxNorm", ...), a config dict, a Constraint class or instance.

    Keras also accepts any function of the weight; nbkeras refuses one with ValueError, as its compiled train step
    cannot run Python code (the same rule as ``regularizers.get``).
    """
    if identifier is None:
        return None
    if isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Constraint):
        return identifier()
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier)
        if cls is None:
            raise ValueError(f"Could not interpret constraint identifier: {identifier!r}. "
                             f"Expected one of {sorted(_BY_NAME)}")
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        raise ValueError(
            f"Could not use {identifier!r} as a constraint: nbkeras needs a keras.constraints.Constraint object "
            "(MaxNorm, NonNeg, UnitNorm, MinMaxNorm), because its compiled train step cannot run Python functions "
            "yet. For example, `lambda w: np.maximum(w, 0)` is NonNeg().")
    raise ValueError(f"Could not interpret constraint identifier: {identifier!r}")
