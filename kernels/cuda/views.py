"""CUDA twin of kernels/cpu/views.py: views into flat device arenas, as plain Python on device arrays.

Each function slices and reshapes a numba device array on the host (no launch, no copy) and returns a view of
the same memory, with the CPU functions' meanings. Arenas are 1-D and C-contiguous, so every slice of one is
contiguous and can be reshaped.
"""


def _reshape(view, *shape):
    return view if tuple(view.shape) == shape else view.reshape(*shape)


def flat(arena, offset, size):
    """arena[offset:offset + size] (1-D), as kernels.cpu.views.flat."""
    return arena[offset:offset + size]


def rows(arena, offset, nrows, ncols):
    """arena[offset:offset + nrows * ncols] as an (nrows, ncols) matrix, as kernels.cpu.views.rows."""
    return _reshape(arena[offset:offset + nrows * ncols], nrows, ncols)


def cube(arena, offset, outer, n, inner):
    """arena[offset:offset + outer * n * inner] as (outer, n, inner), as kernels.cpu.views.cube."""
    return _reshape(arena[offset:offset + outer * n * inner], outer, n, inner)


def row_range(matrix, start, stop):
    """matrix[start:stop] flattened (rows of a C-contiguous matrix), as kernels.cpu.views.row_range."""
    part = matrix[start:stop]
    size = 1
    for s in part.shape:
        size *= s
    return _reshape(part, size)


def quad(arena, offset, outer, d1, d2, d3):
    """arena[offset:offset + outer * d1 * d2 * d3] as (outer, d1, d2, d3), as kernels.cpu.views.quad."""
    return _reshape(arena[offset:offset + outer * d1 * d2 * d3], outer, d1, d2, d3)


def rows_available(arena, offset, nrows, ncols):
    """Up to ``nrows`` rows of ``ncols`` from arena[offset:], as many as the arena holds, as
    kernels.cpu.views.rows_available (0 rows from an empty arena)."""
    avail = min(nrows * ncols, max(arena.shape[0] - offset, 0))
    r = avail // ncols if ncols > 0 else 0
    return _reshape(arena[offset:offset + r * ncols], r, ncols)
