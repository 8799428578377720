"""Views into flat arenas, as functions: a generated train step builds its buffers with these calls.

Slicing and reshaping inline in a generated function costs numba 4x more compile time than calling a compiled
helper (measured: 30 inline ``a[o:o + r * c].reshape(r, c)`` views compiled in 4.2 s, the same views through
``rows`` in 1.1 s), and a step creates dozens of views. Each helper returns a view, never a copy.
"""

from ..policy import kernel


@kernel
def flat(arena, offset, size):
    """arena[offset:offset + size] (1-D)."""
    return arena[offset:offset + size]


@kernel
def rows(arena, offset, nrows, ncols):
    """arena[offset:offset + nrows * ncols] as an (nrows, ncols) matrix."""
    return arena[offset:offset + nrows * ncols].reshape(nrows, ncols)


@kernel
def cube(arena, offset, outer, n, inner):
    """arena[offset:offset + outer * n * inner] as (outer, n, inner): the view the axis kernels (softmax) take."""
    return arena[offset:offset + outer * n * inner].reshape(outer, n, inner)


@kernel
def row_range(matrix, start, stop):
    """matrix[start:stop] flattened: the rows of a C-contiguous matrix that one batch writes."""
    return matrix[start:stop].reshape(-1)


@kernel
def quad(arena, offset, outer, d1, d2, d3):
    """arena[offset:offset + outer * d1 * d2 * d3] as (outer, d1, d2, d3): images (batch, height, width, channels)
    and convolution kernels (kh, kw, in, out)."""
    return arena[offset:offset + outer * d1 * d2 * d3].reshape(outer, d1, d2, d3)


@kernel
def rows_available(arena, offset, nrows, ncols):
    """Up to ``nrows`` rows of ``ncols`` from arena[offset:], as many as the arena holds: random uniforms are
    drawn only for training steps, so in a test or predict step their arena is empty and the view has 0 rows
    (the kernels do not read uniforms then)."""
    avail = min(nrows * ncols, max(arena.shape[0] - offset, 0))
    r = avail // ncols if ncols > 0 else 0
    return arena[offset:offset + r * ncols].reshape(r, ncols)
