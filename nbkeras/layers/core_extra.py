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


class Lambda(Layer):
    """``Lambda(function, output_shape=None, mask=None, arguments=None)``: a layer whose computation is a Python
    function of tensors written with ``keras.ops`` (or other layers). Like any custom layer, the function is
    traced once into graph nodes, so it runs compiled, with gradients."""

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda: `function` must be callable, got {function!r}")
        self.function = function
        self.output_shape_arg = output_shape
        self.mask = mask
        self.arguments = dict(arguments or {})

    def call(self, inputs, mask=None, training=None):
        return self.function(inputs, **self.arguments)

    def get_config(self):
        raise ValueError(f"Lambda layer {self.name!r}: its function is Python code, which nbkeras does not "
                         f"serialize (Keras refuses it too in safe mode); rebuild the layer in code")
