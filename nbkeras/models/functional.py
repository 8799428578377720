"""The functional Model: a graph of layer calls from Input tensors to output tensors.

The graph is walked once, at construction, into ``self._nodes`` (a topological order of layer calls, inputs first)
and ``self._layers`` (Keras's order: by depth from the inputs, ties by first traversal). Training lives in
``trainer.Trainer``; this file knows the graph, weights, naming and eager inference.
"""

import numpy as np

from .. import backend
from ..errors import ArgumentError
from ..layers.base import KerasTensor, Layer
from ..layers.input_layer import Input, InputLayer
from ..layers.tracing import is_traced
from ..saving.model_saving import ModelSavingMixin
from .trainer import Trainer


def _flatten_io(value, what):
    """(flat list of KerasTensors, structure): structure is 'single', 'list' or a sorted key list (dict)."""
    if isinstance(value, KerasTensor):
        return [value], "single"
    if isinstance(value, dict):
        keys = sorted(value)
        flat = [value[k] for k in keys]
        structure = keys
    elif isinstance(value, (list, tuple)):
        flat, structure = list(value), "list"
    else:
        raise ValueError(f"All `{what}` values must be KerasTensors. Received: {what}={value!r}")
    for t in flat:
        if not isinstance(t, KerasTensor):
            raise ValueError(f"All `{what}` values must be KerasTensors. Received: {what}={value!r} including "
                             f"invalid value {t!r} of type {type(t).__name__}")
    if not flat:
        raise ValueError(f"`{what}` must not be empty")
    return flat, structure


def _walk(outputs):
    """Nodes in topological order (inputs first) and each layer's first traversal index, as Keras's _build_map."""
    order, done, in_progress, first_seen = [], set(), set(), {}

    def visit(tensor):
        layer, node_index, _ = tensor._keras_history
        node = layer._inbound_nodes[node_index]
        if id(node) in done:
            return
        if id(node) in in_progress:
            raise ValueError(f"The tensor {tensor!r} at layer {layer.name!r} is part of a cycle")
        first_seen.setdefault(layer, len(first_seen))
        in_progress.add(id(node))
        for t in node.inputs:
            visit(t)
        in_progress.discard(id(node))
        done.add(id(node))
        order.append(node)

    for t in outputs:
        visit(t)
    return order, first_seen


class Model(ModelSavingMixin, Trainer, Layer):
    """``Model(inputs, outputs, name=None)``: a functional model (Keras 2 and Keras 3 forms)."""

    def __init__(self, *args, **kwargs):
        inputs = kwargs.pop("inputs", None)
        outputs = kwargs.pop("outputs", None)
        if args:
            if len(args) > 2:
                raise ArgumentError("Model() takes inputs and outputs as positional arguments, nothing more")
            inputs = args[0] if inputs is None else inputs
            outputs = args[1] if len(args) > 1 and outputs is None else outputs
        trainable = kwargs.pop("trainable", True)
        name = kwargs.pop("name", None)
        Layer.__init__(self, name=name or backend.unique_name(self._default_name()), trainable=trainable,
                       **kwargs)
        Trainer.__init__(self)
        self._graph_ready = False
        if inputs is None and outputs is None:
            return  # Sequential, or a subclass that defines its own graph later
        if inputs is None or outputs is None:
            raise ValueError("Model() needs both `inputs` and `outputs`")
        self._init_graph(inputs, outputs)

    def _default_name(self):
        return "functional"

    def _init_graph(self, inputs, outputs):
        self.inputs, self._input_structure = _flatten_io(inputs, "inputs")
        self.outputs, self._output_structure = _flatten_io(outputs, "outputs")
        for t in self.inputs:
            layer = t._keras_history[0]
            if not isinstance(layer, InputLayer):
                raise ValueError(f"Model inputs must come from Input(); {t!r} was produced by layer {layer.name!r}")
        # An output's time-step mask (Keras weights its loss by it) is computed with the graph.
        masks = [t._keras_mask for t in self.outputs if getattr(t, "_keras_mask", None) is not None]
        nodes, first_seen = _walk(self.outputs + masks)
        input_ids = {id(t) for t in self.inputs}
        available = set(input_ids)
        for node in nodes:
            if isinstance(node.layer, InputLayer):
                if id(node.outputs[0]) not in input_ids:
                    raise ValueError(f"Graph disconnected: cannot obtain value for tensor {node.outputs[0]!r} at "
                                     f"layer {node.layer.name!r}. It is not one of the model's inputs")
                continue
            for t in node.inputs:
                if id(t) not in available:
                    raise ValueError(f"Graph disconnected: cannot find parent for tensor {t!r} at layer "
                                     f"{node.layer.name!r}")
            available.update(id(t) for t in node.outputs)
        self._nodes = [n for n in nodes if not isinstance(n.layer, InputLayer)]
        # ops recorded in the graph (keras.ops on symbolic tensors) are operations, not layers (as in Keras 3)
        self._layers = [la for la in self._order_layers(nodes, first_seen)
                        if not getattr(la, "_is_op", False) and not getattr(la, "_hidden", False)]
        names = [layer.name for layer in self._layers]
        for n in names:
            if names.count(n) > 1:
                raise ValueError(f'The name "{n}" is used {names.count(n)} times in the model. All layer names '
                                 f"should be unique.")
        self.input_names = [t._keras_history[0].name for t in self.inputs]
        self.output_names = [t._keras_history[0].name for t in self.outputs]
        self.built = True
        self._graph_ready = True
        self._on_graph_changed()

    def _order_layers(self, nodes, first_seen):
        """Keras's layer order: decreasing depth from the outputs (inputs first), ties by traversal order."""
        depth = {}
        for node in reversed(nodes):
            d = depth.setdefault(id(node), 0)
            for t in node.inputs:
                parent = t._keras_history[0]._inbound_nodes[t._keras_history[1]]
                depth[id(parent)] = max(depth.get(id(parent), 0), d + 1)
        layer_depth = {}
        for node in nodes:
            layer_depth[node.layer] = max(layer_depth.get(node.layer, 0), depth[id(node)])
        for t in self.inputs:
            layer_depth.setdefault(t._keras_history[0], 0)
            first_seen.setdefault(t._keras_history[0], -1)
        return sorted(layer_depth, key=lambda layer: (-layer_depth[layer], first_seen[layer]))

    # ------------------------------------------------------------ tensors
    @property
    def input(self):
        self._require_graph()
        return self.inputs[0] if len(self.inputs) == 1 else list(self.inputs)

    @property
    def output(self):
        self._require_graph()
        return self.outputs[0] if len(self.outputs) == 1 else list(self.outputs)

    @property
    def input_shape(self):
        shapes = [tuple(t.shape) for t in _as_tensor_list(self.input)]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [tuple(t.shape) for t in _as_tensor_list(self.output)]
        return shapes[0] if len(shapes) == 1 else shapes

    # ------------------------------------------------------------- layers
    @property
    def layers(self):
        self._require_graph()
        return list(self._layers)

    def _require_graph(self):
        if not self._graph_ready:
            raise ValueError(f"Model {self.name!r} has not been built yet: call it on data or give it an input "
                             f"shape first")

    def get_layer(self, name=None, index=None):
        """By name or index (Keras 2: with both, ``index`` wins; Keras 3 raises -- we follow Keras 2)."""
        layers = self.layers
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
                raise ValueError(f"get_layer: index must be an int, got {index!r}")
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"Was asked to retrieve layer at index {index} but model only has {len(layers)} "
                                 f"layers.")
            return layers[index]
        if name is not None:
            for layer in layers:
                if layer.name == name:
                    return layer
            raise ValueError(f"No such layer: {name}. Existing layers are: {[la.name for la in layers]}.")
        raise ValueError("Provide either a layer name or layer index at `get_layer`.")

    # ------------------------------------------------------------ weights
    def _all_layers(self):
        return [layer for layer in self.layers if not isinstance(layer, InputLayer)]

    @property
    def weights(self):
        out, seen = [], set()
        for layer in self._all_layers():
            for w in layer.weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        out, seen = [], set()
        for layer in self._all_layers():
            for w in layer.trainable_weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @property
    def non_trainable_weights(self):
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    variables = weights
    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights

    def count_params(self):
        self._require_graph()
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    # ---------------------------------------------------------- inference
    def __call__(self, inputs, training=None, **kwargs):
        if kwargs:
            from ..errors import check_kwargs

            check_kwargs(kwargs, ("mask",), f"{type(self).__name__}.__call__")
        self._ensure_graph_for(inputs)
        if _contains_symbolic(inputs):
            return self._call_symbolic_graph(inputs)
        self._require_graph()
        if not training:
            # The compiled inference step: fast, and safe from many threads at once.
            return self.predict_on_batch(inputs)
        from .data import as_inputs
        from .eager import run_forward
        from .program import ExecutionGraph

        xs = as_inputs(self, inputs, np.dtype(backend.floatx()))
        outs = run_forward(ExecutionGraph(self.inputs, self._nodes, self.outputs), xs, True, backend.floatx())
        return self._pack_outputs(outs)

    def _call_symbolic_graph(self, inputs):
        flat, _ = _flatten_io(inputs, "inputs")
        if len(flat) != len(self.inputs):
            raise ValueError(f"Model {self.name!r} expects {len(self.inputs)} inputs, got {len(flat)}")
        mapping = {id(a): b for a, b in zip(self.inputs, flat)}
        for node in self._nodes:
            ins = [mapping[id(t)] for t in node.inputs]
            out = node.layer(ins if node.layer.n_inputs != 1 else ins[0])
            for t, o in zip(node.outputs, out if isinstance(out, list) else [out]):
                mapping[id(t)] = o
        return self._pack_outputs([mapping[id(t)] for t in self.outputs])

    def _pack_outputs(self, outs):
        if self._output_structure == "single":
            return outs[0]
        if self._output_structure == "list":
            return list(outs)
        return dict(zip(self._output_structure, outs))

    def _ensure_graph_for(self, inputs):
        """Build the graph of a subclassed model (one that defines ``call``) from the first data it sees: its
        ``call`` is traced on symbolic inputs of the data's shapes. (Sequential overrides this.)"""
        if self._graph_ready or not is_traced(self):
            return
        self._trace_call(_symbolic_like(inputs))

    def build(self, input_shape=None):
        """Keras's ``build(input_shape)``: a subclassed model traces ``call`` on inputs of that shape."""
        if self._graph_ready or not is_traced(self):
            self.built = True
            return
        if input_shape is None:
            raise ValueError(f"Model {self.name!r}: build() needs an input_shape")
        self._trace_call(_inputs_for_shape(input_shape))

    def _trace_call(self, inputs):
        from ..layers.tracing import call_kwargs

        outputs = self.call(inputs, **call_kwargs(self, None, {}))
        self._init_graph(inputs, outputs)
        self._layers = [layer for layer in self._sublayers() if not getattr(layer, "_is_op", False)]

    # ------------------------------------------------------------ display
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                layer_range=None):
        from ..saving.summary import print_summary

        self._require_graph()
        print_summary(self, line_length, positions, print_fn, expand_nested, show_trainable, layer_range)

    def get_config(self):
        """Keras 3's functional config (layers with their inbound nodes, input and output layers)."""
        from ..saving.serialization import model_config

        return model_config(self)


def _symbolic_like(data):
    """Model inputs (Input tensors) with the structure and per-sample shapes of ``data``."""
    if isinstance(data, KerasTensor):
        return Input(batch_shape=data.shape, dtype=data.dtype)
    if isinstance(data, dict):
        return {k: _symbolic_like_one(v, k) for k, v in data.items()}
    if isinstance(data, (list, tuple)) and not _is_array_like(data):
        return [_symbolic_like(v) for v in data]
    return _symbolic_like_one(data, None)


def _symbolic_like_one(value, name):
    if isinstance(value, KerasTensor):
        return Input(batch_shape=value.shape, dtype=value.dtype, name=name)
    shape = np.shape(value)
    if len(shape) < 1:
        raise ValueError("Model inputs must have a batch dimension")
    return Input(shape=tuple(shape[1:]), name=name)


def _is_array_like(data):
    try:
        arr = np.asarray(data)
    except Exception:
        return False
    return arr.dtype != object


def _inputs_for_shape(input_shape):
    if isinstance(input_shape, dict):
        return {k: Input(batch_shape=tuple(v), name=k) for k, v in input_shape.items()}
    if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(input_shape[0], (list, tuple)):
        return [Input(batch_shape=tuple(s)) for s in input_shape]
    return Input(batch_shape=tuple(input_shape))


def _as_tensor_list(x):
    return x if isinstance(x, list) else [x]


def _contains_symbolic(x):
    if isinstance(x, KerasTensor):
        return True
    if isinstance(x, dict):
        return any(_contains_symbolic(v) for v in x.values())
    if isinstance(x, (list, tuple)):
        return any(_contains_symbolic(v) for v in x)
    return False
