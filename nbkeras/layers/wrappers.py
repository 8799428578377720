"""Bidirectional and TimeDistributed: layers that describe themselves through an inner layer's description.

A wrapper runs its inner layer's own ``describe_forward`` / ``describe_backward`` with an ``_InnerContext``: a
context whose tensors are the wrapper's buffers (or its scratch), and whose shapes are the inner layer's.
TimeDistributed shows the inner layer each (batch, T, ...) buffer as a batch of N*T samples: the same buffer,
re-viewed, with every per-sample size the inner layer asks for (scratch, uniforms) scaled by T -- the buffers it
sees report their per-step width, and are mapped back to the real buffers when it adds a call.
"""

import math

from ..errors import check_kwargs
from .base import KerasTensor, Layer, Node, is_symbolic
from .masking import copy_mask, get_mask
from .rnn import RNNLayer, _as_states


class _StepBuffer:
    """What an inner layer sees of a wrapper buffer: ``width`` per inner sample (the real width / scale)."""

    __slots__ = ("real", "width", "name")

    def __init__(self, real, scale):
        self.real, self.width, self.name = real, real.width // scale, real.name


class _InnerContext:
    """The LayerContext interface for an inner layer's node (see program.LayerContext)."""

    def __init__(self, parent, node, prefix, scale, in_bufs, out_bufs, d_out_bufs=None, d_in_bufs=None):
        self._parent, self.node, self.layer = parent, node, node.layer
        self._prefix, self._scale = prefix, int(scale)
        self._in, self._out, self._dout, self._din = in_bufs, out_bufs, d_out_bufs, d_in_bufs
        self.accumulate = parent.accumulate
        self.training = parent.training

    def _view(self, buf, dims):
        from ..models.program import View

        return View(_StepBuffer(buf, self._scale) if self._scale != 1 else buf, dims)

    input_shapes = property(lambda self: [tuple(t.shape) for t in self.node.inputs])
    input_shape = property(lambda self: tuple(self.node.inputs[0].shape))
    output_shape = property(lambda self: tuple(self.node.outputs[0].shape))
    output_shapes = property(lambda self: [tuple(t.shape) for t in self.node.outputs])

    def input(self, i=0, dims=()):
        return self._view(self._in[i], dims)

    def output(self, dims=(), index=0):
        return self._view(self._out[index], dims)

    def d_output(self, dims=(), index=0):
        return self._view(self._dout[index], dims)

    def needs_d_input(self, i=0):
        return self._din[i] is not None

    def d_input(self, i=0, dims=()):
        buf = self._din[i]
        return self._view(buf, dims) if buf is not None else self._parent.empty(len(dims) + 1)

    def weight(self, var, dims=None):
        return self._parent.weight(var, dims)

    def trainable(self, var):
        return self._parent.trainable(var)

    def grad(self, var, dims=None):
        return self._parent.grad(var, dims)

    def grad_or_empty(self, var, dims=None):
        return self._parent.grad_or_empty(var, dims)

    def const(self, value):
        return self._parent.const(value)

    def empty(self, rank):
        return self._parent.empty(rank)

    def scratch(self, tag, width, dims=(), per_sample=True):
        width = int(width) * (self._scale if per_sample else 1)
        view = self._parent.scratch((self._prefix, tag), width, (), per_sample)
        return self._view(view.buf, dims) if per_sample else type(view)(view.buf, dims)

    def random(self, width, dims=()):
        # One uniform buffer per (wrapper node, inner layer): LayerContext keys them by node only.
        buf = self._parent._b.random((id(self._parent.node), self._prefix), int(width) * self._scale)
        return self._view(buf, dims)

    def call(self, fn, *args):
        from ..models.program import View

        self._parent.call(fn, *[View(a.buf.real, a.dims) if isinstance(a, View) and isinstance(a.buf, _StepBuffer)
                                else a for a in args])


def _buf(view):
    from ..models.program import View

    return view.buf if isinstance(view, View) else None


def _layer_from(config):
    from .. import layers

    if isinstance(config, Layer):
        return config
    cls = getattr(layers, config["class_name"])
    return cls.from_config(dict(config["config"]))


def _serialize_layer(layer):
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


# ============================================================================================== Bidirectional
_MERGE_CODES = {"concat": 0, "sum": 1, "mul": 2, "ave": 3}


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy backwards over the sequence and merges the two outputs
    (``merge_mode`` concat, sum, mul, ave, or None for both). Weights: the forward layer's, then the backward
    layer's. The backward output is flipped back into time order when sequences are returned (Keras)."""

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        layer = _layer_from(layer)
        if not isinstance(layer, RNNLayer):
            raise ValueError(f"Bidirectional: `layer` must be a recurrent layer (SimpleRNN, LSTM, GRU), got "
                             f"{layer!r}")
        if merge_mode not in ("sum", "mul", "ave", "concat", None):
            raise ValueError(f"Bidirectional: invalid `merge_mode` {merge_mode!r}; expected one of "
                             f'{{"sum", "mul", "ave", "concat", None}}')
        super().__init__(**kwargs)
        config = layer.get_config()
        self.forward_layer = type(layer).from_config({**config, "name": "forward_" + _strip(layer.name, "forward_")})
        if backward_layer is None:
            self.backward_layer = type(layer).from_config(
                {**config, "go_backwards": not layer.go_backwards,
                 "name": "backward_" + _strip(layer.name, "backward_")})
        else:
            backward_layer = _layer_from(backward_layer)
            if not isinstance(backward_layer, RNNLayer):
                raise ValueError(f"Bidirectional: `backward_layer` must be a recurrent layer, got {backward_layer!r}")
            self.backward_layer = backward_layer
        if self.forward_layer.go_backwards == self.backward_layer.go_backwards:
            raise ValueError("Bidirectional: the forward and backward layers must have different `go_backwards`")
        for a in ("stateful", "return_sequences", "return_state"):
            if getattr(self.forward_layer, a) != getattr(self.backward_layer, a):
                raise ValueError(f"Bidirectional: the forward and backward layers must have the same `{a}`")
        for inner in (self.forward_layer, self.backward_layer):
            inner.zero_output_for_mask = inner.return_sequences  # Keras forces this
        self.merge_mode = merge_mode
        self.stateful = layer.stateful
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.supports_masking = True
        self._mask_counts = set()
        self._batch_hint = None
        if weights:
            half = len(weights) // 2
            self.forward_layer._initial_weights = weights[:half]
            self.backward_layer._initial_weights = weights[half:]

    # ------------------------------------------------------------ shapes and weights
    def _check_input_shape(self, input_shape):
        self.forward_layer._check_input_shape(input_shape)

    def build(self, input_shape):
        for inner in (self.forward_layer, self.backward_layer):
            if inner.stateful and inner._fixed_batch_size is None:
                inner._fixed_batch_size = self._batch_hint
            inner._maybe_build(input_shape)
        self._weights = list(self.forward_layer._weights) + list(self.backward_layer._weights)
        self.built = True

    @property
    def weights(self):
        return self.forward_layer.weights + self.backward_layer.weights

    @property
    def trainable_weights(self):
        return self.forward_layer.trainable_weights + self.backward_layer.trainable_weights if self.trainable else []

    @property
    def non_trainable_weights(self):
        ids = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in ids]

    def weight_regularizers(self):
        return self.forward_layer.weight_regularizers() + self.backward_layer.weight_regularizers()

    def weight_constraints(self):
        return self.forward_layer.weight_constraints() + self.backward_layer.weight_constraints()

    def compute_output_shape(self, input_shape):
        f = self.forward_layer.compute_output_shape(input_shape)
        b = self.backward_layer.compute_output_shape(input_shape)
        f, fs = (f[0], f[1:]) if self.return_state else (f, [])
        b, bs = (b[0], b[1:]) if self.return_state else (b, [])
        if self.merge_mode == "concat":
            out = [tuple(f[:-1]) + (f[-1] + b[-1],)]
        elif self.merge_mode is None:
            out = [tuple(f), tuple(b)]
        else:
            out = [tuple(f)]
        out += [tuple(s) for s in fs] + [tuple(s) for s in bs]
        return out if len(out) > 1 else out[0]

    def reset_states(self, states=None):
        self.forward_layer.reset_states()
        self.backward_layer.reset_states()

    reset_state = reset_states

    # ------------------------------------------------------------ calls
    def __call__(self, inputs, initial_state=None, mask=None, training=None, **kwargs):
        check_kwargs(kwargs, ("constants",), "Bidirectional.__call__")
        if isinstance(inputs, (list, tuple)):
            inputs, initial_state = inputs[0], list(inputs[1:]) or None
        states = _as_states(initial_state)
        k = self.forward_layer._n_states
        if states and len(states) != 2 * k:
            raise ValueError(f"Bidirectional {self.name!r}: `initial_state` must hold {2 * k} tensors (forward "
                             f"states, then backward states), got {len(states)}")
        symbolic = is_symbolic([inputs] + states) or isinstance(mask, KerasTensor)
        if symbolic and mask is None:
            mask = get_mask(inputs)
        x_shape = tuple(inputs.shape) if symbolic else (None,) + tuple(inputs.shape[1:])
        if self.stateful and not self.built:
            from .rnn import static_batch_size

            self._batch_hint = static_batch_size(inputs) if symbolic else inputs.shape[0]
        for side, side_states in ((self.forward_layer, states[:k]), (self.backward_layer, states[k:])):
            side._check_call(x_shape, [(None,) + tuple(s.shape[1:]) for s in side_states],
                             None if mask is None else (None,) + tuple(mask.shape[1:]))
        if symbolic:
            return self._call_graph(inputs, states, mask)
        return self._call_arrays(inputs, states, mask, bool(training))

    def _outputs(self, in_shape, node_index):
        shapes = self.compute_output_shape(in_shape)
        shapes = shapes if isinstance(shapes, list) else [shapes]
        return [KerasTensor(s, self.dtype, name=self.name,
                            history=None if node_index is None else (self, node_index, i))
                for i, s in enumerate(shapes)]

    def _call_graph(self, x, states, mask):
        self._maybe_build(x.shape)
        ins = [x] + states + ([mask] if mask is not None else [])
        outs = self._outputs(x.shape, len(self._inbound_nodes))
        node = Node(self, ins, outs)
        node._rnn_layout = (len(states) // 2, mask is not None)
        if mask is not None:
            self._mask_counts.add(len(ins))
        self._inbound_nodes.append(node)
        if self.return_sequences:
            copy_mask(x, outs[0])
        return outs if len(outs) > 1 else outs[0]

    def _call_arrays(self, x, states, mask, training):
        import numpy as np

        from ..models.eager import run_forward
        from ..models.program import ExecutionGraph

        arrays = [np.ascontiguousarray(np.asarray(a, dtype=self.dtype)) for a in [x] + states]
        if mask is not None:
            arrays.append(np.ascontiguousarray(np.asarray(mask).astype(self.dtype)))
        ins = [KerasTensor((None,) + a.shape[1:], self.dtype) for a in arrays]
        self._maybe_build(ins[0].shape)
        outs = self._outputs(ins[0].shape, None)
        node = Node(self, ins, outs)
        node._rnn_layout = (len(states) // 2, mask is not None)
        results = run_forward(ExecutionGraph(ins, [node], outs), arrays, training, self.dtype)
        return results if len(results) > 1 else results[0]

    def gradient_inputs(self, count):
        flows = [True] * count
        if count in self._mask_counts:
            flows[-1] = False  # the mask
        return flows

    # ------------------------------------------------------------ description
    def _sides(self, ctx, backward):
        """Per side: (prefix, layer, inner context)."""
        k, has_mask = ctx.node._rnn_layout
        ins = ctx.node.inputs
        n_merged = 2 if self.merge_mode is None else 1
        u = self.forward_layer.units
        sides = []
        for s, (prefix, layer) in enumerate((("forward", self.forward_layer), ("backward", self.backward_layer))):
            idx = [0] + [1 + s * k + i for i in range(k)] + ([len(ins) - 1] if has_mask else [])
            node_ins = [ins[i] for i in idx]
            shapes = layer.compute_output_shape(tuple(ins[0].shape))
            shapes = shapes if layer.return_state else [shapes]
            fake = Node(layer, node_ins, [KerasTensor(sh, layer.dtype) for sh in shapes])
            fake._rnn_layout = (k, has_mask)
            n_states = len(shapes) - 1
            state_idx = [n_merged + s * n_states + i for i in range(n_states)]
            width0 = math.prod(shapes[0][1:])
            if self.merge_mode is None and s == 0:
                y0 = _buf(ctx.output((), 0))
            else:
                y0 = ctx.scratch(f"{prefix}_y", width0).buf
            out_bufs = [y0] + [_buf(ctx.output((), i)) for i in state_idx]
            in_bufs = [_buf(ctx.input(i)) for i in idx]
            d_out = d_in = None
            if backward:
                if self.merge_mode is None and s == 0:
                    dy0 = _buf(ctx.d_output((), 0))
                else:
                    dy0 = ctx.scratch(f"{prefix}_dy", width0).buf
                d_out = [dy0] + [_buf(ctx.d_output((), i)) for i in state_idx]
                d_in = [_buf(ctx.d_input(i)) for i in idx]
                if s == 1 and d_in[0] is not None:
                    d_in[0] = ctx.scratch("backward_dx", d_in[0].width).buf
                if has_mask:
                    d_in[-1] = None
            sides.append((prefix, layer, _InnerContext(ctx, fake, prefix, 1, in_bufs, out_bufs, d_out, d_in),
                          width0 // u))
        return sides

    def describe_forward(self, ctx):
        from ..models.program import View

        sides = self._sides(ctx, False)
        for _, layer, inner, _ in sides:
            layer.describe_forward(inner)
        u = self.forward_layer.units
        steps = sides[0][3]
        a, b = View(sides[0][2]._out[0], (steps, u)), View(sides[1][2]._out[0], (steps, u))
        if self.merge_mode is None and self.return_sequences:
            ctx.call("recurrent.reverse_time", b, ctx.output((steps, u), 1))
        elif self.merge_mode is None:
            ctx.call("tensor_ops.copy_into", ctx.output((), 1), View(b.buf))
        else:
            ctx.call("recurrent.merge_pair_forward", a, b, ctx.const(_MERGE_CODES[self.merge_mode]),
                     ctx.const(self.return_sequences), ctx.output((steps, ctx.output_shape[-1])))

    def describe_backward(self, ctx):
        from ..models.program import View

        sides = self._sides(ctx, True)
        u = self.forward_layer.units
        steps = sides[0][3]
        da, db = View(sides[0][2]._dout[0], (steps, u)), View(sides[1][2]._dout[0], (steps, u))
        if self.merge_mode is None:
            if self.return_sequences:
                ctx.call("recurrent.reverse_time", ctx.d_output((steps, u), 1), db)
            else:
                ctx.call("tensor_ops.copy_into", View(db.buf), ctx.d_output((), 1))
        else:
            a, b = View(sides[0][2]._out[0], (steps, u)), View(sides[1][2]._out[0], (steps, u))
            ctx.call("recurrent.merge_pair_backward", a, b, ctx.d_output((steps, ctx.output_shape[-1])),
                     ctx.const(_MERGE_CODES[self.merge_mode]), ctx.const(self.return_sequences), da, db)
        for _, layer, inner, _ in sides:
            layer.describe_backward(inner)
        if ctx.needs_d_input(0):
            ctx.call("tensor_ops.add_into", ctx.d_input(0), View(sides[1][2]._din[0]))

    def get_config(self):
        config = super().get_config()
        config.update(merge_mode=self.merge_mode, layer=_serialize_layer(self.forward_layer),
                      backward_layer=_serialize_layer(self.backward_layer))
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = _layer_from(config["layer"])
        if config.get("backward_layer") is not None:
            config["backward_layer"] = _layer_from(config["backward_layer"])
        return cls(**config)


def _strip(name, prefix):
    return name[len(prefix):] if name.startswith(prefix) else name


# ============================================================================================== TimeDistributed
class TimeDistributed(Layer):
    """Applies ``layer`` to every time step: (batch, T, ...) -> (batch, T, ...out), the inner layer seeing the
    same buffers as a batch of batch*T samples. Weights are the inner layer's (shared across steps)."""

    def __init__(self, layer, **kwargs):
        layer = _layer_from(layer)
        if not isinstance(layer, Layer):
            raise ValueError(f"TimeDistributed: `layer` must be a Layer, got {layer!r}")
        super().__init__(**kwargs)
        self.layer = layer
        self.supports_masking = True

    def _step_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[2:])

    def _check_input_shape(self, input_shape):
        if isinstance(input_shape, list) or len(input_shape) < 3:
            raise ValueError(f"TimeDistributed {self.name!r}: the input must be at least 3-D (batch, timesteps, "
                             f"...), got shape {input_shape}")
        if input_shape[1] is None:
            raise ValueError(f"TimeDistributed {self.name!r}: the number of timesteps must be known, got "
                             f"{input_shape}")
        self.layer._check_input_shape(self._step_shape(input_shape))

    def build(self, input_shape):
        self.layer._maybe_build(self._step_shape(input_shape))
        self.built = True

    @property
    def weights(self):
        return self.layer.weights

    @property
    def trainable_weights(self):
        return self.layer.trainable_weights if self.trainable else []

    @property
    def non_trainable_weights(self):
        ids = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in ids]

    def weight_regularizers(self):
        return self.layer.weight_regularizers()

    def weight_constraints(self):
        return self.layer.weight_constraints()

    def count_params(self):
        return self.layer.count_params()

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape(self._step_shape(input_shape))
        return (input_shape[0], input_shape[1]) + tuple(inner[1:])

    @property
    def aliases_input(self):
        return self.layer.aliases_input

    @property
    def differentiable(self):
        return self.layer.differentiable

    def gradient_inputs(self, count):
        return self.layer.gradient_inputs(count)

    def __call__(self, inputs, training=None, mask=None, **kwargs):
        out = super().__call__(inputs, training=training, **kwargs)
        return copy_mask(inputs, out) if isinstance(inputs, KerasTensor) else out

    def _inner(self, ctx, backward):
        steps = ctx.input_shape[1]
        ins = [KerasTensor(self._step_shape(ctx.input_shape), self.dtype)]
        out = KerasTensor(self.layer.compute_output_shape(ins[0].shape), self.dtype)
        fake = Node(self.layer, ins, [out])
        fake._rnn_layout = (0, False)
        d_out = [_buf(ctx.d_output())] if backward else None
        d_in = [_buf(ctx.d_input(0))] if backward else None
        return _InnerContext(ctx, fake, "inner", steps, [_buf(ctx.input(0))], [_buf(ctx.output())], d_out, d_in)

    def describe_forward(self, ctx):
        self.layer.describe_forward(self._inner(ctx, False))

    def describe_backward(self, ctx):
        self.layer.describe_backward(self._inner(ctx, True))

    def get_config(self):
        config = super().get_config()
        config["layer"] = _serialize_layer(self.layer)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = _layer_from(config["layer"])
        return cls(**config)


