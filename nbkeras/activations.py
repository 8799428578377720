"""Keras activations: functions on arrays, and the specs layers use to call the activation kernels.

Every activation is a kernel pair ``<name>_forward(x, out, *params)`` / ``<name>_backward(x, y, dy, dx, *params)``
(elementwise, 1-D) or, for softmax, log_softmax, sparsemax and glu, the same on ``(outer, n, inner)`` views.
``get()`` turns a Keras identifier (a name, one of the functions below, None) into an ``ActivationSpec`` that binds
the parameters. ``glu`` is the one activation whose output shape differs from its input's (``output_shape``).
"""

import math

import numpy as np

from . import backend

_REQUIRED = object()  # a parameter Keras gives no default (threshold's two)

# name -> (kind, ((param, default), ...)) with Keras 3's defaults; param order = kernel argument order.
_TABLE = {
    "linear": ("elementwise", ()),
    "relu": ("elementwise", (("negative_slope", 0.0), ("max_value", None), ("threshold", 0.0))),
    "relu6": ("elementwise", ()),
    "leaky_relu": ("elementwise", (("negative_slope", 0.2),)),
    "sigmoid": ("elementwise", ()),
    "hard_sigmoid": ("elementwise", ()),
    "tanh": ("elementwise", ()),
    "elu": ("elementwise", (("alpha", 1.0),)),
    "selu": ("elementwise", ()),
    "softplus": ("elementwise", ()),
    "softsign": ("elementwise", ()),
    "swish": ("elementwise", ()),
    "silu": ("elementwise", ()),
    "gelu": ("elementwise", (("approximate", False),)),
    "exponential": ("elementwise", ()),
    "celu": ("elementwise", (("alpha", 1.0),)),
    "mish": ("elementwise", ()),
    "log_sigmoid": ("elementwise", ()),
    "squareplus": ("elementwise", (("b", 4.0),)),
    "tanh_shrink": ("elementwise", ()),
    "hard_silu": ("elementwise", ()),
    "hard_swish": ("elementwise", ()),
    "hard_tanh": ("elementwise", ()),
    "sparse_plus": ("elementwise", ()),
    "sparse_sigmoid": ("elementwise", ()),
    "soft_shrink": ("elementwise", (("threshold", 0.5),)),
    "hard_shrink": ("elementwise", (("threshold", 0.5),)),
    "threshold": ("elementwise", (("threshold", _REQUIRED), ("default_value", _REQUIRED))),
    "softmax": ("axis", (("axis", -1),)),
    "log_softmax": ("axis", (("axis", -1),)),
    "sparsemax": ("axis", (("axis", -1),)),
    "glu": ("axis", (("axis", -1),)),
}


def _kernel_value(name, value):
    """Python value handed to the kernel: None max_value means no cap (+inf)."""
    if name == "max_value":
        return math.inf if value is None else float(value)
    if name == "approximate":
        return bool(value)
    return float(value)


class ActivationSpec:
    """One activation with bound parameters; knows how to call its kernels eagerly and in generated code."""

    def __init__(self, name, **params):
        if name not in _TABLE:
            raise ValueError(f"Unknown activation function: {name!r}. Expected one of {sorted(_TABLE)}")
        kind, table = _TABLE[name]
        unknown = set(params) - {p for p, _ in table}
        if unknown:
            raise TypeError(f"activation {name!r} got unexpected arguments {sorted(unknown)}")
        missing = [p for p, default in table if default is _REQUIRED and p not in params]
        if missing:
            raise TypeError(f"activation {name!r} needs the arguments {missing} (Keras gives them no default); "
                            f"pass e.g. {{'class_name': {name!r}, 'config': {{...}}}} or call "
                            f"nbkeras.activations.{name} directly")
        self.name = name
        self.kind = kind
        self.params = {p: params.get(p, default) for p, default in table}
        self.axis = int(self.params.pop("axis")) if kind == "axis" else None

    @property
    def is_linear(self):
        return self.name == "linear"

    def kernel_args(self):
        return tuple(_kernel_value(p, v) for p, v in self.params.items())

    # ------------------------------------------------------------ views
    def _axis_index(self, shape):
        """The axis as an index into ``shape`` (batch first); checks it is in range."""
        rank = len(shape)
        axis = self.axis if self.axis >= 0 else rank + self.axis
        if not 1 <= axis < rank:
            raise ValueError(f"{self.name}: axis {self.axis} is out of range for an input of rank {rank}")
        return axis

    def output_shape(self, shape):
        """Shape of the output for an input of ``shape`` (batch first): the same, except glu halves its axis."""
        if self.name != "glu":
            return tuple(shape)
        axis = self._axis_index(shape)
        if shape[axis] is not None and shape[axis] % 2:
            raise ValueError(f"glu: axis {self.axis} must have an even size to be split in two, got {shape[axis]}")
        return tuple(shape[:axis]) + (None if shape[axis] is None else shape[axis] // 2,) + tuple(shape[axis + 1:])

    def axis_view(self, a, shape):
        """(outer, n, inner) view of ``a`` whose full per-sample shape is ``shape`` (batch first, None)."""
        n, inner = self.axis_sizes(shape)
        return a.reshape(-1, n, inner)

    def axis_sizes(self, shape):
        axis = self._axis_index(shape)
        return shape[axis], math.prod(shape[axis + 1:])

    # ------------------------------------------------------------ eager
    def forward_into(self, x, out, shape):
        """out = f(x); ``shape`` is x's shape (batch first), out has ``output_shape(shape)``."""
        k = backend.kernels().activations
        if self.kind == "axis":
            getattr(k, f"{self.name}_forward")(self.axis_view(x, shape),
                                               self.axis_view(out, self.output_shape(shape)))
        else:
            getattr(k, f"{self.name}_forward")(x.reshape(-1), out.reshape(-1), *self.kernel_args())

    def backward_into(self, x, y, dy, dx, shape):
        """dx = dy * f'(x); x and dx have ``shape``, y and dy ``output_shape(shape)``."""
        k = backend.kernels().activations
        if self.kind == "axis":
            v = self.axis_view
            out_shape = self.output_shape(shape)
            getattr(k, f"{self.name}_backward")(v(x, shape), v(y, out_shape), v(dy, out_shape), v(dx, shape))
        else:
            getattr(k, f"{self.name}_backward")(x.reshape(-1), y.reshape(-1), dy.reshape(-1), dx.reshape(-1),
                                                *self.kernel_args())

    def get_config(self):
        return self.name

    def __eq__(self, other):
        return isinstance(other, ActivationSpec) and (self.name, self.params, self.axis) == (
            other.name, other.params, other.axis)

    def __repr__(self):
        return f"ActivationSpec({self.name!r}, {self.params})"


# --------------------------------------------------- Keras's functions on arrays
def _apply(name, x, **params):
    spec = ActivationSpec(name, **params)
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(backend.floatx())
    x = np.ascontiguousarray(x)
    if spec.kind == "axis" and x.ndim == 1:  # a single vector: the axis is its only one
        return _apply(name, x.reshape(1, -1), **params).reshape(-1)
    shape = (None,) + x.shape[1:] if x.ndim else (None,)
    out = np.empty(x.shape[:1] + spec.output_shape(shape)[1:] if x.ndim else (), x.dtype)
    spec.forward_into(x if x.ndim else x.reshape(1), out if out.ndim else out.reshape(1), shape)
    return out


def linear(x):
    return _apply("linear", x)


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    return _apply("relu", x, negative_slope=negative_slope, max_value=max_value, threshold=threshold)


def relu6(x):
    return _apply("relu6", x)


def leaky_relu(x, negative_slope=0.2):
    return _apply("leaky_relu", x, negative_slope=negative_slope)


def sigmoid(x):
    return _apply("sigmoid", x)


def hard_sigmoid(x):
    return _apply("hard_sigmoid", x)


def tanh(x):
    return _apply("tanh", x)


def elu(x, alpha=1.0):
    return _apply("elu", x, alpha=alpha)


def selu(x):
    return _apply("selu", x)


def softplus(x):
    return _apply("softplus", x)


def softsign(x):
    return _apply("softsign", x)


def swish(x):
    return _apply("swish", x)


def silu(x):
    return _apply("silu", x)


def gelu(x, approximate=False):
    return _apply("gelu", x, approximate=approximate)


def exponential(x):
    return _apply("exponential", x)


def celu(x, alpha=1.0):
    return _apply("celu", x, alpha=alpha)


def mish(x):
    return _apply("mish", x)


def log_sigmoid(x):
    return _apply("log_sigmoid", x)


def squareplus(x, b=4):
    return _apply("squareplus", x, b=b)


def tanh_shrink(x):
    return _apply("tanh_shrink", x)


def hard_silu(x):
    return _apply("hard_silu", x)


def hard_swish(x):
    return _apply("hard_swish", x)


def hard_tanh(x):
    return _apply("hard_tanh", x)


def sparse_plus(x):
    return _apply("sparse_plus", x)


def sparse_sigmoid(x):
    return _apply("sparse_sigmoid", x)


def soft_shrink(x, threshold=0.5):
    return _apply("soft_shrink", x, threshold=threshold)


def hard_shrink(x, threshold=0.5):
    return _apply("hard_shrink", x, threshold=threshold)


def threshold(x, threshold, default_value):
    return _apply("threshold", x, threshold=threshold, default_value=default_value)


def softmax(x, axis=-1):
    return _apply("softmax", x, axis=axis)


def log_softmax(x, axis=-1):
    return _apply("log_softmax", x, axis=axis)


def sparsemax(x, axis=-1):
    return _apply("sparsemax", x, axis=axis)


def glu(x, axis=-1):
    """a * sigmoid(b), a and b the two halves of ``x`` along ``axis``: the output is half as wide there."""
    return _apply("glu", x, axis=axis)


_FUNCTIONS = {f: name for name, f in [
    ("linear", linear), ("relu", relu), ("relu6", relu6), ("leaky_relu", leaky_relu), ("sigmoid", sigmoid),
    ("hard_sigmoid", hard_sigmoid), ("tanh", tanh), ("elu", elu), ("selu", selu), ("softplus", softplus),
    ("softsign", softsign), ("swish", swish), ("silu", silu), ("gelu", gelu), ("exponential", exponential),
    ("celu", celu), ("mish", mish), ("log_sigmoid", log_sigmoid), ("squareplus", squareplus),
    ("tanh_shrink", tanh_shrink), ("hard_silu", hard_silu), ("hard_swish", hard_swish), ("hard_tanh", hard_tanh),
    ("sparse_plus", sparse_plus), ("sparse_sigmoid", sparse_sigmoid), ("soft_shrink", soft_shrink),
    ("hard_shrink", hard_shrink), ("threshold", threshold), ("softmax", softmax), ("log_softmax", log_softmax),
    ("sparsemax", sparsemax), ("glu", glu)]}


def get(identifier):
    """An ActivationSpec from None, a name, one of this module's functions, a spec or a {'class_name'} dict."""
    if identifier is None:
        return ActivationSpec("linear")
    if isinstance(identifier, ActivationSpec):
        return identifier
    if isinstance(identifier, str):
        return ActivationSpec(identifier)
    if isinstance(identifier, dict) and "class_name" in identifier:
        return ActivationSpec(identifier["class_name"], **identifier.get("config", {}))
    if callable(identifier) and identifier in _FUNCTIONS:
        return ActivationSpec(_FUNCTIONS[identifier])
    if callable(identifier) and getattr(identifier, "__module__", "").startswith("keras"):
        name = getattr(identifier, "__name__", "")
        if name in _TABLE:
            return ActivationSpec(name)
    if callable(identifier):
        raise ValueError(
            f"nbkeras runs activations as compiled kernels and cannot differentiate the Python callable "
            f"{identifier!r}; use one of {sorted(_TABLE)}"
        )
    raise ValueError(f"Could not interpret activation function identifier: {identifier!r}")


def serialize(activation):
    return get(activation).name


def deserialize(name):
    return get(name)
