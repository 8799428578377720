"""Layers that move values without weights: ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D, Reshape, Permute.

Spatial layers are channels_last; a 1-D layer runs the 2-D kernel on its (batch, steps, channels) input viewed as
(batch, 1, steps, channels). Amounts before the input (top/left padding or cropping) are kernel arguments; those
after it follow from the output's shape.
"""

import math

import numpy as np

from .base import Layer
from .conv_utils import check_data_format, check_spatial_input, normalize_tuple


def _int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _pairs_2d(value, name, owner):
    """Keras's 2-D padding/cropping forms -- an int, (symmetric_h, symmetric_w) or ((top, bottom), (left, right))
    -- as ((top, bottom), (left, right)) of non-negative ints."""
    if _int(value):
        pair = normalize_tuple(value, 2, name, owner, allow_zero=True)
        return (pair, pair)
    try:
        parts = tuple(value)
    except TypeError:
        parts = ()
    if len(parts) != 2:
        raise ValueError(f"{owner}: `{name}` must be an int, a tuple of 2 ints or a tuple of 2 tuples of 2 ints, "
                         f"got {value!r}")
    return tuple(normalize_tuple(p, 2, name, owner, allow_zero=True) for p in parts)


class _Spatial(Layer):
    """Common checks of the channels_last spatial layers (``rank`` 1 or 2)."""

    rank = 2

    def _check_input_shape(self, input_shape):
        check_spatial_input(input_shape, self.rank, type(self).__name__)

    def _dims(self, shape):
        """A (batch, *spatial, C) shape as the kernels' per-sample (H, W, C)."""
        return tuple(shape[1:]) if self.rank == 2 else (1,) + tuple(shape[1:])


# ------------------------------------------------------------------------------------------------ zero padding
class _ZeroPadding(_Spatial):
    def _pads(self):
        """((top, bottom), (left, right)) for the 2-D kernel."""
        return self.padding if self.rank == 2 else ((0, 0), self.padding)

    def compute_output_shape(self, input_shape):
        spatial = [n + a + b for n, (a, b) in zip(input_shape[1:-1], self._pads()[2 - self.rank:])]
        return (input_shape[0], *spatial, input_shape[-1])

    def describe_forward(self, ctx):
        (top, _), (left, _) = self._pads()
        ctx.call("shape_ops.zero_pad2d_forward", ctx.input(0, self._dims(ctx.input_shape)),
                 ctx.output(self._dims(ctx.output_shape)), ctx.const(top), ctx.const(left))

    def describe_backward(self, ctx):
        if ctx.needs_d_input(0):
            (top, _), (left, _) = self._pads()
            ctx.call("shape_ops.zero_pad2d_backward", ctx.d_output(self._dims(ctx.output_shape)),
                     ctx.d_input(0, self._dims(ctx.input_shape)), ctx.const(top), ctx.const(left))

    def get_config(self):
        config = super().get_config()
        config.update(padding=self.padding, data_format=self.data_format)
        return config


class ZeroPadding1D(_ZeroPadding):
    """Zeros before and after the steps axis: ``padding`` an int or (before, after)."""

    rank = 1

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format, "ZeroPadding1D")
        self.padding = normalize_tuple(padding, 2, "padding", "ZeroPadding1D", allow_zero=True)


class ZeroPadding2D(_ZeroPadding):
    """Zeros around the rows and columns: ``padding`` an int, (h, w) or ((top, bottom), (left, right))."""

    rank = 2

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format, "ZeroPadding2D")
        self.padding = _pairs_2d(padding, "padding", "ZeroPadding2D")


# ------------------------------------------------------------------------------------------------ cropping
class _Cropping(_Spatial):
    def _crops(self):
        return self.cropping if self.rank == 2 else ((0, 0), self.cropping)

    def _check_input_shape(self, input_shape):
        super()._check_input_shape(input_shape)
        owner = type(self).__name__
        for n, (a, b) in zip(input_shape[1:-1], self._crops()[2 - self.rank:]):
            if a + b >= n:
                raise ValueError(f"{owner}: `cropping`={self.cropping} must leave at least one position of every "
                                 f"spatial axis, got input shape {input_shape}")

    def compute_output_shape(self, input_shape):
        spatial = [n - a - b for n, (a, b) in zip(input_shape[1:-1], self._crops()[2 - self.rank:])]
        return (input_shape[0], *spatial, input_shape[-1])

    def describe_forward(self, ctx):
        (top, _), (left, _) = self._crops()
        ctx.call("shape_ops.crop2d_forward", ctx.input(0, self._dims(ctx.input_shape)),
                 ctx.output(self._dims(ctx.output_shape)), ctx.const(top), ctx.const(left))

    def describe_backward(self, ctx):
        if ctx.needs_d_input(0):
            (top, _), (left, _) = self._crops()
            ctx.call("shape_ops.crop2d_backward", ctx.d_output(self._dims(ctx.output_shape)),
                     ctx.d_input(0, self._dims(ctx.input_shape)), ctx.const(top), ctx.const(left))


class Cropping1D(_Cropping):
    """Drops ``cropping`` = (before, after) steps (an int crops both ends)."""

    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = normalize_tuple(cropping, 2, "cropping", "Cropping1D", allow_zero=True)

    def get_config(self):
        config = super().get_config()
        config["cropping"] = self.cropping
        return config


class Cropping2D(_Cropping):
    """Drops rows and columns: ``cropping`` an int, (h, w) or ((top, bottom), (left, right))."""

    rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format, "Cropping2D")
        self.cropping = _pairs_2d(cropping, "cropping", "Cropping2D")

    def get_config(self):
        config = super().get_config()
        config.update(cropping=self.cropping, data_format=self.data_format)
        return config


# ------------------------------------------------------------------------------------------------ upsampling
class _UpSampling(_Spatial):
    def _factors(self):
        return tuple(self.size) if self.rank == 2 else (1, self.size)

    def compute_output_shape(self, input_shape):
        spatial = [n * f for n, f in zip(input_shape[1:-1], self._factors()[2 - self.rank:])]
        return (input_shape[0], *spatial, input_shape[-1])

    def _kernel(self, phase):
        return f"shape_ops.upsample2d_{self.interpolation}_{phase}"

    def describe_forward(self, ctx):
        ctx.call(self._kernel("forward"), ctx.input(0, self._dims(ctx.input_shape)),
                 ctx.output(self._dims(ctx.output_shape)), *map(ctx.const, self._factors()))

    def describe_backward(self, ctx):
        if ctx.needs_d_input(0):
            ctx.call(self._kernel("backward"), ctx.d_output(self._dims(ctx.output_shape)),
                     ctx.d_input(0, self._dims(ctx.input_shape)), *map(ctx.const, self._factors()))


class UpSampling1D(_UpSampling):
    """Repeats every step ``size`` times."""

    rank = 1
    interpolation = "nearest"

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        if not _int(size) or size <= 0:
            raise ValueError(f"UpSampling1D: `size` must be a positive integer, got {size!r}")
        self.size = int(size)

    def get_config(self):
        config = super().get_config()
        config["size"] = self.size
        return config


class UpSampling2D(_UpSampling):
    """Scales rows and columns by ``size``: 'nearest' repeats pixels, 'bilinear' interpolates with half-pixel
    centres (jax.image.resize's rule, which Keras 3 uses)."""

    rank = 2

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format, "UpSampling2D")
        self.size = normalize_tuple(size, 2, "size", "UpSampling2D")
        method = interpolation.lower() if isinstance(interpolation, str) else interpolation
        if method not in ("nearest", "bilinear"):
            raise ValueError(f"UpSampling2D: `interpolation` must be 'nearest' or 'bilinear' in nbkeras, got "
                             f"{interpolation!r}")
        self.interpolation = method

    def get_config(self):
        config = super().get_config()
        config.update(size=self.size, data_format=self.data_format, interpolation=self.interpolation)
        return config


# ------------------------------------------------------------------------------------------------ reshape, permute
class Reshape(Layer):
    """Views each sample as ``target_shape`` (one entry may be -1: inferred). Free: buffers are contiguous per
    sample, so the output is the input."""

    aliases_input = True

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        try:
            shape = tuple(target_shape)
        except TypeError:
            raise ValueError(f"Reshape: `target_shape` must be a tuple of integers, got {target_shape!r}")
        if not all(_int(d) and (d > 0 or d == -1) for d in shape) or sum(d == -1 for d in shape) > 1:
            raise ValueError(f"Reshape: `target_shape` must hold positive integers and at most one -1, got "
                             f"{target_shape!r}")
        self.target_shape = tuple(int(d) for d in shape)

    def _resolved(self, input_shape):
        if any(d is None for d in input_shape[1:]):
            raise ValueError(f"Reshape: every non-batch dimension of the input must be known, got {input_shape}")
        size = math.prod(input_shape[1:])
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if size % known:
                raise ValueError(f"Reshape: cannot reshape an input of shape {input_shape} ({size} values per "
                                 f"sample) into `target_shape`={self.target_shape}")
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if known != size:
            raise ValueError(f"Reshape: `target_shape`={self.target_shape} holds {known} values, the input "
                             f"{input_shape} holds {size} per sample")
        return self.target_shape

    def _check_input_shape(self, input_shape):
        if isinstance(input_shape, list):
            raise ValueError("Reshape: expects one input")
        self._resolved(input_shape)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._resolved(input_shape)

    def get_config(self):
        config = super().get_config()
        config["target_shape"] = self.target_shape
        return config


class Permute(Layer):
    """Permutes the non-batch axes: ``dims`` is 1-based as in Keras ((2, 1) swaps the two axes of a rank-3
    input). Up to 4 non-batch axes."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        try:
            dims = tuple(dims)
        except TypeError:
            raise ValueError(f"Permute: `dims` must be a permutation of 1..n, got {dims!r}")
        if not all(_int(d) for d in dims) or sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"Permute: `dims` must be a permutation of 1..n (1-based, the batch axis excluded), "
                             f"got {dims!r}")
        if len(dims) > 4:
            raise ValueError(f"Permute: nbkeras permutes up to 4 non-batch axes, got `dims`={dims!r}")
        self.dims = tuple(int(d) for d in dims)

    def _check_input_shape(self, input_shape):
        if isinstance(input_shape, list) or len(input_shape) != len(self.dims) + 1:
            raise ValueError(f"Permute: `dims`={self.dims} needs an input of rank {len(self.dims) + 1}, got shape "
                             f"{input_shape}")
        if any(d is None for d in input_shape[1:]):
            raise ValueError(f"Permute: every non-batch dimension of the input must be known, got {input_shape}")

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def _args(self, ctx):
        """The kernels' (d0..d3, p0..p3): the per-sample shape left-padded with 1s to rank 4, 0-based perm."""
        pad = 4 - len(self.dims)
        dims = (1,) * pad + tuple(ctx.input_shape[1:])
        perm = tuple(range(pad)) + tuple(d - 1 + pad for d in self.dims)
        return [ctx.const(int(v)) for v in dims + perm]

    def describe_forward(self, ctx):
        ctx.call("shape_ops.permute_forward", ctx.input(), ctx.output(), *self._args(ctx))

    def describe_backward(self, ctx):
        if ctx.needs_d_input(0):
            ctx.call("shape_ops.permute_backward", ctx.d_output(), ctx.d_input(0), *self._args(ctx))

    def get_config(self):
        config = super().get_config()
        config["dims"] = self.dims
        return config
