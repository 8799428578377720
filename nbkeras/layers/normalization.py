"""BatchNormalization over the last axis.

Training (Keras 3, ``training=True`` and ``layer.trainable``): normalize with the batch's mean and biased variance
over every axis but the last, and move the statistics

    moving_mean     = moving_mean * momentum     + mean     * (1 - momentum)
    moving_variance = moving_variance * momentum + variance * (1 - momentum)

inside the step (the forward kernel writes the two non-trainable weights). Otherwise normalize with the moving
statistics. Keras 3's rule: a layer with ``trainable=False`` always runs in inference mode, even inside ``fit``
(Keras 2.0-2.2 did not), so its flag is a constant False rather than the step's training flag.

    out = gamma * (x - mean) / sqrt(variance + epsilon) + beta        (epsilon inside the square root)
"""

from .. import constraints, initializers, regularizers
from .base import Layer


def _serialize(module, obj):
    return None if obj is None else module.serialize(obj)


class BatchNormalization(Layer):
    """Keras 3's BatchNormalization for ``axis=-1`` (channels_last). Weights, in Keras's order: gamma (scale),
    beta (center), moving_mean and moving_variance (non-trainable), each of length C."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 renorm=False, renorm_clipping=None, renorm_momentum=0.99, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"BatchNormalization: `axis` must be an integer, got {axis!r} (nbkeras normalizes "
                             f"the last axis only: axis=-1)")
        self.axis = int(axis)
        if renorm:
            raise ValueError("BatchNormalization: `renorm=True` is not supported by nbkeras")
        if synchronized:
            raise ValueError("BatchNormalization: `synchronized=True` is only supported with the TensorFlow "
                             "backend")
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        if not self.epsilon > 0.0:
            raise ValueError(f"BatchNormalization: `epsilon` must be positive, got {epsilon!r}")
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.renorm, self.renorm_clipping, self.renorm_momentum = False, renorm_clipping, renorm_momentum
        self.synchronized = False
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None

    def _check_input_shape(self, input_shape):
        if isinstance(input_shape, list) or len(input_shape) < 2:
            raise ValueError(f"BatchNormalization: expected an input of rank >= 2 (batch, ..., features), got "
                             f"shape {input_shape}")
        rank = len(input_shape)
        if self.axis not in (-1, rank - 1):
            raise ValueError(f"BatchNormalization: `axis`={self.axis} is not supported: nbkeras normalizes the "
                             f"last axis only (axis=-1, channels_last), input shape {input_shape}")
        if any(d is None for d in input_shape[1:]):
            raise ValueError(f"BatchNormalization: every non-batch dimension of the input must be known, got "
                             f"shape {input_shape}")
        if self.built and input_shape[-1] != self.moving_mean.shape[0]:
            raise ValueError(f"BatchNormalization: expected {self.moving_mean.shape[0]} features on the last "
                             f"axis, got shape {input_shape}")

    def build(self, input_shape):
        shape = (input_shape[-1],)
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer)
        if self.center:
            self.beta = self.add_weight("beta", shape, self.beta_initializer)
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape, self.moving_variance_initializer,
                                               trainable=False)
        self.built = True

    def weight_regularizers(self):
        return [(v, r) for v, r in ((self.gamma, self.gamma_regularizer), (self.beta, self.beta_regularizer))
                if v is not None and r is not None]

    def weight_constraints(self):
        return [(v, c) for v, c in ((self.gamma, self.gamma_constraint), (self.beta, self.beta_constraint))
                if v is not None and c is not None]

    # ------------------------------------------------------------ description
    def _training(self, ctx):
        # Keras 3: a frozen BatchNormalization normalizes with its moving statistics, also inside fit().
        return ctx.training if self.trainable else ctx.const(False)

    def _stats(self, ctx):
        c = self.moving_mean.shape[0]
        width = c
        for d in ctx.input_shape[1:-1]:
            width *= d
        return (ctx.scratch("xhat", width, (c,)), ctx.scratch("mean", c, per_sample=False),
                ctx.scratch("inv_std", c, per_sample=False))

    def describe_forward(self, ctx):
        c = self.moving_mean.shape[0]
        xhat, mean, inv_std = self._stats(ctx)
        gamma = ctx.weight(self.gamma) if self.scale else ctx.empty(1)
        beta = ctx.weight(self.beta) if self.center else ctx.empty(1)
        ctx.call("normalization.batch_norm_forward", ctx.input(0, (c,)), gamma, beta, ctx.weight(self.moving_mean),
                 ctx.weight(self.moving_variance), ctx.output((c,)), xhat, mean, inv_std,
                 ctx.const(self.momentum), ctx.const(self.epsilon), self._training(ctx))

    def describe_backward(self, ctx):
        c = self.moving_mean.shape[0]
        xhat, _, inv_std = self._stats(ctx)
        gamma = ctx.weight(self.gamma) if self.scale else ctx.empty(1)
        dgamma = ctx.grad_or_empty(self.gamma) if self.scale else ctx.empty(1)
        dbeta = ctx.grad_or_empty(self.beta) if self.center else ctx.empty(1)
        ctx.call("normalization.batch_norm_backward", ctx.d_output((c,)), gamma, xhat, inv_std,
                 ctx.d_input(0, (c,)), dgamma, dbeta, self._training(ctx), ctx.accumulate)

    def get_config(self):
        config = super().get_config()
        config.update(
            axis=self.axis, momentum=self.momentum, epsilon=self.epsilon, center=self.center, scale=self.scale,
            beta_initializer=initializers.serialize(self.beta_initializer),
            gamma_initializer=initializers.serialize(self.gamma_initializer),
            moving_mean_initializer=initializers.serialize(self.moving_mean_initializer),
            moving_variance_initializer=initializers.serialize(self.moving_variance_initializer),
            beta_regularizer=_serialize(regularizers, self.beta_regularizer),
            gamma_regularizer=_serialize(regularizers, self.gamma_regularizer),
            beta_constraint=_serialize(constraints, self.beta_constraint),
            gamma_constraint=_serialize(constraints, self.gamma_constraint),
            synchronized=self.synchronized, renorm=self.renorm, renorm_clipping=self.renorm_clipping,
            renorm_momentum=self.renorm_momentum)
        return config
