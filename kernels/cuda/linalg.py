"""CUDA twin of kernels/cpu/linalg.py: batched matrix products (``ops.matmul`` of tensors).

    bmm_forward(a, b, out)                                   out[i] = a[i] @ b[i]
    bmm_backward(a, b, dy, da, db, accumulate_a, accumulate_b)
        da[i] = dy[i] @ b[i]^T      db[i] = a[i]^T @ dy[i]

Shapes as the CPU kernels: a (Ba, m, k), b (Bb, k, n), out / dy (B, m, n), Ba and Bb each B or 1. Each call is
one launch per result (``gemm._bmm_tiled``, the tiled product with a grid axis over the batch) instead of B
products: the gradient of a shared operand (Ba or Bb = 1) sums the B products inside the reduction of one launch.
"""

import numpy as np

from . import gemm as _gemm


def _bmm_shapes_ok(a, b, c):
    if len(a.shape) != 3 or len(b.shape) != 3 or len(c.shape) != 3:
        return False
    bsz = c.shape[0]
    if a.shape[0] != bsz and a.shape[0] != 1:
        return False
    if b.shape[0] != bsz and b.shape[0] != 1:
        return False
    return a.shape[1] == c.shape[1] and b.shape[2] == c.shape[2] and a.shape[2] == b.shape[1]


def _check_dtypes(*arrays):
    dt = np.dtype(arrays[0].dtype)
    if dt.kind != "f" or any(np.dtype(x.dtype) != dt for x in arrays):
        raise ValueError("gemm: a, b and c must be float arrays of one dtype")


def bmm_forward(a, b, out):
    """out[i] = a[i or 0] @ b[i or 0] for each of the B = out.shape[0] products, as kernels.cpu.linalg.bmm_forward;
    one launch."""
    if not _bmm_shapes_ok(a, b, out):
        raise ValueError("bmm_forward: a (Ba, m, k), b (Bb, k, n), out (B, m, n) with Ba, Bb in {1, B} expected")
    _check_dtypes(a, b, out)
    _gemm.bmm(False, False, 1.0, a, b, 0.0, out, -1)


def bmm_backward(a, b, dy, da, db, accumulate_a, accumulate_b):
    """As kernels.cpu.linalg.bmm_backward: da = dy @ b^T and db = a^T @ dy per product, summed over the products
    for a shared operand; da or db of size 0 skipped; ``accumulate_*`` adds into it. One launch per gradient."""
    if not _bmm_shapes_ok(a, b, dy):
        raise ValueError("bmm_backward: a (Ba, m, k), b (Bb, k, n), dy (B, m, n) with Ba, Bb in {1, B} expected")
    if (da.size != 0 and tuple(da.shape) != tuple(a.shape)) or (db.size != 0 and tuple(db.shape) != tuple(b.shape)):
        raise ValueError("bmm_backward: da and db must have the shapes of a and b (or size 0)")
    _check_dtypes(a, b, dy, *[g for g in (da, db) if g.size != 0])
    bsz = dy.shape[0]
    if da.size != 0:
        shared = a.shape[0] == 1
        _gemm.bmm(False, True, 1.0, dy, b, 1.0 if accumulate_a else 0.0, da, bsz if shared else -1)
    if db.size != 0:
        shared = b.shape[0] == 1
        _gemm.bmm(True, False, 1.0, a, dy, 1.0 if accumulate_b else 0.0, db, bsz if shared else -1)
