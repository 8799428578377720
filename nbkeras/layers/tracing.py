"""Custom layers and subclassed models: their Python ``call()`` is traced once per input structure into graph nodes.

Keras 3 users extend Keras by subclassing ``Layer`` (``build`` + ``call`` written with ``keras.ops`` and other
layers) or ``Model``. nbkeras runs ``call()`` on symbolic tensors: every op and layer called inside records a node,
so the layer becomes one *composite* node whose ``subgraph`` holds the recorded nodes. The program builder inlines
subgraphs (``program.flatten``), so a custom layer runs in the compiled step, through every interpreter, with
gradients, like the built-in layers -- nothing of it is interpreted by Python per batch.

Python control flow on tensor *values* cannot be traced (a symbolic tensor has no value): ``bool(tensor)`` raises
a TypeError that names the line of ``call()``. Nor can a branch on ``training``: ``call()`` is traced once for
training and inference, and gets ``TRACED_TRAINING`` when its caller gave no ``training``, which sub-layers accept
and ``if training:`` refuses, naming the line.
"""

import inspect

from .base import KerasTensor, Layer, Node


def flatten_structure(value):
    """(KerasTensor leaves in order, rebuild(leaves) -> the same structure with new leaves). Lists, tuples and
    dicts nest; anything else that is not a KerasTensor is kept as it is."""
    leaves = []

    def walk(v):
        if isinstance(v, KerasTensor):
            leaves.append(v)
            return ("leaf", len(leaves) - 1)
        if isinstance(v, dict):
            return ("dict", [(k, walk(v[k])) for k in v])
        if isinstance(v, (list, tuple)):
            return (type(v), [walk(x) for x in v])
        return ("const", v)

    spec = walk(value)

    def rebuild(new_leaves, spec=spec):
        kind, body = spec
        if kind == "leaf":
            return new_leaves[body]
        if kind == "const":
            return body
        if kind == "dict":
            return {k: rebuild(new_leaves, s) for k, s in body}
        return kind(rebuild(new_leaves, s) for s in body)

    return leaves, rebuild


def shapes_of(value):
    """Keras's ``input_shape`` for ``build``: a tuple for one tensor, the same structure of tuples otherwise."""
    leaves, rebuild = flatten_structure(value)
    return rebuild([tuple(t.shape) for t in leaves])


def second_parameter(fn):
    """The name of ``fn``'s second positional parameter (after the inputs), or None."""
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return None
    return params[1].name if len(params) > 1 else None


def accepts(fn, name):
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


def trace(layer, inputs, call_kwargs, outer_inputs=None, positional=False):
    """Run ``layer.call`` on placeholders standing for ``inputs`` (a structure of KerasTensors) and record it as
    one composite node of ``layer``. Returns the outputs in ``call``'s structure. ``positional``: ``inputs`` is the
    tuple of call's positional arguments (``layer(targets, logits)``)."""
    from ..models.functional import _walk
    from ..models.program import ExecutionGraph
    from .input_layer import Input, InputLayer

    from . import traced_function as tf

    leaves, rebuild = flatten_structure(inputs)
    placeholders = [Input(batch_shape=t.shape, dtype=t.dtype) for t in leaves]
    saved = getattr(tf._TRACING, "layer_losses", None)
    tf._TRACING.layer_losses = []
    tf._TRACING.depth = getattr(tf._TRACING, "depth", 0) + 1  # a batch-wide mean/sum may feed add_loss
    try:
        rebuilt = rebuild(placeholders)
        result = layer.call(*rebuilt, **call_kwargs) if positional else layer.call(rebuilt, **call_kwargs)
        added = tf._TRACING.layer_losses
    finally:
        tf._TRACING.depth -= 1
        tf._TRACING.layer_losses = saved
    outs, rebuild_out = flatten_structure(result)
    if not outs:
        raise ValueError(f"Layer {layer.name!r}: call() must return tensors computed from its inputs, got {result!r}")
    nodes, _ = _walk(outs + added)
    allowed = {id(p) for p in placeholders}
    inner = []
    for node in nodes:
        if isinstance(node.layer, InputLayer):
            if id(node.outputs[0]) not in allowed:
                raise ValueError(f"Layer {layer.name!r}: call() uses a tensor that is not one of its inputs "
                                 f"({node.outputs[0]!r}); pass every tensor it needs as an input")
            continue
        for t in node.inputs:
            scaled = getattr(node.outputs[0], "_scaled_from", None) is t  # rate * mean: still a batch mean
            if getattr(t, "_batch_reduced", None) and not scaled:
                raise ValueError(f"Layer {layer.name!r}: a mean or sum over the whole batch (ops.{t._batch_reduced}"
                                 f" with axis=None) can only be scaled by constants and passed to add_loss()")
        inner.append(node)
    if any(getattr(t, "_batch_reduced", None) for t in outs):
        raise ValueError(f"Layer {layer.name!r}: call() returns a mean or sum over the whole batch; reduce over "
                         f"per-sample axes instead")
    node_index = len(layer._inbound_nodes)
    outer = [KerasTensor(t.shape, t.dtype, name=layer.name, history=(layer, node_index, i)) for i, t in enumerate(outs)]
    node = Node(layer, outer_inputs if outer_inputs is not None else leaves, outer)
    node.subgraph = ExecutionGraph(placeholders, inner, outs)
    node.subgraph.losses = added  # add_loss() tensors: the program adds them to the model's loss
    layer._inbound_nodes.append(node)
    return rebuild_out(outer)


def is_traced(layer):
    """True for a layer whose computation is its Python ``call`` (not a description of kernel calls)."""
    cls = type(layer)
    return cls.call is not Layer.call and cls.describe_forward is Layer.describe_forward


def tracked_sublayers(obj):
    """Layers held in ``obj``'s attributes (directly or in lists, tuples and dicts), in assignment order, as Keras
    tracks them."""
    out, seen = [], {id(obj)}

    def add(v):
        if isinstance(v, Layer):
            if id(v) not in seen:
                seen.add(id(v))
                out.append(v)
        elif isinstance(v, (list, tuple)):
            for x in v:
                add(x)
        elif isinstance(v, dict):
            for x in v.values():
                add(x)

    from .input_layer import InputLayer

    for key, value in vars(obj).items():
        if key not in _INTERNAL:
            add(value)
    return [layer for layer in out if not isinstance(layer, InputLayer)]


# Attributes where nbkeras keeps its own bookkeeping (a model's graph), not the user's sub-layers.
_INTERNAL = frozenset(("_inbound_nodes", "_weights", "_layers", "_nodes", "_stack", "_input_layer",
                       "_weight_regularizers", "_weight_constraints"))


class _TracedTraining:
    """What a traced ``call()`` gets as ``training`` when its caller gave none: nbkeras traces ``call()`` once, into a
    graph that runs in training and in inference alike (built-in layers switch inside their kernels), so this stands
    for both. Passing it on to sub-layers works; testing it in Python (``if training:``) raises instead of silently
    taking the inference branch in training too."""

    def __bool__(self):
        raise TypeError(f"call() tests `training` in Python{_user_line()}: nbkeras traces call() once into a graph "
                        f"that runs in training and in inference alike, so it cannot branch on `training` there. Pass "
                        f"`training` on to sub-layers instead (Dropout, BatchNormalization and the other built-in "
                        f"layers switch inside their kernels)")

    def __repr__(self):
        return "<training: traced for both training and inference>"


TRACED_TRAINING = _TracedTraining()


def call_kwargs(layer, training, kwargs):
    """``kwargs`` for tracing ``layer.call``, with ``training`` (TRACED_TRAINING when the caller gave none) where
    call accepts it."""
    if accepts(layer.call, "training"):
        return dict(kwargs, training=TRACED_TRAINING if training is None else training)
    return kwargs


def _user_line():
    """`` (at file:line: code)`` of the innermost frame outside nbkeras (the user's call()), or ""."""
    for frame in inspect.stack()[1:]:
        if "/nbkeras/" not in frame.filename.replace("\\", "/"):
            return f" (at {frame.filename}:{frame.lineno}: {(frame.code_context or [''])[0].strip()})"
    return ""


def no_value_error(tensor):
    """The error for Python control flow on a symbolic tensor, naming the user's line."""
    return TypeError(f"A symbolic tensor {tensor!r} has no value while nbkeras traces call(){_user_line()}: Python "
                     f"control flow on tensor values (if/while/bool on a tensor) cannot be compiled; use ops.where "
                     f"or compute the condition outside the model")
