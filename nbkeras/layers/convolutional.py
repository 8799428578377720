"""Convolution layers (Keras 3): Conv1D/2D, DepthwiseConv1D/2D, SeparableConv1D/2D, Conv1DTranspose/2DTranspose.

Each layer describes its kernel calls once (see program.LayerContext); the 2-D kernels of ``conv`` do the work and
a 1-D layer views its (batch, steps, channels) tensors as (batch, 1, steps, channels) images and its kernels as
one-row kernels (``conv_utils.Geometry`` holds both cases). channels_last only.

Weights, in Keras 3's order and layout:
    Conv          kernel (*kernel_size, in // groups, filters), bias (filters,)
    Depthwise     kernel (*kernel_size, in, depth_multiplier), bias (in * depth_multiplier,)
    Separable     depthwise_kernel (*kernel_size, in, depth_multiplier), pointwise_kernel (*1s, in * dm, filters),
                  bias (filters,)
    Transpose     kernel (*kernel_size, filters, in), bias (filters,)

The im2col kernels take a ``cols`` scratch of any length from one image's patch matrix up: it is a fixed-size
buffer (not per sample) holding at most ``COLS_IMAGES`` images and at most ``COLS_BUDGET`` values, so memory is
bounded whatever the batch. Forward and backward use separate tags: a scratch is kept alive from its first to its
last use, and the columns carry nothing from forward to backward, so the layers of a model can share one region.
"""

from .. import activations as activations_module
from .. import backend
from .. import constraints as constraints_module
from .. import initializers
from .. import regularizers as regularizers_module
from . import conv_utils
from .base import Layer, _review, activation_backward, activation_forward

#: ``cols`` scratch bounds: images per GEMM (batch 64 in one product) and values (4 MB in float32).
COLS_IMAGES = 64
COLS_BUDGET = 1 << 20


def _serialize(module, obj):
    return None if obj is None else module.serialize(obj)


class _ConvBase(Layer):
    """What every convolution layer shares: argument checks, input checks, activation, bias, regularizers,
    constraints and config. Subclasses set ``rank`` and implement ``_geometry``, ``build``, ``_forward_calls`` and
    ``_backward_calls``."""

    rank = 2
    allow_causal = False
    #: Keras's Conv and ConvTranspose refuse strides > 1 with dilation_rate > 1; depthwise/separable allow it.
    strides_with_dilation = False

    def __init__(self, kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                 activity_regularizer, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        owner = type(self).__name__
        self.kernel_size = conv_utils.normalize_tuple(kernel_size, self.rank, "kernel_size", owner)
        self.strides = conv_utils.normalize_tuple(strides, self.rank, "strides", owner)
        self.dilation_rate = conv_utils.normalize_tuple(dilation_rate, self.rank, "dilation_rate", owner)
        self.padding = conv_utils.normalize_padding(padding, owner, self.allow_causal)
        self.data_format = conv_utils.check_data_format(data_format, owner)
        if not self.strides_with_dilation:
            conv_utils.check_strides_and_dilation(self.strides, self.dilation_rate, owner)
        self.activation = activations_module.get(activation)
        self.use_bias = bool(use_bias)
        self._geo = None

    # ------------------------------------------------------------------------------------------------ shapes
    def _owner(self):
        return f"{type(self).__name__} {self.name!r}"

    def _check_input_shape(self, input_shape):
        conv_utils.check_spatial_input(input_shape, self.rank, self._owner())
        self._check_channels(input_shape[-1])
        self._geometry(input_shape)  # raises when the kernel does not fit

    def _check_channels(self, channels):
        if self.built and channels != self._channels:
            raise ValueError(f"{self._owner()}: expected inputs with {self._channels} channels (the layer was built "
                             f"for them), got {channels}")

    def _geometry(self, input_shape):
        return conv_utils.conv_geometry(input_shape[1:-1], self.kernel_size, self.strides, self.dilation_rate,
                                        self.padding, self._owner())

    def _out_channels(self, channels):
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        geo = self._geometry(input_shape)
        return (input_shape[0],) + geo.out_hw[2 - self.rank:] + (self._out_channels(input_shape[-1]),)

    def _set_geometry(self, input_shape):
        self._channels = int(input_shape[-1])
        self._geo = self._geometry(input_shape)
        self._in_dims = self._geo.in_hw + (self._channels,)
        self._out_dims = self._geo.out_hw + (self._out_channels(self._channels),)

    def _kernel_view(self, ctx, var):
        """A 4-D view of a kernel variable: (1, *shape) for 1-D layers, the variable itself for 2-D ones."""
        return ctx.weight(var, tuple(var.shape[-3:]))

    def _kernel_grad(self, ctx, var, tag):
        """The gradient view of a kernel, or a fixed sink buffer when the kernel is frozen: the kernels always
        write a kernel gradient, and a frozen layer still runs backward when its input needs a gradient."""
        dims = tuple(var.shape[-3:])
        if ctx.trainable(var):
            return ctx.grad(var, dims)
        return ctx.scratch(tag, var.value.size, dims, per_sample=False)

    def _bias_refs(self, ctx):
        bias = ctx.weight(self.bias) if self.use_bias else ctx.empty(1)
        dbias = ctx.grad_or_empty(self.bias) if self.use_bias else ctx.empty(1)
        return bias, dbias

    # ---------------------------------------------------------------------------------------- description
    #: Whether ``_forward_calls`` can apply Keras's plain relu itself (a fused kernel, ``relu=True``).
    fuses_relu = False

    def _fused_relu(self):
        """True when the activation is the plain relu (Keras's defaults) and the kernels apply it: the forward
        writes the output once, with no pre-activation scratch, and the backward masks dy by the output's sign
        inside the convolution's backward (out > 0 exactly where the pre-activation was > 0)."""
        spec = self.activation
        return (self.fuses_relu and spec.name == "relu"
                and spec.kernel_args() == activations_module.get("relu").kernel_args())

    def describe_forward(self, ctx):
        y = ctx.output(self._out_dims)
        if self.activation.is_linear:
            self._forward_calls(ctx, y)
            return
        if self._fused_relu():
            self._forward_calls(ctx, y, relu=True)
            return
        z = ctx.scratch("z", y.buf.width, self._out_dims)
        self._forward_calls(ctx, z)
        activation_forward(ctx, self.activation, z, y, ctx.output_shape)

    def describe_backward(self, ctx):
        dy = ctx.d_output(self._out_dims)
        if self._fused_relu():
            self._backward_calls(ctx, dy, relu_output=ctx.output(self._out_dims))
            return
        if not self.activation.is_linear:
            z = ctx.scratch("z", dy.buf.width, self._out_dims)
            activation_backward(ctx, self.activation, z, ctx.output(), dy, dy, ctx.output_shape)
        self._backward_calls(ctx, dy)

    def _cols(self, ctx, tag, per_image_args):
        """The fixed ``cols`` scratch, sized by the kernel set for COLS_IMAGES images within COLS_BUDGET values."""
        size = backend.kernel("conv.conv2d_scratch_size")(COLS_IMAGES, *per_image_args, COLS_BUDGET)
        return ctx.scratch(tag, size, per_sample=False)

    def _add_bias(self, units):
        if not self.use_bias:
            return None
        return self.add_weight(name="bias", shape=(units,), initializer=self.bias_initializer,
                               regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def get_config(self):
        config = super().get_config()
        config.update(kernel_size=self.kernel_size, strides=self.strides, padding=self.padding,
                      data_format=self.data_format, dilation_rate=self.dilation_rate,
                      activation=self.activation.get_config(), use_bias=self.use_bias,
                      activity_regularizer=_serialize(regularizers_module, self.activity_regularizer))
        return config


# ---------------------------------------------------------------------------------------------- Conv1D/2D
class _Conv(_ConvBase):
    """out = activation(conv(x, kernel) + bias), grouped when ``groups`` > 1 (Keras's BaseConv)."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        owner = type(self).__name__
        self.filters = conv_utils.positive_int(filters, "filters", owner)
        self.groups = conv_utils.positive_int(groups, "groups", owner)
        if self.filters % self.groups:
            raise ValueError(f"{owner}: `filters` ({self.filters}) must be divisible by `groups` ({self.groups})")
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         activity_regularizer, **kwargs)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers_module.get(kernel_regularizer)
        self.bias_regularizer = regularizers_module.get(bias_regularizer)
        self.kernel_constraint = constraints_module.get(kernel_constraint)
        self.bias_constraint = constraints_module.get(bias_constraint)

    def _check_channels(self, channels):
        super()._check_channels(channels)
        if channels % self.groups:
            raise ValueError(f"{self._owner()}: the input's {channels} channels must be divisible by `groups` "
                             f"({self.groups})")

    def _out_channels(self, channels):
        return self.filters

    def build(self, input_shape):
        self._set_geometry(input_shape)
        self.kernel = self.add_weight(name="kernel", shape=self.kernel_size + (self._channels // self.groups,
                                                                               self.filters),
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self._add_bias(self.filters)
        self.built = True

    def _per_image(self):
        g = self._geo
        return g.out_hw + g.k_hw + (self._channels, self.groups)

    fuses_relu = True

    def _forward_calls(self, ctx, out, relu=False):
        bias, _ = self._bias_refs(ctx)
        ctx.call("conv.conv2d_forward_relu" if relu else "conv.conv2d_forward", ctx.input(0, self._in_dims), self._kernel_view(ctx, self.kernel), bias,
                 out, self._cols(ctx, "cols_forward", self._per_image()), *map(ctx.const, self._geo.args()),
                 ctx.const(self.groups))

    def _backward_calls(self, ctx, dy, relu_output=None):
        """conv2d_backward, or (the fused relu) conv2d_backward_relu, which first masks dy by relu_output > 0."""
        _, dbias = self._bias_refs(ctx)
        fused = () if relu_output is None else (relu_output,)
        ctx.call("conv.conv2d_backward_relu" if fused else "conv.conv2d_backward", ctx.input(0, self._in_dims),
                 self._kernel_view(ctx, self.kernel), *fused, dy,
                 ctx.d_input(0, self._in_dims), self._kernel_grad(ctx, self.kernel, "dkernel_sink"), dbias,
                 self._cols(ctx, "cols_backward", self._per_image()), *map(ctx.const, self._geo.args()),
                 ctx.const(self.groups), ctx.accumulate)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters, groups=self.groups,
            kernel_initializer=initializers.serialize(self.kernel_initializer),
            bias_initializer=initializers.serialize(self.bias_initializer),
            kernel_regularizer=_serialize(regularizers_module, self.kernel_regularizer),
            bias_regularizer=_serialize(regularizers_module, self.bias_regularizer),
            kernel_constraint=_serialize(constraints_module, self.kernel_constraint),
            bias_constraint=_serialize(constraints_module, self.bias_constraint))
        return config


class Conv2D(_Conv):
    """2-D convolution over (batch, height, width, channels): kernel (kh, kw, in // groups, filters)."""

    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, groups, activation,
                         use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
                         activity_regularizer, kernel_constraint, bias_constraint, **kwargs)


class Conv1D(_Conv):
    """1-D convolution over (batch, steps, channels): kernel (k, in // groups, filters). ``padding='causal'`` pads
    (k - 1) * dilation_rate zeros in front, so output[t] sees input[:t + 1] only."""

    rank = 1
    allow_causal = True

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, groups, activation,
                         use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
                         activity_regularizer, kernel_constraint, bias_constraint, **kwargs)


# ----------------------------------------------------------------------------------------- Depthwise 1D/2D
class _DepthwiseConv(_ConvBase):
    """Each input channel c convolved with its own depth_multiplier filters: out[..., c * M + m]."""

    strides_with_dilation = True

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        self.depth_multiplier = conv_utils.positive_int(depth_multiplier, "depth_multiplier", type(self).__name__)
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         activity_regularizer, **kwargs)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.depthwise_regularizer = regularizers_module.get(depthwise_regularizer)
        self.bias_regularizer = regularizers_module.get(bias_regularizer)
        self.depthwise_constraint = constraints_module.get(depthwise_constraint)
        self.bias_constraint = constraints_module.get(bias_constraint)

    def _out_channels(self, channels):
        return channels * self.depth_multiplier

    def build(self, input_shape):
        self._set_geometry(input_shape)
        # Keras 3 names this weight "kernel" (Keras 2: "depthwise_kernel").
        self.kernel = self.add_weight(name="kernel", shape=self.kernel_size + (self._channels, self.depth_multiplier),
                                      initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
                                      constraint=self.depthwise_constraint)
        self.bias = self._add_bias(self._channels * self.depth_multiplier)
        self.built = True

    def _forward_calls(self, ctx, out):
        bias, _ = self._bias_refs(ctx)
        ctx.call("conv.depthwise_conv2d_forward", ctx.input(0, self._in_dims), self._kernel_view(ctx, self.kernel),
                 bias, out, *map(ctx.const, self._geo.args()))

    def _backward_calls(self, ctx, dy):
        _, dbias = self._bias_refs(ctx)
        ctx.call("conv.depthwise_conv2d_backward", ctx.input(0, self._in_dims), self._kernel_view(ctx, self.kernel),
                 dy, ctx.d_input(0, self._in_dims), self._kernel_grad(ctx, self.kernel, "dkernel_sink"), dbias,
                 *map(ctx.const, self._geo.args()), ctx.accumulate)

    def get_config(self):
        config = super().get_config()
        config.update(
            depth_multiplier=self.depth_multiplier,
            depthwise_initializer=initializers.serialize(self.depthwise_initializer),
            bias_initializer=initializers.serialize(self.bias_initializer),
            depthwise_regularizer=_serialize(regularizers_module, self.depthwise_regularizer),
            bias_regularizer=_serialize(regularizers_module, self.bias_regularizer),
            depthwise_constraint=_serialize(constraints_module, self.depthwise_constraint),
            bias_constraint=_serialize(constraints_module, self.bias_constraint))
        return config


class DepthwiseConv2D(_DepthwiseConv):
    """Depthwise 2-D convolution: kernel (kh, kw, in, depth_multiplier), output channels in * depth_multiplier."""

    rank = 2

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, activation,
                         use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer, bias_regularizer,
                         activity_regularizer, depthwise_constraint, bias_constraint, **kwargs)


class DepthwiseConv1D(_DepthwiseConv):
    """Depthwise 1-D convolution: kernel (k, in, depth_multiplier)."""

    rank = 1


# ----------------------------------------------------------------------------------------- Separable 1D/2D
class _SeparableConv(_ConvBase):
    """A depthwise convolution (no bias) followed by a pointwise 1x1 convolution with bias and activation.

    The pointwise step is a matrix product over every output position: mid (batch * positions, in * dm) @
    pointwise (in * dm, filters), so it runs on the dense kernels."""

    strides_with_dilation = True

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, **kwargs):
        owner = type(self).__name__
        self.filters = conv_utils.positive_int(filters, "filters", owner)
        self.depth_multiplier = conv_utils.positive_int(depth_multiplier, "depth_multiplier", owner)
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         activity_regularizer, **kwargs)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.depthwise_regularizer = regularizers_module.get(depthwise_regularizer)
        self.pointwise_regularizer = regularizers_module.get(pointwise_regularizer)
        self.bias_regularizer = regularizers_module.get(bias_regularizer)
        self.depthwise_constraint = constraints_module.get(depthwise_constraint)
        self.pointwise_constraint = constraints_module.get(pointwise_constraint)
        self.bias_constraint = constraints_module.get(bias_constraint)

    def _out_channels(self, channels):
        return self.filters

    def build(self, input_shape):
        self._set_geometry(input_shape)
        mid = self._channels * self.depth_multiplier
        self._mid_dims = self._geo.out_hw + (mid,)
        self.depthwise_kernel = self.add_weight(
            name="depthwise_kernel", shape=self.kernel_size + (self._channels, self.depth_multiplier),
            initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint)
        self.pointwise_kernel = self.add_weight(
            name="pointwise_kernel", shape=(1,) * self.rank + (mid, self.filters),
            initializer=self.pointwise_initializer, regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint)
        self.bias = self._add_bias(self.filters)
        self.built = True

    def _mid(self, ctx, tag):
        return ctx.scratch(tag, int(self._geo.out_hw[0] * self._geo.out_hw[1] * self._mid_dims[-1]),
                           self._mid_dims)

    def _rows(self, view, width):
        """The same buffer as (positions, width) rows: what the dense kernels take."""
        return _review(view, (width,))

    def _forward_calls(self, ctx, out):
        bias, _ = self._bias_refs(ctx)
        mid = self._mid(ctx, "mid")
        ctx.call("conv.depthwise_conv2d_forward", ctx.input(0, self._in_dims),
                 self._kernel_view(ctx, self.depthwise_kernel), ctx.empty(1), mid, *map(ctx.const, self._geo.args()))
        width = self._mid_dims[-1]
        ctx.call("dense.dense_forward", self._rows(mid, width), ctx.weight(self.pointwise_kernel, (self.filters,)),
                 bias, self._rows(out, self.filters))

    def _backward_calls(self, ctx, dy):
        _, dbias = self._bias_refs(ctx)
        width = self._mid_dims[-1]
        mid, dmid = self._mid(ctx, "mid"), self._mid(ctx, "dmid")
        pointwise = ctx.weight(self.pointwise_kernel, (self.filters,))
        if ctx.trainable(self.pointwise_kernel):
            ctx.call("dense.dense_backward", self._rows(mid, width), pointwise, self._rows(dy, self.filters),
                     self._rows(dmid, width), ctx.grad(self.pointwise_kernel, (self.filters,)), dbias,
                     ctx.accumulate)
        else:
            ctx.call("gemm.gemm", ctx.const(False), ctx.const(True), ctx.const(1.0), self._rows(dy, self.filters),
                     pointwise, ctx.const(0.0), self._rows(dmid, width))
        ctx.call("conv.depthwise_conv2d_backward", ctx.input(0, self._in_dims),
                 self._kernel_view(ctx, self.depthwise_kernel), dmid, ctx.d_input(0, self._in_dims),
                 self._kernel_grad(ctx, self.depthwise_kernel, "ddepthwise_sink"), ctx.empty(1),
                 *map(ctx.const, self._geo.args()), ctx.accumulate)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters, depth_multiplier=self.depth_multiplier,
            depthwise_initializer=initializers.serialize(self.depthwise_initializer),
            pointwise_initializer=initializers.serialize(self.pointwise_initializer),
            bias_initializer=initializers.serialize(self.bias_initializer),
            depthwise_regularizer=_serialize(regularizers_module, self.depthwise_regularizer),
            pointwise_regularizer=_serialize(regularizers_module, self.pointwise_regularizer),
            bias_regularizer=_serialize(regularizers_module, self.bias_regularizer),
            depthwise_constraint=_serialize(constraints_module, self.depthwise_constraint),
            pointwise_constraint=_serialize(constraints_module, self.pointwise_constraint),
            bias_constraint=_serialize(constraints_module, self.bias_constraint))
        return config


class SeparableConv2D(_SeparableConv):
    """Depthwise (kh, kw, in, depth_multiplier) then pointwise (1, 1, in * depth_multiplier, filters)."""

    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
                         activation, use_bias, depthwise_initializer, pointwise_initializer, bias_initializer,
                         depthwise_regularizer, pointwise_regularizer, bias_regularizer, activity_regularizer,
                         depthwise_constraint, pointwise_constraint, bias_constraint, **kwargs)


class SeparableConv1D(_SeparableConv):
    """Depthwise (k, in, depth_multiplier) then pointwise (1, in * depth_multiplier, filters)."""

    rank = 1


# ----------------------------------------------------------------------------------------- Transpose 1D/2D
class _ConvTranspose(_ConvBase):
    """The input gradient of a convolution, as a layer (decoders): kernel (*kernel_size, filters, in).

    Output length (Keras 3): 'valid' (n - 1) * s + extent + output_padding (default max(extent, s) - extent);
    'same' n * s, or (n - 1) * s + extent % 2 + output_padding when output_padding is given. See conv_utils."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        owner = type(self).__name__
        self.filters = conv_utils.positive_int(filters, "filters", owner)
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         activity_regularizer, **kwargs)
        self.output_padding = None if output_padding is None else conv_utils.normalize_tuple(
            output_padding, self.rank, "output_padding", owner, allow_zero=True)
        if self.output_padding is not None and any(p >= s for p, s in zip(self.output_padding, self.strides)):
            raise ValueError(f"{owner}: `output_padding` must be smaller than `strides` in every dimension, got "
                             f"output_padding={self.output_padding} and strides={self.strides}")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers_module.get(kernel_regularizer)
        self.bias_regularizer = regularizers_module.get(bias_regularizer)
        self.kernel_constraint = constraints_module.get(kernel_constraint)
        self.bias_constraint = constraints_module.get(bias_constraint)

    def _geometry(self, input_shape):
        return conv_utils.transpose_geometry(input_shape[1:-1], self.kernel_size, self.strides, self.dilation_rate,
                                             self.padding, self.output_padding, self._owner())

    def _out_channels(self, channels):
        return self.filters

    def build(self, input_shape):
        self._set_geometry(input_shape)
        self.kernel = self.add_weight(name="kernel", shape=self.kernel_size + (self.filters, self._channels),
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self._add_bias(self.filters)
        self.built = True

    def _per_image(self):
        # The kernels' patch matrix is the one of the convolution whose input gradient this is: input-sized.
        g = self._geo
        return g.in_hw + g.k_hw + (self.filters, 1)

    def _forward_calls(self, ctx, out):
        bias, _ = self._bias_refs(ctx)
        ctx.call("conv.conv2d_transpose_forward", ctx.input(0, self._in_dims), self._kernel_view(ctx, self.kernel),
                 bias, out, self._cols(ctx, "cols_forward", self._per_image()), *map(ctx.const, self._geo.args()))

    def _backward_calls(self, ctx, dy):
        _, dbias = self._bias_refs(ctx)
        ctx.call("conv.conv2d_transpose_backward", ctx.input(0, self._in_dims), self._kernel_view(ctx, self.kernel),
                 dy, ctx.d_input(0, self._in_dims), self._kernel_grad(ctx, self.kernel, "dkernel_sink"), dbias,
                 self._cols(ctx, "cols_backward", self._per_image()), *map(ctx.const, self._geo.args()),
                 ctx.accumulate)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters, output_padding=self.output_padding,
            kernel_initializer=initializers.serialize(self.kernel_initializer),
            bias_initializer=initializers.serialize(self.bias_initializer),
            kernel_regularizer=_serialize(regularizers_module, self.kernel_regularizer),
            bias_regularizer=_serialize(regularizers_module, self.bias_regularizer),
            kernel_constraint=_serialize(constraints_module, self.kernel_constraint),
            bias_constraint=_serialize(constraints_module, self.bias_constraint))
        return config


class Conv2DTranspose(_ConvTranspose):
    """Transposed 2-D convolution: kernel (kh, kw, filters, in)."""

    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(filters, kernel_size, strides, padding, output_padding, data_format, dilation_rate,
                         activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                         bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint, **kwargs)


class Conv1DTranspose(_ConvTranspose):
    """Transposed 1-D convolution: kernel (k, filters, in)."""

    rank = 1


# Keras 3's exported aliases.
Convolution1D, Convolution2D = Conv1D, Conv2D
Convolution1DTranspose, Convolution2DTranspose = Conv1DTranspose, Conv2DTranspose
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D
