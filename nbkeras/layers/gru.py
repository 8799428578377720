"""GRU: gates z, r, h; h' = z h + (1 - z) hh over the time steps, both ``reset_after`` forms
(kernels/cpu/recurrent.py)."""

from .rnn import RNNLayer


class GRU(RNNLayer):
    """Keras 3's GRU. Weights: kernel (features, 3 units), recurrent_kernel (units, 3 units), bias (2, 3 units)
    with ``reset_after=True`` (input bias, recurrent bias; Keras 3's default) or (3 units,), gates z, r, h."""

    _kind = "gru"
    _gates = 3
    _n_states = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, reset_after=True, use_cudnn="auto", **kwargs):
        if use_cudnn not in ("auto", True, False):
            raise ValueError(f"GRU: `use_cudnn` must be one of 'auto', True, False, got {use_cudnn!r}")
        self.use_cudnn = use_cudnn
        self.reset_after = bool(reset_after)
        self._setup(units, activation, recurrent_activation, use_bias, kernel_initializer, recurrent_initializer,
                    bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
                    recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed, return_sequences,
                    return_state, go_backwards, stateful, unroll,
                    dict(kwargs, activity_regularizer=activity_regularizer))

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _forward_call(self, ctx, r):
        k, rk, b = self._weight_refs(ctx)
        act, ract = self._codes()
        ctx.call("recurrent.gru_forward", r["x"], r["s0_0"], k, rk, b, r["mask"], r["dmask_x"], r["dmask_h"],
                 ctx.const(act), ctx.const(ract), ctx.const(self.reset_after), ctx.const(self.go_backwards),
                 ctx.const(self.zero_output_for_mask), r["seq"], r["sT_0"], r["cache"])

    def _backward_call(self, ctx, r, dseq, d_final, dx, d_init, grads):
        k, rk, b = self._weight_refs(ctx)
        act, ract = self._codes()
        ctx.call("recurrent.gru_backward", r["x"], r["s0_0"], k, rk, b, r["mask"], r["dmask_x"], r["dmask_h"],
                 ctx.const(act), ctx.const(ract), ctx.const(self.reset_after), ctx.const(self.go_backwards),
                 ctx.const(self.zero_output_for_mask), r["cache"], dseq, d_final[0], dx, d_init[0], *grads,
                 ctx.accumulate)

    def get_config(self):
        config = super().get_config()
        config.update(reset_after=self.reset_after, use_cudnn=self.use_cudnn)
        return config
