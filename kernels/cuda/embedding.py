"""CUDA twin of kernels/cpu/embedding.py: the forward gathers table rows, the backward scatter-adds into them.

Shapes as the CPU kernels: indices (n,) of the table's float dtype or int32/int64, table / dtable (V, D),
out / dy (n, D). Shapes are checked on the host with the CPU messages. The index VALUES are not (that would cost
a device-to-host copy per call): on the device an index that is not an integer in [0, V) (NaN included) never
reads or writes outside the table; the forward writes a row of zeros for it (what Keras returns on a GPU) and the
backward drops its gradient row. The CPU kernels raise ValueError instead.
"""

import math

from numba import cuda

from . import _launch
from ._launch import kernel

_INDEX_TYPES = ("F", "int64", "int32")


@cuda.jit(device=True)
def _row(k, vocab):
    """The table row of index k, or -1 when k is not an integer in [0, vocab)."""
    if not (k >= 0 and k < vocab) or math.floor(k) != k:
        return -1
    return int(k)


@kernel(*[f"void({t}[::1], F[:, ::1], F[:, ::1])" for t in _INDEX_TYPES])
def _gather(indices, table, out):
    t = cuda.grid(1)
    d = out.shape[1]
    i = t // d
    j = t - i * d
    if i < out.shape[0]:
        r = _row(indices[i], table.shape[0])
        out[i, j] = table[r, j] if r >= 0 else table.dtype.type(0.0)


@kernel(*[f"void({t}[::1], F[:, ::1], F[:, ::1])" for t in _INDEX_TYPES])
def _scatter_add(indices, dy, dtable):
    """dtable[indices[i], j] += dy[i, j], one thread per entry of dy (atomic: an index may repeat)."""
    t = cuda.grid(1)
    d = dy.shape[1]
    i = t // d
    j = t - i * d
    if i < dy.shape[0]:
        r = _row(indices[i], dtable.shape[0])
        if r >= 0:
            cuda.atomic.add(dtable, (r, j), dy[i, j])


@kernel("void(F[:, ::1])")
def _zero(x):
    t = cuda.grid(1)
    d = x.shape[1]
    i = t // d
    if i < x.shape[0]:
        x[i, t - i * d] = x.dtype.type(0.0)


def embedding_forward(indices, table, out):
    """out[i, :] = table[indices[i], :], as kernels.cpu.embedding.embedding_forward (bad index: zero row, see the
    module docstring). One launch, one thread per entry of out."""
    if len(indices.shape) != 1 or len(table.shape) != 2 or len(out.shape) != 2:
        raise ValueError("embedding_forward: indices must be 1-D, table and out 2-D")
    if out.shape[0] != indices.shape[0] or out.shape[1] != table.shape[1]:
        raise ValueError("embedding_forward: out must have shape (indices.size, table.shape[1])")
    n = out.shape[0] * out.shape[1]
    if n:
        _gather[_launch.grid(n)](indices, table, out)


def embedding_backward(indices, dy, dtable, accumulate):
    """dtable[k, :] (+)= sum of dy[i, :] over every i with indices[i] == k, as
    kernels.cpu.embedding.embedding_backward (bad index: its row dropped). Without ``accumulate`` one launch
    zeroes dtable first; the scatter is one launch of atomic adds (the order of a repeated index's sum varies)."""
    if len(indices.shape) != 1 or len(dy.shape) != 2 or len(dtable.shape) != 2:
        raise ValueError("embedding_backward: indices must be 1-D, dy and dtable 2-D")
    if dy.shape[0] != indices.shape[0] or dy.shape[1] != dtable.shape[1]:
        raise ValueError("embedding_backward: dy must have shape (indices.size, dtable.shape[1])")
    if not accumulate and dtable.shape[0] * dtable.shape[1]:
        _zero[_launch.grid(dtable.shape[0] * dtable.shape[1])](dtable)
    n = dy.shape[0] * dy.shape[1]
    if n:
        _scatter_add[_launch.grid(n)](indices, dy, dtable)
