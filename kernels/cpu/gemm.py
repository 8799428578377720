"""General matrix product: c = alpha * op(a) @ op(b) + beta * c, op(x) = x.T when its trans flag is set.

a, b and c are 2-D with unit stride along their last axis (C-contiguous rows; a row stride larger than the row is
fine). With beta == 0, c is overwritten and its old contents (even NaN) are ignored, as in BLAS.

Which implementation runs is decided once, in ``policy.GEMM_MODE``:

* ``blas32``/``blas64``: NumPy's own OpenBLAS, called from compiled code through symbols registered in
  ``kernels/blas.py``. Measured on the 2-core dev machine at B=128 it matches ``np.matmul`` (it is the same
  library), including its threading.
* ``numba``: ``gemm_numba`` below, always available.
"""

import numpy as np
from numba import types

from .. import policy
from ..policy import kernel


@kernel
def gemm_numba(trans_a, trans_b, alpha, a, b, beta, c):
    """Plain compiled GEMM: the fallback when no BLAS is found (see the module docstring)."""
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    zero = c.dtype.type(0.0)
    al = c.dtype.type(alpha)
    be = c.dtype.type(beta)
    for i in range(m):
        if be == zero:
            for j in range(n):
                c[i, j] = zero
        else:
            for j in range(n):
                c[i, j] *= be
    if trans_b:
        # c[i, j] += sum_p op(a)[i, p] * b[j, p]: both operands contiguous along p when a is not transposed.
        for i in range(m):
            for j in range(n):
                acc = zero
                for p in range(k):
                    av = a[p, i] if trans_a else a[i, p]
                    acc += av * b[j, p]
                c[i, j] += al * acc
    else:
        # c[i, :] += op(a)[i, p] * b[p, :]: the inner loop runs along contiguous rows of b and c.
        for i in range(m):
            for p in range(k):
                av = al * (a[p, i] if trans_a else a[i, p])
                for j in range(n):
                    c[i, j] += av * b[p, j]


def _gemm_python(trans_a, trans_b, alpha, a, b, beta, c):
    """NUMBA_DISABLE_JIT=1 path: NumPy's matmul, same contract."""
    opa = a.T if trans_a else a
    opb = b.T if trans_b else b
    prod = alpha * (opa @ opb)
    if beta == 0:
        c[...] = prod
    else:
        c *= beta
        c += prod


if policy.GEMM_MODE.startswith("blas"):
    _int = types.int64 if policy.GEMM_MODE == "blas64" else types.int32
    _ptr = types.voidptr
    _args = (types.int32, types.int32, types.int32, _int, _int, _int)
    _sgemm = types.ExternalFunction(
        "nbkeras_sgemm",
        types.void(*_args, types.float32, _ptr, _int, _ptr, _int, types.float32, _ptr, _int),
    )
    _dgemm = types.ExternalFunction(
        "nbkeras_dgemm",
        types.void(*_args, types.float64, _ptr, _int, _ptr, _int, types.float64, _ptr, _int),
    )

    _ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112

    @kernel
    def gemm_blas(trans_a, trans_b, alpha, a, b, beta, c):
        m, n = c.shape
        k = a.shape[0] if trans_a else a.shape[1]
        if m == 0 or n == 0:
            return
        if k == 0:  # BLAS rejects lda == 0; the product is empty, so only the beta scaling remains
            for i in range(m):
                for j in range(n):
                    c[i, j] = c[i, j] * beta if beta != 0 else 0.0
            return
        ta = _TRANS if trans_a else _NO_TRANS
        tb = _TRANS if trans_b else _NO_TRANS
        # Row-major leading dimensions, in elements; at least 1 as BLAS requires.
        lda = max(a.strides[0] // a.itemsize, a.shape[1], 1)
        ldb = max(b.strides[0] // b.itemsize, b.shape[1], 1)
        ldc = max(c.strides[0] // c.itemsize, n, 1)
        if c.itemsize == 4:
            _sgemm(_ROW_MAJOR, ta, tb, m, n, k, np.float32(alpha), a.ctypes, lda, b.ctypes, ldb,
                   np.float32(beta), c.ctypes, ldc)
        else:
            _dgemm(_ROW_MAJOR, ta, tb, m, n, k, np.float64(alpha), a.ctypes, lda, b.ctypes, ldb,
                   np.float64(beta), c.ctypes, ldc)

    gemm = gemm_blas
elif policy.DISABLE_JIT:
    gemm = _gemm_python
else:
    gemm = gemm_numba
