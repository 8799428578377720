"""Dense, Activation, Dropout and Flatten."""

import math

import numpy as np

from .. import activations as activations_module
from .base import Layer, activation_backward, activation_forward

_UNSUPPORTED = ("kernel_regularizer", "bias_regularizer", "kernel_constraint", "bias_constraint", "lora_rank")


def _positive_int(value, what, owner):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{owner}: {what} must be a positive integer, got {value!r}")
    return int(value)


class Dense(Layer):
    """y = activation(x . kernel + bias), contracting the last axis of x (any rank >= 2), as Keras's Dense.

    Weights: kernel (in, units), bias (units,), in Keras's order and layout.
    """

    supports_masking = True

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, lora_rank=None, **kwargs):
        if lora_rank is not None:
            raise ValueError(f"Dense: lora_rank is not supported by nbkeras yet (got {lora_rank!r})")
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        from .. import constraints, regularizers

        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.units = _positive_int(units, "units", "Dense")
        self.activation = activations_module.get(activation)
        if self.activation.name == "glu":
            raise ValueError("Dense: activation='glu' halves the output width; use an Activation('glu') layer after "
                             "Dense")
        self.use_bias = bool(use_bias)
        from .. import initializers

        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def _check_input_shape(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"Dense {self.name!r}: input must have rank >= 2 (batch, ..., features), got shape "
                             f"{input_shape}")
        if input_shape[-1] is None:
            raise ValueError(f"Dense {self.name!r}: the last dimension of the input must be known, got {input_shape}")
        if self.built and input_shape[-1] != self.kernel.shape[0]:
            raise ValueError(f"Dense {self.name!r}: expected input with last dimension {self.kernel.shape[0]}, got "
                             f"shape {input_shape}")

    def build(self, input_shape):
        in_dim = input_shape[-1]
        self.kernel = self.add_weight(shape=(in_dim, self.units), initializer=self.kernel_initializer, name="kernel",
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.bias = self.add_weight(shape=(self.units,), initializer=self.bias_initializer, name="bias",
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def _out_shape(self, rows):
        return (None, rows, self.units)

    # ------------------------------------------------------------ description
    def describe_forward(self, ctx):
        x = ctx.input(0, (self.kernel.shape[0],))
        bias = ctx.weight(self.bias) if self.use_bias else ctx.empty(1)
        y = ctx.output((self.units,))
        if self.activation.is_linear:
            ctx.call("dense.dense_forward", x, ctx.weight(self.kernel), bias, y)
            return
        z = ctx.scratch("z", y.buf.width, (self.units,))
        ctx.call("dense.dense_forward", x, ctx.weight(self.kernel), bias, z)
        activation_forward(ctx, self.activation, z, y, ctx.output_shape)

    def describe_backward(self, ctx):
        dy = ctx.d_output((self.units,))
        if not self.activation.is_linear:
            z = ctx.scratch("z", dy.buf.width, (self.units,))
            activation_backward(ctx, self.activation, z, ctx.output(), dy, dy, ctx.output_shape)
        x = ctx.input(0, (self.kernel.shape[0],))
        dx = ctx.d_input(0, (self.kernel.shape[0],))
        if ctx.trainable(self.kernel):
            dbias = ctx.grad_or_empty(self.bias) if self.use_bias else ctx.empty(1)
            ctx.call("dense.dense_backward", x, ctx.weight(self.kernel), dy, dx, ctx.grad(self.kernel), dbias,
                     ctx.accumulate)
        elif ctx.needs_d_input(0):
            ctx.call("gemm.gemm", ctx.const(False), ctx.const(True), ctx.const(1.0), dy, ctx.weight(self.kernel),
                     ctx.const(0.0), dx)

    def get_config(self):
        from .. import initializers

        config = super().get_config()
        from .. import constraints, regularizers

        def ser(module, value):
            return None if value is None else module.serialize(value)

        config.update(units=self.units, activation=self.activation.get_config(), use_bias=self.use_bias,
                      kernel_initializer=initializers.serialize(self.kernel_initializer),
                      bias_initializer=initializers.serialize(self.bias_initializer),
                      kernel_regularizer=ser(regularizers, self.kernel_regularizer),
                      bias_regularizer=ser(regularizers, self.bias_regularizer),
                      kernel_constraint=ser(constraints, self.kernel_constraint),
                      bias_constraint=ser(constraints, self.bias_constraint))
        return config


class Activation(Layer):
    """Applies an activation function to its input."""

    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations_module.get(activation)

    def build(self, input_shape):
        if self.activation.kind == "axis":
            self.activation.axis_sizes(input_shape)  # validates the axis against the rank
        self._shape = tuple(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        return self.activation.output_shape(tuple(input_shape))

    def describe_forward(self, ctx):
        activation_forward(ctx, self.activation, ctx.input(), ctx.output(), self._shape)

    def describe_backward(self, ctx):
        if ctx.needs_d_input(0):
            activation_backward(ctx, self.activation, ctx.input(), ctx.output(), ctx.d_output(), ctx.d_input(0),
                                self._shape)

    def get_config(self):
        config = super().get_config()
        config["activation"] = self.activation.get_config()
        return config


class Dropout(Layer):
    """Inverted dropout at training time (kept units scaled by 1 / (1 - rate)); the identity at inference."""

    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating)) or not 0.0 <= rate <= 1.0:
            raise ValueError(f"Dropout: rate must be a float in [0, 1], got {rate!r}")
        if noise_shape is not None:
            raise ValueError("Dropout: noise_shape is not supported by nbkeras yet")
        self.rate = float(rate)
        self.seed = seed

    @property
    def aliases_input(self):
        return self.rate == 0.0

    def describe_forward(self, ctx):
        u = ctx.random(ctx.output().buf.width)
        ctx.call("shape_ops.dropout_forward", ctx.input(), u, ctx.const(self.rate), ctx.training, ctx.output())

    def describe_backward(self, ctx):
        if ctx.needs_d_input(0):
            u = ctx.random(ctx.output().buf.width)
            ctx.call("shape_ops.dropout_backward", u, ctx.const(self.rate), ctx.training, ctx.d_output(),
                     ctx.d_input(0))

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, noise_shape=None, seed=self.seed)
        return config


class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1 * d2 * ...). Free here: every buffer is already (batch, features)."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format

    def compute_output_shape(self, input_shape):
        dims = input_shape[1:]
        if any(d is None for d in dims):
            return (input_shape[0], None)
        return (input_shape[0], int(math.prod(dims)))

    aliases_input = True

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config
