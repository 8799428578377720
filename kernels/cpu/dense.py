"""Dense (fully connected) layer: forward and backward, both through ``gemm``.

Shapes: x (rows, in), kernel (in, units) in Keras's layout, bias (units,) or length 0 for ``use_bias=False``,
out / dy (rows, units). Callers flatten leading axes into rows (Keras applies Dense to the last axis).
"""

import numpy as np
from numba import prange

from ..policy import kernel
from .conv import PARTS, _fetch_add
from .gemm import check_gemm, gemm

#: Rows per product when a large call is cut up for numba's threads (a fixed size, so a row's result does not
#: depend on how many threads ran: each chunk is the same product whichever thread claims it).
CHUNK_ROWS = 64
#: Multiply-adds, and rows, of a call from which it is cut into chunks (below, one product on the calling thread).
#: Inference-sized batches, not the usual training ones: measured on W1's model (784-256-128-10) on 2 cores,
#: predict at batch 1024 went from 249k to 391k samples/s idle (217k against 232k with one thread when another
#: process keeps a core busy: no collapse), but training at batch 128 (two chunks per product) gained nothing
#: idle and lost 9% under load: a parallel region's wake-up and join cost as much as half a product saves.
PARALLEL_MIN_WORK = 1 << 22
PARALLEL_MIN_ROWS = 4 * CHUNK_ROWS


@kernel
def _chunked(rows, work):
    """Whether a product of ``rows`` rows and ``work`` multiply-adds is cut into CHUNK_ROWS-row chunks (whatever
    the thread count, so the numbers are the same with one thread or several)."""
    return work >= PARALLEL_MIN_WORK and rows >= PARALLEL_MIN_ROWS


@kernel
def _forward_rows(x, kernel, bias, out):
    units = out.shape[1]
    for r in range(out.shape[0] if bias.size != 0 else 0):
        row = out[r]
        for j in range(units):
            row[j] = bias[j]
    # One gemm call site: each one is a copy of the GEMM's code for the compiler to optimise.
    gemm(False, False, 1.0, x, kernel, 1.0 if bias.size != 0 else 0.0, out)


@kernel(parallel=True)
def _forward_parts(x, kernel, bias, out):
    """_forward_rows over CHUNK_ROWS-row chunks, claimed through an atomic counter by up to PARTS workers (a
    thread that starts late, or shares its core with another process, takes fewer; idle ones sleep)."""
    n = x.shape[0]
    parts = min(PARTS, (n + CHUNK_ROWS - 1) // CHUNK_ROWS)
    claimed = np.zeros(1, np.int64)
    for _ in prange(parts):
        r0 = _fetch_add(claimed, CHUNK_ROWS)
        while r0 < n:
            r1 = min(r0 + CHUNK_ROWS, n)
            _forward_rows(x[r0:r1], kernel, bias, out[r0:r1])
            r0 = _fetch_add(claimed, CHUNK_ROWS)


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
    check_gemm(False, False, x, kernel, out)
    if _chunked(x.shape[0], x.shape[0] * x.shape[1] * units):
        _forward_parts(x, kernel, bias, out)
    else:
        _forward_rows(x, kernel, bias, out)


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
