"""GaussianNoise, GaussianDropout and AlphaDropout (Keras 3 formulas in kernels/cpu/noise.py).

Each is the identity at inference; in a training step it perturbs its input with noise drawn from the step's
uniforms (``ctx.random``): two uniforms give two normals (Box-Muller) for the Gaussian layers, one uniform per
value decides AlphaDropout's mask. The training flag goes to the kernels, so the descriptions have no branch. A
layer whose rate (or stddev) is 0 is the identity always and describes no call at all.
"""

import numbers

from .base import Layer


def _fraction(value, what, owner, upper_open=False):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not (0.0 <= value < 1.0 if upper_open else 0.0 <= value <= 1.0):
        bound = "[0, 1)" if upper_open else "[0, 1]"
        raise ValueError(f"{owner}: `{what}` must be a float in {bound}, got {value!r}")
    return float(value)


def _normal_uniforms(width):
    """Uniforms per sample for ``width`` normals: pairs, so an odd width rounds up (see kernels/cpu/noise.py)."""
    return width + width % 2


class GaussianNoise(Layer):
    """Adds N(0, stddev^2) noise in training (Keras 3: ``stddev`` in [0, 1])."""

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.stddev = _fraction(stddev, "stddev", "GaussianNoise")
        self.seed = seed

    @property
    def aliases_input(self):
        return self.stddev == 0.0

    def describe_forward(self, ctx):
        u = ctx.random(_normal_uniforms(ctx.output().buf.width))
        ctx.call("noise.gaussian_noise_forward", ctx.input(), u, ctx.const(self.stddev), ctx.training, ctx.output())

    def describe_backward(self, ctx):
        if ctx.needs_d_input(0):
            ctx.call("noise.gaussian_noise_backward", ctx.d_output(), ctx.d_input(0))

    def get_config(self):
        config = super().get_config()
        config.update(stddev=self.stddev, seed=self.seed)
        return config


class GaussianDropout(Layer):
    """Multiplies by N(1, rate / (1 - rate)) noise in training. Keras accepts rate 1 and then fails when it
    trains (a division by zero); nbkeras refuses it here."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _fraction(rate, "rate", "GaussianDropout", upper_open=True)
        self.seed = seed

    @property
    def aliases_input(self):
        return self.rate == 0.0

    def describe_forward(self, ctx):
        u = ctx.random(_normal_uniforms(ctx.output().buf.width))
        ctx.call("noise.gaussian_dropout_forward", ctx.input(), u, ctx.const(self.rate), ctx.training, ctx.output())

    def describe_backward(self, ctx):
        if ctx.needs_d_input(0):
            u = ctx.random(_normal_uniforms(ctx.output().buf.width))
            ctx.call("noise.gaussian_dropout_backward", u, ctx.const(self.rate), ctx.training, ctx.d_output(),
                     ctx.d_input(0))

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config


class AlphaDropout(Layer):
    """Keras 3's AlphaDropout: dropped values are set to SELU's negative saturation and an affine map restores
    the mean and variance (for self-normalizing networks). Rate 1 (an infinite scale in Keras's formula) is
    refused; ``noise_shape`` other than None is not supported."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _fraction(rate, "rate", "AlphaDropout", upper_open=True)
        if noise_shape is not None:
            raise ValueError(f"AlphaDropout: `noise_shape` is not supported by nbkeras yet (got {noise_shape!r})")
        self.noise_shape = None
        self.seed = seed

    @property
    def aliases_input(self):
        return self.rate == 0.0

    def describe_forward(self, ctx):
        u = ctx.random(ctx.output().buf.width)
        ctx.call("noise.alpha_dropout_forward", ctx.input(), u, ctx.const(self.rate), ctx.training, ctx.output())

    def describe_backward(self, ctx):
        if ctx.needs_d_input(0):
            u = ctx.random(ctx.output().buf.width)
            ctx.call("noise.alpha_dropout_backward", u, ctx.const(self.rate), ctx.training, ctx.d_output(),
                     ctx.d_input(0))

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed, noise_shape=self.noise_shape)
        return config
