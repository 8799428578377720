"""SpatialDropout1D/2D: dropout of whole channels (Keras's Dropout with noise_shape (batch, 1, ..., 1, channels)).

Each training step draws one uniform per sample and channel (``ctx.random(C)``); channel c of sample n is kept, and
scaled by 1 / (1 - rate), when its uniform is >= rate. At inference the layer is the identity; the flag is the
kernel's, so the description has no branch.
"""

import numpy as np

from .base import Layer
from .conv_utils import check_data_format, check_spatial_input


class _SpatialDropout(Layer):
    rank = 2

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating)) or not 0.0 <= rate <= 1.0:
            raise ValueError(f"{owner}: `rate` must be a float in [0, 1], got {rate!r}")
        self.rate = float(rate)
        self.seed = seed

    @property
    def aliases_input(self):
        return self.rate == 0.0

    def _check_input_shape(self, input_shape):
        check_spatial_input(input_shape, self.rank, type(self).__name__)

    def _views(self, shape):
        """(positions S, channels C): the kernels see a (batch, S, C) tensor."""
        s = 1
        for d in shape[1:-1]:
            s *= d
        return (s, shape[-1])

    def describe_forward(self, ctx):
        dims = self._views(ctx.input_shape)
        u = ctx.random(dims[1])  # flat: a step that does not train draws none, and (N, C) would not fit
        ctx.call("shape_ops.spatial_dropout_forward", ctx.input(0, dims), u, ctx.const(self.rate), ctx.training,
                 ctx.output(dims))

    def describe_backward(self, ctx):
        if ctx.needs_d_input(0):
            dims = self._views(ctx.input_shape)
            u = ctx.random(dims[1])
            ctx.call("shape_ops.spatial_dropout_backward", u, ctx.const(self.rate), ctx.training, ctx.d_output(dims),
                     ctx.d_input(0, dims))

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config


class SpatialDropout1D(_SpatialDropout):
    """Drops whole channels of a (batch, steps, channels) input."""

    rank = 1

    def __init__(self, rate, seed=None, name=None, dtype=None, **kwargs):
        super().__init__(rate, seed=seed, name=name, dtype=dtype, **kwargs)


class SpatialDropout2D(_SpatialDropout):
    """Drops whole channels of a (batch, height, width, channels) input."""

    rank = 2

    def __init__(self, rate, data_format=None, seed=None, name=None, dtype=None, **kwargs):
        super().__init__(rate, seed=seed, name=name, dtype=dtype, **kwargs)
        self.data_format = check_data_format(data_format, "SpatialDropout2D")

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config
