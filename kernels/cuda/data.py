"""CUDA twin of kernels/cpu/data.py: gathering a shuffled batch's rows into a preallocated buffer."""

from numba import cuda

from . import _launch
from ._launch import kernel


@kernel("void(F[:, ::1], int64[::1], int64, int64, F[:, ::1])",
        "void(int64[:, ::1], int64[::1], int64, int64, int64[:, ::1])")
def _gather_rows(src, index, start, stop, dst):
    t = cuda.grid(1)
    d = src.shape[1]
    o = t // d
    j = t - o * d
    if o < stop - start:
        r = index[start + o]
        if 0 <= r < src.shape[0]:  # the host checked the ids; never read outside src
            dst[o, j] = src[r, j]


def gather_rows(src, index, start, stop, dst):
    """dst[i - start, :] = src[index[i], :] for i in [start, stop), as kernels.cpu.data.gather_rows.

    Shapes are checked here, on the host, with the CPU kernel's messages. The index values are not (reading them
    would cost a device-to-host copy per call): callers upload a permutation they made; an id outside [0, len(src))
    leaves its row of dst untouched instead of reading out of bounds."""
    if not (0 <= start <= stop <= index.shape[0]):
        raise ValueError("gather_rows: need 0 <= start <= stop <= len(index)")
    if stop - start > dst.shape[0]:
        raise ValueError("gather_rows: dst has fewer rows than stop - start")
    if src.shape[1] != dst.shape[1]:
        raise ValueError("gather_rows: src and dst must have the same number of columns")
    n = (stop - start) * src.shape[1]
    if n:
        _gather_rows[_launch.grid(n)](src, index, int(start), int(stop), dst)


def input_rows(src, index, start, stop, dst):
    """The rows index[start:stop] of src as one flat device vector, as kernels.cpu.data.input_rows means it.
    The device never returns a view of src: reading the index to see whether its rows are consecutive would cost
    a device-to-host copy per call, so the rows are always gathered into dst (the CPU kernel's fallback)."""
    gather_rows(src, index, start, stop, dst)
    rows = dst[:stop - start]
    return rows.reshape(rows.size)
