"""Data kernels: copying a shuffled batch into a preallocated buffer, inside or outside a compiled train step.

Keras shuffles by permuting sample indices once per epoch and slicing that permutation into batches; the step
then gathers its rows. ``gather_rows`` does the gathering without allocating, so the batch buffers of a compiled
step are filled in place. ``input_rows`` skips even that copy when a batch's rows are consecutive (predict's order
is the identity): it returns a view of them, and gathers only otherwise.
"""

from ..policy import kernel


@kernel
def _check_gather(src, index, start, stop, dst):
    """Reject every call that would read or write outside an array, before anything is written."""
    if not (0 <= start <= stop <= index.shape[0]):
        raise ValueError("gather_rows: need 0 <= start <= stop <= len(index)")
    if stop - start > dst.shape[0]:
        raise ValueError("gather_rows: dst has fewer rows than stop - start")
    if src.shape[1] != dst.shape[1]:
        raise ValueError("gather_rows: src and dst must have the same number of columns")
    n = src.shape[0]
    for i in range(start, stop):
        if index[i] < 0 or index[i] >= n:
            raise ValueError("gather_rows: index values must lie in [0, len(src)); negative indices do not wrap")


@kernel(inline="always")
def _copy_rows(src, index, start, stop, dst):
    """The copy of gather_rows and input_rows, on checked arguments."""
    d = src.shape[1]
    for i in range(start, stop):
        r = index[i]
        o = i - start
        for j in range(d):
            dst[o, j] = src[r, j]


@kernel
def gather_rows(src, index, start, stop, dst):
    """dst[i - start, :] = src[index[i], :] for i in [start, stop).

    src and dst are 2-D C-contiguous arrays of one dtype (any dtype: features, float labels, integer token ids);
    index is int64 (a permutation, typically); start and stop are Python ints. Rows of dst from stop - start on are
    left untouched, so the last, partial batch reuses the full-size buffer.
    Traps: indices are checked first, so on a ValueError dst is unchanged; unlike NumPy, a negative index is an
    error rather than counting from the end; dst must not overlap src.
    """
    _check_gather(src, index, start, stop, dst)
    _copy_rows(src, index, start, stop, dst)


@kernel
def input_rows(src, index, start, stop, dst):
    """The rows index[start:stop] of src as one flat vector: a view of src itself when they are consecutive
    (index[start + i] == index[start] + i), else gathered into dst as ``gather_rows`` does, and dst's first
    stop - start rows returned flattened. src and dst are 2-D C-contiguous of one dtype; the same checks as
    gather_rows. The caller must only read the result: it may be the caller's own data."""
    _check_gather(src, index, start, stop, dst)
    m = stop - start
    if m > 0:
        r0 = index[start]
        consecutive = True
        for i in range(1, m):
            if index[start + i] != r0 + i:
                consecutive = False
                break
        if consecutive:
            return src[r0:r0 + m].reshape(-1)
    _copy_rows(src, index, start, stop, dst)
    return dst[:m].reshape(-1)
