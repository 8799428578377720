"""Turns compile() arguments and the shapes of the first data into a plan: one loss and a metric list per output,
the running-mean state layout, and the names Keras gives them in logs, History and evaluate().

Keras resolves 'accuracy' / 'acc' / 'crossentropy' / 'ce' by shapes (last dim of y_pred 1 -> binary; y_true of lower
rank, or last dim 1 against y_pred's > 1 -> sparse categorical; else categorical) and keeps the name as written.
Multi-output naming follows Keras 3: '<output>_loss' for each output's unweighted loss, '<output>_<metric>' for
metrics, 'weighted_' for a weighted metric whose name is already taken.
"""

import numpy as np

from .. import losses as losses_module
from .. import metrics as metrics_module
from ..metrics import MetricSpec


def _is_binary_or_sparse(y_true_shape, y_pred_shape):
    is_binary = y_pred_shape[-1] == 1
    is_sparse = len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1)
    return is_binary, is_sparse


def resolve_loss(identifier, y_true_shape, y_pred_shape):
    if identifier is None:
        return None
    if isinstance(identifier, str) and identifier.lower() in ("crossentropy", "ce"):
        binary, sparse = _is_binary_or_sparse(y_true_shape, y_pred_shape)
        fn = (losses_module.binary_crossentropy if binary else
              losses_module.sparse_categorical_crossentropy if sparse else losses_module.categorical_crossentropy)
        return losses_module.LossFunctionWrapper(fn, name=identifier)
    return losses_module.get(identifier)


def resolve_metric(identifier, y_true_shape, y_pred_shape):
    """A metric object named as Keras names it (the string as written, else the object's name)."""
    if identifier is None:
        raise ValueError("Expected metric, received `None`")
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        binary, sparse = _is_binary_or_sparse(y_true_shape, y_pred_shape)
        cls = (metrics_module.BinaryAccuracy if binary else
               metrics_module.SparseCategoricalAccuracy if sparse else metrics_module.CategoricalAccuracy)
        return cls(name=identifier)
    if isinstance(identifier, str) and identifier.lower() in ("crossentropy", "ce"):
        binary, sparse = _is_binary_or_sparse(y_true_shape, y_pred_shape)
        cls = (metrics_module.BinaryCrossentropy if binary else
               metrics_module.SparseCategoricalCrossentropy if sparse else metrics_module.CategoricalCrossentropy)
        return cls(name=identifier)
    metric = metrics_module.get(identifier)
    if not isinstance(metric, metrics_module.MeanMetricWrapper) and not hasattr(metric, "state_size") and not \
            metric._variables_list():
        raise ValueError(f"nbkeras cannot compile the metric {identifier!r}: only mean-of-values metrics "
                         f"(accuracies, losses as metrics) run in the compiled train step")
    return metric


def check_metric_names(metrics, output_names, argument):
    """Validate the structure of ``metrics`` at compile time (unknown names fail here, before any data)."""
    if metrics is None:
        return
    if not isinstance(metrics, (list, tuple, dict)):
        raise ValueError(f"Expected `{argument}` argument to be a list, tuple, or dict. Received instead: "
                         f"{argument}={metrics!r} of type {type(metrics)}")
    if isinstance(metrics, dict):
        unknown = set(metrics) - set(output_names or [])
        if output_names is not None and unknown:
            raise ValueError(f"Unknown entries in {argument} dictionary: {sorted(unknown)}. Only expected the "
                             f"following keys: {list(output_names)}")
        items = [m for v in metrics.values() for m in (v if isinstance(v, (list, tuple)) else [v])]
    else:
        items = [m for v in metrics for m in (v if isinstance(v, (list, tuple)) else [v])]
    for m in items:
        if isinstance(m, str) and m.lower() in ("accuracy", "acc", "crossentropy", "ce"):
            continue
        if m is None:
            continue
        metrics_module.get(m)


def per_output(value, output_names, argument, broadcast_flat_list):
    """Spread a compile argument over outputs: a dict by output name, a list (one per output), or one value.

    ``broadcast_flat_list``: a flat list whose length differs from the number of outputs applies to every output
    (Keras 2's rule for metrics; Keras 3 raises there).
    """
    n = len(output_names)
    if isinstance(value, dict):
        unknown = set(value) - set(output_names)
        if unknown:
            raise ValueError(f"Unknown entries in {argument} dictionary: {sorted(unknown)}. Only expected the "
                             f"following keys: {list(output_names)}")
        return [value.get(name) for name in output_names]
    if isinstance(value, (list, tuple)):
        if n == 1:
            if broadcast_flat_list:
                return [[m for v in value for m in (v if isinstance(v, (list, tuple)) else [v])]]
            if len(value) == 1:
                return [value[0]]
            raise ValueError(f"The model has 1 output, but {argument} has {len(value)} entries: {value!r}")
        if len(value) == n:
            return list(value)
        if broadcast_flat_list and not any(isinstance(v, (list, tuple, dict)) for v in value):
            return [list(value)] * n
        raise ValueError(f"When passing a list as `{argument}`, it should have one entry per model output. The "
                         f"model has {n} outputs, but you passed {argument}={value!r}")
    return [value] * n


class MetricEntry:
    """One metric of one output: a mean of per-row values (``spec``), or a stateful metric (AUC, Precision, ...)
    whose update kernel accumulates into its own span of the log state (``stateful``)."""

    def __init__(self, metric, weighted, output_name, y_pred_shape):
        self.metric = metric
        self.stateful = hasattr(metric, "state_size")
        # A Metric subclass of the user's: update_state written with keras.ops, state in add_variable()s.
        self.custom = not self.stateful and not isinstance(metric, metrics_module.MeanMetricWrapper) and bool(
            getattr(metric, "_variables_list", lambda: [])())
        self.spec = None if self.stateful or self.custom else metric.spec()
        if self.custom:
            self.variables = list(metric._variables_list())
            self.state_size = sum(int(np.prod(v.shape)) for v in self.variables)
        if self.stateful:
            self.update = metric.update_kernel(tuple(y_pred_shape))  # (kernel, args, sparse)
            self.state_size = int(metric.state_size(tuple(y_pred_shape)))
        self.weighted = weighted
        self.output_name = output_name
        self.index = None  # order among metrics
        self.offset = None  # where its state starts in the log state
        self.name = None

    @property
    def sparse(self):
        if self.custom:
            return None  # it sees y as the user gave it
        return self.update[2] if self.stateful else self.spec.sparse

    @property
    def size(self):
        return self.state_size if self.stateful or self.custom else 2

    def finish(self, state):
        if self.custom:  # the user's result(), on its variables read from the state
            offset = 0
            for var in self.variables:
                n = int(np.prod(var.shape))
                var.assign(np.asarray(state[offset:offset + n]).reshape(var.shape))
                offset += n
            arr = np.asarray(self.metric.result())
            return float(arr) if arr.ndim == 0 else arr
        if self.stateful:
            value = self.metric.result_from_state(state)
            arr = np.asarray(value)
            return float(arr) if arr.ndim == 0 else arr
        return float(self.spec.finish(state[0], state[1]))


class OutputPlan:
    def __init__(self, index, name, loss, loss_weight, y_pred_shape):
        self.index = index
        self.name = name
        self.loss = loss
        self.loss_spec = loss.spec() if loss is not None else None
        self.reduction = loss.reduction if loss is not None else "sum_over_batch_size"
        if self.reduction in (None, "none"):
            raise ValueError(f"Loss {loss.name!r} has reduction={loss.reduction!r}; compile() needs a loss that "
                             f"reduces to a scalar")
        self.loss_weight = 1.0 if loss_weight is None else float(loss_weight)
        self.metrics = []
        self.tracker_index = None
        self.tracker_offset = None
        self.y_pred_shape = tuple(y_pred_shape)
        # A rank-1 output (None,) is one value per sample, laid out as (batch, 1).
        self.last_dim = int(y_pred_shape[-1]) if len(y_pred_shape) > 1 else 1
        rows = 1
        for d in y_pred_shape[1:-1]:
            rows *= int(d)
        self.rows_per_sample = rows
        self.sparse_y = None  # decided from the data
        self.y_width = None
        self.tracker_name = None


def build_outputs(model, compile_args, y_shapes):
    """OutputPlans for ``model`` given the per-output shapes of y (None where no target is given)."""
    names = model.output_names
    pred_shapes = [tuple(t.shape) for t in model.outputs]
    loss_arg = compile_args["loss"]
    loss_list = per_output(loss_arg, names, "loss", broadcast_flat_list=False) if loss_arg is not None else \
        [None] * len(names)
    weights = compile_args["loss_weights"]
    if weights is None:
        weight_list = [None] * len(names)
    elif isinstance(weights, (int, float)) and not isinstance(weights, bool):
        weight_list = [weights] * len(names)
    else:
        weight_list = per_output(weights, names, "loss_weights", broadcast_flat_list=False)
    outs = []
    for i, name in enumerate(names):
        yt_shape = y_shapes[i] if y_shapes[i] is not None else pred_shapes[i]
        loss = resolve_loss(loss_list[i], yt_shape, pred_shapes[i])
        outs.append(OutputPlan(i, name, loss, weight_list[i], pred_shapes[i]))
    for argument, weighted in (("metrics", False), ("weighted_metrics", True)):
        value = compile_args[argument]
        if not value:
            continue
        spread = per_output(value, names, argument, broadcast_flat_list=True)
        for i, entry in enumerate(spread):
            if entry is None:
                continue
            items = entry if isinstance(entry, (list, tuple)) else [entry]
            yt_shape = y_shapes[i] if y_shapes[i] is not None else pred_shapes[i]
            for m in items:
                metric = resolve_metric(m, yt_shape, pred_shapes[i])
                outs[i].metrics.append(MetricEntry(metric, weighted, names[i] if len(names) > 1 else None,
                                                   pred_shapes[i]))
    _assign_names(outs)
    return outs


def _assign_names(outs):
    """State slots and Keras 3's names: 'loss', metrics (unweighted then weighted), per-output losses."""
    taken = {}
    index = 1
    for weighted in (False, True):
        for op in outs:
            for entry in op.metrics:
                if entry.weighted != weighted:
                    continue
                name = entry.metric.name
                full = f"{entry.output_name}_{name}" if entry.output_name else name
                if full not in taken:
                    taken[full] = 1
                elif not weighted:
                    k = taken[full]
                    taken[full] += 1
                    full = f"{full}_{k}"
                else:
                    full = f"weighted_{name}"
                    if entry.output_name:
                        full = f"{entry.output_name}_{full}"
                    if full in taken:
                        k = taken[full]
                        taken[full] += 1
                        full = f"{full}_{k}"
                    else:
                        taken[full] = 1
                entry.name = full
                entry.index = index
                index += 1
    with_loss = [op for op in outs if op.loss is not None]
    if len(with_loss) > 1:
        for op in with_loss:
            op.tracker_index = index
            op.tracker_name = f"{op.name}_loss"
            index += 1
    return index


class LogLayout:
    """Where each log lives in the float64 state array, and how to read it: the loss pair [total, count] at 0, then
    each metric's span in metric order (a [total, count] pair for means, ``state_size`` entries for stateful
    metrics), then the per-output loss pairs."""

    def __init__(self, outs):
        self.outs = outs
        metric_entries = sorted((e for op in outs for e in op.metrics), key=lambda e: e.index)
        offset = 2
        for e in metric_entries:
            e.offset = offset
            offset += e.size
        trackers = [op for op in outs if op.tracker_index is not None]
        for op in trackers:
            op.tracker_offset = offset
            offset += 2
        self.size = offset
        self.slots = ([("loss", 0, 2, _mean)] + [(e.name, e.offset, e.size, e.finish) for e in metric_entries] +
                      [(op.tracker_name, op.tracker_offset, 2, _mean) for op in trackers])
        # evaluate()'s order (Keras 3's _flatten_metrics_in_order): names Keras knows without output prefixes.
        self._order_names = ["loss"] + [e.metric.name for e in metric_entries] + [op.tracker_name for op in trackers]

    def logs(self, state):
        return {name: finish(state[offset:offset + size]) for name, offset, size, finish in self.slots}

    def ordered(self, logs):
        """evaluate()'s list: known names in metric order, then the rest sorted (Keras 3's rule)."""
        results = [logs[n] for n in self._order_names if n in logs]
        results += [logs[k] for k in sorted(logs) if k not in self._order_names]
        return results

    def ordered_names(self, logs):
        names = [n for n in self._order_names if n in logs]
        return names + [k for k in sorted(logs) if k not in self._order_names]


def _mean(pair):
    total, count = pair
    return float(total / count) if count else 0.0


__all__ = ["MetricSpec", "build_outputs", "LogLayout", "check_metric_names", "resolve_loss", "resolve_metric"]
