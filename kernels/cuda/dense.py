"""CUDA twin of kernels/cpu/dense.py: the Dense layer's forward and backward through the tiled ``gemm``.

Shapes as the CPU kernels: x (rows, in), kernel (in, units), bias (units,) or size 0, out / dy (rows, units).
The forward is one launch (the bias is added in the product's epilogue); the backward is one product for dkernel,
one column-sum launch for dbias and one product for dx.
"""

from numba import cuda

from . import gemm as _gemm
from ._launch import kernel

#: Column-sum blocks: 32 columns x 8 row lanes.
_COLS = 32
_LANES = 8


@kernel("void(F[:, ::1], F[::1], boolean)")
def _column_sums(dy, out, accumulate):
    """out[j] (+)= sum_r dy[r, j]: one block per 32 columns; its 8 lanes of threads sum every 8th row (reads of
    a row coalesced across the 32 columns), then the lanes' partial sums are added in shared memory."""
    part = cuda.shared.array((_LANES, _COLS), dtype=out.dtype)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    j = cuda.blockIdx.x * _COLS + tx
    s = out.dtype.type(0.0)
    if j < out.shape[0]:
        for r in range(ty, dy.shape[0], _LANES):
            s += dy[r, j]
    part[ty, tx] = s
    cuda.syncthreads()
    if ty == 0 and j < out.shape[0]:
        for q in range(1, _LANES):
            s += part[q, tx]
        out[j] = out[j] + s if accumulate else s


def column_sums(dy, out, accumulate):
    """out (+)= dy summed over its rows (shapes checked by the caller); one launch."""
    if out.shape[0]:
        _column_sums[max(1, -(-out.shape[0] // _COLS)), (_COLS, _LANES)](dy, out, bool(accumulate))


def dense_forward(x, kernel, bias, out):
    """out = x @ kernel + bias, as kernels.cpu.dense.dense_forward (out's old contents, even NaN, ignored).

    One launch: the tiled product with the bias added in its epilogue (the CPU kernel fills out with the bias and
    accumulates onto it; the sums agree to rounding)."""
    units = out.shape[1]
    if bias.size != 0 and bias.size != units:
        raise ValueError("dense_forward: bias must have length 0 or units (out.shape[1])")
    _gemm.gemm_bias(False, False, 1.0, x, kernel, 0.0, out, bias if bias.size != 0 else None)


def dense_backward(x, kernel, dy, dx, dkernel, dbias, accumulate):
    """As kernels.cpu.dense.dense_backward: dkernel (+)= x^T @ dy, dbias (+)= column sums of dy (skipped when
    dbias has size 0), dx = dy @ kernel^T (skipped when dx has size 0, always overwritten)."""
    units = dy.shape[1]
    if dbias.size != 0 and dbias.size != units:
        raise ValueError("dense_backward: dbias must have length 0 or units (dy.shape[1])")
    if dx.size != 0:
        _gemm.check_gemm(False, True, dy, kernel, dx)  # before dkernel is touched: a bad dx must not half-update
    _gemm.gemm(True, False, 1.0, x, dy, 1.0 if accumulate else 0.0, dkernel)
    if dbias.size != 0:
        column_sums(dy, dbias, accumulate)
    if dx.size != 0:
        _gemm.gemm(False, True, 1.0, dy, kernel, 0.0, dx)
