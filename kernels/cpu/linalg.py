"""Batched matrix products: ``ops.matmul`` of two tensors, or of a tensor and a matrix on its left.

    bmm_forward(a, b, out)                                   out[i] = a[i] @ b[i]
    bmm_backward(a, b, dy, da, db, accumulate_a, accumulate_b)
        da[i] = dy[i] @ b[i]^T      db[i] = a[i]^T @ dy[i]

a (Ba, m, k), b (Bb, k, n), out and dy (B, m, n), each of Ba and Bb either B or 1: an operand with one matrix is
used for every product (a weight or a constant), and its gradient is then the sum over the B products. A tensor
times a weight on its right (x @ W) is ``dense.dense_forward`` on an (B m, k) view instead: one large product.
Each product goes through ``gemm`` (BLAS when available), so the operands must be C-contiguous views.
"""

from ..policy import kernel
from .gemm import gemm


@kernel
def _bmm_shapes_ok(a, b, c):
    bsz = c.shape[0]
    if a.shape[0] != bsz and a.shape[0] != 1:
        return False
    if b.shape[0] != bsz and b.shape[0] != 1:
        return False
    return a.shape[1] == c.shape[1] and b.shape[2] == c.shape[2] and a.shape[2] == b.shape[1]


@kernel
def bmm_forward(a, b, out):
    """out[i] = a[i or 0] @ b[i or 0] for each of the B = out.shape[0] products."""
    if not _bmm_shapes_ok(a, b, out):
        raise ValueError("bmm_forward: a (Ba, m, k), b (Bb, k, n), out (B, m, n) with Ba, Bb in {1, B} expected")
    one_a = a.shape[0] == 1
    one_b = b.shape[0] == 1
    for i in range(out.shape[0]):
        gemm(False, False, 1.0, a[0 if one_a else i], b[0 if one_b else i], 0.0, out[i])


@kernel
def bmm_backward(a, b, dy, da, db, accumulate_a, accumulate_b):
    """da = dy @ b^T and db = a^T @ dy per product, summed over the products for a shared (Ba or Bb = 1) operand;
    da or db of size 0 is skipped; ``accumulate_*`` adds into it instead of overwriting (a weight's gradient
    already written this step)."""
    if not _bmm_shapes_ok(a, b, dy):
        raise ValueError("bmm_backward: a (Ba, m, k), b (Bb, k, n), dy (B, m, n) with Ba, Bb in {1, B} expected")
    if (da.size != 0 and da.shape != a.shape) or (db.size != 0 and db.shape != b.shape):
        raise ValueError("bmm_backward: da and db must have the shapes of a and b (or size 0)")
    one_a = a.shape[0] == 1
    one_b = b.shape[0] == 1
    bsz = dy.shape[0]
    zero = dy.dtype.type(0.0)
    # A shared operand with no products to sum (an empty batch) still has its gradient written.
    if bsz == 0:
        if da.size != 0 and not accumulate_a:
            da[...] = zero
        if db.size != 0 and not accumulate_b:
            db[...] = zero
        return
    for i in range(bsz):
        ai = 0 if one_a else i
        bi = 0 if one_b else i
        if da.size != 0:
            add = accumulate_a or (one_a and i > 0)
            gemm(False, True, 1.0, dy[i], b[bi], 1.0 if add else 0.0, da[ai])
        if db.size != 0:
            add = accumulate_b or (one_b and i > 0)
            gemm(True, False, 1.0, a[ai], dy[i], 1.0 if add else 0.0, db[bi])
