"""Small tensor kernels the graph needs between layers: copies, gradient accumulation and merges.

1-D kernels take flat views; the merge kernels take 2-D ``(rows, width)`` views whose last axis is the merge axis.
"""

from ..policy import kernel


@kernel
def add_into(dst, src):
    """dst += src. Used where a tensor feeds several consumers: its gradient is the sum of theirs."""
    if dst.shape[0] != src.shape[0]:
        raise ValueError("add_into: dst and src must have the same length")
    for i in range(dst.shape[0]):
        dst[i] += src[i]


@kernel
def copy_into(dst, src):
    """dst[:] = src."""
    if dst.shape[0] != src.shape[0]:
        raise ValueError("copy_into: dst and src must have the same length")
    for i in range(dst.shape[0]):
        dst[i] = src[i]


@kernel
def add_forward(x, out, first):
    """out = x (first input) or out += x (the others): Keras's Add layer, one input at a time."""
    if x.shape[0] != out.shape[0]:
        raise ValueError("add_forward: x and out must have the same length")
    if first:
        for i in range(out.shape[0]):
            out[i] = x[i]
    else:
        for i in range(out.shape[0]):
            out[i] += x[i]


@kernel
def concat_forward(x, out, offset):
    """out[:, offset:offset + w] = x for x (rows, w): one input of Keras's Concatenate on the last axis."""
    rows, w = x.shape
    if out.shape[0] != rows or offset < 0 or offset + w > out.shape[1]:
        raise ValueError("concat_forward: x does not fit in out at this offset")
    for r in range(rows):
        for j in range(w):
            out[r, offset + j] = x[r, j]


@kernel
def concat_backward(dy, dx, offset):
    """dx = dy[:, offset:offset + w]: the slice of the upstream gradient that belongs to one input."""
    rows, w = dx.shape
    if dy.shape[0] != rows or offset < 0 or offset + w > dy.shape[1]:
        raise ValueError("concat_backward: dx does not fit in dy at this offset")
    for r in range(rows):
        for j in range(w):
            dx[r, j] = dy[r, offset + j]
