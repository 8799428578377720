"""LayerNormalization and UnitNormalization: per-sample normalizations (kernels in ``norm_ops``).

LayerNormalization (Keras 3): each sample's values over ``axis`` (the last axis, or several trailing axes) are
standardized with their own mean and biased variance, epsilon inside the square root, then scaled by gamma and
shifted by beta (weights of the normalized axes' shape, in that order). UnitNormalization scales each slice along
``axis`` to unit L2 norm (``x * min(1 / ||x||, 1e12)``).
"""

import math
import warnings

from .. import constraints, initializers, regularizers
from .base import Layer


def _serialize(module, obj):
    return None if obj is None else module.serialize(obj)


def _axis_arg(axis, owner):
    """Keras's axis argument: an int, or a list/tuple of ints (kept as a list)."""
    if isinstance(axis, (list, tuple)):
        if not axis or any(isinstance(a, bool) or not isinstance(a, int) for a in axis):
            raise TypeError(f"{owner}: `axis` must be an int or a non-empty list/tuple of ints, got {axis!r}")
        return list(axis)
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise TypeError(f"{owner}: `axis` must be an int or a list/tuple of ints, got {axis!r}")
    return axis


def resolve_axes(axis, input_shape, owner):
    """The sorted positive axes of ``axis`` for ``input_shape`` (batch first); ValueError when one is out of range,
    repeated, the batch axis, or of unknown size."""
    rank = len(input_shape)
    axes = axis if isinstance(axis, list) else [axis]
    if any(a >= rank or a < -rank for a in axes):
        raise ValueError(f"{owner}: `axis`={axis} is out of bounds for input shape {tuple(input_shape)}")
    resolved = sorted(a % rank for a in axes)
    if len(set(resolved)) != len(resolved):
        raise ValueError(f"{owner}: `axis`={axis} repeats an axis")
    if 0 in resolved:
        raise ValueError(f"{owner}: `axis`={axis} includes the batch axis 0")
    if any(input_shape[a] is None for a in resolved):
        raise ValueError(f"{owner}: the size of every axis in `axis`={axis} must be known, got input shape "
                         f"{tuple(input_shape)}")
    if resolved != list(range(resolved[0], resolved[-1] + 1)):
        raise ValueError(f"{owner}: `axis`={axis} must name adjacent axes (nbkeras normalizes one block of axes)")
    return resolved


def block_dims(input_shape, axes):
    """(K, C): the view (leading, K, C) of a tensor that puts the adjacent ``axes`` in the middle, K their size
    product and C the product of the axes after them (leading = batch * the axes before)."""
    k = math.prod(input_shape[a] for a in axes)
    c = math.prod(input_shape[axes[-1] + 1:])
    return k, c


class LayerNormalization(Layer):
    """Keras 3's LayerNormalization over the last axis or a block of trailing axes.

    Weights, in Keras's order: gamma (``scale=True``, or ``rms_scaling=True``) and beta (``center=True`` without
    rms_scaling), each of the normalized axes' shape. ``rms_scaling=True`` is Keras's deprecated mode:
    x * gamma / sqrt(var + epsilon), not centred, no beta.
    """

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, rms_scaling=False, **kwargs):
        super().__init__(**kwargs)
        self.axis = _axis_arg(axis, "LayerNormalization")
        self.epsilon = float(epsilon)
        if not self.epsilon > 0.0:
            raise ValueError(f"LayerNormalization: `epsilon` must be positive, got {epsilon!r}")
        self.center = bool(center)
        self.scale = bool(scale)
        self.rms_scaling = bool(rms_scaling)
        if self.rms_scaling:
            warnings.warn("LayerNormalization: `rms_scaling=True` is deprecated in Keras 3: it scales the input by "
                          "its inverse standard deviation (not by the root mean square) and does not centre it")
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.gamma = self.beta = None

    def _axes(self, input_shape):
        axes = resolve_axes(self.axis, input_shape, "LayerNormalization")
        if axes[-1] != len(input_shape) - 1:
            raise ValueError(f"LayerNormalization: `axis`={self.axis} must be the last axis or a block of trailing "
                             f"axes in nbkeras, got input shape {tuple(input_shape)}")
        return axes

    def _check_input_shape(self, input_shape):
        if isinstance(input_shape, list) or len(input_shape) < 2:
            raise ValueError(f"LayerNormalization: expected one input of rank >= 2, got shape {input_shape}")
        axes = self._axes(input_shape)
        if self.built:
            shape = tuple(input_shape[a] for a in axes)
            weight = self.gamma if self.gamma is not None else self.beta
            if weight is not None and tuple(weight.shape) != shape:
                raise ValueError(f"LayerNormalization: built for normalized shape {tuple(weight.shape)}, got input "
                                 f"shape {tuple(input_shape)}")

    def build(self, input_shape):
        axes = self._axes(input_shape)
        # Keras keeps ``axis`` as the sorted list it was given (negative values stay negative).
        self.axis = sorted(self.axis) if isinstance(self.axis, list) else [self.axis]
        shape = tuple(input_shape[a] for a in axes)
        self._width = math.prod(shape)
        if self.scale or self.rms_scaling:
            self.gamma = self.add_weight(name="gamma", shape=shape, initializer=self.gamma_initializer,
                                         regularizer=self.gamma_regularizer, constraint=self.gamma_constraint)
        if self.center and not self.rms_scaling:
            self.beta = self.add_weight(name="beta", shape=shape, initializer=self.beta_initializer,
                                        regularizer=self.beta_regularizer, constraint=self.beta_constraint)
        self.built = True

    def describe_forward(self, ctx):
        d = self._width
        gamma = ctx.weight(self.gamma, ()) if self.gamma is not None else ctx.empty(1)
        beta = ctx.weight(self.beta, ()) if self.beta is not None else ctx.empty(1)
        ctx.call("norm_ops.layer_norm_forward", ctx.input(0, (d,)), gamma, beta, ctx.output((d,)),
                 ctx.const(self.epsilon), ctx.const(self.rms_scaling))

    def describe_backward(self, ctx):
        d = self._width
        gamma = ctx.weight(self.gamma, ()) if self.gamma is not None else ctx.empty(1)
        dgamma = ctx.grad_or_empty(self.gamma, ()) if self.gamma is not None else ctx.empty(1)
        dbeta = ctx.grad_or_empty(self.beta, ()) if self.beta is not None else ctx.empty(1)
        ctx.call("norm_ops.layer_norm_backward", ctx.input(0, (d,)), gamma, ctx.d_output((d,)), ctx.d_input(0, (d,)),
                 dgamma, dbeta, ctx.const(self.epsilon), ctx.const(self.rms_scaling), ctx.accumulate)

    def get_config(self):
        config = super().get_config()
        config.update(
            axis=self.axis, epsilon=self.epsilon, center=self.center, scale=self.scale,
            rms_scaling=self.rms_scaling,
            beta_initializer=initializers.serialize(self.beta_initializer),
            gamma_initializer=initializers.serialize(self.gamma_initializer),
            beta_regularizer=_serialize(regularizers, self.beta_regularizer),
            gamma_regularizer=_serialize(regularizers, self.gamma_regularizer),
            beta_constraint=_serialize(constraints, self.beta_constraint),
            gamma_constraint=_serialize(constraints, self.gamma_constraint))
        return config


class UnitNormalization(Layer):
    """Keras 3's UnitNormalization: x * min(1 / ||x||_2, 1e12) along ``axis`` (one axis or adjacent axes)."""

    #: Keras's ``ops.normalize(..., epsilon=1e-12)``: the inverse norm is capped at 1 / epsilon.
    epsilon = 1e-12

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = _axis_arg(axis, "UnitNormalization")

    def _check_input_shape(self, input_shape):
        if isinstance(input_shape, list) or len(input_shape) < 2:
            raise ValueError(f"UnitNormalization: expected one input of rank >= 2, got shape {input_shape}")
        resolve_axes(self.axis, input_shape, "UnitNormalization")

    def _dims(self, ctx):
        return block_dims(ctx.input_shape, resolve_axes(self.axis, ctx.input_shape, "UnitNormalization"))

    def describe_forward(self, ctx):
        dims = self._dims(ctx)
        ctx.call("norm_ops.unit_norm_forward", ctx.input(0, dims), ctx.output(dims), ctx.const(self.epsilon))

    def describe_backward(self, ctx):
        if ctx.needs_d_input(0):
            dims = self._dims(ctx)
            ctx.call("norm_ops.unit_norm_backward", ctx.input(0, dims), ctx.d_output(dims), ctx.d_input(0, dims),
                     ctx.const(self.epsilon))

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config
