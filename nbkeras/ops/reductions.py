"""Reductions with Keras's ``axis`` / ``keepdims``, and top_k. Symbolic reductions run over per-sample axes only:
the batch axis (axis=None or 0) raises."""

import math

import numpy as np

from ..kernels.cpu import reduce as R
from ..layers.base import KerasTensor
from . import op_layers as L
from . import shapes as S
from .elementwise import as_array
from .table import NO_GRADIENT
from .table import op as table_op


def _axis_arg(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def reduce(name, x, axis=None, keepdims=False, code=None):
    entry = table_op(name)
    if not isinstance(x, KerasTensor):
        return _eager(name, as_array(x), _axis_arg(axis), keepdims)
    batch_wide = _batch_wide(name, axis, x, keepdims)
    if batch_wide is not None:
        return batch_wide
    axes = S.sample_axes(name, axis, len(x.shape))
    if name in ("argmax", "argmin") and len(axes) != 1:
        raise ValueError(f"ops.{name}: axis must be a single axis, got {axis!r}")
    nograd = entry.grad == NO_GRADIENT
    dtype = "int32" if name in ("argmax", "argmin") else ("bool" if name in ("any", "all") else None)
    return L.record(L.ReduceOp(name, x, axes, keepdims, entry.code if code is None else code,
                               differentiable=not nograd, dtype=dtype))


def _batch_wide(name, axis, x, keepdims):
    """A loss or metric function's final ``ops.mean(x)`` / ``ops.sum(x)`` over everything, batch included: the
    per-sample reduction, marked so the step reduces over the batch itself (mean: Keras's default reduction; sum:
    summed over the batch). Anywhere else a batch-axis reduction raises (see ``shapes.sample_axes``)."""
    from ..layers.traced_function import in_loss_trace, in_metric_update

    if keepdims or name not in ("mean", "sum") or not in_loss_trace():
        return None
    if axis is None:
        per_sample = list(range(1, len(x.shape)))
    elif in_metric_update() and axis in (0, (0,), [0]):  # a metric variable's per-column counts
        per_sample = []
    else:
        return None
    out = x if not per_sample else reduce(name, x, axis=per_sample)
    if out is x:
        from .elementwise import multiply

        out = multiply(x, 1.0)  # a fresh tensor to carry the mark
    out._batch_reduced = name
    return out


def _eager(name, a, axis, keepdims):
    if a.dtype.kind not in "fc" and name in ("mean", "var", "std", "logsumexp"):
        from .. import backend

        a = a.astype(backend.floatx())
    if name == "logsumexp":
        m = np.max(a, axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
        return out if keepdims else np.squeeze(out, axis=axis) if axis is not None else out.reshape(())
    if name in ("argmax", "argmin"):
        out = table_op(name).numpy(a, axis=axis, keepdims=keepdims)
        return np.asarray(out, np.int32)
    return table_op(name).numpy(a, axis=axis, keepdims=keepdims)


def _make(name):
    def fn(x, axis=None, keepdims=False):
        return reduce(name, x, axis, keepdims)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Keras's ops.{name}(x, axis=None, keepdims=False) (gradient rule: {table_op(name).grad})."
    return fn


REDUCE_NAMES = ("sum", "mean", "prod", "var", "std", "logsumexp", "argmax", "argmin", "any", "all")
REDUCE = {name: _make(name) for name in REDUCE_NAMES}
sum, mean, var = REDUCE["sum"], REDUCE["mean"], REDUCE["var"]  # noqa: A001 - Keras's names


def max(x, axis=None, keepdims=False, initial=None):  # noqa: A001 - Keras's name
    if initial is not None:
        from .elementwise import maximum

        return maximum(max(x, axis, keepdims), initial)
    return reduce("max", x, axis, keepdims)


def min(x, axis=None, keepdims=False, initial=None):  # noqa: A001 - Keras's name
    if initial is not None:
        from .elementwise import minimum

        return minimum(min(x, axis, keepdims), initial)
    return reduce("min", x, axis, keepdims)


amax, amin = max, min


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 - Keras's name
    """Keras's ops.norm: a vector norm over one axis (ord None/2, 1, inf) or the Frobenius norm over two axes
    (ord None/'fro'). Other matrix norms need an SVD and raise in a symbolic call."""
    if not isinstance(x, KerasTensor):
        a = as_array(x)
        if a.dtype.kind not in "fc":
            a = a.astype("float32")
        return np.linalg.norm(a, ord=ord, axis=_axis_arg(axis), keepdims=keepdims)
    axes = S.sample_axes("norm", axis, len(x.shape))
    if len(axes) == 1 and (ord is None or ord == 2):
        code = R.NORM2
    elif len(axes) == 1 and ord == 1:
        code = R.NORM1
    elif len(axes) == 1 and ord in (np.inf, math.inf, "inf"):
        code = R.NORMINF
    elif len(axes) == 2 and ord in (None, "fro"):
        code = R.NORM2
    else:
        raise ValueError(f"ops.norm: ord={ord!r} over axes {axis!r} is not supported in nbkeras's compiled graphs "
                         f"(vector norms None/1/2/inf, Frobenius over two axes)")
    return reduce("norm", x, axis, keepdims, code=code)


def top_k(x, k, sorted=True):  # noqa: A002 - Keras's name
    """Keras's ops.top_k: (values, indices) of the k largest entries along the last axis, largest first (ties:
    lower index first). A training step needing a gradient through it raises."""
    if not isinstance(x, KerasTensor):
        a = as_array(x)
        idx = np.argsort(-a, axis=-1, kind="stable")[..., :k]
        return np.take_along_axis(a, idx, axis=-1), idx.astype(np.int32)
    values, indices = L.record(L.TopKOp(x, int(k)))
    indices.dtype = "int32"
    return values, indices
