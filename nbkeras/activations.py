"""Keras activations: functions on arrays, and the specs layers use to call the activation kernels.

Every activation is a kernel pair ``<name>_forward(x, out, *params)`` / ``<name>_backward(x, y, dy, dx, *params)``
(elementwise, 1-D) or, for softmax and log_softmax, the same on ``(outer, n, inner)`` views. ``get()`` turns a
Keras identifier (a name, one of the functions below, None) into an ``Activation spec`` that binds the parameters.
"""

import math

import numpy as np

from . import backend

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
    "softmax": ("axis", (("axis", -1),)),
    "log_softmax": ("axis", (("axis", -1),)),
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
    def axis_view(self, a, shape):
        """(outer, n, inner) view of ``a`` whose full per-sample shape is ``shape`` (batch first, None)."""
        dims = tuple(shape[1:])
        axis = self.axis if self.axis >= 0 else len(dims) + 1 + self.axis
        if not 1 <= axis <= len(dims):
            raise ValueError(f"{self.name}: axis {self.axis} is out of range for an input of rank {len(dims) + 1}")
        n = dims[axis - 1]
        inner = math.prod(dims[axis:])
        return a.reshape(-1, n, inner)

    def axis_sizes(self, shape):
        dims = tuple(shape[1:])
        axis = self.axis if self.axis >= 0 else len(dims) + 1 + self.axis
        if not 1 <= axis <= len(dims):
            raise ValueError(f"{self.name}: axis {self.axis} is out of range for an input of rank {len(dims) + 1}")
        return dims[axis - 1], math.prod(dims[axis:])

    # ------------------------------------------------------------ eager
    def forward_into(self, x, out, shape):
        k = backend.kernels().activations
        if self.kind == "axis":
            getattr(k, f"{self.name}_forward")(self.axis_view(x, shape), self.axis_view(out, shape))
        else:
            getattr(k, f"{self.name}_forward")(x.reshape(-1), out.reshape(-1), *self.kernel_args())

    def backward_into(self, x, y, dy, dx, shape):
        k = backend.kernels().activations
        if self.kind == "axis":
            v = self.axis_view
            getattr(k, f"{self.name}_backward")(v(x, shape), v(y, shape), v(dy, shape), v(dx, shape))
        else:
            getattr(k, f"{self.name}_backward")(x.reshape(-1), y.reshape(-1), dy.reshape(-1), dx.reshape(-1),
                                                *self.kernel_args())

    # ---------------------------------------------------------- codegen
    def _views(self, g, buffers, shape):
        if self.kind != "axis":
            return [g.as1d(b) for b in buffers]
        n, inner = self.axis_sizes(shape)
        return [g.as3d(b, n, inner) for b in buffers]

    def emit_forward(self, g, x, out, shape):
        xs, outs = self._views(g, [x, out], shape)
        extra = g.args(self.kernel_args()) if self.kind != "axis" else ""
        return [f"act.{self.name}_forward({xs}, {outs}{extra})"]

    def emit_backward(self, g, x, y, dy, dx, shape):
        v = self._views(g, [x, y, dy, dx], shape)
        extra = g.args(self.kernel_args()) if self.kind != "axis" else ""
        return [f"act.{self.name}_backward({', '.join(v)}{extra})"]

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
    out = np.empty_like(x)
    shape = (None,) + x.shape[1:] if x.ndim else (None,)
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


def softmax(x, axis=-1):
    return _apply("softmax", x, axis=axis)


def log_softmax(x, axis=-1):
    return _apply("log_softmax", x, axis=axis)


_FUNCTIONS = {f: name for name, f in [
    ("linear", linear), ("relu", relu), ("relu6", relu6), ("leaky_relu", leaky_relu), ("sigmoid", sigmoid),
    ("hard_sigmoid", hard_sigmoid), ("tanh", tanh), ("elu", elu), ("selu", selu), ("softplus", softplus),
    ("softsign", softsign), ("swish", swish), ("silu", silu), ("gelu", gelu), ("exponential", exponential),
    ("softmax", softmax), ("log_softmax", log_softmax)]}


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
