"""Where a compiled model's numbers live and how a chunk of batches runs: the parameter arena, the plan, and two
engines with one interface -- ``CompiledEngine`` (generated numba functions, the default) and ``EagerEngine``
(layer-by-layer Python calls into the same kernels, for run_eagerly=True). Both read and write the same arena,
optimizer slots and running-mean state, in the same order, so they give the same numbers.
"""

import numpy as np

from .. import backend
from . import codegen


class Arena:
    """Every weight of a model in one contiguous buffer, trainable ones first; gradients for those alone.

    Each Variable becomes a view into ``params``; ``get_weights``/``set_weights`` read and write through the views,
    optimizers update ``params[:n_trainable]`` in one pass, and ``segments`` lists each trainable variable's span.
    """

    def __init__(self, model, dtype):
        self.dtype = np.dtype(dtype)
        trainable = model.trainable_weights
        ids = {id(v) for v in trainable}
        others = [v for v in model.weights if id(v) not in ids]
        self.trainable_ids = frozenset(ids)
        self.variables = trainable + others
        self.n_trainable = sum(int(np.prod(v.shape)) for v in trainable)
        total = sum(int(np.prod(v.shape)) for v in self.variables)
        self.params = np.zeros(total, self.dtype)
        self.grads = np.zeros(self.n_trainable, self.dtype)
        self._where = {}
        spans = []
        start = 0
        for v in self.variables:
            size = int(np.prod(v.shape))
            self._where[id(v)] = (start, tuple(v.shape))
            if id(v) in ids:
                spans.append((start, start + size))
            start += size
        self.segments = np.array(spans, dtype=np.int64).reshape(-1, 2)
        self.bind()

    def bind(self):
        for v in self.variables:
            start, shape = self._where[id(v)]
            size = int(np.prod(shape))
            v.bind(self.params[start:start + size].reshape(shape), self)
            v.grad = self.grads[start:start + size].reshape(shape) if id(v) in self.trainable_ids else None

    def ensure_bound(self):
        """Re-adopt variables another model moved into its own buffer since (a layer shared between models)."""
        if any(v._arena is not self for v in self.variables):
            self.bind()

    def location(self, var):
        return self._where[id(var)]

    def is_trainable(self, var):
        return id(var) in self.trainable_ids

    def matches(self, model):
        trainable = model.trainable_weights
        return [id(v) for v in self.variables] == [id(v) for v in trainable] + [
            id(v) for v in model.weights if id(v) not in {id(t) for t in trainable}] and all(
            v.dtype == self.dtype for v in self.variables)


class Plan:
    """A compiled model's execution plan: graph, arena, optimizer, outputs (losses, metrics), log layout."""

    def __init__(self, model, arena, optimizer, outs, layout):
        self.model = model
        self.arena = arena
        self.optimizer = optimizer
        self.outputs = outs
        self.layout = layout
        self.input_widths = [int(np.prod(t.shape[1:])) for t in model.inputs]
        self.rand_width = sum(self.width(n.outputs[0]) for n in model._nodes
                              if not n.layer.output_aliases_input(True) and _uses_random(n.layer))

    @staticmethod
    def width(tensor):
        return int(np.prod(tensor.shape[1:]))


def _uses_random(layer):
    from ..layers.core import Dropout

    return isinstance(layer, Dropout)


def random_count(n_rows, first, nsteps, batch, width):
    """How many uniform draws ``nsteps`` training batches starting at batch ``first`` consume."""
    if width == 0:
        return 0
    rows = min(n_rows, (first + nsteps) * batch) - first * batch
    return max(rows, 0) * width


class RandomStream:
    """Hands out consecutive slices of pre-drawn uniforms, in the order the compiled step consumes them."""

    def __init__(self, values):
        self.values = values
        self.offset = 0

    def random(self, size, dtype=None):
        out = self.values[self.offset:self.offset + size]
        self.offset += size
        return out


class CompiledEngine:
    """Runs the model's generated ``steps`` function (one compiled function for train, test and predict)."""

    def __init__(self, plan):
        self.plan = plan
        self._fn = None
        self._work = None
        dtype = plan.arena.dtype
        self._empty = np.empty(0, dtype)
        self._no_targets = tuple(np.zeros((0, 0), dtype) for _ in plan.outputs)
        self._no_outputs = tuple(np.zeros((0, 0), dtype) for _ in plan.model.outputs)
        self._no_state = np.zeros(2, np.float64)
        self._no_lrs = np.zeros(1, np.float64)
        self._no_order = np.zeros(0, np.int64)

    def _function(self):
        if self._fn is None:
            source, builder = codegen.generate(self.plan)
            module = codegen.load(codegen.module_source([source]))
            meta = np.array(builder.meta or [0], dtype=np.int64)
            hyper = np.array(builder.hyper_values or [0.0], dtype=np.float64)
            self._fn = (module.steps, meta, hyper, builder.work_size)
        return self._fn

    def _call(self, mode, xs, ys, sws, outs, order, first, nsteps, batch, state, lrs, rand):
        fn, meta, hyper, per_sample = self._function()
        size = max(per_sample * batch, 1)
        if self._work is None or self._work.shape[0] < size:
            self._work = np.empty(size, self.plan.arena.dtype)
        a = self.plan.arena
        opt = self.plan.optimizer
        if opt is not None:
            slots, u_product, iters = opt._slots, opt._u_product, opt._iterations
        else:
            slots, u_product, iters = np.zeros((0, 0), a.dtype), np.ones(1, a.dtype), np.zeros(1, np.int64)
        fn(mode, xs, ys, sws, outs, order, first, nsteps, batch, a.params, a.grads, slots, u_product, iters,
           self._work, meta, hyper, state, lrs, rand, a.segments)

    def train(self, data, order, first, nsteps, batch, state, lrs, rand):
        self._call(codegen.TRAIN, data.xs, data.ys, data.sws, self._no_outputs, order, first, nsteps, batch, state,
                   lrs, rand)

    def test(self, data, order, first, nsteps, batch, state):
        self._call(codegen.TEST, data.xs, data.ys, data.sws, self._no_outputs, order, first, nsteps, batch, state,
                   self._no_lrs, self._empty)

    def predict(self, xs, outs, order, first, nsteps, batch):
        self._call(codegen.PREDICT, xs, self._no_targets, self._no_targets, outs, order, first, nsteps, batch,
                   self._no_state, self._no_lrs, self._empty)


class EagerEngine:
    """Layer-by-layer Python: the reference path (``run_eagerly=True``)."""

    def __init__(self, plan):
        self.plan = plan
        self.k = backend.kernels()

    def _batches(self, n, order, first, nsteps, batch):
        for s in range(nsteps):
            b0 = (first + s) * batch
            b1 = min(b0 + batch, n)
            yield order[b0:b1]

    def _forward(self, xs, training, rng):
        model = self.plan.model
        values, tape = {}, []
        for t, x in zip(model.inputs, xs):
            values[id(t)] = x
        for node in model._nodes:
            ins = [values[id(t)] for t in node.inputs]
            y, cache = node.layer.forward(ins, training, rng)
            values[id(node.outputs[0])] = y
            tape.append((node, ins, y, cache))
        return values, tape

    def _losses_and_metrics(self, values, ys, sws, idx, state):
        """Per-output loss values and metric updates; returns (total, per-output (values, weights, y))."""
        model = self.plan.model
        total, parts = 0.0, []
        for o, op in enumerate(self.plan.outputs):
            yp = values[id(model.outputs[op.index])].reshape(-1, op.last_dim)
            y = ys[o][idx]
            yt_dense = y.reshape(-1, op.last_dim) if not op.sparse_y else None
            yt_sparse = y.reshape(-1) if op.sparse_y else None
            w = sws[o][idx].reshape(-1) if sws[o].shape[0] else np.empty(0, yp.dtype)
            vals = None
            if op.loss_spec is not None:
                yt = yt_sparse if op.loss_spec.sparse else yt_dense
                vals = np.empty(yp.shape[0], yp.dtype)
                getattr(self.k.losses, f"{op.loss_spec.kernel}_forward")(yt, yp, vals, *op.loss_spec.args)
                lsum = self.k.losses.weighted_sum(vals, w)
                lval = _reduce(op, lsum, w, vals.shape[0])
                total += op.loss_weight * lval
                if op.tracker_index is not None:
                    k = op.tracker_index
                    state[2 * k] += lval * len(idx)
                    state[2 * k + 1] += len(idx)
            for m in op.metrics:
                yt = yt_sparse if m.spec.sparse else yt_dense
                mv = np.empty(yp.shape[0], yp.dtype)
                m.spec.values_into(yt, yp, mv)
                self.k.metrics.mean_update(state[2 * m.index:2 * m.index + 2], mv, w if m.weighted else
                                           np.empty(0, yp.dtype))
            parts.append((vals, w, yt_sparse if op.loss_spec is not None and op.loss_spec.sparse else yt_dense))
        state[0] += total * len(idx)
        state[1] += len(idx)
        return parts

    def train(self, data, order, first, nsteps, batch, state, lrs, rand):
        plan, model, arena = self.plan, self.plan.model, self.plan.arena
        stream = RandomStream(rand)
        n = data.xs[0].shape[0]
        for s, idx in enumerate(self._batches(n, order, first, nsteps, batch)):
            values, tape = self._forward([x[idx] for x in data.xs], True, stream)
            parts = self._losses_and_metrics(values, data.ys, data.sws, idx, state)
            arena.grads[:] = 0.0
            grads = self._output_grads(values, parts)
            self._backward(tape, grads)
            plan.optimizer.apply_flat(arena.params[:arena.n_trainable], arena.grads, arena.segments, lrs[s])

    def _output_grads(self, values, parts):
        model = self.plan.model
        grads = {}
        for op, (vals, w, yt) in zip(self.plan.outputs, parts):
            if op.loss_spec is None:
                continue
            t = model.outputs[op.index]
            yp = values[id(t)]
            dvals = np.empty(vals.shape[0], yp.dtype)
            self.k.losses.loss_upstream(w, _scale(op, w, vals.shape[0]), dvals)
            dpred = np.empty_like(yp)
            getattr(self.k.losses, f"{op.loss_spec.kernel}_backward")(
                yt, yp.reshape(-1, op.last_dim), dvals, dpred.reshape(-1, op.last_dim), *op.loss_spec.args)
            _accumulate(grads, id(t), dpred)
        return grads

    def _backward(self, tape, grads):
        arena = self.plan.arena
        requires = {id(t): False for t in self.plan.model.inputs}
        for node, _, _, _ in tape:
            own = any(arena.is_trainable(v) for v in node.layer._weights)
            requires[id(node.outputs[0])] = own or any(requires[id(t)] for t in node.inputs)
        for node, ins, y, cache in reversed(tape):
            dy = grads.pop(id(node.outputs[0]), None)
            if dy is None or not requires[id(node.outputs[0])]:
                continue
            need = [requires[id(t)] for t in node.inputs]
            d_ins = node.layer.backward(ins, y, cache, dy, need)
            for t, d in zip(node.inputs, d_ins):
                if d is not None:
                    _accumulate(grads, id(t), d)

    def test(self, data, order, first, nsteps, batch, state):
        n = data.xs[0].shape[0]
        for idx in self._batches(n, order, first, nsteps, batch):
            values, _ = self._forward([x[idx] for x in data.xs], False, backend.rng())
            self._losses_and_metrics(values, data.ys, data.sws, idx, state)

    def predict(self, xs, outs, order, first, nsteps, batch):
        model = self.plan.model
        n = xs[0].shape[0]
        for s in range(nsteps):
            b0 = (first + s) * batch
            b1 = min(b0 + batch, n)
            values, _ = self._forward([x[order[b0:b1]] for x in xs], False, backend.rng())
            for i, t in enumerate(model.outputs):
                outs[i][b0:b1] = values[id(t)]


def _accumulate(grads, key, d):
    if key in grads:
        grads[key] = grads[key] + d
    else:
        grads[key] = d


def _reduce(op, lsum, w, count):
    if op.reduction == "sum":
        return lsum
    if op.reduction == "mean_with_sample_weight" and w.shape[0] > 0:
        return lsum / np.sum(w)
    return lsum / count


def _scale(op, w, count):
    if op.reduction == "sum":
        return op.loss_weight
    if op.reduction == "mean_with_sample_weight" and w.shape[0] > 0:
        return op.loss_weight / np.sum(w)
    return op.loss_weight / count


def chunk_limit(rand_width, batch, budget=1 << 22):
    """Batches per compiled call when no callback needs batch hooks: bounded so the pre-drawn dropout uniforms stay
    under ``budget`` floats (16 MiB in float32) and an interrupt is seen at least every 1024 batches."""
    if rand_width == 0:
        return 1024
    return max(1, min(1024, budget // max(1, rand_width * batch)))


