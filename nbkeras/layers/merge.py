"""Merge layers: Concatenate and Add."""

import math

import numpy as np

from .. import backend
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

    def forward(self, inputs, training, rng):
        k = backend.kernels().tensor_ops
        batch = inputs[0].shape[0]
        out = np.empty((batch, sum(a.shape[1] for a in inputs)), inputs[0].dtype)
        view = out.reshape(-1, self._width)
        offset = 0
        for a, w in zip(inputs, self._widths):
            k.concat_forward(a.reshape(-1, w), view, offset)
            offset += w
        return out, None

    def backward(self, inputs, output, cache, d_output, need_d_inputs):
        k = backend.kernels().tensor_ops
        view = d_output.reshape(-1, self._width)
        grads, offset = [], 0
        for a, w, need in zip(inputs, self._widths, need_d_inputs):
            if need:
                dx = np.empty_like(a)
                k.concat_backward(view, dx.reshape(-1, w), offset)
                grads.append(dx)
            else:
                grads.append(None)
            offset += w
        return grads

    def emit_forward(self, g, ins, out, training):
        lines, offset = [], 0
        for buf, w in zip(ins, self._widths):
            lines.append(f"tensor_ops.concat_forward({g.as2d(buf, w)}, {g.as2d(out, self._width)}, "
                         f"{g.const(offset)})")
            offset += w
        return lines

    def emit_backward(self, g, ins, out, d_out, d_ins, accumulate):
        lines, offset = [], 0
        for d_in, w in zip(d_ins, self._widths):
            if d_in:
                lines.append(f"tensor_ops.concat_backward({g.as2d(d_out, self._width)}, {g.as2d(d_in, w)}, "
                             f"{g.const(offset)})")
            offset += w
        return lines

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

    def forward(self, inputs, training, rng):
        k = backend.kernels().tensor_ops
        out = np.empty_like(inputs[0])
        for i, a in enumerate(inputs):
            k.add_forward(a.reshape(-1), out.reshape(-1), i == 0)
        return out, None

    def backward(self, inputs, output, cache, d_output, need_d_inputs):
        return [d_output.copy() if need else None for need in need_d_inputs]

    def emit_forward(self, g, ins, out, training):
        return [f"tensor_ops.add_forward({g.as1d(buf)}, {g.as1d(out)}, {g.flag(i == 0)})" for i, buf in
                enumerate(ins)]

    def emit_backward(self, g, ins, out, d_out, d_ins, accumulate):
        return [f"tensor_ops.copy_into({g.as1d(d_in)}, {g.as1d(d_out)})" for d_in in d_ins if d_in]
