"""A model's step as data: the one description that every interpreter runs.

Layers, losses, metrics and optimizers state their kernel calls once, as ``Call(kernel, args)`` records whose
arguments are typed references (``Ref``): a view of an activation buffer, a weight, its gradient, scratch, random
uniforms, a slice of the log state, an optimizer slot, a constant, or a run-time value (the training flag, the
batch rows, the learning rate). Nothing in a description branches: control flow that depends on ``training`` or on
a reduction mode lives inside kernels. Two interpreters consume a ``Program``:

* ``eager.py`` resolves references to NumPy views and calls the kernels from Python (``run_eagerly=True`` and
  layers called on arrays);
* ``codegen.py`` turns the same calls into the source of one compiled numba function per model structure.

A CUDA interpreter would resolve the same references to device arrays; no layer changes for it.

This module is also the one place that walks the graph for a step: the forward pass, the outputs, the loss
reduction and metric updates, which tensors need gradients, the reverse pass with gradient accumulation for tensors
read by several consumers, the optimizer update and the weight constraints. Activation buffers are placed by
liveness: a buffer whose last reader has run is reused by later buffers, so memory is the peak of what is alive.
"""

import math

from ..kernels.cpu.step import MEAN_WITH_SAMPLE_WEIGHT, SUM, SUM_OVER_BATCH_SIZE
from . import fuse_conv_pool, fuse_elementwise, predict_io

_REDUCTION_CODES = {"sum_over_batch_size": SUM_OVER_BATCH_SIZE, "sum": SUM,
                    "mean_with_sample_weight": MEAN_WITH_SAMPLE_WEIGHT, "mean": SUM_OVER_BATCH_SIZE}


# ----------------------------------------------------------------------------------------------- references
class Buffer:
    """A region of an arena. ``work`` and ``rand`` buffers hold ``width`` values per sample of the batch;
    ``fixed`` buffers hold ``width`` values whatever the batch size (per-channel statistics, convolution columns).
    ``offset`` is assigned by liveness once the program is complete (per sample for work/rand buffers)."""

    __slots__ = ("name", "width", "arena", "offset", "first", "last")

    def __init__(self, name, width, arena):
        self.name, self.width, self.arena = name, int(width), arena
        self.offset, self.first, self.last = None, None, None

    def __repr__(self):
        return f"Buffer({self.name}, {self.arena}, {self.width})"


class Ref:
    """A typed argument of a kernel call."""

    __slots__ = ()


class View(Ref):
    """``buf`` seen as (leading, *dims): dims () is the flat vector; leading = rows * width / prod(dims)."""

    __slots__ = ("buf", "dims")

    def __init__(self, buf, dims=()):
        dims = tuple(int(d) for d in dims)
        if dims and buf.width % math.prod(dims):
            raise ValueError(f"internal: a view {dims} does not tile buffer {buf}")
        self.buf, self.dims = buf, dims


class Weight(Ref):
    """A variable's values, seen as (leading, *dims); dims None keeps the variable's own shape."""

    __slots__ = ("var", "dims")

    def __init__(self, var, dims=None):
        self.var, self.dims = var, _param_dims(var, dims)


class Grad(Ref):
    """A trainable variable's gradient, viewed like ``Weight``."""

    __slots__ = ("var", "dims")

    def __init__(self, var, dims=None):
        self.var, self.dims = var, _param_dims(var, dims)


def _param_dims(var, dims):
    shape = tuple(var.shape)
    if dims is None:
        dims = shape[1:]
    dims = tuple(int(d) for d in dims)
    size = math.prod(shape)
    if dims and size % math.prod(dims):
        raise ValueError(f"internal: a view {dims} does not tile variable {var.path} of shape {shape}")
    return dims


class Data(Ref):
    """The user's arrays of one call: ``X``/``Y``/``W`` (inputs, targets, sample weights) number ``index``."""

    __slots__ = ("kind", "index")

    def __init__(self, kind, index):
        self.kind, self.index = kind, int(index)


class PredRows(Ref):
    """The rows [b0, b1) of predict output ``index``, flattened."""

    __slots__ = ("index",)

    def __init__(self, index):
        self.index = int(index)


class InputRows(Ref):
    """The rows [b0, b1) in ``order`` of input ``index``, flattened, for a call that only reads them: a view of the
    user's array when those rows are consecutive, else gathered into ``view`` (a 2-D view of a work buffer, which
    is live from the start of the step) -- ``data.input_rows``. Only predict programs use it (predict_io.py)."""

    __slots__ = ("index", "view")

    def __init__(self, index, view):
        self.index, self.view = int(index), view


class StateSlot(Ref):
    """``size`` entries of the float64 log state from ``offset`` (a [total, count] pair by default); ``offset``
    None is an empty float64 vector."""

    __slots__ = ("offset", "size")

    def __init__(self, offset, size=2):
        self.offset = None if offset is None else int(offset)
        self.size = int(size)


class Slot(Ref):
    """Optimizer slot ``index`` (a vector as long as the trainable parameters)."""

    __slots__ = ("index",)

    def __init__(self, index):
        self.index = int(index)


class Arg(Ref):
    """A value the interpreter supplies: see ``ARGS``."""

    __slots__ = ("name",)

    def __init__(self, name):
        if name not in ARGS:
            raise ValueError(f"internal: unknown step argument {name!r}")
        self.name = name


#: Run-time values an interpreter provides to calls.
ARGS = {
    "order": "int64 row order of this call's data",
    "b0": "first row (into order) of this batch", "b1": "one past its last row", "B": "rows in this batch",
    "training": "True in a training step", "lr": "this step's learning rate", "t": "this step's iteration (1-based)",
    "ptrain": "the trainable parameters, flat", "grads": "their gradients, flat", "segments": "variable spans",
    "u_product": "Nadam's momentum product", "acc": "float64 [loss of this step]",
    "empty1": "an empty vector", "empty2": "an empty matrix", "empty3": "an empty 3-d array",
    "empty4": "an empty 4-d array",
}

EMPTY = {1: Arg("empty1"), 2: Arg("empty2"), 3: Arg("empty3"), 4: Arg("empty4")}


class Const(Ref):
    """A constant: bool (flag), int (size, code) or float (hyperparameter). Generated code reads it from the int
    or float table rather than inlining it, so models differing only in sizes share compiled code."""

    __slots__ = ("value",)

    def __init__(self, value):
        if isinstance(value, bool):
            self.value = value
        elif isinstance(value, int) or (hasattr(value, "dtype") and value.dtype.kind in "iu"):
            self.value = int(value)
        else:
            self.value = float(value)


class Call:
    """One kernel call: ``fn`` is 'family.kernel_name' in the active kernel set."""

    __slots__ = ("fn", "args")

    def __init__(self, fn, args):
        if fn.count(".") != 1:
            raise ValueError(f"internal: kernel name {fn!r} must be 'family.name'")
        for a in args:
            if not isinstance(a, Ref):
                raise TypeError(f"internal: argument {a!r} of {fn} is not a Ref")
        self.fn, self.args = fn, tuple(args)

    @property
    def family(self):
        return self.fn.split(".")[0]

    def __repr__(self):
        return f"Call({self.fn}, {len(self.args)} args)"


SECTIONS = ("forward", "outputs", "metrics", "backward", "update")


class Program:
    """A step's calls by section (forward; outputs for predict; metrics for test and train; backward and update
    for train) and its buffers, placed in arenas."""

    def __init__(self):
        self.sections = {name: [] for name in SECTIONS}
        self.buffers = []
        self.work_width = 0  # values per sample in the work arena
        self.fixed_size = 0  # values in the fixed arena
        self.rand_width = 0  # uniforms per sample per training step
        self.input_grad_buffers = None  # with build(input_grads=True): d loss / d input, per input
        self.pinned = []  # buffers kept alive to the end of the step
        self.predict_only = False  # its calls write predict's outputs in the forward section (predict_io.py)

    def calls(self, sections=SECTIONS):
        for name in sections:
            yield from self.sections[name]

    def families(self):
        return sorted({c.family for c in self.calls()})


# ------------------------------------------------------------------------------------------------ the builder
class Builder:
    def __init__(self, is_trainable):
        self.program = Program()
        self.is_trainable = is_trainable
        self.section = "forward"
        self._count = 0
        self._scratch = {}
        self._random = {}
        self._weights_written = []

    def buffer(self, prefix, width, arena="work"):
        self._count += 1
        buf = Buffer(f"{prefix}{self._count}", width, arena)
        self.program.buffers.append(buf)
        return buf

    def emit(self, fn, *args):
        self.program.sections[self.section].append(Call(fn, args))

    def scratch(self, key, width, per_sample):
        if key not in self._scratch:
            self._scratch[key] = self.buffer("s", width, "work" if per_sample else "fixed")
        return self._scratch[key]

    def random(self, key, width):
        if key not in self._random:
            buf = Buffer(f"u{len(self._random)}", width, "rand")
            buf.offset = self.program.rand_width
            self.program.rand_width += int(width)
            self._random[key] = buf
        return self._random[key]


class LayerContext:
    """What a layer's ``describe_forward`` / ``describe_backward`` sees: references to its tensors, weights,
    gradients, scratch and uniforms, and ``call`` to add a kernel call. One context per layer call (node)."""

    def __init__(self, builder, node, fbuf, d_targets=None, accumulate=False):
        self._b = builder
        self.node = node
        self.layer = node.layer
        self._fbuf = fbuf
        self._d = d_targets  # backward only: ([d_output buffer per output], [d_input buffer or None])
        self.accumulate = Const(bool(accumulate))
        self.training = Arg("training")

    # shapes (batch dimension None)
    @property
    def input_shapes(self):
        return [tuple(t.shape) for t in self.node.inputs]

    @property
    def input_shape(self):
        return tuple(self.node.inputs[0].shape)

    @property
    def output_shape(self):
        return tuple(self.node.outputs[0].shape)

    @property
    def output_shapes(self):
        return [tuple(t.shape) for t in self.node.outputs]

    # tensors
    def input(self, i=0, dims=()):
        return View(self._fbuf[id(self.node.inputs[i])], dims)

    def output(self, dims=(), index=0):
        return View(self._fbuf[id(self.node.outputs[index])], dims)

    def d_output(self, dims=(), index=0):
        """The gradient of output ``index`` (zeros when no loss path reaches that output)."""
        return View(self._d[0][index], dims)

    def needs_d_input(self, i=0):
        return self._d[1][i] is not None

    def d_input(self, i=0, dims=()):
        """The gradient buffer of input ``i``, or an empty array of the same rank when no gradient is needed
        (kernels skip an input gradient of size 0)."""
        buf = self._d[1][i]
        return View(buf, dims) if buf is not None else EMPTY[len(dims) + 1]

    # weights
    def weight(self, var, dims=None):
        return Weight(var, dims)

    def trainable(self, var):
        return var is not None and self._b.is_trainable(var)

    def grad(self, var, dims=None):
        """The gradient view of a trainable variable, or None for a frozen one."""
        if not self.trainable(var):
            return None
        if self._d is not None:  # asked for in a backward description: this call writes it
            self._b._weights_written.append(var)
        return Grad(var, dims)

    def grad_or_empty(self, var, dims=None):
        g = self.grad(var, dims)
        return g if g is not None else EMPTY[len(_param_dims(var, dims)) + 1 if var is not None else 1]

    # scratch and randomness
    def scratch(self, tag, width, dims=(), per_sample=True):
        """A buffer kept from this call's forward to its backward: ``width`` values per sample (or in total when
        ``per_sample`` is False). The same tag gives the same buffer in both phases."""
        return View(self._b.scratch((id(self.node), tag), width, per_sample), dims)

    def random(self, width, dims=()):
        """Uniforms in [0, 1) for this call, ``width`` per sample, fresh each training step (the same ones in
        forward and backward). Declaring them is what makes a layer random: the trainer draws exactly this many."""
        return View(self._b.random(id(self.node), width), dims)

    def const(self, value):
        return Const(value)

    def empty(self, rank):
        return EMPTY[rank]

    def call(self, fn, *args):
        self._b.emit(fn, *args)


class ExecutionGraph:
    """What a Program is built from: input tensors, layer calls (nodes) in topological order, output tensors."""

    def __init__(self, inputs, nodes, outputs):
        self.inputs, self.nodes, self.outputs = list(inputs), list(nodes), list(outputs)


def width(tensor):
    return int(math.prod(tensor.shape[1:]))


def build(graph, outputs=(), optimizer=None, is_trainable=lambda var: False, input_grads=False):
    """The Program of ``graph`` (``inputs``, ``nodes`` in topological order, ``outputs``).

    ``outputs`` are the compile plan's OutputPlans (losses and metrics; empty for inference), ``optimizer`` None
    for a step without an update. ``input_grads`` also computes the loss gradient with respect to the model's
    inputs and keeps it to the end of the step (``program.input_grad_buffers``): the gradient checks use it.
    """
    b = Builder(is_trainable)
    layers = _layers_of(graph.nodes)
    activity = _activity_penalties(graph.nodes)
    graph, remap = flatten(graph)
    b.layers = layers
    b.activity = [(remap.get(id(t), t), f) for t, f in activity]
    keep = protected_tensors(graph, [t for t, _ in b.activity])
    graph = fuse_conv_pool.fuse(graph, keep)
    if optimizer is None:  # no backward reads the intermediates: fuse elementwise chains (fuse_elementwise.py)
        graph = fuse_elementwise.fuse(graph, keep)
    fbuf = {}
    for i, t in enumerate(graph.inputs):
        buf = b.buffer("x", width(t))
        fbuf[id(t)] = buf
        b.emit("data.gather_rows", Data("X", i), Arg("order"), Arg("b0"), Arg("b1"), View(buf, (buf.width,)))
    _forward_nodes(b, graph.nodes, fbuf)
    b.section = "outputs"
    for i, t in enumerate(graph.outputs):
        b.emit("tensor_ops.copy_into", PredRows(i), View(fbuf[id(t)]))
    if outputs:
        b.section = "metrics"
        targets = _losses_and_metrics(b, graph, outputs, fbuf)
        if optimizer is not None:
            b.section = "backward"
            _backward(b, graph, outputs, fbuf, targets, input_grads)
            b.section = "update"
            optimizer.describe_update(b)
            _constraints(b)
    elif optimizer is None and not input_grads:  # a predict program: read inputs and write outputs in place
        predict_io.rewrite(b.program)
    _place(b.program)
    return b.program


def protected_tensors(graph, extra=()):
    """ids of the tensors a fusion pass must not hide inside a fused call: outputs, add_loss tensors, masks, ``extra``
    (the activity-regularized tensors)."""
    keep = {id(t) for t in graph.outputs}
    keep |= {id(t) for t in getattr(graph, "losses", ())}
    keep |= {id(t) for t in extra}
    for t in list(graph.inputs) + list(graph.outputs) + [t for n in graph.nodes for t in n.inputs + n.outputs]:
        mask = getattr(t, "_keras_mask", None)
        if mask is not None:
            keep.add(id(mask))
    return keep


def _forward_nodes(b, nodes, fbuf):
    for node in nodes:
        layer = node.layer
        if layer.aliases_input:
            fbuf[id(node.outputs[0])] = fbuf[id(node.inputs[0])]
            continue
        for t in node.outputs:
            fbuf[id(t)] = b.buffer("t", width(t))
        layer.describe_forward(LayerContext(b, node, fbuf))


def _traced_values(b, spec, op, pred_tensor, ybuf, fbuf, what):
    """Inline a loss or metric function written with keras.ops: trace it on y_true / y_pred tensors backed by the
    targets' and the output's buffers (Keras's squeeze_or_expand_to_same_rank applied first), emit its forward
    calls, and return (its nodes, the per-row values tensor: one value per row of the output)."""
    from ..layers.base import KerasTensor, Node
    from ..layers.traced_function import RowMean, trace_function

    yt_shape, yp_shape = _same_rank((None,) + tuple(op.y_shape), tuple(pred_tensor.shape))
    yt = KerasTensor(yt_shape)
    yp = KerasTensor(yp_shape)
    fbuf[id(yt)] = ybuf
    fbuf[id(yp)] = fbuf[id(pred_tensor)]  # the same buffer: its gradient is the output's
    placeholders, inner, result = trace_function(spec.fn, [yt, yp], what)
    composite = Node(None, [yt, yp], [result])
    composite.subgraph = ExecutionGraph(placeholders, inner, [result])
    flat, _ = flatten(ExecutionGraph([yt, yp], [composite], [result]))
    nodes, values = list(flat.nodes), flat.outputs[0]
    values._batch_reduced = getattr(result, "_batch_reduced", None)
    rows = op.rows_per_sample
    w = width(values) if len(values.shape) > 1 else 1
    if w != rows:
        if w % rows:
            raise ValueError(f"{what}: it returned values of shape {values.shape}, which cannot be reduced to one "
                             f"value per sample (and per position) of the output {pred_tensor.shape}")
        mean = RowMean(rows)
        reduced = KerasTensor(mean.compute_output_shape(values.shape))
        nodes.append(Node(mean, [values], [reduced]))
        values = reduced
    _forward_nodes(b, nodes, fbuf)
    return nodes, yt, yp, values


def _custom_metric_update(b, m, op, pred_tensor, ybuf, wview, fbuf):
    """A Metric subclass: its update_state traced; each var.assign_add(batch sum or mean) becomes a kernel call
    accumulating into the metric's span of the log state."""
    from ..layers.base import KerasTensor, Node
    from ..layers.traced_function import trace_metric_update

    what = f"metric {m.name!r}"
    yt = KerasTensor((None,) + tuple(op.y_shape))
    yp = KerasTensor(tuple(pred_tensor.shape))
    fbuf[id(yt)], fbuf[id(yp)] = ybuf, fbuf[id(pred_tensor)]
    tensors = [yt, yp]
    if m.weighted:
        w = KerasTensor((None,) if op.rows_per_sample == 1 else (None, op.rows_per_sample))
        fbuf[id(w)] = wview.buf
        tensors.append(w)
    placeholders, inner, updates = trace_metric_update(m.metric, tensors[:2], tensors[2] if m.weighted else None,
                                                       what)
    results = [t for _, _, t in updates]
    composite = Node(None, tensors, results)
    composite.subgraph = ExecutionGraph(placeholders, inner, results)
    flat, _ = flatten(ExecutionGraph(tensors, [composite], results))
    _forward_nodes(b, flat.nodes, fbuf)
    offsets, offset = {}, m.offset
    for var in m.variables:
        offsets[id(var)] = offset
        offset += int(math.prod(var.shape))
    for (var, mode, tensor), t in zip(updates, flat.outputs):
        size = int(math.prod(var.shape))
        if width(t) != size or id(var) not in offsets:
            raise ValueError(f"{what}: {var.path} has shape {var.shape} but update_state adds a value of per-batch "
                             f"shape {tuple(t.shape[1:])}")
        b.emit("step.state_accumulate", View(fbuf[id(t)], (size,)), StateSlot(offsets[id(var)], size),
               Const(tensor._batch_reduced == "mean"), Const(-1.0 if mode == "sub" else 1.0))


def _same_rank(y_true_shape, y_pred_shape):
    """Keras's squeeze_or_expand_to_same_rank on shapes: ranks one apart with a trailing 1 line up."""
    if len(y_true_shape) == len(y_pred_shape) + 1 and y_true_shape[-1] == 1:
        return (y_true_shape[:-1] if len(y_pred_shape) > 1 else y_true_shape,
                y_pred_shape if len(y_pred_shape) > 1 else y_pred_shape + (1,))
    if len(y_pred_shape) == len(y_true_shape) + 1 and y_pred_shape[-1] == 1:
        if len(y_true_shape) == 1:
            return y_true_shape + (1,), y_pred_shape
        return y_true_shape, y_pred_shape[:-1]
    return y_true_shape, y_pred_shape


def flatten(graph):
    """``graph`` with every composite node (a custom layer or model traced into a subgraph, ``node.subgraph``)
    replaced by its inner nodes, recursively; returns (flat graph, {id(outer tensor): inner tensor})."""
    from ..layers.base import Node

    nodes, remap, losses = [], {}, []

    def visit(graph_nodes, env):
        for node in graph_nodes:
            ins = [env.get(id(t), t) for t in node.inputs]
            sub = getattr(node, "subgraph", None)
            if sub is None:
                same = all(a is b for a, b in zip(ins, node.inputs))
                nodes.append(node if same else Node(node.layer, ins, node.outputs))
                continue
            inner = dict(env)
            for t_inner, t_outer in zip(sub.inputs, ins):
                inner[id(t_inner)] = t_outer
            visit(sub.nodes, inner)
            losses.extend(inner.get(id(t), t) for t in getattr(sub, "losses", ()))
            for t_outer, t_inner in zip(node.outputs, sub.outputs):
                env[id(t_outer)] = inner.get(id(t_inner), t_inner)
                remap[id(t_outer)] = env[id(t_outer)]

    top = {}
    visit(graph.nodes, top)
    flat = ExecutionGraph(graph.inputs, nodes, [top.get(id(t), t) for t in graph.outputs])
    flat.losses = losses  # add_loss() tensors of custom layers
    for k, v in list(remap.items()):  # resolve chains (an outer output mapped to another composite's output)
        while id(v) in remap and remap[id(v)] is not v:
            v = remap[id(v)]
        remap[k] = v
    return flat, remap


def _layers_of(nodes):
    """Every layer a graph calls, composite ones and those inside them, once each, in call order."""
    out, seen = [], set()

    def visit(graph_nodes):
        for node in graph_nodes:
            if id(node.layer) not in seen:
                seen.add(id(node.layer))
                out.append(node.layer)
            sub = getattr(node, "subgraph", None)
            if sub is not None:
                visit(sub.nodes)

    visit(nodes)
    return out


def _losses_and_metrics(b, graph, outputs, fbuf):
    """Loss values, their reduction into ``acc`` and the logs, metric updates; returns per output the (targets,
    weights) views the backward pass reuses."""
    targets = []
    for o, op in enumerate(outputs):
        yp = View(fbuf[id(graph.outputs[op.index])], (op.last_dim,))
        ybuf = b.buffer("y", op.y_width)
        if op.y_width:  # none for an output without targets (no loss or metrics: a model trained on add_loss terms)
            b.emit("data.gather_rows", Data("Y", o), Arg("order"), Arg("b0"), Arg("b1"), View(ybuf, (ybuf.width,)))
        wbuf = b.buffer("w", op.rows_per_sample)
        b.emit("step.gather_or_fill", Data("W", o), Arg("order"), Arg("b0"), Arg("b1"), View(wbuf, (wbuf.width,)),
               Const(1.0))

        def y_view(sparse, ybuf=ybuf, last_dim=op.last_dim):
            return View(ybuf) if sparse else View(ybuf, (last_dim,))

        op.traced = None
        loss_w = View(wbuf)
        mask = getattr(graph.outputs[op.index], "_keras_mask", None)
        if op.loss_spec is not None and mask is not None and id(mask) in fbuf and \
                fbuf[id(mask)].width == op.rows_per_sample:
            # Keras weights the loss of a masked output (return_sequences after a mask) by its mask.
            loss_w = View(b.buffer("mw", op.rows_per_sample))
            b.emit("step.masked_weights", View(wbuf), View(fbuf[id(mask)]),
                   Const(op.reduction in ("sum_over_batch_size", "mean")), loss_w)
        if op.loss_spec is not None:
            spec = op.loss_spec
            if spec.traced:
                nodes, yt_t, yp_t, values = _traced_values(b, spec, op, graph.outputs[op.index], ybuf, fbuf,
                                                           f"loss {spec.name!r}")
                op.traced = (nodes, yt_t, yp_t, values)
                if getattr(values, "_batch_reduced", None) == "sum":  # the function summed over the batch itself
                    op.reduction = "sum"
                vals = View(fbuf[id(values)])
            else:
                vals = View(b.buffer("v", op.rows_per_sample))
                b.emit(spec.forward_kernel, y_view(spec.sparse), yp, vals, *map(Const, spec.args))
            b.emit("step.loss_accumulate", vals, loss_w, Const(_REDUCTION_CODES[op.reduction]),
                   Const(op.loss_weight), Arg("B"), Arg("acc"), StateSlot(op.tracker_offset))
        ones = None
        for m in op.metrics:
            if m.custom:
                _custom_metric_update(b, m, op, graph.outputs[op.index], ybuf, View(wbuf), fbuf)
                continue
            if m.stateful:
                kernel, args, sparse = m.update
                if not m.weighted and ones is None:  # metrics (not weighted_metrics) ignore sample weights
                    ones = View(b.buffer("o", op.rows_per_sample))
                    b.emit("step.fill", ones, Const(1.0))
                b.emit(kernel, y_view(sparse), yp, View(wbuf) if m.weighted else ones, StateSlot(m.offset, m.size),
                       *map(Const, args))
                continue
            if m.spec.traced:
                _, _, _, values = _traced_values(b, m.spec, op, graph.outputs[op.index], ybuf, fbuf,
                                                 f"metric {m.name!r}")
                mv = View(fbuf[id(values)])
            else:
                mv = View(b.buffer("m", op.rows_per_sample))
                b.emit(m.spec.forward_kernel, y_view(m.spec.sparse), yp, mv, *map(Const, m.spec.args))
            b.emit("metrics.mean_update", StateSlot(m.offset), mv, View(wbuf) if m.weighted else Arg("empty1"))
        targets.append((y_view, loss_w))
    # Keras adds the penalties of trainable weights (unscaled) and of layer outputs (divided by the batch size)
    # to the loss, in fit and evaluate alike, after the per-output losses.
    for var, (l1, l2) in _weight_penalties(b):
        b.emit("penalties.l1l2_penalty_into", Weight(var, ()), Const(l1), Const(l2), Arg("acc"))
    for tensor, (l1, l2) in b.activity:
        if id(tensor) in fbuf:
            b.emit("penalties.l1l2_activity_penalty_into", View(fbuf[id(tensor)]), Const(l1), Const(l2), Arg("B"),
                   Arg("acc"))
    for t in graph.losses:  # custom layers' add_loss() terms, added unscaled as Keras adds layer losses
        b.emit("step.extra_loss", View(fbuf[id(t)], (max(width(t), 1),)),
               Const(getattr(t, "_batch_reduced", None) == "mean"), Arg("acc"))
    b.emit("step.total_update", Arg("acc"), StateSlot(0), Arg("B"))
    return targets


def _l1l2(reg, owner):
    spec = reg.kernel_spec()
    if spec is None:
        return None
    kind, args = spec
    if kind != "l1l2":
        raise ValueError(f"{owner}: {type(reg).__name__} is not supported in nbkeras's compiled train step yet; "
                         f"use L1, L2 or L1L2")
    return args


def _weight_penalties(b):
    """[(variable, (l1, l2))] for each trainable regularized weight, once even when its layer is shared."""
    out, seen = [], set()
    for layer in b.layers:
        for var, reg in layer.weight_regularizers():
            if id(var) in seen or not b.is_trainable(var):
                continue
            seen.add(id(var))
            factors = _l1l2(reg, f"layer {layer.name!r}")
            if factors is not None:
                out.append((var, factors))
    return out


def _activity_penalties(nodes):
    """[(output tensor, (l1, l2))] of every layer call with an activity regularizer (inside composites too)."""
    out = []
    for node in nodes:
        reg = getattr(node.layer, "activity_regularizer", None)
        if reg is not None:
            factors = _l1l2(reg, f"layer {node.layer.name!r} (activity_regularizer)")
            if factors is not None:
                out += [(t, factors) for t in node.outputs]
        sub = getattr(node, "subgraph", None)
        if sub is not None:
            out += _activity_penalties(sub.nodes)
    return out


def _requires_grad(b, graph, input_grads=False, requires=None):
    """Which tensors need a gradient: those downstream of a trainable weight (or of an input, for input_grads),
    through inputs a layer differentiates (``gradient_inputs``) and outputs it declares differentiable."""
    if requires is None:
        requires = {}
    requires.update({id(t): bool(input_grads) for t in graph.inputs})
    for node in graph.nodes:
        layer = node.layer
        own = any(b.is_trainable(v) for v in layer.weights)
        flows = layer.gradient_inputs(len(node.inputs))
        needed = layer.differentiable and (own or any(requires[id(t)] and f for t, f in zip(node.inputs, flows)))
        for t in node.outputs:
            requires[id(t)] = needed
    return requires


def _backward(b, graph, outputs, fbuf, targets, input_grads):
    """Reverse pass. Gradient buffers are keyed by forward buffer (a layer whose output is its input shares its
    input's gradient). A buffer read by several consumers collects their contributions: the first writes it, the
    others write a temporary that is then added."""
    loss_nodes = [n for op in outputs if op.traced for n in op.traced[0]]
    requires = _requires_grad(b, graph, input_grads)
    for op in outputs:
        if op.traced:
            nodes, yt_t, yp_t, _ = op.traced
            requires[id(yt_t)] = False
            requires[id(yp_t)] = requires[id(graph.outputs[op.index])]
            _requires_grad(b, ExecutionGraph([], nodes, []), requires=requires)
    grad_buf, written = {}, {}

    def target(fb):
        if fb.name not in grad_buf:
            grad_buf[fb.name] = b.buffer("d", fb.width)
            written[fb.name] = 0
        written[fb.name] += 1
        if written[fb.name] == 1:
            return grad_buf[fb.name], None
        return b.buffer("a", fb.width), grad_buf[fb.name]

    def fold(pending):
        for tmp, into in pending:
            b.emit("tensor_ops.add_into", View(into), View(tmp))

    zero_fill_at = len(b.program.sections["backward"])
    for o, op in enumerate(outputs):
        t = graph.outputs[op.index]
        if op.loss_spec is None or not requires[id(t)]:
            continue
        y_view, wview = targets[o]
        if op.traced:  # seed the traced function's values; its nodes carry the gradient to the output
            dv, into = target(fbuf[id(op.traced[3])])
            b.emit("step.loss_upstream", wview, Const(_REDUCTION_CODES[op.reduction]), Const(op.loss_weight),
                   View(dv))
            fold([(dv, into)] if into is not None else [])
            continue
        fb = fbuf[id(t)]
        dpred, into = target(fb)
        dv = View(b.buffer("dv", op.rows_per_sample))
        b.emit("step.loss_upstream", wview, Const(_REDUCTION_CODES[op.reduction]), Const(op.loss_weight), dv)
        b.emit(op.loss_spec.backward_kernel, y_view(op.loss_spec.sparse), View(fb, (op.last_dim,)), dv,
               View(dpred, (op.last_dim,)), *map(Const, op.loss_spec.args))
        fold([(dpred, into)] if into is not None else [])
    for t in graph.losses:
        if requires.get(id(t)):
            dv, into = target(fbuf[id(t)])
            b.emit("step.extra_loss_grad", View(dv, (max(width(t), 1),)),
                   Const(getattr(t, "_batch_reduced", None) == "mean"))
            fold([(dv, into)] if into is not None else [])
    activity = {}
    for tensor, factors in b.activity:
        activity.setdefault(id(tensor), []).append(factors)
    for node in reversed(graph.nodes + loss_nodes):
        layer = node.layer
        for t in node.outputs:
            if id(t) not in activity or not requires[id(t)]:
                continue
            # Every consumer of this output has run its backward (reverse topological order): add the penalty's
            # gradient to the finished sum, or start one.
            ob = fbuf[id(t)]
            if ob.name not in grad_buf:
                grad_buf[ob.name], written[ob.name] = b.buffer("d", ob.width), 1
                b.emit("step.fill", View(grad_buf[ob.name]), Const(0.0))
            for l1, l2 in activity[id(t)]:
                b.emit("penalties.l1l2_activity_penalty_grad", View(ob), Const(l1), Const(l2), Arg("B"),
                       View(grad_buf[ob.name]))
        outs = [fbuf[id(t)] for t in node.outputs]
        if layer.aliases_input or not requires[id(node.outputs[0])] or all(o.name not in grad_buf for o in outs):
            continue
        for o in outs:  # an output no loss path reaches has a zero gradient
            if o.name not in grad_buf:
                grad_buf[o.name], written[o.name] = b.buffer("d", o.width), 1
                b.emit("step.fill", View(grad_buf[o.name]), Const(0.0))
        d_ins, pending = [], []
        for t, flows in zip(node.inputs, layer.gradient_inputs(len(node.inputs))):
            if requires[id(t)] and flows:
                buf, into = target(fbuf[id(t)])
                d_ins.append(buf)
                if into is not None:
                    pending.append((buf, into))
            else:
                d_ins.append(None)
        # Add to (rather than overwrite) weight gradients an earlier call already wrote this step: a layer called
        # twice, or one variable read by several ops of a custom layer.
        written_ids = {id(v) for v in b._weights_written}
        accumulate = any(id(v) in written_ids for v in layer.weights)
        layer.describe_backward(LayerContext(b, node, fbuf, ([grad_buf[o.name] for o in outs], d_ins), accumulate))
        fold(pending)
    # Gradients no path reached this step must read as zero (they are never written otherwise).
    unwritten = {}
    for layer in b.layers:
        for v in layer.weights:
            if b.is_trainable(v) and all(v is not w for w in b._weights_written):
                unwritten[id(v)] = v
    b.program.sections["backward"][zero_fill_at:zero_fill_at] = [
        Call("step.fill", (Grad(v, ()), Const(0.0))) for v in unwritten.values()]
    if input_grads:
        b.program.input_grad_buffers = [grad_buf.get(fbuf[id(t)].name) for t in graph.inputs]
        b.program.pinned = [x for x in b.program.input_grad_buffers if x is not None]
    for var, (l1, l2) in _weight_penalties(b):
        b.emit("penalties.l1l2_penalty_grad", Weight(var, ()), Const(l1), Const(l2), Const(1.0), Grad(var, ()))


def _constraints(b):
    done = set()
    for layer in b.layers:
        for var, constraint in layer.weight_constraints():
            if id(var) in done or not b.is_trainable(var):
                continue
            done.add(id(var))
            described = constraint.describe(tuple(var.shape))
            if described is not None:  # None: the identity constraint
                kernel, dims, args = described
                b.emit(kernel, Weight(var, dims), *map(Const, args))


# --------------------------------------------------------------------------------------------------- liveness
def _place(program):
    """Give every buffer an offset. Work buffers are placed first-fit by liveness over the linear order of all
    sections (the same order every mode runs, skipping sections), so a buffer whose last reader has run is reused;
    fixed buffers the same way in their own arena."""
    position = 0
    for call in program.calls():
        for a in call.args:
            if isinstance(a, InputRows):  # gathered (when it is) at the start of the step
                a = a.view
                a.buf.first = 0
            if isinstance(a, View):
                buf = a.buf
                if buf.first is None:
                    buf.first = position
                buf.last = position
        position += 1
    for buf in program.pinned:
        buf.last = position
    for arena in ("work", "fixed"):
        placed = []  # (offset, width, last)
        top = 0
        for buf in sorted((x for x in program.buffers if x.arena == arena and x.first is not None),
                          key=lambda x: (x.first, x.name)):
            live = sorted((off, w) for off, w, last in placed if last >= buf.first)
            offset = 0
            for off, w in live:
                if offset + buf.width <= off:
                    break
                offset = max(offset, off + w)
            buf.offset = offset
            placed.append((offset, buf.width, buf.last))
            top = max(top, offset + buf.width)
        if arena == "work":
            program.work_width = top
        else:
            program.fixed_size = top
