"""Dense, Activation, Dropout and Flatten."""

import math

import numpy as np

from .. import activations as activations_module
from .. import backend
from .base import Layer

_UNSUPPORTED = ("kernel_regularizer", "bias_regularizer", "kernel_constraint", "bias_constraint", "lora_rank")


def _positive_int(value, what, owner):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{owner}: {what} must be a positive integer, got {value!r}")
    return int(value)


class Dense(Layer):
    """y = activation(x . kernel + bias), contracting the last axis of x (any rank >= 2), as Keras's Dense.

    Weights: kernel (in, units), bias (units,), in Keras's order and layout.
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, lora_rank=None, **kwargs):
        for name, value in (("kernel_regularizer", kernel_regularizer), ("bias_regularizer", bias_regularizer),
                            ("activity_regularizer", activity_regularizer),
                            ("kernel_constraint", kernel_constraint), ("bias_constraint", bias_constraint),
                            ("lora_rank", lora_rank)):
            if value is not None:
                raise ValueError(f"Dense: {name} is not supported by nbkeras yet (got {value!r})")
        super().__init__(**kwargs)
        self.units = _positive_int(units, "units", "Dense")
        self.activation = activations_module.get(activation)
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
        self.kernel = self.add_weight("kernel", (in_dim, self.units), self.kernel_initializer)
        self.bias = self.add_weight("bias", (self.units,), self.bias_initializer) if self.use_bias else None
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def _out_shape(self, rows):
        return (None, rows, self.units)

    # ------------------------------------------------------------ eager
    def forward(self, inputs, training, rng):
        k = backend.kernels()
        x = inputs[0].reshape(-1, self.kernel.shape[0])
        bias = self.bias.value if self.use_bias else np.empty(0, x.dtype)
        z = np.empty((x.shape[0], self.units), x.dtype)
        k.dense.dense_forward(x, self.kernel.value, bias, z)
        if self.activation.is_linear:
            return z.reshape(inputs[0].shape[0], -1), None
        y = np.empty_like(z)
        self.activation.forward_into(z, y, (None, self.units))
        return y.reshape(inputs[0].shape[0], -1), z

    def backward(self, inputs, output, cache, d_output, need_d_inputs):
        k = backend.kernels()
        x = inputs[0].reshape(-1, self.kernel.shape[0])
        dz = d_output.reshape(-1, self.units)
        if not self.activation.is_linear:
            self.activation.backward_into(cache, output.reshape(-1, self.units), dz, dz, (None, self.units))
        dx = np.empty_like(x) if need_d_inputs[0] else np.empty((0, 0), x.dtype)
        if self.trainable:
            dbias = self.bias.grad if self.use_bias else np.empty(0, x.dtype)
            k.dense.dense_backward(x, self.kernel.value, dz, dx, self.kernel.grad, dbias, True)
        elif need_d_inputs[0]:
            k.gemm.gemm(False, True, 1.0, dz, self.kernel.value, 0.0, dx)
        return [dx.reshape(inputs[0].shape) if need_d_inputs[0] else None]

    # ---------------------------------------------------------- codegen
    def emit_forward(self, g, ins, out, training):
        in_dim = self.kernel.shape[0]
        x = g.as2d(ins[0], in_dim)
        bias = g.weight(self.bias) if self.use_bias else "empty1"
        if self.activation.is_linear:
            return [f"dense.dense_forward({x}, {g.weight(self.kernel)}, {bias}, {g.as2d(out, self.units)})"]
        z = g.scratch(self, "z", out.width)
        lines = [f"dense.dense_forward({x}, {g.weight(self.kernel)}, {bias}, {g.as2d(z, self.units)})"]
        lines += self.activation.emit_forward(g, z, out, (None, self.units))
        return lines

    def emit_backward(self, g, ins, out, d_out, d_ins, accumulate):
        lines = []
        in_dim = self.kernel.shape[0]
        if not self.activation.is_linear:
            z = g.scratch(self, "z", out.width)
            lines += self.activation.emit_backward(g, z, out, d_out, d_out, (None, self.units))
        x = g.as2d(ins[0], in_dim)
        dy = g.as2d(d_out, self.units)
        dx = g.as2d(d_ins[0], in_dim) if d_ins[0] else "empty2"
        if g.is_trainable(self.kernel):
            dbias = g.grad(self.bias) if self.use_bias else "empty1"
            lines.append(f"dense.dense_backward({x}, {g.weight(self.kernel)}, {dy}, {dx}, {g.grad(self.kernel)}, "
                         f"{dbias}, {g.flag(accumulate)})")
        elif d_ins[0]:
            lines.append(f"gemm.gemm({g.flag(False)}, {g.flag(True)}, {g.hyper(1.0)}, {dy}, {g.weight(self.kernel)}, "
                         f"{g.hyper(0.0)}, {dx})")
        return lines

    def get_config(self):
        from .. import initializers

        config = super().get_config()
        config.update(units=self.units, activation=self.activation.get_config(), use_bias=self.use_bias,
                      kernel_initializer=initializers.serialize(self.kernel_initializer),
                      bias_initializer=initializers.serialize(self.bias_initializer))
        return config


class Activation(Layer):
    """Applies an activation function to its input."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations_module.get(activation)

    def build(self, input_shape):
        if self.activation.kind == "axis":
            self.activation.axis_sizes(input_shape)  # validates the axis against the rank
        self._shape = tuple(input_shape)
        self.built = True

    def forward(self, inputs, training, rng):
        x = inputs[0]
        y = np.empty_like(x)
        self.activation.forward_into(x, y, self._shape)
        return y, None

    def backward(self, inputs, output, cache, d_output, need_d_inputs):
        if not need_d_inputs[0]:
            return [None]
        dx = np.empty_like(d_output)
        self.activation.backward_into(inputs[0], output, d_output, dx, self._shape)
        return [dx]

    def emit_forward(self, g, ins, out, training):
        return self.activation.emit_forward(g, ins[0], out, self._shape)

    def emit_backward(self, g, ins, out, d_out, d_ins, accumulate):
        if not d_ins[0]:
            return []
        return self.activation.emit_backward(g, ins[0], out, d_out, d_ins[0], self._shape)

    def get_config(self):
        config = super().get_config()
        config["activation"] = self.activation.get_config()
        return config


class Dropout(Layer):
    """Inverted dropout at training time (kept units scaled by 1 / (1 - rate)); the identity at inference."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating)) or not 0.0 <= rate <= 1.0:
            raise ValueError(f"Dropout: rate must be a float in [0, 1], got {rate!r}")
        if noise_shape is not None:
            raise ValueError("Dropout: noise_shape is not supported by nbkeras yet")
        self.rate = float(rate)
        self.seed = seed

    def forward(self, inputs, training, rng):
        x = inputs[0]
        if not training or self.rate == 0.0:
            return x, None
        u = rng.random(x.size, dtype=x.dtype)
        y = np.empty_like(x)
        backend.kernels().tensor_ops.dropout_forward(x.reshape(-1), u, self.rate, y.reshape(-1))
        return y, u

    def backward(self, inputs, output, cache, d_output, need_d_inputs):
        if not need_d_inputs[0]:
            return [None]
        if cache is None:
            return [d_output]
        backend.kernels().tensor_ops.dropout_backward(cache, self.rate, d_output.reshape(-1),
                                                      d_output.reshape(-1))
        return [d_output]

    def output_aliases_input(self, training):
        """True where the output is the input itself; ``training=None`` asks for both modes at once (generated
        steps decide at run time, so they need their own buffer unless the rate is 0)."""
        return self.rate == 0.0 or training is False

    def emit_forward(self, g, ins, out, training):
        u = g.random(self, out.width)
        return ["if training:",
                f"    tensor_ops.dropout_forward({g.as1d(ins[0])}, {g.as1d(u)}, {g.hyper(self.rate)}, {g.as1d(out)})",
                "else:",
                f"    tensor_ops.copy_into({g.as1d(out)}, {g.as1d(ins[0])})"]

    def emit_backward(self, g, ins, out, d_out, d_ins, accumulate):
        if not d_ins[0]:
            return []
        u = g.random(self, out.width)
        return [f"tensor_ops.dropout_backward({g.as1d(u)}, {g.hyper(self.rate)}, {g.as1d(d_out)}, "
                f"{g.as1d(d_ins[0])})"]

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

    def forward(self, inputs, training, rng):
        return inputs[0], None

    def backward(self, inputs, output, cache, d_output, need_d_inputs):
        return [d_output if need_d_inputs[0] else None]

    def output_aliases_input(self, training):
        return True

    def emit_forward(self, g, ins, out, training):
        return []

    def emit_backward(self, g, ins, out, d_out, d_ins, accumulate):
        return []

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config
