"""Loss and metric functions written with ``keras.ops``, traced into graph nodes the compiled step runs.

``trace_function(fn, tensors)`` calls ``fn`` on placeholders standing for ``tensors`` (the targets and the model's
output) and returns the recorded subgraph. The program inlines it in the loss-and-metrics section of the step,
so a custom loss runs compiled and its gradient flows back into the model like a built-in loss's.
"""

import threading

from .base import KerasTensor, Layer

_TRACING = threading.local()


def in_loss_trace():
    """True while a loss or metric function is being traced (where a final batch-wide mean/sum is allowed)."""
    return getattr(_TRACING, "depth", 0) > 0


def record_layer_loss(layer, tensor):
    """``self.add_loss(t)`` in a custom layer's call being traced."""
    losses = getattr(_TRACING, "layer_losses", None)
    if losses is None:
        raise TypeError(f"Layer {layer.name!r}: add_loss() of a symbolic tensor works only inside call() while "
                        f"nbkeras traces it")
    losses.append(tensor)


def in_metric_update():
    return getattr(_TRACING, "updates", None) is not None


def record_state_update(var, mode, tensor):
    """``var.assign_add(t)`` (or assign / assign_sub) with a symbolic ``t``, inside a metric's traced update_state."""
    updates = getattr(_TRACING, "updates", None)
    if updates is None:
        raise TypeError(f"Variable {var.path!r}: assigning a symbolic tensor works only inside a Metric's "
                        f"update_state while nbkeras compiles it")
    if mode != "add" and mode != "sub":
        raise ValueError(f"Metric variable {var.path!r}: only assign_add / assign_sub of batch sums or means run in "
                         f"nbkeras's compiled step (assign of a tensor is not supported)")
    if getattr(tensor, "_batch_reduced", None) is None:
        raise ValueError(f"Metric variable {var.path!r}: assign_{mode} needs a value reduced over the batch (e.g. "
                         f"ops.sum(values) or ops.sum(values, axis=0)), got per-sample tensor {tensor!r}")
    updates.append((var, mode, tensor))


def trace_metric_update(metric, tensors, sample_weight, what):
    """(placeholders, inner nodes, [(variable, mode, tensor)]) of a Metric subclass's ``update_state`` traced on
    placeholders for y_true, y_pred (and the sample weights when given)."""
    from ..models.functional import _walk
    from .input_layer import Input, InputLayer

    placeholders = [Input(batch_shape=t.shape, dtype=t.dtype) for t in tensors]
    weight = Input(batch_shape=sample_weight.shape) if sample_weight is not None else None
    _TRACING.depth = getattr(_TRACING, "depth", 0) + 1
    _TRACING.updates = []
    try:
        metric.update_state(*placeholders, sample_weight=weight)
        updates = _TRACING.updates
    finally:
        _TRACING.depth -= 1
        _TRACING.updates = None
    if not updates:
        raise ValueError(f"{what}: update_state recorded no assign_add of a tensor computed with keras.ops")
    nodes, _ = _walk([t for _, _, t in updates])
    allowed = {id(p) for p in placeholders + ([weight] if weight is not None else [])}
    inner = []
    for node in nodes:
        if isinstance(node.layer, InputLayer):
            if id(node.outputs[0]) not in allowed:
                raise ValueError(f"{what}: update_state uses a tensor that is not y_true, y_pred or sample_weight")
            continue
        if node.layer.weights:
            raise ValueError(f"{what}: update_state reads a variable inside its computation; nbkeras compiles "
                             f"updates of the form var.assign_add(ops.sum(...)) only")
        inner.append(node)
    return placeholders + ([weight] if weight is not None else []), inner, updates


class RowMean(Layer):
    """Per-row mean of a loss given per element: Keras reduces such a loss over all elements, which equals the
    mean over samples of these per-row means."""

    def __init__(self, rows, **kwargs):
        super().__init__(**kwargs)
        self.rows = rows
        self._is_op = True

    def compute_output_shape(self, input_shape):
        return (None, self.rows) if self.rows > 1 else (None,)

    def describe_forward(self, ctx):
        k = ctx.input().buf.width // self.rows
        ctx.call("step.row_mean_forward", ctx.input(0, (k,)), ctx.output())

    def describe_backward(self, ctx):
        k = ctx.input().buf.width // self.rows
        ctx.call("step.row_mean_backward", ctx.d_output(), ctx.d_input(0, (k,)))


def trace_function(fn, tensors, what):
    """(placeholders, inner nodes, output tensor) of ``fn`` applied to placeholders shaped like ``tensors``."""
    from ..models.functional import _walk
    from .input_layer import Input, InputLayer

    placeholders = [Input(batch_shape=t.shape, dtype=t.dtype) for t in tensors]
    _TRACING.depth = getattr(_TRACING, "depth", 0) + 1
    try:
        result = fn(*placeholders)
    finally:
        _TRACING.depth -= 1
    if not isinstance(result, KerasTensor):
        raise ValueError(f"{what}: {getattr(fn, '__name__', fn)!r} must compute its result from y_true and y_pred "
                         f"with keras.ops (got {type(result).__name__}); NumPy code cannot be compiled into the "
                         f"training step")
    nodes, _ = _walk([result])
    allowed = {id(p) for p in placeholders}
    inner = []
    for node in nodes:
        if isinstance(node.layer, InputLayer):
            if id(node.outputs[0]) not in allowed:
                raise ValueError(f"{what}: the function uses a tensor that is neither y_true nor y_pred")
            continue
        inner.append(node)
        for t in node.inputs:
            if getattr(t, "_batch_reduced", None):
                raise ValueError(f"{what}: a mean or sum over the whole batch (ops.{t._batch_reduced} with axis=None) "
                                 f"must be the function's last operation in nbkeras; reduce over the per-sample axes "
                                 f"(e.g. axis=-1) and let Keras's loss reduction average over the batch")
    return placeholders, inner, result
