"""The recurrent layers' shared machinery: Keras 3's RNN arguments, calls with ``initial_state`` and ``mask``,
several outputs (``return_state``), stateful carried states, dropout masks, and the description of one kernel
call for the whole time loop (forward) and one for backpropagation through time (backward).

A call's node inputs are ``[x, *initial_states, mask?]`` (``node._rnn_layout = (number of states, has mask)``);
its outputs ``[output, *states]`` with ``return_state``. The kernels (kernels/cpu/recurrent.py) hold the math.

Keras facts kept here: ``return_sequences=False`` returns the last processed step's output (``go_backwards``
processes t = T-1 first, and the sequence is returned in processing order); a masked step carries every state and
outputs the previous h (zeros with ``zero_output_for_mask``); a recurrent layer passes its input's mask on only
when it returns sequences; dropout draws one mask per sequence: SimpleRNN one for the inputs and one for the
state, LSTM/GRU one shared input mask, or one per gate for both once ``recurrent_dropout > 0`` (Keras switches the
cell to ``implementation=1``). Stateful layers keep their states in non-trainable weights of shape (batch, units),
updated at the end of every forward pass (training or not), zeroed by ``reset_states()``.
"""

import numpy as np

from .. import activations, constraints, initializers, regularizers
from ..errors import check_kwargs
from ..kernels.cpu.recurrent import ACTIVATIONS
from .base import KerasTensor, Layer, Node, is_symbolic
from .masking import copy_mask, get_mask


def _ser(module, obj):
    return None if obj is None else module.serialize(obj)


def _as_states(initial_state):
    if initial_state is None:
        return []
    if isinstance(initial_state, (list, tuple)):
        return list(initial_state)
    return [initial_state]


def static_batch_size(tensor):
    """The batch size fixed upstream of a symbolic tensor (Input(batch_size=...) or a layer's
    batch_input_shape), or None."""
    seen, todo = set(), [tensor]
    while todo:
        t = todo.pop()
        history = getattr(t, "_keras_history", None)
        if history is None:
            continue
        layer = history[0]
        size = getattr(layer, "batch_size", None) if type(layer).__name__ == "InputLayer" else None
        size = size if size is not None else getattr(layer, "_fixed_batch_size", None)
        if size is not None:
            return int(size)
        node = layer._inbound_nodes[history[1]]
        if id(node) in seen:
            continue
        seen.add(id(node))
        todo.extend(node.inputs)
    return None


class RNNLayer(Layer):
    """Base of SimpleRNN, LSTM and GRU (not Keras's generic ``RNN(cell)``, which needs Python cells)."""

    _kind = "simple_rnn"
    _gates = 1
    _n_states = 1

    def _setup(self, units, activation, recurrent_activation, use_bias, kernel_initializer, recurrent_initializer,
               bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
               recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed, return_sequences,
               return_state, go_backwards, stateful, unroll, kwargs):
        owner = type(self).__name__
        zero_output_for_mask = kwargs.pop("zero_output_for_mask", False)
        self.implementation = kwargs.pop("implementation", 2)
        kwargs.pop("time_major", None)
        self._fixed_batch_size = None
        if kwargs.get("batch_input_shape") is not None:
            self._fixed_batch_size = tuple(kwargs["batch_input_shape"])[0]
        elif kwargs.get("batch_size") is not None:
            self._fixed_batch_size = kwargs["batch_size"]
        Layer.__init__(self, **kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"{owner}: `units` must be a positive integer, got {units!r}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation) if recurrent_activation else None
        for what, spec in (("activation", self.activation), ("recurrent_activation", self.recurrent_activation)):
            if spec is not None and (spec.name not in ACTIVATIONS or spec.kind == "axis"
                                     or spec.params != activations.get(spec.name).params):
                raise ValueError(f"{owner}: `{what}`={spec.name!r} is not supported by nbkeras's recurrent "
                                 f"kernels; use one of {list(ACTIVATIONS)}")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        for what, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)):
                raise ValueError(f"{owner}: `{what}` must be a number in [0, 1], got {rate!r}")
        self.dropout = min(1.0, max(0.0, float(dropout)))  # Keras clamps
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        if self.recurrent_dropout != 0.0:
            self.implementation = 1
        self.seed = seed
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)  # accepted; the time loop is always a compiled loop
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.supports_masking = True
        self.kernel = self.recurrent_kernel = self.bias = None
        self.states = None
        self._mask_counts = set()

    # ------------------------------------------------------------ shapes and weights
    def _check_input_shape(self, input_shape):
        name = type(self).__name__
        if isinstance(input_shape, list) or len(input_shape) != 3:
            raise ValueError(f"{name} {self.name!r}: the input must be 3-D (batch, timesteps, features), got shape "
                             f"{input_shape}")
        if input_shape[1] is None or input_shape[2] is None:
            raise ValueError(f"{name} {self.name!r}: the number of timesteps and features must be known, got "
                             f"shape {input_shape} (give Input(shape=(timesteps, features)))")
        if self.built and input_shape[2] != self.kernel.shape[0]:
            raise ValueError(f"{name} {self.name!r}: expected {self.kernel.shape[0]} features, got shape "
                             f"{input_shape}")

    def _bias_shape(self):
        return (self._gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape):
        d, gu = input_shape[-1], self._gates * self.units
        self.kernel = self.add_weight(shape=(d, gu), name="kernel", initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(shape=(self.units, gu), name="recurrent_kernel",
                                                initializer=self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)
        if self.use_bias:
            self.bias = self.add_weight(shape=self._bias_shape(), name="bias", initializer=self._bias_initializer(),
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        if self.stateful:
            if self._fixed_batch_size is None:
                raise ValueError(f"{type(self).__name__} {self.name!r}: `stateful=True` needs a fixed batch size: "
                                 f"give Input(batch_size=...) or batch_input_shape=(batch, timesteps, features)")
            self.states = [self.add_weight(shape=(self._fixed_batch_size, self.units), name=f"state_{i}",
                                           initializer="zeros", trainable=False) for i in range(self._n_states)]
        self.built = True

    def compute_output_shape(self, input_shape):
        out = (input_shape[0], input_shape[1], self.units) if self.return_sequences else (input_shape[0], self.units)
        if self.return_state:
            return [out] + [(input_shape[0], self.units)] * self._n_states
        return out

    def reset_states(self, states=None):
        """Zero the carried states of a stateful layer (or set them to ``states``, Keras 2)."""
        if not self.stateful or self.states is None:
            return
        values = _as_states(states) if states is not None else [None] * self._n_states
        if len(values) != self._n_states:
            raise ValueError(f"{type(self).__name__} {self.name!r}: reset_states expects {self._n_states} arrays")
        for var, value in zip(self.states, values):
            var.assign(np.zeros(var.shape, var.value.dtype) if value is None else value)

    reset_state = reset_states

    # ------------------------------------------------------------ calls
    def __call__(self, inputs, initial_state=None, mask=None, training=None, **kwargs):
        check_kwargs(kwargs, ("constants",), f"{type(self).__name__}.__call__")
        if isinstance(inputs, (list, tuple)):
            if initial_state is not None or not inputs:
                raise ValueError(f"{type(self).__name__} {self.name!r}: pass states either in the inputs list or as "
                                 f"`initial_state`, not both")
            inputs, initial_state = inputs[0], list(inputs[1:]) or None
        states = _as_states(initial_state)
        if is_symbolic([inputs] + states) or isinstance(mask, KerasTensor):
            return self._call_graph(inputs, states, mask if mask is not None else get_mask(inputs))
        return self._call_arrays(inputs, states, mask, bool(training))

    def _check_call(self, x_shape, state_shapes, mask_shape):
        name = type(self).__name__
        self._check_input_shape(x_shape)
        if state_shapes and len(state_shapes) != self._n_states:
            raise ValueError(f"{name} {self.name!r}: `initial_state` must hold {self._n_states} tensor(s) "
                             f"({'h, c' if self._n_states == 2 else 'h'}), got {len(state_shapes)}")
        for s in state_shapes:
            if tuple(s[1:]) != (self.units,):
                raise ValueError(f"{name} {self.name!r}: each `initial_state` tensor must have shape (batch, "
                                 f"{self.units}), got {s}")
        if mask_shape is not None and tuple(mask_shape[1:]) != (x_shape[1],):
            raise ValueError(f"{name} {self.name!r}: `mask` must have shape (batch, {x_shape[1]}) (one value per "
                             f"time step), got {mask_shape}")

    def _node(self, ins, n_states, has_mask, in_shape, history_index):
        shapes = self.compute_output_shape(in_shape)
        shapes = shapes if self.return_state else [shapes]
        outs = [KerasTensor(s, self.dtype, name=self.name,
                            history=None if history_index is None else (self, history_index, i))
                for i, s in enumerate(shapes)]
        node = Node(self, ins, outs)
        node._rnn_layout = (n_states, has_mask)
        if has_mask:
            self._mask_counts.add(len(ins))
        return node

    def _call_graph(self, x, states, mask):
        for t in [x] + states + ([mask] if mask is not None else []):
            if not isinstance(t, KerasTensor):
                raise TypeError(f"Layer {self.name!r}: mix of symbolic and concrete inputs")
        self._check_call(x.shape, [s.shape for s in states], None if mask is None else mask.shape)
        if self.stateful and not self.built and self._fixed_batch_size is None:
            self._fixed_batch_size = static_batch_size(x)
        self._maybe_build(x.shape)
        node = self._node([x] + states + ([mask] if mask is not None else []), len(states), mask is not None,
                          x.shape, len(self._inbound_nodes))
        self._inbound_nodes.append(node)
        if self.return_sequences:
            copy_mask(x, node.outputs[0])
        return node.outputs if self.return_state else node.outputs[0]

    def _call_arrays(self, x, states, mask, training):
        from ..models.eager import run_forward
        from ..models.program import ExecutionGraph

        arrays = [np.ascontiguousarray(np.asarray(a, dtype=self.dtype)) for a in [x] + states]
        if mask is not None:
            arrays.append(np.ascontiguousarray(np.asarray(mask).astype(self.dtype)))
        shapes = [(None,) + a.shape[1:] for a in arrays]
        self._check_call(shapes[0], shapes[1:1 + len(states)], shapes[-1] if mask is not None else None)
        if self.stateful and not self.built and self._fixed_batch_size is None:
            self._fixed_batch_size = arrays[0].shape[0]
        self._maybe_build(shapes[0])
        ins = [KerasTensor(s, self.dtype) for s in shapes]
        node = self._node(ins, len(states), mask is not None, shapes[0], None)
        results = run_forward(ExecutionGraph(ins, [node], node.outputs), arrays, training, self.dtype)
        return results if self.return_state else results[0]

    def gradient_inputs(self, count):
        flows = [True] * count
        if count in self._mask_counts:
            flows[-1] = False  # the mask
        return flows

    # ------------------------------------------------------------ description
    def _codes(self):
        act = ACTIVATIONS.index(self.activation.name)
        ract = ACTIVATIONS.index(self.recurrent_activation.name) if self.recurrent_activation else 0
        return act, ract

    def _dropout_gates(self):
        """(gates of the input masks, of the state masks): 0 for none."""
        per_gate = self._gates if self.implementation == 1 else 1
        gx = (per_gate if self._gates > 1 else 1) if self.dropout > 0 else 0
        gh = (per_gate if self._gates > 1 else 1) if self.recurrent_dropout > 0 else 0
        return gx, gh

    def _refs(self, ctx):
        """Every reference forward and backward share (the same scratch tags give the same buffers)."""
        from ..models.program import View

        _, steps, d = ctx.input_shape
        u = self.units
        n_states, has_mask = ctx.node._rnn_layout
        r = {"x": ctx.input(0, (steps, d)), "steps": steps, "d": d, "n_states": n_states, "has_mask": has_mask}
        r["mask"] = ctx.input(len(ctx.node.inputs) - 1, (steps,)) if has_mask else ctx.empty(2)
        gx, gh = self._dropout_gates()
        r["dmask_x"] = ctx.scratch("dmask_x", gx * d, (gx, d)) if gx else ctx.empty(3)
        r["dmask_h"] = ctx.scratch("dmask_h", gh * u, (gh, u)) if gh else ctx.empty(3)
        r["uniforms"] = ctx.random(gx * d + gh * u) if gx or gh else None
        for i in range(self._n_states):
            r[f"s0_{i}"] = ctx.input(1 + i, (u,)) if n_states else ctx.scratch(f"s0_{i}", u, (u,))
        r["seq"] = ctx.output((steps, u), 0) if self.return_sequences else ctx.scratch("seq", steps * u, (steps, u))
        direct = not self.return_sequences and not self.return_state and not self.zero_output_for_mask
        r["last_is_h"] = direct
        for i in range(self._n_states):
            if self.return_state:
                r[f"sT_{i}"] = ctx.output((u,), 1 + i)
            elif i == 0 and direct:
                r[f"sT_{i}"] = ctx.output((u,), 0)
            else:
                r[f"sT_{i}"] = ctx.scratch(f"sT_{i}", u, (u,))
        from ..kernels.cpu import recurrent as rec

        size = int(getattr(rec, f"{self._kind}_cache_size")(1, steps, d, u))
        r["cache"] = ctx.scratch("cache", size)
        r["flat"] = lambda v: View(v.buf)
        return r

    def _weight_refs(self, ctx):
        bias = ctx.weight(self.bias, ()) if self.use_bias else ctx.empty(1)
        return ctx.weight(self.kernel), ctx.weight(self.recurrent_kernel), bias

    def describe_forward(self, ctx):
        r = self._refs(ctx)
        flat = r["flat"]
        if r["uniforms"] is not None:
            ctx.call("recurrent.dropout_masks", r["uniforms"], ctx.const(self.dropout),
                     ctx.const(self.recurrent_dropout), ctx.training, r["dmask_x"], r["dmask_h"])
        if not r["n_states"]:
            for i in range(self._n_states):
                if self.stateful:
                    ctx.call("tensor_ops.copy_into", flat(r[f"s0_{i}"]), ctx.weight(self.states[i], ()))
                else:
                    ctx.call("step.fill", flat(r[f"s0_{i}"]), ctx.const(0.0))
        self._forward_call(ctx, r)
        if not self.return_sequences and not r["last_is_h"]:
            ctx.call("recurrent.sequence_last_forward", r["seq"], ctx.output((self.units,), 0))
        if self.stateful:
            for i in range(self._n_states):
                ctx.call("tensor_ops.copy_into", ctx.weight(self.states[i], ()), flat(r[f"sT_{i}"]))

    def describe_backward(self, ctx):
        r = self._refs(ctx)
        flat = r["flat"]
        u, steps = self.units, r["steps"]
        if self.return_sequences:
            dseq = ctx.d_output((steps, u), 0)
        else:
            dseq = ctx.scratch("dseq", steps * u, (steps, u))
            if r["last_is_h"]:
                ctx.call("step.fill", flat(dseq), ctx.const(0.0))
            else:
                ctx.call("recurrent.sequence_last_backward", ctx.d_output((u,), 0), dseq)
        d_final = []
        for i in range(self._n_states):
            if self.return_state:
                d_final.append(ctx.d_output((u,), 1 + i))
            elif i == 0 and r["last_is_h"]:
                d_final.append(ctx.d_output((u,), 0))
            else:
                z = ctx.scratch(f"dsT_{i}", u, (u,))
                ctx.call("step.fill", flat(z), ctx.const(0.0))
                d_final.append(z)
        d_init = [ctx.d_input(1 + i, (u,)) if r["n_states"] else ctx.empty(2) for i in range(self._n_states)]
        grads = []
        for var in (self.kernel, self.recurrent_kernel):
            g = ctx.grad(var)
            grads.append(g if g is not None else ctx.scratch(f"unused_{var.name}", var.value.size, var.shape[1:],
                                                              per_sample=False))
        if self.use_bias:
            g = ctx.grad(self.bias, ())
            grads.append(g if g is not None else ctx.empty(1))
        else:
            grads.append(ctx.empty(1))
        self._backward_call(ctx, r, dseq, d_final, ctx.d_input(0, (steps, r["d"])), d_init, grads)
        if r["has_mask"]:
            last = len(ctx.node.inputs) - 1
            if ctx.needs_d_input(last):
                ctx.call("step.fill", ctx.d_input(last), ctx.const(0.0))

    # ------------------------------------------------------------ config
    def get_config(self):
        config = Layer.get_config(self)
        if self._fixed_batch_size is not None and "batch_input_shape" in config:
            config["batch_input_shape"] = (self._fixed_batch_size,) + tuple(config["batch_input_shape"][1:])
        config.update(
            units=self.units, activation=self.activation.get_config(), use_bias=self.use_bias,
            kernel_initializer=initializers.serialize(self.kernel_initializer),
            recurrent_initializer=initializers.serialize(self.recurrent_initializer),
            bias_initializer=initializers.serialize(self.bias_initializer),
            kernel_regularizer=_ser(regularizers, self.kernel_regularizer),
            recurrent_regularizer=_ser(regularizers, self.recurrent_regularizer),
            bias_regularizer=_ser(regularizers, self.bias_regularizer),
            kernel_constraint=_ser(constraints, self.kernel_constraint),
            recurrent_constraint=_ser(constraints, self.recurrent_constraint),
            bias_constraint=_ser(constraints, self.bias_constraint),
            dropout=self.dropout, recurrent_dropout=self.recurrent_dropout, seed=self.seed,
            return_sequences=self.return_sequences, return_state=self.return_state,
            go_backwards=self.go_backwards, stateful=self.stateful, unroll=self.unroll,
            zero_output_for_mask=self.zero_output_for_mask)
        if self.recurrent_activation is not None:
            config["recurrent_activation"] = self.recurrent_activation.get_config()
        return config


