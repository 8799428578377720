"""RepeatVector, ActivityRegularization, and Lambda (which needs keras.ops, not in nbkeras yet)."""

from .. import regularizers
from .base import Layer


class RepeatVector(Layer):
    """(batch, features) -> (batch, n, features): the input repeated n times along a new axis 1."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"RepeatVector: expected an integer value for `n`, got {type(n).__name__} ({n!r})")
        if n <= 0:
            raise ValueError(f"RepeatVector: `n` must be a positive integer, got {n}")
        self.n = n

    def _check_input_shape(self, input_shape):
        if isinstance(input_shape, list) or len(input_shape) != 2:
            raise ValueError(f"RepeatVector: expected an input of rank 2 (batch, features), got shape {input_shape}")
        if input_shape[1] is None:
            raise ValueError(f"RepeatVector: the feature dimension must be known, got shape {input_shape}")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def describe_forward(self, ctx):
        f = ctx.input_shape[1]
        ctx.call("merge_ops.repeat_forward", ctx.input(0, (f,)), ctx.output((self.n, f)))

    def describe_backward(self, ctx):
        if ctx.needs_d_input(0):
            f = ctx.input_shape[1]
            ctx.call("merge_ops.repeat_backward", ctx.d_output((self.n, f)), ctx.d_input(0, (f,)))

    def get_config(self):
        config = super().get_config()
        config["n"] = self.n
        return config


class ActivityRegularization(Layer):
    """The identity, whose output carries Keras's activity penalty l1 * sum|y| + l2 * sum y^2 (divided by the
    batch size, added to the loss by the step like any layer's ``activity_regularizer``)."""

    aliases_input = True

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        kwargs.pop("activity_regularizer", None)  # implied by l1 and l2 (Keras drops it from the config too)
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1 = l1
        self.l2 = l2

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)
        config.update(l1=self.l1, l2=self.l2)
        return config


class LambdaNeedsOpsError(TypeError, ValueError):
    """Lambda layers wrap Python functions of tensors; running them needs keras.ops (both error types, so Keras 2
    and Keras 3 style handlers catch it)."""


class Lambda(Layer):
    """Not available yet: a Lambda layer's function computes with ``keras.ops`` on tensors, which nbkeras does not
    have; constructing one raises ``LambdaNeedsOpsError`` (a TypeError and a ValueError)."""

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        raise LambdaNeedsOpsError(
            "Lambda layers need keras.ops, which nbkeras does not have yet: the function of a Lambda layer cannot "
            "run in nbkeras's compiled step. Build the computation from nbkeras's built-in layers instead "
            "(Activation, Rescaling, Multiply, Add, Reshape, ...).")
