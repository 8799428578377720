"""Keras's mask flow for sequences: ``Masking``, the hidden mask-computing node, and the helpers that attach,
copy and read ``_keras_mask``.

A mask is a tensor of its own here: ``Embedding(mask_zero=True)`` and ``Masking`` attach to their symbolic output
an attribute ``_keras_mask``, a (None, T) KerasTensor of 1/0 per step produced by a hidden ``_ComputeMask`` node
(non-differentiable: ``differentiable = False``). Layers that pass a mask through unchanged copy the attribute; the
recurrent layers take it as an extra node input that gets no gradient. Only nodes that some output depends on run,
so an unused mask costs nothing.
"""

import numpy as np

from .. import backend
from .base import KerasTensor, Layer, Node


class _ComputeMask(Layer):
    """mask[..., t] = 1 where the step is kept: ``any(x != value, axis=-1)`` over the last axis (``over_last``),
    or ``x != value`` elementwise (Embedding's ids). Hidden: created by Embedding and Masking, never by users."""

    differentiable = False
    _hidden = True

    def __init__(self, value, over_last, **kwargs):
        super().__init__(**kwargs)
        self.value = float(value)
        self.over_last = bool(over_last)
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) if self.over_last else tuple(input_shape)

    def gradient_inputs(self, count):
        return [False] * count

    def describe_forward(self, ctx):
        features = ctx.input_shape[-1] if self.over_last else 1
        ctx.call("recurrent.sequence_mask", ctx.input(0, (features,)), ctx.const(self.value), ctx.output())

    def describe_backward(self, ctx):
        """A mask carries no gradient."""

    def get_config(self):
        config = super().get_config()
        config.update(value=self.value, over_last=self.over_last)
        return config


def attach_mask(output, source, value, over_last, owner):
    """Give ``output`` a ``_keras_mask`` computed from ``source`` by a hidden node (symbolic tensors only)."""
    if not isinstance(output, KerasTensor) or not isinstance(source, KerasTensor):
        return output
    layer = _ComputeMask(value, over_last, name=backend.unique_name(f"{owner.name}_compute_mask"))
    shape = layer.compute_output_shape(source.shape)
    mask = KerasTensor(shape, layer.dtype, name=layer.name, history=(layer, 0, 0))
    mask._is_mask = True
    layer._inbound_nodes.append(Node(layer, [source], [mask]))
    output._keras_mask = mask
    return output


def copy_mask(source, output):
    """Keras's pass-through: ``output`` carries the mask of ``source`` (if any)."""
    mask = getattr(source, "_keras_mask", None)
    if mask is not None and isinstance(output, KerasTensor):
        output._keras_mask = mask
    return output


def get_mask(tensor):
    return getattr(tensor, "_keras_mask", None)


class Masking(Layer):
    """Masks time steps whose features all equal ``mask_value``: the output is the input with those steps zeroed
    (Keras multiplies by the mask), and downstream recurrent layers skip them (``_keras_mask``)."""

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, (int, float, np.integer, np.floating)):
            raise ValueError(f"Masking: `mask_value` must be a number, got {mask_value!r}")
        self.mask_value = float(mask_value)
        self.supports_masking = True

    def _check_input_shape(self, input_shape):
        if isinstance(input_shape, list) or len(input_shape) < 2 or any(d is None for d in input_shape[1:]):
            raise ValueError(f"Masking {self.name!r}: expected an input (batch, ..., features) with known sizes, "
                             f"got shape {input_shape}")

    def __call__(self, inputs, training=None, **kwargs):
        out = super().__call__(inputs, training=training, **kwargs)
        if isinstance(inputs, KerasTensor):
            attach_mask(out, inputs, self.mask_value, True, self)
        return out

    def compute_mask(self, inputs, mask=None):
        """The boolean mask of an array input: ``any(inputs != mask_value, axis=-1)``."""
        return np.any(np.asarray(inputs) != self.mask_value, axis=-1)

    def describe_forward(self, ctx):
        f = ctx.input_shape[-1]
        ctx.call("recurrent.masking_forward", ctx.input(0, (f,)), ctx.const(self.mask_value), ctx.output((f,)))

    def describe_backward(self, ctx):
        if ctx.needs_d_input(0):
            f = ctx.input_shape[-1]
            ctx.call("recurrent.masking_backward", ctx.input(0, (f,)), ctx.const(self.mask_value),
                     ctx.d_output((f,)), ctx.d_input(0, (f,)))

    def get_config(self):
        config = super().get_config()
        config["mask_value"] = self.mask_value
        return config
