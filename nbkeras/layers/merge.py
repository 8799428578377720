"""Merge layers: Concatenate and Add."""

import math

from .base import Layer


class Concatenate(Layer):
    """Concatenates a list of inputs along ``axis``; all other dimensions must match.

    With per-sample shapes flattened, concatenating along axis k is a column concatenation of
    (batch * prod(dims before k), prod(dims from k)) views, so one kernel serves every axis.
    """

    n_inputs = None

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def _axis(self, rank):
        axis = self.axis if self.axis >= 0 else rank + self.axis
        if not 1 <= axis < rank:
            raise ValueError(f"Concatenate {self.name!r}: axis {self.axis} is invalid for inputs of rank {rank}")
        return axis

    def _check_input_shape(self, input_shape):
        if not isinstance(input_shape, list) or len(input_shape) < 2:
            raise ValueError(f"Concatenate {self.name!r} needs a list of at least 2 inputs")
        rank = len(input_shape[0])
        axis = self._axis(rank)
        for s in input_shape:
            if len(s) != rank or any(a != b for i, (a, b) in enumerate(zip(s, input_shape[0]))
                                     if i not in (0, axis)):
                raise ValueError(f"Concatenate {self.name!r}: inputs must match except along axis {self.axis}, got "
                                 f"shapes {input_shape}")

    def build(self, input_shape):
        axis = self._axis(len(input_shape[0]))
        self._widths = [math.prod(s[axis:]) for s in input_shape]
        self._width = sum(self._widths)
        self.built = True

    def compute_output_shape(self, input_shape):
        axis = self._axis(len(input_shape[0]))
        out = list(input_shape[0])
        out[axis] = sum(s[axis] for s in input_shape)
        return tuple(out)

    def describe_forward(self, ctx):
        offset = 0
        for i, w in enumerate(self._widths):
            ctx.call("tensor_ops.concat_forward", ctx.input(i, (w,)), ctx.output((self._width,)), ctx.const(offset))
            offset += w

    def describe_backward(self, ctx):
        offset = 0
        for i, w in enumerate(self._widths):
            if ctx.needs_d_input(i):
                ctx.call("tensor_ops.concat_backward", ctx.d_output((self._width,)), ctx.d_input(i, (w,)),
                         ctx.const(offset))
            offset += w

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config


class Add(Layer):
    """Elementwise sum of a list of inputs of the same shape."""

    n_inputs = None

    def _check_input_shape(self, input_shape):
        if not isinstance(input_shape, list) or len(input_shape) < 2:
            raise ValueError(f"Add {self.name!r} needs a list of at least 2 inputs")
        if any(tuple(s[1:]) != tuple(input_shape[0][1:]) for s in input_shape):
            raise ValueError(f"Add {self.name!r}: inputs must have the same shape, got {input_shape}")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def describe_forward(self, ctx):
        for i in range(len(ctx.input_shapes)):
            ctx.call("tensor_ops.add_forward", ctx.input(i), ctx.output(), ctx.const(i == 0))

    def describe_backward(self, ctx):
        for i in range(len(ctx.input_shapes)):
            if ctx.needs_d_input(i):
                ctx.call("step.copy_into", ctx.d_input(i), ctx.d_output())
