"""Dense (fully connected) layer: forward and backward, both through ``gemm``.

Shapes: x (rows, in), kernel (in, units) in Keras's layout, bias (units,) or length 0 for ``use_bias=False``,
out / dy (rows, units). Callers flatten leading axes into rows (Keras applies Dense to the last axis).
"""

from ..policy import kernel
from .gemm import check_gemm, gemm


@kernel
def dense_forward(x, kernel, bias, out):
    """out = x @ kernel + bias.

    out[r, j] = sum_i x[r, i] kernel[i, j] + bias[j]. With a bias, out is first filled with it and the product
    accumulated onto it (beta = 1); measured against adding the bias after a beta = 0 product, 1-3% faster with
    OpenBLAS at the 784-256 and 256-128 layers (batch 32-1024) and equal within 1% with the numba GEMM. Either
    way out's previous contents (even NaN) are ignored.
    """
    units = out.shape[1]
    if bias.size != 0 and bias.size != units:
        raise ValueError("dense_forward: bias must have length 0 or units (out.shape[1])")
    for r in range(out.shape[0] if bias.size != 0 else 0):
        row = out[r]
        for j in range(units):
            row[j] = bias[j]
    # One gemm call site: each one is a copy of the GEMM's code for the compiler to optimise.
    gemm(False, False, 1.0, x, kernel, 1.0 if bias.size != 0 else 0.0, out)


@kernel
def dense_backward(x, kernel, dy, dx, dkernel, dbias, accumulate):
    """Gradients of L = sum(dy * (x @ kernel + bias)) for an upstream gradient dy.

    dkernel = x^T @ dy                     (in, units): a reduction over the rows of the batch
    dbias   = sum over rows of dy          (units,), skipped when dbias has length 0 (no bias)
    dx      = dy @ kernel^T                (rows, in), skipped when dx has size 0 (the first layer needs none)

    With ``accumulate`` the results are added to dkernel and dbias instead of overwriting them (a layer that
    appears twice in a graph sums both uses); dx is always overwritten.
    """
    units = dy.shape[1]
    if dbias.size != 0 and dbias.size != units:
        raise ValueError("dense_backward: dbias must have length 0 or units (dy.shape[1])")
    if dx.size != 0:
        check_gemm(False, True, dy, kernel, dx)  # before dkernel is touched: a bad dx must not half-update
    gemm(True, False, 1.0, x, dy, 1.0 if accumulate else 0.0, dkernel)
    if dbias.size != 0:
        _column_sums(dy, dbias, accumulate)
    if dx.size != 0:
        gemm(False, True, 1.0, dy, kernel, 0.0, dx)


@kernel
def _column_sums(dy, out, accumulate):
    """out (+)= dy summed over its rows; row by row, so the inner loop runs along contiguous memory."""
    if not accumulate:
        for j in range(out.shape[0]):
            out[j] = out.dtype.type(0.0)
    for r in range(dy.shape[0]):
        row = dy[r]
        for j in range(row.shape[0]):
            out[j] += row[j]
