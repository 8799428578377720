"""Fusing chains of elementwise ops into one kernel call, for forward-only programs (predict before compile()).

A functional model of ops -- ``ops.tanh(x * 2.0 + 1.0) * ops.exp(-x)`` -- is a graph of small op layers, each a
pass over memory (read its inputs, write its output). ``fuse`` replaces every connected group of such nodes by one
node whose layer describes a single ``elementwise.chain_forward`` call: one blocked pass, the intermediates kept in
a small scratch that stays in cache. Results are unchanged bit for bit: the kernel runs the same per-code loops.
The scratch has register rows for ``E.CHAIN_PARTS`` workers, so a long chain's blocks are shared among numba's
threads; and in a predict program the chain then reads the caller's input rows and writes the result's rows itself
(predict_io.py), so a model that is one chain makes one pass over memory.

What fuses: ``UnaryOp``, ``ScalarOp`` (a tensor and a Python number) and ``BinaryOp`` of two tensors of the output's
shape (no broadcasting, no weights or array constants). A node joins the group of its consumers when its output is
read by nodes of that group only and is not needed elsewhere: not a graph output, an ``add_loss`` tensor, an
activity-regularized tensor or a mask. A group has at most ``CHAIN_MAX_OPS`` (8) instructions and 4 external inputs
(longer chains become several groups). A lone op becomes a chain of one instruction too: the same loop, but a large
``tanh(x)`` then shares its blocks among numba's threads as a long chain does.

Only a program without a backward section may be fused: a training step's backward reads every intermediate
output (and writes its gradient), so ``program.build`` calls ``fuse`` only when there is no optimizer.
"""

import heapq
import os

from ..kernels.cpu import elementwise as E
from ..ops.op_layers import TENSOR, BinaryOp, ScalarOp, UnaryOp

#: Whether forward-only programs fuse chains (``NBKERAS_FUSION=0`` turns every fusion off: a debugging aid).
ENABLED = os.environ.get("NBKERAS_FUSION", "1") != "0"

#: Elements per block of chain_forward: large enough that the per-block cost of its per-code calls (~35 ns each)
#: is small, small enough that the registers (4096 values each) stay in the L2 cache.
BLOCK = 4096

MAX_INPUTS = E.CHAIN_INPUTS


def _fusable(node):
    """The instruction (kind, code, scalar, operand tensors) of a node that can join a chain, or None."""
    layer = node.layer
    if getattr(layer, "aliases_input", False) or len(node.outputs) != 1:
        return None
    kind = type(layer)
    if kind is UnaryOp and len(node.inputs) == 1:
        return E.CHAIN_UNARY, layer.code, 0.0, [node.inputs[0]]
    if kind is ScalarOp and len(node.inputs) == 1:
        return (E.CHAIN_SCALAR_FIRST if layer.scalar_first else E.CHAIN_SCALAR), layer.code, layer.scalar, \
            [node.inputs[0]]
    if kind is BinaryOp and len(node.inputs) == 2:
        shape = tuple(node.outputs[0].shape)
        a, b = layer.operands
        if a.kind == TENSOR and b.kind == TENSOR and a.shape == shape and b.shape == shape:
            return E.CHAIN_BINARY, layer.code, 0.0, [node.inputs[a.index], node.inputs[b.index]]
    return None


class ChainLayer:
    """The layer of a fused node: one elementwise.chain_forward call (forward only, no weights)."""

    aliases_input = False
    differentiable = False
    activity_regularizer = None
    _is_op = True

    def __init__(self, words, scalars, n_regs, names):
        self.words, self.scalars, self.n_regs = list(words), list(scalars), int(n_regs)
        self.name = "chain(" + ", ".join(names) + ")"

    @property
    def weights(self):
        return []

    def gradient_inputs(self, count):
        return [False] * count

    def describe_forward(self, ctx):
        n_in = len(ctx.node.inputs)
        xs = [ctx.input(i) for i in range(n_in)] + [ctx.empty(1)] * (MAX_INPUTS - n_in)
        pad = E.CHAIN_MAX_OPS - len(self.words)
        words = [ctx.const(int(w)) for w in self.words] + [ctx.const(0)] * pad
        scalars = [ctx.const(float(s)) for s in self.scalars] + [ctx.const(0.0)] * pad
        # Register rows for E.CHAIN_PARTS workers: a long chain shares its blocks among numba's threads.
        regs = ctx.scratch("regs", self.n_regs * E.CHAIN_PARTS * BLOCK, (BLOCK,), per_sample=False)
        ctx.call("elementwise.chain_forward", ctx.const(len(self.words)), *words, *scalars, *xs, ctx.output(), regs)

    def describe_backward(self, ctx):
        raise RuntimeError(f"internal: the fused {self.name} has no backward; fuse only forward-only programs")


def fuse(graph, keep=frozenset()):
    """``graph`` (flattened: nodes in topological order) with its elementwise chains fused; ``keep`` holds the ids
    of tensors that must stay materialised (see ``program.protected_tensors``). Returns a new ExecutionGraph (the same
    object when nothing fuses)."""
    from ..layers.base import Node
    from .program import ExecutionGraph

    if not ENABLED:
        return graph
    nodes = graph.nodes
    instr = [_fusable(n) for n in nodes]
    if all(i is None for i in instr):
        return graph
    producer = {id(n.outputs[0]): k for k, n in enumerate(nodes) if instr[k] is not None}
    consumers = {}
    for k, n in enumerate(nodes):
        for t in n.inputs:
            consumers.setdefault(id(t), set()).add(k)
    group_of = [None] * len(nodes)
    groups = []
    for root in range(len(nodes) - 1, -1, -1):
        if instr[root] is None or group_of[root] is not None:
            continue
        members = {root}
        group_of[root] = root
        external = {id(t): t for t in instr[root][3]}
        heap = [-producer[id(t)] for t in instr[root][3] if id(t) in producer]
        heapq.heapify(heap)
        while heap and len(members) < E.CHAIN_MAX_OPS:
            k = -heapq.heappop(heap)
            if k in members or group_of[k] is not None:
                continue
            out = nodes[k].outputs[0]
            if id(out) in keep or not consumers.get(id(out)) or not consumers[id(out)] <= members:
                continue
            grown = dict(external)
            del grown[id(out)]
            for t in instr[k][3]:
                grown[id(t)] = t
            if len(grown) > MAX_INPUTS:
                continue
            members.add(k)
            group_of[k] = root
            external = grown
            for t in instr[k][3]:
                if id(t) in producer:
                    heapq.heappush(heap, -producer[id(t)])
        groups.append((root, sorted(members), list(external.values())))
    if not groups:
        return graph
    fused = {root: _chain_node(Node, nodes, members, inputs, instr) for root, members, inputs in groups}
    out = []
    for k, node in enumerate(nodes):
        if k in fused:
            out.append(fused[k])
        elif group_of[k] is None:
            out.append(node)
    result = ExecutionGraph(graph.inputs, out, graph.outputs)
    result.losses = list(getattr(graph, "losses", ()))
    return result


def _chain_node(Node, nodes, members, inputs, instr):
    """One node for the group ``members`` (node indices in topological order, the last the root)."""
    operand = {id(t): j for j, t in enumerate(inputs)}  # inputs: operands 0..3
    last_use = {}
    for i, k in enumerate(members):
        for t in instr[k][3]:
            last_use[id(t)] = i
    free, words, scalars = list(range(E.CHAIN_MAX_REGS)), [], []
    n_regs = 1
    for i, k in enumerate(members):
        kind, code, scalar, srcs = instr[k]
        a = operand[id(srcs[0])]
        b = operand[id(srcs[1])] if kind == E.CHAIN_BINARY else 0
        d = 0
        if i < len(members) - 1:  # the last instruction writes the output; the others a free register
            d = free.pop(0)
            n_regs = max(n_regs, d + 1)
            operand[id(nodes[k].outputs[0])] = E.CHAIN_INPUTS + d
        for t in srcs:  # registers read for the last time here are free for the next instructions
            j = operand[id(t)]
            if last_use[id(t)] == i and j >= E.CHAIN_INPUTS and (j - E.CHAIN_INPUTS) not in free:
                free.append(j - E.CHAIN_INPUTS)
                free.sort()
        words.append(E.chain_op(kind, code, a, b, d))
        scalars.append(scalar)
    layer = ChainLayer(words, scalars, n_regs, [nodes[k].layer.name for k in members])
    return Node(layer, inputs, [nodes[members[-1]].outputs[0]])
