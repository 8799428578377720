"""The op layers: how a ``keras.ops`` call on symbolic tensors becomes a node of the model's graph.

An op called with a KerasTensor among its arguments builds one op layer (an instance per call, named after the op:
"add", "matmul_1", ...) and calls it on its KerasTensor operands: ``record(layer)``. The base Layer's symbolic
``__call__`` creates the node. Operands that are not tensors are held by the op layer:

* a Variable (a custom layer's weight) is *borrowed*: read with ``ctx.weight(var)``, its gradient written with
  ``ctx.grad(var)`` (added to with ``ctx.accumulate`` when another op wrote it first this step). ``weights`` lists
  it, so the program knows the op needs its gradient; the layer does not own it (``_weights`` does not hold it,
  ``count_params`` and ``trainable_weights`` leave it out).
* an array constant becomes a non-trainable Variable of the op layer (``constant_variables``), which the compiled
  step reads like a weight;
* a Python number stays a number and reaches the kernels as ``ctx.const``.

Each op layer class describes one kind of the table (nbkeras/ops/table.py): the kernels it calls, forward and
backward side by side.
"""

import math

import numpy as np

from .. import backend
from ..layers.base import KerasTensor, Layer, Variable, activation_backward, activation_forward
from . import shapes as S
from .table import op as table_op

TENSOR, VAR, CONST = "tensor", "var", "const"


class Operand:
    """One argument of an op: a symbolic tensor (``index`` among the node's inputs), a borrowed Variable or a
    constant Variable owned by the op layer. ``shape`` is batch-first (None) for a tensor, the array's otherwise."""

    __slots__ = ("kind", "index", "var", "shape")

    def __init__(self, kind, shape, index=None, var=None):
        self.kind, self.shape, self.index, self.var = kind, tuple(shape), index, var

    @property
    def batched(self):
        return self.kind == TENSOR


class OpLayer(Layer):
    """Base of every op layer. Subclasses set ``self.output_shapes`` in ``__init__`` (shapes are checked there,
    before any node exists) and implement ``describe_forward`` / ``describe_backward``."""

    #: An operation recorded in a graph, not a layer of the model: Keras 3 lists no ops in ``model.layers``.
    _is_op = True

    n_inputs = None

    def __init__(self, op, operands, dtype=None):
        super().__init__(name=backend.unique_name(op), dtype=dtype or backend.floatx())
        self.op = op
        self.operands = []
        self.tensors = []
        self._borrowed = []
        self.constant_variables = []
        for value in operands:
            self.operands.append(self._operand(value))
        self.built = True

    def _operand(self, value):
        if isinstance(value, KerasTensor):
            S.check_known(self.op, value.shape)
            self.tensors.append(value)
            return Operand(TENSOR, value.shape, index=len(self.tensors) - 1)
        if isinstance(value, Variable):
            if all(v is not value for v in self._borrowed):
                self._borrowed.append(value)
            return Operand(VAR, value.shape, var=value)
        array = np.asarray(value, dtype=backend.floatx())
        var = self.add_weight(name=f"constant_{len(self.constant_variables)}", shape=array.shape,
                              initializer="zeros", trainable=False, dtype=backend.floatx())
        var.assign(array)
        self.constant_variables.append(var)
        return Operand(CONST, array.shape, var=var)

    @property
    def weights(self):
        """Borrowed variables first (their gradients are this op's business), then the op's own constants."""
        return list(self._borrowed) + super().weights

    def compute_output_shape(self, input_shape):
        return self.output_shapes if self.multiple_outputs else self.output_shapes[0]

    multiple_outputs = False

    # ------------------------------------------------------------ references to operands
    def ref(self, ctx, operand, dims=()):
        """The operand's values, as a view (flat by default)."""
        if operand.kind == TENSOR:
            return ctx.input(operand.index, dims)
        return ctx.weight(operand.var, dims)

    def d_ref(self, ctx, operand, dims=()):
        """Where the operand's gradient goes, or an empty array (kernels skip it): a tensor's input gradient, a
        trainable borrowed variable's gradient, nothing for constants."""
        if operand.kind == TENSOR:
            return ctx.d_input(operand.index, dims)
        if operand.kind == VAR:
            return ctx.grad_or_empty(operand.var, dims)
        return ctx.empty(len(dims) + 1)

    def accumulate(self, ctx, operand):
        """A borrowed variable's gradient is added to when another op wrote it this step; an input's is written."""
        return ctx.accumulate if operand.kind == VAR else ctx.const(False)

    def wants_grad(self, ctx, operand):
        if operand.kind == TENSOR:
            return ctx.needs_d_input(operand.index)
        return operand.kind == VAR and ctx.trainable(operand.var)

    def get_config(self):
        return {"name": self.name, "op": self.op}


def record(layer):
    """Call ``layer`` on its symbolic operands: the node is created by Layer's symbolic __call__."""
    return layer(list(layer.tensors))


# ------------------------------------------------------------------------------------------ elementwise
class UnaryOp(OpLayer):
    """y = f(x) elementwise, f by code (elementwise.unary_forward / unary_backward)."""

    def __init__(self, op, x, code, differentiable=True, gradient=True, dtype=None):
        super().__init__(op, [x], dtype)
        self.code = code
        self.differentiable = differentiable
        self._gradient = gradient  # False: stop_gradient (identity forward, no gradient to the input)
        self.output_shapes = [tuple(x.shape)]

    def gradient_inputs(self, count):
        return [self._gradient] * count

    def describe_forward(self, ctx):
        ctx.call("elementwise.unary_forward", ctx.const(self.code), ctx.input(0), ctx.output())

    def describe_backward(self, ctx):
        if ctx.needs_d_input(0):
            ctx.call("elementwise.unary_backward", ctx.const(self.code), ctx.input(0), ctx.output(),
                     ctx.d_output(), ctx.d_input(0))


class ScalarOp(OpLayer):
    """y = f(x, s) (or f(s, x)) for a Python number s (elementwise.scalar_forward / scalar_backward)."""

    def __init__(self, op, x, scalar, scalar_first, differentiable=True, dtype=None):
        super().__init__(op, [x], dtype)
        self.code = table_op(op).code
        self.scalar, self.scalar_first = float(scalar), bool(scalar_first)
        self.differentiable = differentiable
        self.output_shapes = [tuple(x.shape)]

    def _args(self, ctx):
        return ctx.const(self.code), ctx.input(0), ctx.const(self.scalar), ctx.const(self.scalar_first)

    def describe_forward(self, ctx):
        ctx.call("elementwise.scalar_forward", *self._args(ctx), ctx.output())

    def describe_backward(self, ctx):
        if ctx.needs_d_input(0):
            ctx.call("elementwise.scalar_backward", *self._args(ctx), ctx.output(), ctx.d_output(),
                     ctx.d_input(0))


class BroadcastOp(OpLayer):
    """Base of the ops that broadcast several operands (binary ops, where): shapes and kernel strides."""

    def _broadcast(self):
        out = S.broadcast(self.op, [o.shape for o in self.operands], [o.batched for o in self.operands])
        self.output_shapes = [out]
        self._dims = S.padded_dims(out)
        self._strides = [S.strides(o.shape, o.batched, out) for o in self.operands]

    def _geometry(self, ctx, operands):
        args = [ctx.const(d) for d in self._dims]
        for i in operands:
            args += [ctx.const(s) for s in self._strides[i]]
        return args


class BinaryOp(BroadcastOp):
    """y = f(a, b) with broadcasting, f by code (elementwise.binary_forward / binary_backward)."""

    def __init__(self, op, a, b, differentiable=True, dtype=None):
        super().__init__(op, [a, b], dtype)
        self.code = table_op(op).code
        self.differentiable = differentiable
        self._broadcast()

    def describe_forward(self, ctx):
        a, b = self.operands
        ctx.call("elementwise.binary_forward", ctx.const(self.code), self.ref(ctx, a), self.ref(ctx, b),
                 ctx.output(), *self._geometry(ctx, (0, 1)))

    def describe_backward(self, ctx):
        a, b = self.operands
        if not (self.wants_grad(ctx, a) or self.wants_grad(ctx, b)):
            return
        ctx.call("elementwise.binary_backward", ctx.const(self.code), self.ref(ctx, a), self.ref(ctx, b),
                 ctx.output(), ctx.d_output(), self.d_ref(ctx, a), self.d_ref(ctx, b), self.accumulate(ctx, a),
                 self.accumulate(ctx, b), *self._geometry(ctx, (0, 1)))


class WhereOp(BroadcastOp):
    """y = x1 where condition else x2, all three broadcast (elementwise.where_forward / where_backward)."""

    def __init__(self, condition, x1, x2, dtype=None):
        super().__init__("where", [condition, x1, x2], dtype)
        self._broadcast()

    def gradient_inputs(self, count):
        cond = self.operands[0]  # the condition receives no gradient
        return [not (cond.kind == TENSOR and cond.index == i) for i in range(count)]

    def describe_forward(self, ctx):
        c, a, b = self.operands
        ctx.call("elementwise.where_forward", self.ref(ctx, c), self.ref(ctx, a), self.ref(ctx, b), ctx.output(),
                 *self._geometry(ctx, (0, 1, 2)))

    def describe_backward(self, ctx):
        c, a, b = self.operands
        if not (self.wants_grad(ctx, a) or self.wants_grad(ctx, b)):
            return
        ctx.call("elementwise.where_backward", self.ref(ctx, c), ctx.d_output(), self.d_ref(ctx, a),
                 self.d_ref(ctx, b), self.accumulate(ctx, a), self.accumulate(ctx, b),
                 *self._geometry(ctx, (0, 1, 2)))


class ClipOp(OpLayer):
    """y = min(max(x, lo), hi) for number bounds (elementwise.clip_forward / clip_backward)."""

    def __init__(self, x, lo, hi):
        super().__init__("clip", [x])
        self.lo, self.hi = float(lo), float(hi)
        self.output_shapes = [tuple(x.shape)]

    def describe_forward(self, ctx):
        ctx.call("elementwise.clip_forward", ctx.input(0), ctx.const(self.lo), ctx.const(self.hi), ctx.output())

    def describe_backward(self, ctx):
        if ctx.needs_d_input(0):
            ctx.call("elementwise.clip_backward", ctx.input(0), ctx.const(self.lo), ctx.const(self.hi),
                     ctx.d_output(), ctx.d_input(0))


class ActivationOp(OpLayer):
    """An activation of nbkeras.activations (its own kernel pair) applied to a tensor."""

    def __init__(self, x, spec):
        super().__init__(spec.name, [x])
        self.spec = spec
        self._shape = tuple(x.shape)
        self.output_shapes = [spec.output_shape(self._shape)]  # also checks an axis against the rank

    def describe_forward(self, ctx):
        activation_forward(ctx, self.spec, ctx.input(), ctx.output(), self._shape)

    def describe_backward(self, ctx):
        if ctx.needs_d_input(0):
            activation_backward(ctx, self.spec, ctx.input(), ctx.output(), ctx.d_output(), ctx.d_input(0),
                                self._shape)


class FillOp(OpLayer):
    """y = value everywhere, shaped like x (zeros_like, ones_like, full_like): step.fill; no gradient."""

    differentiable = False

    def __init__(self, op, x, value, dtype=None):
        super().__init__(op, [x], dtype)
        self.value = float(value)
        self.output_shapes = [tuple(x.shape)]

    def gradient_inputs(self, count):
        return [False] * count

    def describe_forward(self, ctx):
        ctx.call("step.fill", ctx.output(), ctx.const(self.value))

    def describe_backward(self, ctx):
        pass


# ------------------------------------------------------------------------------------------ reductions
class ReduceOp(OpLayer):
    """y = reduce over per-sample ``axes`` (reduce.reduce_forward / reduce_backward on (outer, n, inner)).

    Adjacent axes are reduced in place; otherwise a permute (shape_ops.permute_forward) first moves them to the
    end, into scratch, and the backward permutes the gradient back."""

    def __init__(self, op, x, axes, keepdims, code, differentiable=True, dtype=None):
        super().__init__(op, [x], dtype)
        self.code = code
        self.differentiable = differentiable
        shape = tuple(x.shape)
        self.axes = list(axes)
        out = [d for k, d in enumerate(shape) if k not in self.axes] if not keepdims else [
            1 if k in self.axes else d for k, d in enumerate(shape)]
        self.output_shapes = [tuple(out)]
        adjacent = self.axes == list(range(self.axes[0], self.axes[-1] + 1))
        if adjacent:
            self._perm = None
            _, self._n, self._inner = S.around(shape, self.axes)
        else:
            S.check_rank(op, shape)
            self._perm = S.permutation_to_end(len(shape), self.axes)
            self._n, self._inner = math.prod(shape[k] for k in self.axes), 1
            self._permute = S.permute_args(shape[1:], self._perm)
        self._width = math.prod(shape[1:])

    def _source(self, ctx):
        if self._perm is None:
            return ctx.input(0, (self._n, self._inner))
        return ctx.scratch("moved", self._width, (self._n, 1))

    def describe_forward(self, ctx):
        if self._perm is not None:
            ctx.call("shape_ops.permute_forward", ctx.input(0), ctx.scratch("moved", self._width),
                     *map(ctx.const, self._permute))
        ctx.call("reduce.reduce_forward", ctx.const(self.code), self._source(ctx), ctx.output((self._inner,)))

    def describe_backward(self, ctx):
        if not ctx.needs_d_input(0):
            return
        y, dy = ctx.output((self._inner,)), ctx.d_output((self._inner,))
        if self._perm is None:
            ctx.call("reduce.reduce_backward", ctx.const(self.code), self._source(ctx), y, dy,
                     ctx.d_input(0, (self._n, self._inner)))
            return
        moved_grad = ctx.scratch("moved_grad", self._width, (self._n, 1))
        ctx.call("reduce.reduce_backward", ctx.const(self.code), self._source(ctx), y, dy, moved_grad)
        ctx.call("shape_ops.permute_backward", ctx.scratch("moved_grad", self._width), ctx.d_input(0),
                 *map(ctx.const, self._permute))


class TopKOp(OpLayer):
    """(values, indices) of the k largest entries along the last axis (reduce.top_k_forward). No backward rule:
    a training step that needs a gradient through top_k raises."""

    multiple_outputs = True

    def __init__(self, x, k):
        super().__init__("top_k", [x])
        shape = tuple(x.shape)
        if len(shape) < 2:
            raise ValueError("ops.top_k: a symbolic input needs a per-sample axis to take the top k along")
        if not 1 <= k <= shape[-1]:
            raise ValueError(f"ops.top_k: k must be in [1, {shape[-1]}] for an input of shape {shape}, got {k}")
        self.k, self._n = int(k), shape[-1]
        out = shape[:-1] + (self.k,)
        self.output_shapes = [out, out]

    def gradient_inputs(self, count):
        return [True] * count

    def describe_forward(self, ctx):
        ctx.call("reduce.top_k_forward", ctx.input(0, (self._n,)), ctx.output((self.k,), 0),
                 ctx.output((self.k,), 1))

    def describe_backward(self, ctx):
        raise ValueError(f"ops.top_k ({self.name!r}) has no gradient in nbkeras; a loss depends on its values "
                         f"through trainable weights. Wrap its input in ops.stop_gradient if that is intended.")


# ------------------------------------------------------------------------------------------ matrix products
class MatmulOp(OpLayer):
    """a @ b. Three forms, chosen from the operands:

    * tensor (None, ..., m, k) @ weight or constant (k, n) or (k,): dense.dense_forward / dense_backward on a
      (rows, k) view -- one large product, the Dense layer's own kernels;
    * weight or constant (m, k) @ tensor (None, ..., k, n): linalg.bmm with the matrix shared by every product;
    * tensor @ tensor with equal leading axes: linalg.bmm, one product per leading index.
    """

    def __init__(self, a, b, b_matrix=None):
        super().__init__("matmul", [a, b])
        oa, ob = self.operands
        sa, sb = oa.shape, (ob.shape if b_matrix is None else tuple(b_matrix))
        if len(sa) < 1 or len(sb) < 1:
            raise ValueError("ops.matmul: operands must have at least one axis")
        if oa.batched and not ob.batched:
            if len(sb) > 2 or len(sa) < 2:
                raise ValueError(f"ops.matmul: a symbolic tensor of shape {sa} times a constant or weight needs a "
                                 f"matrix or vector of rank <= 2 on the right, got shape {sb}")
            k = sb[0]
            if sa[-1] != k:
                raise ValueError(f"ops.matmul: shapes {sa} and {sb} do not agree (contracting {sa[-1]} with {k})")
            self.form = "dense"
            self._k, self._n = k, (sb[1] if len(sb) == 2 else 1)
            out = sa[:-1] + ((sb[1],) if len(sb) == 2 else ())
        elif ob.batched and not oa.batched:
            if len(sa) != 2 or len(sb) < 3:
                raise ValueError(f"ops.matmul: a constant or weight on the left must be a matrix and the symbolic "
                                 f"tensor on the right have rank >= 3 (batch, ..., k, n); got {sa} @ {sb}")
            if sa[1] != sb[-2]:
                raise ValueError(f"ops.matmul: shapes {sa} and {sb} do not agree")
            self.form = "shared_left"
            self._m, self._k, self._n = sa[0], sa[1], sb[-1]
            out = sb[:-2] + (sa[0], sb[-1])
        else:
            if len(sa) < 3 or len(sb) < 3 or sa[:-2] != sb[:-2]:
                raise ValueError(f"ops.matmul: two symbolic tensors need rank >= 3 and equal leading axes "
                                 f"(batch, ..., m, k) @ (batch, ..., k, n); got {sa} @ {sb}")
            if sa[-1] != sb[-2]:
                raise ValueError(f"ops.matmul: shapes {sa} and {sb} do not agree")
            self.form = "batched"
            self._m, self._k, self._n = sa[-2], sa[-1], sb[-1]
            out = sa[:-1] + (sb[-1],)
        self.output_shapes = [tuple(out)]

    def describe_forward(self, ctx):
        a, b = self.operands
        if self.form == "dense":
            ctx.call("dense.dense_forward", ctx.input(0, (self._k,)), self.ref(ctx, b, (self._n,)), ctx.empty(1),
                     ctx.output((self._n,)))
        else:
            left = self.ref(ctx, a, (self._m, self._k))
            right = self.ref(ctx, b, (self._k, self._n))
            ctx.call("linalg.bmm_forward", left, right, ctx.output((self._m, self._n)))

    def describe_backward(self, ctx):
        a, b = self.operands
        if self.form == "dense":
            x, dx = ctx.input(0, (self._k,)), ctx.d_input(0, (self._k,))
            w, dy = self.ref(ctx, b, (self._n,)), ctx.d_output((self._n,))
            if b.kind == VAR and ctx.trainable(b.var):
                ctx.call("dense.dense_backward", x, w, dy, dx, ctx.grad(b.var, (self._n,)), ctx.empty(1),
                         ctx.accumulate)
            elif ctx.needs_d_input(0):
                ctx.call("gemm.gemm", ctx.const(False), ctx.const(True), ctx.const(1.0), dy, w, ctx.const(0.0), dx)
            return
        if not (self.wants_grad(ctx, a) or self.wants_grad(ctx, b)):
            return
        ctx.call("linalg.bmm_backward", self.ref(ctx, a, (self._m, self._k)), self.ref(ctx, b, (self._k, self._n)),
                 ctx.d_output((self._m, self._n)), self.d_ref(ctx, a, (self._m, self._k)),
                 self.d_ref(ctx, b, (self._k, self._n)), self.accumulate(ctx, a), self.accumulate(ctx, b))


# ------------------------------------------------------------------------------------------ moving values
class AliasOp(OpLayer):
    """The input's buffer under another shape (reshape, expand_dims, squeeze, float casts): no kernel at all."""

    aliases_input = True

    def __init__(self, op, x, shape, dtype=None):
        super().__init__(op, [x], dtype)
        self.output_shapes = [tuple(shape)]


class TransposeOp(OpLayer):
    """Per-sample axes permuted (shape_ops.permute_forward / permute_backward); the batch axis stays first."""

    def __init__(self, x, perm):
        super().__init__("transpose", [x])
        shape = tuple(x.shape)
        S.check_rank("transpose", shape)
        self._args = S.permute_args(shape[1:], [p - 1 for p in perm[1:]])
        self.output_shapes = [tuple(shape[p] for p in perm)]

    def describe_forward(self, ctx):
        ctx.call("shape_ops.permute_forward", ctx.input(0), ctx.output(), *map(ctx.const, self._args))

    def describe_backward(self, ctx):
        if ctx.needs_d_input(0):
            ctx.call("shape_ops.permute_backward", ctx.d_output(), ctx.d_input(0), *map(ctx.const, self._args))


class ConcatenateOp(OpLayer):
    """Tensors joined along a per-sample axis (tensor_ops.concat_forward / concat_backward on (outer, n inner)
    views)."""

    def __init__(self, xs, axis):
        super().__init__("concatenate", xs)
        if any(o.kind != TENSOR for o in self.operands):
            raise ValueError("ops.concatenate: in a symbolic call every operand must be a symbolic tensor")
        shapes = [o.shape for o in self.operands]
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes):
            raise ValueError(f"ops.concatenate: operands of different ranks {shapes}")
        a = S.normalize_axis("concatenate", axis, rank)
        if a == 0:
            raise ValueError("ops.concatenate: joining along the batch axis is not supported in nbkeras's compiled "
                             "graphs")
        for s in shapes:
            if s[:a] != shapes[0][:a] or s[a + 1:] != shapes[0][a + 1:]:
                raise ValueError(f"ops.concatenate: shapes {shapes} differ outside axis {axis}")
        inner = math.prod(shapes[0][a + 1:])
        self._widths = [s[a] * inner for s in shapes]
        total = sum(s[a] for s in shapes)
        self.output_shapes = [shapes[0][:a] + (total,) + shapes[0][a + 1:]]

    def _offsets(self):
        return [sum(self._widths[:i]) for i in range(len(self._widths))]

    def describe_forward(self, ctx):
        out = ctx.output((sum(self._widths),))
        for i, (w, off) in enumerate(zip(self._widths, self._offsets())):
            ctx.call("tensor_ops.concat_forward", ctx.input(i, (w,)), out, ctx.const(off))

    def describe_backward(self, ctx):
        dy = ctx.d_output((sum(self._widths),))
        for i, (w, off) in enumerate(zip(self._widths, self._offsets())):
            if ctx.needs_d_input(i):
                ctx.call("tensor_ops.concat_backward", dy, ctx.d_input(i, (w,)), ctx.const(off))


class SplitOp(OpLayer):
    """A tensor cut along a per-sample axis into pieces, one output each (the concatenate kernels reversed)."""

    multiple_outputs = True

    def __init__(self, x, sizes, axis):
        super().__init__("split", [x])
        shape = tuple(x.shape)
        inner = math.prod(shape[axis + 1:])
        self._total = shape[axis] * inner
        self._widths = [s * inner for s in sizes]
        self.output_shapes = [shape[:axis] + (s,) + shape[axis + 1:] for s in sizes]

    def _offsets(self):
        return [sum(self._widths[:i]) for i in range(len(self._widths))]

    def describe_forward(self, ctx):
        x = ctx.input(0, (self._total,))
        for i, (w, off) in enumerate(zip(self._widths, self._offsets())):
            ctx.call("tensor_ops.concat_backward", x, ctx.output((w,), i), ctx.const(off))

    def describe_backward(self, ctx):
        if not ctx.needs_d_input(0):
            return
        dx = ctx.d_input(0, (self._total,))
        for i, (w, off) in enumerate(zip(self._widths, self._offsets())):
            ctx.call("tensor_ops.concat_forward", ctx.d_output((w,), i), dx, ctx.const(off))


class SliceOp(OpLayer):
    """A basic slice of per-sample axes (elementwise.slice_forward / slice_backward): ``x[:, 1:3]``, ``x[..., 0]``.
    ``plan`` holds per input axis (start, step, count); ``shape`` is the output's (integer indices dropped,
    None inserted)."""

    def __init__(self, x, plan, shape):
        super().__init__("getitem", [x])
        in_shape = tuple(x.shape)
        S.check_rank("getitem", in_shape)
        pad = S.MAX_SAMPLE_RANK - len(plan)
        dims = (1,) * pad + tuple(in_shape[1:])
        starts = (0,) * pad + tuple(p[0] for p in plan)
        steps = (1,) * pad + tuple(p[1] for p in plan)
        counts = (1,) * pad + tuple(p[2] for p in plan)
        self._args = dims + starts + steps + counts
        self.output_shapes = [tuple(shape)]

    def describe_forward(self, ctx):
        ctx.call("elementwise.slice_forward", ctx.input(0), ctx.output(), *map(ctx.const, self._args))

    def describe_backward(self, ctx):
        if ctx.needs_d_input(0):
            ctx.call("elementwise.slice_backward", ctx.d_output(), ctx.d_input(0), *map(ctx.const, self._args))


class TakeOp(OpLayer):
    """x gathered at integer indices along one axis (elementwise.take_forward / take_backward). Either x is a
    tensor and the indices a constant (along a per-sample axis), or x is a weight/constant and the indices a
    tensor (along x's axis 0: an embedding lookup)."""

    def __init__(self, x, indices, axis):
        super().__init__("take", [x, indices])
        ox, oi = self.operands
        if ox.batched == oi.batched:
            raise ValueError("ops.take: in a symbolic call exactly one of x and indices must be a symbolic tensor "
                             "(a tensor with constant indices, or a weight gathered by tensor indices)")
        xs = ox.shape
        if axis is None:  # Keras's axis=None gathers from x flattened
            if ox.batched:
                raise ValueError("ops.take: axis=None would flatten the batch axis; pass a per-sample axis")
            self._n, self._inner = math.prod(xs), 1
            self.output_shapes = [tuple(oi.shape)]
            return
        a = S.normalize_axis("take", axis, len(xs))
        if ox.batched:
            if a == 0:
                raise ValueError("ops.take: gathering along the batch axis is not supported in nbkeras's compiled "
                                 "graphs")
            out = xs[:a] + oi.shape + xs[a + 1:]
        else:
            if a != 0:
                raise ValueError("ops.take: a weight or constant gathered by symbolic indices must be gathered "
                                 "along its axis 0 (the result's batch axis comes from the indices)")
            out = oi.shape + xs[1:]
        self._n, self._inner = xs[a], math.prod(xs[a + 1:])
        self.output_shapes = [tuple(out)]
        S.check_known("take", out)

    def gradient_inputs(self, count):
        return [self.operands[0].kind == TENSOR] * count  # the indices receive no gradient

    def describe_forward(self, ctx):
        x, idx = self.operands
        ctx.call("elementwise.take_forward", self.ref(ctx, x, (self._n, self._inner)), self.ref(ctx, idx),
                 ctx.output())

    def describe_backward(self, ctx):
        x, idx = self.operands
        if self.wants_grad(ctx, x):
            ctx.call("elementwise.take_backward", self.ref(ctx, idx), ctx.d_output(),
                     self.d_ref(ctx, x, (self._n, self._inner)), self.accumulate(ctx, x))


class TakeAlongAxisOp(OpLayer):
    """out[..., q, ...] = x[..., idx[..., q, ...], ...] along a per-sample axis (elementwise.take_along_axis_*)."""

    def __init__(self, x, indices, axis):
        super().__init__("take_along_axis", [x, indices])
        ox, oi = self.operands
        if not (ox.batched and oi.batched):
            raise ValueError("ops.take_along_axis: in a symbolic call both x and indices must be symbolic tensors")
        xs, ids = ox.shape, oi.shape
        if len(xs) != len(ids):
            raise ValueError(f"ops.take_along_axis: x {xs} and indices {ids} must have the same rank")
        a = S.normalize_axis("take_along_axis", axis, len(xs))
        if a == 0:
            raise ValueError("ops.take_along_axis: the batch axis is not supported in nbkeras's compiled graphs")
        if xs[1:a] != ids[1:a] or xs[a + 1:] != ids[a + 1:]:
            raise ValueError(f"ops.take_along_axis: x {xs} and indices {ids} differ outside axis {axis}")
        self._n, self._m, self._inner = xs[a], ids[a], math.prod(xs[a + 1:])
        self.output_shapes = [tuple(ids)]

    def gradient_inputs(self, count):
        return [True, False]

    def describe_forward(self, ctx):
        ctx.call("elementwise.take_along_axis_forward", ctx.input(0, (self._n, self._inner)),
                 ctx.input(1, (self._m, self._inner)), ctx.output((self._m, self._inner)))

    def describe_backward(self, ctx):
        if ctx.needs_d_input(0):
            ctx.call("elementwise.take_along_axis_backward", ctx.input(1, (self._m, self._inner)),
                     ctx.d_output((self._m, self._inner)), ctx.d_input(0, (self._n, self._inner)))


class OneHotOp(OpLayer):
    """Class ids -> one-hot vectors along ``axis`` of the output (elementwise.one_hot_forward); no gradient."""

    differentiable = False

    def __init__(self, x, num_classes, axis, dtype=None):
        super().__init__("one_hot", [x], dtype)
        shape = tuple(x.shape)
        a = S.normalize_axis("one_hot", axis, len(shape) + 1)
        if a == 0:
            raise ValueError("ops.one_hot: the classes cannot go on the batch axis")
        self._c = int(num_classes)
        self._inner = math.prod(shape[a:])
        self.output_shapes = [shape[:a] + (self._c,) + shape[a:]]

    def gradient_inputs(self, count):
        return [False] * count

    def describe_forward(self, ctx):
        ctx.call("elementwise.one_hot_forward", ctx.input(0, (self._inner,)), ctx.output((self._c, self._inner)))

    def describe_backward(self, ctx):
        pass
