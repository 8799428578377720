"""Max and average pooling over windows, and global pooling (channels_last).

A 1-D layer is the 2-D one with H = 1: its (batch, steps, channels) input is viewed as (batch, 1, steps, channels)
and its pool, stride and padding along H are 1, 1 and 0. Output lengths and padding follow Keras 3
(``conv_utils.conv_length`` with dilation 1):

    valid: out = floor((n - pool) / stride) + 1
    same:  out = ceil(n / stride), total pad = max((out - 1) * stride + pool - n, 0), front pad = total // 2

Max pooling pads with -inf (a padded position never wins); average pooling divides each window by its number of
unpadded positions, as Keras 3 does (see kernels/cpu/pooling.py). Max pooling keeps the index of each maximum from
forward to backward in a per-sample float scratch buffer of the output's size.
"""

import math

from .base import Layer
from .conv_utils import as_2d, check_data_format, check_spatial_input, conv_length, normalize_padding, \
    normalize_tuple

#: float32 holds every integer up to 2**24 exactly: the largest per-image index space of a float32 argmax.
_FLOAT32_EXACT = 2**24


class _Pooling(Layer):
    """Max or average pooling over ``rank``-D windows (rank 1 or 2)."""

    rank = 2
    mode = "max"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        owner = type(self).__name__
        self.pool_size = normalize_tuple(pool_size, self.rank, "pool_size", owner)
        self.strides = normalize_tuple(self.pool_size if strides is None else strides, self.rank, "strides", owner)
        self.padding = normalize_padding(padding, owner)
        self.data_format = check_data_format(data_format, owner)

    def _geometry(self, input_shape):
        """(in (H, W), out (OH, OW), pool, strides, front pads), all as 2-D pairs."""
        spatial = tuple(input_shape[1:-1])
        outs, pads = [], []
        for n, k, s in zip(spatial, self.pool_size, self.strides):
            out, front = conv_length(n, k, s, 1, self.padding)
            outs.append(out)
            pads.append(front)
        return (as_2d(spatial, 1), as_2d(outs, 1), as_2d(self.pool_size, 1), as_2d(self.strides, 1),
                as_2d(pads, 0))

    def _check_input_shape(self, input_shape):
        owner = type(self).__name__
        check_spatial_input(input_shape, self.rank, owner)
        spatial = tuple(input_shape[1:-1])
        _, outs, _, _, _ = self._geometry(input_shape)
        if min(outs) <= 0:
            raise ValueError(f"{owner}: `pool_size`={self.pool_size} is larger than the input's spatial shape "
                             f"{spatial} with padding 'valid'")
        if self.mode == "max" and math.prod(spatial) > _FLOAT32_EXACT:
            raise ValueError(f"{owner}: inputs of more than 2**24 positions per channel (spatial shape {spatial}) "
                             f"are not supported: the argmax indices are kept in float32 scratch")

    def compute_output_shape(self, input_shape):
        _, outs, _, _, _ = self._geometry(input_shape)
        return (input_shape[0],) + tuple(outs[2 - self.rank:]) + (input_shape[-1],)

    def _views(self, ctx, x_of, y_of):
        (h, w), (oh, ow), _, _, _ = self._geometry(ctx.input_shape)
        c = ctx.input_shape[-1]
        return x_of((h, w, c)), y_of((oh, ow, c))

    def _args(self, ctx):
        _, _, pool, strides, pads = self._geometry(ctx.input_shape)
        return [ctx.const(v) for v in pool + strides + pads]

    def describe_forward(self, ctx):
        x, y = self._views(ctx, lambda d: ctx.input(0, d), ctx.output)
        if self.mode == "max":
            argmax = ctx.scratch("argmax", y.buf.width, y.dims)
            ctx.call("pooling.max_pool2d_forward", x, y, argmax, *self._args(ctx))
        else:
            ctx.call("pooling.avg_pool2d_forward", x, y, *self._args(ctx))

    def describe_backward(self, ctx):
        if not ctx.needs_d_input(0):
            return
        dx, dy = self._views(ctx, lambda d: ctx.d_input(0, d), ctx.d_output)
        if self.mode == "max":
            argmax = ctx.scratch("argmax", dy.buf.width, dy.dims)
            ctx.call("pooling.max_pool2d_backward", argmax, dy, dx)
        else:
            ctx.call("pooling.avg_pool2d_backward", dy, dx, *self._args(ctx))

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=self.pool_size, padding=self.padding, strides=self.strides,
                      data_format=self.data_format)
        return config


class MaxPooling1D(_Pooling):
    """Max over windows of ``pool_size`` steps moved by ``strides`` (default: pool_size)."""

    rank, mode = 1, "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class MaxPooling2D(_Pooling):
    """Max over pool_size[0] x pool_size[1] windows moved by ``strides`` (default: pool_size)."""

    rank, mode = 2, "max"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class AveragePooling1D(_Pooling):
    """Mean over windows of ``pool_size`` steps (padded positions excluded from the count, as Keras 3)."""

    rank, mode = 1, "average"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class AveragePooling2D(_Pooling):
    """Mean over pool_size[0] x pool_size[1] windows (padded positions excluded from the count, as Keras 3)."""

    rank, mode = 2, "average"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class _GlobalPooling(Layer):
    """Mean or max over every spatial position, per channel; ``keepdims`` keeps the spatial axes as 1s."""

    rank = 2
    mode = "max"

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format, type(self).__name__)
        self.keepdims = bool(keepdims)

    def _check_input_shape(self, input_shape):
        owner = type(self).__name__
        check_spatial_input(input_shape, self.rank, owner)
        if self.mode == "max" and math.prod(input_shape[1:-1]) > _FLOAT32_EXACT:
            raise ValueError(f"{owner}: inputs of more than 2**24 positions per channel are not supported: the "
                             f"argmax indices are kept in float32 scratch")

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            return (input_shape[0],) + (1,) * self.rank + (input_shape[-1],)
        return (input_shape[0], input_shape[-1])

    def _dims(self, ctx):
        shape = ctx.input_shape
        return (math.prod(shape[1:-1]), shape[-1]), (shape[-1],)

    def describe_forward(self, ctx):
        x_dims, y_dims = self._dims(ctx)
        x, y = ctx.input(0, x_dims), ctx.output(y_dims)
        if self.mode == "max":
            ctx.call("pooling.global_max_pool_forward", x, y, ctx.scratch("argmax", y_dims[0], y_dims))
        else:
            ctx.call("pooling.global_avg_pool_forward", x, y)

    def describe_backward(self, ctx):
        if not ctx.needs_d_input(0):
            return
        x_dims, y_dims = self._dims(ctx)
        dx, dy = ctx.d_input(0, x_dims), ctx.d_output(y_dims)
        if self.mode == "max":
            ctx.call("pooling.global_max_pool_backward", ctx.scratch("argmax", y_dims[0], y_dims), dy, dx)
        else:
            ctx.call("pooling.global_avg_pool_backward", dy, dx)

    def get_config(self):
        config = super().get_config()
        config.update(data_format=self.data_format, keepdims=self.keepdims)
        return config


class GlobalAveragePooling1D(_GlobalPooling):
    rank, mode = 1, "average"


class GlobalAveragePooling2D(_GlobalPooling):
    rank, mode = 2, "average"


class GlobalMaxPooling1D(_GlobalPooling):
    rank, mode = 1, "max"


class GlobalMaxPooling2D(_GlobalPooling):
    rank, mode = 2, "max"


# Keras 2's short names, which Keras 3 still exports.
MaxPool1D = MaxPooling1D
MaxPool2D = MaxPooling2D
AvgPool1D = AveragePooling1D
AvgPool2D = AveragePooling2D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool1D = GlobalMaxPooling1D
GlobalMaxPool2D = GlobalMaxPooling2D
