"""Embedding lookup: forward gathers rows of a table, backward scatter-adds gradient rows into it.

Shapes: indices (n,) (the caller flattens the index array of any shape), table (V, D) in Keras's layout
(``embeddings``, initialised uniform(-0.05, 0.05) by Keras), out / dy (n, D).

Indices arrive as floats of the table's dtype (a model's inputs live in its float activation arena; float32 holds
every integer up to 2**24 exactly, float64 up to 2**53), or as integers. Every index is checked to be an integer in
[0, V) before anything is written: the API layer validates earlier, but a kernel must never read or write outside
the table (Keras on CPU raises for such indices too; on GPU it returns zeros). NaN fails the check.
"""

import math

from ..policy import kernel


@kernel
def _check_indices(indices, vocab, name_is_forward):
    for i in range(indices.shape[0]):
        k = indices[i]
        if not (k >= 0 and k < vocab) or math.floor(k) != k:
            if name_is_forward:
                raise ValueError("embedding_forward: an index is not an integer in [0, table.shape[0])")
            raise ValueError("embedding_backward: an index is not an integer in [0, dtable.shape[0])")


@kernel
def embedding_forward(indices, table, out):
    """out[i, :] = table[indices[i], :]."""
    if indices.ndim != 1 or table.ndim != 2 or out.ndim != 2:
        raise ValueError("embedding_forward: indices must be 1-D, table and out 2-D")
    if out.shape[0] != indices.shape[0] or out.shape[1] != table.shape[1]:
        raise ValueError("embedding_forward: out must have shape (indices.size, table.shape[1])")
    _check_indices(indices, table.shape[0], True)
    for i in range(indices.shape[0]):
        src = table[int(indices[i])]
        dst = out[i]
        for j in range(dst.shape[0]):
            dst[j] = src[j]


@kernel
def embedding_backward(indices, dy, dtable, accumulate):
    """dtable[k, :] (+)= sum of dy[i, :] over every i with indices[i] == k.

    An index that appears several times gets the sum of its rows' gradients. With ``accumulate`` the sums are
    added to dtable, otherwise dtable is overwritten (rows never looked up become zero).
    """
    if indices.ndim != 1 or dy.ndim != 2 or dtable.ndim != 2:
        raise ValueError("embedding_backward: indices must be 1-D, dy and dtable 2-D")
    if dy.shape[0] != indices.shape[0] or dy.shape[1] != dtable.shape[1]:
        raise ValueError("embedding_backward: dy must have shape (indices.size, dtable.shape[1])")
    _check_indices(indices, dtable.shape[0], False)
    if not accumulate:
        zero = dtable.dtype.type(0.0)
        for k in range(dtable.shape[0]):
            row = dtable[k]
            for j in range(row.shape[0]):
                row[j] = zero
    for i in range(indices.shape[0]):
        src = dy[i]
        dst = dtable[int(indices[i])]
        for j in range(dst.shape[0]):
            dst[j] += src[j]
