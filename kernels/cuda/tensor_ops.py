"""CUDA twin of kernels/cpu/tensor_ops.py: copies, gradient accumulation and merges, one thread per element."""

from numba import cuda

from . import _launch
from ._launch import kernel


@kernel("void(F[::1], F[::1], boolean)")
def _add_or_copy(dst, src, add):
    i = cuda.grid(1)
    if i < dst.shape[0]:
        dst[i] = dst[i] + src[i] if add else src[i]


@kernel("void(F[:, ::1], F[:, ::1], int64, boolean)")
def _slice_copy(x, out, offset, into_out):
    """into_out: out[:, offset + j] = x[:, j]; else x[:, j] = out[:, offset + j]. One thread per entry of x."""
    t = cuda.grid(1)
    w = x.shape[1]
    r = t // w
    j = t - r * w
    if r < x.shape[0]:
        if into_out:
            out[r, offset + j] = x[r, j]
        else:
            x[r, j] = out[r, offset + j]


def _elementwise(dst, src, add):
    if dst.shape[0]:
        _add_or_copy[_launch.grid(dst.shape[0])](dst, src, bool(add))


def add_into(dst, src):
    """dst += src, as kernels.cpu.tensor_ops.add_into."""
    if dst.shape[0] != src.shape[0]:
        raise ValueError("add_into: dst and src must have the same length")
    _elementwise(dst, src, True)


def copy_into(dst, src):
    """dst[:] = src, as kernels.cpu.tensor_ops.copy_into."""
    if dst.shape[0] != src.shape[0]:
        raise ValueError("copy_into: dst and src must have the same length")
    _elementwise(dst, src, False)


def add_forward(x, out, first):
    """out = x (first) or out += x, as kernels.cpu.tensor_ops.add_forward."""
    if x.shape[0] != out.shape[0]:
        raise ValueError("add_forward: x and out must have the same length")
    _elementwise(out, x, not first)


def concat_forward(x, out, offset):
    """out[:, offset:offset + w] = x, as kernels.cpu.tensor_ops.concat_forward."""
    rows, w = x.shape
    if out.shape[0] != rows or offset < 0 or offset + w > out.shape[1]:
        raise ValueError("concat_forward: x does not fit in out at this offset")
    if rows * w:
        _slice_copy[_launch.grid(rows * w)](x, out, int(offset), True)


def concat_backward(dy, dx, offset):
    """dx = dy[:, offset:offset + w], as kernels.cpu.tensor_ops.concat_backward."""
    rows, w = dx.shape
    if dy.shape[0] != rows or offset < 0 or offset + w > dy.shape[1]:
        raise ValueError("concat_backward: dx does not fit in dy at this offset")
    if rows * w:
        _slice_copy[_launch.grid(rows * w)](dx, dy, int(offset), False)
