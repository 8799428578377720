"""Elementwise ops: unary math, binary arithmetic and comparisons with NumPy broadcasting, where, clip, cast and
the *_like fills. On arrays they compute at once with NumPy; with a KerasTensor among their arguments they record
an op layer (see op_layers.py) and return a KerasTensor."""

import numpy as np

from .. import backend
from ..kernels.cpu import elementwise as E
from ..layers.base import KerasTensor, Variable
from . import op_layers as L
from .table import NO_GRADIENT
from .table import op as table_op

#: Unary ops whose result is a float even for integer input (Keras returns floatx there, NumPy float64).
_FLOAT_RESULT = {"exp", "log", "log1p", "expm1", "sqrt", "reciprocal", "rsqrt", "sin", "cos", "tan", "arcsin",
                 "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "log2", "log10",
                 "exp2", "erf"}
_BOOL_RESULT = {"logical_not", "isnan", "isinf", "isfinite", "equal", "not_equal", "less", "less_equal", "greater",
                "greater_equal", "logical_and", "logical_or", "logical_xor"}


def is_symbolic(*values):
    return any(isinstance(v, KerasTensor) for v in values)


def as_array(x):
    """An eager operand as a NumPy array (Variables give their values)."""
    if isinstance(x, KerasTensor):
        raise TypeError("internal: a symbolic tensor reached an eager op")
    return np.asarray(x)


def as_operand(x):
    """Like ``as_array``, but Python numbers stay Python numbers, so NumPy treats them as weak: a float32 array
    plus 2.0 stays float32, as in Keras."""
    return x if isinstance(x, (int, float, bool)) else as_array(x)


def _float_input(x):
    a = as_array(x)
    return a if a.dtype.kind in "fc" else a.astype(backend.floatx())


def _is_number(x):
    """A Python or NumPy scalar (not a Variable, which may need a gradient): stays a kernel constant."""
    return isinstance(x, (int, float, np.integer, np.floating, bool, np.bool_)) or (
        isinstance(x, np.ndarray) and x.ndim == 0)


# ------------------------------------------------------------------------------------------ unary
def unary(name, x):
    entry = table_op(name)
    if isinstance(x, KerasTensor):
        nograd = entry.grad == NO_GRADIENT
        return L.record(L.UnaryOp(name, x, entry.code, differentiable=not nograd,
                                  dtype="bool" if name in _BOOL_RESULT else None))
    return entry.numpy(_float_input(x) if name in _FLOAT_RESULT else as_array(x))


def _make_unary(name):
    def fn(x):
        return unary(name, x)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Keras's ops.{name}(x), elementwise (gradient rule: dx = dy * {table_op(name).grad})."
    return fn


UNARY_NAMES = ("negative", "abs", "absolute", "sign", "exp", "log", "log1p", "expm1", "sqrt", "square",
               "reciprocal", "rsqrt", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
               "arcsinh", "arccosh", "arctanh", "log2", "log10", "exp2", "erf", "floor", "ceil", "trunc",
               "logical_not", "isnan", "isinf", "isfinite")
UNARY = {name: _make_unary(name) for name in UNARY_NAMES}


def round(x, decimals=0):  # noqa: A001 - Keras's name
    """Keras's ops.round: half to even; ``decimals`` scales by 10**decimals around the rounding."""
    if decimals == 0:
        return unary("round", x)
    scale = 10.0 ** decimals
    return divide(unary("round", multiply(x, scale)), scale)


# ------------------------------------------------------------------------------------------ binary
def binary(name, x1, x2):
    entry = table_op(name)
    if not is_symbolic(x1, x2):
        return entry.numpy(as_operand(x1), as_operand(x2))
    dtype = "bool" if name in _BOOL_RESULT else None
    differentiable = entry.grad != NO_GRADIENT
    if _is_number(x2) and isinstance(x1, KerasTensor):
        return _keep_batch_mark(L.record(L.ScalarOp(name, x1, float(x2), False, differentiable, dtype)), x1, name,
                                scalar_first=False)
    if _is_number(x1) and isinstance(x2, KerasTensor):
        return _keep_batch_mark(L.record(L.ScalarOp(name, x2, float(x1), True, differentiable, dtype)), x2, name,
                                scalar_first=True)
    return L.record(L.BinaryOp(name, x1, x2, differentiable, dtype))


def _keep_batch_mark(out, x, name, scalar_first):
    """A batch-wide mean or sum scaled by a constant is still one (``rate * ops.mean(x)`` in add_loss)."""
    mark = getattr(x, "_batch_reduced", None)
    if mark is not None and (name == "multiply" or (name == "divide" and not scalar_first)):
        out._batch_reduced = mark
        out._scaled_from = x
    return out


def _make_binary(name):
    def fn(x1, x2):
        return binary(name, x1, x2)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"Keras's ops.{name}(x1, x2) with NumPy broadcasting (gradient rule (d/dx1, d/dx2): "
                  f"{table_op(name).grad}; summed over broadcast axes).")
    return fn


BINARY_NAMES = ("add", "subtract", "multiply", "divide", "true_divide", "power", "maximum", "minimum", "mod",
                "floor_divide", "arctan2", "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
                "logical_and", "logical_or", "logical_xor")
BINARY = {name: _make_binary(name) for name in BINARY_NAMES}
add, subtract, multiply, divide = BINARY["add"], BINARY["subtract"], BINARY["multiply"], BINARY["divide"]
maximum, minimum = BINARY["maximum"], BINARY["minimum"]


# ------------------------------------------------------------------------------------------ where, clip
def where(condition, x1=None, x2=None):
    """Keras's ops.where: x1 where condition else x2 (broadcast); with one argument, the nonzero indices (eager)."""
    if x1 is None and x2 is None:
        if isinstance(condition, KerasTensor):
            raise ValueError("ops.where(condition) (the indices of nonzero entries) has a data-dependent shape "
                             "and cannot be part of nbkeras's compiled graphs")
        return np.nonzero(as_array(condition))
    if x1 is None or x2 is None:
        raise ValueError("ops.where: pass both x1 and x2, or neither")
    if not is_symbolic(condition, x1, x2):
        return np.where(as_operand(condition), as_operand(x1), as_operand(x2))
    return L.record(L.WhereOp(condition, x1, x2))


def clip(x, x_min, x_max):
    """Keras's ops.clip: min(max(x, x_min), x_max)."""
    if not is_symbolic(x, x_min, x_max):
        return np.clip(as_array(x), as_operand(x_min), as_operand(x_max))
    if isinstance(x, KerasTensor) and _is_number(x_min) and _is_number(x_max):
        return L.record(L.ClipOp(x, float(x_min), float(x_max)))
    return minimum(maximum(x, x_min), x_max)


# ------------------------------------------------------------------------------------------ casts and fills
def _dtype_name(dtype):
    return np.dtype(backend.floatx() if dtype is None else dtype).name


def cast(x, dtype):
    """Keras's ops.cast. Symbolic values are stored as floats whatever their dtype: a float cast is free (the
    same buffer), an integer cast truncates toward zero and a bool cast tests != 0; neither carries a gradient."""
    name = _dtype_name(dtype)
    if not isinstance(x, KerasTensor):
        return as_array(x).astype(name)
    kind = np.dtype(name).kind
    if kind == "f":
        return L.record(L.AliasOp("cast", x, x.shape, dtype=name))
    code = E.TRUNC if kind in "iu" else E.NONZERO
    return L.record(L.UnaryOp("cast", x, code, differentiable=False, dtype=name))


def stop_gradient(variable):
    """Keras's ops.stop_gradient: the identity, through which no gradient flows."""
    if not isinstance(variable, KerasTensor):
        return np.array(as_array(variable))
    return L.record(L.UnaryOp("stop_gradient", variable, table_op("stop_gradient").code, gradient=False))


def _fill_like(op, x, value, dtype):
    if not isinstance(x, KerasTensor):
        a = as_array(x)
        return np.full(a.shape, value, dtype=a.dtype if dtype is None else np.dtype(dtype))
    return L.record(L.FillOp(op, x, value, dtype=None if dtype is None else _dtype_name(dtype)))


def zeros_like(x, dtype=None):
    return _fill_like("zeros_like", x, 0.0, dtype)


def ones_like(x, dtype=None):
    return _fill_like("ones_like", x, 1.0, dtype)


def full_like(x, fill_value, dtype=None):
    if not _is_number(fill_value):
        raise ValueError("ops.full_like: nbkeras takes a number as fill_value")
    return _fill_like("full_like", x, float(fill_value), dtype)


def zeros(shape, dtype=None):
    return np.zeros(shape, dtype=_dtype_name(dtype))


def ones(shape, dtype=None):
    return np.ones(shape, dtype=_dtype_name(dtype))


def full(shape, fill_value, dtype=None):
    return np.full(shape, fill_value, dtype=_dtype_name(dtype))


def eye(N, M=None, k=0, dtype=None):  # noqa: N803 - Keras's names
    return np.eye(N, M, k, dtype=_dtype_name(dtype))


def arange(start, stop=None, step=1, dtype=None):
    return np.arange(start, stop, step, dtype=dtype)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    return np.linspace(start, stop, num, endpoint, retstep, dtype=dtype, axis=axis)


def convert_to_tensor(x, dtype=None, sparse=None):
    """Symbolic tensors pass through; anything else becomes a NumPy array (Variables give their values)."""
    if isinstance(x, KerasTensor):
        return x if dtype is None else cast(x, dtype)
    a = np.asarray(x.value if isinstance(x, Variable) else x)
    if dtype is not None:
        return a.astype(np.dtype(dtype))
    return a.astype(backend.floatx()) if a.dtype == np.float64 and not isinstance(x, np.ndarray) else a


def convert_to_numpy(x):
    if isinstance(x, KerasTensor):
        raise ValueError("ops.convert_to_numpy: a symbolic tensor has no value")
    return np.asarray(x)


def shape(x):
    """A tensor's shape as a tuple (None for the batch axis of a symbolic tensor)."""
    return tuple(x.shape) if isinstance(x, (KerasTensor, Variable)) else np.shape(x)


def ndim(x):
    return len(shape(x))


def square_difference(x1, x2):
    return unary("square", subtract(x1, x2))


def broadcast_to(x, shape):
    """Keras's ops.broadcast_to (symbolic: x plus zeros of the per-sample shape)."""
    if not isinstance(x, KerasTensor):
        return np.broadcast_to(as_array(x), shape)
    return add(x, np.zeros(tuple(shape)[1:], backend.floatx()))
