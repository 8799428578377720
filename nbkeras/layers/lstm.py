"""LSTM: gates i, f, c, o; c' = f c + i g, h' = o act(c') over the time steps (kernels/cpu/recurrent.py)."""

import numpy as np

from .rnn import RNNLayer


class LSTM(RNNLayer):
    """Keras 3's LSTM. Weights: kernel (features, 4 units), recurrent_kernel (units, 4 units), bias (4 units,),
    gate blocks in Keras's order i, f, c, o. ``unit_forget_bias`` starts the forget gate's bias at 1."""

    _kind = "lstm"
    _gates = 4
    _n_states = 2

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, use_cudnn="auto", **kwargs):
        if use_cudnn not in ("auto", True, False):
            raise ValueError(f"LSTM: `use_cudnn` must be one of 'auto', True, False, got {use_cudnn!r}")
        self.use_cudnn = use_cudnn
        self.unit_forget_bias = bool(unit_forget_bias)
        self._setup(units, activation, recurrent_activation, use_bias, kernel_initializer, recurrent_initializer,
                    bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
                    recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed, return_sequences,
                    return_state, go_backwards, stateful, unroll,
                    dict(kwargs, activity_regularizer=activity_regularizer))

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        base, u = self.bias_initializer, self.units

        def forget_bias_one(shape, dtype=None):
            # Keras: [bias_initializer(u), ones(u), bias_initializer(2u)]
            return np.concatenate([np.asarray(base((u,), dtype=dtype)), np.ones(u, dtype),
                                   np.asarray(base((2 * u,), dtype=dtype))])

        return forget_bias_one

    def _forward_call(self, ctx, r):
        k, rk, b = self._weight_refs(ctx)
        act, ract = self._codes()
        ctx.call("recurrent.lstm_forward", r["x"], r["s0_0"], r["s0_1"], k, rk, b, r["mask"], r["dmask_x"],
                 r["dmask_h"], ctx.const(act), ctx.const(ract), ctx.const(self.go_backwards),
                 ctx.const(self.zero_output_for_mask), r["seq"], r["sT_0"], r["sT_1"], r["cache"])

    def _backward_call(self, ctx, r, dseq, d_final, dx, d_init, grads):
        k, rk, b = self._weight_refs(ctx)
        act, ract = self._codes()
        ctx.call("recurrent.lstm_backward", r["x"], r["s0_0"], r["s0_1"], k, rk, b, r["mask"], r["dmask_x"],
                 r["dmask_h"], ctx.const(act), ctx.const(ract), ctx.const(self.go_backwards),
                 ctx.const(self.zero_output_for_mask), r["cache"], dseq, d_final[0], d_final[1], dx, d_init[0],
                 d_init[1], *grads, ctx.accumulate)

    def get_config(self):
        config = super().get_config()
        config.update(unit_forget_bias=self.unit_forget_bias, use_cudnn=self.use_cudnn)
        return config


