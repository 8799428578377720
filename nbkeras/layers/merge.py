"""Merge layers: Concatenate, Add, Multiply, Subtract, Average, Maximum, Minimum, Dot, and their functional forms."""

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
                ctx.call("tensor_ops.copy_into", ctx.d_input(i), ctx.d_output())


# ----------------------------------------------------------------------------- elementwise merges (Keras 3)
class _ElementwiseMerge(Layer):
    """A merge of inputs of one shape. Keras broadcasts inputs of different shapes; nbkeras requires equal shapes
    (a clear error otherwise). Keras's minimum of one input is kept (the output is then that input)."""

    n_inputs = None
    min_inputs = 1

    def _check_input_shape(self, input_shape):
        owner = f"{type(self).__name__} {self.name!r}"
        if not isinstance(input_shape, list) or not all(isinstance(s, tuple) for s in input_shape):
            raise ValueError(f"{owner}: a merge layer should be called on a list of inputs, got {input_shape}")
        if len(input_shape) < self.min_inputs:
            raise ValueError(f"{owner} should be called on a list of at least {self.min_inputs} inputs, got "
                             f"{len(input_shape)}")
        if any(tuple(s[1:]) != tuple(input_shape[0][1:]) for s in input_shape):
            raise ValueError(f"{owner}: inputs must have the same shape (nbkeras does not broadcast merge inputs), "
                             f"got shapes {input_shape}")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])


class Multiply(_ElementwiseMerge):
    """Elementwise product of its inputs. Input i's gradient is dy times every other input."""

    def describe_forward(self, ctx):
        for i in range(len(ctx.input_shapes)):
            ctx.call("merge_ops.multiply_forward", ctx.input(i), ctx.output(), ctx.const(i == 0))

    def describe_backward(self, ctx):
        count = len(ctx.input_shapes)
        for i in range(count):
            if ctx.needs_d_input(i):
                ctx.call("tensor_ops.copy_into", ctx.d_input(i), ctx.d_output())
                for j in range(count):
                    if j != i:
                        ctx.call("merge_ops.multiply_into", ctx.d_input(i), ctx.input(j))


class Subtract(_ElementwiseMerge):
    """inputs[0] - inputs[1]; exactly two inputs."""

    min_inputs = 2

    def _check_input_shape(self, input_shape):
        super()._check_input_shape(input_shape)
        if len(input_shape) != 2:
            raise ValueError(f"Subtract {self.name!r}: a `Subtract` layer should be called on exactly 2 inputs, got "
                             f"{len(input_shape)}")

    def describe_forward(self, ctx):
        ctx.call("merge_ops.subtract_forward", ctx.input(0), ctx.input(1), ctx.output())

    def describe_backward(self, ctx):
        if ctx.needs_d_input(0):
            ctx.call("tensor_ops.copy_into", ctx.d_input(0), ctx.d_output())
        if ctx.needs_d_input(1):
            ctx.call("merge_ops.negate_into", ctx.d_input(1), ctx.d_output())


class Average(_ElementwiseMerge):
    """(x_0 + ... + x_{n-1}) / n, summed in input order then divided, as Keras does."""

    def describe_forward(self, ctx):
        count = len(ctx.input_shapes)
        for i in range(count):
            ctx.call("tensor_ops.add_forward", ctx.input(i), ctx.output(), ctx.const(i == 0))
        ctx.call("merge_ops.divide_into", ctx.output(), ctx.output(), ctx.const(float(count)))

    def describe_backward(self, ctx):
        count = len(ctx.input_shapes)
        for i in range(count):
            if ctx.needs_d_input(i):
                ctx.call("merge_ops.divide_into", ctx.d_input(i), ctx.d_output(), ctx.const(float(count)))


class _Extreme(_ElementwiseMerge):
    """Elementwise maximum or minimum. The gradient of each element goes to the FIRST input that holds the extreme
    value (Keras under JAX splits it between tied inputs); the winning input's index is kept in scratch."""

    take_max = True

    def _winner(self, ctx):
        return ctx.scratch("winner", ctx.output().buf.width)

    def describe_forward(self, ctx):
        winner = self._winner(ctx)
        for i in range(len(ctx.input_shapes)):
            ctx.call("merge_ops.extreme_forward", ctx.input(i), ctx.output(), winner, ctx.const(i),
                     ctx.const(self.take_max))

    def describe_backward(self, ctx):
        winner = self._winner(ctx)
        for i in range(len(ctx.input_shapes)):
            if ctx.needs_d_input(i):
                ctx.call("merge_ops.extreme_backward", ctx.d_output(), winner, ctx.const(i), ctx.d_input(i))


class Maximum(_Extreme):
    """Elementwise maximum of its inputs (ties: the gradient goes to the first of the tied inputs)."""

    take_max = True


class Minimum(_Extreme):
    """Elementwise minimum of its inputs (ties: the gradient goes to the first of the tied inputs)."""

    take_max = False


# ---------------------------------------------------------------------------------------------------- Dot
class Dot(Layer):
    """Keras's Dot: the batched dot product of two inputs of rank 2 or 3 along ``axes`` (an int for both, or a
    pair), optionally of their L2-normalized values (``normalize=True``: cosine similarity).

    Output shapes as Keras's ``batch_dot``: (batch, 1) for two vectors, (batch, n) for a vector and a matrix,
    (batch, m, n) for two matrices. Each operand is viewed as 3-D ((B, 1, D) for a vector on the left, (B, D, 1)
    on the right), so one kernel serves every case.
    """

    n_inputs = None

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axes, bool) or not isinstance(axes, (int, list, tuple)):
            raise TypeError(f"Dot: invalid type for argument `axes`: it should be a list or an int, got {axes!r}")
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2:
                raise ValueError(f"Dot: invalid format for argument `axes`: it should contain two elements, got "
                                 f"{axes!r}")
            if any(isinstance(a, bool) or not isinstance(a, int) for a in axes):
                raise ValueError(f"Dot: invalid format for argument `axes`: list elements should be integers, got "
                                 f"{axes!r}")
            axes = list(axes)
        self.axes = axes
        self.normalize = bool(normalize)

    def _resolved(self, shapes):
        """Positive (axis of input 0, axis of input 1), Keras's rule: a negative int counts from each input's end."""
        r0, r1 = len(shapes[0]), len(shapes[1])
        if isinstance(self.axes, int):
            return (self.axes % r0, self.axes % r1) if self.axes < 0 else (self.axes, self.axes)
        a0, a1 = self.axes
        return (a0 % r0 if a0 < 0 else a0, a1 % r1 if a1 < 0 else a1)

    def _check_input_shape(self, input_shape):
        owner = f"Dot {self.name!r}"
        if not isinstance(input_shape, list) or len(input_shape) != 2:
            raise ValueError(f"{owner}: a `Dot` layer should be called on a list of 2 inputs, got {input_shape}")
        for s in input_shape:
            if len(s) not in (2, 3):
                raise ValueError(f"{owner}: nbkeras's Dot takes inputs of rank 2 or 3 (batch first), got shapes "
                                 f"{input_shape}")
            if any(d is None for d in s[1:]):
                raise ValueError(f"{owner}: every non-batch dimension must be known, got shapes {input_shape}")
        a0, a1 = self._resolved(input_shape)
        if a0 >= len(input_shape[0]) or a1 >= len(input_shape[1]):
            raise ValueError(f"{owner}: `axes`={self.axes} is out of range for input shapes {input_shape}")
        if a0 == 0 or a1 == 0:
            raise ValueError(f"{owner}: cannot take the dot product over the batch axis 0 (`axes`={self.axes})")
        if input_shape[0][a0] != input_shape[1][a1]:
            raise ValueError(f"{owner}: incompatible input shapes: axis values {input_shape[0][a0]} (at axis {a0}) "
                             f"!= {input_shape[1][a1]} (at axis {a1}). Full input shapes: {input_shape}")

    def compute_output_shape(self, input_shape):
        a0, a1 = self._resolved(input_shape)
        s0, s1 = list(input_shape[0]), list(input_shape[1])
        s0.pop(a0)
        s1.pop(a1)
        s1.pop(0)
        out = s0 + s1
        return tuple(out + [1] if len(out) == 1 else out)

    def _plan(self, ctx):
        """(x dims, x axis, y dims, y axis, out dims): each operand as a 3-D (B, ., .) view."""
        s0, s1 = ctx.input_shapes
        a0, a1 = self._resolved([s0, s1])
        if len(s0) == 2:
            xd, xa = (1, s0[1]), 2
        else:
            xd, xa = (s0[1], s0[2]), a0
        if len(s1) == 2:
            yd, ya = (s1[1], 1), 1
        else:
            yd, ya = (s1[1], s1[2]), a1
        return xd, xa, yd, ya, (xd[3 - xa - 1], yd[3 - ya - 1])

    @staticmethod
    def _norm_dims(dims, axis):
        """The (K, C) view that puts ``axis`` (1 or 2 of a (B, d1, d2) view) in the middle for unit_norm."""
        return (dims[0], dims[1]) if axis == 1 else (dims[1], 1)

    def describe_forward(self, ctx):
        xd, xa, yd, ya, od = self._plan(ctx)
        x, y = ctx.input(0, xd), ctx.input(1, yd)
        if self.normalize:
            from .. import backend

            eps = ctx.const(backend.epsilon())
            wx, wy = x.buf.width, y.buf.width
            for i, (dims, axis, width, tag) in enumerate(((xd, xa, wx, "xn"), (yd, ya, wy, "yn"))):
                nd = self._norm_dims(dims, axis)
                ctx.call("norm_ops.unit_norm_forward", ctx.input(i, nd), ctx.scratch(tag, width, nd), eps)
            x, y = ctx.scratch("xn", wx, xd), ctx.scratch("yn", wy, yd)
        ctx.call("merge_ops.batch_dot_forward", x, y, ctx.output(od), ctx.const(xa), ctx.const(ya))

    def describe_backward(self, ctx):
        xd, xa, yd, ya, od = self._plan(ctx)
        wx, wy = ctx.input(0).buf.width, ctx.input(1).buf.width
        if not self.normalize:
            ctx.call("merge_ops.batch_dot_backward", ctx.input(0, xd), ctx.input(1, yd), ctx.d_output(od),
                     ctx.d_input(0, xd), ctx.d_input(1, yd), ctx.const(xa), ctx.const(ya))
            return
        from .. import backend

        eps = ctx.const(backend.epsilon())
        # Gradients with respect to the normalized operands first, then through the normalization.
        dxn = ctx.scratch("dxn", wx, xd) if ctx.needs_d_input(0) else ctx.empty(3)
        dyn = ctx.scratch("dyn", wy, yd) if ctx.needs_d_input(1) else ctx.empty(3)
        ctx.call("merge_ops.batch_dot_backward", ctx.scratch("xn", wx, xd), ctx.scratch("yn", wy, yd),
                 ctx.d_output(od), dxn, dyn, ctx.const(xa), ctx.const(ya))
        for i, (dims, axis, width, tag) in enumerate(((xd, xa, wx, "dxn"), (yd, ya, wy, "dyn"))):
            if ctx.needs_d_input(i):
                nd = self._norm_dims(dims, axis)
                ctx.call("norm_ops.unit_norm_backward", ctx.input(i, nd), ctx.scratch(tag, width, nd),
                         ctx.d_input(i, nd), eps)

    def get_config(self):
        config = super().get_config()
        config.update(axes=self.axes, normalize=self.normalize)
        return config


# ------------------------------------------------------------------------------------- functional forms
def subtract(inputs, **kwargs):
    """``Subtract(**kwargs)(inputs)``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """``Multiply(**kwargs)(inputs)``."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """``Average(**kwargs)(inputs)``."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """``Maximum(**kwargs)(inputs)``."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """``Minimum(**kwargs)(inputs)``."""
    return Minimum(**kwargs)(inputs)


def dot(inputs, axes=-1, **kwargs):
    """``Dot(axes=axes, **kwargs)(inputs)`` (Keras's functional default: the last axes)."""
    return Dot(axes=axes, **kwargs)(inputs)
