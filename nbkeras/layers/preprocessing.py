"""Normalization and Rescaling: fixed affine maps of the input (kernels in ``norm_ops``).

Normalization (Keras 3) standardizes each position of the kept ``axis`` with a mean and variance that come either
from ``adapt(data)`` (non-trainable weights ``mean``, ``variance`` and ``count``, Keras's names and order) or from
the constructor (constants, no weights):

    out = (x - mean) / max(sqrt(variance), epsilon)          invert=True:  out = mean + x * max(sqrt(variance), eps)

with epsilon = backend.epsilon(). Rescaling computes ``x * scale + offset``.

A step description carries scalar constants only, so constant vectors (a given mean, a per-channel scale) are
written into fixed scratch by ``constant_vector`` at the start of the layer's forward pass.
"""

import itertools

import numpy as np

from .. import backend
from .base import Layer
from .normalization_extra import block_dims, resolve_axes


def constant_vector(ctx, tag, values):
    """A fixed-scratch view holding ``values`` (1-D), written by kernel calls in this forward pass (one ``fill``
    when all values are equal, else ``set_values`` per 8)."""
    values = np.asarray(values, np.float64).reshape(-1)
    view = ctx.scratch(tag, values.size, per_sample=False)
    if np.all(values == values[0]):
        ctx.call("step.fill", view, ctx.const(float(values[0])))
        return view
    for start in range(0, values.size, 8):
        chunk = [float(v) for v in values[start:start + 8]]
        ctx.call("norm_ops.set_values", view, ctx.const(start), ctx.const(len(chunk)),
                 *[ctx.const(v) for v in chunk + [0.0] * (8 - len(chunk))])
    return view


def _real_array(value, what, owner):
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: `{what}` must be a number or an array of numbers, got {value!r}") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{owner}: `{what}` must be finite, got {value!r}")
    return arr


class Normalization(Layer):
    """Keras 3's Normalization: per-feature standardization with adapted or given statistics.

    ``axis``: the axis or axes that keep their own statistics (int, tuple, or None for one mean and variance over
    everything); in nbkeras they must be adjacent and exclude the batch axis. ``mean`` and ``variance``: given
    statistics (broadcast to the kept axes as Keras does), or None to use ``adapt``.
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        elif isinstance(axis, (list, tuple)):
            axis = tuple(axis)
        else:
            axis = (axis,)
        if any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axis):
            raise ValueError(f"Normalization: `axis` must be an int, a tuple of ints or None, got {axis!r}")
        self.axis = tuple(int(a) for a in axis)
        if (mean is None) != (variance is None):
            raise ValueError(f"Normalization: when setting values directly, both `mean` and `variance` must be set. "
                             f"Received: mean={mean} and variance={variance}")
        if mean is not None:
            m = _real_array(mean, "mean", "Normalization")
            v = _real_array(variance, "variance", "Normalization")
            if m.shape != v.shape:
                raise ValueError(f"Normalization: `mean` and `variance` must have the same shape, got {m.shape} "
                                 f"and {v.shape}")
            if m.ndim > len(self.axis):
                raise ValueError(f"Normalization: the rank of `mean` must be at most the number of axes "
                                 f"({len(self.axis)}), got mean shape {m.shape} for axis {self.axis}")
            if np.any(v < 0):
                raise ValueError("Normalization: `variance` must be non-negative")
        self.input_mean = mean
        self.input_variance = variance
        self.invert = bool(invert)
        self.adapt_mean = self.adapt_variance = self.count = None
        self._build_input_shape = None

    # ----------------------------------------------------------------- shapes and weights
    def _keep(self, input_shape):
        """Sorted kept axes (positive), validated."""
        if not self.axis:
            return []
        rank = len(input_shape)
        if any(a < -rank or a >= rank for a in self.axis):
            raise ValueError(f"Normalization: all `axis` values must be in the range [-ndim, ndim); got input "
                             f"shape {tuple(input_shape)} and axis={self.axis}")
        return resolve_axes(list(self.axis), input_shape, "Normalization")

    def _check_input_shape(self, input_shape):
        if isinstance(input_shape, list) or len(input_shape) < 1:
            raise ValueError(f"Normalization: expected one input with a batch axis, got shape {input_shape}")
        keep = self._keep(input_shape)
        if self.built and self._build_input_shape is not None:
            for d in keep:
                if input_shape[d] != self._build_input_shape[d]:
                    raise ValueError(f"Normalization: the layer was built with input shape "
                                     f"{tuple(self._build_input_shape)}; got {tuple(input_shape)}")

    def build(self, input_shape):
        keep = self._keep(input_shape)
        self._build_input_shape = tuple(input_shape)
        self._keep_axis = keep
        self._reduce_axis = tuple(d for d in range(len(input_shape)) if d not in keep)
        self._stats_shape = tuple(input_shape[d] for d in keep)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight(name="mean", shape=self._stats_shape, initializer="zeros",
                                              trainable=False)
            self.adapt_variance = self.add_weight(name="variance", shape=self._stats_shape, initializer="ones",
                                                  trainable=False)
            # Keras keeps an integer `count` for old saved models and never updates it; here it is a float.
            self.count = self.add_weight(name="count", shape=(), initializer="zeros", trainable=False)
            # add_weight's np.ascontiguousarray turns a 0-d value into shape (1,); Keras's count (and the
            # statistics of axis=None) are scalars.
            for var, shape in ((self.adapt_mean, self._stats_shape), (self.adapt_variance, self._stats_shape),
                               (self.count, ())):
                var._value = var._value.reshape(shape)
        else:
            self._given = [self._broadcast(v) for v in (self.input_mean, self.input_variance)]
        self.built = True

    def _broadcast(self, value):
        """A given statistic as the flat vector over the kept axes: a scalar fills them; an array is aligned with
        the kept axes from the right and broadcast (Keras's rule)."""
        arr = np.asarray(value, np.float64)
        shape = self._stats_shape
        if arr.ndim:
            arr = arr.reshape((1,) * (len(shape) - arr.ndim) + arr.shape)
        try:
            return np.broadcast_to(arr, shape).reshape(-1)
        except ValueError:
            raise ValueError(f"Normalization: `mean`/`variance` of shape {np.shape(value)} do not broadcast to the "
                             f"kept axes' shape {shape}") from None

    def compute_output_shape(self, input_shape):
        return input_shape

    # ------------------------------------------------------------------------- adapt
    def adapt(self, data):
        """Compute the mean and variance over every axis but ``axis`` from ``data``: a NumPy array (one pass,
        ``np.mean``/``np.var`` as Keras does) or an iterable of batches (merged batch by batch with Keras's
        weighted update). The statistics become the ``mean`` and ``variance`` weights."""
        if self.input_mean is not None:
            raise ValueError("Normalization: adapt() cannot be used when `mean` and `variance` were given")
        batches = None
        if hasattr(data, "__array__") and not isinstance(data, (list, tuple)):
            data = np.asarray(data)
            if data.dtype.kind not in "biuf":
                raise ValueError(f"Normalization.adapt: data must be numeric, got dtype {data.dtype}")
            shape = data.shape
        elif hasattr(data, "__iter__"):
            it = iter(data)
            first = next(it, None)
            if first is None:
                raise ValueError("Normalization.adapt: received an empty iterable (no batches)")
            first = np.asarray(first[0] if isinstance(first, tuple) else first)
            shape = first.shape
            batches = itertools.chain([first], it)
        else:
            raise TypeError(f"Normalization.adapt: unsupported data type {type(data).__name__}; pass a NumPy array "
                            f"or an iterable of batches")
        if len(shape) < 1:
            raise ValueError("Normalization.adapt: data must have a batch axis")
        if not self.built:
            self._check_input_shape((None,) + tuple(shape[1:]))
            self.build((None,) + tuple(shape[1:]))
        else:
            self._check_input_shape((None,) + tuple(shape[1:]))
        reduce = self._reduce_axis
        if batches is None:
            if shape[0] == 0:
                raise ValueError("Normalization.adapt: data is empty")
            mean, var = np.mean(data, axis=reduce), np.var(data, axis=reduce)
        else:
            mean = var = np.zeros(self._stats_shape)
            total = 0
            for batch in batches:
                batch = np.asarray(batch[0] if isinstance(batch, tuple) else batch, dtype=self.dtype)
                self._check_input_shape((None,) + tuple(batch.shape[1:]))
                b_mean, b_var = np.mean(batch, axis=reduce), np.var(batch, axis=reduce)
                count = int(np.prod([batch.shape[d] for d in reduce]))
                total += count
                w = float(count) / total
                new_mean = mean * (1.0 - w) + b_mean * w
                var = (var + (mean - new_mean) ** 2) * (1.0 - w) + (b_var + (b_mean - new_mean) ** 2) * w
                mean = new_mean
        self.adapt_mean.assign(np.asarray(mean, self.adapt_mean.dtype).reshape(self._stats_shape))
        self.adapt_variance.assign(np.asarray(var, self.adapt_variance.dtype).reshape(self._stats_shape))

    # ------------------------------------------------------------------- description
    def _dims(self, ctx):
        if not self._keep_axis:
            return (1, 1)
        return block_dims(ctx.input_shape, self._keep_axis)

    def _stats(self, ctx):
        if self.input_mean is None:
            return ctx.weight(self.adapt_mean, ()), ctx.weight(self.adapt_variance, ())
        return constant_vector(ctx, "mean", self._given[0]), constant_vector(ctx, "variance", self._given[1])

    def describe_forward(self, ctx):
        dims = self._dims(ctx)
        mean, var = self._stats(ctx)
        ctx.call("norm_ops.standardize_forward", ctx.input(0, dims), mean, var, ctx.output(dims),
                 ctx.const(backend.epsilon()), ctx.const(self.invert))

    def describe_backward(self, ctx):
        if ctx.needs_d_input(0):
            dims = self._dims(ctx)
            var = (ctx.weight(self.adapt_variance, ()) if self.input_mean is None
                   else ctx.scratch("variance", len(self._given[1]), per_sample=False))
            ctx.call("norm_ops.standardize_backward", var, ctx.d_output(dims), ctx.d_input(0, dims),
                     ctx.const(backend.epsilon()), ctx.const(self.invert))

    def get_config(self):
        config = super().get_config()
        config.update(axis=self.axis, invert=self.invert,
                      mean=np.array(self.input_mean).tolist() if self.input_mean is not None else None,
                      variance=np.array(self.input_variance).tolist() if self.input_variance is not None else None)
        return config


class Rescaling(Layer):
    """Keras 3's Rescaling: out = x * scale + offset. ``scale`` and ``offset`` are numbers, or arrays that vary
    along the last axis only (a per-channel scale such as (3,) or (1, 1, 3))."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self._scale = _real_array(scale, "scale", "Rescaling")
        self._offset = _real_array(offset, "offset", "Rescaling")
        for name, arr in (("scale", self._scale), ("offset", self._offset)):
            if arr.size > 1 and any(d != 1 for d in arr.shape[:-1]):
                raise ValueError(f"Rescaling: `{name}` of shape {arr.shape} must be a number or vary along the last "
                                 f"axis only")
        self.scale = scale
        self.offset = offset

    def _channels(self, input_shape):
        return input_shape[-1] if len(input_shape) >= 2 else 1

    def _check_input_shape(self, input_shape):
        if isinstance(input_shape, list) or len(input_shape) < 1:
            raise ValueError(f"Rescaling: expected one input with a batch axis, got shape {input_shape}")
        c = self._channels(input_shape)
        for name, arr in (("scale", self._scale), ("offset", self._offset)):
            if arr.size > 1 and (arr.shape[-1] != c or arr.ndim > len(input_shape) - 1):
                raise ValueError(f"Rescaling: `{name}` of shape {arr.shape} does not match input shape "
                                 f"{tuple(input_shape)} (it must have the last axis's size {c})")

    def compute_output_shape(self, input_shape):
        return input_shape

    def _vectors(self, ctx):
        return (constant_vector(ctx, "scale", self._scale.reshape(-1)),
                constant_vector(ctx, "offset", self._offset.reshape(-1)))

    def describe_forward(self, ctx):
        c = self._channels(ctx.input_shape)
        scale, offset = self._vectors(ctx)
        ctx.call("norm_ops.affine_forward", ctx.input(0, (c,)), scale, offset, ctx.output((c,)))

    def describe_backward(self, ctx):
        if ctx.needs_d_input(0):
            c = self._channels(ctx.input_shape)
            scale = ctx.scratch("scale", self._scale.size, per_sample=False)
            ctx.call("norm_ops.affine_backward", scale, ctx.d_output((c,)), ctx.d_input(0, (c,)))

    def get_config(self):
        def plain(v):
            return np.asarray(v).tolist() if isinstance(v, np.ndarray) else v

        config = super().get_config()
        config.update(scale=plain(self.scale), offset=plain(self.offset))
        return config
