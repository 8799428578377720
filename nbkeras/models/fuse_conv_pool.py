"""Fusing a convolution with the max pooling that reads it, applied to the flattened graph before a Program is
described (elementwise op chains: fuse_elementwise.py).

A convolution followed by a max pooling is the opening of most small CNNs, and between them sits the largest
tensor of the model: W3's first convolution writes 64x26x26x32 float32 values (5.5 MB) that the pooling reads
once, and the backward pass writes their gradient and reads it again. Those passes over memory, not the
arithmetic, were a third of W3's step. The fused kernels (``conv.conv2d_max_pool2d_forward`` / ``_backward``)
compute the convolution a few images at a time into cache-resident scratch and pool it there, so the convolution's
output is never stored whole.

A pair is fused when the numbers cannot change and nothing else needs the tensor between them:

* the first call is a Conv1D/Conv2D (exactly those classes) whose activation is linear or Keras's plain relu;
* its output is read by exactly one call, a MaxPooling1D/2D with strides equal to its pool size and no padding
  (``valid``, or ``same`` where the pools tile the input), and is not a model output, an ``add_loss`` term,
  another tensor's mask or activity-regularized (``program.protected_tensors``).

The fused node takes the convolution's input, weights and place, and the pooling's output; every interpreter
(eager, generated step, CUDA) runs its one call per direction. ``NBKERAS_FUSION=0`` turns fusion off (a debugging
aid: the numbers are the same either way, to rounding).
"""

import os

from .. import backend

#: Whether Program building fuses layer calls (``NBKERAS_FUSION=0`` turns it off; tests switch it per case).
ENABLED = os.environ.get("NBKERAS_FUSION", "1") != "0"


class ConvMaxPool:
    """The node layer of a fused Conv -> MaxPooling pair: what program.build asks of a layer, answered from the two
    layers it stands for. The convolution keeps its weights, regularizers and constraints (those are read from the
    model's layers, not from this object)."""

    aliases_input = False
    differentiable = True

    def __init__(self, conv, pool, conv_output_shape):
        self.conv, self.pool = conv, pool
        self.name = f"{conv.name}+{pool.name}"
        _, (ph_out, pw_out), (ph, pw), _, _ = pool._geometry(conv_output_shape)
        self.pool_hw = (ph, pw)
        self.pooled_dims = (ph_out, pw_out, conv.filters)
        self.relu = not conv.activation.is_linear

    @property
    def weights(self):
        return self.conv.weights

    def gradient_inputs(self, count):
        return self.conv.gradient_inputs(count)

    def _refs(self, ctx, tag):
        """x, the kernel, this direction's cols scratch (the convolution layers' bounds) and the geometry."""
        from ..layers.convolutional import COLS_BUDGET, COLS_IMAGES

        conv = self.conv
        kh, kw = conv._geo.k_hw
        oh, ow = conv._geo.out_hw
        size = backend.kernel("conv.conv2d_max_pool2d_scratch_size")(
            COLS_IMAGES, oh, ow, kh, kw, conv._channels, conv.filters, conv.groups, COLS_BUDGET)
        geometry = (*conv._geo.args(), oh, ow, *self.pool_hw, conv.groups)
        return (ctx.input(0, conv._in_dims), conv._kernel_view(ctx, conv.kernel),
                ctx.scratch(tag, size, per_sample=False), [ctx.const(v) for v in geometry])

    def _argmax(self, ctx, pooled):
        return ctx.scratch("argmax", pooled.buf.width, self.pooled_dims)

    def describe_forward(self, ctx):
        x, kernel, cols, geometry = self._refs(ctx, "cols_forward")
        bias, _ = self.conv._bias_refs(ctx)
        pooled = ctx.output(self.pooled_dims)
        ctx.call("conv.conv2d_max_pool2d_forward", x, kernel, bias, pooled, self._argmax(ctx, pooled), cols,
                 *geometry, ctx.const(self.relu))

    def describe_backward(self, ctx):
        x, kernel, cols, geometry = self._refs(ctx, "cols_backward")
        _, dbias = self.conv._bias_refs(ctx)
        pooled = ctx.output(self.pooled_dims)
        ctx.call("conv.conv2d_max_pool2d_backward", x, kernel, pooled, self._argmax(ctx, pooled),
                 ctx.d_output(self.pooled_dims), ctx.d_input(0, self.conv._in_dims),
                 self.conv._kernel_grad(ctx, self.conv.kernel, "dkernel_sink"), dbias, cols, *geometry,
                 ctx.const(self.relu), ctx.accumulate)


def _fusable_conv(layer):
    from ..layers.convolutional import Conv1D, Conv2D

    return (type(layer) in (Conv1D, Conv2D) and layer.built and layer._geo is not None
            and (layer.activation.is_linear or layer._fused_relu()))


def _fusable_pool(layer, input_shape):
    from ..layers.pooling import MaxPooling1D, MaxPooling2D

    if type(layer) not in (MaxPooling1D, MaxPooling2D) or layer.strides != layer.pool_size:
        return False
    (h, w), (oh, ow), (ph, pw), _, pads = layer._geometry(input_shape)
    return pads == (0, 0) and oh == h // ph and ow == w // pw and oh >= 1 and ow >= 1


def fuse(graph, keep=frozenset()):
    """``graph`` (flattened: no composite nodes) with each fusable Conv -> MaxPooling pair replaced by one node;
    ``keep`` holds the ids of tensors that must stay materialised (``program.protected_tensors``: outputs, add_loss
    terms, masks, activity-regularized tensors)."""
    from ..layers.base import Node

    if not ENABLED:
        return graph
    readers = {}
    for node in graph.nodes:
        for t in node.inputs:
            readers.setdefault(id(t), []).append(node)
    replaced, out = {}, []
    for node in graph.nodes:
        if id(node) in replaced:
            fused = replaced[id(node)]
            if fused is not None:
                out.append(fused)
            continue
        if _fusable_conv(node.layer) and len(node.inputs) == 1 and len(node.outputs) == 1:
            t = node.outputs[0]
            users = readers.get(id(t), [])
            if (id(t) not in keep and len(users) == 1 and len(users[0].inputs) == 1
                    and getattr(t, "_keras_mask", None) is None
                    and _fusable_pool(users[0].layer, tuple(t.shape))):
                pool_node = users[0]
                layer = ConvMaxPool(node.layer, pool_node.layer, tuple(t.shape))
                fused = Node(layer, node.inputs, pool_node.outputs)
                replaced[id(pool_node)] = None  # the pooling call is part of the fused node, emitted here
                out.append(fused)
                continue
        out.append(node)
    if not replaced:
        return graph
    fused_graph = type(graph)(graph.inputs, out, graph.outputs)
    fused_graph.losses = getattr(graph, "losses", [])
    return fused_graph
