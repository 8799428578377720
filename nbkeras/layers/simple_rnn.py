"""SimpleRNN: h' = activation(x K + h R + b) over the time steps (kernels/cpu/recurrent.py)."""

from .rnn import RNNLayer


class SimpleRNN(RNNLayer):
    """Keras 3's SimpleRNN. Weights: kernel (features, units), recurrent_kernel (units, units), bias (units,)."""

    _kind = "simple_rnn"
    _gates = 1
    _n_states = 1

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, seed=None, **kwargs):
        self._setup(units, activation, None, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                    kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
                    recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed, return_sequences,
                    return_state, go_backwards, stateful, unroll,
                    dict(kwargs, activity_regularizer=activity_regularizer))

    def _forward_call(self, ctx, r):
        k, rk, b = self._weight_refs(ctx)
        act, _ = self._codes()
        ctx.call("recurrent.simple_rnn_forward", r["x"], r["s0_0"], k, rk, b, r["mask"], r["dmask_x"], r["dmask_h"],
                 ctx.const(act), ctx.const(self.go_backwards), ctx.const(self.zero_output_for_mask), r["seq"],
                 r["sT_0"], r["cache"])

    def _backward_call(self, ctx, r, dseq, d_final, dx, d_init, grads):
        k, rk, b = self._weight_refs(ctx)
        act, _ = self._codes()
        ctx.call("recurrent.simple_rnn_backward", r["x"], r["s0_0"], k, rk, b, r["mask"], r["dmask_x"],
                 r["dmask_h"], ctx.const(act), ctx.const(self.go_backwards), ctx.const(self.zero_output_for_mask),
                 r["cache"], dseq, d_final[0], dx, d_init[0], *grads, ctx.accumulate)
